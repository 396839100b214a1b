//! A well-formed pcap whose packets are the fuzzer's bytes, so the fuzzer spends its
//! time in the decoder, flow table, reassembly and TLS layers rather than in the file
//! header. Input: first byte picks the link type; then records as
//! `[len: u8][flags: u8][bytes...]`, with all records on one linktype.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_source;
use tlstap::source::CaptureFile;

const LINKTYPES: [u32; 8] = [1, 101, 113, 276, 0, 9, 228, 229];

fuzz_target!(|data: &[u8]| {
    let Some((&lt, mut rest)) = data.split_first() else { return };
    let linktype = LINKTYPES[usize::from(lt) % LINKTYPES.len()];
    let mut pcap = Vec::with_capacity(data.len() + 64);
    pcap.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&linktype.to_le_bytes());
    let mut t = 0u32;
    while let [len, step, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        t = t.wrapping_add(u32::from(*step));
        pcap.extend_from_slice(&t.to_le_bytes());
        pcap.extend_from_slice(&0u32.to_le_bytes());
        pcap.extend_from_slice(&(n as u32).to_le_bytes());
        pcap.extend_from_slice(&(n as u32).to_le_bytes());
        pcap.extend_from_slice(&tail[..n]);
        rest = &tail[n..];
    }
    let reader = Box::new(std::io::Cursor::new(pcap));
    if let Ok(mut src) = CaptureFile::from_reader(reader) {
        let _ = analyze_source(&mut src, "fuzz", FlowLimits::default(), DecoderLimits::default());
    }
});
