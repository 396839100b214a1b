//! Writing record batches to files (Parquet or JSON lines) or to stdout.
//!
//! A file is written under a temporary name (`.<name>.tmp`) in its final folder and
//! renamed into place only when complete, so a reader (or a pipeline polling the
//! folder) never sees a partial file. A writer dropped before [`TableWriter::finish`]
//! (an error, a stop) deletes its temporary file, and every temporary file in use is
//! listed in one process-wide registry so an immediate exit (a second Ctrl-C) can
//! delete them too ([`abandon_temp_files`]). Parquet files are ZSTD-compressed with the
//! schema version in the file metadata; only the enum-like string columns
//! ([`DICTIONARY_COLUMNS`]) are dictionary-encoded.
//!
//! Parquet encoding (levels, dictionaries, ZSTD) is most of a writer's work, and each
//! column is encoded on its own, so a Parquet table encodes its top-level columns in
//! parallel on rayon's current pool (the global pool unless the caller runs inside
//! another one) instead of on the thread that calls [`TableWriter::write`]. Rows are
//! encoded in steps of [`ENCODE_ROWS`] within row groups of [`ROW_GROUP_ROWS`], both
//! counted from the start of the file, and each step reaches every column writer as
//! one array, so the bytes depend on the rows alone and not on how they were cut into
//! batches (which differs with the thread count). The file is byte-for-byte what
//! `parquet::arrow::ArrowWriter` writes with the same properties when handed the rows
//! in those steps: the column chunks are appended in schema order, and the schema
//! (`ARROW:schema`, with the schema version) is embedded by the crate's own code.
//! Batches wait unencoded until a step is full (only their slices are kept, nothing is
//! copied), so the pool is woken once per step rather than per batch; a row group of
//! fewer than [`PARALLEL_MIN_ROWS`] rows is encoded on the calling thread.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::output::batch::DICTIONARY_COLUMNS;

/// Rows per Parquet row group (what the writer buffers before encoding to disk).
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Target size of a Parquet data page (the crate's default is 1 MiB). The encoder
/// grows each page's buffer from empty; at 1 MiB every page went back and forth to
/// the OS (page faults and TLB shootdowns were a fifth of the writer thread's time on
/// the dense bench corpus). 256 KiB pages cost that ~8 % less CPU end to end and a
/// 9 % larger handshakes file; 64 KiB compressed clearly worse.
pub const DATA_PAGE_BYTES: usize = 256 << 10;

/// Rows per encoding step: a Parquet table holds this many rows as Arrow batch slices,
/// then encodes them, all columns at once, each column as one array (a copy, made in
/// the column's task). The pool is woken once per step rather than once per batch; the
/// rows held and their copies are memory (a dense-corpus `handshakes` row is about
/// 1.6 KiB in Arrow form). On the dense bench corpus, 4096 rows used no less CPU than
/// 1024 and about 10 MiB more peak memory; 256 rows woke the pool four times as often
/// and took about a sixth more CPU to encode. Page breaks fall at step ends, so
/// changing this changes a file's bytes (not its rows).
pub const ENCODE_ROWS: usize = 1024;

/// Rows a row group needs before its columns are spread over the pool; a smaller one
/// (a short certificates table, a quiet live window) is encoded on the calling thread.
/// Its fixed costs (a writer and a ZSTD context per column, some 4 ms for `handshakes`)
/// outweigh the per-row work below about a thousand rows, and parallel encoding does not
/// reduce them.
pub const PARALLEL_MIN_ROWS: usize = 1024;

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Jsonl,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Jsonl => "jsonl",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: writing Parquet: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: writing JSON: {source}")]
    Json {
        path: PathBuf,
        source: arrow::error::ArrowError,
    },
    #[error("building output rows: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}: exists and is not a folder (--out names the output folder)")]
    NotAFolder(PathBuf),
    #[error(
        "{0}: another tlstap is already writing to this folder (it holds a lock on \
         the folder); run one tlstap live per output folder"
    )]
    Locked(PathBuf),
    #[error("committing to the table: {reason}{}", kept.as_ref().map(|k| format!("; the complete output is kept in {}", k.display())).unwrap_or_default())]
    Table {
        reason: String,
        kept: Option<PathBuf>,
    },
    #[error("uploading: {source}; the complete output is kept in {kept}")]
    Upload {
        source: crate::store::StoreError,
        kept: PathBuf,
    },
}

impl OutputError {
    /// The reader of standard output went away (`tlstap read --out - | head`): a
    /// normal end for a stream, not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
        match self {
            OutputError::Io { source, .. } => broken(source),
            OutputError::Json { source, .. } | OutputError::Arrow(source) => {
                matches!(source, arrow::error::ArrowError::IoError(_, e) if broken(e))
                    || source.to_string().contains("Broken pipe")
            }
            _ => false,
        }
    }
}

/// Temporary files being written by this process (see [`abandon_temp_files`]).
static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temp_files() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMP_FILES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Delete every temporary file this process is writing and keep the registry locked
/// (the returned guard), so no writer can start a new one or rename one into place
/// before the process exits. For an immediate exit (a second SIGINT).
pub fn abandon_temp_files() -> MutexGuard<'static, Vec<PathBuf>> {
    let mut files = temp_files();
    for p in files.drain(..) {
        let _ = std::fs::remove_file(p);
    }
    files
}

/// Run `f` while no immediate exit can delete temporary files or interrupt it: a
/// commit's renames happen as a whole or, if the exit came first, not at all.
pub(crate) fn with_temp_files_held<T>(f: impl FnOnce(&mut Vec<PathBuf>) -> T) -> T {
    let mut files = temp_files();
    f(&mut files)
}

type JsonWriter = arrow::json::LineDelimitedWriter<BufWriter<Box<dyn Write + Send>>>;

/// Every column on every line, `null` included: readers that infer a schema from the
/// keys (DuckDB, pandas, Spark) then see the same columns in every file.
fn json_writer(out: Box<dyn Write + Send>) -> JsonWriter {
    arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build(BufWriter::with_capacity(1 << 16, out))
}

enum Inner {
    Parquet(Box<ParquetTable>),
    Json(Box<JsonWriter>),
}

/// One output table being written.
pub struct TableWriter {
    inner: Inner,
    /// `(temporary, final)` paths, or `None` for stdout.
    paths: Option<(PathBuf, PathBuf)>,
    /// Deletes the temporary file unless it was renamed into place.
    temp: TempGuard,
    rows: u64,
}

/// A registered temporary file, deleted (and unregistered) when dropped unless
/// [`take`](TempGuard::take)n.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn take(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let mut reg = temp_files();
            let _ = std::fs::remove_file(&p);
            reg.retain(|q| *q != p);
        }
    }
}

/// A table file written completely under its temporary name, not yet renamed into
/// place ([`TableWriter::close`]); dropping it deletes the temporary file.
pub struct ClosedTable {
    temp: TempGuard,
    final_path: PathBuf,
}

impl ClosedTable {
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    fn temp_path(&self) -> &Path {
        self.temp.0.as_deref().unwrap_or(Path::new(""))
    }
}

/// Rename closed tables into place as one step: the previous files under the final
/// names are kept (hard links) until every rename succeeded, and put back if one
/// failed, so the folder holds either the complete new set or the old one. Holds the
/// temporary-file registry throughout, so an immediate exit waits for it.
pub fn commit_tables(mut tables: Vec<ClosedTable>) -> Result<Vec<PathBuf>, OutputError> {
    let result = with_temp_files_held(|reg| {
        let backup_of = |t: &ClosedTable| {
            let name = t
                .final_path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            t.final_path.with_file_name(format!(".{name}.prev.tmp"))
        };
        // Keep the previous files reachable under a hidden name.
        let mut backups: Vec<Option<PathBuf>> = Vec::new();
        let restore = |backups: &[Option<PathBuf>], tables: &[ClosedTable]| {
            for (b, t) in backups.iter().zip(tables) {
                if let Some(b) = b {
                    let _ = std::fs::rename(b, &t.final_path);
                }
            }
        };
        for t in &tables {
            let b = backup_of(t);
            let _ = std::fs::remove_file(&b);
            match std::fs::hard_link(&t.final_path, &b) {
                Ok(()) => backups.push(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => backups.push(None),
                Err(source) => {
                    // E.g. a folder under the final name: nothing was touched yet.
                    for b in backups.iter().flatten() {
                        let _ = std::fs::remove_file(b);
                    }
                    let source = if t.final_path.is_dir() {
                        std::io::Error::other("a folder is in the way of the output file")
                    } else {
                        source
                    };
                    return Err(OutputError::Io {
                        path: t.final_path.clone(),
                        source,
                    });
                }
            }
        }
        let mut done = Vec::new();
        for t in &tables {
            if let Err(source) = std::fs::rename(t.temp_path(), &t.final_path) {
                // Put the previous files back (a new file renamed in place is
                // replaced; one that had no predecessor is removed).
                for (b, d) in backups.iter().zip(&tables).take(done.len()) {
                    if b.is_none() {
                        let _ = std::fs::remove_file(&d.final_path);
                    }
                }
                restore(&backups, &tables);
                return Err(OutputError::Io {
                    path: t.final_path.clone(),
                    source,
                });
            }
            done.push(t.final_path.clone());
        }
        for b in backups.iter().flatten() {
            let _ = std::fs::remove_file(b);
        }
        for t in tables.iter_mut() {
            // Renamed: nothing to delete any more.
            if let Some(p) = t.temp.0.take() {
                reg.retain(|q| *q != p);
            }
        }
        Ok(done)
    });
    // Only now, with the registry free again: a table not renamed deletes its file.
    drop(tables);
    result
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

impl TableWriter {
    /// Start `dir/<file_name>` (written as `dir/.<file_name>.tmp` until finished).
    pub fn create(
        dir: &Path,
        file_name: &str,
        format: Format,
        schema: SchemaRef,
    ) -> Result<TableWriter, OutputError> {
        Self::create_via(dir, file_name, None, format, schema)
    }

    /// [`create`](Self::create), with the temporary file in `temp_dir` (on the same
    /// file system) instead of beside the final one: partitioned tables keep their
    /// temporaries out of the table's folders, which some readers (polars) refuse to
    /// scan when a file of another extension is there. Names there are unique per
    /// process (`<pid>-<n>-<file_name>.tmp`).
    pub fn create_via(
        dir: &Path,
        file_name: &str,
        temp_dir: Option<&Path>,
        format: Format,
        schema: SchemaRef,
    ) -> Result<TableWriter, OutputError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let final_path = dir.join(file_name);
        let tmp = match temp_dir {
            None => dir.join(format!(".{file_name}.tmp")),
            Some(t) => {
                std::fs::create_dir_all(t).map_err(io_err(t))?;
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                t.join(format!("{}-{n}-{file_name}.tmp", std::process::id()))
            }
        };
        let file = {
            let mut reg = temp_files();
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            reg.push(tmp.clone());
            f
        };
        // From here on a failure drops `TempGuard`, which deletes the file.
        let guard = TempGuard(Some(tmp.clone()));
        let inner = match format {
            Format::Parquet => {
                let w = ParquetTable::create(file, schema, ParquetLimits::DEFAULT).map_err(
                    |source| OutputError::Parquet {
                        path: tmp.clone(),
                        source,
                    },
                )?;
                Inner::Parquet(Box::new(w))
            }
            Format::Jsonl => {
                let out: Box<dyn Write + Send> = Box::new(file);
                Inner::Json(Box::new(json_writer(out)))
            }
        };
        Ok(TableWriter {
            inner,
            paths: Some((guard.take(), final_path)),
            temp: TempGuard(Some(tmp)),
            rows: 0,
        })
    }

    /// JSON lines to standard output.
    pub fn stdout() -> TableWriter {
        let out: Box<dyn Write + Send> = Box::new(std::io::stdout());
        TableWriter {
            inner: Inner::Json(Box::new(json_writer(out))),
            paths: None,
            temp: TempGuard(None),
            rows: 0,
        }
    }

    fn display_path(&self) -> PathBuf {
        self.paths
            .as_ref()
            .map(|p| p.1.clone())
            .unwrap_or_else(|| PathBuf::from("<stdout>"))
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        let shown = self.display_path();
        let to_stdout = self.paths.is_none();
        match &mut self.inner {
            Inner::Parquet(w) => w.write(batch).map_err(|source| OutputError::Parquet {
                path: shown,
                source,
            }),
            Inner::Json(w) => {
                w.write(batch).map_err(|source| OutputError::Json {
                    path: shown,
                    source,
                })?;
                if to_stdout {
                    // Streaming to a pipe: hand each batch to `jq` as it comes.
                    w.get_mut().flush().map_err(io_err(Path::new("<stdout>")))?;
                }
                Ok(())
            }
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Close the file and move it to its final name. Returns the final path.
    pub fn finish(self) -> Result<Option<PathBuf>, OutputError> {
        match self.close()? {
            Some(t) => Ok(commit_tables(vec![t])?.pop()),
            None => Ok(None),
        }
    }

    /// Close the file, complete under its temporary name, for [`commit_tables`]
    /// (`None` for stdout, which is only flushed).
    pub fn close(self) -> Result<Option<ClosedTable>, OutputError> {
        let shown = self.display_path();
        let TableWriter {
            inner, paths, temp, ..
        } = self;
        match inner {
            Inner::Parquet(w) => {
                w.close().map_err(|source| OutputError::Parquet {
                    path: shown.clone(),
                    source,
                })?;
            }
            Inner::Json(mut w) => {
                w.finish().map_err(|source| OutputError::Json {
                    path: shown.clone(),
                    source,
                })?;
                let mut buf = w.into_inner();
                buf.flush().map_err(io_err(&shown))?;
                if let Some((tmp, _)) = &paths {
                    // Durable before it becomes visible under its final name.
                    let file = buf.into_inner().map_err(|e| OutputError::Io {
                        path: tmp.clone(),
                        source: e.into_error(),
                    })?;
                    drop(file);
                }
            }
        }
        Ok(paths.map(|(_, final_path)| ClosedTable { temp, final_path }))
    }
}

/// The properties every Parquet table is written with.
fn parquet_props(schema: &Schema, row_group_rows: usize) -> WriterProperties {
    let mut props = WriterProperties::builder().set_dictionary_enabled(false);
    for field in schema.fields() {
        if DICTIONARY_COLUMNS.contains(&field.name().as_str()) {
            props =
                props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), true);
        }
    }
    props
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_data_page_size_limit(DATA_PAGE_BYTES)
        // What `ParquetTable` cuts at; set here too so an `ArrowWriter` given these
        // properties cuts the same row groups (the tests compare the two).
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_created_by(format!("tlstap {}", env!("CARGO_PKG_VERSION")))
        // Also as a plain Parquet key-value entry: engines that do not read the Arrow
        // schema in the footer (Spark, Trino) still see it.
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            "tlstap.schema_version".to_owned(),
            super::batch::SCHEMA_VERSION.to_owned(),
        )]))
        .build()
}

/// How a [`ParquetTable`] cuts its work; [`ParquetLimits::DEFAULT`] outside tests.
#[derive(Debug, Clone, Copy)]
struct ParquetLimits {
    /// Rows per row group. The row group's encoded pages stay in memory until it is
    /// complete: this bounds them (the crate's default, 1 M rows, held hundreds of MB
    /// on a flood of connections).
    row_group_rows: usize,
    /// Rows per encoding step.
    encode_rows: usize,
    /// Smallest row group encoded in parallel.
    parallel_min_rows: usize,
}

impl ParquetLimits {
    const DEFAULT: ParquetLimits = ParquetLimits {
        row_group_rows: ROW_GROUP_ROWS,
        encode_rows: ENCODE_ROWS,
        parallel_min_rows: PARALLEL_MIN_ROWS,
    };
}

/// The column writers of one top-level column (one per Parquet leaf: a list column has
/// one, a struct one per member).
type FieldWriters = Vec<ArrowColumnWriter>;

/// A Parquet file written with its columns encoded in parallel (see the module docs).
struct ParquetTable {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Parquet leaf columns of each top-level column, in schema order.
    leaves: Vec<usize>,
    limits: ParquetLimits,
    /// The open row group's column writers, by top-level column; `None` between row
    /// groups.
    group: Option<Vec<FieldWriters>>,
    /// Rows in the open row group, encoded or pending.
    group_rows: usize,
    /// Slices of written batches not yet encoded, in order; all in the open row group.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

fn general(msg: &str) -> ParquetError {
    ParquetError::General(msg.to_owned())
}

impl ParquetTable {
    fn create(
        file: File,
        schema: SchemaRef,
        limits: ParquetLimits,
    ) -> Result<ParquetTable, ParquetError> {
        // The crate's own writer converts the schema and embeds it (`ARROW:schema`, with
        // our schema-version metadata) in the file's key-value metadata; taking its
        // file writer keeps that logic in one place and the header identical.
        let props = parquet_props(&schema, limits.row_group_rows);
        let (file, factory) =
            ArrowWriter::try_new(file, schema.clone(), Some(props))?.into_serialized_writer()?;
        let descr = file.schema_descr();
        let mut leaves = vec![0; schema.fields().len()];
        for leaf in 0..descr.num_columns() {
            let n = leaves
                .get_mut(descr.get_column_root_idx(leaf))
                .ok_or_else(|| general("Parquet schema has more columns than the Arrow one"))?;
            *n += 1;
        }
        Ok(ParquetTable {
            file,
            factory,
            schema,
            leaves,
            limits: ParquetLimits {
                row_group_rows: limits.row_group_rows.max(1),
                ..limits
            },
            group: None,
            group_rows: 0,
            pending: Vec::new(),
            pending_rows: 0,
        })
    }

    /// Take `batch`, cutting it where a row group or an encoding step fills.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(general("record batch does not have the table's columns"));
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            // Cut at fixed row counts (row groups, and encoding steps within them), so
            // the file does not depend on how the rows arrived in batches (that
            // differs with the thread count; the bytes must not).
            let room = self
                .limits
                .row_group_rows
                .saturating_sub(self.group_rows)
                .min(self.limits.encode_rows.saturating_sub(self.pending_rows))
                .max(1);
            let take = (batch.num_rows() - offset).min(room);
            self.pending.push(batch.slice(offset, take));
            offset += take;
            self.pending_rows += take;
            self.group_rows += take;
            if self.group_rows >= self.limits.row_group_rows {
                self.encode(true)?;
            } else if self.pending_rows >= self.limits.encode_rows {
                self.encode(false)?;
            }
        }
        Ok(())
    }

    /// Encode the pending rows into the open row group (opening one if needed) and,
    /// when `end_group`, close the group and append it to the file.
    fn encode(&mut self, end_group: bool) -> Result<(), ParquetError> {
        let mut group = match self.group.take() {
            Some(g) => g,
            None => self.new_group()?,
        };
        let batches = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let parallel = self.group_rows >= self.limits.parallel_min_rows;
        let columns: Vec<_> = group
            .iter_mut()
            .zip(self.schema.fields())
            .enumerate()
            .collect();
        // One task per top-level column: encode its slices, then, at the end of the
        // group, close its writers (the last pages and the dictionary page).
        let chunks = map_columns(parallel, columns, |(i, (writers, field))| {
            encode_column(field, i, &batches, writers)?;
            if !end_group {
                return Ok(Vec::new());
            }
            std::mem::take(writers)
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<Result<Vec<ArrowColumnChunk>, _>>()
        });
        if !end_group {
            self.group = Some(group);
            return chunks.into_iter().try_for_each(|c| c.map(drop));
        }
        self.group_rows = 0;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            for c in chunk? {
                c.append_to_row_group(&mut row_group)?;
            }
        }
        row_group.close()?;
        Ok(())
    }

    /// Column writers for the next row group, grouped by top-level column.
    fn new_group(&self) -> Result<Vec<FieldWriters>, ParquetError> {
        let index = self.file.flushed_row_groups().len();
        let mut all = self.factory.create_column_writers(index)?.into_iter();
        let group: Vec<FieldWriters> = self
            .leaves
            .iter()
            .map(|&n| all.by_ref().take(n).collect())
            .collect();
        let matches = group.iter().zip(&self.leaves).all(|(g, &n)| g.len() == n);
        if !matches || all.next().is_some() {
            return Err(general("column writers do not match the schema"));
        }
        Ok(group)
    }

    /// Encode what is pending and write the file's footer.
    fn close(mut self) -> Result<(), ParquetError> {
        if self.group.is_some() || !self.pending.is_empty() {
            self.encode(true)?;
        }
        self.file.close()?;
        Ok(())
    }
}

/// Write column `col` of `batches` to that column's `writers`, as one array.
///
/// A column writer checks for a full page only after each mini-batch of an input
/// (1024 values, counted from the input's start), so handing it the pending slices one
/// by one would put page breaks where the batches happened to be cut: a run with
/// another thread count would write other bytes. Concatenated, each encoding step is one array of a fixed number of
/// rows, and the pages depend on the rows alone. The copy is made here, in the column's
/// task, rather than for the whole batch on the calling thread.
fn encode_column(
    field: &Field,
    col: usize,
    batches: &[RecordBatch],
    writers: &mut [ArrowColumnWriter],
) -> Result<(), ParquetError> {
    let parts = batches
        .iter()
        .map(|b| b.columns().get(col))
        .collect::<Option<Vec<&ArrayRef>>>()
        .ok_or_else(|| general("record batch does not have the table's columns"))?;
    let array = match parts.as_slice() {
        [] => return Ok(()),
        [one] => ArrayRef::clone(one),
        _ => {
            let parts: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
            arrow::compute::concat(&parts)?
        }
    };
    let leaves = compute_leaves(field, &array)?;
    if leaves.len() != writers.len() {
        return Err(general("column does not match the schema"));
    }
    for (w, leaf) in writers.iter_mut().zip(&leaves) {
        w.write(leaf)?;
    }
    Ok(())
}

/// `f` over `columns`, results in column order: on rayon's current pool when
/// `parallel`, else on the calling thread.
fn map_columns<T: Send, R: Send>(
    parallel: bool,
    columns: Vec<T>,
    f: impl Fn(T) -> R + Sync + Send,
) -> Vec<R> {
    if parallel && columns.len() > 1 {
        columns.into_par_iter().map(f).collect()
    } else {
        columns.into_iter().map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;
    use crate::decode::DecoderLimits;
    use crate::flow::table::FlowLimits;
    use crate::output::{
        certificates_batch, certificates_schema, handshakes_batch, handshakes_schema,
    };

    /// A pair whose second rename fails leaves the first table's previous file in
    /// place (the new one is rolled back) and no temporary or backup file.
    #[test]
    fn commit_rolls_back_when_a_later_rename_fails() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.jsonl"), b"old a").unwrap();
        let closed = |name: &str, final_path: PathBuf| {
            let tmp = d.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, b"new").unwrap();
            temp_files().push(tmp.clone());
            ClosedTable {
                temp: TempGuard(Some(tmp)),
                final_path,
            }
        };
        let a = closed("a.jsonl", d.join("a.jsonl"));
        // Its folder does not exist: the rename fails after `a` was renamed.
        let b = closed("b.jsonl", d.join("missing").join("b.jsonl"));
        assert!(commit_tables(vec![a, b]).is_err());
        assert_eq!(std::fs::read(d.join("a.jsonl")).unwrap(), b"old a");
        let mut left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.jsonl"]);

        // And a pair that can be renamed is.
        let a = closed("a.jsonl", d.join("a.jsonl"));
        let c = closed("c.jsonl", d.join("c.jsonl"));
        commit_tables(vec![a, c]).unwrap();
        assert_eq!(std::fs::read(d.join("a.jsonl")).unwrap(), b"new");
        assert_eq!(std::fs::read(d.join("c.jsonl")).unwrap(), b"new");
    }

    /// Enum-like string columns get a dictionary page; per-connection columns do not.
    #[test]
    fn dictionary_only_on_enum_like_columns() {
        let dir = tempfile::tempdir().unwrap();
        let names: ArrayRef = Arc::new(StringArray::from(vec!["TLSv1.3"; 100]));
        let ids: ArrayRef = Arc::new(StringArray::from(
            (0..100).map(|i| format!("1:{i}")).collect::<Vec<_>>(),
        ));
        let ts: ArrayRef = Arc::new(Int64Array::from((0..100).collect::<Vec<i64>>()));
        let batch = RecordBatch::try_from_iter([
            ("version_name", names),
            ("community_id", ids),
            ("ts", ts),
        ])
        .unwrap();
        let mut w =
            TableWriter::create(dir.path(), "t.parquet", Format::Parquet, batch.schema()).unwrap();
        w.write(&batch).unwrap();
        let path = w.finish().unwrap().unwrap();
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let rg = reader.metadata().row_group(0);
        let has_dict = |i: usize| rg.column(i).dictionary_page_offset().is_some();
        assert!(has_dict(0), "version_name is dictionary-encoded");
        assert!(!has_dict(1), "community_id is plain");
        assert!(!has_dict(2), "ts is plain");
    }

    /// Both tables' real rows from the loopback captures, repeated to `rows` rows and
    /// cut into record batches of `batch_rows` (as the pipeline hands them on).
    fn real_tables(rows: usize, batch_rows: usize) -> Vec<(SchemaRef, Vec<RecordBatch>)> {
        let mut hs = Vec::new();
        let mut certs = Vec::new();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loopback");
        let mut captures: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        captures.sort();
        for p in captures {
            let (h, c, _) = crate::pipeline::analyze_capture(
                &p,
                FlowLimits::default(),
                DecoderLimits::default(),
            );
            hs.extend(h);
            certs.extend(c);
        }
        assert!(
            hs.len() > 10 && certs.len() > 5,
            "loopback captures have rows"
        );
        let hs: Vec<_> = hs.iter().cycle().take(rows).cloned().collect();
        let certs: Vec<_> = certs.iter().cycle().take(rows).cloned().collect();
        vec![
            (
                handshakes_schema(),
                hs.chunks(batch_rows)
                    .map(|c| handshakes_batch(c).unwrap())
                    .collect(),
            ),
            (
                certificates_schema(),
                certs
                    .chunks(batch_rows)
                    .map(|c| certificates_batch(c).unwrap())
                    .collect(),
            ),
        ]
    }

    /// The rows of `batches` cut as a [`ParquetTable`] encodes them: steps of
    /// `encode_rows` within row groups of `row_group_rows`, each one batch.
    fn encoding_steps(batches: &[RecordBatch], limits: ParquetLimits) -> Vec<RecordBatch> {
        let all = arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap();
        let mut steps = Vec::new();
        for group in (0..all.num_rows()).step_by(limits.row_group_rows) {
            let end = (group + limits.row_group_rows).min(all.num_rows());
            for step in (group..end).step_by(limits.encode_rows) {
                steps.push(all.slice(step, limits.encode_rows.min(end - step)));
            }
        }
        steps
    }

    /// Parallel (and small, sequential) column encoding writes the very bytes
    /// `ArrowWriter` writes with the same properties when handed the rows in the same
    /// encoding steps, across row groups cut inside a batch, steps that span batches and
    /// columns that fill several pages; readers get back the schema (with its
    /// schema-version metadata) and the rows that went in.
    #[test]
    fn column_encoding_matches_arrow_writer_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let parallel = ParquetLimits {
            row_group_rows: 3000,
            encode_rows: 700,
            parallel_min_rows: 1,
        };
        let sequential = ParquetLimits {
            parallel_min_rows: usize::MAX,
            ..parallel
        };
        for (t, (schema, batches)) in real_tables(7000, 256).into_iter().enumerate() {
            let reference = dir.path().join(format!("{t}-reference.parquet"));
            let props = parquet_props(&schema, parallel.row_group_rows);
            let mut w = ArrowWriter::try_new(
                File::create(&reference).unwrap(),
                schema.clone(),
                Some(props),
            )
            .unwrap();
            for b in encoding_steps(&batches, parallel) {
                w.write(&b).unwrap();
            }
            w.close().unwrap();
            let reference = std::fs::read(reference).unwrap();

            for (name, limits) in [("parallel", parallel), ("sequential", sequential)] {
                let path = dir.path().join(format!("{t}-{name}.parquet"));
                let mut w =
                    ParquetTable::create(File::create(&path).unwrap(), schema.clone(), limits)
                        .unwrap();
                for b in &batches {
                    w.write(b).unwrap();
                }
                w.close().unwrap();
                assert!(
                    std::fs::read(&path).unwrap() == reference,
                    "{name} file of table {t} differs from ArrowWriter's"
                );

                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
                let groups: Vec<i64> = reader
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|g| g.num_rows())
                    .collect();
                assert_eq!(groups, [3000, 3000, 1000]);
                assert_eq!(reader.schema(), &schema);
                let read: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
                assert_eq!(
                    arrow::compute::concat_batches(&schema, &read).unwrap(),
                    arrow::compute::concat_batches(&schema, &batches).unwrap(),
                );
            }
        }
        // The comparison covers page breaks: some handshakes column fills several pages.
        let file =
            SerializedFileReader::new(File::open(dir.path().join("0-parallel.parquet")).unwrap())
                .unwrap();
        let rg = file.get_row_group(0).unwrap();
        let most_pages = (0..rg.num_columns())
            .map(|c| rg.get_column_page_reader(c).unwrap().count())
            .max();
        assert!(most_pages > Some(1), "no column has a second page");
    }

    /// An empty table is a valid file with the schema and no row group, as before.
    #[test]
    fn empty_table_has_schema_and_no_row_group() {
        let dir = tempfile::tempdir().unwrap();
        let w = TableWriter::create(
            dir.path(),
            "e.parquet",
            Format::Parquet,
            handshakes_schema(),
        )
        .unwrap();
        let path = w.finish().unwrap().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 0);
        assert_eq!(reader.schema(), &handshakes_schema());
    }

    /// The same rows arriving in different batch sizes (as they do with different
    /// thread counts) give the same file, byte for byte: row groups and encoding steps
    /// are cut at fixed row counts and each step is encoded as one batch.
    #[test]
    fn file_bytes_do_not_depend_on_batch_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ParquetLimits {
            row_group_rows: 4000,
            encode_rows: 1500,
            parallel_min_rows: 1,
        };
        let mut files = Vec::new();
        for batch_rows in [9000, 1024, 97, 13] {
            let (schema, batches) = real_tables(9000, batch_rows).swap_remove(0);
            let path = dir.path().join(format!("{batch_rows}.parquet"));
            let mut w = ParquetTable::create(File::create(&path).unwrap(), schema, limits).unwrap();
            for b in &batches {
                w.write(b).unwrap();
            }
            w.close().unwrap();
            files.push((batch_rows, std::fs::read(&path).unwrap()));
        }
        for (n, f) in &files[1..] {
            assert!(*f == files[0].1, "batches of {n} rows give another file");
        }
    }
}
