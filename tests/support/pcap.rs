//! Minimal classic pcap for tests and the bench corpus: writing files (little-endian,
//! version 2.4), Ethernet/IPv4/TCP frames, and rewriting records to build damaged
//! captures.
#![allow(dead_code)]

use std::io::Write;

/// Magic of a classic pcap with microsecond timestamps.
pub const MICROS: u32 = 0xa1b2_c3d4;
/// Magic of a classic pcap with nanosecond timestamps.
pub const NANOS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
pub const ETHERNET: u32 = 1;

/// A little-endian global header: `magic` ([`MICROS`] or [`NANOS`]), version 2.4, zone
/// and accuracy 0.
pub fn write_header(
    w: &mut impl Write,
    magic: u32,
    snaplen: u32,
    linktype: u32,
) -> std::io::Result<()> {
    w.write_all(&magic.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&snaplen.to_le_bytes())?;
    w.write_all(&linktype.to_le_bytes())
}

/// One little-endian record holding all of `frame`, at `secs` and `frac` (micro- or
/// nanoseconds, as the header's magic says).
pub fn write_record(w: &mut impl Write, secs: u32, frac: u32, frame: &[u8]) -> std::io::Result<()> {
    w.write_all(&secs.to_le_bytes())?;
    w.write_all(&frac.to_le_bytes())?;
    w.write_all(&(frame.len() as u32).to_le_bytes())?;
    w.write_all(&(frame.len() as u32).to_le_bytes())?;
    w.write_all(frame)
}

/// [`write_record`] at `ts_ns` nanoseconds since the epoch (a [`NANOS`] file).
pub fn write_record_ns(w: &mut impl Write, ts_ns: i64, frame: &[u8]) -> std::io::Result<()> {
    write_record(
        w,
        (ts_ns / 1_000_000_000) as u32,
        (ts_ns % 1_000_000_000) as u32,
        frame,
    )
}

/// An Ethernet (zero MACs) / IPv4 (no options, DF, TTL 64) / TCP (no options, window
/// 65535, ack 0) frame around `payload`; checksums left zero.
pub fn eth_ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 20 + payload.len();
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// Split a little- or big-endian classic pcap into (global header, records) and
/// rebuild it with `f(index, packet_bytes)` deciding what replaces each record (zero,
/// one or more records; each keeps the original timestamp and original length).
pub fn rewrite_records(pcap: &[u8], mut f: impl FnMut(usize, &[u8]) -> Vec<Vec<u8>>) -> Vec<u8> {
    let le = match &pcap[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        m => panic!("not a classic pcap: {m:?}"),
    };
    let rd = |b: &[u8]| -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let wr = |v: u32| -> [u8; 4] {
        if le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let mut out = pcap[..24].to_vec();
    let mut off = 24;
    let mut i = 0;
    while off + 16 <= pcap.len() {
        let caplen = rd(&pcap[off + 8..]) as usize;
        let origlen = rd(&pcap[off + 12..]);
        let data = &pcap[off + 16..off + 16 + caplen];
        for rec in f(i, data) {
            out.extend_from_slice(&pcap[off..off + 8]);
            out.extend_from_slice(&wr(rec.len() as u32));
            out.extend_from_slice(&wr(origlen.max(rec.len() as u32)));
            out.extend_from_slice(&rec);
        }
        off += 16 + caplen;
        i += 1;
    }
    out
}
