//! Two arbitrary byte streams as the client and server directions of a connection,
//! through TLS parsing and fingerprints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlstap::flow::stream::{Piece, StreamData};

fn stream(b: &[u8]) -> StreamData {
    StreamData {
        data: b.to_vec(),
        pieces: vec![Piece { stream_offset: 0, data_offset: 0, ts_ns: 1 }],
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b) * data.len() / 256);
    let (c, s) = data.split_at(split.min(data.len()));
    let hs = tlstap::tls::analyze(&stream(c), &stream(s));
    let _ = tlstap::row::fingerprints(&hs, tlstap::flow::record::Transport::Tcp);
});
