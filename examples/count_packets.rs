//! Hand check against other tools: prints, per capture file given on the command line,
//! `path<TAB>packets<TAB>tcp_segments<TAB>error<TAB>source and decode counters`.
//! Run as `cargo run --example count_packets -- FILE...`; compare with `capinfos -c`.

use std::path::Path;

use tlstap::decode::{Decoder, DecoderLimits};
use tlstap::source::{CaptureFile, PacketSource};

fn main() {
    for arg in std::env::args().skip(1) {
        let mut cf = match CaptureFile::open(Path::new(&arg)) {
            Ok(cf) => cf,
            Err(e) => {
                println!("{arg}\t-\t-\topen: {e}\t");
                continue;
            }
        };
        let mut dec = Decoder::new(DecoderLimits::default());
        let (mut n, mut tcp, mut err) = (0u64, 0u64, String::new());
        while let Some(r) = cf.next_packet() {
            match r {
                Ok(p) => {
                    n += 1;
                    if dec.decode(&p).is_some() {
                        tcp += 1;
                    }
                }
                Err(e) => err = e.to_string(),
            }
        }
        let mut counters = cf.counters();
        counters.merge(dec.counters());
        let c: Vec<String> = counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{arg}\t{n}\t{tcp}\t{err}\t{}", c.join(","));
    }
}
