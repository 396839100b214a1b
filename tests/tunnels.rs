//! Tunnel decapsulation on real captures: Zeek's tunnel traces against Zeek's own logs
//! (inner connections and tunnel types), and real TLS, QUIC and DTLS handshakes wrapped
//! in every encapsulation (testdata/tunnels/) against the rows of the plain captures.
//! The header parsers' unit tests are beside them in src/decode/.

mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tlstap::decode::{Decoder, DecoderLimits, EncapKind, Packet};
use tlstap::source::{CaptureFile, PacketSource};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

// ---------------------------------------------------------------------------------------
// Zeek's tunnel traces: the inner connections we decode against Zeek's conn.log, the
// tunnel types against its tunnel.log.

/// (trace under `zeek/Traces/tunnels/`, baseline folder under `zeek/Baseline/`, extra
/// Geneve port the Zeek test configures).
const ZEEK_TUNNEL_TRACES: &[(&str, &str, u16)] = &[
    ("ayiya3.pcap", "core.tunnels.ayiya", 0),
    (
        "ayiya-large-identity.pcap",
        "core.tunnels.ayiya-large-identity",
        0,
    ),
    ("geneve.pcap", "core.tunnels.geneve", 0),
    ("geneve-47101.pcap", "core.tunnels.geneve-47101", 47101),
    ("geneve-ipv6.pcap", "core.tunnels.geneve-ipv6", 0),
    (
        "geneve-many-options.pcap",
        "core.tunnels.geneve-many-options",
        0,
    ),
    (
        "geneve-truncated.pcapng",
        "core.tunnels.geneve-truncated",
        0,
    ),
    (
        "geneve-vxlan-dns-truncated.pcap",
        "core.tunnels.geneve-vxlan-truncated",
        0,
    ),
    (
        "geneve-inner-tcp-bad-checksum.pcap",
        "core.tunnels.geneve-inner-tcp-bad-checksum",
        0,
    ),
    ("gre-sample.pcap", "core.tunnels.gre", 0),
    ("gre-aruba.pcap", "core.tunnels.gre-aruba", 0),
    ("gre-aruba-amsdu.pcap", "core.tunnels.gre-aruba-amsdu", 0),
    ("gre-within-gre.pcap", "core.tunnels.gre-in-gre", 0),
    ("gre-over-udp-4754.pcap", "core.tunnels.gre-over-udp", 0),
    ("gre-pptp.pcap", "core.tunnels.gre-pptp", 0),
    (
        "gtp/gtp2_different_udp_port.pcap",
        "core.tunnels.gtp.different_dl_and_ul",
        0,
    ),
    ("gtp/gtp3_false_gtp.pcap", "core.tunnels.gtp.false_gtp", 0),
    ("gtp/gtp7_ipv6.pcap", "core.tunnels.gtp.inner_ipv6", 0),
    ("gtp/gtp8_teredo.pcap", "core.tunnels.gtp.inner_teredo", 0),
    (
        "gtp/gtp10_not_0xff.pcap",
        "core.tunnels.gtp.not_user_plane_data",
        0,
    ),
    ("gtp/gtp6_gtp_0x32.pcap", "core.tunnels.gtp.opt_header", 0),
    (
        "gtp/gtp1_gn_normal_incl_fragmentation.pcap",
        "core.tunnels.gtp.outer_ip_frag",
        0,
    ),
    (
        "gtp/gtp9_unknown_or_too_short_payload.pcap",
        "core.tunnels.gtp.unknown_or_too_short",
        0,
    ),
    ("Teredo.pcap", "core.tunnels.teredo", 0),
    (
        "teredo_bubble_with_payload.pcap",
        "core.tunnels.teredo_bubble_with_payload",
        0,
    ),
    (
        "teredo-udp-in-udp.pcap",
        "core.tunnels.teredo-udp-in-udp",
        0,
    ),
    ("vxlan.pcap", "core.tunnels.vxlan", 0),
    (
        "vxlan-inner-tcp-bad-checksum.pcap",
        "core.tunnels.vxlan-inner-tcp-bad-checksum",
        0,
    ),
    (
        "vxlan-encapsulated-http.pcap",
        "core.tunnels.analyzer-confirmation",
        0,
    ),
    (
        "vxlan-encapsulated-igmp-v2.pcap",
        "core.tunnels.vxlan-unknown-internal-packet",
        0,
    ),
    ("vxlan-triple-v2.pcap", "core.tunnels.max-depth", 0),
    ("erspan.pcap", "core.erspan", 0),
    ("erspanI.pcap", "core.erspanI", 0),
    ("erspanII.pcap", "core.erspanII", 0),
    ("erspanIII.pcap", "core.erspanIII", 0),
];

/// An inner connection, endpoints sorted so both directions agree.
type Conn = (String, (String, u16), (String, u16));

fn conn_key(proto: &str, a: (String, u16), b: (String, u16)) -> Conn {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    (proto.to_string(), x, y)
}

/// Zeek's log as rows of named fields (the `#fields` header; the `.cut` baselines
/// carry a bare header line whose second `id.resp_p` is really `id.orig_p`).
fn zeek_log(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_string).collect();
        } else if line.starts_with("uid\t") {
            fields = line.split('\t').map(str::to_string).collect();
            if let Some(f) = fields.get_mut(2) {
                *f = "id.orig_p".to_string();
            }
        } else if !line.starts_with('#') && !fields.is_empty() {
            rows.push(
                fields
                    .iter()
                    .cloned()
                    .zip(line.split('\t').map(str::to_string))
                    .collect(),
            );
        }
    }
    rows
}

/// What Zeek saw: the innermost TCP/UDP connections (a tunnelled connection that is
/// itself a tunnel, such as the middle VXLAN of three, is not innermost) and the
/// tunnel types; `None` where the Zeek test keeps no such log.
type ZeekView = (Option<BTreeSet<Conn>>, Option<BTreeSet<String>>);

fn zeek_view(baseline: &Path) -> ZeekView {
    let tunnel_log = baseline.join("tunnel.log");
    let tunnels = zeek_log(&tunnel_log);
    let tunnel_uids: BTreeSet<&str> = tunnels
        .iter()
        .filter_map(|r| r.get("uid").map(String::as_str))
        .collect();
    let types = tunnel_log.is_file().then(|| {
        tunnels
            .iter()
            .filter_map(|r| r.get("tunnel_type").cloned())
            .collect()
    });
    let conn_path = [baseline.join("conn.log"), baseline.join("conn.log.cut")]
        .into_iter()
        .find(|p| p.is_file());
    let Some(conn_path) = conn_path else {
        return (None, types);
    };
    let mut conns = BTreeSet::new();
    for r in zeek_log(&conn_path) {
        let g = |k: &str| r.get(k).cloned().unwrap_or_default();
        let proto = g("proto");
        let parents = g("tunnel_parents");
        if parents == "-" || parents.is_empty() || !(proto == "tcp" || proto == "udp") {
            continue;
        }
        if tunnel_uids.contains(g("uid").as_str()) {
            continue;
        }
        let port = |k: &str| g(k).parse::<u16>().unwrap_or(0);
        conns.insert(conn_key(
            &proto,
            (g("id.orig_h"), port("id.orig_p")),
            (g("id.resp_h"), port("id.resp_p")),
        ));
    }
    (Some(conns), types)
}

/// Zeek's `tunnel_type` for one of our layers (Zeek logs ERSPAN as its GRE).
fn zeek_tunnel_type(kind: EncapKind) -> &'static str {
    match kind {
        EncapKind::Vxlan | EncapKind::VxlanGpe => "Tunnel::VXLAN",
        EncapKind::Geneve => "Tunnel::GENEVE",
        EncapKind::Gre | EncapKind::Erspan1 | EncapKind::Erspan2 | EncapKind::Erspan3 => {
            "Tunnel::GRE"
        }
        EncapKind::GtpU => "Tunnel::GTPv1",
        EncapKind::Ip4in4 | EncapKind::Ip6in4 | EncapKind::Ip4in6 | EncapKind::Ip6in6 => {
            "Tunnel::IP"
        }
        EncapKind::Teredo => "Tunnel::TEREDO",
        EncapKind::Ayiya => "Tunnel::AYIYA",
        EncapKind::Nsh => "Tunnel::NSH",
        EncapKind::Capwap => "Tunnel::CAPWAP",
        EncapKind::Tzsp => "Tunnel::TZSP",
    }
}

/// What our decoder sees: inner connections of tunnelled packets, and tunnel types.
fn our_view(
    trace: &Path,
    limits: DecoderLimits,
) -> (BTreeSet<Conn>, BTreeSet<String>, Vec<(String, u64)>) {
    let mut src = CaptureFile::open(trace).expect("trace opens");
    let mut dec = Decoder::new(limits);
    let mut conns = BTreeSet::new();
    let mut types = BTreeSet::new();
    while let Some(r) = src.next_packet() {
        let Ok(p) = r else { break };
        let (proto, src_a, dst_a, sport, dport, encap) = match dec.decode(&p) {
            Some(Packet::Tcp(s)) => ("tcp", s.src, s.dst, s.sport, s.dport, s.encap),
            Some(Packet::Udp(u)) => ("udp", u.src, u.dst, u.sport, u.dport, u.encap),
            None => continue,
        };
        if encap.is_plain() {
            continue;
        }
        types.extend(
            encap
                .layers()
                .iter()
                .map(|k| zeek_tunnel_type(*k).to_string()),
        );
        conns.insert(conn_key(
            proto,
            (src_a.to_string(), sport),
            (dst_a.to_string(), dport),
        ));
    }
    let counters = dec
        .counters()
        .iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    (conns, types, counters)
}

/// Differences from Zeek we accept, each argued: (trace, "only-zeek"/"only-ours"/
/// "type", the item, why).
const ZEEK_EXCEPTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "geneve-inner-tcp-bad-checksum.pcap",
        "only-ours",
        "tcp 10.0.0.1:12345 10.0.0.2:80",
        "Zeek drops an inner TCP segment whose checksum is wrong (the point of its test); \
         tlstap verifies no checksums, tunnelled or not: captures taken on the sending \
         host carry offloaded, unfilled checksums",
    ),
    (
        "vxlan-inner-tcp-bad-checksum.pcap",
        "only-ours",
        "tcp 10.0.0.1:12345 10.0.0.2:80",
        "as geneve-inner-tcp-bad-checksum.pcap",
    ),
];

#[test]
fn zeek_tunnel_traces_agree_with_zeek() {
    let Some(root) = support::corpus_root() else {
        return;
    };
    let zeek = root.join("zeek");
    let mut report = String::new();
    let mut failures = Vec::new();
    for &(trace, baseline, geneve_port) in ZEEK_TUNNEL_TRACES {
        let trace_path = zeek.join("Traces/tunnels").join(trace);
        let mut limits = DecoderLimits::default();
        if geneve_port != 0 {
            limits.tunnels.geneve_ports[0] = geneve_port;
        }
        let (zc, zt) = zeek_view(&zeek.join("Baseline").join(baseline));
        let (oc, ot, counters) = our_view(&trace_path, limits);
        let excepted = |what: &str, item: &str| {
            ZEEK_EXCEPTIONS
                .iter()
                .any(|e| e.0 == trace && e.1 == what && e.2 == item)
        };
        let fmt = |c: &Conn| format!("{} {}:{} {}:{}", c.0, (c.1).0, (c.1).1, (c.2).0, (c.2).1);
        let _ = writeln!(
            report,
            "{trace}: inner conns zeek {:?} ours {}; types zeek {:?} ours {:?}; counters {:?}",
            zc.as_ref().map(BTreeSet::len),
            oc.len(),
            zt,
            ot,
            counters
        );
        if let Some(zc) = &zc {
            for c in zc.difference(&oc) {
                let item = fmt(c);
                let _ = writeln!(report, "    only zeek: {item}");
                if !excepted("only-zeek", &item) {
                    failures.push(format!("{trace}: only zeek: {item}"));
                }
            }
            for c in oc.difference(zc) {
                let item = fmt(c);
                let _ = writeln!(report, "    only ours: {item}");
                if !excepted("only-ours", &item) {
                    failures.push(format!("{trace}: only ours: {item}"));
                }
            }
        }
        if let Some(zt) = &zt {
            for t in ot.difference(zt) {
                if !excepted("type", t) {
                    failures.push(format!("{trace}: tunnel type {t} not in zeek's tunnel.log"));
                }
            }
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{report}\n{}", failures.join("\n"));
}
/// Zeek traces whose baselines are script output, not logs: the tunnel layers we find in
/// the TCP/UDP packets they carry (Zeek's `core.tunnels.ip-in-ip*`, `gre-erspan3-dot1q`),
/// and no tunnel header counted as bad. `gre-erspan3-dot1q` and `ping6-in-ipv4` carry
/// only ICMP: peeled (ERSPAN III, then the mirrored frame's 802.1Q tag) and dropped as
/// `decode.not_tcp_udp`.
const ZEEK_LAYER_TRACES: &[(&str, &[&str])] = &[
    ("4in4.pcap", &["4in4"]),
    ("4in6.pcap", &["4in6"]),
    ("6in4.pcap", &["6in4"]),
    ("6in6.pcap", &["6in6"]),
    ("6in6in6.pcap", &["6in6,6in6"]),
    ("6in6-tunnel-change.pcap", &["6in6"]),
    ("gre-erspan3-dot1q.pcap", &[]),
    ("ping6-in-ipv4.pcap", &[]),
];

#[test]
fn zeek_ip_in_ip_and_erspan3_layers() {
    let Some(root) = support::corpus_root() else {
        return;
    };
    let mut failures = Vec::new();
    for &(trace, want) in ZEEK_LAYER_TRACES {
        let path = root.join("zeek/Traces/tunnels").join(trace);
        let mut src = CaptureFile::open(&path).expect("trace opens");
        let mut dec = Decoder::new(DecoderLimits::default());
        let mut got = BTreeSet::new();
        while let Some(Ok(p)) = src.next_packet() {
            let encap = match dec.decode(&p) {
                Some(Packet::Tcp(s)) => s.encap,
                Some(Packet::Udp(u)) => u.encap,
                None => continue,
            };
            got.insert(encap.names().collect::<Vec<_>>().join(","));
        }
        got.remove("");
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        let bad = dec
            .counters()
            .iter()
            .any(|(k, _)| k.starts_with("decode.tunnel_"));
        if got != want || bad {
            failures.push(format!(
                "{trace}: layers {got:?}, want {want:?}; counters {:?}",
                dec.counters()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Real handshakes wrapped in every tunnel (testdata/tunnels/, made by
// scripts/make-tunnels/wrap.py and checked there with tshark): the rows must be those
// of the plain capture.

/// The plain captures the wrapped ones were made from (as in wrap.py's SOURCES).
const WRAPPED_SOURCES: &[(&str, &str)] = &[
    ("openssl-tls13", "loopback/openssl-tls13.pcap"),
    ("curl-tls13", "loopback/curl-tls13.pcap"),
    ("aioquic-v1", "quic/aioquic-v1.pcap"),
    ("openssl-dtls12-mtu", "dtls/openssl-dtls12-mtu.pcap"),
];

/// What must not change when a capture is wrapped: the handshake as parsed and
/// fingerprinted. Addresses are left out (6in4 and Teredo carry the same handshake
/// over IPv6), as is everything about the tunnel.
fn handshake_fields(path: &Path) -> Vec<String> {
    let (rows, _, _) = tlstap::pipeline::analyze_capture(
        path,
        tlstap::flow::table::FlowLimits::default(),
        DecoderLimits::default(),
    );
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            let ch = r.hs.client_hello.as_ref();
            let sh = r.hs.server_hello.as_ref();
            format!(
                "ports {}->{} {:?} sni={:?} ja3={:?} ja3s={:?} ja4={:?} cipher={:?} version={:?} status={:?} established={} certs={:?} anomalies={:?}",
                r.meta.src_port,
                r.meta.dst_port,
                r.meta.transport,
                ch.and_then(|c| c.sni.clone()),
                r.fp.ja3,
                r.fp.ja3s,
                r.fp.ja4,
                sh.map(|s| s.cipher),
                r.hs.version,
                r.hs.status,
                r.hs.established,
                r.cert_chain_sha256,
                r.anomalies,
            )
        })
        .collect();
    v.sort();
    v
}

/// Every `<encapsulation>--<source>.pcap` in testdata/tunnels/ (wrap.py's output: the
/// folder is the list, so a new encapsulation there is tested without a change here).
#[test]
fn wrapped_handshakes_give_the_plain_rows() {
    let mut failures = Vec::new();
    let mut checked = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("tunnels"))
        .expect("testdata/tunnels")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let (encap, source) = stem.split_once("--").expect("<encap>--<source>.pcap");
        let plain = WRAPPED_SOURCES
            .iter()
            .find(|s| s.0 == source)
            .unwrap_or_else(|| panic!("{}: unknown source {source}", path.display()))
            .1;
        let want = handshake_fields(&testdata(plain));
        assert!(!want.is_empty(), "{plain}: no rows from the plain capture");
        let got = handshake_fields(&path);
        if got != want {
            failures.push(format!(
                "{}:\n  got  {got:#?}\n  want {want:#?}",
                path.display()
            ));
        }
        checked.insert((encap.to_string(), source.to_string()));
    }
    // Every source in every encapsulation wrap.py makes (15 × 4 today).
    let encaps: BTreeSet<&String> = checked.iter().map(|c| &c.0).collect();
    assert!(encaps.len() >= 15, "encapsulations found: {encaps:?}");
    assert_eq!(
        checked.len(),
        encaps.len() * WRAPPED_SOURCES.len(),
        "{checked:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
