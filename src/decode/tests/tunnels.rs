//! Tunnel decapsulation through the whole decoder: each family wrapped around a TCP
//! segment, the `Encap` record, the plain-UDP fallback, the depth limit, outer
//! fragments, configuration, and arbitrary bytes behind every tunnel entry.

use super::*;
use crate::decode::encap::{LINKTYPE_TLSTAP_GENEVE, LINKTYPE_TLSTAP_TZSP, LINKTYPE_TLSTAP_VXLAN};

const OUT_SRC4: [u8; 4] = [172, 16, 0, 1];
const OUT_DST4: [u8; 4] = [172, 16, 0, 2];

/// IPv4 header with the outer addresses.
fn outer4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ipv4(proto, 9, 0x4000, payload);
    v[12..16].copy_from_slice(&OUT_SRC4);
    v[16..20].copy_from_slice(&OUT_DST4);
    v
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(sport.to_be_bytes());
    v.extend(dport.to_be_bytes());
    v.extend(((8 + payload.len()) as u16).to_be_bytes());
    v.extend([0, 0]);
    v.extend_from_slice(payload);
    v
}

/// Ethernet / outer IPv4 / UDP to `dport` / `payload`.
fn over_udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    eth(0x0800, &outer4(17, &udp(40000, dport, payload)))
}

/// The inner frame every test wraps: Ethernet / IPv4 / TCP "hi".
fn inner_eth() -> Vec<u8> {
    eth(0x0800, &v4_tcp(b"hi"))
}

fn vxlan_hdr(vni: u32) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend((vni << 8).to_be_bytes());
    v
}

/// Decodes one frame expecting the inner TCP "hi" segment; returns its encap.
fn expect_inner(linktype: u32, frame: &[u8]) -> (Encap, u32) {
    let mut d = Decoder::new(DecoderLimits::default());
    let p = d.decode(&pkt(linktype, frame));
    let Some(Packet::Tcp(s)) = p else {
        let got = format!("{p:?}");
        panic!("no segment: {got}, counters {:?}", d.counters());
    };
    assert_eq!(s.payload, b"hi");
    assert_eq!((s.sport, s.dport), (443, 51000));
    assert!(!s.payload_truncated);
    let (encap, vlan) = (s.encap, s.vlan);
    assert!(d.counters().is_empty(), "{:?}", d.counters());
    (encap, vlan)
}

fn names(e: &Encap) -> Vec<&'static str> {
    e.names().collect()
}

fn outer_is_v4(e: &Encap) {
    assert_eq!(e.outer_src, Some(IpAddr::V4(Ipv4Addr::from(OUT_SRC4))));
    assert_eq!(e.outer_dst, Some(IpAddr::V4(Ipv4Addr::from(OUT_DST4))));
}

#[test]
fn plain_packets_have_no_encap() {
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &inner_eth());
    assert_eq!(e, Encap::default());
    assert!(e.is_plain() && e.layers().is_empty());
    assert_eq!((e.tunnel_id, e.outer_src), (None, None));
}

#[test]
fn vxlan_and_configured_ports() {
    let mut p = vxlan_hdr(0x00ab_cdef);
    p.extend(eth(
        0x8100,
        &[&[0, 7, 0x08, 0][..], &v4_tcp(b"hi")].concat(),
    ));
    let (e, vlan) = expect_inner(LINKTYPE_ETHERNET, &over_udp(4789, &p));
    assert_eq!(names(&e), ["vxlan"]);
    assert_eq!(
        (e.tunnel_id, e.network_id()),
        (Some(0xabcdef), Some(0xabcdef))
    );
    outer_is_v4(&e);
    assert_eq!(vlan, 7, "the inner frame's tag, not the outer one");
    // Another port only when configured.
    let f = over_udp(8472, &p);
    let mut d = Decoder::new(DecoderLimits::default());
    assert!(matches!(
        d.decode(&pkt(LINKTYPE_ETHERNET, &f)),
        Some(Packet::Udp(_))
    ));
    let mut limits = DecoderLimits::default();
    limits.tunnels.vxlan_ports[0] = 8472;
    let mut d = Decoder::new(limits);
    assert!(matches!(
        d.decode(&pkt(LINKTYPE_ETHERNET, &f)),
        Some(Packet::Tcp(_))
    ));
    // Decapsulation off: the outer datagram.
    limits.tunnels.decapsulate = false;
    let mut d = Decoder::new(limits);
    let f = over_udp(4789, &p);
    let Some(Packet::Udp(u)) = d.decode(&pkt(LINKTYPE_ETHERNET, &f)) else {
        panic!("outer UDP expected");
    };
    assert!(u.encap.is_plain());
    assert_eq!(u.dport, 4789);
}

#[test]
fn vxlan_gpe_ip_and_nsh() {
    let mut p = vec![0x0c, 0, 0, 1, 0, 0, 5, 0];
    p.extend(v4_tcp(b"hi"));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(4790, &p));
    assert_eq!(names(&e), ["vxlan-gpe"]);
    assert_eq!(e.tunnel_id, Some(5));
    // GPE -> NSH (MD type 2, length 2) -> Ethernet.
    let mut p = vec![
        0x0c, 0, 0, 4, 0, 0, 5, 0, 0x0f, 0xc2, 0x02, 0x03, 0, 0, 1, 0xff,
    ];
    p.extend(inner_eth());
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(4790, &p));
    assert_eq!(names(&e), ["vxlan-gpe", "nsh"]);
}

#[test]
fn nsh_by_ethertype() {
    let mut p = vec![0x0f, 0xc2, 0x02, 0x01, 0, 0, 1, 0xff];
    p.extend(v4_tcp(b"hi"));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x894f, &p));
    assert_eq!(names(&e), ["nsh"]);
    assert_eq!(e.outer_src, None, "no IP header outside");
}

#[test]
fn geneve_with_options_ethernet_and_ip() {
    let mut p = vec![0x02, 0x00, 0x65, 0x58, 0, 0, 0x2a, 0];
    p.extend([0x01, 0x08, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    p.extend(inner_eth());
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(6081, &p));
    assert_eq!((names(&e), e.network_id()), (vec!["geneve"], Some(42)));
    let mut p = vec![0x00, 0x00, 0x86, 0xdd, 0, 0, 0, 0];
    p.extend(v6_tcp(b"hi"));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(6081, &p));
    assert_eq!((names(&e), e.network_id()), (vec!["geneve"], Some(0)));
}

#[test]
fn gre_keyed_over_ip_and_udp_and_pptp() {
    let mut g = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0x30, 0x39];
    g.extend(inner_eth());
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g)));
    assert_eq!((names(&e), e.network_id()), (vec!["gre"], Some(12345)));
    outer_is_v4(&e);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(4754, &g));
    assert_eq!(names(&e), ["gre"]);
    // GRE over IPv6 carrying IPv4.
    let mut g = vec![0, 0, 0x08, 0x00];
    g.extend(v4_tcp(b"hi"));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x86dd, &ipv6(47, &g)));
    assert_eq!(e.outer_src, Some(IpAddr::V6(Ipv6Addr::from(SRC6))));
    // PPTP: enhanced GRE, PPP with address/control and IPv4.
    let ppp = [&[0xff, 0x03, 0x00, 0x21][..], &v4_tcp(b"hi")].concat();
    let mut g = vec![0x30, 0x01, 0x88, 0x0b];
    g.extend((ppp.len() as u16).to_be_bytes());
    g.extend([0x00, 0x07, 0, 0, 0, 1]);
    g.extend(&ppp);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g)));
    assert_eq!(
        (names(&e), e.tunnel_id, e.network_id()),
        (vec!["gre"], Some(7), None)
    );
    // GRE carrying MPLS carrying IPv4.
    let mut g = vec![0, 0, 0x88, 0x47, 0, 0x01, 0x01, 0x40];
    g.extend(v4_tcp(b"hi"));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g)));
    assert_eq!(names(&e), ["gre"]);
}

#[test]
fn erspan_types() {
    let mut g1 = vec![0, 0, 0x88, 0xbe];
    g1.extend(inner_eth());
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g1)));
    assert_eq!(names(&e), ["gre", "erspan1"]);
    let mut g2 = vec![
        0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x64, 0x00, 0x05, 0, 0, 0, 0,
    ];
    g2.extend(inner_eth());
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g2)));
    assert_eq!((names(&e), e.tunnel_id), (vec!["gre", "erspan2"], None));
    let mut g3 = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 1];
    g3.extend([0x20, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x01]); // O: platform sub-header
    g3.extend([0; 8]);
    g3.extend(eth(
        0x8100,
        &[&[0, 9, 0x08, 0][..], &v4_tcp(b"hi")].concat(),
    ));
    let (e, vlan) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g3)));
    assert_eq!((names(&e), vlan), (vec!["gre", "erspan3"], 9));
}

#[test]
fn gtp_u_with_extension_header_and_signalling() {
    let inner = v4_tcp(b"hi");
    let mut g = vec![0x34, 0xff];
    g.extend(((8 + inner.len()) as u16).to_be_bytes());
    g.extend([0, 0, 0x10, 0x01, 0, 0, 0, 0x85, 0x01, 0x10, 0x05, 0x00]);
    g.extend(&inner);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(2152, &g));
    assert_eq!(
        (names(&e), e.tunnel_id, e.network_id()),
        (vec!["gtpu"], Some(0x1001), None)
    );
    // Echo request: the UDP datagram itself, counted.
    let echo = [0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0];
    let mut d = Decoder::new(DecoderLimits::default());
    let f = over_udp(2152, &echo);
    let p = d.decode(&pkt(LINKTYPE_ETHERNET, &f));
    assert!(matches!(p, Some(Packet::Udp(u)) if u.encap.is_plain() && u.dport == 2152));
    assert_eq!(d.counters().get("decode.tunnel_not_data"), 1);
}

#[test]
fn ip_in_ip_every_combination_and_nested() {
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(4, &v4_tcp(b"hi"))));
    assert_eq!(names(&e), ["4in4"]);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(41, &v6_tcp(b"hi"))));
    assert_eq!(names(&e), ["6in4"]);
    outer_is_v4(&e);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x86dd, &ipv6(4, &v4_tcp(b"hi"))));
    assert_eq!(names(&e), ["4in6"]);
    let nested = ipv6(41, &ipv6(41, &v6_tcp(b"hi")));
    let (e, _) = expect_inner(LINKTYPE_RAW, &nested);
    assert_eq!(names(&e), ["6in6", "6in6"]);
    // The inner version must match the protocol number.
    expect_drop(
        LINKTYPE_RAW,
        &outer4(4, &v6_tcp(b"hi")),
        "decode.ipv4_bad_header",
    );
}

#[test]
fn depth_limit_binds() {
    let mut p = v4_tcp(b"hi");
    for _ in 0..MAX_TUNNEL_DEPTH {
        p = outer4(4, &p);
    }
    let (e, _) = expect_inner(LINKTYPE_RAW, &p);
    assert_eq!(e.layers().len(), MAX_TUNNEL_DEPTH);
    expect_drop(LINKTYPE_RAW, &outer4(4, &p), "decode.tunnel_depth_limit");
}

#[test]
fn teredo_and_ayiya() {
    let v6 = v6_tcp(b"hi");
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(3544, &v6));
    assert_eq!(names(&e), ["teredo"]);
    let mut o = vec![0, 0, 0x12, 0x34, 1, 2, 3, 4];
    o.extend(&v6);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(3544, &o));
    assert_eq!(names(&e), ["teredo"]);
    let mut a = vec![0x41, 0x52, 0x11, 41, 0, 0, 0, 0];
    a.extend([0; 36]);
    a.extend(&v6);
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(5072, &a));
    assert_eq!(names(&e), ["ayiya"]);
}

#[test]
fn sgt_tag_is_not_a_tunnel() {
    let p = [
        &[0x01, 0x01, 0x00, 0x01, 0x00, 0x0a, 0x08, 0x00][..],
        &v4_tcp(b"hi"),
    ]
    .concat();
    let (e, vlan) = expect_inner(LINKTYPE_ETHERNET, &eth(0x8909, &p));
    assert!(e.is_plain());
    assert_eq!(vlan, 0);
    // Behind a VLAN tag too.
    let q = [&[0, 5, 0x89, 0x09][..], &p].concat();
    let (_, vlan) = expect_inner(LINKTYPE_ETHERNET, &eth(0x8100, &q));
    assert_eq!(vlan, 5);
    expect_drop(LINKTYPE_ETHERNET, &eth(0x8909, &p[..7]), "decode.truncated");
}

/// 802.11 QoS data frame, from-DS, LLC/SNAP, then `l3`.
fn wlan(l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0x88, 0x02, 0, 0];
    f.extend([0; 18]);
    f.extend([0, 0]); // sequence control
    f.extend([0, 0]); // QoS control
    f.extend([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
    f.extend_from_slice(l3);
    f
}

#[test]
fn capwap_with_ieee80211() {
    let mut c = vec![0x00, 0x10, 0x43, 0x10, 0, 0, 0, 0];
    c.extend(wlan(&v4_tcp(b"hi")));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(5247, &c));
    assert_eq!(names(&e), ["capwap"]);
    // Protected (encrypted) 802.11 frames are not IP.
    let mut enc = c.clone();
    enc[9] |= 0x40;
    expect_drop(LINKTYPE_ETHERNET, &over_udp(5247, &enc), "decode.not_ip");
    // 802.11 as a capture's own link type.
    expect_inner(LINKTYPE_IEEE802_11, &wlan(&v4_tcp(b"hi")));
}

#[test]
fn tzsp_and_listener_payloads() {
    let mut t = vec![1, 0, 0, 1, 0, 1];
    t.extend(inner_eth());
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &over_udp(37008, &t));
    assert_eq!(names(&e), ["tzsp"]);
    // What a UDP listener hands the decoder: the payload alone, no outer IP.
    let (e, _) = expect_inner(LINKTYPE_TLSTAP_TZSP, &t);
    assert_eq!((names(&e), e.outer_src), (vec!["tzsp"], None));
    let v = [vxlan_hdr(3), inner_eth()].concat();
    let (e, _) = expect_inner(LINKTYPE_TLSTAP_VXLAN, &v);
    assert_eq!((names(&e), e.tunnel_id), (vec!["vxlan"], Some(3)));
    assert_eq!(UdpTunnel::Vxlan.linktype(), Some(LINKTYPE_TLSTAP_VXLAN));
    let g = [&[0, 0, 0x65, 0x58, 0, 0, 0, 0][..], &inner_eth()].concat();
    let (e, _) = expect_inner(LINKTYPE_TLSTAP_GENEVE, &g);
    assert_eq!(names(&e), ["geneve"]);
    // A listener payload that is not what it should be is dropped, not handed up.
    expect_drop(LINKTYPE_TLSTAP_VXLAN, &[0; 8], "decode.tunnel_bad_header");
}

#[test]
fn bad_tunnel_header_goes_up_as_plain_udp() {
    let mut d = Decoder::new(DecoderLimits::default());
    for (port, payload) in [
        (4789u16, &[0u8; 8][..]),
        (6081, &[0x40; 12]),
        (2152, b"\x01\x02"),
        (3544, b"not teredo"),
    ] {
        let f = over_udp(port, payload);
        let p = d.decode(&pkt(LINKTYPE_ETHERNET, &f));
        let Some(Packet::Udp(u)) = p else {
            panic!("{port}: {p:?}")
        };
        assert_eq!(
            (u.dport, u.payload, u.encap),
            (port, payload, Encap::default())
        );
    }
    assert_eq!(d.counters().get("decode.tunnel_bad_header"), 4);
    // A bad GRE header has no plain form: dropped and counted.
    expect_drop(
        LINKTYPE_RAW,
        &outer4(47, &[0, 5, 8, 0]),
        "decode.tunnel_bad_header",
    );
}

#[test]
fn nested_vxlan_in_gre_and_innermost_id() {
    let vx = [vxlan_hdr(77), inner_eth()].concat();
    let mut g = vec![0x20, 0x00, 0x08, 0x00, 0, 0, 0, 9];
    g.extend(ipv4(17, 3, 0x4000, &udp(1234, 4789, &vx)));
    let (e, _) = expect_inner(LINKTYPE_ETHERNET, &eth(0x0800, &outer4(47, &g)));
    assert_eq!((names(&e), e.tunnel_id), (vec!["gre", "vxlan"], Some(77)));
    outer_is_v4(&e);
}

#[test]
fn outer_fragments_are_reassembled_first() {
    let vx = [vxlan_hdr(1), inner_eth()].concat();
    let dgram = udp(40000, 4789, &vx);
    let mut d = Decoder::new(DecoderLimits::default());
    let (a, b) = dgram.split_at(16);
    let f1 = outer4(17, a);
    let mut f1 = f1;
    f1[6..8].copy_from_slice(&0x2000u16.to_be_bytes()); // MF, offset 0
    let mut f2 = outer4(17, b);
    f2[6..8].copy_from_slice(&2u16.to_be_bytes()); // offset 16 bytes
    assert!(d.decode(&pkt(LINKTYPE_RAW, &f1)).is_none());
    let Some(Packet::Tcp(s)) = d.decode(&pkt(LINKTYPE_RAW, &f2)) else {
        panic!("{:?}", d.counters());
    };
    assert_eq!((s.payload, names(&s.encap)), (&b"hi"[..], vec!["vxlan"]));
    assert_eq!(
        s.encap.outer_src,
        Some(IpAddr::V4(Ipv4Addr::from(OUT_SRC4)))
    );
}

#[test]
fn inner_fragments_in_a_tunnel_are_reassembled() {
    // GRE carrying two fragments of an inner IPv4/TCP datagram.
    let seg = tcp(&[], b"0123456789abcdefXY");
    let mut d = Decoder::new(DecoderLimits::default());
    let mut got = None;
    for (off8, more, part) in [(0u16, true, &seg[..24]), (3, false, &seg[24..])] {
        let inner = ipv4(6, 77, (u16::from(more) << 13) | off8, part);
        let g = [&[0x20, 0, 0x08, 0x00, 0, 0, 0, 4][..], &inner].concat();
        got = d
            .decode(&pkt(LINKTYPE_RAW, &outer4(47, &g)))
            .map(|p| match p {
                Packet::Tcp(s) => (s.payload.to_vec(), s.encap.tunnel_id),
                Packet::Udp(_) => panic!("udp"),
            });
    }
    assert_eq!(got, Some((b"0123456789abcdefXY".to_vec(), Some(4))));
}

const TUNNEL_PORTS: [u16; 9] = [4789, 4790, 6081, 4754, 2152, 3544, 5072, 5247, 37008];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Arbitrary bytes behind every tunnel entry (each UDP port, GRE, IP-in-IP, NSH,
    /// the listener link types) and straight into every family parser: no panic.
    #[test]
    fn arbitrary_bytes_behind_every_tunnel_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..160),
        port in proptest::sample::select(TUNNEL_PORTS.to_vec()),
    ) {
        let mut d = Decoder::new(DecoderLimits::default());
        let _ = d.decode(&pkt(LINKTYPE_ETHERNET, &over_udp(port, &bytes)));
        for proto in [4u8, 41, 47] {
            let _ = d.decode(&pkt(LINKTYPE_RAW, &outer4(proto, &bytes)));
            let _ = d.decode(&pkt(LINKTYPE_RAW, &ipv6(proto, &bytes)));
        }
        let _ = d.decode(&pkt(LINKTYPE_ETHERNET, &eth(0x894f, &bytes)));
        let _ = d.decode(&pkt(LINKTYPE_ETHERNET, &eth(0x8909, &bytes)));
        for lt in [LINKTYPE_TLSTAP_VXLAN, LINKTYPE_TLSTAP_GENEVE, LINKTYPE_TLSTAP_TZSP, LINKTYPE_IEEE802_11] {
            let _ = d.decode(&pkt(lt, &bytes));
        }
        // A valid tunnel header with arbitrary bytes after it.
        let _ = d.decode(&pkt(LINKTYPE_TLSTAP_VXLAN, &[vxlan_hdr(1), bytes.clone()].concat()));
        let _ = d.decode(&pkt(LINKTYPE_RAW, &outer4(47, &[&[0x10, 0, 0x22, 0xeb, 0, 0, 0, 0][..], &bytes].concat())));
        let _ = vxlan::parse(&bytes);
        let _ = vxlan::parse_gpe(&bytes);
        let _ = geneve::parse(&bytes);
        let _ = gre::parse(&bytes);
        for ty in 0..5 {
            let _ = erspan::parse(ty, &bytes);
        }
        let _ = gtp::parse(&bytes);
        let _ = teredo::parse_teredo(&bytes);
        let _ = teredo::parse_ayiya(&bytes);
        let _ = nsh::parse(&bytes);
        let _ = capwap::parse(&bytes);
        let _ = tzsp::parse(&bytes);
    }

    /// Whatever a tunnel header claims, the record never exceeds the depth limit.
    #[test]
    fn encap_depth_never_exceeds_the_limit(n in 0usize..10) {
        let mut p = v4_tcp(b"hi");
        for _ in 0..n {
            p = outer4(4, &p);
        }
        let mut d = Decoder::new(DecoderLimits::default());
        match d.decode(&pkt(LINKTYPE_RAW, &p)) {
            Some(Packet::Tcp(s)) => prop_assert_eq!(s.encap.layers().len(), n),
            _ => prop_assert!(n > MAX_TUNNEL_DEPTH),
        }
    }
}
