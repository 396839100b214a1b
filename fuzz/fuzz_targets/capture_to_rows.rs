//! Any bytes as a capture file (pcap, pcapng, gzip, garbage) through the whole
//! packet → row path: reader, decoder, flow table, reassembly, TLS, fingerprints,
//! certificates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_source;
use tlstap::source::CaptureFile;

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    if let Ok(mut src) = CaptureFile::from_reader(reader) {
        let _ = analyze_source(&mut src, "fuzz", FlowLimits::default(), DecoderLimits::default());
    }
});
