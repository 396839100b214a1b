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
        let after = match self
            .store
            .get_bytes(&self.log("_last_checkpoint"), LOG_TIMEOUT)
        {
            Ok(b) => serde_json::from_slice::<Value>(&b)
                .ok()
                .and_then(|v| v["version"].as_u64())
                .map(|v| format!("{v:020}")),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let names = self.store.list_names(
            &format!("{}/{LOG_DIR}", self.table),
            after.as_deref(),
            LOG_TIMEOUT,
        )?;
        let last = names
            .iter()
            .filter_map(|n| n.strip_suffix(".json")?.parse::<u64>().ok())
            .max();
        let floor = after.and_then(|a| a.parse::<u64>().ok());
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
}
