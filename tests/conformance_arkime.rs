//! Conformance against Arkime's session documents (`_derived/arkime_tls_sessions.tsv`,
//! flattened from `arkime/tests/pcap/*.test`, see `tests/support/oracles.rs`).
//!
//! Sessions are matched by 4-tuple (either orientation). Compared: whether the row exists
//! on each side, which side is the client, `version` (Arkime's names), `cipher`, SNI
//! (`http.host`), server certificate serials, JA3, JA3S and JA4. Every disagreement is
//! either in [`EXCEPTIONS`] with its reason or fails the test.
//!
//! Serials: Arkime prints the DER INTEGER content bytes in lowercase hex, keeping the
//! `00` byte DER adds before a high-bit first byte (`008a07e0...`); we print the number
//! OpenSSL-style, uppercase without that padding byte (`8A07E0...`). Both are the same
//! integer: the comparison lowercases both and drops leading zero digits.

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

/// Arkime sessions that are not TLS over TCP, so out of scope for tlstap, each with the
/// reason. Checked: each occurs, and we have no row for it.
const EXCLUDED: &[(&str, &str, &str)] = &[];

/// Disagreements we keep on purpose. Each says why our value is the right one.
const EXCEPTIONS: &[Exception] = &[];

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
    let serials: Vec<String> = r
        .cert_chain_sha256
        .iter()
        .map(|h| {
            certs
                .get(h.as_str())
                .map_or("?".into(), |c| serial_norm(&c.info.serial))
        })
        .collect();
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
    let serials: Vec<String> = a.cert_serials.iter().map(|s| serial_norm(s)).collect();
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
            agree.check(&cap, &name, field, o, &t, &context);
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
