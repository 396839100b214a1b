//! QUIC and DTLS handshakes we recorded on loopback from real stacks (`testdata/quic`,
//! `testdata/dtls`: aioquic, quinn with rustls (ring and aws-lc-rs), OpenSSL, GnuTLS;
//! how, in `scripts/record-udp/README.md`), compared with tshark 4.0's view of the same
//! files (`<capture>.tshark.tsv` beside each). Needs no corpus: always runs.
//!
//! Per capture: exactly one row, on the right transport, with tshark's SNI, ALPN,
//! cipher, JA3 and JA3S; for QUIC, the wire version and the client's first DCID; for
//! DTLS, the HelloVerifyRequest cookie exchange. tshark's ClientHello row is the first
//! one it shows (after a Retry or a HelloVerifyRequest the hello is sent again and
//! fingerprints describe the first); its ServerHello row is the last.

mod support;

use std::path::{Path, PathBuf};

use support::agreement::analyze;
use tlstap::flow::record::Transport;
use tlstap::row::HandshakeRow;
use tlstap::tls::model::HandshakeStatus;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// tshark's fields of a capture's ClientHello and ServerHello rows.
#[derive(Debug, Default)]
struct Tshark {
    quic_version: String,
    dcid: String,
    sni: String,
    alpn: String,
    cipher: String,
    ja3: String,
    ja3_full: String,
    ja3s: String,
    ja3s_full: String,
    hello_verify: bool,
    serials: Vec<String>,
}

fn tshark_view(capture: &Path) -> Tshark {
    let tsv = PathBuf::from(format!("{}.tshark.tsv", capture.display()));
    let text = std::fs::read_to_string(&tsv).unwrap_or_else(|e| panic!("{}: {e}", tsv.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let mut t = Tshark::default();
    let mut seen_client = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |c: &str| f.get(col(c)).copied().unwrap_or("").to_owned();
        let first = |c: &str| get(c).split(',').next().unwrap_or("").to_owned();
        let types: Vec<String> = [get("tls.handshake.type"), get("dtls.handshake.type")]
            .iter()
            .flat_map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let dtls = !get("dtls.handshake.type").is_empty();
        let p = if dtls { "dtls" } else { "tls" };
        if types.iter().any(|t| t == "3") {
            t.hello_verify = true;
        }
        if types.iter().any(|t| t == "1") && !seen_client {
            seen_client = true;
            t.quic_version = first("quic.version");
            t.dcid = first("quic.dcid");
            t.sni = get(&format!("{p}.handshake.extensions_server_name"));
            t.alpn = get("tls.handshake.extensions_alpn_str");
            t.ja3 = get(&format!("{p}.handshake.ja3"));
            t.ja3_full = get(&format!("{p}.handshake.ja3_full"));
        }
        if types.iter().any(|t| t == "2") {
            t.cipher = get(&format!("{p}.handshake.ciphersuite"));
            t.ja3s = get(&format!("{p}.handshake.ja3s"));
            t.ja3s_full = get(&format!("{p}.handshake.ja3s_full"));
        }
        let serial = get("x509af.serialNumber");
        if !serial.is_empty() {
            t.serials.push(serial);
        }
    }
    t
}

fn only_row(capture: &Path) -> HandshakeRow {
    let rows = analyze(capture);
    assert_eq!(rows.len(), 1, "{}: one handshake", capture.display());
    rows.into_iter().next().expect("one row")
}

/// The fields every loopback capture is checked on.
fn check_common(capture: &Path, row: &HandshakeRow, t: &Tshark, transport: Transport) {
    let name = capture.display();
    assert_eq!(row.meta.transport, transport, "{name}");
    let ch = row.hs.client_hello.as_ref().expect("ClientHello");
    let sh = row.hs.server_hello.as_ref().expect("ServerHello");
    assert_eq!(ch.sni.as_deref().unwrap_or(""), t.sni, "{name}: sni");
    let alpn: Vec<String> = ch
        .alpn
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(alpn.join(","), t.alpn, "{name}: alpn");
    assert_eq!(format!("{:#06x}", sh.cipher), t.cipher, "{name}: cipher");
    assert_eq!(row.fp.ja3_string.as_deref(), Some(&*t.ja3_full), "{name}");
    assert_eq!(row.fp.ja3.as_deref(), Some(&*t.ja3), "{name}: ja3");
    assert_eq!(row.fp.ja3s_string.as_deref(), Some(&*t.ja3s_full), "{name}");
    assert_eq!(row.fp.ja3s.as_deref(), Some(&*t.ja3s), "{name}: ja3s");
    assert_eq!(row.hs.malformed_reason, None, "{name}");
}

#[test]
fn quic_loopback_captures_match_tshark() {
    let cases = [
        ("aioquic-v1.pcap", false),
        ("aioquic-large-hello.pcap", false),
        ("aioquic-retry.pcap", true),
        ("aioquic-v2.pcap", false),
        ("aioquic-v1-to-v2.pcap", false),
        ("quinn.pcap", false),
        ("quinn-pq.pcap", false),
    ];
    for (file, retry) in cases {
        let capture = testdata(&format!("quic/{file}"));
        let t = tshark_view(&capture);
        let row = only_row(&capture);
        check_common(&capture, &row, &t, Transport::Quic);
        let q = row.quic.as_ref().expect("QUIC columns");
        assert_eq!(format!("{:#010x}", q.version), t.quic_version, "{file}");
        assert_eq!(q.dcid, t.dcid, "{file}: the client's first DCID");
        assert_eq!(q.retry, retry, "{file}");
        assert_eq!(row.hs.version, Some(0x0304), "{file}");
        assert_eq!(row.hs.status, HandshakeStatus::Complete, "{file}");
        assert!(row.hs.certs_encrypted && row.cert_chain_sha256.is_empty());
        let ch = row.hs.client_hello.as_ref().expect("hello");
        assert!(!ch.quic_transport_params.is_empty(), "{file}");
        assert!(row.fp.ja4.as_deref().is_some_and(|j| j.starts_with("q13")));
        assert!(row.meta.community_id.starts_with("1:"));
    }
    // The post-quantum hello (two Initials) offers and gets X25519MLKEM768.
    let row = only_row(&testdata("quic/quinn-pq.pcap"));
    let ch = row.hs.client_hello.as_ref().expect("hello");
    assert!(
        ch.key_share_groups.contains(&0x11ec),
        "{:?}",
        ch.key_share_groups
    );
    let sh = row
        .hs
        .server_hello
        .as_ref()
        .expect("ServerHello over two Initials");
    assert_eq!(sh.key_share_group, Some(0x11ec));
}

#[test]
fn dtls_loopback_captures_match_tshark() {
    for (file, version) in [
        ("openssl-dtls12-mtu.pcap", 0xfefd),
        ("openssl-dtls10.pcap", 0xfeff),
        ("gnutls-dtls12.pcap", 0xfefd),
    ] {
        let capture = testdata(&format!("dtls/{file}"));
        let t = tshark_view(&capture);
        let row = only_row(&capture);
        check_common(&capture, &row, &t, Transport::Dtls);
        assert!(t.hello_verify, "{file}: recorded with a cookie exchange");
        assert!(row.hs.dtls_cookie, "{file}");
        assert_eq!(row.hs.version, Some(version), "{file}");
        assert_eq!(row.hs.status, HandshakeStatus::Complete, "{file}");
        assert!(row.quic.is_none());
        // The certificate travels in the clear (fragmented in the -mtu capture).
        assert_eq!(row.cert_chain_sha256.len(), 1, "{file}");
        assert!(!row.hs.certs_encrypted);
        let deprecated = row.findings.contains(&"deprecated_protocol");
        assert_eq!(deprecated, version == 0xfeff, "{file}: {:?}", row.findings);
        let v = if version == 0xfeff { "dd1" } else { "dd2" };
        assert!(row.fp.ja4.as_deref().is_some_and(|j| j.starts_with(v)));
    }
}
