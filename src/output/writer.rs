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

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::output::batch::DICTIONARY_COLUMNS;

/// Rows per Parquet row group (what the writer buffers before encoding to disk).
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Target size of a Parquet data page (the crate's default is 1 MiB). The encoder
/// grows each page's buffer from empty; at 1 MiB every page went back and forth to
/// the OS (page faults and TLB shootdowns were a fifth of the writer thread's time on
/// the dense bench corpus). 256 KiB pages cost that ~8 % less CPU end to end and a
/// 9 % larger handshakes file; 64 KiB compressed clearly worse.
pub const DATA_PAGE_BYTES: usize = 256 << 10;

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
    Parquet(Box<ArrowWriter<File>>),
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
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let final_path = dir.join(file_name);
        let tmp = dir.join(format!(".{file_name}.tmp"));
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
                let mut props = WriterProperties::builder().set_dictionary_enabled(false);
                for field in schema.fields() {
                    if DICTIONARY_COLUMNS.contains(&field.name().as_str()) {
                        props = props.set_column_dictionary_enabled(
                            ColumnPath::from(field.name().as_str()),
                            true,
                        );
                    }
                }
                let props = props
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_data_page_size_limit(DATA_PAGE_BYTES)
                    // The writer holds a whole row group in memory: bound it (the
                    // default, 1 M rows, held hundreds of MB on a flood of connections).
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .set_created_by(format!("tlstap {}", env!("CARGO_PKG_VERSION")))
                    .build();
                let w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|source| {
                    OutputError::Parquet {
                        path: tmp.clone(),
                        source,
                    }
                })?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

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
}
