//! Minimal classic-pcap rewriting for building damaged captures in tests.

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
