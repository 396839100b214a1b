//! Conformance against Zeek's `ssl.log` baselines (see `tests/support/oracles.rs` for how
//! each baseline row is attributed to its trace) and a no-panic run over every capture
//! of the shared corpus.
//!
//! Rows are matched by connection 4-tuple (either orientation); cut baselines without
//! `id.*` columns are matched by order within their trace. Compared per row: which side
//! is the client, `version`, `cipher`, `server_name`, `resumed`, `established`,
//! `cert_chain_fps`, and whether the row exists at all on each side. The same
//! (trace, connection, field, Zeek value) is counted once however many tests log it.
//! Every disagreement is either in [`EXCEPTIONS`] with its reason or fails the test.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use support::agreement::{analyze, conn, our_conn, rel, same_conn, Agreement, Exception};
use support::oracles::{tshark_tables, zeek_ssl_expectations, Field, ZeekSslRow};
use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_capture;
use tlstap::row::HandshakeRow;

/// Traces whose `ssl.log` rows are out of scope: tlstap follows TCP only. Each is
/// checked to hold no TCP TLS traffic at all (tshark's table has no TCP TLS frame), so
/// nothing is excluded that we should have seen.
const UDP_ONLY: &[(&str, &str)] = &[
    ("zeek/Traces/quic/quic-39264-rand.pcap", QUIC),
    (
        "zeek/Traces/quic/chromium-115.0.5790.110-api-cirrus-com.pcap",
        QUIC,
    ),
    (
        "zeek/Traces/quic/chromium-115.0.5790.110-google-de-fragmented.pcap",
        QUIC,
    ),
    (
        "zeek/Traces/quic/curl-8.1.2-dev-http3-www-google-de.pcap",
        QUIC,
    ),
    (
        "zeek/Traces/quic/firefox-102.13.0esr-blog-cloudflare-com.pcap",
        QUIC,
    ),
    (
        "zeek/Traces/quic/interop/quic-go_quic-go/handshake.pcap",
        QUIC,
    ),
    ("zeek/Traces/quic/interop/quic-go_quic-go/retry.pcap", QUIC),
    (
        "zeek/Traces/quic/interop/quic-go_quic-go/zerortt.pcap",
        QUIC,
    ),
    ("zeek/Traces/quic/merlinc2_Zeek_example.pcapng", QUIC),
    (
        "zeek/Traces/quic/quic-decrypt-fail-google-de-51833.pcap",
        QUIC,
    ),
    (
        "zeek/Traces/quic/quic-multiple-initial-fragmented-crypto-only-initial.pcap",
        QUIC,
    ),
    (
        "zeek/Traces/quic/quic-multiple-initial-fragmented-crypto.pcap",
        QUIC,
    ),
    ("zeek/Traces/quic/quic_win11_firefox_google.pcap", QUIC),
    ("zeek/Traces/quic/quicdoq.pcap", QUIC),
    ("zeek/Traces/quic/quicv2-echo-443.pcap", QUIC),
    ("zeek/Traces/quic/quicv2-http3-443.pcap", QUIC),
    ("zeek/Traces/tls/dtls1_0.pcap", DTLS),
    ("zeek/Traces/tls/dtls1_2.pcap", DTLS),
    ("zeek/Traces/tls/dtls13-cid.pcap", DTLS),
    ("zeek/Traces/tls/dtls13-wolfssl.pcap", DTLS),
    ("zeek/Traces/tls/webrtc-stun.pcap", STUN_DTLS),
];
const QUIC: &str = "QUIC over UDP: the TLS handshake is inside QUIC CRYPTO frames, not TCP";
const DTLS: &str = "DTLS over UDP: tlstap follows TLS over TCP only";
const STUN_DTLS: &str = "WebRTC DTLS multiplexed with STUN over UDP: not TCP";

/// Disagreements we keep on purpose. Each says why our value is the right one.
const EXCEPTIONS: &[Exception] = &[Exception {
    capture: "zeek/Traces/tls/chrome-63.0.3211.0-canary-tls_experiment.pcap",
    conn: "192.168.0.2:62873 > 104.196.219.53:443",
    field: "resumed",
    ours: "F",
    theirs: "T",
    why: "Chrome's TLS 1.3 'experiment' variant (supported_versions 0x7e01) in middlebox \
          compatibility mode: the ServerHello echoes the 32-byte legacy_session_id, picks \
          TLS_AES_128_GCM_SHA256 (a 1.3-only suite) and carries key_share but no \
          pre_shared_key (tshark -V). RFC 8446 4.1.3/D.4: the echo is compatibility \
          noise, resumption is only an accepted PSK. Zeek's main.zeek marks resumed on any \
          session-id echo unless version_num/0xFF == 0x7F or == TLSv13, so it misses the \
          0x7eNN experiment code points (it logs the version as unknown-32257).",
}];

/// Zeek's name for a version code point (`SSL::version_strings` in
/// `base/protocols/ssl/consts.zeek`, including its `&default` for drafts and unknowns).
fn zeek_version(v: u16) -> String {
    let named = match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv10",
        0x0302 => "TLSv11",
        0x0303 => "TLSv12",
        0x0304 => "TLSv13",
        0xfeff => "DTLSv10",
        0xfefd => "DTLSv12",
        0xfefc => "DTLSv13",
        _ => "",
    };
    if !named.is_empty() {
        return named.to_string();
    }
    let i = u32::from(v);
    if i / 0xff == 0x7f {
        format!("TLSv13-draft{}", i % 0x7f)
    } else {
        format!("unknown-{i}")
    }
}

fn zeek_cipher(c: u16) -> String {
    tlstap::tls::names::cipher_name(c)
        .map(str::to_string)
        .unwrap_or_else(|| format!("unknown-{c}"))
}

fn field_str<T>(f: &Field<T>, show: impl Fn(&T) -> String) -> Option<String> {
    match f {
        Field::Absent => None,
        Field::Unset => Some("-".to_string()),
        Field::Value(v) => Some(show(v)),
    }
}

fn tf(b: bool) -> String {
    if b { "T" } else { "F" }.to_string()
}

/// Zeek leaves `cert_chain_fps` unset (`-`) when no certificate was seen and prints
/// `(empty)` for an initialised empty chain; both mean "no certificate", as does our
/// empty list, so all three compare as `-`.
fn fps(v: &[String]) -> String {
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join(",")
    }
}

/// Our value of each compared field, as Zeek would print it.
fn ours_fields(r: &HandshakeRow) -> BTreeMap<&'static str, String> {
    let hs = &r.hs;
    let mut m = BTreeMap::new();
    m.insert("version", hs.version.map_or("-".to_string(), zeek_version));
    m.insert(
        "cipher",
        hs.server_hello
            .as_ref()
            .map_or("-".to_string(), |sh| zeek_cipher(sh.cipher)),
    );
    m.insert(
        "server_name",
        hs.client_hello
            .as_ref()
            .and_then(|c| c.sni.clone())
            .unwrap_or_else(|| "-".to_string()),
    );
    m.insert("resumed", tf(hs.resumed));
    m.insert("established", tf(hs.established));
    m.insert("cert_chain_fps", fps(&r.cert_chain_sha256));
    m
}

fn theirs_fields(z: &ZeekSslRow) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let mut put = |name, s: Option<String>| {
        if let Some(s) = s {
            v.push((name, s));
        }
    };
    put("version", field_str(&z.version, String::clone));
    put("cipher", field_str(&z.cipher, String::clone));
    put("server_name", field_str(&z.server_name, String::clone));
    put("resumed", field_str(&z.resumed, |b| tf(*b)));
    put("established", field_str(&z.established, |b| tf(*b)));
    put("cert_chain_fps", field_str(&z.cert_chain_fps, |f| fps(f)));
    v
}

/// The 4-tuple of a Zeek row, when the baseline has the `id.*` columns.
/// `(orig_h, orig_p, resp_h, resp_p)`.
type Tuple = (String, u16, String, u16);

fn zeek_tuple(z: &ZeekSslRow) -> Option<Tuple> {
    Some((
        z.orig_h.value()?.clone(),
        *z.orig_p.value()?,
        z.resp_h.value()?.clone(),
        *z.resp_p.value()?,
    ))
}

#[test]
fn zeek_ssl_log_agreement() {
    let Some(corpus) = support::corpus_root() else {
        return;
    };
    let tests = zeek_ssl_expectations(&corpus).expect("load Zeek baselines");
    let udp_only: HashMap<PathBuf, &str> = UDP_ONLY
        .iter()
        .map(|(p, why)| (corpus.join(p), *why))
        .collect();

    let mut ours: HashMap<PathBuf, Vec<HandshakeRow>> = HashMap::new();
    // (trace, index of our row) matched by some Zeek row.
    let mut matched: HashSet<(PathBuf, usize)> = HashSet::new();
    // Traces where every row could be looked up (so an unmatched row of ours is extra).
    let mut traces_seen: BTreeMap<PathBuf, ()> = BTreeMap::new();
    let mut done: HashSet<(String, String, &'static str, String)> = HashSet::new();
    let mut agree = Agreement::default();
    let mut excluded_rows = 0usize;
    let mut unattributed = Vec::new();

    for t in &tests {
        // Order matching for cut files without id columns: per trace, a running index.
        let mut next_by_order: HashMap<PathBuf, usize> = HashMap::new();
        // Repeated 4-tuples (port reuse) map to successive rows of ours.
        let mut tuple_seen: HashMap<(PathBuf, Tuple), usize> = HashMap::new();
        for z in &t.rows {
            let trace = match (&z.trace, t.traces.as_slice()) {
                (Some(p), _) => p.clone(),
                (None, [one]) => one.clone(),
                _ => {
                    unattributed.push(format!("{}:{}", t.baseline.display(), z.line));
                    continue;
                }
            };
            if udp_only.contains_key(&trace) {
                excluded_rows += 1;
                continue;
            }
            let cap = rel(&corpus, &trace);
            let context = format!(
                "{}:{}",
                rel(&corpus, &t.baseline).trim_start_matches("zeek/Baseline/"),
                z.line
            );
            let rows = ours.entry(trace.clone()).or_insert_with(|| analyze(&trace));
            traces_seen.insert(trace.clone(), ());
            let (found, conn_name, orig_is_client) = match zeek_tuple(z) {
                Some(tu) => {
                    let nth = tuple_seen.entry((trace.clone(), tu.clone())).or_insert(0);
                    let hit = rows
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| same_conn(r, &tu.0, tu.1, &tu.2, tu.3).map(|o| (i, o)))
                        .nth(*nth);
                    *nth += 1;
                    let name = conn(&tu.0, tu.1, &tu.2, tu.3);
                    match hit {
                        Some((i, o)) => (Some(i), name, Some(o)),
                        None => (None, name, None),
                    }
                }
                None => {
                    let i = next_by_order.entry(trace.clone()).or_insert(0);
                    let at = *i;
                    *i += 1;
                    let name = rows
                        .get(at)
                        .map_or(format!("#{at}"), |r| format!("#{at} {}", our_conn(r)));
                    (rows.get(at).map(|_| at), name, None)
                }
            };
            let mut once = |agree: &mut Agreement, field: &'static str, o: &str, th: &str| {
                if done.insert((cap.clone(), conn_name.clone(), field, th.to_string())) {
                    agree.check(&cap, &conn_name, field, o, th, &context);
                }
            };
            let Some(i) = found else {
                once(&mut agree, "row present", "no", "yes");
                continue;
            };
            matched.insert((trace.clone(), i));
            once(&mut agree, "row present", "yes", "yes");
            if let Some(o) = orig_is_client {
                once(
                    &mut agree,
                    "orig = client",
                    if o { "orig" } else { "resp" },
                    "orig",
                );
            }
            let mine = ours_fields(&rows[i]);
            for (field, theirs) in theirs_fields(z) {
                once(&mut agree, field, &mine[field], &theirs);
            }
        }
    }
    // Rows of ours that no Zeek row accounts for.
    for trace in traces_seen.keys() {
        let cap = rel(&corpus, trace);
        for (i, r) in ours[trace].iter().enumerate() {
            if !matched.contains(&(trace.clone(), i)) {
                agree.check(
                    &cap,
                    &our_conn(r),
                    "row present",
                    "yes",
                    "no",
                    "no Zeek row",
                );
            }
        }
    }
    // Excluded traces really carry no TCP TLS (tshark's view), and we find none either.
    let tshark = tshark_tables(&corpus).expect("tshark tables");
    for (p, why) in UDP_ONLY {
        let full = corpus.join(p);
        let tcp_tls = tshark
            .iter()
            .filter(|c| c.capture == full)
            .flat_map(|c| &c.frames)
            .filter(|f| f.tcp_stream.is_some() && !f.hs_types.is_empty())
            .count();
        assert_eq!(
            tcp_tls, 0,
            "{p} is excluded ({why}) but tshark sees TCP TLS"
        );
        assert!(
            analyze(&full).is_empty(),
            "{p} is excluded ({why}) but we find TCP TLS rows"
        );
    }
    eprintln!(
        "zeek: {} baselines, {} traces compared, {} rows of UDP-only traces excluded",
        tests.len(),
        traces_seen.len(),
        excluded_rows
    );
    assert!(
        unattributed.is_empty(),
        "baseline rows without a trace: {unattributed:?}"
    );
    agree.finish("Zeek ssl.log", EXCEPTIONS);
}

/// Every capture in the corpus (all folders; format by magic bytes, so every file that
/// looks like a capture by name) goes through the whole pipeline without a panic.
#[test]
fn every_corpus_capture_runs() {
    let Some(corpus) = support::corpus_root() else {
        return;
    };
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else {
                let n = p.to_string_lossy().to_ascii_lowercase();
                if [".pcap", ".pcapng", ".cap", ".gz"]
                    .iter()
                    .any(|e| n.ends_with(e))
                {
                    out.push(p);
                }
            }
        }
    }
    let mut files = Vec::new();
    for d in ["zeek/Traces", "arkime", "ja4/pcap", "s2n-tls"] {
        walk(&corpus.join(d), &mut files);
    }
    assert!(files.len() >= 180, "only {} captures found", files.len());
    let mut panics = Vec::new();
    let mut report = String::from("\ncapture\trows\tproblems\n");
    let (mut total_rows, mut with_problems) = (0usize, 0usize);
    for f in &files {
        let name = rel(&corpus, f);
        match std::panic::catch_unwind(|| {
            analyze_capture(f, FlowLimits::default(), DecoderLimits::default())
        }) {
            Ok((rows, _, rep)) => {
                total_rows += rows.len();
                let problems: Vec<String> =
                    rep.problems.iter().map(|p| p.message.clone()).collect();
                if !problems.is_empty() {
                    with_problems += 1;
                }
                report.push_str(&format!(
                    "{name}\t{}\t{}\n",
                    rows.len(),
                    problems.join("; ")
                ));
            }
            Err(_) => panics.push(name),
        }
    }
    report.push_str(&format!(
        "{} captures, {total_rows} rows, {with_problems} with problems, {} panics\n",
        files.len(),
        panics.len()
    ));
    println!("{report}");
    eprintln!("{report}");
    assert!(panics.is_empty(), "analyze_capture panicked on: {panics:?}");
}
