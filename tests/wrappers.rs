//! TLS behind a PROXY protocol header and inside OpenVPN over TCP, on real captures.
//!
//! - `testdata/wrappers/proxy-v{1,2}.pcap` (recorded on loopback by
//!   `scripts/record-wrappers/record.sh`): one row each, the PROXY header's source
//!   address in `proxy_src_*`, compared with tshark 4.0's view written beside each
//!   capture (`<capture>.tshark-proxy.tsv`: the PROXY header, found by tshark's
//!   heuristic; `<capture>.tshark-tls.tsv`: the hellos tshark reads. tshark 4.0 does not
//!   read a ClientHello sharing its segment with a v2 header, so for v2 only the
//!   ServerHello is compared).
//! - Arkime's `openvpn_synthetic.pcap` (conformance corpus; skipped without it): two
//!   OpenVPN-over-TCP sessions with tls-auth (HMAC-SHA256 and HMAC-SHA512), each a
//!   `transport = tcp` row with `wrapper = openvpn` and the hellos tshark shows once told
//!   the HMAC size (`tshark -d tcp.port==8443,openvpn -o
//!   openvpn.tls_auth_detection_override:TRUE -o openvpn.tls_auth:TRUE -o
//!   openvpn.tls_auth_hmac_size:32`, 64 for port 6666). JA3/JA3S/JA4 are checked against
//!   Arkime in `conformance_fingerprints.rs`.

mod support;

use std::path::{Path, PathBuf};

use support::agreement::analyze;
use tlstap::flow::record::Transport;
use tlstap::tls::model::HandshakeStatus;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/wrappers")
        .join(rel)
}

/// Rows of a tshark `-T fields -E header=y` file, as (column name -> value) lookups.
fn tsv(path: &Path) -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split('\t')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn field<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    row.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn hex_list(v: &[u16]) -> String {
    v.iter()
        .map(|c| format!("0x{c:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn proxy_protocol_captures_agree_with_tshark() {
    for (name, version, wrapper) in [("proxy-v1", 1, "proxy_v1"), ("proxy-v2", 2, "proxy_v2")] {
        let capture = testdata(&format!("{name}.pcap"));
        let rows = analyze(&capture);
        assert_eq!(rows.len(), 1, "{name}: one handshake");
        let row = &rows[0];
        assert_eq!(row.meta.transport, Transport::Tcp, "{name}");
        assert_eq!(row.hs.status, HandshakeStatus::Complete, "{name}");
        assert_eq!(row.wrap.wrapper(), Some(wrapper), "{name}");
        assert_eq!(row.wrap.proxy_version, Some(version), "{name}");

        let proxy = tsv(&testdata(&format!("{name}.pcap.tshark-proxy.tsv")));
        assert_eq!(proxy.len(), 1, "{name}: tshark sees one PROXY header");
        let p = &proxy[0];
        assert_eq!(
            field(p, "proxy.version"),
            if version == 2 { "2" } else { "" }
        );
        let ip = [field(p, "proxy.src.ipv4"), field(p, "proxy.src.ipv6")].concat();
        let src = row.wrap.proxy_src.expect("PROXY source address");
        assert_eq!(src.ip().to_string(), ip, "{name}: proxy_src_ip");
        assert_eq!(
            src.port().to_string(),
            field(p, "proxy.srcport"),
            "{name}: proxy_src_port"
        );

        let ch = row.hs.client_hello.as_ref().expect("ClientHello");
        let sh = row.hs.server_hello.as_ref().expect("ServerHello");
        assert_eq!(ch.sni.as_deref(), Some("tlstap.test"), "{name}");
        for t in tsv(&testdata(&format!("{name}.pcap.tshark-tls.tsv"))) {
            match field(&t, "tls.handshake.type") {
                "1" => {
                    assert_eq!(
                        ch.sni.as_deref().unwrap_or(""),
                        field(&t, "tls.handshake.extensions_server_name")
                    );
                    assert_eq!(
                        hex_list(&ch.cipher_suites),
                        field(&t, "tls.handshake.ciphersuite"),
                        "{name}: cipher suites"
                    );
                }
                "2" => assert_eq!(
                    format!("0x{:04x}", sh.cipher),
                    field(&t, "tls.handshake.ciphersuite"),
                    "{name}: cipher"
                ),
                other => panic!("{name}: unexpected tshark row {other}"),
            }
        }
    }
}

#[test]
fn openvpn_over_tcp_sessions_are_unwrapped() {
    let Some(corpus) = support::corpus_root() else {
        eprintln!("conformance corpus not found: skipped");
        return;
    };
    let rows = analyze(&corpus.join("arkime/tests/pcap/openvpn_synthetic.pcap"));
    let tcp: Vec<_> = rows
        .iter()
        .filter(|r| r.meta.transport == Transport::Tcp)
        .collect();
    let ports: Vec<u16> = tcp.iter().map(|r| r.meta.dst_port).collect();
    assert_eq!(ports, [8443, 6666]);
    for r in tcp {
        let name = r.meta.dst_port;
        assert_eq!(r.wrap.wrapper(), Some("openvpn"), "{name}");
        assert_eq!(r.wrap.proxy_src, None);
        let ch = r.hs.client_hello.as_ref().expect("ClientHello");
        let sh = r.hs.server_hello.as_ref().expect("ServerHello");
        assert_eq!(ch.sni.as_deref(), Some("arkime.test"), "{name}");
        assert_eq!(ch.cipher_suites, [0x002f, 0xc02f, 0x009c], "{name}");
        assert_eq!(ch.extensions, [0, 43], "{name}");
        assert_eq!(sh.cipher, 0x002f, "{name}");
        assert_eq!(
            r.cert_chain_sha256.len(),
            1,
            "{name}: the Certificate tshark shows"
        );
    }
}
