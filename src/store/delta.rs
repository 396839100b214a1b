//! One table from many writers: Delta Lake commits over the hive layout.
//!
//! Each table folder of a hive-layout output (`PREFIX/handshakes`, `PREFIX/certificates`,
//! `PREFIX/stats`) is also a Delta table: its `_delta_log/` lists the data files that
//! belong to it, and every run (`read`) or window (`live`) appends its files in one
//! commit. Engines that read Delta (delta-rs, polars, DuckDB, Spark with delta-spark,
//! Trino, Athena) then see one table with atomic appends, and the `sensor=`/`date=`/
//! `hour=` folders are its partition columns. The files are the ones the hive layout
//! already has: nothing is copied or rewritten.
//!
//! Why by hand, not the `deltalake` crate (tried, see README): tlstap only ever appends
//! files it wrote. That needs the documented JSON log entries below (protocol,
//! metaData, add, commitInfo) and one atomic put-if-absent per commit, which
//! `object_store` already does on S3, GCS, Azure and local disks. `deltalake-core`
//! 1.1 would add some 150 crates, a second copy of arrow and parquet (it is on 59, we
//! are on 60) and four minutes of build, and still need our own schema conversion and
//! file statistics (its statistics helper is private).
//!
//! Invariants:
//! - A commit is `_delta_log/<version, 20 digits>.json`, written only if no such object
//!   exists ([`Store::put_if_absent`]). A writer that loses the race reads the winner's
//!   commit (a schema change there is taken into account) and tries the next version,
//!   up to [`MAX_COMMIT_ATTEMPTS`] times. So commits from many sensors interleave and
//!   none is lost; no lock service or catalog is needed.
//! - Version 0 holds the protocol (reader 1, writer 2: plain types, no table features)
//!   and the table's metaData: the schema (unsigned columns widened to the next signed
//!   type, as Spark reads them), the partition columns and `tlstap.schema_version`.
//! - Schema evolution: a writer whose schema has columns the table lacks adds them (a
//!   new metaData action with the table's columns first, then the new ones, nullable);
//!   one with fewer columns just appends (readers see nulls); a column whose type
//!   differs is refused ([`DeltaError::Schema`]).
//! - Each add carries `numRecords` and the min/max of the table's time column (from the
//!   Parquet footer), so engines skip files by time.
//! - Adding a path that an earlier commit added (a retry after a crash between commit
//!   and clean-up) replaces that add in the snapshot: no row is counted twice.
//!
//! Reading: [`snapshot`] replays a table's log (the newest checkpoint, then the JSON
//! commits after it) into the data files of its current snapshot, for `tlstap report`;
//! tables whose rows are not just their files' rows (deletion vectors, column mapping)
//! are refused.
//!
//! Not done here: checkpoints and compaction. Without checkpoints a reader replays
//! every commit; a maintenance job (delta-rs `create_checkpoint`/`optimize`, Spark
//! `OPTIMIZE`) keeps a long-lived table fast. A writer starts its version search after
//! `_last_checkpoint` when one exists.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::datatypes::{DataType, Field};
use serde_json::{json, Value};

use super::{Store, StoreError};

/// Folder of a table's log.
pub const LOG_DIR: &str = "_delta_log";
/// Versions tried by one commit before giving up (each loss means another writer
/// committed meanwhile).
pub const MAX_COMMIT_ATTEMPTS: u32 = 100;
/// One log request gives up after this long.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(60);
/// Partition columns of every table, in folder order, with their Delta types and
/// comments.
pub const PARTITION_COLUMNS: [(&str, &str, &str); 3] = [
    (
        "sensor",
        "string",
        "sensor or job that wrote the file (--sensor)",
    ),
    (
        "date",
        "date",
        "UTC date of the table's time column (ts, first_seen, window_start)",
    ),
    (
        "hour",
        "integer",
        "UTC hour (0-23) of the table's time column",
    ),
];

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error("{table}: {reason}")]
    Schema { table: String, reason: String },
    #[error("{table}: {reason}")]
    Log { table: String, reason: String },
}

/// One data file to add to a table.
#[derive(Debug, Clone, PartialEq)]
pub struct AddFile {
    /// Path relative to the table's folder (`sensor=a/date=…/hour=3/x.parquet`).
    pub path: String,
    pub size: u64,
    pub partition_values: Vec<(String, String)>,
    pub num_records: i64,
    /// Min and max of the time column (microseconds), when the footer has them.
    pub time_range: Option<(i64, i64)>,
    /// The Delta schema of the file's columns.
    fields: Vec<Value>,
}

/// The time column each table is partitioned and skipped by.
fn time_column(table: &str) -> &'static str {
    match table {
        "certificates" => "first_seen",
        "stats" => "window_start",
        _ => "ts",
    }
}

/// The Delta (Spark) type of an Arrow type: unsigned integers widen to the next signed
/// type, as Spark reads Parquet's unsigned columns.
fn delta_type(t: &DataType) -> Result<Value, String> {
    Ok(match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => json!("string"),
        DataType::Boolean => json!("boolean"),
        DataType::Int8 => json!("byte"),
        DataType::Int16 | DataType::UInt8 => json!("short"),
        DataType::Int32 | DataType::UInt16 => json!("integer"),
        DataType::Int64 | DataType::UInt32 => json!("long"),
        DataType::Float32 => json!("float"),
        DataType::Float64 => json!("double"),
        DataType::Binary | DataType::LargeBinary => json!("binary"),
        DataType::Date32 => json!("date"),
        DataType::Timestamp(_, Some(_)) => json!("timestamp"),
        DataType::Dictionary(_, v) => delta_type(v)?,
        DataType::List(f) | DataType::LargeList(f) => json!({
            "type": "array",
            "elementType": delta_type(f.data_type())?,
            "containsNull": f.is_nullable(),
        }),
        DataType::Struct(fields) => json!({
            "type": "struct",
            "fields": fields.iter().map(|f| delta_field(f)).collect::<Result<Vec<_>, _>>()?,
        }),
        other => return Err(format!("no Delta type for {other}")),
    })
}

fn delta_field(f: &Field) -> Result<Value, String> {
    Ok(json!({
        "name": f.name(),
        "type": delta_type(f.data_type())?,
        "nullable": f.is_nullable(),
        "metadata": {},
    }))
}

/// What to add for the local Parquet file `local`, stored as `path` below its table.
pub fn add_file(local: &Path, table: &str, path: &str) -> Result<AddFile, DeltaError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;
    let bad = |reason: String| DeltaError::File {
        file: local.display().to_string(),
        reason,
    };
    let f = std::fs::File::open(local).map_err(|e| bad(e.to_string()))?;
    let size = f.metadata().map_err(|e| bad(e.to_string()))?.len();
    let reader = SerializedFileReader::new(f).map_err(|e| bad(e.to_string()))?;
    let meta = reader.metadata();
    let schema = parquet::arrow::parquet_to_arrow_schema(
        meta.file_metadata().schema_descr(),
        meta.file_metadata().key_value_metadata(),
    )
    .map_err(|e| bad(e.to_string()))?;
    let mut fields = schema
        .fields()
        .iter()
        .map(|f| delta_field(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    // The docs travel with the table: each column's README text as its comment.
    for f in &mut fields {
        if let Some(doc) = f["name"]
            .as_str()
            .and_then(|n| crate::output::columns::column_doc(table, n))
        {
            f["metadata"] = json!({ "comment": doc });
        }
    }
    let column = time_column(table);
    let idx = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == column);
    let mut range: Option<(i64, i64)> = None;
    let mut complete = idx.is_some();
    for rg in meta.row_groups() {
        let stats = idx.and_then(|i| rg.column(i).statistics());
        match stats {
            Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&lo), Some(&hi)) => {
                    range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
                _ => complete = false,
            },
            _ => complete = false,
        }
    }
    let partition_values = path
        .split('/')
        .filter_map(|part| part.split_once('='))
        .filter(|(k, _)| PARTITION_COLUMNS.iter().any(|(p, _, _)| p == k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(AddFile {
        path: path.to_owned(),
        size,
        partition_values,
        num_records: meta.file_metadata().num_rows(),
        time_range: if complete { range } else { None },
        fields,
    })
}

/// Microseconds as the timestamp text of Delta statistics (millisecond precision:
/// minimums rounded down, maximums up, so skipping by them never skips a match).
fn stats_time(us: i64, up: bool) -> String {
    let ms = if up {
        us.div_euclid(1000) + i64::from(us.rem_euclid(1000) != 0)
    } else {
        us.div_euclid(1000)
    };
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = crate::output::rotate::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A table's current metaData action, as far as this writer has read the log.
#[derive(Debug, Clone)]
struct Seen {
    /// Versions read up to and including this one.
    upto: u64,
    meta: Option<Value>,
}

/// The log of one table, appended to by this writer.
pub struct DeltaLog {
    store: Store,
    table: String,
    next_version: Option<u64>,
    seen: Option<Seen>,
    commits: u64,
    lost_races: u64,
}

impl DeltaLog {
    /// The table in folder `table` below the store's prefix.
    pub fn new(store: Store, table: &str) -> DeltaLog {
        DeltaLog {
            store,
            table: table.to_owned(),
            next_version: None,
            seen: None,
            commits: 0,
            lost_races: 0,
        }
    }

    fn log(&self, name: &str) -> String {
        format!("{}/{LOG_DIR}/{name}", self.table)
    }

    fn err(&self, reason: String) -> DeltaError {
        DeltaError::Log {
            table: self.store.url_of(&self.table),
            reason,
        }
    }

    /// The first version nobody has written yet, from a listing of the log (after the
    /// last checkpoint, when there is one).
    fn discover(&self) -> Result<u64, DeltaError> {
        let dir = format!("{}/{LOG_DIR}", self.table);
        let floor = last_checkpoint_hint(&self.store, &dir)?;
        let names = self.store.list_names(
            &dir,
            floor.map(|v| format!("{v:020}")).as_deref(),
            LOG_TIMEOUT,
        )?;
        let last = names
            .iter()
            .filter_map(|n| match log_name(n) {
                Some(LogName::Commit(v)) => Some(v),
                _ => None,
            })
            .max();
        Ok(match (last, floor) {
            (Some(v), _) => v + 1,
            (None, Some(c)) => c + 1,
            (None, None) => 0,
        })
    }

    /// The actions of version `v`.
    fn read_version(&self, v: u64) -> Result<Vec<Value>, DeltaError> {
        let bytes = self
            .store
            .get_bytes(&self.log(&format!("{v:020}.json")), LOG_TIMEOUT)?;
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| self.err(format!("version {v}: {e}"))))
            .collect()
    }

    /// The table's metaData as of version `upto` (read from the log, newest first the
    /// first time, then only the versions since).
    fn metadata(&mut self, upto: u64) -> Result<Option<Value>, DeltaError> {
        let start = match &self.seen {
            Some(s) if s.upto >= upto => return Ok(s.meta.clone()),
            Some(s) => s.upto + 1,
            None => {
                // Newest first until a metaData (usually version 0's).
                let mut found = None;
                for v in (0..=upto).rev() {
                    match self.read_version(v) {
                        Ok(actions) => {
                            if let Some(m) = actions.iter().find_map(|a| a.get("metaData")) {
                                found = Some(m.clone());
                                break;
                            }
                        }
                        // Before a checkpoint the JSON commits may be cleaned up.
                        Err(DeltaError::Store(e)) if e.is_not_found() => break,
                        Err(e) => return Err(e),
                    }
                }
                self.seen = Some(Seen {
                    upto,
                    meta: found.clone(),
                });
                return Ok(found);
            }
        };
        let mut meta = self.seen.as_ref().and_then(|s| s.meta.clone());
        for v in start..=upto {
            if let Some(m) = self.read_version(v)?.iter().find_map(|a| a.get("metaData")) {
                meta = Some(m.clone());
            }
        }
        self.seen = Some(Seen {
            upto,
            meta: meta.clone(),
        });
        Ok(meta)
    }

    /// The metaData action this commit must carry, if any: the table's schema
    /// extended by our new columns; `Err` when a column's type differs.
    fn evolve(&self, table_meta: &Value, ours: &[Value]) -> Result<Option<Value>, DeltaError> {
        let schema: Value = table_meta["schemaString"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| self.err("metaData without a readable schemaString".into()))?;
        let theirs = schema["fields"].as_array().cloned().unwrap_or_default();
        let mut merged = theirs.clone();
        for f in ours {
            match theirs.iter().find(|t| t["name"] == f["name"]) {
                Some(t) if t["type"] == f["type"] => {}
                Some(t) => {
                    return Err(DeltaError::Schema {
                        table: self.store.url_of(&self.table),
                        reason: format!(
                            "column {} is {} in the table but {} in this tlstap's output",
                            f["name"], t["type"], f["type"]
                        ),
                    })
                }
                None => {
                    let mut f = f.clone();
                    f["nullable"] = json!(true);
                    merged.push(f);
                }
            }
        }
        if merged.len() == theirs.len() {
            return Ok(None);
        }
        let mut meta = table_meta.clone();
        meta["schemaString"] = json!(json!({"type": "struct", "fields": merged}).to_string());
        Ok(Some(meta))
    }

    /// The schema (data columns then partition columns) of a new table.
    fn new_metadata(table: &str, ours: &[Value]) -> Value {
        let mut fields = ours.to_vec();
        for (name, t, doc) in PARTITION_COLUMNS {
            if !fields.iter().any(|f| f["name"] == name) {
                fields.push(json!({
                    "name": name, "type": t, "nullable": true, "metadata": {"comment": doc},
                }));
            }
        }
        json!({
            "id": uuid_v4(),
            "name": table,
            "description": format!(
                "tlstap {table}, output schema v{} (each column's comment says what it holds)",
                crate::output::batch::SCHEMA_VERSION
            ),
            "format": {"provider": "parquet", "options": {}},
            "schemaString": json!({"type": "struct", "fields": fields}).to_string(),
            "partitionColumns": PARTITION_COLUMNS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>(),
            "configuration": {"tlstap.schema_version": crate::output::batch::SCHEMA_VERSION},
            "createdTime": now_ms(),
        })
    }

    /// Append `adds` in one commit. Returns the version written (`None` for nothing).
    pub fn commit(&mut self, adds: &[AddFile]) -> Result<Option<u64>, DeltaError> {
        let Some(first) = adds.first() else {
            return Ok(None);
        };
        let ours = &first.fields;
        let mut v = match self.next_version {
            Some(v) => v,
            None => self.discover()?,
        };
        let mut add_lines = Vec::with_capacity(adds.len());
        for a in adds {
            let mut stats = json!({"numRecords": a.num_records});
            if let Some((lo, hi)) = a.time_range {
                let c = time_column(&self.table);
                stats["minValues"] = json!({ c: stats_time(lo, false) });
                stats["maxValues"] = json!({ c: stats_time(hi, true) });
                stats["nullCount"] = json!({ c: 0 });
            }
            let pv: serde_json::Map<String, Value> = a
                .partition_values
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            add_lines.push(
                json!({"add": {
                    "path": a.path,
                    "partitionValues": pv,
                    "size": a.size,
                    "modificationTime": now_ms(),
                    "dataChange": true,
                    "stats": stats.to_string(),
                }})
                .to_string(),
            );
        }
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let mut lines = Vec::new();
            let table_meta = match v {
                0 => None,
                _ => self.metadata(v - 1)?,
            };
            match &table_meta {
                None if v == 0 => {
                    lines.push(
                        json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}})
                            .to_string(),
                    );
                    lines.push(
                        json!({ "metaData": Self::new_metadata(&self.table, ours) }).to_string(),
                    );
                }
                // A table whose metaData this writer cannot see (cleaned up behind a
                // checkpoint): append only.
                None => {}
                Some(m) => {
                    if let Some(evolved) = self.evolve(m, ours)? {
                        lines.push(json!({ "metaData": evolved }).to_string());
                    }
                }
            }
            lines.extend(add_lines.iter().cloned());
            lines.push(
                json!({"commitInfo": {
                    "timestamp": now_ms(),
                    "operation": "WRITE",
                    "operationParameters": {"mode": "Append", "partitionBy": "[\"sensor\",\"date\",\"hour\"]"},
                    "isBlindAppend": true,
                    "engineInfo": format!("tlstap/{}", env!("CARGO_PKG_VERSION")),
                }})
                .to_string(),
            );
            let body = (lines.join("\n") + "\n").into_bytes();
            if self
                .store
                .put_if_absent(&self.log(&format!("{v:020}.json")), body, LOG_TIMEOUT)?
            {
                self.next_version = Some(v + 1);
                self.commits += 1;
                return Ok(Some(v));
            }
            // Another writer took this version: read it (next round) and try the next.
            self.lost_races += 1;
            v += 1;
        }
        Err(self.err(format!(
            "gave up after {MAX_COMMIT_ATTEMPTS} versions taken by other writers"
        )))
    }

    /// Commits written, and versions lost to other writers.
    pub fn counts(&self) -> (u64, u64) {
        (self.commits, self.lost_races)
    }
}

/// The logs of a hive output's tables, by table folder.
pub struct DeltaTables {
    store: Store,
    logs: HashMap<String, DeltaLog>,
}

impl DeltaTables {
    pub fn new(store: Store) -> DeltaTables {
        DeltaTables {
            store,
            logs: HashMap::new(),
        }
    }

    /// Commit `files` (`(path below the store's prefix, local copy)`, the first path
    /// part naming the table) to their tables: one commit per table, in the order the
    /// tables first appear.
    pub fn commit_files(&mut self, files: &[(String, &Path)]) -> Result<u64, DeltaError> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_table: HashMap<&str, Vec<AddFile>> = HashMap::new();
        for (rel, local) in files {
            let Some((table, path)) = rel.split_once('/') else {
                continue;
            };
            if !path.ends_with(".parquet") {
                continue;
            }
            if !by_table.contains_key(table) {
                order.push(table);
            }
            by_table
                .entry(table)
                .or_default()
                .push(add_file(local, table, path)?);
        }
        let mut commits = 0;
        for table in order {
            let log = self
                .logs
                .entry(table.to_owned())
                .or_insert_with(|| DeltaLog::new(self.store.clone(), table));
            if log.commit(&by_table[table])?.is_some() {
                commits += 1;
            }
        }
        Ok(commits)
    }

    /// Commits written and versions lost to other writers, over all tables.
    pub fn counts(&self) -> (u64, u64) {
        self.logs.values().fold((0, 0), |(c, l), log| {
            let (a, b) = log.counts();
            (c + a, l + b)
        })
    }
}

/// Reader features a table may use and still be read as its plain Parquet files.
pub const PLAIN_READER_FEATURES: [&str; 2] = ["timestampNtz", "vacuumProtocolCheck"];
/// Reading one checkpoint file gives up after this long.
pub const CHECKPOINT_TIMEOUT: Duration = Duration::from_secs(300);

/// A Delta table's current snapshot: the data files that hold its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The last version applied.
    pub version: u64,
    /// The checkpoint it started from, if any.
    pub checkpoint: Option<u64>,
    /// Data files, `(path relative to the table folder, size)`, sorted by path. Paths
    /// are URL-decoded (`hour=3/x y.parquet`), as the store names the objects.
    pub files: Vec<(String, u64)>,
}

/// The version `_delta_log/_last_checkpoint` names, if any (a hint: the checkpoint
/// may be missing or incomplete; an unreadable hint is no hint).
fn last_checkpoint_hint(store: &Store, dir: &str) -> Result<Option<u64>, DeltaError> {
    match store.get_bytes(&format!("{dir}/_last_checkpoint"), LOG_TIMEOUT) {
        Ok(b) => Ok(serde_json::from_slice::<Value>(&b)
            .ok()
            .and_then(|v| v["version"].as_u64())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One file of a `_delta_log/` listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogName {
    Commit(u64),
    /// `V.checkpoint.parquet` (`None`) or part `(i, n)` of `V.checkpoint.I.N.parquet`.
    Checkpoint(u64, Option<(u32, u32)>),
}

fn log_name(name: &str) -> Option<LogName> {
    let number = |s: &str, n: usize| {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if let Some(v) = name.strip_suffix(".json") {
        return Some(LogName::Commit(number(v, 20)?));
    }
    let (v, rest) = name.strip_suffix(".parquet")?.split_once(".checkpoint")?;
    let v = number(v, 20)?;
    if rest.is_empty() {
        return Some(LogName::Checkpoint(v, None));
    }
    let (i, n) = rest.strip_prefix('.')?.split_once('.')?;
    let (i, n) = (number(i, 10)?, number(n, 10)?);
    Some(LogName::Checkpoint(
        v,
        Some((u32::try_from(i).ok()?, u32::try_from(n).ok()?)),
    ))
}

/// The newest checkpoint whose every part is in `names`: its version and file names.
fn complete_checkpoint(names: &[String]) -> Option<(u64, Vec<String>)> {
    let mut parts: std::collections::BTreeMap<(u64, u32), Vec<u32>> = Default::default();
    let mut best: Option<(u64, Vec<String>)> = None;
    for name in names {
        match log_name(name) {
            Some(LogName::Checkpoint(v, None)) if best.as_ref().is_none_or(|b| b.0 < v) => {
                best = Some((v, vec![name.clone()]));
            }
            Some(LogName::Checkpoint(v, Some((i, n)))) => {
                parts.entry((v, n)).or_default().push(i);
            }
            _ => {}
        }
    }
    for ((v, n), mut got) in parts {
        got.sort_unstable();
        got.dedup();
        let complete = n > 0 && got.len() == n as usize && got.iter().copied().eq(1..=n);
        if complete && best.as_ref().is_none_or(|b| b.0 < v) {
            let files = (1..=n)
                .map(|i| format!("{v:020}.checkpoint.{i:010}.{n:010}.parquet"))
                .collect();
            best = Some((v, files));
        }
    }
    best
}

/// `%XX` escapes of a Delta path (a relative URI) decoded.
fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .ok_or_else(|| format!("path {s:?}: bad % escape"))?;
            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("path {s:?}: not UTF-8 once decoded"))
}

/// The add and remove actions of a log, applied in order.
struct Replay {
    /// The table's URL, to make an absolute path relative.
    table_url: String,
    files: std::collections::BTreeMap<String, u64>,
    /// The latest protocol: reader version and features.
    protocol: Option<(i64, Vec<String>)>,
}

impl Replay {
    fn path(&self, raw: &str) -> Result<String, String> {
        let p = url_decode(raw)?;
        if p.contains("://") || p.starts_with('/') {
            // An absolute path (a shallow clone's): only inside this table.
            let table = url_decode(&self.table_url)?;
            return p
                .strip_prefix(&table)
                .and_then(|r| r.strip_prefix('/'))
                .map(str::to_owned)
                .ok_or_else(|| format!("data file {p} is outside the table"));
        }
        Ok(p)
    }

    fn add(&mut self, raw: &str, size: u64) -> Result<(), String> {
        // Adding a path again replaces the earlier add: a file is in a snapshot once.
        let p = self.path(raw)?;
        self.files.insert(p, size);
        Ok(())
    }

    fn remove(&mut self, raw: &str) -> Result<(), String> {
        let p = self.path(raw)?;
        self.files.remove(&p);
        Ok(())
    }

    /// The actions of one JSON commit, line by line.
    fn commit(&mut self, text: &str) -> Result<(), String> {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let a: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            if let Some(add) = a.get("add") {
                let path = add["path"].as_str().ok_or("add without a path")?;
                self.add(path, add["size"].as_u64().unwrap_or(0))?;
            } else if let Some(rm) = a.get("remove") {
                self.remove(rm["path"].as_str().ok_or("remove without a path")?)?;
            } else if let Some(p) = a.get("protocol") {
                let features = p["readerFeatures"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|x| x.as_str().map(str::to_owned)));
                self.protocol = Some((
                    p["minReaderVersion"].as_i64().unwrap_or(1),
                    features.into_iter().flatten().collect(),
                ));
            }
        }
        Ok(())
    }

    /// The adds (and protocol) of one checkpoint file. Its removes are tombstones of
    /// files already out of the snapshot: nothing to undo.
    fn checkpoint(&mut self, bytes: bytes::Bytes) -> Result<(), String> {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::Int64Type;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::arrow::ProjectionMask;
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let b = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|x| e(&x))?;
        let leaves: Vec<usize> = b
            .parquet_schema()
            .columns()
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                let p = c.path().string();
                p == "add.path"
                    || p == "add.size"
                    || p == "protocol.minReaderVersion"
                    || p.starts_with("protocol.readerFeatures.")
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::leaves(b.parquet_schema(), leaves);
        let text = |a: &arrow::array::ArrayRef| {
            arrow::compute::cast(a, &DataType::Utf8).map_err(|x| e(&x))
        };
        let int = |a: &arrow::array::ArrayRef| {
            arrow::compute::cast(a, &DataType::Int64).map_err(|x| e(&x))
        };
        for batch in b.with_projection(mask).build().map_err(|x| e(&x))? {
            let batch = batch.map_err(|x| e(&x))?;
            if let Some(p) = batch
                .column_by_name("protocol")
                .and_then(|c| c.as_struct_opt())
            {
                let version = p.column_by_name("minReaderVersion").map(int).transpose()?;
                let features = p.column_by_name("readerFeatures");
                for i in (0..p.len()).filter(|&i| p.is_valid(i)) {
                    let v = version
                        .as_ref()
                        .map(|v| v.as_primitive::<Int64Type>())
                        .filter(|v| v.is_valid(i))
                        .map_or(1, |v| v.value(i));
                    let mut names = Vec::new();
                    if let Some(l) = features.and_then(|f| f.as_list_opt::<i32>()) {
                        if l.is_valid(i) {
                            let s = text(&l.value(i))?;
                            let s = s.as_string::<i32>();
                            names.extend(s.iter().flatten().map(str::to_owned));
                        }
                    }
                    self.protocol = Some((v, names));
                }
            }
            let Some(add) = batch.column_by_name("add").and_then(|c| c.as_struct_opt()) else {
                continue;
            };
            let path = add
                .column_by_name("path")
                .map(text)
                .transpose()?
                .ok_or("checkpoint without add.path")?;
            let path = path.as_string::<i32>();
            let size = add.column_by_name("size").map(int).transpose()?;
            let size = size.as_ref().map(|s| s.as_primitive::<Int64Type>());
            for i in (0..add.len()).filter(|&i| add.is_valid(i) && path.is_valid(i)) {
                let n = size.filter(|s| s.is_valid(i)).map_or(0, |s| s.value(i));
                self.add(path.value(i), u64::try_from(n).unwrap_or(0))?;
            }
        }
        Ok(())
    }

    /// Refuse a table whose rows are not just its files' rows (deletion vectors,
    /// column mapping, v2 checkpoints with sidecars, ...).
    fn check_protocol(&self) -> Result<(), String> {
        match &self.protocol {
            None => Ok(()),
            Some((1, _)) => Ok(()),
            Some((3, f))
                if f.iter()
                    .all(|x| PLAIN_READER_FEATURES.contains(&x.as_str())) =>
            {
                Ok(())
            }
            Some((v, f)) => Err(format!(
                "reader protocol {v} with features {f:?}: this reader only reads tables whose \
                 rows are their data files' rows (protocol 1, or 3 with {PLAIN_READER_FEATURES:?})"
            )),
        }
    }
}

/// Log entries read at once by [`snapshot`].
pub const LOG_READERS: usize = 16;

/// The objects `keys`, in order, read by up to [`LOG_READERS`] threads at once.
fn get_many(store: &Store, keys: &[String]) -> Result<Vec<Vec<u8>>, StoreError> {
    let per_thread = keys.len().div_ceil(LOG_READERS).max(1);
    std::thread::scope(|s| {
        let readers: Vec<_> = keys
            .chunks(per_thread)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|k| store.get_bytes(k, LOG_TIMEOUT))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(keys.len());
        for r in readers {
            out.extend(r.join().expect("a log reader panicked")?);
        }
        Ok(out)
    })
}

/// The current snapshot of the Delta table in folder `table` below the store's prefix
/// (`""` for the prefix itself): start from the newest complete checkpoint (found
/// through `_last_checkpoint`, else in the listing), then apply the JSON commits after
/// it in version order (`add` puts a path in, `remove` takes it out). Versions must
/// follow each other from the checkpoint (or from 0): a gap is an error, not a
/// smaller table.
pub fn snapshot(store: &Store, table: &str) -> Result<Snapshot, DeltaError> {
    let dir = match table.trim_matches('/') {
        "" => LOG_DIR.to_owned(),
        t => format!("{t}/{LOG_DIR}"),
    };
    let bad = |reason: String| DeltaError::Log {
        table: store.url_of(table),
        reason,
    };
    let hint = last_checkpoint_hint(store, &dir)?;
    // After the hinted checkpoint only; everything when it is missing or incomplete.
    let mut names = store.list_names(
        &dir,
        hint.map(|v| format!("{v:020}")).as_deref(),
        LOG_TIMEOUT,
    )?;
    let mut checkpoint = complete_checkpoint(&names);
    if hint.is_some() && checkpoint.as_ref().is_none_or(|c| Some(c.0) < hint) {
        names = store.list_names(&dir, None, LOG_TIMEOUT)?;
        checkpoint = complete_checkpoint(&names);
    }
    let mut replay = Replay {
        table_url: store.url_of(table).trim_end_matches('/').to_owned(),
        files: Default::default(),
        protocol: None,
    };
    let mut version = None;
    if let Some((v, files)) = &checkpoint {
        for f in files {
            let bytes = store.get_bytes(&format!("{dir}/{f}"), CHECKPOINT_TIMEOUT)?;
            replay
                .checkpoint(bytes.into())
                .map_err(|e| bad(format!("checkpoint {f}: {e}")))?;
        }
        version = Some(*v);
    }
    let mut commits: Vec<u64> = names
        .iter()
        .filter_map(|n| match log_name(n) {
            Some(LogName::Commit(v)) if version.is_none_or(|c| v > c) => Some(v),
            _ => None,
        })
        .collect();
    commits.sort_unstable();
    commits.dedup();
    // Fetched [`LOG_READERS`] at a time (a table never checkpointed has a commit per
    // run or window), applied in order.
    for window in commits.chunks(LOG_READERS * 16) {
        let keys: Vec<String> = window
            .iter()
            .map(|v| format!("{dir}/{v:020}.json"))
            .collect();
        for (&v, bytes) in window.iter().zip(get_many(store, &keys)?) {
            let want = version.map_or(0, |c| c + 1);
            if v != want {
                return Err(bad(format!(
                    "version {want} is missing from the log (next is {v})"
                )));
            }
            replay
                .commit(&String::from_utf8_lossy(&bytes))
                .map_err(|e| bad(format!("version {v}: {e}")))?;
            version = Some(v);
        }
    }
    let version = version.ok_or_else(|| bad("no commit or checkpoint in the log".into()))?;
    replay.check_protocol().map_err(bad)?;
    Ok(Snapshot {
        version,
        checkpoint: checkpoint.map(|c| c.0),
        files: replay.files.into_iter().collect(),
    })
}

/// A random UUID (version 4) for a new table's id.
fn uuid_v4() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::*;
    use crate::output::{handshakes_schema, Format, TableWriter};

    #[test]
    fn types_widen_unsigned_and_nest() {
        assert_eq!(delta_type(&DataType::UInt16).unwrap(), json!("integer"));
        assert_eq!(delta_type(&DataType::UInt32).unwrap(), json!("long"));
        let schema = handshakes_schema();
        for f in schema.fields() {
            delta_field(f).unwrap_or_else(|e| panic!("{}: {e}", f.name()));
        }
        assert!(delta_type(&DataType::Timestamp(
            arrow::datatypes::TimeUnit::Microsecond,
            None
        ))
        .is_err());
    }

    #[test]
    fn stats_times_round_outwards_to_milliseconds() {
        assert_eq!(stats_time(1_500, false), "1970-01-01T00:00:00.001Z");
        assert_eq!(stats_time(1_500, true), "1970-01-01T00:00:00.002Z");
        assert_eq!(stats_time(2_000, true), "1970-01-01T00:00:00.002Z");
        assert_eq!(
            stats_time(1_735_732_800_000_000, false),
            "2025-01-01T12:00:00.000Z"
        );
    }

    #[test]
    fn writers_racing_for_versions_all_land_and_the_schema_evolves() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("file://{}/lake", tmp.path().display());
        let store = Store::create(&url, &StoreOptions::default()).unwrap();
        // One small file of the handshakes schema.
        let local = tmp.path().join("f.parquet");
        let w = TableWriter::create(
            tmp.path(),
            "f.parquet",
            Format::Parquet,
            handshakes_schema(),
        )
        .unwrap();
        w.finish().unwrap();
        let add = |n: usize| {
            add_file(
                &local,
                "handshakes",
                &format!("sensor=s/date=2025-01-01/hour=3/f{n}.parquet"),
            )
            .unwrap()
        };
        let a0 = add(0);
        assert_eq!(a0.num_records, 0);
        assert_eq!(
            a0.partition_values,
            vec![
                ("sensor".to_owned(), "s".to_owned()),
                ("date".to_owned(), "2025-01-01".to_owned()),
                ("hour".to_owned(), "3".to_owned())
            ]
        );
        // Two writers, each unaware of the other's commits.
        let mut w1 = DeltaLog::new(store.clone(), "handshakes");
        let mut w2 = DeltaLog::new(store.clone(), "handshakes");
        assert_eq!(w1.commit(&[a0]).unwrap(), Some(0));
        assert_eq!(w2.commit(&[add(1)]).unwrap(), Some(1)); // discovers version 1
        assert_eq!(w1.commit(&[add(2)]).unwrap(), Some(2)); // loses 1, takes 2
        assert_eq!(w1.counts(), (2, 1));
        let v0 = w1.read_version(0).unwrap();
        assert!(v0[0].get("protocol").is_some() && v0[1].get("metaData").is_some());
        let schema: Value =
            serde_json::from_str(v0[1]["metaData"]["schemaString"].as_str().unwrap()).unwrap();
        let sni = schema["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "sni")
            .unwrap();
        assert!(sni["metadata"]["comment"]
            .as_str()
            .unwrap()
            .contains("server_name"));
        let adds: usize = (0..3)
            .map(|v| {
                w1.read_version(v)
                    .unwrap()
                    .iter()
                    .filter(|a| a.get("add").is_some())
                    .count()
            })
            .sum();
        assert_eq!(adds, 3);
        assert!(w2
            .read_version(2)
            .unwrap()
            .iter()
            .all(|a| a.get("metaData").is_none()));

        // A writer with one more column evolves the schema once; a changed type is refused.
        let mut extra = add(3);
        extra
            .fields
            .push(json!({"name": "new_col", "type": "string", "nullable": true, "metadata": {}}));
        assert_eq!(w2.commit(std::slice::from_ref(&extra)).unwrap(), Some(3));
        assert!(w2.read_version(3).unwrap()[0]["metaData"]["schemaString"]
            .as_str()
            .unwrap()
            .contains("new_col"));
        assert_eq!(w1.commit(&[extra.clone()]).unwrap(), Some(4));
        assert!(w1
            .read_version(4)
            .unwrap()
            .iter()
            .all(|a| a.get("metaData").is_none()));
        let mut clash = add(5);
        clash.fields[0]["type"] = json!("string"); // ts as text
        assert!(matches!(
            w1.commit(&[clash]),
            Err(DeltaError::Schema { .. })
        ));
    }

    /// A hand-made log: `(file below _delta_log/, bytes)`.
    fn table_with(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("t").join(LOG_DIR);
        std::fs::create_dir_all(&log).unwrap();
        for (name, bytes) in files {
            std::fs::write(log.join(name), bytes).unwrap();
        }
        let url = format!("file://{}", tmp.path().display());
        let store = Store::open(&url, &StoreOptions::default()).unwrap();
        (tmp, store)
    }

    fn commit(v: u64, actions: &[Value]) -> (String, Vec<u8>) {
        let body: Vec<String> = actions.iter().map(Value::to_string).collect();
        (
            format!("{v:020}.json"),
            (body.join("\n") + "\n").into_bytes(),
        )
    }

    fn add(path: &str, size: u64) -> Value {
        json!({"add": {"path": path, "size": size, "partitionValues": {}, "dataChange": true,
                       "modificationTime": 1}})
    }

    fn remove(path: &str) -> Value {
        json!({"remove": {"path": path, "dataChange": true, "deletionTimestamp": 2}})
    }

    fn protocol(reader: i64, features: Option<&[&str]>) -> Value {
        let mut p = json!({"minReaderVersion": reader, "minWriterVersion": 2});
        if let Some(f) = features {
            p["readerFeatures"] = json!(f);
            p["writerFeatures"] = json!(f);
        }
        json!({ "protocol": p })
    }

    fn snap(files: &[(String, Vec<u8>)]) -> Result<Snapshot, DeltaError> {
        let files: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let (_tmp, store) = table_with(&files);
        snapshot(&store, "t")
    }

    fn paths(s: &Snapshot) -> Vec<&str> {
        s.files.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// A checkpoint file as delta-rs and Spark write it (one action per row, the
    /// other action columns null), with the columns this reader looks at.
    fn checkpoint_file(rows: &[Value]) -> Vec<u8> {
        use arrow::array::{
            Array, ArrayRef, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray,
            StringBuilder, StructArray,
        };
        use arrow::buffer::NullBuffer;
        use arrow::datatypes::{Fields, Schema};
        use std::sync::Arc;
        let has =
            |k: &str| NullBuffer::from(rows.iter().map(|r| r.get(k).is_some()).collect::<Vec<_>>());
        let text = |k: &str, f: &str| -> ArrayRef {
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|r| r.get(k).and_then(|a| a[f].as_str()))
                    .collect::<Vec<_>>(),
            ))
        };
        let add_fields = Fields::from(vec![
            Field::new("path", DataType::Utf8, true),
            Field::new("size", DataType::Int64, true),
        ]);
        let add = StructArray::new(
            add_fields.clone(),
            vec![
                text("add", "path"),
                Arc::new(Int64Array::from(
                    rows.iter()
                        .map(|r| r.get("add").and_then(|a| a["size"].as_i64()))
                        .collect::<Vec<_>>(),
                )),
            ],
            Some(has("add")),
        );
        let rm_fields = Fields::from(vec![Field::new("path", DataType::Utf8, true)]);
        let rm = StructArray::new(
            rm_fields.clone(),
            vec![text("remove", "path")],
            Some(has("remove")),
        );
        let mut features = ListBuilder::new(StringBuilder::new());
        for r in rows {
            match r
                .get("protocol")
                .and_then(|p| p["readerFeatures"].as_array())
            {
                Some(f) => {
                    for x in f {
                        features.values().append_value(x.as_str().unwrap());
                    }
                    features.append(true);
                }
                None => features.append(false),
            }
        }
        let features = features.finish();
        let proto_fields = Fields::from(vec![
            Field::new("minReaderVersion", DataType::Int32, true),
            Field::new("readerFeatures", features.data_type().clone(), true),
        ]);
        let proto = StructArray::new(
            proto_fields.clone(),
            vec![
                Arc::new(Int32Array::from(
                    rows.iter()
                        .map(|r| {
                            r.get("protocol")
                                .and_then(|p| p["minReaderVersion"].as_i64())
                                .map(|v| v as i32)
                        })
                        .collect::<Vec<_>>(),
                )),
                Arc::new(features),
            ],
            Some(has("protocol")),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("protocol", DataType::Struct(proto_fields), true),
            Field::new("add", DataType::Struct(add_fields), true),
            Field::new("remove", DataType::Struct(rm_fields), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(proto), Arc::new(add), Arc::new(rm)],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    }

    #[test]
    fn log_names_are_commits_and_checkpoint_parts() {
        assert_eq!(
            log_name("00000000000000000007.json"),
            Some(LogName::Commit(7))
        );
        assert_eq!(
            log_name("00000000000000000010.checkpoint.parquet"),
            Some(LogName::Checkpoint(10, None))
        );
        assert_eq!(
            log_name("00000000000000000010.checkpoint.0000000002.0000000003.parquet"),
            Some(LogName::Checkpoint(10, Some((2, 3))))
        );
        for other in [
            "_last_checkpoint",
            "00000000000000000007.crc",
            "7.json",
            "00000000000000000007.3f2a.json",
            "00000000000000000010.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.parquet",
            "00000000000000000010.checkpoint.parquet.tmp",
        ] {
            assert_eq!(log_name(other), None, "{other}");
        }
        assert_eq!(url_decode("a%20b%2Fc%25d+e").unwrap(), "a b/c%d+e");
        assert!(url_decode("x%2").is_err() && url_decode("x%+1y").is_err());
    }

    #[test]
    fn snapshot_applies_adds_and_removes_in_version_order() {
        let log = [
            commit(
                0,
                &[
                    protocol(1, None),
                    json!({"metaData": {"id": "x"}}),
                    add("sensor=a/date=2026-01-02/hour=3/a.parquet", 10),
                    add("sensor=a/date=2026-01-02/hour=3/b.parquet", 20),
                ],
            ),
            // A compaction: both files out, one in (URL-encoded, as delta-rs writes).
            commit(
                1,
                &[
                    remove("sensor=a/date=2026-01-02/hour=3/a.parquet"),
                    remove("sensor=a/date=2026-01-02/hour=3/b.parquet"),
                    add("sensor=a/date=2026-01-02/hour=3/x%20y.parquet", 25),
                ],
            ),
            // A re-add of a removed file, and an add of one already in (a retried
            // commit): each once.
            commit(
                2,
                &[
                    add("sensor=a/date=2026-01-02/hour=3/a.parquet", 11),
                    add("sensor=a/date=2026-01-02/hour=3/x%20y.parquet", 25),
                ],
            ),
        ];
        let s = snap(&log).unwrap();
        assert_eq!(s.version, 2);
        assert_eq!(s.checkpoint, None);
        assert_eq!(
            s.files,
            vec![
                ("sensor=a/date=2026-01-02/hour=3/a.parquet".to_owned(), 11),
                ("sensor=a/date=2026-01-02/hour=3/x y.parquet".to_owned(), 25),
            ]
        );
        // A removal spelled with escapes takes out the decoded path.
        let mut more = log.to_vec();
        more.push(commit(
            3,
            &[remove("sensor%3Da/date=2026-01-02/hour=3/x%20y.parquet")],
        ));
        assert_eq!(
            paths(&snap(&more).unwrap()),
            ["sensor=a/date=2026-01-02/hour=3/a.parquet"]
        );
        // A gap in the versions is an error, not a smaller table.
        let gap = [log[0].clone(), log[2].clone()];
        let e = snap(&gap).unwrap_err().to_string();
        assert!(e.contains("version 1 is missing"), "{e}");
        // An empty log is not a table.
        assert!(snap(&[]).is_err());
    }

    #[test]
    fn snapshot_of_a_long_log_applies_every_commit_in_order() {
        // More commits than one window of parallel reads: commit v adds f{v} and
        // removes f{v-1} when v is odd, so the order matters.
        let n = LOG_READERS * 16 * 2 + 5;
        let log: Vec<_> = (0..n as u64)
            .map(|v| {
                let mut actions = vec![add(&format!("f{v}.parquet"), v)];
                if v % 2 == 1 {
                    actions.push(remove(&format!("f{}.parquet", v - 1)));
                }
                commit(v, &actions)
            })
            .collect();
        let s = snap(&log).unwrap();
        assert_eq!(s.version, n as u64 - 1);
        let mut want: Vec<String> = (0..n as u64)
            .filter(|v| v % 2 == 1 || *v == n as u64 - 1)
            .map(|v| format!("f{v}.parquet"))
            .collect();
        want.sort();
        assert_eq!(paths(&s), want);
    }

    #[test]
    fn snapshot_starts_from_the_last_checkpoint_then_later_commits() {
        let cp = checkpoint_file(&[
            protocol(1, None),
            add("date=2026-01-02/hour=3/x%20y.parquet", 30),
            add("date=2026-01-02/hour=4/c.parquet", 40),
            // A tombstone: not in the snapshot, nothing to undo.
            remove("date=2026-01-02/hour=3/a.parquet"),
        ]);
        let log = vec![
            // Commits up to the checkpoint, here contradicting it: never read.
            commit(0, &[protocol(1, None), add("stale.parquet", 1)]),
            commit(1, &[add("stale2.parquet", 1)]),
            (
                "00000000000000000001.checkpoint.parquet".to_owned(),
                cp.clone(),
            ),
            (
                "_last_checkpoint".to_owned(),
                br#"{"version":1,"size":4}"#.to_vec(),
            ),
            commit(
                2,
                &[
                    remove("date=2026-01-02/hour=4/c.parquet"),
                    add("date=2026-01-02/hour=5/d.parquet", 50),
                ],
            ),
            commit(3, &[add("date=2026-01-02/hour=3/a.parquet", 60)]),
        ];
        let s = snap(&log).unwrap();
        assert_eq!((s.version, s.checkpoint), (3, Some(1)));
        assert_eq!(
            s.files,
            vec![
                ("date=2026-01-02/hour=3/a.parquet".to_owned(), 60),
                ("date=2026-01-02/hour=3/x y.parquet".to_owned(), 30),
                ("date=2026-01-02/hour=5/d.parquet".to_owned(), 50),
            ]
        );
        // The JSON commits before the checkpoint cleaned up: the same snapshot.
        let cleaned: Vec<_> = log[2..].to_vec();
        assert_eq!(snap(&cleaned).unwrap(), s);
        // Without _last_checkpoint the listing finds it.
        let no_hint: Vec<_> = log
            .iter()
            .filter(|(n, _)| n != "_last_checkpoint")
            .cloned()
            .collect();
        assert_eq!(snap(&no_hint).unwrap(), s);
        // A hint naming a checkpoint that is not there: the newest one listed.
        let mut stale_hint = log.clone();
        stale_hint[3].1 = br#"{"version":3}"#.to_vec();
        assert_eq!(snap(&stale_hint).unwrap(), s);
    }

    #[test]
    fn snapshot_reads_every_part_of_a_multi_part_checkpoint() {
        let part = |i: u32, n: u32, rows: &[Value]| {
            (
                format!("00000000000000000002.checkpoint.{i:010}.{n:010}.parquet"),
                checkpoint_file(rows),
            )
        };
        let log = vec![
            commit(0, &[add("old.parquet", 1)]),
            part(1, 2, &[protocol(1, None), add("p1.parquet", 1)]),
            part(2, 2, &[add("p2.parquet", 2)]),
            (
                "_last_checkpoint".to_owned(),
                br#"{"version":2,"parts":2}"#.to_vec(),
            ),
            commit(3, &[add("later.parquet", 3), remove("p1.parquet")]),
            // Part 1 of 2 of a newer checkpoint (its writer died): not used.
            (
                "00000000000000000003.checkpoint.0000000001.0000000002.parquet".to_owned(),
                checkpoint_file(&[add("half.parquet", 9)]),
            ),
        ];
        let s = snap(&log).unwrap();
        assert_eq!((s.version, s.checkpoint), (3, Some(2)));
        assert_eq!(paths(&s), ["later.parquet", "p2.parquet"]);
    }

    #[test]
    fn snapshot_refuses_tables_whose_rows_are_not_their_files() {
        for p in [
            protocol(3, Some(&["deletionVectors"])),
            protocol(2, None), // column mapping
            protocol(3, Some(&["v2Checkpoint"])),
        ] {
            let e = snap(&[commit(0, &[p.clone(), add("a.parquet", 1)])])
                .unwrap_err()
                .to_string();
            assert!(e.contains("reader protocol"), "{p}: {e}");
            // Also when the protocol is in a checkpoint.
            let cp = checkpoint_file(&[p.clone(), add("a.parquet", 1)]);
            let e = snap(&[("00000000000000000000.checkpoint.parquet".to_owned(), cp)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("reader protocol"), "{p}: {e}");
        }
        let ok = protocol(3, Some(&["timestampNtz"]));
        assert_eq!(
            paths(&snap(&[commit(0, &[ok, add("a.parquet", 1)])]).unwrap()),
            ["a.parquet"]
        );
        // An absolute path inside the table is made relative; outside, refused.
        let (tmp, store) = table_with(&[]);
        let write = |c: (String, Vec<u8>)| {
            std::fs::write(tmp.path().join("t").join(LOG_DIR).join(c.0), c.1).unwrap();
        };
        let inside = format!("{}/x/b%20c.parquet", store.url_of("t"));
        write(commit(0, &[add(&inside, 1)]));
        assert_eq!(paths(&snapshot(&store, "t").unwrap()), ["x/b c.parquet"]);
        write(commit(1, &[add("s3://elsewhere/t/y.parquet", 1)]));
        let e = snapshot(&store, "t").unwrap_err().to_string();
        assert!(e.contains("outside the table"), "{e}");
    }
}
