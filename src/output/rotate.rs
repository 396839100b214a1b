//! Rotating output for live capture: hive-partitioned files, one set per time window.
//!
//! Layout (same `<start>-<seq>` for the three tables of one window, so they join):
//! ```text
//! DIR/handshakes/sensor=NAME/date=YYYY-MM-DD/hour=H/<start>-<run>-<seq>.parquet
//! DIR/certificates/sensor=NAME/date=YYYY-MM-DD/hour=H/<start>-<run>-<seq>.parquet
//! DIR/stats/sensor=NAME/date=YYYY-MM-DD/hour=H/<start>-<run>-<seq>.parquet
//! ```
//! `NAME` is the sensor (`--sensor`, default the host name); `<start>` is the window's
//! wall-clock start (UTC, `20250101T120000Z`), which also picks the partition; `<run>`
//! is a random id of the run ([`new_run_id`]), so sensors and restarts writing one
//! prefix never pick the same name; `<seq>` numbers the windows of a run (bumped past
//! any name that already exists).
//!
//! Invariants:
//! - A window is closed by wall clock (windows end on multiples of the interval since
//!   the epoch, so a quiet link still closes its files) or early when it holds
//!   [`RotateConfig::max_rows`] handshakes. Timestamps *inside* rows stay packet time.
//! - Rows of a window are held in memory and written when it closes, sorted by their
//!   flow sequence number. Each file is written in `DIR/.tmp/` and renamed into its
//!   partition when complete: a reader never sees a partial file (nor a temporary
//!   one in a table's folders, which polars refuses), and a crash loses at most the
//!   open window. Stale temporary files of an earlier run are deleted by
//!   [`Rotator::create`] (the folder is hidden: Hive, Spark, DuckDB and Trino skip
//!   it).
//! - Certificates are written in the window of their first sighting and never again in
//!   the same run (`seen_count` counts that window's sightings); certificates are
//!   written before handshakes, and `stats` last, so a window's `stats` file means the
//!   window is complete.
//! - Empty `handshakes` / `certificates` files are not written; `stats` always is.
//!
//! Limits: a window holds at most `max_rows` rows; the "already written" set holds at
//! most `max_certificates` hashes (beyond it certificates may be written again,
//! counted as `output.cert_written_set_full`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{
    certificates_batch, certificates_schema, handshakes_batch, handshakes_schema, stats_batch,
    stats_schema, write_table, CertTable, Format, OutputError, OutputSummary, StatsRow,
};
use crate::row::{Analyzed, HandshakeRow};
use crate::stats::Counters;

/// The three tables of a window, in the order they are written.
pub const TABLES: [&str; 3] = ["certificates", "handshakes", "stats"];

/// How to rotate.
#[derive(Debug, Clone)]
pub struct RotateConfig {
    pub dir: PathBuf,
    pub format: Format,
    /// Wall-clock length of a window.
    pub every: Duration,
    /// A window closes early once it holds this many handshakes (bounds memory).
    pub max_rows: usize,
    /// Rows per record batch.
    pub batch_rows: usize,
    /// Certificate hashes remembered as already written.
    pub max_certificates: usize,
    /// The `sensor=` partition ([`check_sensor_name`]).
    pub sensor: String,
    /// This run's id in file names ([`new_run_id`]).
    pub run_id: String,
}

/// A random id for one run (16 hex digits): in file names, so that writers sharing a
/// prefix never collide.
pub fn new_run_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // No system randomness: time and process id still differ between writers.
        let t = micros(SystemTime::now()) as u64;
        b = (t ^ (u64::from(std::process::id()) << 40)).to_be_bytes();
    }
    hex::encode(b)
}

/// A sensor (or job) name is one safe path segment and hive value: ASCII letters,
/// digits, `.`, `_` and `-`, 1 to 64 of them, not starting with `.`.
pub fn check_sensor_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?}: a sensor name is 1-64 of A-Z a-z 0-9 . _ - (not starting with .)"
        ))
    }
}

/// The host name (the default sensor name), cut to what [`check_sensor_name`] allows.
pub fn default_sensor_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(64)
        .collect();
    let name = name.trim_start_matches('.').to_owned();
    if name.is_empty() {
        "sensor".to_owned()
    } else {
        name
    }
}

/// The writer side of a live run: the open window and what earlier ones wrote.
pub struct Rotator {
    cfg: RotateConfig,
    window_start: SystemTime,
    deadline: SystemTime,
    next_seq: u64,
    rows: Vec<HandshakeRow>,
    certs: CertTable,
    written_certs: HashSet<[u8; 32]>,
    counters: Counters,
    summary: OutputSummary,
    stale_removed: u64,
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `(partition, stamp)` of a wall-clock time: `date=YYYY-MM-DD/hour=H` and
/// `YYYYMMDDTHHMMSSZ` (UTC).
fn partition_and_stamp(t: SystemTime) -> (String, String) {
    partition_and_stamp_us(micros(t))
}

/// [`partition_and_stamp`] of microseconds since the epoch (packet time too).
pub(crate) fn partition_and_stamp_us(us: i64) -> (String, String) {
    let secs = us.div_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    (
        // The hour unpadded: DuckDB types `hour=03` as text but `hour=13` as a
        // number, so a padded hour's type would depend on the hours a query scans.
        format!("date={y:04}-{mo:02}-{d:02}/hour={h}"),
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"),
    )
}

/// The end of the window containing `t`: the next multiple of `every` since the epoch.
fn window_end(t: SystemTime, every: Duration) -> SystemTime {
    let every_ms = every.as_millis().max(1);
    let t_ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let end_ms = (t_ms / every_ms + 1) * every_ms;
    UNIX_EPOCH + Duration::from_millis(u64::try_from(end_ms).unwrap_or(u64::MAX))
}

/// An exclusive lock on an output folder (`flock(2)` on the folder itself, so no file
/// is added to it), held while the value lives; the kernel releases it when the
/// process ends, however it ends, so a crash never leaves a stale lock. Two
/// `tlstap live` writing one folder would pick the same file names and delete each
/// other's temporary files.
#[derive(Debug)]
pub struct FolderLock {
    _dir: std::fs::File,
}

impl FolderLock {
    /// Take the lock on `dir` (created if missing) without waiting.
    /// `Err(OutputError::Locked)` when another process holds it.
    pub fn acquire(dir: &Path) -> Result<FolderLock, OutputError> {
        use std::os::fd::AsRawFd;
        super::check_output_dir(dir)?;
        let io = |source| OutputError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let handle = std::fs::File::open(dir).map_err(io)?;
        // SAFETY: flock takes a file descriptor we own for the call and no memory.
        let rc = unsafe { libc::flock(handle.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
                OutputError::Locked(dir.to_owned())
            } else {
                io(e)
            });
        }
        Ok(FolderLock { _dir: handle })
    }
}

/// Delete hidden temporary files (`.*.tmp`) left under `dir` by a crashed run.
fn remove_stale_temp_files(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            removed += remove_stale_temp_files(&p);
        } else if (name.starts_with('.') || dir.ends_with(super::TEMP_DIR))
            && name.ends_with(".tmp")
            && std::fs::remove_file(&p).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

impl Rotator {
    /// Start the first window at `now`, after deleting stale temporary files.
    pub fn create(cfg: RotateConfig, now: SystemTime) -> Result<Rotator, OutputError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|source| OutputError::Io {
            path: cfg.dir.clone(),
            source,
        })?;
        let stale_removed = TABLES
            .iter()
            .map(|t| cfg.dir.join(t))
            .chain([cfg.dir.join(super::TEMP_DIR)])
            .map(|d| remove_stale_temp_files(&d))
            .sum();
        Ok(Rotator {
            deadline: window_end(now, cfg.every),
            window_start: now,
            next_seq: 0,
            rows: Vec::new(),
            certs: CertTable::default(),
            written_certs: HashSet::new(),
            counters: Counters::new(),
            summary: OutputSummary::default(),
            stale_removed,
            cfg,
        })
    }

    /// Temporary files of an earlier run deleted at start.
    pub fn stale_removed(&self) -> u64 {
        self.stale_removed
    }

    /// When the open window closes by the clock.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// The open window holds `max_rows` handshakes and must close now.
    pub fn is_full(&self) -> bool {
        self.rows.len() >= self.cfg.max_rows.max(1)
    }

    /// Handshakes written so far (all windows).
    pub fn summary(&self) -> &OutputSummary {
        &self.summary
    }

    /// Add one analysed connection to the open window.
    pub fn push(&mut self, a: Analyzed) {
        for s in a.certs {
            // Sightings of certificates written in an earlier window only bump
            // counts nobody will see; the table is per window and stays small.
            self.certs
                .add(s, self.cfg.max_certificates, &mut self.counters);
        }
        self.counters.merge(&a.counters);
        self.rows.push(a.row);
    }

    /// A free `<start>-<seq>` for this window (never an existing file's name).
    fn file_name(&mut self, parts: &str, stamp: &str) -> String {
        let ext = self.cfg.format.extension();
        loop {
            let name = format!("{stamp}-{}-{:06}.{ext}", self.cfg.run_id, self.next_seq);
            self.next_seq += 1;
            let taken = TABLES
                .iter()
                .any(|t| self.cfg.dir.join(t).join(parts).join(&name).exists());
            if !taken {
                return name;
            }
        }
    }

    /// Close the open window at `now`: write its files (certificates, handshakes, then
    /// `stats`, completed with this window's numbers) and open the next one.
    pub fn rotate(
        &mut self,
        mut stats: StatsRow,
        now: SystemTime,
    ) -> Result<Vec<PathBuf>, OutputError> {
        let (parts, stamp) = partition_and_stamp(self.window_start);
        let parts = format!("sensor={}/{parts}", self.cfg.sensor);
        let name = self.file_name(&parts, &stamp);
        let dir_of = |table: &str| self.cfg.dir.join(table).join(&parts);
        let temp_dir = self.cfg.dir.join(super::TEMP_DIR);
        let (format, batch_rows) = (self.cfg.format, self.cfg.batch_rows);
        let mut files = Vec::new();

        let written = &mut self.written_certs;
        let limit = self.cfg.max_certificates;
        let mut set_full = 0u64;
        let certs = std::mem::take(&mut self.certs).into_rows_where(
            |sha256| {
                let mut key = [0u8; 32];
                if hex::decode_to_slice(sha256, &mut key).is_err() {
                    return true;
                }
                if written.contains(&key) {
                    return false;
                }
                if written.len() < limit {
                    written.insert(key);
                } else {
                    set_full += 1;
                }
                true
            },
            &mut self.counters,
        );
        self.counters.add("output.cert_written_set_full", set_full);
        if !certs.is_empty() {
            let (n, path) = write_table(
                &dir_of("certificates"),
                &temp_dir,
                &name,
                format,
                certificates_schema(),
                &certs,
                batch_rows,
                certificates_batch,
            )?;
            self.summary.certificates += n;
            stats.certificates = n;
            files.extend(path);
        }

        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_by_key(|r| r.meta.seq);
        if !rows.is_empty() {
            let (n, path) = write_table(
                &dir_of("handshakes"),
                &temp_dir,
                &name,
                format,
                handshakes_schema(),
                &rows,
                batch_rows,
                handshakes_batch,
            )?;
            for r in &rows {
                self.summary.count(r);
            }
            self.summary.handshakes += n;
            stats.handshakes = n;
            files.extend(path);
        }

        stats.window_start_us = micros(self.window_start);
        stats.window_end_us = micros(now);
        stats.handshakes_total = self.summary.handshakes;
        let (_, path) = write_table(
            &dir_of("stats"),
            &temp_dir,
            &name,
            format,
            stats_schema(),
            &[stats],
            batch_rows,
            stats_batch,
        )?;
        files.extend(path);
        self.summary.files.extend(files.iter().cloned());

        self.window_start = now;
        self.deadline = window_end(now, self.cfg.every);
        Ok(files)
    }

    /// Close the last window; the summary of the whole run and the writer's counters.
    pub fn finish(
        mut self,
        stats: StatsRow,
        now: SystemTime,
    ) -> Result<(OutputSummary, Counters), OutputError> {
        self.rotate(stats, now)?;
        Ok((self.summary, self.counters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_partitions_are_utc_civil_time() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let t = UNIX_EPOCH + Duration::from_secs(1_735_732_800 + 3 * 3600 + 62);
        let (p, s) = partition_and_stamp(t);
        assert_eq!(p, "date=2025-01-01/hour=15");
        assert_eq!(s, "20250101T150102Z");
    }

    #[test]
    fn windows_end_on_multiples_of_the_interval() {
        let t = UNIX_EPOCH + Duration::from_millis(125_500);
        let e = window_end(t, Duration::from_secs(60));
        assert_eq!(e, UNIX_EPOCH + Duration::from_secs(180));
        let e = window_end(
            UNIX_EPOCH + Duration::from_secs(180),
            Duration::from_secs(60),
        );
        assert_eq!(e, UNIX_EPOCH + Duration::from_secs(240));
    }

    #[test]
    fn stale_temp_files_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("handshakes/date=2025-01-01/hour=00");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join(".a.parquet.tmp"), b"x").unwrap();
        std::fs::write(part.join("a.parquet"), b"x").unwrap();
        let cfg = RotateConfig {
            dir: dir.path().to_owned(),
            format: Format::Parquet,
            every: Duration::from_secs(60),
            max_rows: 10,
            batch_rows: 10,
            max_certificates: 10,
            sensor: "s1".into(),
            run_id: "r1".into(),
        };
        let r = Rotator::create(cfg, SystemTime::now()).unwrap();
        assert_eq!(r.stale_removed(), 1);
        assert!(part.join("a.parquet").exists());
        assert!(!part.join(".a.parquet.tmp").exists());
    }

    #[test]
    fn a_quiet_window_still_writes_its_stats_file_and_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = RotateConfig {
            dir: dir.path().to_owned(),
            format: Format::Jsonl,
            every: Duration::from_secs(1),
            max_rows: 10,
            batch_rows: 10,
            max_certificates: 10,
            sensor: "s1".into(),
            run_id: "r1".into(),
        };
        let t0 = UNIX_EPOCH + Duration::from_secs(1_735_732_800);
        let mut r = Rotator::create(cfg.clone(), t0).unwrap();
        let files = r.rotate(StatsRow::default(), t0).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0]
            .ends_with("stats/sensor=s1/date=2025-01-01/hour=12/20250101T120000Z-r1-000000.jsonl"));
        // A second run starting in the same second picks the next free name.
        let mut r2 = Rotator::create(cfg, t0).unwrap();
        let files2 = r2.rotate(StatsRow::default(), t0).unwrap();
        assert!(
            files2[0].ends_with("20250101T120000Z-r1-000001.jsonl"),
            "{files2:?}"
        );
    }
}
