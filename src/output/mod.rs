//! The writer stage: [`Chunk`]s in final order in, `handshakes` and `certificates`
//! tables out.
//!
//! A chunk is a batch of analysed connections already turned into an Arrow record batch
//! by the parser pool ([`Chunk::new`]), so the one writer thread only merges
//! certificates and hands batches to the Parquet writer, which encodes their columns on
//! rayon's pool ([`writer`]); memory stays flat however many handshakes a run has.
//! Certificates are merged by SHA-256 over the whole run (`first_seen` = earliest packet
//! time, `seen_count` = sightings) and written at the end, ordered by
//! (`first_seen`, `sha256`), so the table is the same whatever thread parsed what.
//! The merge map is bounded by [`OutputConfig::max_certificates`]
//! (`output.cert_table_full` counts certificates not recorded past it).
//!
//! The two tables of a folder are one unit: both are written under temporary names
//! and renamed into place together only once both are complete
//! ([`writer::commit_tables`]), so a folder holds either the previous run's pair or the
//! new one, never one of each. [`SUCCESS_MARKER`] (`_SUCCESS`, as Spark and Hadoop
//! write it) is deleted before a run writes anything and written after the pair is in
//! place: its presence means the folder holds one complete run.

pub mod batch;
pub mod columns;
pub mod hive;
pub mod rotate;
pub mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::certs::CertInfo;
use crate::row::{Analyzed, CertSighting, HandshakeRow};
use crate::stats::Counters;
use crate::tls::names::version_name;
pub use batch::{
    certificates_batch, certificates_schema, handshakes_batch, handshakes_schema, stats_batch,
    stats_schema, CertRow, StatsRow,
};
pub use hive::{HiveNaming, PartitionedWriter};
pub use rotate::{check_sensor_name, default_sensor_name, new_run_id, RotateConfig, Rotator};
pub use writer::{
    abandon_temp_files, commit_tables, ClosedTable, Format, OutputError, TableWriter,
};

/// Empty file written last into an output folder of `read`: the folder holds the
/// complete output of one run (the convention of Spark and Hadoop jobs).
pub const SUCCESS_MARKER: &str = "_SUCCESS";

/// `dir` may be used as an output folder: it is a folder or does not exist yet.
pub fn check_output_dir(dir: &Path) -> Result<(), OutputError> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(OutputError::NotAFolder(dir.to_owned())),
        _ => Ok(()),
    }
}

/// Where and how to write.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// Output folder; `None` streams handshakes as JSON lines to stdout (no
    /// certificates table).
    pub dir: Option<PathBuf>,
    pub format: Format,
    /// Rows per record batch of the tables written from rows (certificates, and every
    /// table of a live window).
    pub batch_rows: usize,
    /// Distinct certificates remembered for the certificates table.
    pub max_certificates: usize,
    /// One pair of files, or hive partitions ([`hive`]).
    pub layout: Layout,
    /// Sensor, run id and start of the hive layout's names.
    pub naming: HiveNaming,
    /// Object storage the finished tables are uploaded to; `dir` is then the local
    /// staging folder, deleted once everything is uploaded.
    pub remote: Option<crate::store::Store>,
    /// Also commit the files to a table format (hive layout only).
    pub table: TableFormat,
}

/// Which open table format a hive output's files are committed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableFormat {
    /// Files only (engines read the folders as a hive dataset).
    #[default]
    None,
    /// Delta Lake: each table folder gets a `_delta_log/` ([`crate::store::delta`]).
    Delta,
}

/// How a `read` output folder is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `handshakes.parquet` + `certificates.parquet` + `_SUCCESS`: one run per folder.
    #[default]
    Flat,
    /// `handshakes/sensor=…/date=…/hour=…/…` as `live` writes: many runs and writers
    /// per prefix.
    Hive,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: None,
            format: Format::Parquet,
            batch_rows: 8192,
            max_certificates: 1_000_000,
            layout: Layout::Flat,
            naming: HiveNaming {
                sensor: "sensor".into(),
                run_id: "0".into(),
                started_us: 0,
            },
            remote: None,
            table: TableFormat::None,
        }
    }
}

/// One upload of a finished file gives up after this long.
pub const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Attempts per file when `read` uploads its output (with 1 s, 2 s, 4 s … between).
pub const UPLOAD_ATTEMPTS: u32 = 4;

struct CertEntry {
    info: Option<Box<CertInfo>>,
    first_seen_us: i64,
    seen_count: u64,
}

/// Certificates merged by hash.
#[derive(Default)]
pub struct CertTable {
    map: HashMap<String, CertEntry>,
}

impl CertTable {
    pub fn add(&mut self, s: CertSighting, limit: usize, counters: &mut Counters) {
        if let Some(e) = self.map.get_mut(&s.sha256) {
            e.seen_count += 1;
            e.first_seen_us = e.first_seen_us.min(s.ts_us);
            if e.info.is_none() {
                e.info = s.info;
            }
            return;
        }
        if self.map.len() >= limit {
            counters.bump("output.cert_table_full");
            return;
        }
        self.map.insert(
            s.sha256,
            CertEntry {
                info: s.info,
                first_seen_us: s.ts_us,
                seen_count: 1,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Rows ordered by (first_seen, sha256). A certificate whose parsed form never
    /// arrived (not possible unless a worker died) is left out and counted.
    pub fn into_rows(self, counters: &mut Counters) -> Vec<CertRow> {
        self.into_rows_where(|_| true, counters)
    }

    /// [`into_rows`](Self::into_rows) for the certificates `keep` accepts (by SHA-256),
    /// asked once per certificate before the parsed form is looked at.
    pub fn into_rows_where(
        self,
        mut keep: impl FnMut(&str) -> bool,
        counters: &mut Counters,
    ) -> Vec<CertRow> {
        let mut rows: Vec<CertRow> = Vec::with_capacity(self.map.len());
        for (sha256, e) in self.map {
            if !keep(&sha256) {
                continue;
            }
            match e.info {
                Some(info) => rows.push(CertRow {
                    info: *info,
                    first_seen_us: e.first_seen_us,
                    seen_count: e.seen_count,
                }),
                None => counters.bump("output.cert_unparsed"),
            }
        }
        rows.sort_by(|a, b| {
            (a.first_seen_us, &a.info.sha256).cmp(&(b.first_seen_us, &b.info.sha256))
        });
        rows
    }
}

/// What was written.
#[derive(Debug, Default, Clone)]
pub struct OutputSummary {
    pub handshakes: u64,
    pub certificates: u64,
    pub files: Vec<PathBuf>,
    /// Handshakes by negotiated version name ("none" when no ServerHello was seen).
    pub by_version: BTreeMap<&'static str, u64>,
    /// Handshakes by status.
    pub by_status: BTreeMap<&'static str, u64>,
}

impl OutputSummary {
    /// Count one written row by version and status.
    pub fn count(&mut self, row: &HandshakeRow) {
        let version = row.hs.version.map_or("none", version_name);
        *self.by_version.entry(version).or_insert(0) += 1;
        *self.by_status.entry(row.hs.status.as_str()).or_insert(0) += 1;
    }

    /// Add another summary's counts by version and status.
    fn merge_counts(&mut self, other: &OutputSummary) {
        for (k, v) in &other.by_version {
            *self.by_version.entry(k).or_insert(0) += v;
        }
        for (k, v) in &other.by_status {
            *self.by_status.entry(k).or_insert(0) += v;
        }
    }
}

/// A batch of analysed connections made ready for the writer: the `handshakes` rows as
/// one Arrow record batch, their certificate sightings, and their counts.
pub struct Chunk {
    pub handshakes: RecordBatch,
    pub certs: Vec<CertSighting>,
    counts: OutputSummary,
    /// What the parsers counted on these connections.
    pub counters: Counters,
}

impl Chunk {
    /// Build on a parser thread, so the writer does no per-row work.
    pub fn new(analyzed: Vec<Analyzed>) -> Result<Chunk, ArrowError> {
        let mut counts = OutputSummary::default();
        let mut certs = Vec::new();
        let mut rows = Vec::with_capacity(analyzed.len());
        let mut counters = Counters::new();
        for a in analyzed {
            counts.count(&a.row);
            certs.extend(a.certs);
            counters.merge(&a.counters);
            rows.push(a.row);
        }
        Ok(Chunk {
            handshakes: handshakes_batch(&rows)?,
            certs,
            counts,
            counters,
        })
    }
}

/// Folder, below the root of a partitioned output, where its files are written
/// before they are renamed into their partitions (hidden: engines skip it).
pub const TEMP_DIR: &str = ".tmp";

/// Write `rows` as one complete table file `dir/name` (temporary name in `temp_dir`,
/// then renamed), in record batches of `batch_rows`. Returns the rows written and the
/// final path.
#[allow(clippy::too_many_arguments)]
pub fn write_table<T>(
    dir: &Path,
    temp_dir: &Path,
    name: &str,
    format: Format,
    schema: SchemaRef,
    rows: &[T],
    batch_rows: usize,
    build: fn(&[T]) -> Result<RecordBatch, ArrowError>,
) -> Result<(u64, Option<PathBuf>), OutputError> {
    let mut w = TableWriter::create_via(dir, name, Some(temp_dir), format, schema)?;
    for chunk in rows.chunks(batch_rows.max(1)) {
        w.write(&build(chunk)?)?;
    }
    let n = w.rows();
    Ok((n, w.finish()?))
}

/// Where handshakes go.
enum Handshakes {
    /// One file (or stdout).
    Single(TableWriter),
    Hive(Box<PartitionedWriter>),
}

/// The writer stage of a run.
pub struct Output {
    cfg: OutputConfig,
    handshakes: Handshakes,
    certs: CertTable,
    counters: Counters,
    summary: OutputSummary,
}

impl Output {
    /// Start writing. For a folder, this first deletes its [`SUCCESS_MARKER`]: from
    /// here until [`finish`](Self::finish) the folder is not a complete run's.
    pub fn create(cfg: OutputConfig) -> Result<Output, OutputError> {
        let handshakes = match &cfg.dir {
            Some(dir) if cfg.layout == Layout::Hive => {
                check_output_dir(dir)?;
                Handshakes::Hive(Box::new(PartitionedWriter::new(
                    dir.clone(),
                    "handshakes",
                    cfg.format,
                    handshakes_schema(),
                    "ts",
                    cfg.naming.clone(),
                )?))
            }
            Some(dir) => {
                check_output_dir(dir)?;
                let marker = dir.join(SUCCESS_MARKER);
                match std::fs::remove_file(&marker) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(OutputError::Io {
                            path: marker,
                            source: e,
                        })
                    }
                    _ => {}
                }
                Handshakes::Single(TableWriter::create(
                    dir,
                    &format!("handshakes.{}", cfg.format.extension()),
                    cfg.format,
                    handshakes_schema(),
                )?)
            }
            None => Handshakes::Single(TableWriter::stdout()),
        };
        Ok(Output {
            cfg,
            handshakes,
            certs: CertTable::default(),
            counters: Counters::new(),
            summary: OutputSummary::default(),
        })
    }

    /// Write one chunk (chunks must arrive in final order).
    pub fn push(&mut self, chunk: Chunk) -> Result<(), OutputError> {
        for s in chunk.certs {
            self.certs
                .add(s, self.cfg.max_certificates, &mut self.counters);
        }
        self.summary.merge_counts(&chunk.counts);
        self.counters.merge(&chunk.counters);
        match &mut self.handshakes {
            Handshakes::Single(w) => w.write(&chunk.handshakes),
            Handshakes::Hive(w) => w.write(&chunk.handshakes),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Write what is pending and the certificates table, move both into place as a
    /// pair, then write [`SUCCESS_MARKER`]. On an error nothing is moved into place
    /// and no temporary file is left. Dropping an `Output` without `finish` leaves the
    /// folder's previous tables as they were.
    pub fn finish(mut self) -> Result<(OutputSummary, Counters), OutputError> {
        let mut summary = std::mem::take(&mut self.summary);
        let Some(dir) = self.cfg.dir.clone() else {
            if let Handshakes::Single(w) = self.handshakes {
                summary.handshakes = w.rows();
                w.close()?;
            }
            return Ok((summary, self.counters));
        };
        let rows = std::mem::take(&mut self.certs).into_rows(&mut self.counters);
        let mut tables = Vec::new();
        match self.handshakes {
            Handshakes::Single(w) => {
                summary.handshakes = w.rows();
                tables.extend(w.close()?);
                let mut certs = TableWriter::create(
                    &dir,
                    &format!("certificates.{}", self.cfg.format.extension()),
                    self.cfg.format,
                    certificates_schema(),
                )?;
                for chunk in rows.chunks(self.cfg.batch_rows.max(1)) {
                    certs.write(&certificates_batch(chunk)?)?;
                }
                summary.certificates = certs.rows();
                tables.extend(certs.close()?);
            }
            Handshakes::Hive(w) => {
                summary.handshakes = w.rows();
                tables.extend(w.close(&mut self.counters)?);
                let mut certs = PartitionedWriter::new(
                    dir.clone(),
                    "certificates",
                    self.cfg.format,
                    certificates_schema(),
                    "first_seen",
                    self.cfg.naming.clone(),
                )?;
                for chunk in rows.chunks(self.cfg.batch_rows.max(1)) {
                    certs.write(&certificates_batch(chunk)?)?;
                }
                summary.certificates = certs.rows();
                tables.extend(certs.close(&mut self.counters)?);
            }
        }
        summary.files = commit_tables(tables)?;
        let _ = std::fs::remove_dir(dir.join(TEMP_DIR)); // only when empty
        let marker = dir.join(SUCCESS_MARKER);
        if self.cfg.layout == Layout::Flat {
            std::fs::write(&marker, b"").map_err(|source| OutputError::Io {
                path: marker,
                source,
            })?;
        }
        if let Some(store) = &self.cfg.remote {
            summary.files =
                upload_run(store, &dir, &summary.files, self.cfg.layout, self.cfg.table)?;
        } else if self.cfg.table == TableFormat::Delta {
            let table_err = |reason: String| OutputError::Table { reason, kept: None };
            let store =
                crate::store::Store::local_folder(&dir).map_err(|e| table_err(e.to_string()))?;
            commit_delta(&store, &crate::store::keys_below(&dir, &summary.files))
                .map_err(|e| table_err(e.to_string()))?;
        }
        Ok((summary, self.counters))
    }
}

/// Upload a finished run from the staging folder `stage` (certificates before
/// handshakes, so a handshake's certificates are there when it is; for the flat layout
/// `_SUCCESS` is deleted first and written last), then delete `stage`. Returns the
/// URLs written. On failure `stage` is kept and named in the error.
fn upload_run(
    store: &crate::store::Store,
    stage: &Path,
    files: &[PathBuf],
    layout: Layout,
    table: TableFormat,
) -> Result<Vec<PathBuf>, OutputError> {
    let fail = |source| OutputError::Upload {
        source,
        kept: stage.to_owned(),
    };
    let mut files = crate::store::keys_below(stage, files);
    files.sort_by_key(|(rel, _)| (!rel.starts_with("certificates"), rel.clone()));
    let retry = |what: &dyn Fn() -> Result<(), crate::store::StoreError>| {
        let mut wait = std::time::Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            match what() {
                Err(e)
                    if attempt < UPLOAD_ATTEMPTS
                        && !matches!(e, crate::store::StoreError::Local { .. }) =>
                {
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
                r => return r,
            }
        }
    };
    if layout == Layout::Flat {
        retry(&|| store.delete(SUCCESS_MARKER, UPLOAD_TIMEOUT)).map_err(fail)?;
    }
    let mut urls = Vec::new();
    for (rel, path) in &files {
        retry(&|| store.upload_file(path, rel, UPLOAD_TIMEOUT).map(|_| ())).map_err(fail)?;
        urls.push(PathBuf::from(store.url_of(rel)));
    }
    if layout == Layout::Flat {
        retry(&|| store.put(SUCCESS_MARKER, Vec::new(), UPLOAD_TIMEOUT)).map_err(fail)?;
    }
    if table == TableFormat::Delta {
        // The files are up; the commit makes them part of the table (the local
        // copies give the statistics).
        commit_delta(store, &files).map_err(|e| OutputError::Table {
            reason: e.to_string(),
            kept: Some(stage.to_owned()),
        })?;
    }
    let _ = std::fs::remove_dir_all(stage);
    Ok(urls)
}

/// Append a run's files to their Delta tables in `store` (one commit per table).
fn commit_delta(
    store: &crate::store::Store,
    files: &[(String, &Path)],
) -> Result<u64, crate::store::delta::DeltaError> {
    crate::store::delta::DeltaTables::new(store.clone()).commit_files(files)
}
