//! Per-field agreement for certificate conformance (X.509 against Zeek x509.log and
//! Arkime), with argued exceptions keyed by certificate. (The handshake-level tests use
//! `agreement.rs`, keyed by connection.)
//!
//! Shared by the conformance tests and `examples/cert_oracle.rs` (which includes this
//! file by path): one place that counts agreements and keeps the differences.

use std::collections::{BTreeMap, BTreeSet};

/// `(certificate or row id prefix, field, why the values differ)`; field `"*"` covers
/// every field of that id.
pub type Exception = (&'static str, &'static str, &'static str);

/// Agreement counts per field, and the differences no exception excuses.
#[derive(Default)]
pub struct Tally {
    pub oracle: &'static str,
    pub exceptions: &'static [Exception],
    /// Also print every agreeing value.
    pub verbose: bool,
    /// field -> (agree, excused, differ)
    pub fields: BTreeMap<&'static str, (u32, u32, u32)>,
    pub diffs: Vec<String>,
    pub ids: BTreeSet<String>,
}

impl Tally {
    pub fn new(oracle: &'static str, exceptions: &'static [Exception]) -> Self {
        Tally {
            oracle,
            exceptions,
            ..Tally::default()
        }
    }

    fn excused(&self, who: &str, field: &str) -> Option<&'static str> {
        self.exceptions
            .iter()
            .find(|(id, f, _)| who.starts_with(id) && (*f == field || *f == "*"))
            .map(|e| e.2)
    }

    /// Compare one field of `who`.
    pub fn check(&mut self, field: &'static str, who: &str, theirs: &str, ours: &str) {
        self.ids.insert(who.to_string());
        let why = self.excused(who, field);
        let e = self.fields.entry(field).or_default();
        if theirs == ours {
            e.0 += 1;
            if self.verbose {
                println!("  ok   {field:<14} {who}: {ours}");
            }
        } else if let Some(why) = why {
            e.1 += 1;
            println!("  excused {field} {who}: theirs {theirs:?}, ours {ours:?} ({why})");
        } else {
            e.2 += 1;
            self.diffs.push(format!(
                "{} {field} {who}: theirs {theirs:?}, ours {ours:?}",
                self.oracle
            ));
        }
    }

    /// Print the per-field table and the unexcused differences.
    pub fn print(&self) {
        println!("\n== {}: {} distinct ids ==", self.oracle, self.ids.len());
        println!(
            "{:<16} {:>6} {:>8} {:>6}",
            "field", "agree", "excused", "differ"
        );
        for (f, (a, x, d)) in &self.fields {
            println!("{f:<16} {a:>6} {x:>8} {d:>6}");
        }
        for d in &self.diffs {
            println!("  DIFF {d}");
        }
    }
}

/// Strings of a JSON array (empty when absent or not an array).
pub fn json_strs(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One Arkime `body.cert[]` entry: the `.test` file it is in, its SHA-1 (`hash`, colons
/// removed) and the JSON object.
pub struct ArkimeCert {
    pub test: std::path::PathBuf,
    pub sha1: String,
    pub cert: serde_json::Value,
}

/// Every distinct (by SHA-1) certificate of the Arkime `.test` files under
/// `corpus/arkime/tests/pcap`, in file order.
pub fn arkime_certs(corpus: &std::path::Path) -> Vec<ArkimeCert> {
    let dir = corpus.join("arkime/tests/pcap");
    let mut tests: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    tests.sort();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for test in tests {
        let Ok(text) = std::fs::read_to_string(&test) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let sessions = json.get("sessions3").and_then(|s| s.as_array());
        for s in sessions.into_iter().flatten() {
            let body = s.get("body").unwrap_or(s);
            let certs = body.get("cert").and_then(|c| c.as_array());
            for cert in certs.into_iter().flatten() {
                let sha1 = cert
                    .get("hash")
                    .and_then(|h| h.as_str())
                    .unwrap_or("")
                    .replace(':', "");
                if seen.insert(sha1.clone()) {
                    out.push(ArkimeCert {
                        test: test.clone(),
                        sha1,
                        cert: cert.clone(),
                    });
                }
            }
        }
    }
    out
}

/// `""` or the value.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// `(field, Arkime's value, ours in Arkime's spelling)` for one certificate.
pub fn arkime_fields(
    cert: &serde_json::Value,
    c: &tlstap::certs::CertInfo,
) -> Vec<(&'static str, String, String)> {
    let their = |k: &str| {
        cert.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    // Arkime prints the raw DER integer bytes in lowercase (keeping the 00 sign byte);
    // we print OpenSSL's magnitude.
    let serial = their("serial");
    let ours = c.serial.to_lowercase();
    let ours_serial = if serial.len() == ours.len() + 2 && serial.starts_with("00") {
        format!("00{ours}")
    } else {
        ours
    };
    // Arkime lowercases CNs and lists every one; we keep the most specific.
    let last = |k: &str| json_strs(cert.get(k)).last().cloned().unwrap_or_default();
    let lc = |v: &Option<String>| v.as_deref().map(str::to_lowercase).unwrap_or_default();
    let mut alt: Vec<String> = c.san_dns.iter().map(|s| s.to_lowercase()).collect();
    alt.extend(c.san_ip.iter().cloned());
    let ms = |k: &str| opt(cert.get(k).and_then(|v| v.as_i64()));
    let alg = match c.key_type.as_deref() {
        Some("rsa") => "rsaEncryption",
        Some("ec") => "id-ecPublicKey",
        Some("dsa") => "dsaEncryption",
        other => other.unwrap_or(""),
    };
    vec![
        ("serial", serial, ours_serial),
        ("subjectCN", last("subjectCN"), lc(&c.subject_cn)),
        ("issuerCN", last("issuerCN"), lc(&c.issuer_cn)),
        (
            "subjectON",
            last("subjectON"),
            opt(c.subject_org.as_deref()),
        ),
        ("issuerON", last("issuerON"), opt(c.issuer_org.as_deref())),
        ("alt", json_strs(cert.get("alt")).join(","), alt.join(",")),
        (
            "notBefore",
            ms("notBefore"),
            opt(c.not_before_us.map(|u| u / 1000)),
        ),
        (
            "notAfter",
            ms("notAfter"),
            opt(c.not_after_us.map(|u| u / 1000)),
        ),
        ("publicAlgorithm", their("publicAlgorithm"), alg.to_string()),
        ("curve", their("curve"), opt(c.curve.as_deref())),
    ]
}
