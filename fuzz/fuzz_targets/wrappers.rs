//! Arbitrary bytes as what opens a TCP direction: the PROXY header parser, the OpenVPN
//! reset sniff, the flow table's start decision and handshake scanner, and the OpenVPN
//! unwrap of two streams into TLS, then TLS parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlstap::flow::start::{sniff_start, DirScanner};
use tlstap::flow::stream::{Piece, StreamData};
use tlstap::stats::Counters;

fn stream(b: &[u8]) -> StreamData {
    StreamData {
        data: b.to_vec(),
        pieces: vec![Piece { stream_offset: 0, data_offset: 0, ts_ns: 1 }],
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = tlstap::tls::proxy::parse(data);
    let _ = tlstap::openvpn::sniff(data);
    for opening in [true, false] {
        let start = sniff_start(data, opening);
        let _ = DirScanner::new(start.framing).scan(data);
    }
    let split = data.first().map_or(0, |&b| usize::from(b) * data.len() / 256);
    let (c, s) = data.split_at(split.min(data.len()));
    let skip = tlstap::tls::proxy::header_len(c);
    let (c, s) = (stream(c), stream(s));
    if let Some(inner) = tlstap::openvpn::unwrap(&c, skip, &s, &mut Counters::new()) {
        let _ = tlstap::tls::analyze(&inner.client, &inner.server);
    }
});
