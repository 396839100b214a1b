//! The spool: live windows land in a local folder first and a thread of their own
//! (`tlstap-upload`) uploads them to the store, oldest first, deleting each local file
//! once the store has it.
//!
//! Why: capture must never wait for the network. When the store is unreachable or
//! slow, windows pile up in the spool (bounded by [`SpoolConfig::max_bytes`]) and go
//! up when it is back; files left at exit (or by a crash) are uploaded by the next
//! start on the same spool.
//!
//! Invariants:
//! - Only complete files are uploaded: the rotator writes hidden `.…tmp` names and
//!   renames, and hidden files are never picked up.
//! - Order: by window name (`<UTC start>-<run id>-<seq>`), and within a window
//!   certificates, handshakes, then stats, so a window's `stats` object in the store
//!   means the window is complete there too.
//! - Never half, never twice: each upload is all-or-nothing ([`Store::upload_file`]);
//!   the key is the file's path below the spool, so a file uploaded again after a
//!   crash (uploaded, not yet deleted) replaces the same object with the same bytes.
//! - Bounded: beyond `max_bytes`, the oldest whole windows are deleted unsent and
//!   counted (`spool.dropped_files`, `spool.dropped_bytes`), never part of one and
//!   never the one being uploaded.
//!
//! Counters (in every live stats row): `spool.uploaded_files`, `spool.uploaded_bytes`,
//! `spool.upload_errors`, `spool.pending_files`, `spool.pending_bytes`,
//! `spool.dropped_files`, `spool.dropped_bytes`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::delta::DeltaTables;
use super::{Store, StoreError};
use crate::output::rotate::TABLES;

/// Index of `stats` in [`TABLES`]: written last in a window.
const STATS_TABLE: usize = 2;

/// Wait after a failed upload: doubles from the first to the last.
pub const RETRY_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_secs(30));

/// How the spool behaves.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The local folder (the rotator writes here).
    pub dir: PathBuf,
    /// Most bytes kept waiting; beyond it the oldest windows are dropped.
    pub max_bytes: u64,
    /// One upload attempt gives up after this long.
    pub upload_timeout: Duration,
    /// Commit each window's files to Delta tables once uploaded.
    pub delta: bool,
}

#[derive(Default)]
struct Counts {
    uploaded_files: AtomicU64,
    uploaded_bytes: AtomicU64,
    upload_errors: AtomicU64,
    pending_files: AtomicU64,
    pending_bytes: AtomicU64,
    dropped_files: AtomicU64,
    dropped_bytes: AtomicU64,
    table_commits: AtomicU64,
    table_commit_errors: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Set by [`Spool::finish`]: upload what is there, then stop.
    draining: bool,
    /// When draining must end, uploaded or not.
    deadline: Option<Instant>,
    /// A new window was written since the thread last looked.
    kicked: bool,
    /// The file being uploaded (never dropped by the bound).
    uploading: Option<PathBuf>,
    last_error: Option<String>,
}

struct Shared {
    cfg: SpoolConfig,
    store: Store,
    /// The Delta logs windows are committed to (`--table delta`).
    tables: Option<Mutex<DeltaTables>>,
    state: Mutex<State>,
    wake: Condvar,
    counts: Counts,
}

/// What [`Spool::finish`] left behind.
#[derive(Debug, Default, Clone)]
pub struct SpoolLeft {
    pub files: u64,
    pub bytes: u64,
    /// The last upload error, when files are left because of it.
    pub last_error: Option<String>,
    /// The `spool.*` counters at the end.
    pub counters: Vec<(&'static str, u64)>,
}

/// The uploader of a spool folder.
pub struct Spool {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One complete file waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Waiting {
    path: PathBuf,
    /// Path below the spool with `/` (the object key below the store's prefix).
    rel: String,
    /// The window's file name without extension (the same for its tables).
    window: String,
    table: usize,
    bytes: u64,
}

/// Every complete (not hidden) file below `dir`, in upload order.
fn scan(dir: &Path) -> Vec<Waiting> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Waiting>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path();
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                walk(root, &path, out);
                continue;
            }
            let Some(rel) = super::key_below(root, &path) else {
                continue;
            };
            let first = rel.split('/').next().unwrap_or("");
            let table = TABLES
                .iter()
                .position(|t| *t == first)
                .unwrap_or(TABLES.len());
            let window = name.split('.').next().unwrap_or(&name).to_owned();
            out.push(Waiting {
                path: path.clone(),
                rel,
                window,
                table,
                bytes: md.len(),
            });
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort_by(|a, b| (&a.window, a.table, &a.rel).cmp(&(&b.window, b.table, &b.rel)));
    out
}

/// Delete empty folders below `dir` (not `dir` itself).
fn prune_empty(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            prune_empty(&p);
            let _ = std::fs::remove_dir(&p);
        }
    }
}

impl Shared {
    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counts;
        [
            ("spool.uploaded_files", &c.uploaded_files),
            ("spool.uploaded_bytes", &c.uploaded_bytes),
            ("spool.upload_errors", &c.upload_errors),
            ("spool.pending_files", &c.pending_files),
            ("spool.pending_bytes", &c.pending_bytes),
            ("spool.dropped_files", &c.dropped_files),
            ("spool.dropped_bytes", &c.dropped_bytes),
            ("spool.table_commits", &c.table_commits),
            ("spool.table_commit_errors", &c.table_commit_errors),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
        .collect()
    }

    /// Scan, drop the oldest windows beyond the bound, publish the pending counts.
    fn survey(&self) -> Vec<Waiting> {
        let mut waiting = scan(&self.cfg.dir);
        let mut total: u64 = waiting.iter().map(|w| w.bytes).sum();
        if total > self.cfg.max_bytes {
            let busy = self
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .uploading
                .clone();
            let busy_window = busy
                .as_ref()
                .and_then(|b| waiting.iter().find(|w| &w.path == b))
                .map(|w| w.window.clone());
            let mut windows: Vec<String> = waiting.iter().map(|w| w.window.clone()).collect();
            windows.dedup();
            for window in windows {
                if total <= self.cfg.max_bytes {
                    break;
                }
                if Some(&window) == busy_window.as_ref() {
                    continue;
                }
                for w in waiting.iter().filter(|w| w.window == window) {
                    if std::fs::remove_file(&w.path).is_ok() {
                        total -= w.bytes;
                        self.counts.dropped_files.fetch_add(1, Ordering::Relaxed);
                        self.counts
                            .dropped_bytes
                            .fetch_add(w.bytes, Ordering::Relaxed);
                    }
                }
                waiting.retain(|w| w.window != window);
            }
        }
        self.counts
            .pending_files
            .store(waiting.len() as u64, Ordering::Relaxed);
        self.counts.pending_bytes.store(total, Ordering::Relaxed);
        waiting
    }

    fn upload(&self, w: &Waiting) -> Result<(), StoreError> {
        // While draining at stop, no upload outlasts the drain's deadline.
        let limit = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.uploading = Some(w.path.clone());
            match st.deadline {
                Some(t) => t
                    .saturating_duration_since(Instant::now())
                    .min(self.cfg.upload_timeout),
                None => self.cfg.upload_timeout,
            }
        };
        let r = self.store.upload_file(&w.path, &w.rel, limit);
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .uploading = None;
        let n = r?;
        self.counts.uploaded_files.fetch_add(1, Ordering::Relaxed);
        self.counts.uploaded_bytes.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Wait up to `d` for a kick or the drain deadline. Returns false once draining
    /// is past its deadline.
    fn pause(&self, d: Duration) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !st.kicked && !st.draining {
            st = self
                .wake
                .wait_timeout(st, d)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        } else if st.draining {
            let left = st.deadline.map_or(Duration::ZERO, |t| {
                t.saturating_duration_since(Instant::now())
            });
            drop(st);
            std::thread::sleep(d.min(left));
            st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        }
        st.kicked = false;
        !(st.draining && st.deadline.is_some_and(|t| Instant::now() >= t))
    }

    fn run(&self) {
        let mut backoff = RETRY_BACKOFF.0;
        loop {
            let waiting = self.survey();
            let draining = self
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .draining;
            if waiting.is_empty() {
                if draining {
                    return;
                }
                self.pause(Duration::from_secs(1));
                continue;
            }
            let mut failed = false;
            let mut waiting_for_window = false;
            let windows = by_window(&waiting);
            for (i, files) in windows.iter().enumerate() {
                // The newest window may still be being written; its stats file, written
                // last, says it is complete (so does a newer window).
                let complete = draining
                    || i + 1 < windows.len()
                    || files.iter().any(|w| w.table == STATS_TABLE);
                if !complete {
                    waiting_for_window = true;
                    break;
                }
                match self.send_window(files) {
                    Ok(()) => backoff = RETRY_BACKOFF.0,
                    Err(e) => {
                        self.state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .last_error = Some(e);
                        failed = true;
                        break; // keep the order: retry this window first
                    }
                }
                let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.draining && st.deadline.is_some_and(|t| Instant::now() >= t) {
                    return;
                }
            }
            if failed {
                if !self.pause(backoff) {
                    return;
                }
                backoff = (backoff * 2).min(RETRY_BACKOFF.1);
            } else if waiting_for_window && !self.pause(Duration::from_millis(200)) {
                return;
            }
        }
    }

    /// Upload one window's files, commit them to their tables (`--table delta`), then
    /// delete the local copies. A failure leaves them all for the next try (uploads
    /// and adds of the same files are idempotent).
    fn send_window(&self, files: &[&Waiting]) -> Result<(), String> {
        let files: Vec<&Waiting> = files.iter().copied().filter(|w| w.path.exists()).collect();
        for w in &files {
            if let Err(e) = self.upload(w) {
                self.counts.upload_errors.fetch_add(1, Ordering::Relaxed);
                return Err(e.to_string());
            }
        }
        if let Some(tables) = &self.tables {
            let list: Vec<(String, &Path)> = files
                .iter()
                .map(|w| (w.rel.clone(), w.path.as_path()))
                .collect();
            let mut tables = tables.lock().unwrap_or_else(|e| e.into_inner());
            match tables.commit_files(&list) {
                Ok(n) => {
                    self.counts.table_commits.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counts
                        .table_commit_errors
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(e.to_string());
                }
            }
        }
        for w in &files {
            // In the store (and its table): the local copy goes. If this process dies
            // first, the next start sends it again: the same object and the same add.
            let _ = std::fs::remove_file(&w.path);
        }
        Ok(())
    }
}

/// Waiting files grouped by window, in upload order.
fn by_window(waiting: &[Waiting]) -> Vec<Vec<&Waiting>> {
    let mut out: Vec<Vec<&Waiting>> = Vec::new();
    for w in waiting {
        match out.last_mut() {
            Some(g) if g[0].window == w.window => g.push(w),
            _ => out.push(vec![w]),
        }
    }
    out
}

impl Spool {
    /// Start uploading `cfg.dir` (created if missing) to `store`. Files an earlier
    /// run left there go first.
    pub fn start(store: Store, cfg: SpoolConfig) -> Result<Spool, StoreError> {
        std::fs::create_dir_all(&cfg.dir).map_err(|source| StoreError::Local {
            path: cfg.dir.display().to_string(),
            source,
        })?;
        prune_empty(&cfg.dir);
        let shared = Arc::new(Shared {
            tables: cfg
                .delta
                .then(|| Mutex::new(DeltaTables::new(store.clone()))),
            cfg,
            store,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            counts: Counts::default(),
        });
        shared.survey();
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tlstap-upload".into())
            .spawn(move || {
                s.run();
                crate::threadcpu::finish_thread();
            })
            .map_err(|source| StoreError::Local {
                path: "upload thread".into(),
                source,
            })?;
        Ok(Spool {
            shared,
            thread: Some(thread),
        })
    }

    /// A window was written: look now rather than at the next poll. Also applies the
    /// bound at once.
    pub fn kick(&self) {
        self.shared.survey();
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kicked = true;
        self.shared.wake.notify_all();
    }

    /// The `spool.*` counters, for the stats row.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.shared.counters()
    }

    /// Upload what is left within `within`, then stop. Files not uploaded by then
    /// stay in the spool for the next start.
    pub fn finish(mut self, within: Duration) -> SpoolLeft {
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.draining = true;
            st.deadline = Some(Instant::now() + within);
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let left = self.shared.survey();
        prune_empty(&self.shared.cfg.dir);
        let last_error = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_error
            .take();
        SpoolLeft {
            counters: self.shared.counters(),
            files: left.len() as u64,
            bytes: left.iter().map(|w| w.bytes).sum(),
            last_error: (!left.is_empty()).then_some(last_error).flatten(),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.draining = true;
            st.deadline = Some(Instant::now());
            drop(st);
            self.shared.wake.notify_all();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::*;

    fn put(dir: &Path, rel: &str, n: usize) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, vec![b'x'; n]).unwrap();
    }

    #[test]
    fn order_is_window_then_table_and_hidden_files_wait() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        put(
            d,
            "stats/sensor=a/date=2025-01-01/hour=00/20250101T000000Z-r-000000.parquet",
            1,
        );
        put(
            d,
            "handshakes/sensor=a/date=2025-01-01/hour=00/20250101T000000Z-r-000000.parquet",
            1,
        );
        put(
            d,
            "certificates/sensor=a/date=2025-01-01/hour=00/20250101T000000Z-r-000000.parquet",
            1,
        );
        put(
            d,
            "handshakes/sensor=a/date=2025-01-01/hour=00/20250101T000100Z-r-000001.parquet",
            1,
        );
        put(
            d,
            "handshakes/sensor=a/date=2025-01-01/hour=00/.20250101T000200Z-r-000002.parquet.tmp",
            1,
        );
        let order: Vec<String> = scan(d).into_iter().map(|w| w.rel).collect();
        assert_eq!(
            order,
            vec![
                "certificates/sensor=a/date=2025-01-01/hour=00/20250101T000000Z-r-000000.parquet",
                "handshakes/sensor=a/date=2025-01-01/hour=00/20250101T000000Z-r-000000.parquet",
                "stats/sensor=a/date=2025-01-01/hour=00/20250101T000000Z-r-000000.parquet",
                "handshakes/sensor=a/date=2025-01-01/hour=00/20250101T000100Z-r-000001.parquet",
            ]
        );
    }

    fn start(store: Store, dir: &Path) -> Spool {
        let cfg = SpoolConfig {
            dir: dir.to_owned(),
            max_bytes: 1000,
            upload_timeout: Duration::from_secs(10),
            delta: false,
        };
        Spool::start(store, cfg).unwrap()
    }

    #[test]
    fn uploads_everything_then_the_bound_drops_oldest_whole_windows_while_the_store_is_down() {
        let tmp = tempfile::tempdir().unwrap();
        let spool_dir = tmp.path().join("spool");
        let lake = tmp.path().join("lake");
        let store = Store::create(
            &format!("file://{}", lake.display()),
            &StoreOptions::default(),
        )
        .unwrap();
        put(&spool_dir, "handshakes/p/w1-r-0.parquet", 10);
        put(&spool_dir, "stats/p/w1-r-0.parquet", 10);
        let spool = start(store, &spool_dir);
        put(&spool_dir, "handshakes/p/w2-r-1.parquet", 10);
        spool.kick();
        let left = spool.finish(Duration::from_secs(20));
        assert_eq!(left.files, 0, "{left:?}");
        for rel in [
            "handshakes/p/w1-r-0.parquet",
            "stats/p/w1-r-0.parquet",
            "handshakes/p/w2-r-1.parquet",
        ] {
            assert!(lake.join(rel).is_file(), "{rel}");
        }
        assert!(scan(&spool_dir).is_empty());

        // A store that cannot be written (a file where its folder should be): the
        // files stay, the bound drops the oldest window whole.
        let blocked = tmp.path().join("blocked");
        std::fs::create_dir_all(&blocked).unwrap();
        let store = Store::create(
            &format!("file://{}", blocked.display()),
            &StoreOptions::default(),
        )
        .unwrap();
        std::fs::write(blocked.join("handshakes"), b"not a folder").unwrap();
        std::fs::write(blocked.join("stats"), b"not a folder").unwrap();
        put(&spool_dir, "handshakes/p/w3-r-2.parquet", 400);
        put(&spool_dir, "stats/p/w3-r-2.parquet", 400);
        put(&spool_dir, "handshakes/p/w4-r-3.parquet", 400);
        let spool = start(store, &spool_dir);
        let left = spool.finish(Duration::from_millis(300));
        let rest: Vec<String> = scan(&spool_dir).into_iter().map(|w| w.rel).collect();
        assert_eq!(rest, vec!["handshakes/p/w4-r-3.parquet"]);
        assert_eq!(left.files, 1);
        assert!(left.last_error.is_some());
    }
}
