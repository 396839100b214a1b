//! Capture-file reader tests on hand-built files.

use std::io::{Cursor, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::prelude::*;

use super::file::pcapng_ts_ns;
use super::*;

/// Owned copy of a packet, so a whole file can be collected.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pkt {
    ts_ns: i64,
    linktype: u32,
    orig_len: u32,
    data: Vec<u8>,
}

fn read_all(bytes: Vec<u8>) -> (Vec<Pkt>, Option<SourceError>, CaptureFile) {
    let mut cf = CaptureFile::from_reader(Box::new(Cursor::new(bytes))).expect("opens");
    let (pkts, err) = collect(&mut cf);
    (pkts, err, cf)
}

/// Every packet (owned) until the end, and the one error that ended it, if any.
fn collect(cf: &mut CaptureFile) -> (Vec<Pkt>, Option<SourceError>) {
    let mut pkts = Vec::new();
    let mut err = None;
    while let Some(r) = cf.next_packet() {
        match r {
            Ok(p) => pkts.push(Pkt {
                ts_ns: p.ts_ns,
                linktype: p.linktype,
                orig_len: p.orig_len,
                data: p.data.to_vec(),
            }),
            Err(e) => {
                assert!(err.is_none(), "second error {e}");
                err = Some(e);
            }
        }
    }
    assert!(cf.next_packet().is_none(), "stays finished");
    (pkts, err)
}

fn open_err(bytes: Vec<u8>) -> SourceError {
    CaptureFile::from_reader(Box::new(Cursor::new(bytes))).expect_err("must fail")
}

fn put32(v: &mut Vec<u8>, big: bool, x: u32) {
    v.extend_from_slice(&if big {
        x.to_be_bytes()
    } else {
        x.to_le_bytes()
    });
}

fn put16(v: &mut Vec<u8>, big: bool, x: u16) {
    v.extend_from_slice(&if big {
        x.to_be_bytes()
    } else {
        x.to_le_bytes()
    });
}

fn pcap_header(big: bool, magic: u32, snaplen: u32, linktype: u32) -> Vec<u8> {
    let mut v = Vec::new();
    put32(&mut v, big, magic);
    put16(&mut v, big, 2);
    put16(&mut v, big, 4);
    put32(&mut v, big, 0);
    put32(&mut v, big, 0);
    put32(&mut v, big, snaplen);
    put32(&mut v, big, linktype);
    v
}

fn pcap_record(v: &mut Vec<u8>, big: bool, sec: u32, frac: u32, data: &[u8], orig: u32) {
    put32(v, big, sec);
    put32(v, big, frac);
    put32(v, big, data.len() as u32);
    put32(v, big, orig);
    v.extend_from_slice(data);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn pcap_little_endian_microseconds() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    pcap_record(&mut f, false, 10, 500_000, b"abc", 60);
    pcap_record(&mut f, false, 11, 1, b"", 0);
    let len = f.len() as u64;
    let (p, err, cf) = read_all(f);
    assert!(err.is_none());
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].ts_ns, 10_500_000_000);
    assert_eq!(p[0].data, b"abc");
    assert_eq!(p[0].orig_len, 60);
    assert_eq!(p[0].linktype, 1);
    assert_eq!(p[1].ts_ns, 11_000_001_000);
    assert!(p[1].data.is_empty());
    assert_eq!(cf.bytes_consumed(), len);
}

#[test]
fn pcap_big_endian_nanoseconds() {
    let mut f = pcap_header(true, 0xa1b2_3c4d, 65535, 101);
    pcap_record(&mut f, true, 7, 123_456_789, b"xyz", 3);
    let (p, err, _) = read_all(f);
    assert!(err.is_none());
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].ts_ns, 7_123_456_789);
    assert_eq!(p[0].linktype, 101);
    assert_eq!(p[0].data, b"xyz");
}

#[test]
fn pcap_little_endian_nanoseconds_and_big_endian_micro() {
    let mut f = pcap_header(false, 0xa1b2_3c4d, 65535, 1);
    pcap_record(&mut f, false, 1, 5, b"a", 1);
    assert_eq!(read_all(f).0[0].ts_ns, 1_000_000_005);
    let mut f = pcap_header(true, 0xa1b2_c3d4, 65535, 1);
    pcap_record(&mut f, true, 1, 5, b"a", 1);
    assert_eq!(read_all(f).0[0].ts_ns, 1_000_005_000);
}

#[test]
fn pcap_linktype_fcs_bits_are_masked() {
    // FCS-present bit and FCS length 4 in the upper bits (draft-ietf-opsawg-pcap).
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 0x4400_0000 | 113);
    pcap_record(&mut f, false, 1, 0, b"a", 1);
    assert_eq!(read_all(f).0[0].linktype, 113);
}

#[test]
fn pcap_kuznetzov_records_have_eight_more_bytes() {
    let mut f = pcap_header(false, 0xa1b2_cd34, 65535, 1);
    for (i, d) in [b"one", b"two"].iter().enumerate() {
        pcap_record(&mut f, false, i as u32, 0, &[], 3);
        // caplen was written as 0 above: patch it, then add the 8 extra header bytes.
        let at = f.len() - 8;
        f[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(*d);
    }
    let (p, err, _) = read_all(f);
    assert!(err.is_none());
    assert_eq!(p.len(), 2);
    assert_eq!(p[1].data, b"two");
    assert_eq!(p[1].ts_ns, 1_000_000_000);
}

#[test]
fn pcap_header_only_is_an_empty_capture() {
    let (p, err, _) = read_all(pcap_header(false, 0xa1b2_c3d4, 65535, 1));
    assert!(p.is_empty());
    assert!(err.is_none());
}

#[test]
fn pcap_cut_header_is_truncated() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    f.truncate(20);
    assert!(matches!(
        open_err(f),
        SourceError::Truncated {
            what: "pcap file header",
            ..
        }
    ));
}

#[test]
fn pcap_cut_mid_record_delivers_everything_before() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    pcap_record(&mut f, false, 1, 0, b"first", 5);
    pcap_record(&mut f, false, 2, 0, b"second", 6);
    let full = f.len();
    // Cut inside the second record's data, then inside its header.
    for cut in [full - 2, full - 6 - 10] {
        let (p, err, _) = read_all(f[..cut].to_vec());
        assert_eq!(p.len(), 1, "cut at {cut}");
        assert_eq!(p[0].data, b"first");
        match err {
            Some(SourceError::Truncated { offset, .. }) => {
                assert_eq!(offset, 24 + 16 + 5 + if cut == full - 2 { 16 } else { 0 })
            }
            other => panic!("expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn pcap_oversized_record_is_bad_record() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    pcap_record(&mut f, false, 1, 0, b"ok", 2);
    put32(&mut f, false, 2);
    put32(&mut f, false, 0);
    put32(&mut f, false, MAX_PACKET_LEN + 1);
    put32(&mut f, false, MAX_PACKET_LEN + 1);
    f.extend_from_slice(&[0; 64]);
    let (p, err, _) = read_all(f);
    assert_eq!(p.len(), 1);
    let e = err.expect("error");
    assert!(
        matches!(e, SourceError::BadRecord { offset: 42, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("262145"), "{e}");
}

#[test]
fn pcap_record_up_to_the_limit_is_read() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    let big = vec![7u8; MAX_PACKET_LEN as usize];
    pcap_record(&mut f, false, 1, 0, &big, MAX_PACKET_LEN);
    let (p, err, _) = read_all(f);
    assert!(err.is_none());
    assert_eq!(p[0].data.len(), MAX_PACKET_LEN as usize);
}

#[test]
fn empty_input_is_a_clear_error() {
    let e = open_err(Vec::new());
    assert!(matches!(e, SourceError::Empty));
    assert!(e.to_string().contains("empty"));
    assert!(matches!(open_err(gzip(b"")), SourceError::Empty));
}

#[test]
fn garbage_is_not_a_capture_with_hex_magic() {
    let e = open_err(b"<!DOCTYPE html>".to_vec());
    match &e {
        SourceError::NotACapture { magic } => assert_eq!(magic, "3c21444f43545950"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        open_err(b"ab".to_vec()),
        SourceError::NotACapture { .. }
    ));
    assert!(matches!(
        open_err(gzip(b"hello world")),
        SourceError::NotACapture { .. }
    ));
}

#[test]
fn gzip_pcap_is_decompressed_and_progress_counts_compressed_bytes() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    for i in 0..50u32 {
        pcap_record(&mut f, false, i, 0, &[i as u8; 100], 100);
    }
    let gz = gzip(&f);
    let gz_len = gz.len() as u64;
    let (p, err, cf) = read_all(gz);
    assert!(err.is_none());
    assert_eq!(p.len(), 50);
    assert_eq!(p[49].data, vec![49u8; 100]);
    assert_eq!(cf.bytes_consumed(), gz_len);
}

#[test]
fn gzip_multi_member_and_truncated() {
    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    pcap_record(&mut f, false, 1, 0, b"one", 3);
    let mut second = Vec::new();
    pcap_record(&mut second, false, 2, 0, b"two", 3);
    let mut gz = gzip(&f);
    gz.extend(gzip(&second));
    let (p, err, _) = read_all(gz.clone());
    assert!(err.is_none());
    assert_eq!(p.len(), 2);

    let mut f = pcap_header(false, 0xa1b2_c3d4, 65535, 1);
    for i in 0..200u32 {
        pcap_record(&mut f, false, i, 0, &i.to_le_bytes().repeat(50), 200);
    }
    let gz = gzip(&f);
    let (p, err, _) = read_all(gz[..gz.len() * 2 / 3].to_vec());
    assert!(!p.is_empty() && p.len() < 200, "{}", p.len());
    assert!(err.is_some());
}

// ---- pcapng ----

struct Ng {
    big: bool,
    v: Vec<u8>,
}

impl Ng {
    fn new(big: bool) -> Self {
        let mut n = Ng { big, v: Vec::new() };
        n.shb();
        n
    }
    fn block(&mut self, btype: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = body.len() as u32 + 12;
        put32(&mut self.v, self.big, btype);
        put32(&mut self.v, self.big, len);
        self.v.extend_from_slice(&body);
        put32(&mut self.v, self.big, len);
    }
    fn shb(&mut self) {
        let mut b = Vec::new();
        put32(&mut b, self.big, 0x1a2b_3c4d);
        put16(&mut b, self.big, 1);
        put16(&mut b, self.big, 0);
        b.extend_from_slice(&(-1i64).to_le_bytes());
        self.block(0x0a0d_0d0a, &b);
    }
    fn idb(&mut self, linktype: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) {
        let big = self.big;
        let mut b = Vec::new();
        put16(&mut b, big, linktype);
        put16(&mut b, big, 0);
        put32(&mut b, big, snaplen);
        // An unknown option first, to prove options are walked.
        put16(&mut b, big, 2);
        put16(&mut b, big, 3);
        b.extend_from_slice(b"eth\0");
        if let Some(r) = tsresol {
            put16(&mut b, big, 9);
            put16(&mut b, big, 1);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            put16(&mut b, big, 14);
            put16(&mut b, big, 8);
            b.extend_from_slice(&if big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        put16(&mut b, big, 0);
        put16(&mut b, big, 0);
        self.block(1, &b);
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8], orig: u32) {
        let big = self.big;
        let mut b = Vec::new();
        put32(&mut b, big, iface);
        put32(&mut b, big, (ts >> 32) as u32);
        put32(&mut b, big, ts as u32);
        put32(&mut b, big, data.len() as u32);
        put32(&mut b, big, orig);
        b.extend_from_slice(data);
        self.block(6, &b);
    }
    fn spb(&mut self, orig: u32, data: &[u8]) {
        let mut b = Vec::new();
        put32(&mut b, self.big, orig);
        b.extend_from_slice(data);
        self.block(3, &b);
    }
    fn pb(&mut self, iface: u16, ts: u64, data: &[u8]) {
        let big = self.big;
        let mut b = Vec::new();
        put16(&mut b, big, iface);
        put16(&mut b, big, 0);
        put32(&mut b, big, (ts >> 32) as u32);
        put32(&mut b, big, ts as u32);
        put32(&mut b, big, data.len() as u32);
        put32(&mut b, big, data.len() as u32);
        b.extend_from_slice(data);
        self.block(2, &b);
    }
}

#[test]
fn pcapng_interfaces_with_different_linktypes_and_resolutions() {
    for big in [false, true] {
        let mut n = Ng::new(big);
        n.idb(1, 65535, None, None); // 10^-6 by default
        n.idb(113, 65535, Some(9), None); // 10^-9
        n.idb(101, 0, Some(0x80 | 10), Some(100)); // 2^-10 s, +100 s
        n.block(0x0000_0bad, b"custom block skipped"); // unknown type
        n.epb(0, 1_700_000_000_123_456, b"eth", 60);
        n.epb(1, 1_700_000_000_123_456_789, b"sll!", 4);
        n.epb(2, 1024 * 5 + 1, b"raw", 3);
        let (p, err, _) = read_all(n.v);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].linktype, p[0].ts_ns), (1, 1_700_000_000_123_456_000));
        assert_eq!(p[0].data, b"eth");
        assert_eq!(p[0].orig_len, 60);
        assert_eq!(
            (p[1].linktype, p[1].ts_ns),
            (113, 1_700_000_000_123_456_789)
        );
        assert_eq!(p[1].data, b"sll!");
        // 5 s + 1/1024 s (976 562.5 ns, floored) + 100 s offset.
        assert_eq!((p[2].linktype, p[2].ts_ns), (101, 105_000_976_562));
    }
}

#[test]
fn pcapng_timestamp_conversion() {
    assert_eq!(pcapng_ts_ns(1024, 0x80 | 10, 0), 1_000_000_000);
    assert_eq!(pcapng_ts_ns(1, 0x80 | 10, 0), 976_562);
    assert_eq!(pcapng_ts_ns(1, 0x80, 0), 1_000_000_000);
    assert_eq!(pcapng_ts_ns(1500, 12, 0), 1);
    assert_eq!(pcapng_ts_ns(7, 0, 0), 7_000_000_000);
    assert_eq!(pcapng_ts_ns(3, 3, -1), -997_000_000);
    assert_eq!(pcapng_ts_ns(u64::MAX, 0, 0), i64::MAX);
    assert_eq!(pcapng_ts_ns(u64::MAX, 0x80 | 127, i64::MIN), i64::MIN);
    assert_eq!(pcapng_ts_ns(u64::MAX, 127, 0), 0);
}

#[test]
fn pcapng_sections_reset_interfaces_and_byte_order() {
    let mut a = Ng::new(false);
    a.idb(1, 0, None, None);
    a.epb(0, 1_000_000, b"le", 2);
    let mut b = Ng::new(true);
    b.idb(229, 0, Some(3), None);
    b.epb(0, 2_000, b"be", 2);
    b.epb(1, 2_000, b"no such interface", 17);
    let mut f = a.v;
    f.extend(b.v);
    let (p, err, cf) = read_all(f);
    assert!(err.is_none());
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].linktype, p[0].ts_ns, &p[0].data[..]),
        (1, 1_000_000_000, &b"le"[..])
    );
    assert_eq!(
        (p[1].linktype, p[1].ts_ns, &p[1].data[..]),
        (229, 2_000_000_000, &b"be"[..])
    );
    assert_eq!(cf.counters().get("source.pcapng_bad_interface_id"), 1);
}

#[test]
fn pcapng_simple_and_obsolete_packet_blocks() {
    let mut n = Ng::new(false);
    n.spb(3, b"early"); // no interface yet: counted skip
    n.idb(1, 4, None, None);
    n.epb(0, 5_000_000, b"abcd", 4);
    n.spb(10, b"0123456789"); // snaplen 4 applies, time of the last packet
    n.pb(0, 6_000_000, b"old");
    let (p, err, cf) = read_all(n.v);
    assert!(err.is_none());
    assert_eq!(p.len(), 3);
    assert_eq!(p[1].data, b"0123");
    assert_eq!(p[1].orig_len, 10);
    assert_eq!(p[1].ts_ns, 5_000_000_000);
    assert_eq!(p[2].data, b"old");
    assert_eq!(p[2].ts_ns, 6_000_000_000);
    assert_eq!(cf.counters().get("source.pcapng_bad_interface_id"), 1);
}

#[test]
fn pcapng_bad_lengths_stop_with_bad_record() {
    let base = || {
        let mut n = Ng::new(false);
        n.idb(1, 0, None, None);
        n.epb(0, 1, b"good", 4);
        n
    };
    // Length not a multiple of 4.
    let mut n = base();
    let at = n.v.len();
    n.epb(0, 2, b"next", 4);
    n.v[at + 4] = 33;
    let (p, err, _) = read_all(n.v);
    assert_eq!(p.len(), 1);
    assert!(
        matches!(err, Some(SourceError::BadRecord { .. })),
        "{err:?}"
    );
    // Trailing length differs.
    let mut n = base();
    n.epb(0, 2, b"next", 4);
    let last = n.v.len() - 4;
    n.v[last] = 0x40;
    let (p, err, _) = read_all(n.v);
    assert_eq!(p.len(), 1);
    assert!(err.unwrap().to_string().contains("trailing length"));
    // Too large, too small.
    for len in [MAX_BLOCK_LEN + 4, 8] {
        let mut n = base();
        put32(&mut n.v, false, 6);
        put32(&mut n.v, false, len);
        let (p, err, _) = read_all(n.v);
        assert_eq!(p.len(), 1);
        assert!(matches!(err, Some(SourceError::BadRecord { .. })));
    }
    // Unknown byte-order magic in a second section.
    let mut n = base();
    n.v.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4]);
    let (p, err, _) = read_all(n.v);
    assert_eq!(p.len(), 1);
    assert!(err.unwrap().to_string().contains("byte-order"));
}

#[test]
fn pcapng_caplen_beyond_block_is_skipped() {
    let mut n = Ng::new(false);
    n.idb(1, 0, None, None);
    let at = n.v.len();
    n.epb(0, 1, b"abcd", 4);
    n.v[at + 20] = 200; // caplen 200 in a 4-byte block
    n.epb(0, 2, b"fine", 4);
    let (p, err, cf) = read_all(n.v);
    assert!(err.is_none());
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].data, b"fine");
    assert_eq!(cf.counters().get("source.pcapng_bad_packet_block"), 1);
}

#[test]
fn pcapng_truncated_block_delivers_everything_before() {
    let mut n = Ng::new(false);
    n.idb(1, 0, None, None);
    n.epb(0, 1, b"one", 3);
    n.epb(0, 2, b"two", 3);
    let full = n.v.len();
    for cut in [full - 1, full - 20, full - 30] {
        let (p, err, _) = read_all(n.v[..cut].to_vec());
        assert_eq!(p.len(), 1, "cut {cut}");
        assert!(
            matches!(err, Some(SourceError::Truncated { .. })),
            "{err:?}"
        );
    }
    // Section header alone: empty capture. Cut section header: error.
    let shb = Ng::new(true).v;
    let (p, err, _) = read_all(shb.clone());
    assert!(p.is_empty() && err.is_none());
    let (p, err, _) = read_all(shb[..10].to_vec());
    assert!(p.is_empty());
    assert!(matches!(err, Some(SourceError::Truncated { .. })));
}

#[test]
fn gzip_pcapng() {
    let mut n = Ng::new(false);
    n.idb(276, 0, Some(9), None);
    n.epb(0, 42, b"sll2", 4);
    let (p, err, _) = read_all(gzip(&n.v));
    assert!(err.is_none());
    assert_eq!((p[0].linktype, p[0].ts_ns), (276, 42));
}

fn drain(bytes: Vec<u8>) {
    if let Ok(mut cf) = CaptureFile::from_reader(Box::new(Cursor::new(bytes))) {
        let mut n = 0;
        while let Some(r) = cf.next_packet() {
            n += 1;
            if r.is_err() || n > 10_000 {
                break;
            }
        }
        let _ = cf.bytes_consumed();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        drain(bytes);
    }

    #[test]
    fn arbitrary_records_after_valid_headers_never_panic(
        kind in 0u8..4,
        tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut f = match kind {
            0 => pcap_header(false, 0xa1b2_c3d4, 65535, 1),
            1 => pcap_header(true, 0xa1b2_3c4d, 65535, 1),
            2 => Ng::new(false).v,
            _ => { let mut n = Ng::new(true); n.idb(1, 0, Some(0x85), None); n.v }
        };
        f.extend(tail);
        drain(f.clone());
        drain(gzip(&f));
    }
}

/// Every packet of `cf` (owned), and the error that ended it, as text.
fn packets_of(mut cf: CaptureFile) -> (Vec<Pkt>, Option<String>) {
    let (pkts, err) = collect(&mut cf);
    (pkts, err.map(|e| e.to_string()))
}

/// The read-ahead thread hands over whole windows; records cut by a window's end
/// (short ones, and ones longer than the room kept in front) come out whole and in
/// order, plain and gzip-compressed, truncated or not: exactly what reading in the
/// capture thread gives.
#[test]
fn read_ahead_gives_the_packets_of_a_direct_read() {
    use super::file::{AHEAD_FRONT, READ_BUFFER_LEN};
    let mut v = pcap_header(false, 0xa1b2_c3d4, 300_000, 1);
    let mut i = 0u32;
    let mut last_start = 0;
    // About 4 windows: mostly small records, some longer than AHEAD_FRONT.
    while v.len() < 4 * READ_BUFFER_LEN + 12_345 {
        last_start = v.len();
        let len = match i % 97 {
            0 => AHEAD_FRONT + 5_000 + (i as usize % 7_000),
            _ => 60 + (i as usize * 37) % 1_500,
        };
        let data: Vec<u8> = (0..len).map(|k| (k as u32 ^ i) as u8).collect();
        pcap_record(&mut v, false, i, i % 1_000_000, &data, len as u32 + 3);
        i += 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let cut = last_start + 16 + 5; // inside the last record
    for (name, bytes) in [
        ("plain.pcap", v.clone()),
        ("plain.pcap.gz", gzip(&v)),
        ("cut.pcap", v[..cut].to_vec()),
        ("cut.pcap.gz", gzip(&v[..cut])),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let direct = packets_of(CaptureFile::from_reader(Box::new(Cursor::new(bytes))).unwrap());
        let ahead = packets_of(CaptureFile::open(&path).unwrap());
        assert_eq!(ahead.0.len(), direct.0.len(), "{name}");
        assert!(ahead.0 == direct.0, "{name}: packets differ");
        assert_eq!(ahead.1, direct.1, "{name}");
        let whole = name.starts_with("plain");
        assert_eq!(ahead.1.is_none(), whole, "{name}: {:?}", ahead.1);
        assert_eq!(direct.0.len(), i as usize - usize::from(!whole), "{name}");
    }
}
