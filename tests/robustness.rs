//! Bad bytes anywhere on the packet → row path never panic, and damage keeps what came
//! before it. Property tests over the same entry points as the fuzz targets in `fuzz/`
//! (fewer cases, every `cargo test`).

#[path = "support/pcap.rs"]
mod pcap;

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_source;
use tlstap::source::CaptureFile;

fn analyze_bytes(bytes: Vec<u8>) -> Option<usize> {
    let mut src = CaptureFile::from_reader(Box::new(std::io::Cursor::new(bytes))).ok()?;
    let (rows, _, _) = analyze_source(
        &mut src,
        "t",
        FlowLimits::default(),
        DecoderLimits::default(),
    );
    Some(rows.len())
}

/// A classic little-endian pcap with `linktype` holding `packets`.
fn pcap(linktype: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    pcap::write_header(&mut v, pcap::MICROS, 65535, linktype).unwrap();
    for (i, p) in packets.iter().enumerate() {
        pcap::write_record(&mut v, i as u32, 0, p).unwrap();
    }
    v
}

fn testdata_captures() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["zeek", "arkime", "loopback"] {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(dir);
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.to_string_lossy().to_string();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".gz") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_packets_on_every_linktype_never_panic(
        linktype in prop::sample::select(vec![0u32, 1, 9, 12, 14, 50, 51, 101, 104, 108, 113, 228, 229, 276, 999]),
        packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20),
    ) {
        let _ = analyze_bytes(pcap(linktype, &packets));
    }

    /// TLS-looking payloads in well-formed TCP: the fuzzer's bytes reach the TLS layer.
    #[test]
    fn arbitrary_tls_payloads_never_panic(
        payloads in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)), 1..12),
    ) {
        let mut pkts = Vec::new();
        let (mut cseq, mut sseq) = (1000u32, 9000u32);
        for (from_client, mut p) in payloads {
            if p.len() >= 6 {
                // Keep a plausible record header so the flow is recognised as TLS.
                p[0] = 0x16;
                p[1] = 3;
                p[5] = if from_client { 1 } else { 2 };
            }
            if from_client {
                pkts.push(pcap::eth_ipv4_tcp(CLIENT, SERVER, 40000, 443, cseq, 0x18, &p));
                cseq = cseq.wrapping_add(p.len() as u32);
            } else {
                pkts.push(pcap::eth_ipv4_tcp(SERVER, CLIENT, 443, 40000, sseq, 0x18, &p));
                sseq = sseq.wrapping_add(p.len() as u32);
            }
        }
        let _ = analyze_bytes(pcap(1, &pkts));
    }

    #[test]
    fn mutated_real_captures_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
        cut in any::<prop::sample::Index>(),
    ) {
        let caps = testdata_captures();
        let path = which.get(&caps);
        let mut bytes = std::fs::read(path).unwrap();
        if path.extension().is_some_and(|e| e == "gz") {
            return Ok(());
        }
        for (i, b) in flips {
            let n = bytes.len();
            bytes[24.min(n - 1) + i.index(n - 24.min(n - 1))] ^= b;
        }
        let n = bytes.len();
        bytes.truncate(cut.index(n) + 1);
        let _ = analyze_bytes(bytes);
    }
}

/// Cutting a capture anywhere keeps every handshake that completed before the cut.
#[test]
fn truncation_keeps_handshakes_before_the_damage() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loopback/openssl-resume.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let full = analyze_bytes(bytes.clone()).unwrap();
    assert_eq!(full, 2);
    let mut last = 0;
    for cut in (24..bytes.len()).step_by(97) {
        let n = analyze_bytes(bytes[..cut].to_vec()).unwrap_or(0);
        assert!(
            n >= last,
            "rows must not disappear as more of the file is read"
        );
        last = n;
    }
    assert_eq!(last, full);
}
