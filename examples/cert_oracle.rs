//! Exploratory oracle harness for `tlstap::certs::parse_certificate`, run by hand:
//!
//! ```text
//! cargo run --example cert_oracle -- [CORPUS_DIR] [--verbose]
//! ```
//!
//! `CORPUS_DIR` defaults to `/work/shared/corpus`. The harness needs `tshark` on PATH.
//! It extracts every certificate tshark can see in the Zeek traces and the Arkime
//! captures (TLS, DTLS, STARTTLS via tshark's own heuristics, IRC on 6667 forced to TLS,
//! RDP's proprietary certificate chain, IKE and OPC UA certificates), then:
//! - walks every Zeek `x509.log` baseline, finds each row's certificate by SHA-256
//!   (`fingerprint`), preferring the traces `TRACE_TO_BASELINE.tsv` (or the test name)
//!   ties to that baseline, and compares field by field;
//! - walks every Arkime `.test` file, finds each `body.cert[]` entry by SHA-1 (`hash`)
//!   among the certificates of the matching `.pcap`, and compares field by field.
//!
//! It prints a per-field agreement table and every difference (`--verbose` also prints
//! the agreeing values). It never fails the build: it is a tool for a person.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use tlstap::certs::validate::verify_signed_by;
use tlstap::certs::{cert_sha1_hex, cert_sha256_hex, parse_certificate, CertInfo};

#[path = "../tests/support/cert_tally.rs"]
mod cert_tally;
use cert_tally::Tally;

/// Certificates by SHA-256, with the captures each one came from.
#[derive(Default)]
struct Pool {
    der: BTreeMap<String, Vec<u8>>,
    sha1_to_sha256: BTreeMap<String, String>,
    seen_in: BTreeMap<String, BTreeSet<PathBuf>>,
}

impl Pool {
    fn add(&mut self, der: Vec<u8>, from: &Path) {
        let sha = cert_sha256_hex(&der);
        self.sha1_to_sha256.insert(cert_sha1_hex(&der), sha.clone());
        self.seen_in
            .entry(sha.clone())
            .or_default()
            .insert(from.to_path_buf());
        self.der.entry(sha).or_insert(der);
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| *c != ':').collect();
    hex::decode(s).ok()
}

/// Split concatenated DER SEQUENCEs (OPC UA sends a chain as one byte string).
fn split_der_sequence_list(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while b.len() >= 2 && b[0] == 0x30 {
        let (hdr, len) = match b[1] {
            n if n < 0x80 => (2usize, n as usize),
            0x81 if b.len() >= 3 => (3, b[2] as usize),
            0x82 if b.len() >= 4 => (4, (b[2] as usize) << 8 | b[3] as usize),
            0x83 if b.len() >= 5 => (
                5,
                (b[2] as usize) << 16 | (b[3] as usize) << 8 | b[4] as usize,
            ),
            _ => break,
        };
        let Some(cert) = b.get(..hdr + len) else {
            break;
        };
        out.push(cert.to_vec());
        b = &b[hdr + len..];
    }
    out
}

/// RDP "proprietary" server certificate: dwVersion (0x80000002 = X.509 chain),
/// NumCertBlobs, then (cbCert u32 LE, DER) per certificate. [MS-RDPELE] 2.2.1.4.2.
fn split_rdp_chain(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let u32le = |s: &[u8]| -> Option<usize> {
        Some(u32::from_le_bytes(s.get(..4)?.try_into().ok()?) as usize)
    };
    let Some(ver) = u32le(b) else { return out };
    if ver & 0x7fff_ffff != 2 {
        return out;
    }
    let Some(n) = u32le(&b[4..]) else { return out };
    let mut off = 8;
    for _ in 0..n {
        let Some(len) = b.get(off..).and_then(u32le) else {
            break;
        };
        let Some(der) = b.get(off + 4..off + 4 + len) else {
            break;
        };
        out.push(der.to_vec());
        off += 4 + len;
    }
    out
}

const FIELDS: [&str; 5] = [
    "tls.handshake.certificate",
    "dtls.handshake.certificate",
    "isakmp.cert.data",
    "opcua.security.scert",
    "rdp.serverCertificate",
];

fn extract(pool: &mut Pool, pcap: &Path) {
    let mut cmd = Command::new("tshark");
    // Ports tshark does not recognise by itself: Zeek's irc-starttls.pcap (IRC STARTTLS
    // on 6667) and Arkime's openvpn_synthetic.pcap (OpenVPN on 4444/5555).
    cmd.arg("-r").arg(pcap).args([
        "-d",
        "tcp.port==6667,tls",
        "-d",
        "udp.port==4444,openvpn",
        "-d",
        "udp.port==5555,openvpn",
        "-T",
        "fields",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let Ok(out) = cmd.output() else {
        eprintln!("cannot run tshark on {}", pcap.display());
        return;
    };
    let mut need_json = false;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        for (i, col) in line.split('\t').enumerate() {
            if FIELDS.get(i) == Some(&"isakmp.cert.data") {
                // A subtree in tshark: `-T fields` prints a count, not the bytes.
                need_json |= !col.is_empty();
                continue;
            }
            for item in col.split(',').filter(|s| !s.is_empty()) {
                let Some(bytes) = unhex(item) else { continue };
                let certs = match FIELDS.get(i) {
                    Some(&"rdp.serverCertificate") => split_rdp_chain(&bytes),
                    _ => split_der_sequence_list(&bytes),
                };
                for c in certs {
                    pool.add(c, pcap);
                }
            }
        }
    }
    if need_json {
        extract_isakmp(pool, pcap);
    }
}

/// IKE certificate payloads: read `isakmp.cert.data_raw` from tshark's JSON output.
fn extract_isakmp(pool: &mut Pool, pcap: &Path) {
    let Ok(out) = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "isakmp.cert.data", "-T", "json", "-x"])
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.contains("\"isakmp.cert.data_raw\": [") {
            let hexline = lines.next().unwrap_or("").trim().trim_end_matches(',');
            if let Some(bytes) = unhex(hexline.trim_matches('"')) {
                for c in split_der_sequence_list(&bytes) {
                    pool.add(c, pcap);
                }
            }
        }
    }
}

fn find_pcaps(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_pcaps(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng" | "trace")
        ) {
            out.push(p);
        }
    }
}

/// Undo Zeek's ASCII log escaping: `\\` -> `\`, `\xHH` -> byte.
fn zeek_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            match u8::from_str_radix(&s[i + 2..i + 4], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 4;
                }
                Err(_) => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn zeek_scalar(s: &str) -> String {
    match s {
        "-" | "(empty)" => String::new(),
        _ => zeek_unescape(s),
    }
}

fn zeek_vec(s: &str) -> String {
    match s {
        "-" | "(empty)" => String::new(),
        _ => s
            .split(',')
            .map(zeek_unescape)
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}

fn secs(us: Option<i64>) -> String {
    us.map(|u| format!("{}.{:06}", u.div_euclid(1_000_000), u.rem_euclid(1_000_000)))
        .unwrap_or_default()
}

/// Our key_type spelled the way Zeek spells it.
fn zeek_key_type(ours: &Option<String>) -> String {
    match ours.as_deref() {
        Some("ec") => "ecdsa".into(),
        Some(t) if t.starts_with("ml-dsa") => t.to_uppercase(),
        Some(t) => t.into(),
        None => String::new(),
    }
}

fn compare_zeek(t: &mut Tally, who: &str, row: &BTreeMap<&str, &str>, c: &CertInfo) {
    let g = |k: &str| row.get(k).copied().unwrap_or("-");
    if let Some(e) = &c.parse_error {
        t.check("parse", who, "ok", &format!("error: {e}"));
        return;
    }
    t.check("parse", who, "ok", "ok");
    t.check(
        "version",
        who,
        &zeek_scalar(g("certificate.version")),
        &opt(&c.version),
    );
    t.check(
        "serial",
        who,
        &zeek_scalar(g("certificate.serial")),
        &c.serial,
    );
    t.check(
        "subject",
        who,
        &zeek_scalar(g("certificate.subject")),
        &c.subject,
    );
    t.check(
        "issuer",
        who,
        &zeek_scalar(g("certificate.issuer")),
        &c.issuer,
    );
    t.check(
        "not_before",
        who,
        &zeek_scalar(g("certificate.not_valid_before")),
        &secs(c.not_before_us),
    );
    t.check(
        "not_after",
        who,
        &zeek_scalar(g("certificate.not_valid_after")),
        &secs(c.not_after_us),
    );
    t.check(
        "sig_alg",
        who,
        &zeek_scalar(g("certificate.sig_alg")),
        &c.sig_alg,
    );
    t.check(
        "key_type",
        who,
        &zeek_scalar(g("certificate.key_type")),
        &zeek_key_type(&c.key_type),
    );
    t.check(
        "key_length",
        who,
        &zeek_scalar(g("certificate.key_length")),
        &opt(&c.key_bits),
    );
    t.check(
        "exponent",
        who,
        &zeek_scalar(g("certificate.exponent")),
        &opt(&c.rsa_exponent),
    );
    t.check(
        "curve",
        who,
        &zeek_scalar(g("certificate.curve")),
        &opt(&c.curve),
    );
    t.check(
        "san.dns",
        who,
        &zeek_vec(g("san.dns")),
        &c.san_dns.join(","),
    );
    t.check(
        "san.uri",
        who,
        &zeek_vec(g("san.uri")),
        &c.san_uri.join(","),
    );
    t.check(
        "san.email",
        who,
        &zeek_vec(g("san.email")),
        &c.san_email.join(","),
    );
    t.check("san.ip", who, &zeek_vec(g("san.ip")), &c.san_ip.join(","));
    let ca = match c.is_ca {
        Some(true) => "T",
        Some(false) => "F",
        None => "",
    };
    t.check("bc.ca", who, &zeek_scalar(g("basic_constraints.ca")), ca);
    t.check(
        "bc.path_len",
        who,
        &zeek_scalar(g("basic_constraints.path_len")),
        &opt(&c.path_len),
    );
}

fn zeek(corpus: &Path, pool: &Pool, t: &mut Tally) {
    let zdir = corpus.join("zeek");
    // Baseline dir name -> traces, from TRACE_TO_BASELINE.tsv (test name or baseline list).
    let map = std::fs::read_to_string(zdir.join("TRACE_TO_BASELINE.tsv")).unwrap_or_default();
    let mut traces_for: BTreeMap<String, BTreeSet<PathBuf>> = BTreeMap::new();
    for line in map.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(trace), Some(test)) = (cols.first(), cols.get(1)) else {
            continue;
        };
        let test_key = test
            .trim_start_matches("tests/")
            .rsplit_once('.')
            .map_or(*test, |(a, _)| a)
            .replace('/', ".");
        let trace = zdir.join(trace);
        traces_for
            .entry(test_key)
            .or_default()
            .insert(trace.clone());
        for b in cols.get(3).unwrap_or(&"").split(',') {
            if let Some(dir) = b
                .strip_prefix("Baseline/")
                .and_then(|b| b.split('/').next())
            {
                traces_for
                    .entry(dir.to_string())
                    .or_default()
                    .insert(trace.clone());
            }
        }
    }
    let mut logs = Vec::new();
    for e in std::fs::read_dir(zdir.join("Baseline"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name == "x509.log" || name.ends_with(".x509.log") {
                logs.push(f.path());
            }
        }
    }
    logs.sort();
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    for log in logs {
        let dir = log
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut fields: Vec<&str> = Vec::new();
        for line in text.lines() {
            if let Some(f) = line.strip_prefix("#fields\t") {
                fields = f.split('\t').collect();
                continue;
            }
            if line.starts_with('#') || fields.is_empty() {
                continue;
            }
            let row: BTreeMap<&str, &str> = fields.iter().copied().zip(line.split('\t')).collect();
            let fp = row.get("fingerprint").copied().unwrap_or("");
            if !seen.insert(fp.to_string()) {
                continue; // the same certificate in several baselines
            }
            let Some(der) = pool.der.get(fp) else {
                missing.push(format!("{fp} ({dir}): not extracted by tshark"));
                continue;
            };
            let src = pool.seen_in.get(fp).cloned().unwrap_or_default();
            let expected = traces_for.get(&dir).cloned().unwrap_or_default();
            let where_ = if src.iter().any(|s| expected.contains(s)) {
                "matching trace"
            } else {
                "other trace"
            };
            let first = src
                .iter()
                .next()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let who = format!("{} [{dir}; {where_}: {first}]", &fp[..16.min(fp.len())]);
            let info = parse_certificate(der);
            compare_zeek(t, &who, &row, &info);
        }
    }
    println!(
        "Zeek: {} distinct certificates in x509.log baselines, {} not found",
        seen.len(),
        missing.len()
    );
    for m in missing {
        println!("  missing {m}");
    }
}

fn arkime(corpus: &Path, pool: &Pool, t: &mut Tally) {
    let mut missing = 0;
    let entries = cert_tally::arkime_certs(corpus);
    for e in &entries {
        let name = e
            .test
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(der) = pool
            .sha1_to_sha256
            .get(&e.sha1)
            .and_then(|s| pool.der.get(s))
        else {
            println!("  missing arkime {name} {}", e.sha1);
            missing += 1;
            continue;
        };
        let in_pcap = pool
            .seen_in
            .get(&cert_sha256_hex(der))
            .is_some_and(|s| s.contains(&e.test.with_extension("pcap")));
        let who = format!(
            "{} [{name}{}]",
            e.sha1.get(..16).unwrap_or(&e.sha1),
            if in_pcap { "" } else { "; other pcap" }
        );
        let c = parse_certificate(der);
        if let Some(err) = &c.parse_error {
            t.check("parse", &who, "ok", &format!("error: {err}"));
            continue;
        }
        t.check("parse", &who, "ok", "ok");
        for (field, theirs, ours) in cert_tally::arkime_fields(&e.cert, &c) {
            t.check(field, &who, &theirs, &ours);
        }
    }
    println!(
        "Arkime: {} distinct certificates in .test files, {missing} not found",
        entries.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let corpus = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("/work/shared/corpus"), PathBuf::from);
    let mut pcaps = Vec::new();
    find_pcaps(&corpus.join("zeek/Traces"), &mut pcaps);
    find_pcaps(&corpus.join("arkime/tests/pcap"), &mut pcaps);
    pcaps.sort();
    let mut pool = Pool::default();
    for p in &pcaps {
        extract(&mut pool, p);
    }
    println!(
        "extracted {} distinct certificates from {} captures",
        pool.der.len(),
        pcaps.len()
    );
    let mut parse_errors = 0;
    for der in pool.der.values() {
        if let Some(e) = parse_certificate(der).parse_error {
            parse_errors += 1;
            println!("  parse error on {}: {e}", cert_sha256_hex(der));
        }
    }
    println!("{parse_errors} of them fail to parse");
    // No oracle has a self-signed flag: list how each subject==issuer certificate was
    // decided, for a person to check (e.g. with `openssl dgst -verify` on the TBS).
    println!("\n== subject == issuer certificates ==");
    for der in pool.der.values() {
        let info = parse_certificate(der);
        if info.parse_error.is_some() || info.subject != info.issuer {
            continue;
        }
        let how = match x509_parser::parse_x509_certificate(der) {
            Ok((_, c)) => format!("{:?}", verify_signed_by(&c, c.public_key())),
            Err(_) => "unparsed".into(),
        };
        println!(
            "  {} self_signed={} signature={how} sig_alg={} key={}/{} aki==ski:{} {}",
            &info.sha256[..16],
            info.self_signed,
            info.sig_alg,
            info.key_type.as_deref().unwrap_or("-"),
            info.key_bits.unwrap_or(0),
            info.aki.is_none() || info.aki == info.ski,
            info.subject
        );
    }

    let mut zt = Tally {
        verbose,
        ..Tally::new("Zeek x509.log", &[])
    };
    zeek(&corpus, &pool, &mut zt);
    zt.print();
    let mut at = Tally {
        verbose,
        ..Tally::new("Arkime body.cert[]", &[])
    };
    arkime(&corpus, &pool, &mut at);
    at.print();
}
