//! `tlstap report`: a summary of an output folder for a person.
//!
//! [`Summary::load`] reads the tables back (the flat `handshakes.parquet` /
//! `certificates.parquet`, or the `.jsonl` pair of `--format jsonl` read with the
//! tables' own schema, or, when the flat file is absent, every `*.parquet` under
//! `handshakes/` and `certificates/`, as the hive-partitioned live layout writes them)
//! and counts: versions, ciphers, SNIs, JA4s, validation statuses, findings (with a few
//! example connections each), post-quantum readiness ([`Readiness`]: PQ key exchange
//! offered and negotiated, overall, by server name and by client JA4; ECH and TLS 1.3
//! shares), and certificates expiring soon. "Soon" is measured from
//! the latest packet time in the data, never from today, so a report on an old capture
//! says what was true when it was taken. [`text`] renders it for a terminal, [`html`]
//! as one self-contained page (inline SVG, no external assets).
//!
//! Limits: rows are streamed batch by batch; only the counts are kept, each a map
//! bounded by the number of distinct values (SNIs, JA4s) in the data, plus
//! [`MAX_EXAMPLES`] examples per finding.

pub mod html;
pub mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMicrosecondType, UInt16Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Example connections kept per finding.
pub const MAX_EXAMPLES: usize = 3;
/// Certificates expiring within this many days of the latest packet are listed.
pub const EXPIRY_WINDOW_DAYS: i64 = 30;

const US_PER_DAY: i64 = 86_400 * 1_000_000;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}: no handshakes.parquet, handshakes.jsonl or handshakes/**/*.parquet (is it an output folder of tlstap read or live?)")]
    NoHandshakes(PathBuf),
    #[error("{0}: no such folder")]
    NoFolder(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parquet(PathBuf, String),
}

/// `(value, count)`, largest count first, ties by value.
pub type Counts = Vec<(String, u64)>;

/// A certificate that expires soon (or has expired) relative to the reference time.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiring {
    pub subject: String,
    pub sha256: String,
    pub not_after_us: i64,
    /// Whole days from the reference time to notAfter (negative: already expired).
    pub days_left: i64,
}

/// One finding code with its count and example connections.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingSummary {
    pub code: String,
    pub count: u64,
    pub examples: Vec<String>,
}

/// Post-quantum key exchange in the handshakes of one server name or one client JA4.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PqRow {
    pub key: String,
    pub handshakes: u64,
    /// Handshakes whose ClientHello offered a PQ group (`pq_offered`).
    pub offered: u64,
    /// Handshakes whose server picked a PQ group (`pq_negotiated`).
    pub negotiated: u64,
}

/// `(part, whole)` of a share; `whole` counts the handshakes where the question has an
/// answer (a ClientHello was read, a ServerHello was read, a version was negotiated).
pub type Share = (u64, u64);

/// The crypto-inventory part of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Of handshakes with a ClientHello: a PQ group offered (`pq_offered`).
    pub pq_offered: Share,
    /// Of handshakes with a ServerHello: a PQ group negotiated (`pq_negotiated`).
    pub pq_negotiated: Share,
    /// Of handshakes with a ClientHello: encrypted_client_hello offered.
    pub ech_offered: Share,
    /// Of handshakes with a negotiated version: TLS 1.3 (or DTLS 1.3, or a draft).
    pub tls13: Share,
    /// By server name (`(no SNI)` for none), most handshakes first.
    pub by_sni: Vec<PqRow>,
    /// By client JA4 (rows with a fingerprint), most handshakes first.
    pub by_ja4: Vec<PqRow>,
}

impl Readiness {
    fn add(&mut self, b: &RecordBatch, i: usize, sni: &mut PqMap, ja4: &mut PqMap) {
        let offered = bool_at(b, "pq_offered", i);
        let negotiated = bool_at(b, "pq_negotiated", i);
        let tally = |s: &mut Share, v: Option<bool>| {
            if let Some(v) = v {
                s.1 += 1;
                s.0 += u64::from(v);
            }
        };
        tally(&mut self.pq_offered, offered);
        tally(&mut self.pq_negotiated, negotiated);
        // `ech_offered` is false, not null, without a ClientHello: `pq_offered` says
        // whether there was one.
        tally(
            &mut self.ech_offered,
            offered.and(bool_at(b, "ech_offered", i)),
        );
        tally(
            &mut self.tls13,
            str_at(b, "version_name", i).map(|v| v.starts_with("TLSv1.3") || v == "DTLSv1.3"),
        );
        let count = |m: &mut PqMap, key: &str| {
            let r = m.entry(key.to_owned()).or_default();
            r.0 += 1;
            r.1 += u64::from(offered == Some(true));
            r.2 += u64::from(negotiated == Some(true));
        };
        count(sni, str_at(b, "sni", i).unwrap_or("(no SNI)"));
        if let Some(j) = str_at(b, "ja4", i) {
            count(ja4, j);
        }
    }
}

type PqMap = HashMap<String, (u64, u64, u64)>;

/// Most handshakes first, ties by key.
fn pq_rows(m: PqMap) -> Vec<PqRow> {
    let mut v: Vec<PqRow> = m
        .into_iter()
        .map(|(key, (handshakes, offered, negotiated))| PqRow {
            key,
            handshakes,
            offered,
            negotiated,
        })
        .collect();
    v.sort_by(|a, b| {
        b.handshakes
            .cmp(&a.handshakes)
            .then_with(|| a.key.cmp(&b.key))
    });
    v
}

/// `"12.5%"` of a share, `"n/a"` when nothing could be counted.
pub fn percent((part, whole): Share) -> String {
    if whole == 0 {
        return "n/a".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Everything a report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub dir: PathBuf,
    pub handshakes: u64,
    pub first_ts_us: Option<i64>,
    /// The reference time for expiry: the latest packet time in the data.
    pub last_ts_us: Option<i64>,
    pub versions: Counts,
    pub ciphers: Counts,
    pub snis: Counts,
    pub ja4s: Counts,
    pub validation: Counts,
    pub findings: Vec<FindingSummary>,
    pub readiness: Readiness,
    pub certificates: u64,
    pub expiring: Vec<Expiring>,
}

/// The files of one table: `DIR/NAME.parquet`, else `DIR/NAME.jsonl`, else
/// `DIR/NAME/**/*.parquet`.
fn table_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    for ext in ["parquet", "jsonl"] {
        let flat = dir.join(format!("{name}.{ext}"));
        if flat.is_file() {
            return vec![flat];
        }
    }
    let mut out = Vec::new();
    collect_parquet(&dir.join(name), &mut out);
    out.sort();
    out
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let hidden = p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with('.') || n.starts_with('_')
        });
        if hidden {
            // Files being written (`.tmp`), other hidden entries, and what Spark and
            // Hive skip too (`_SUCCESS`, a Delta table's `_delta_log/` with its
            // checkpoint files).
            continue;
        }
        if p.is_dir() {
            collect_parquet(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

fn for_each_batch(
    files: &[PathBuf],
    mut f: impl FnMut(&RecordBatch, &Path),
) -> Result<(), ReportError> {
    for path in files {
        let file = std::fs::File::open(path).map_err(|e| ReportError::Io(path.clone(), e))?;
        if path.extension().is_some_and(|x| x == "jsonl") {
            // JSON lines carry no schema: read them with the one `read` wrote them with.
            let name = path.file_stem().unwrap_or_default();
            let schema = if name == "certificates" {
                crate::output::certificates_schema()
            } else {
                crate::output::handshakes_schema()
            };
            let reader = arrow::json::ReaderBuilder::new(schema)
                .build(std::io::BufReader::new(file))
                .map_err(|e| ReportError::Parquet(path.clone(), e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| ReportError::Parquet(path.clone(), e.to_string()))?;
                f(&batch, path);
            }
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| ReportError::Parquet(path.clone(), e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| ReportError::Parquet(path.clone(), e.to_string()))?;
            f(&batch, path);
        }
    }
    Ok(())
}

/// String cell `i` of column `name`, if the column exists and the cell is set.
fn str_at<'a>(b: &'a RecordBatch, name: &str, i: usize) -> Option<&'a str> {
    let a = b.column_by_name(name)?.as_string_opt::<i32>()?;
    (!a.is_null(i)).then(|| a.value(i))
}

fn ts_at(b: &RecordBatch, name: &str, i: usize) -> Option<i64> {
    let a = b
        .column_by_name(name)?
        .as_primitive_opt::<TimestampMicrosecondType>()?;
    (!a.is_null(i)).then(|| a.value(i))
}

fn u16_at(b: &RecordBatch, name: &str, i: usize) -> Option<u16> {
    let a = b.column_by_name(name)?.as_primitive_opt::<UInt16Type>()?;
    (!a.is_null(i)).then(|| a.value(i))
}

fn bool_at(b: &RecordBatch, name: &str, i: usize) -> Option<bool> {
    let a = b.column_by_name(name)?.as_boolean_opt()?;
    (!a.is_null(i)).then(|| a.value(i))
}

fn list_at(b: &RecordBatch, name: &str, i: usize) -> Vec<String> {
    let Some(l) = b.column_by_name(name).and_then(|c| c.as_list_opt::<i32>()) else {
        return Vec::new();
    };
    if l.is_null(i) {
        return Vec::new();
    }
    let v = l.value(i);
    let Some(s) = v.as_string_opt::<i32>() else {
        return Vec::new();
    };
    (0..s.len()).map(|j| s.value(j).to_owned()).collect()
}

fn sorted(m: HashMap<String, u64>) -> Counts {
    let mut v: Counts = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

impl Summary {
    /// Read an output folder.
    pub fn load(dir: &Path) -> Result<Summary, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::NoFolder(dir.to_path_buf()));
        }
        let hs_files = table_files(dir, "handshakes");
        if hs_files.is_empty() {
            return Err(ReportError::NoHandshakes(dir.to_path_buf()));
        }
        let mut s = Summary {
            dir: dir.to_path_buf(),
            ..Summary::default()
        };
        let (mut versions, mut ciphers, mut snis, mut ja4s, mut validation) = (
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        let mut findings: HashMap<String, FindingSummary> = HashMap::new();
        let (mut pq_sni, mut pq_ja4) = (PqMap::new(), PqMap::new());
        let bump = |m: &mut HashMap<String, u64>, k: Option<&str>| {
            if let Some(k) = k {
                *m.entry(k.to_owned()).or_default() += 1;
            }
        };
        for_each_batch(&hs_files, |b, _| {
            for i in 0..b.num_rows() {
                s.handshakes += 1;
                if let Some(t) = ts_at(b, "ts", i) {
                    s.first_ts_us = Some(s.first_ts_us.map_or(t, |f| f.min(t)));
                    s.last_ts_us = Some(s.last_ts_us.map_or(t, |l| l.max(t)));
                }
                bump(
                    &mut versions,
                    Some(str_at(b, "version_name", i).unwrap_or("(no ServerHello)")),
                );
                bump(&mut ciphers, str_at(b, "cipher_name", i));
                bump(&mut snis, Some(str_at(b, "sni", i).unwrap_or("(no SNI)")));
                bump(&mut ja4s, str_at(b, "ja4", i));
                bump(&mut validation, str_at(b, "validation_status", i));
                s.readiness.add(b, i, &mut pq_sni, &mut pq_ja4);
                for code in list_at(b, "findings", i) {
                    let f = findings
                        .entry(code.clone())
                        .or_insert_with(|| FindingSummary {
                            code,
                            count: 0,
                            examples: Vec::new(),
                        });
                    f.count += 1;
                    if f.examples.len() < MAX_EXAMPLES {
                        f.examples.push(example(b, i));
                    }
                }
            }
        })?;
        s.versions = sorted(versions);
        s.ciphers = sorted(ciphers);
        s.snis = sorted(snis);
        s.ja4s = sorted(ja4s);
        s.validation = sorted(validation);
        s.readiness.by_sni = pq_rows(pq_sni);
        s.readiness.by_ja4 = pq_rows(pq_ja4);
        let mut f: Vec<FindingSummary> = findings.into_values().collect();
        f.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        s.findings = f;

        let reference = s.last_ts_us;
        let mut expiring = Vec::new();
        let mut certs = 0;
        for_each_batch(&table_files(dir, "certificates"), |b, _| {
            for i in 0..b.num_rows() {
                certs += 1;
                let (Some(now), Some(na)) = (reference, ts_at(b, "not_after", i)) else {
                    continue;
                };
                let days_left = (na - now).div_euclid(US_PER_DAY);
                if days_left < EXPIRY_WINDOW_DAYS {
                    let subject = str_at(b, "subject_cn", i)
                        .or_else(|| str_at(b, "subject", i))
                        .unwrap_or("(no subject)");
                    expiring.push(Expiring {
                        subject: subject.to_owned(),
                        sha256: str_at(b, "sha256", i).unwrap_or("").to_owned(),
                        not_after_us: na,
                        days_left,
                    });
                }
            }
        })?;
        expiring.sort_by(|a, b| {
            a.not_after_us
                .cmp(&b.not_after_us)
                .then_with(|| a.sha256.cmp(&b.sha256))
        });
        s.certificates = certs;
        s.expiring = expiring;
        Ok(s)
    }
}

/// `sni dst_ip:port (file)` of row `i`, to find the connection again.
fn example(b: &RecordBatch, i: usize) -> String {
    let file = str_at(b, "source_file", i)
        .map(|f| {
            Path::new(f)
                .file_name()
                .map_or(f.into(), |n| n.to_string_lossy())
        })
        .unwrap_or_default();
    format!(
        "{} {}:{} ({})",
        str_at(b, "sni", i).unwrap_or("-"),
        str_at(b, "dst_ip", i).unwrap_or("?"),
        u16_at(b, "dst_port", i).map_or("?".into(), |p| p.to_string()),
        file
    )
}

/// `2026-11-22 10:54 UTC` for a µs timestamp.
pub fn format_ts(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}
