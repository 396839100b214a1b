//! Conformance against Arkime's session documents (`_derived/arkime_tls_sessions.tsv`,
//! flattened from `arkime/tests/pcap/*.test`, see `tests/support/oracles.rs`).
//!
//! Sessions are matched by 4-tuple (either orientation). Compared: whether the row exists
//! on each side, which side is the client, `version` (Arkime's names), `cipher`, SNI
//! (`http.host`), server certificate serials, JA3, JA3S and JA4; for QUIC and DTLS
//! sessions only the fields Arkime's UDP parsers fill (`ArkimeTls::fields`: QUIC gives
//! SNI, JA3 and JA4 of the client's Initial; DTLS gives JA4 and certificate serials).
//! Every disagreement is either in [`EXCEPTIONS`] with its reason or fails the test.
//!
//! Serials: Arkime prints the DER INTEGER content bytes in lowercase hex, keeping the
//! `00` byte DER adds before a high-bit first byte (`008a07e0...`); we print the number
//! OpenSSL-style, uppercase without that padding byte (`8A07E0...`). Both are the same
//! integer: the comparison lowercases both and drops leading zero digits. Arkime's
//! `cert` array is not in chain order (`openssl-ssl3`: tshark and we have
//! `7a5b0bd895632f87|023a76|12bbe6`, leaf first as sent; Arkime lists the leaf last), so
//! serials are compared as sorted lists; chain order is checked against Zeek's
//! `cert_chain_fps` in `conformance_zeek.rs`.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use support::agreement::{conn, our_conn, rel, same_conn, Agreement, Exception};
use support::oracles::{arkime_expectations, ArkimeRow};
use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::output::CertRow;
use tlstap::pipeline::analyze_capture;
use tlstap::row::HandshakeRow;

/// Arkime sessions that carry no TLS handshake on the wire, each with the reason.
/// Checked: each occurs, and we have no row for it.
const EXCLUDED: &[(&str, &str, &str)] = &[
    (
        "arkime/tests/pcap/arkime_synthetic.pcap",
        "10.9.4.1:52001 > 10.9.4.2:443",
        GQUIC,
    ),
    (
        "arkime/tests/pcap/fbzero-android.pcap",
        "192.168.1.111:39584 > 31.13.74.1:443",
        FBZERO,
    ),
    (
        "arkime/tests/pcap/ike-cert_synthetic.pcap",
        "10.1.1.100:500 > 10.1.1.200:500",
        IKE,
    ),
    (
        "arkime/tests/pcap/ike-cert_synthetic.pcap",
        "172.16.0.50:500 > 172.16.0.100:500",
        IKE,
    ),
    (
        "arkime/tests/pcap/ike-cert_synthetic.pcap",
        "[2001:db8::100]:500 > [2001:db8::200]:500",
        IKE,
    ),
    (
        "arkime/tests/pcap/ike-cert_synthetic.pcap",
        "[2001:db8::50]:500 > [2001:db8::100]:500",
        IKE,
    ),
    (
        "arkime/tests/pcap/opcua_synthetic.pcap",
        "[fd00:10::1]:40002 > [fd00:10::2]:4840",
        OPCUA,
    ),
    (
        "arkime/tests/pcap/opcua_synthetic.pcap",
        "10.10.12.10:40004 > 10.10.12.11:4840",
        OPCUA,
    ),
    (
        "arkime/tests/pcap/openvpn_synthetic.pcap",
        "203.0.113.5:51000 > 198.51.100.20:4444",
        OPENVPN_UDP,
    ),
    (
        "arkime/tests/pcap/openvpn_synthetic.pcap",
        "[2001:db8:1::5]:51001 > [2001:db8:2::20]:5555",
        OPENVPN_UDP,
    ),
    (
        "arkime/tests/pcap/quic24-wireshark.pcap",
        "10.44.100.22:50509 > 216.58.208.195:443",
        GQUIC,
    ),
    (
        "arkime/tests/pcap/quic33-wireshark.pcap",
        "10.0.2.15:40482 > 64.15.116.182:443",
        GQUIC,
    ),
    (
        "arkime/tests/pcap/quic34.pcap",
        "10.0.0.4:54800 > 216.58.194.195:443",
        GQUIC,
    ),
    (
        "arkime/tests/pcap/quic43.pcap",
        "[2001:4998:effd:7801::1058]:51485 > [2607:f8b0:4005:1e::8]:443",
        GQUIC,
    ),
];
const GQUIC: &str = "Google QUIC (Q0xx): QUIC-crypto handshake (CHLO/SHLO), not TLS";
const IKE: &str = "IKE/ISAKMP over UDP carrying certificates, not TLS";
const OPCUA: &str =
    "OPC UA secure channel over TCP: certificates in OPC UA messages, no TLS records";
const OPENVPN_UDP: &str = "OpenVPN over UDP: TLS inside OpenVPN's reliability layer";
const FBZERO: &str = "Facebook Zero protocol over TCP (QUIC-crypto based), not TLS records";

/// Disagreements we keep on purpose. Each says why our value is the right one.
const EXCEPTIONS: &[Exception] = &[
    Exception {
        capture: "arkime/tests/pcap/arkime_synthetic.pcap",
        conn: "10.0.18.100:54334 > 10.0.18.1:443",
        field: "row present",
        ours: "yes",
        theirs: "no",
        why: "A ClientHello record whose body is cut after 69 bytes (tshark: 'segment of a \
              reassembled PDU', never completed). Arkime tags the session `tls` but has no \
              `body.tls`, and the flattened oracle keeps only sessions with `body.tls`. Our \
              row (status no_client_hello, nothing invented) records the attempted TLS \
              connection, which both tools agree on.",
    },
    Exception {
        capture: "arkime/tests/pcap/arkime_synthetic.pcap",
        conn: "10.0.29.100:54341 > 10.0.29.1:5684",
        field: "row present",
        ours: "yes",
        theirs: "no",
        why: "One unanswered DTLS 1.2 ClientHello (one suite, 0x002f; no extensions) to \
              UDP 5684, CoAP over DTLS (RFC 7252 6.2). tshark decodes frame 299 as a DTLS \
              Client Hello on its own; Arkime tags the session only `udp` (no `dtls`, no \
              body.tls). Our row has status no_server_hello and the ClientHello's \
              fingerprints.",
    },
];

/// Arkime's version names (`capture/parsers/tls.c`): `TLSv1` for 1.0, drafts as
/// `TLSv1.3-draft-NN`.
fn arkime_version(v: u16) -> String {
    match v {
        0x0002 => "SSLv2".into(),
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        0x7f00..=0x7fff => format!("TLSv1.3-draft-{:02}", v & 0xff),
        _ => format!("0x{v:04x}"),
    }
}

fn serial_norm(s: &str) -> String {
    let t = s.to_ascii_lowercase();
    let t = t.trim_start_matches('0');
    if t.is_empty() { "0" } else { t }.to_string()
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or("").to_string()
}

fn ours_fields(r: &HandshakeRow, certs: &HashMap<&str, &CertRow>) -> Vec<(&'static str, String)> {
    let hs = &r.hs;
    let mut serials: Vec<String> = r
        .cert_chain_sha256
        .iter()
        .map(|h| {
            certs
                .get(h.as_str())
                .map_or("?".into(), |c| serial_norm(&c.info.serial))
        })
        .collect();
    serials.sort();
    vec![
        (
            "version",
            hs.version.map(arkime_version).unwrap_or_default(),
        ),
        (
            "cipher",
            hs.server_hello.as_ref().map_or(String::new(), |sh| {
                tlstap::tls::names::cipher_name(sh.cipher)
                    .map_or(format!("0x{:04x}", sh.cipher), str::to_string)
            }),
        ),
        (
            "sni",
            opt(hs.client_hello.as_ref().and_then(|c| c.sni.as_deref())),
        ),
        ("cert_serials", serials.join("|")),
        ("ja3", opt(r.fp.ja3.as_deref())),
        ("ja3s", opt(r.fp.ja3s.as_deref())),
        ("ja4", opt(r.fp.ja4.as_deref())),
    ]
}

fn theirs_fields(a: &ArkimeRow) -> Vec<(&'static str, String)> {
    let mut serials: Vec<String> = a.cert_serials.iter().map(|s| serial_norm(s)).collect();
    serials.sort();
    vec![
        ("version", opt(a.version.as_deref())),
        ("cipher", opt(a.cipher.as_deref())),
        ("sni", opt(a.host.as_deref())),
        ("cert_serials", serials.join("|")),
        ("ja3", opt(a.ja3.as_deref())),
        ("ja3s", opt(a.ja3s.as_deref())),
        ("ja4", opt(a.ja4.as_deref())),
    ]
}

#[test]
fn arkime_session_agreement() {
    let Some(corpus) = support::corpus_root() else {
        return;
    };
    let sessions = arkime_expectations(&corpus).expect("load Arkime sessions");
    let mut ours: HashMap<PathBuf, (Vec<HandshakeRow>, Vec<CertRow>)> = HashMap::new();
    let mut matched: HashSet<(PathBuf, usize)> = HashSet::new();
    let mut nth: HashMap<(PathBuf, String), usize> = HashMap::new();
    let mut excluded_used = vec![false; EXCLUDED.len()];
    let mut agree = Agreement::default();

    for a in &sessions {
        let (rows, certs) = ours.entry(a.pcap.clone()).or_insert_with(|| {
            let (r, c, _) =
                analyze_capture(&a.pcap, FlowLimits::default(), DecoderLimits::default());
            (r, c)
        });
        let name = conn(&a.src, a.sport, &a.dst, a.dport);
        let cap = a.pcap_rel.clone();
        let k = nth.entry((a.pcap.clone(), name.clone())).or_insert(0);
        let hit = rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| same_conn(r, &a.src, a.sport, &a.dst, a.dport).map(|o| (i, o)))
            .nth(*k);
        *k += 1;
        if let Some(x) = EXCLUDED
            .iter()
            .position(|(c, n, _)| *c == cap && *n == name)
        {
            excluded_used[x] = true;
            assert!(
                hit.is_none(),
                "{cap} [{name}] is excluded ({}) but we have a row for it",
                EXCLUDED[x].2
            );
            continue;
        }
        let context = format!("protocols {}", a.protocols.join(","));
        let carrier = a.tls().unwrap_or_else(|| {
            panic!("{cap} [{name}] carries no TLS ({context}): list it in EXCLUDED")
        });
        let Some((i, orig_is_client)) = hit else {
            agree.check(&cap, &name, "row present", "no", "yes", &context);
            continue;
        };
        matched.insert((a.pcap.clone(), i));
        agree.check(&cap, &name, "row present", "yes", "yes", &context);
        agree.check(
            &cap,
            &name,
            "src = client",
            if orig_is_client { "src" } else { "dst" },
            "src",
            &context,
        );
        let by_hash: HashMap<&str, &CertRow> =
            certs.iter().map(|c| (c.info.sha256.as_str(), c)).collect();
        let mine = ours_fields(&rows[i], &by_hash);
        for ((field, o), (_, t)) in mine.iter().zip(theirs_fields(a)) {
            if carrier.fields().contains(field) {
                agree.check(&cap, &name, field, o, &t, &context);
            }
        }
    }
    for (p, (rows, _)) in &ours {
        for (i, r) in rows.iter().enumerate() {
            if !matched.contains(&(p.clone(), i)) {
                agree.check(
                    &rel(&corpus, p),
                    &our_conn(r),
                    "row present",
                    "yes",
                    "no",
                    "no Arkime session with body.tls",
                );
            }
        }
    }
    for ((c, n, why), used) in EXCLUDED.iter().zip(&excluded_used) {
        assert!(
            used,
            "exclusion {c} [{n}] ({why}) matches no Arkime session; remove it"
        );
    }
    agree.finish("Arkime", EXCEPTIONS);
}
