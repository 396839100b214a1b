//! `tlstap report`: a summary of an output folder for a person.
//!
//! [`Summary::load`] reads the tables back from a local folder, [`Summary::load_store`]
//! from object storage (`s3://…`, `gs://…`, `az://…`, `file://…`, through
//! [`crate::store::Store`]). Per table (`handshakes`, `certificates`): the flat
//! `NAME.parquet`, else the `.jsonl` of `--format jsonl` read with the table's own
//! schema, else, when `NAME/_delta_log/` exists, the files of the Delta table's
//! current snapshot ([`crate::store::delta::snapshot`]: files compacted away by
//! `OPTIMIZE` are still in the folder but no longer in the table), else every
//! `*.parquet` under `NAME/` (the hive-partitioned layout of `live` and `read --layout
//! hive`; names starting with `_` or `.` are skipped). Then it counts: versions,
//! ciphers, SNIs, JA4s, validation statuses, findings (with a few
//! example connections each), post-quantum readiness ([`Readiness`]: PQ key exchange
//! offered and negotiated, overall, by server name and by client JA4; ECH and TLS 1.3
//! shares), and certificates expiring soon. "Soon" is measured from
//! the latest packet time in the data, never from today, so a report on an old capture
//! says what was true when it was taken. [`text`] renders it for a terminal, [`html`]
//! as one self-contained page (inline SVG, no external assets).
//!
//! Columns are read by name and cast to the type tlstap writes when another writer
//! (a Delta compaction, Spark) stored them otherwise (`dst_port` as a signed int,
//! strings as views).
//!
//! Limits: rows are streamed batch by batch; only the counts are kept, each a map
//! bounded by the number of distinct values (SNIs, JA4s) in the data, plus
//! [`MAX_EXAMPLES`] examples per finding. An object in storage is read into memory
//! when at most [`IN_MEMORY_MAX`] bytes, else copied to an unlinked temporary file
//! first; one file at a time.

pub mod html;
pub mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType, UInt16Type};
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::store::delta::{self, DeltaError};
use crate::store::{Store, StoreError};

/// Example connections kept per finding.
pub const MAX_EXAMPLES: usize = 3;
/// Certificates expiring within this many days of the latest packet are listed.
pub const EXPIRY_WINDOW_DAYS: i64 = 30;

const US_PER_DAY: i64 = 86_400 * 1_000_000;

/// Objects up to this size are read into memory; larger ones through a temporary file.
pub const IN_MEMORY_MAX: u64 = 256 << 20;
/// Listing a table's folder in storage gives up after this long.
const LIST_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}: no handshakes.parquet, handshakes.jsonl or handshakes/**/*.parquet (is it an output folder of tlstap read or live?)")]
    NoHandshakes(PathBuf),
    #[error("{0}: no such folder")]
    NoFolder(PathBuf),
    #[error("{0}: a file; report reads the folder it is in (tlstap report {1})")]
    NotAFolder(PathBuf, String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parquet(PathBuf, String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Delta(#[from] DeltaError),
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

/// The note under a list cut at `--top`: `"(3 more, 6 handshakes)"`, or `None` when
/// nothing was left out. The text and HTML reports both use it.
pub fn more_note(len: usize, top: usize, rest: u64) -> Option<String> {
    (len > top).then(|| {
        let noun = if rest == 1 { "handshake" } else { "handshakes" };
        format!("({} more, {rest} {noun})", len - top)
    })
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

/// Where the tables are.
#[derive(Clone, Copy)]
enum Source<'a> {
    Local(&'a Path),
    Remote(&'a Store),
}

/// One file of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TableFile {
    Local(PathBuf),
    /// Key below the store's prefix and size (`None`: not known yet).
    Remote(String, Option<u64>),
}

impl Source<'_> {
    /// The files of table `name`: `NAME.parquet`, else `NAME.jsonl`, else the current
    /// snapshot of the Delta table `NAME/` when it has a `_delta_log/`, else
    /// `NAME/**/*.parquet`.
    fn table_files(self, name: &str) -> Result<Vec<TableFile>, ReportError> {
        match self {
            Source::Local(dir) => {
                for ext in ["parquet", "jsonl"] {
                    let flat = dir.join(format!("{name}.{ext}"));
                    if flat.is_file() {
                        return Ok(vec![TableFile::Local(flat)]);
                    }
                }
                let table = dir.join(name);
                if table.join(delta::LOG_DIR).is_dir() {
                    let snap = delta::snapshot(&Store::local_folder(dir)?, name)?;
                    return Ok(snap
                        .files
                        .into_iter()
                        .map(|(rel, _)| TableFile::Local(table.join(rel)))
                        .collect());
                }
                let mut out = Vec::new();
                collect_parquet(&table, &mut out);
                out.sort();
                Ok(out.into_iter().map(TableFile::Local).collect())
            }
            Source::Remote(store) => {
                for ext in ["parquet", "jsonl"] {
                    let flat = format!("{name}.{ext}");
                    if let Some(size) = store.size(&flat, LIST_TIMEOUT)? {
                        return Ok(vec![TableFile::Remote(flat, Some(size))]);
                    }
                }
                let log = format!("{name}/{}", delta::LOG_DIR);
                if !store.list_names(&log, None, LIST_TIMEOUT)?.is_empty() {
                    let snap = delta::snapshot(store, name)?;
                    return Ok(snap
                        .files
                        .into_iter()
                        // A size of 0 in the log is taken as unknown.
                        .map(|(rel, size)| {
                            TableFile::Remote(format!("{name}/{rel}"), (size > 0).then_some(size))
                        })
                        .collect());
                }
                Ok(store
                    .list_in(name, LIST_TIMEOUT)?
                    .into_iter()
                    .filter(|(key, _)| {
                        key.ends_with(".parquet")
                            && !key
                                .split('/')
                                .any(|part| part.starts_with('.') || part.starts_with('_'))
                    })
                    .map(|(key, size)| TableFile::Remote(key, Some(size)))
                    .collect())
            }
        }
    }

    /// The name of `f` in messages: its path or URL.
    fn name(self, f: &TableFile) -> PathBuf {
        match (self, f) {
            (_, TableFile::Local(p)) => p.clone(),
            (Source::Remote(store), TableFile::Remote(key, _)) => store.url_of(key).into(),
            (Source::Local(dir), TableFile::Remote(key, _)) => dir.join(key),
        }
    }

    /// The record batches of `f`, with its columns cast to `schema`'s types.
    fn batches(
        self,
        f: &TableFile,
        schema: &SchemaRef,
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>>>, ReportError> {
        let name = self.name(f);
        let pq = |e: &dyn std::fmt::Display| ReportError::Parquet(name.clone(), e.to_string());
        let jsonl = name.extension().is_some_and(|x| x == "jsonl");
        let input: Input = match (self, f) {
            (_, TableFile::Local(p)) => {
                Input::File(std::fs::File::open(p).map_err(|e| ReportError::Io(p.clone(), e))?)
            }
            (Source::Remote(store), TableFile::Remote(key, _)) if jsonl => {
                Input::Stream(store.reader(key)?)
            }
            (Source::Remote(store), TableFile::Remote(key, size)) => {
                let size = match size {
                    Some(s) => Some(*s),
                    None => store.size(key, LIST_TIMEOUT)?,
                };
                if size.is_some_and(|s| s <= IN_MEMORY_MAX) {
                    Input::Bytes(store.get_bytes(key, LIST_TIMEOUT)?.into())
                } else {
                    Input::File(spill(store, key).map_err(|e| ReportError::Io(name.clone(), e))?)
                }
            }
            (Source::Local(_), TableFile::Remote(..)) => unreachable!("no keys in a folder"),
        };
        if jsonl {
            // JSON lines carry no schema: read them with the one `read` wrote them with.
            let r: Box<dyn std::io::Read> = match input {
                Input::File(f) => Box::new(f),
                Input::Stream(s) => s,
                Input::Bytes(b) => Box::new(std::io::Cursor::new(b)),
            };
            let reader = arrow::json::ReaderBuilder::new(schema.clone())
                .build(std::io::BufReader::new(r))
                .map_err(|e| pq(&e))?;
            return Ok(Box::new(reader));
        }
        let reader = match input {
            Input::File(f) => ParquetRecordBatchReaderBuilder::try_new(f).and_then(|b| b.build()),
            Input::Bytes(b) => ParquetRecordBatchReaderBuilder::try_new(b).and_then(|b| b.build()),
            Input::Stream(_) => unreachable!("Parquet is read from a file or memory"),
        }
        .map_err(|e| pq(&e))?;
        let schema = schema.clone();
        Ok(Box::new(reader.map(move |b| conform(b?, &schema))))
    }
}

/// Where the bytes of one file come from.
enum Input {
    File(std::fs::File),
    Bytes(bytes::Bytes),
    Stream(Box<dyn std::io::Read + Send>),
}

/// `key` copied into a temporary file, already unlinked (nothing is left behind).
fn spill(store: &Store, key: &str) -> std::io::Result<std::fs::File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        ".tlstap-report-{}-{}.parquet",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    let mut r = store.reader(key).map_err(std::io::Error::other)?;
    std::io::copy(&mut r, &mut f)?;
    Ok(f)
}

/// `b` with each column `schema` knows cast to the type tlstap writes it with (a
/// no-op for tlstap's own files; other writers widen unsigned integers, use string
/// views, ...). A column that cannot be cast is left as it is (read as absent).
fn conform(b: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let bs = b.schema();
    if bs.fields().iter().all(|f| {
        schema
            .field_with_name(f.name())
            .is_ok_and(|w| w.data_type() == f.data_type())
    }) {
        return Ok(b);
    }
    let mut fields = Vec::with_capacity(bs.fields().len());
    let mut columns = Vec::with_capacity(bs.fields().len());
    for (f, c) in bs.fields().iter().zip(b.columns()) {
        match schema.field_with_name(f.name()) {
            Ok(w)
                if w.data_type() != f.data_type()
                    && arrow::compute::can_cast_types(f.data_type(), w.data_type()) =>
            {
                columns.push(arrow::compute::cast(c, w.data_type())?);
                fields.push(f.as_ref().clone().with_data_type(w.data_type().clone()));
            }
            _ => {
                columns.push(c.clone());
                fields.push(f.as_ref().clone());
            }
        }
    }
    RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
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
    src: Source,
    files: &[TableFile],
    schema: SchemaRef,
    mut f: impl FnMut(&RecordBatch),
) -> Result<(), ReportError> {
    for file in files {
        for batch in src.batches(file, &schema)? {
            let batch = batch.map_err(|e| ReportError::Parquet(src.name(file), e.to_string()))?;
            f(&batch);
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
        if dir.is_file() {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            let shown = parent.map_or_else(|| ".".to_owned(), |p| p.display().to_string());
            return Err(ReportError::NotAFolder(dir.to_path_buf(), shown));
        }
        if !dir.is_dir() {
            return Err(ReportError::NoFolder(dir.to_path_buf()));
        }
        Self::load_from(Source::Local(dir), dir.to_path_buf())
    }

    /// Read an output prefix in object storage (or a `file://` folder).
    pub fn load_store(store: &Store) -> Result<Summary, ReportError> {
        Self::load_from(Source::Remote(store), store.url().into())
    }

    fn load_from(src: Source, dir: PathBuf) -> Result<Summary, ReportError> {
        let hs_files = src.table_files("handshakes")?;
        if hs_files.is_empty() {
            return Err(ReportError::NoHandshakes(dir));
        }
        let mut s = Summary {
            dir,
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
        for_each_batch(src, &hs_files, crate::output::handshakes_schema(), |b| {
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
        let cert_files = src.table_files("certificates")?;
        for_each_batch(
            src,
            &cert_files,
            crate::output::certificates_schema(),
            |b| {
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
            },
        )?;
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

#[cfg(test)]
mod tests {
    use super::more_note;

    #[test]
    fn more_note_counts_and_agrees_in_number() {
        assert_eq!(more_note(3, 3, 0), None);
        assert_eq!(more_note(4, 3, 1).as_deref(), Some("(1 more, 1 handshake)"));
        assert_eq!(
            more_note(5, 3, 6).as_deref(),
            Some("(2 more, 6 handshakes)")
        );
    }
}
