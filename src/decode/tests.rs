//! Decoder tests on hand-built frames.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::link::*;
use super::*;

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [192, 168, 1, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn tcp(options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let doff = (20 + options.len()) / 4;
    let mut v = Vec::new();
    v.extend_from_slice(&443u16.to_be_bytes());
    v.extend_from_slice(&51000u16.to_be_bytes());
    v.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    v.extend_from_slice(&0x5566_7788u32.to_be_bytes());
    v.push((doff as u8) << 4);
    v.push(TCP_PSH | TCP_ACK);
    v.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(options);
    v.extend_from_slice(payload);
    v
}

/// IPv4 header with `flags_off` (MF bit and offset in 8-byte units) before `payload`.
fn ipv4(proto: u8, id: u16, flags_off: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&flags_off.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&SRC4);
    v.extend_from_slice(&DST4);
    v.extend_from_slice(payload);
    v
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&SRC6);
    v.extend_from_slice(&DST6);
    v.extend_from_slice(payload);
    v
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn pkt(linktype: u32, data: &[u8]) -> RawPacket<'_> {
    pkt_at(linktype, data, 0)
}

fn pkt_at(linktype: u32, data: &[u8], ts_ns: i64) -> RawPacket<'_> {
    RawPacket {
        ts_ns,
        linktype,
        orig_len: data.len() as u32,
        data,
    }
}

/// Owned result of one decode, so the decoder can be used again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seg {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    vlan: u32,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
    truncated: bool,
}

fn run(d: &mut Decoder, p: &RawPacket<'_>) -> Option<Seg> {
    let Some(Packet::Tcp(s)) = d.decode(p) else {
        return None;
    };
    Some(Seg {
        src: s.src,
        dst: s.dst,
        sport: s.sport,
        dport: s.dport,
        vlan: s.vlan,
        seq: s.seq,
        ack: s.ack,
        flags: s.flags,
        payload: s.payload.to_vec(),
        truncated: s.payload_truncated,
    })
}

/// The UDP datagram a frame decodes to, if any.
fn run_udp(d: &mut Decoder, p: &RawPacket<'_>) -> Option<(u16, u16, Vec<u8>, bool)> {
    let Some(Packet::Udp(u)) = d.decode(p) else {
        return None;
    };
    Some((u.sport, u.dport, u.payload.to_vec(), u.payload_truncated))
}

fn decode_one(linktype: u32, data: &[u8]) -> (Option<Seg>, Counters) {
    let mut d = Decoder::new(DecoderLimits::default());
    let s = run(&mut d, &pkt(linktype, data));
    (s, d.counters().clone())
}

/// Decodes and expects the standard segment with `payload` on VLAN `vlan`.
fn expect_tcp(linktype: u32, data: &[u8], payload: &[u8], vlan: u32) -> Seg {
    let (s, c) = decode_one(linktype, data);
    let s = s.unwrap_or_else(|| panic!("linktype {linktype}: no segment, counters {c:?}"));
    assert_eq!(s.payload, payload, "linktype {linktype}");
    assert_eq!(
        (s.sport, s.dport, s.seq, s.ack),
        (443, 51000, 0x1122_3344, 0x5566_7788)
    );
    assert_eq!(s.flags, TCP_PSH | TCP_ACK);
    assert_eq!(s.vlan, vlan);
    assert!(!s.truncated);
    assert!(c.is_empty(), "{c:?}");
    s
}

fn expect_drop(linktype: u32, data: &[u8], reason: &str) {
    let (s, c) = decode_one(linktype, data);
    assert!(s.is_none(), "{reason}: got {s:?}");
    assert_eq!(c.get(reason), 1, "{reason}: counters {c:?}");
    assert_eq!(c.iter().count(), 1, "{reason}: counters {c:?}");
}

fn v4_tcp(payload: &[u8]) -> Vec<u8> {
    ipv4(6, 1, 0x4000, &tcp(&[], payload))
}

fn v6_tcp(payload: &[u8]) -> Vec<u8> {
    ipv6(6, &tcp(&[], payload))
}

#[test]
fn ethernet_ipv4_tcp_with_options() {
    let opts = [2, 4, 0x05, 0xb4, 1, 1, 4, 2]; // MSS, NOP, NOP, SACK-permitted
    let f = eth(0x0800, &ipv4(6, 7, 0x4000, &tcp(&opts, b"hello")));
    let s = expect_tcp(LINKTYPE_ETHERNET, &f, b"hello", 0);
    assert_eq!(s.src, IpAddr::V4(Ipv4Addr::from(SRC4)));
    assert_eq!(s.dst, IpAddr::V4(Ipv4Addr::from(DST4)));
}

#[test]
fn ethernet_ipv6_tcp() {
    let s = expect_tcp(LINKTYPE_ETHERNET, &eth(0x86dd, &v6_tcp(b"six")), b"six", 0);
    assert_eq!(s.src, IpAddr::V6(Ipv6Addr::from(SRC6)));
    assert_eq!(s.dst, IpAddr::V6(Ipv6Addr::from(DST6)));
}

#[test]
fn ethernet_padding_and_trailer_are_trimmed() {
    let mut f = eth(0x0800, &v4_tcp(b""));
    f.extend_from_slice(&[0; 6]); // minimum-frame padding
    expect_tcp(LINKTYPE_ETHERNET, &f, b"", 0);
    let mut f = eth(0x0800, &v4_tcp(b"hi"));
    f.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // FCS
    expect_tcp(LINKTYPE_ETHERNET, &f, b"hi", 0);
    let mut f = eth(0x86dd, &v6_tcp(b"hi"));
    f.extend_from_slice(&[0xde, 0xad]);
    expect_tcp(LINKTYPE_ETHERNET, &f, b"hi", 0);
}

#[test]
fn every_link_type() {
    let v4 = v4_tcp(b"p");
    let v6 = v6_tcp(b"p");
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    sll.extend_from_slice(&0x86ddu16.to_be_bytes());
    sll.extend_from_slice(&v6);
    expect_tcp(LINKTYPE_LINUX_SLL, &sll, b"p", 0);
    let mut sll2 = 0x0800u16.to_be_bytes().to_vec();
    sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
    sll2.extend_from_slice(&v4);
    expect_tcp(LINKTYPE_LINUX_SLL2, &sll2, b"p", 0);
    for lt in [
        LINKTYPE_RAW,
        LINKTYPE_RAW_DLT12,
        LINKTYPE_RAW_DLT14,
        LINKTYPE_IPV4,
    ] {
        expect_tcp(lt, &v4, b"p", 0);
    }
    for lt in [LINKTYPE_RAW, LINKTYPE_IPV6] {
        expect_tcp(lt, &v6, b"p", 0);
    }
    // NULL: host byte order, either; LOOP: network order.
    for (lt, af, ip) in [
        (LINKTYPE_NULL, 2u32.to_le_bytes(), &v4),
        (LINKTYPE_NULL, 2u32.to_be_bytes(), &v4),
        (LINKTYPE_NULL, 24u32.to_le_bytes(), &v6),
        (LINKTYPE_NULL, 28u32.to_be_bytes(), &v6),
        (LINKTYPE_NULL, 30u32.to_le_bytes(), &v6),
        (LINKTYPE_LOOP, 2u32.to_be_bytes(), &v4),
        (LINKTYPE_LOOP, 30u32.to_be_bytes(), &v6),
    ] {
        let mut f = af.to_vec();
        f.extend_from_slice(ip);
        expect_tcp(lt, &f, b"p", 0);
    }
    let mut f = 7u32.to_le_bytes().to_vec();
    f.extend_from_slice(&v4);
    expect_drop(LINKTYPE_NULL, &f, "decode.not_ip");
    // LOOP does not accept little-endian.
    let mut f = 2u32.to_le_bytes().to_vec();
    f.extend_from_slice(&v4);
    expect_drop(LINKTYPE_LOOP, &f, "decode.not_ip");
    // PPP: with and without address/control, compressed protocol field, direction.
    for (lt, head) in [
        (LINKTYPE_PPP, &[0xff, 0x03, 0x00, 0x21][..]),
        (LINKTYPE_PPP, &[0x00, 0x21][..]),
        (LINKTYPE_PPP, &[0x21][..]),
        (LINKTYPE_PPP_HDLC, &[0xff, 0x03, 0x00, 0x21][..]),
        (LINKTYPE_PPP_HDLC, &[0x0f, 0x00, 0x08, 0x00][..]), // Cisco HDLC framing
        (LINKTYPE_C_HDLC, &[0x8f, 0x00, 0x08, 0x00][..]),
        (LINKTYPE_PPP_WITH_DIR, &[0x01, 0xff, 0x03, 0x00, 0x21][..]),
        (
            LINKTYPE_PPP_ETHER,
            &[0x11, 0x00, 0x12, 0x34, 0x00, 0x30, 0x00, 0x21][..],
        ),
    ] {
        let mut f = head.to_vec();
        f.extend_from_slice(&v4);
        expect_tcp(lt, &f, b"p", 0);
    }
    let mut f = vec![0xff, 0x03, 0x00, 0x57];
    f.extend_from_slice(&v6);
    expect_tcp(LINKTYPE_PPP, &f, b"p", 0);
    let mut f = vec![0xff, 0x03, 0xc0, 0x21]; // LCP
    f.extend_from_slice(&v4);
    expect_drop(LINKTYPE_PPP, &f, "decode.not_ip");
    expect_drop(127, &v4, "decode.unsupported_linktype"); // radiotap
                                                          // The version nibble decides on raw links.
    expect_drop(LINKTYPE_RAW, &[0x50; 40], "decode.not_ip");
}

#[test]
fn vlan_qinq_and_depth_limit() {
    let v4 = v4_tcp(b"v");
    let tag = |et: u16, id: u16, inner: &[u8]| {
        let mut v = (0x2000 | id).to_be_bytes().to_vec(); // priority 1
        v.extend_from_slice(&et.to_be_bytes());
        v.extend_from_slice(inner);
        v
    };
    let f = eth(0x8100, &tag(0x0800, 100, &v4));
    expect_tcp(LINKTYPE_ETHERNET, &f, b"v", 100);
    let f = eth(0x88a8, &tag(0x8100, 20, &tag(0x0800, 30, &v4)));
    expect_tcp(LINKTYPE_ETHERNET, &f, b"v", (20 << 12) | 30);
    let f = eth(0x9100, &tag(0x8100, 30, &tag(0x0800, 20, &v4)));
    expect_tcp(LINKTYPE_ETHERNET, &f, b"v", (30 << 12) | 20);
    // A VLAN tag behind SLL.
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x81, 0x00];
    sll.extend_from_slice(&tag(0x0800, 5, &v4));
    expect_tcp(LINKTYPE_LINUX_SLL, &sll, b"v", 5);
    let mut inner = v4.clone();
    for _ in 0..MAX_VLAN_TAGS {
        inner = tag(0x8100, 1, &inner);
    }
    // MAX_VLAN_TAGS tags pass...
    let mut ok = v4.clone();
    for i in 0..MAX_VLAN_TAGS {
        ok = tag(if i == 0 { 0x0800 } else { 0x8100 }, 1, &ok);
    }
    assert!(decode_one(LINKTYPE_ETHERNET, &eth(0x8100, &ok)).0.is_some());
    // ...one more does not.
    expect_drop(
        LINKTYPE_ETHERNET,
        &eth(0x8100, &inner),
        "decode.vlan_depth_limit",
    );
}

#[test]
fn mpls_pppoe_and_snap() {
    let label = |bottom: bool| {
        let mut l = vec![0x00, 0x01, 0x00, 0x40];
        if bottom {
            l[2] |= 1;
        }
        l
    };
    let mut m = label(false);
    m.extend(label(true));
    m.extend(v4_tcp(b"mpls"));
    expect_tcp(LINKTYPE_ETHERNET, &eth(0x8847, &m), b"mpls", 0);
    let mut m = label(true);
    m.extend(v6_tcp(b"m6"));
    expect_tcp(LINKTYPE_ETHERNET, &eth(0x8848, &m), b"m6", 0);
    let mut deep = Vec::new();
    for _ in 0..MAX_MPLS_LABELS {
        deep.extend(label(false));
    }
    deep.extend(label(true));
    deep.extend(v4_tcp(b"x"));
    expect_drop(
        LINKTYPE_ETHERNET,
        &eth(0x8847, &deep),
        "decode.mpls_depth_limit",
    );
    // Pseudowire (control word): not followed.
    let mut pw = label(true);
    pw.extend([0, 0, 0, 0]);
    expect_drop(LINKTYPE_ETHERNET, &eth(0x8847, &pw), "decode.not_ip");

    let pppoe = |proto: u16, ip: &[u8]| {
        let mut v = vec![0x11, 0x00, 0xbe, 0xef];
        v.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(&proto.to_be_bytes());
        v.extend_from_slice(ip);
        v
    };
    expect_tcp(
        LINKTYPE_ETHERNET,
        &eth(0x8864, &pppoe(0x21, &v4_tcp(b"po"))),
        b"po",
        0,
    );
    expect_tcp(
        LINKTYPE_ETHERNET,
        &eth(0x8864, &pppoe(0x57, &v6_tcp(b"p6"))),
        b"p6",
        0,
    );
    let mut bad = pppoe(0x21, &v4_tcp(b"po"));
    bad[1] = 0x09; // discovery code PADI
    expect_drop(
        LINKTYPE_ETHERNET,
        &eth(0x8864, &bad),
        "decode.pppoe_bad_header",
    );

    let mut snap = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    snap.extend(v4_tcp(b"snap"));
    let len = snap.len() as u16;
    expect_tcp(LINKTYPE_ETHERNET, &eth(len, &snap), b"snap", 0);
    expect_drop(LINKTYPE_ETHERNET, &eth(0x0806, &[0; 28]), "decode.not_ip"); // ARP
    expect_drop(LINKTYPE_ETHERNET, &eth(40, &[0x42; 40]), "decode.not_ip"); // STP
}

#[test]
fn not_tcp_and_bad_headers() {
    expect_drop(LINKTYPE_RAW, &ipv4(1, 1, 0, &[0; 8]), "decode.not_tcp_udp"); // ICMP
    expect_drop(LINKTYPE_RAW, &ipv6(58, &[0; 8]), "decode.not_tcp_udp");
    expect_drop(LINKTYPE_RAW, &ipv6(50, &[0; 16]), "decode.not_tcp_udp"); // ESP
    expect_drop(LINKTYPE_RAW, &ipv6(59, &[]), "decode.not_tcp_udp");
    let mut f = v4_tcp(b"");
    f[0] = 0x44; // IHL 4
    expect_drop(LINKTYPE_RAW, &f, "decode.ipv4_bad_header");
    let mut f = v4_tcp(b"");
    f[2..4].copy_from_slice(&10u16.to_be_bytes()); // total < IHL
    expect_drop(LINKTYPE_RAW, &f, "decode.ipv4_bad_header");
    let mut f = eth(0x0800, &v6_tcp(b"")); // version 6 behind an IPv4 ethertype
    expect_drop(LINKTYPE_ETHERNET, &f, "decode.ipv4_bad_header");
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    f[14] = 0x45;
    expect_drop(LINKTYPE_ETHERNET, &f, "decode.ipv6_bad_header");
    let mut f = v4_tcp(b"abc");
    f[20 + 12] = 4 << 4; // data offset 4
    expect_drop(LINKTYPE_RAW, &f, "decode.tcp_bad_header");
    let mut f = v4_tcp(b"abc");
    f[20 + 12] = 15 << 4; // options beyond the segment, which is complete
    expect_drop(LINKTYPE_RAW, &f, "decode.tcp_bad_header");
    expect_drop(
        LINKTYPE_RAW,
        &ipv4(6, 1, 0, &[0; 10]),
        "decode.tcp_bad_header",
    );
}

#[test]
fn total_length_zero_uses_captured_length() {
    let mut f = v4_tcp(b"tso");
    f[2..4].copy_from_slice(&[0, 0]);
    expect_tcp(LINKTYPE_RAW, &f, b"tso", 0);
}

/// Cutting a frame anywhere gives `decode.truncated` inside the headers and a flagged
/// short payload after them.
#[test]
fn truncated_at_every_layer() {
    let cases = [
        (LINKTYPE_ETHERNET, eth(0x0800, &v4_tcp(b"payload")), 14 + 40),
        (LINKTYPE_ETHERNET, eth(0x86dd, &v6_tcp(b"payload")), 14 + 60),
        (
            LINKTYPE_LINUX_SLL2,
            {
                let mut v = vec![0x86, 0xdd];
                v.extend_from_slice(&[0; 18]);
                v.extend(ipv6(0, &{
                    let mut h = vec![6, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop, PadN
                    h.extend(tcp(&[1, 1, 1, 0], b"payload"));
                    h
                }));
                v
            },
            20 + 40 + 8 + 24,
        ),
        (
            LINKTYPE_PPP_ETHER,
            {
                let mut v = vec![0x11, 0, 0, 1, 0, 0, 0x00, 0x21];
                v.extend(v4_tcp(b"payload"));
                v
            },
            8 + 40,
        ),
    ];
    for (lt, full, hdrs) in cases {
        assert_eq!(full.len(), hdrs + 7);
        for cut in 0..full.len() {
            let (s, c) = decode_one(lt, &full[..cut]);
            if cut < hdrs {
                assert!(s.is_none(), "lt {lt} cut {cut}");
                assert_eq!(c.get("decode.truncated"), 1, "lt {lt} cut {cut}: {c:?}");
            } else {
                let s = s.unwrap_or_else(|| panic!("lt {lt} cut {cut}: {c:?}"));
                assert_eq!(s.payload, &b"payload"[..cut - hdrs]);
                assert!(s.truncated);
                assert_eq!(c.get("decode.payload_truncated"), 1);
            }
        }
    }
}

#[test]
fn ipv6_extension_headers() {
    let t = tcp(&[], b"ext");
    // hop-by-hop -> routing -> AH (4-byte units) -> destination options -> TCP.
    let mut x = vec![43, 0, 1, 4, 0, 0, 0, 0]; // HBH, next routing
    x.extend([51, 0, 0, 0, 0, 0, 0, 0]); // routing type 0, next AH
    x.extend([60, 2, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // AH 16 bytes
    x.extend([6, 0, 1, 4, 0, 0, 0, 0]); // dest options, next TCP
    x.extend(&t);
    expect_tcp(LINKTYPE_RAW, &ipv6(0, &x), b"ext", 0);
    // Atomic fragment (offset 0, M 0) is stepped over.
    let mut a = vec![6, 0, 0, 0, 0, 0, 0, 9];
    a.extend(&t);
    expect_tcp(LINKTYPE_RAW, &ipv6(44, &a), b"ext", 0);
    // Mobility, HIP, shim6 use the 8-octet rule.
    for nh in [135u8, 139, 140] {
        let mut m = vec![6, 0, 0, 0, 0, 0, 0, 0];
        m.extend(&t);
        expect_tcp(LINKTYPE_RAW, &ipv6(nh, &m), b"ext", 0);
    }
    // The limit binds: MAX + 1 destination options headers.
    let mut chain = Vec::new();
    for i in 0..=MAX_IPV6_EXT_HEADERS {
        chain.extend([
            if i == MAX_IPV6_EXT_HEADERS { 6 } else { 60 },
            0,
            1,
            4,
            0,
            0,
            0,
            0,
        ]);
    }
    chain.extend(&t);
    expect_drop(LINKTYPE_RAW, &ipv6(60, &chain), "decode.ipv6_ext_limit");
    // Exactly MAX passes.
    let ok = chain.split_off(8);
    assert!(decode_one(LINKTYPE_RAW, &ipv6(60, &ok)).0.is_some());
    // An extension header longer than the packet: bad header, not truncated.
    expect_drop(
        LINKTYPE_RAW,
        &ipv6(60, &[6, 9, 0, 0, 0, 0, 0, 0]),
        "decode.ipv6_bad_header",
    );
}

use super::ip::MAX_IPV6_EXT_HEADERS;

fn v4_frag(id: u16, off8: u16, more: bool, data: &[u8]) -> Vec<u8> {
    ipv4(6, id, off8 | if more { 0x2000 } else { 0 }, data)
}

/// The TCP segment `tcp(&[], payload)` split at the given 8-byte-aligned points.
fn v4_fragments(id: u16, payload: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let seg = tcp(&[], payload);
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(seg.len());
    bounds
        .windows(2)
        .map(|w| {
            let more = w[1] != seg.len();
            v4_frag(id, (w[0] / 8) as u16, more, &seg[w[0]..w[1]])
        })
        .collect()
}

fn feed(d: &mut Decoder, frames: &[Vec<u8>], ts: i64) -> Vec<Option<Seg>> {
    frames
        .iter()
        .map(|f| run(d, &pkt_at(LINKTYPE_RAW, f, ts)))
        .collect()
}

#[test]
fn ipv4_fragments_in_and_out_of_order() {
    let payload: Vec<u8> = (0..100u8).collect();
    let frags = v4_fragments(9, &payload, &[16, 48, 96]);
    for order in [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]] {
        let mut d = Decoder::new(DecoderLimits::default());
        let frames: Vec<_> = order.iter().map(|&i| frags[i].clone()).collect();
        let out = feed(&mut d, &frames, 0);
        assert!(out[..3].iter().all(Option::is_none), "{order:?}");
        let s = out[3].clone().expect("reassembled");
        assert_eq!(s.payload, payload);
        assert_eq!(s.seq, 0x1122_3344);
        assert_eq!(d.counters().get("defrag.queued"), 3);
        assert_eq!(d.counters().get("defrag.reassembled"), 1);
        assert_eq!(d.defrag_pending(), 0);
    }
}

#[test]
fn ipv4_fragment_overlap_first_data_wins() {
    let payload = vec![b'A'; 40];
    let seg = tcp(&[], &payload); // 60 bytes
    let mut d = Decoder::new(DecoderLimits::default());
    let first = v4_frag(3, 0, true, &seg[..32]);
    // Overlaps bytes 24..32 with different data, then completes.
    let mut second = seg[24..].to_vec();
    second[..8].copy_from_slice(b"BBBBBBBB");
    let second = v4_frag(3, 3, false, &second);
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &first)).is_none());
    let s = run(&mut d, &pkt(LINKTYPE_RAW, &second)).expect("complete");
    assert_eq!(s.payload, payload);
    assert_eq!(d.counters().get("defrag.overlap"), 1);
}

#[test]
fn ipv4_non_tcp_fragments_are_not_buffered() {
    let mut d = Decoder::new(DecoderLimits::default());
    let f = ipv4(1, 1, 0x2000, &[0; 16]); // ICMP
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &f)).is_none());
    assert_eq!(d.counters().get("decode.not_tcp_udp"), 1);
    assert_eq!(d.defrag_pending(), 0);
    // UDP fragments are reassembled (a DTLS flight or a QUIC Initial can be fragmented).
    let mut udp = vec![0x13, 0x88, 0x11, 0x51, 0, 24, 0, 0];
    udp.extend(*b"0123456789abcdef");
    assert!(run_udp(&mut d, &pkt(LINKTYPE_RAW, &ipv4(17, 2, 0x2000, &udp[..16]))).is_none());
    let got = run_udp(&mut d, &pkt(LINKTYPE_RAW, &ipv4(17, 2, 2, &udp[16..])));
    assert_eq!(got, Some((5000, 4433, b"0123456789abcdef".to_vec(), false)));
}

#[test]
fn defrag_pending_limit_binds() {
    let limits = DecoderLimits {
        defrag: DefragLimits {
            max_datagrams: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut d = Decoder::new(limits);
    for id in 0..3 {
        let f = v4_fragments(id, &[1; 40], &[16]);
        run(&mut d, &pkt(LINKTYPE_RAW, &f[0]));
    }
    assert_eq!(d.defrag_pending(), 2);
    assert_eq!(d.counters().get("defrag.pending_limit"), 1);
    // Pending datagrams still complete.
    let f = v4_fragments(1, &[1; 40], &[16]);
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &f[1])).is_some());
}

#[test]
fn defrag_bytes_limit_binds() {
    let limits = DecoderLimits {
        defrag: DefragLimits {
            max_bytes: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut d = Decoder::new(limits);
    let f = v4_fragments(1, &[1; 200], &[48, 96, 144]);
    let out = feed(&mut d, &f, 0);
    assert!(out.iter().all(Option::is_none));
    assert_eq!(d.counters().get("defrag.bytes_limit"), 2); // bytes 0..96 fit, then no more
                                                           // Within budget it works.
    let mut d = Decoder::new(DecoderLimits {
        defrag: DefragLimits {
            max_bytes: 220,
            ..Default::default()
        },
        ..Default::default()
    });
    assert!(feed(&mut d, &f, 0)[3].is_some());
}

#[test]
fn defrag_fragment_limit_binds() {
    let limits = DecoderLimits {
        defrag: DefragLimits {
            max_fragments: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut d = Decoder::new(limits);
    let f = v4_fragments(1, &[1; 40], &[8, 16, 24]);
    let out = feed(&mut d, &f, 0);
    assert!(out.iter().all(Option::is_none));
    assert_eq!(d.counters().get("defrag.fragment_limit"), 1);
    let mut d = Decoder::new(DecoderLimits {
        defrag: DefragLimits {
            max_fragments: 4,
            ..Default::default()
        },
        ..Default::default()
    });
    assert!(feed(&mut d, &f, 0)[3].is_some());
}

#[test]
fn defrag_timeout_by_packet_time() {
    let limits = DecoderLimits {
        defrag: DefragLimits {
            timeout_ns: 1_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let f = v4_fragments(1, &[1; 40], &[16]);
    let mut d = Decoder::new(limits);
    assert!(run(&mut d, &pkt_at(LINKTYPE_RAW, &f[0], 0)).is_none());
    assert!(run(&mut d, &pkt_at(LINKTYPE_RAW, &f[1], 1_000)).is_none());
    assert_eq!(d.counters().get("defrag.timeout"), 1);
    // The late fragment started a new datagram instead.
    assert_eq!(d.defrag_pending(), 1);
    let mut d = Decoder::new(limits);
    run(&mut d, &pkt_at(LINKTYPE_RAW, &f[0], 0));
    assert!(run(&mut d, &pkt_at(LINKTYPE_RAW, &f[1], 999)).is_some());
    assert_eq!(d.counters().get("defrag.timeout"), 0);
}

#[test]
fn defrag_inconsistent_oversize_and_cut_fragments() {
    let mut d = Decoder::new(DecoderLimits::default());
    let f = v4_fragments(1, &[1; 40], &[16]);
    run(&mut d, &pkt(LINKTYPE_RAW, &f[1])); // last: end 60
    let beyond = v4_frag(1, 8, true, &[0; 16]); // 64..80 > 60
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &beyond)).is_none());
    assert_eq!(d.counters().get("defrag.bad_fragment"), 1);
    let huge = v4_frag(2, 0x1fff, false, &[0; 16]); // 65528 + 16
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &huge)).is_none());
    assert_eq!(d.counters().get("defrag.oversize"), 1);
    let cut = &f[0][..f[0].len() - 1];
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, cut)).is_none());
    assert_eq!(d.counters().get("defrag.truncated_fragment"), 1);
}

/// Found by the fragment proptest: an empty fragment past the end grew the buffer and
/// its zeros came out as payload.
#[test]
fn empty_fragment_past_the_end_does_not_leak_into_output() {
    let f = v4_fragments(1, &[7; 40], &[16]);
    let mut d = Decoder::new(DecoderLimits::default());
    run(&mut d, &pkt(LINKTYPE_RAW, &v4_frag(1, 20, true, &[])));
    run(&mut d, &pkt(LINKTYPE_RAW, &f[1]));
    let s = run(&mut d, &pkt(LINKTYPE_RAW, &f[0])).expect("complete");
    assert_eq!(s.payload, vec![7; 40]);
}

#[test]
fn defrag_keys_on_vlan() {
    let f = v4_fragments(1, &[1; 40], &[16]);
    let tagged = |vlan: u16, ip: &[u8]| {
        let mut v = vlan.to_be_bytes().to_vec();
        v.extend_from_slice(&0x0800u16.to_be_bytes());
        v.extend_from_slice(ip);
        eth(0x8100, &v)
    };
    let mut d = Decoder::new(DecoderLimits::default());
    assert!(run(&mut d, &pkt(LINKTYPE_ETHERNET, &tagged(1, &f[0]))).is_none());
    assert!(run(&mut d, &pkt(LINKTYPE_ETHERNET, &tagged(2, &f[1]))).is_none());
    assert_eq!(d.defrag_pending(), 2);
    let s = run(&mut d, &pkt(LINKTYPE_ETHERNET, &tagged(2, &f[0]))).expect("vlan 2 complete");
    assert_eq!(s.vlan, 2);
}

#[test]
fn ipv6_fragments_with_extension_headers() {
    // Fragmentable part: destination options, then TCP.
    let mut part = vec![6, 0, 1, 4, 0, 0, 0, 0];
    part.extend(tcp(&[], b"fragmented over ipv6!"));
    let frag = |off: usize, more: bool, data: &[u8]| {
        // hop-by-hop (unfragmentable) then the fragment header.
        let mut x = vec![44, 0, 1, 4, 0, 0, 0, 0];
        let fo = (off as u16) | u16::from(more);
        x.extend([60, 0]);
        x.extend(fo.to_be_bytes());
        x.extend(0xdead_beefu32.to_be_bytes());
        x.extend_from_slice(data);
        ipv6(0, &x)
    };
    let a = frag(0, true, &part[..24]);
    let b = frag(24, false, &part[24..]);
    let mut d = Decoder::new(DecoderLimits::default());
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &b)).is_none());
    let s = run(&mut d, &pkt(LINKTYPE_RAW, &a)).expect("reassembled");
    assert_eq!(s.payload, b"fragmented over ipv6!");
    assert_eq!(s.src, IpAddr::V6(Ipv6Addr::from(SRC6)));
    // ICMPv6 inside: reassembled, then neither TCP nor UDP.
    let mut u = vec![58, 0, 0, 1, 0, 0, 0, 7]; // fragment header, offset 0, M
    u.extend([0; 16]);
    let mut last = vec![58, 0, 0, 16, 0, 0, 0, 7]; // offset 16, last
    last.extend([0; 8]);
    run(&mut d, &pkt(LINKTYPE_RAW, &ipv6(44, &u)));
    assert!(run(&mut d, &pkt(LINKTYPE_RAW, &ipv6(44, &last))).is_none());
    assert_eq!(d.counters().get("decode.not_tcp_udp"), 1);
    assert_eq!(d.counters().get("defrag.reassembled"), 2);
}

#[test]
fn snaplen_cut_payload_is_flagged() {
    let f = eth(0x0800, &v4_tcp(b"0123456789"));
    let (s, _) = decode_one(LINKTYPE_ETHERNET, &f[..f.len() - 4]);
    let s = s.expect("segment");
    assert_eq!(s.payload, b"012345");
    assert!(s.truncated);
}

const LINKTYPES: [u32; 15] = [
    LINKTYPE_NULL,
    LINKTYPE_ETHERNET,
    LINKTYPE_PPP,
    LINKTYPE_RAW_DLT12,
    LINKTYPE_RAW_DLT14,
    LINKTYPE_PPP_HDLC,
    LINKTYPE_PPP_ETHER,
    LINKTYPE_RAW,
    LINKTYPE_C_HDLC,
    LINKTYPE_LOOP,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_PPP_WITH_DIR,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL2,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn arbitrary_bytes_never_panic(
        lt in proptest::sample::select(LINKTYPES.to_vec()),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut d = Decoder::new(DecoderLimits::default());
        let _ = d.decode(&pkt(lt, &bytes));
        // Behind a valid link header too, so IP and TCP see the bytes.
        let mut e = eth(0x0800, &bytes);
        if let Some(b) = e.get_mut(14) { *b = 0x40 | (*b & 0x0f); }
        let _ = d.decode(&pkt(LINKTYPE_ETHERNET, &e));
        let _ = d.decode(&pkt(LINKTYPE_ETHERNET, &eth(0x86dd, &bytes)));
    }

    /// Random fragments of one datagram: never panics, and whenever a datagram
    /// completes its bytes are the first data received for each offset.
    #[test]
    fn random_fragments_first_data_wins(
        frags in proptest::collection::vec((0u16..12, 0usize..5, any::<bool>(), any::<u8>()), 1..24),
    ) {
        let mut d = Decoder::new(DecoderLimits { defrag: DefragLimits { max_fragments: 16, ..Default::default() }, ..Default::default() });
        let mut model: Vec<Option<u8>> = vec![None; 200];
        let mut last_end = 0usize;
        for (off8, len8, more, fill) in frags {
            if off8 == 0 && !more {
                continue; // not a fragment
            }
            let start = usize::from(off8) * 8;
            let data = vec![fill; len8 * 8];
            let f = v4_frag(5, off8, more, &data);
            let before = d.counters().clone();
            let s = run(&mut d, &pkt(LINKTYPE_RAW, &f));
            let accepted = d.counters().get("defrag.bad_fragment") == before.get("defrag.bad_fragment")
                && d.counters().get("defrag.fragment_limit") == before.get("defrag.fragment_limit");
            if accepted {
                for slot in model.iter_mut().skip(start).take(len8 * 8) {
                    slot.get_or_insert(fill);
                }
                if !more {
                    last_end = start + data.len();
                }
            }
            if d.counters().get("defrag.reassembled") > before.get("defrag.reassembled") {
                // The datagram (TCP header included) must match the model.
                let total = last_end;
                let want: Vec<u8> = model[..total].iter().map(|b| b.unwrap_or(0)).collect();
                prop_assert!(model[..total].iter().all(Option::is_some));
                if let Some(s) = s {
                    prop_assert!(want.ends_with(&s.payload));
                }
                model = vec![None; 200];
                last_end = 0;
            }
        }
    }
}

/// UDP header: payload trimmed to the UDP length; length 0 runs to the IP end; a length
/// below the header or past the IP payload is a bad header; snaplen cuts are marked.
#[test]
fn udp_datagrams_decode_with_their_length_checked() {
    let udp = |len: u16, payload: &[u8]| {
        let mut v = vec![0x13, 0x88, 0x01, 0xbb];
        v.extend(len.to_be_bytes());
        v.extend([0, 0]);
        v.extend_from_slice(payload);
        v
    };
    let mut d = Decoder::new(DecoderLimits::default());
    let got = run_udp(
        &mut d,
        &pkt(LINKTYPE_RAW, &ipv4(17, 1, 0, &udp(12, b"abcdXX"))),
    );
    assert_eq!(got, Some((5000, 443, b"abcd".to_vec(), false)));
    let got = run_udp(&mut d, &pkt(LINKTYPE_RAW, &ipv6(17, &udp(0, b"abc"))));
    assert_eq!(got, Some((5000, 443, b"abc".to_vec(), false)));
    expect_drop(
        LINKTYPE_RAW,
        &ipv4(17, 1, 0, &udp(7, b"")),
        "decode.udp_bad_header",
    );
    expect_drop(
        LINKTYPE_RAW,
        &ipv4(17, 1, 0, &udp(40, b"ab")),
        "decode.udp_bad_header",
    );
    expect_drop(
        LINKTYPE_RAW,
        &ipv4(17, 1, 0, &[0x13, 0x88, 0]),
        "decode.udp_bad_header",
    );
    // Cut by snaplen: what was captured is handed up, marked.
    let mut frame = ipv4(17, 1, 0, &udp(108, &[7u8; 100]));
    frame.truncate(frame.len() - 60);
    let got = run_udp(&mut d, &pkt(LINKTYPE_RAW, &frame)).expect("datagram");
    assert_eq!((got.2.len(), got.3), (40, true));
}

mod tunnels;
