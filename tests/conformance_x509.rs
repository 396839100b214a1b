//! Certificate fields against two independent oracles, end to end: tlstap reads the
//! corpus captures itself (the same pipeline as `tlstap read`), and every certificate
//! it reports is compared with Zeek's `x509.log` baselines (OpenSSL underneath) and
//! Arkime's `.test` session documents (`body.cert[]`).
//!
//! Prints a per-field agreement table. Every disagreement, and every oracle certificate
//! tlstap does not report, must be one of the argued [`EXCEPTIONS`]; anything else
//! fails the test.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use support::cert_tally::{arkime_certs, arkime_fields, opt, Exception, Tally};
use support::oracles::{zeek_unescape, zeek_x509_expectations, Field};
use tlstap::certs::CertInfo;
use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_source;
use tlstap::source::CaptureFile;

/// Zeek certificates (SHA-256 prefix) tlstap does not report or reads differently, and
/// why. Field `"*"`: the certificate as a whole.
const ZEEK_EXCEPTIONS: &[Exception] = &[
    // Not TLS: RDP's own certificate format.
    (
        "e3859c4a77098a7b",
        "reported",
        "RDP proprietary certificate chain (rdp-x509.pcap)",
    ),
    (
        "bd97671306086c33",
        "reported",
        "RDP proprietary certificate chain (rdp-x509.pcap)",
    ),
];

/// Arkime certificates (SHA-1 prefix) tlstap does not report or reads differently.
const ARKIME_EXCEPTIONS: &[Exception] = &[
    // Certificates outside any TLS, DTLS or QUIC handshake.
    (
        "8e84ad9c175e82cc",
        "reported",
        "IKE CERT payload (ike-cert_synthetic)",
    ),
    (
        "3a6f0c34be12319d",
        "reported",
        "IKE CERT payload (ike-cert_synthetic)",
    ),
    (
        "6e8b2972f89f93ba",
        "reported",
        "IKE CERT payload (ike-cert_synthetic)",
    ),
    (
        "2478f86468c707fd",
        "reported",
        "IKE CERT payload (ike-cert_synthetic)",
    ),
    (
        "9f21b754078afd14",
        "reported",
        "OPC UA OpenSecureChannel (opcua_synthetic)",
    ),
    (
        "f7ce38acb0bbf1b4",
        "reported",
        "OPC UA OpenSecureChannel (opcua_synthetic)",
    ),
    (
        "6c2b1a384e18845a",
        "reported",
        "TLS inside OpenVPN over UDP (openvpn_synthetic)",
    ),
    // Validity written with a `+hhmm` offset (UTCTime "YYMMDDhhmmss+hhmm"): allowed by
    // X.680 but not by RFC 5280 4.1.2.5.1 (DER must end in Z). x509-parser rejects it,
    // OpenSSL and Arkime accept it; tlstap keeps the row with `parse_error`.
    (
        "dcce401f73339131",
        "parse",
        "non-DER UTCTime with a timezone offset",
    ),
    // Explicit EC parameters (RFC 5480 forbids them for PKIX): Arkime prints "corrupt",
    // we report no curve name (`curve` null) and the key size from the point.
    (
        "f9ce21f064d499f9",
        "curve",
        "explicit EC parameters, no named curve",
    ),
];

/// Certificates tlstap reports for one capture, by SHA-256 and by SHA-1.
#[derive(Default)]
struct Pool {
    by_sha256: HashMap<String, CertInfo>,
    sha1_to_sha256: HashMap<String, String>,
    seen_in: HashMap<String, BTreeSet<PathBuf>>,
}

impl Pool {
    fn read(&mut self, pcap: &Path) {
        let Ok(mut src) = CaptureFile::open(pcap) else {
            return;
        };
        let name = pcap.display().to_string();
        let (_, certs, _) = analyze_source(
            &mut src,
            &name,
            FlowLimits::default(),
            DecoderLimits::default(),
        );
        for c in certs {
            let sha = c.info.sha256.clone();
            self.sha1_to_sha256.insert(c.info.sha1.clone(), sha.clone());
            self.seen_in
                .entry(sha.clone())
                .or_default()
                .insert(pcap.to_path_buf());
            self.by_sha256.entry(sha).or_insert(c.info);
        }
    }
}

fn field_str(f: &Field<String>) -> String {
    f.value().map(|s| zeek_unescape(s)).unwrap_or_default()
}

fn field_vec(f: &Field<Vec<String>>) -> String {
    f.value()
        .map(|v| {
            v.iter()
                .map(|s| zeek_unescape(s))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Zeek time (seconds, float) to whole microseconds.
fn zeek_us(f: &Field<f64>) -> String {
    opt(f.value().map(|s| (s * 1e6).round() as i64))
}

/// Our key_type spelled the way Zeek spells it.
fn zeek_key_type(ours: Option<&str>) -> String {
    match ours {
        Some("ec") => "ecdsa".into(),
        Some(t) if t.starts_with("ml-dsa") => t.to_uppercase(),
        Some(t) => t.into(),
        None => String::new(),
    }
}

fn zeek(corpus: &Path, t: &mut Tally) {
    let tests = zeek_x509_expectations(corpus).expect("Zeek x509 baselines");
    let mut pool = Pool::default();
    let mut read = BTreeSet::new();
    for test in &tests {
        for trace in test.traces.iter().chain(&test.test_traces) {
            if read.insert(trace.clone()) {
                pool.read(trace);
            }
        }
    }
    let mut seen = BTreeSet::new();
    for (test, row) in tests
        .iter()
        .flat_map(|t| t.rows.iter().map(move |r| (t, r)))
    {
        let Some(fp) = row.fingerprint.value() else {
            continue;
        };
        if !seen.insert(fp.clone()) {
            continue;
        }
        let who = fp.get(..16).unwrap_or(fp).to_string();
        let where_ = || {
            let traces: Vec<String> = test
                .traces
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            format!("{}: {}", test.test, traces.join(" "))
        };
        let Some(c) = reported_and_parsed(t, &who, pool.by_sha256.get(fp), where_) else {
            continue;
        };
        let fields: [(&'static str, String, String); 18] = [
            ("version", opt(row.version.value()), opt(c.version)),
            ("serial", field_str(&row.serial), c.serial.clone()),
            ("subject", field_str(&row.subject), c.subject.clone()),
            ("issuer", field_str(&row.issuer), c.issuer.clone()),
            (
                "not_before",
                zeek_us(&row.not_valid_before),
                opt(c.not_before_us),
            ),
            (
                "not_after",
                zeek_us(&row.not_valid_after),
                opt(c.not_after_us),
            ),
            ("sig_alg", field_str(&row.sig_alg), c.sig_alg.clone()),
            (
                "key_type",
                field_str(&row.key_type),
                zeek_key_type(c.key_type.as_deref()),
            ),
            ("key_length", opt(row.key_length.value()), opt(c.key_bits)),
            ("exponent", field_str(&row.exponent), opt(c.rsa_exponent)),
            ("curve", field_str(&row.curve), opt(c.curve.as_deref())),
            ("san.dns", field_vec(&row.san_dns), c.san_dns.join(",")),
            ("san.uri", field_vec(&row.san_uri), c.san_uri.join(",")),
            (
                "san.email",
                field_vec(&row.san_email),
                c.san_email.join(","),
            ),
            ("san.ip", field_vec(&row.san_ip), c.san_ip.join(",")),
            ("bc.ca", opt(row.basic_constraints_ca.value()), opt(c.is_ca)),
            (
                "bc.path_len",
                opt(row.basic_constraints_path_len.value()),
                opt(c.path_len),
            ),
            ("fingerprint", fp.clone(), c.sha256.clone()),
        ];
        for (field, theirs, ours) in &fields {
            t.check(field, &who, theirs, ours);
        }
    }
}

fn arkime(corpus: &Path, t: &mut Tally) {
    let mut pools: HashMap<PathBuf, Pool> = HashMap::new();
    for e in arkime_certs(corpus) {
        let pool = pools.entry(e.test.clone()).or_insert_with(|| {
            let mut p = Pool::default();
            p.read(&e.test.with_extension("pcap"));
            p
        });
        let who = e.sha1.get(..16).unwrap_or(&e.sha1).to_string();
        let found = pool
            .sha1_to_sha256
            .get(&e.sha1)
            .and_then(|s| pool.by_sha256.get(s));
        let Some(c) = reported_and_parsed(t, &who, found, || e.test.display().to_string()) else {
            continue;
        };
        for (field, theirs, ours) in arkime_fields(&e.cert, c) {
            t.check(field, &who, &theirs, &ours);
        }
    }
}

/// Count "reported" and "parse" for one oracle certificate; the certificate when both
/// hold. `where_` says where the oracle saw it, for the difference message.
fn reported_and_parsed<'a>(
    t: &mut Tally,
    who: &str,
    found: Option<&'a CertInfo>,
    where_: impl FnOnce() -> String,
) -> Option<&'a CertInfo> {
    let Some(c) = found else {
        t.check("reported", who, "yes", &format!("no ({})", where_()));
        return None;
    };
    t.check("reported", who, "yes", "yes");
    t.check("parse", who, "", c.parse_error.as_deref().unwrap_or(""));
    c.parse_error.is_none().then_some(c)
}

#[test]
fn certificates_agree_with_zeek_and_arkime() {
    let Some(corpus) = support::corpus_root() else {
        return;
    };
    let mut z = Tally::new("Zeek x509.log", ZEEK_EXCEPTIONS);
    zeek(&corpus, &mut z);
    z.print();
    let mut a = Tally::new("Arkime body.cert[]", ARKIME_EXCEPTIONS);
    arkime(&corpus, &mut a);
    a.print();
    let diffs: Vec<&str> = z.diffs.iter().chain(&a.diffs).map(String::as_str).collect();
    assert!(
        diffs.is_empty(),
        "{} unexcused disagreements:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
