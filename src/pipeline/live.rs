//! The live pipeline: one capture thread → parser threads → rotating writer.
//!
//! ```text
//!  capture thread               parser threads            writer (caller's thread)
//!  libpcap → decode → flows  →  analyze_flow           →  window of rows, rotated by
//!  (capture_loop, as `read`)    (TLS, JA3/JA4, X.509)     wall clock or row count
//!        try_send: full → drop and count                  recv with a deadline
//! ```
//! The capture thread never blocks while capturing: when the parse queue is full the
//! batch is dropped and counted (`live.parse_queue_full`, in handshakes), so the kernel
//! buffer keeps draining and libpcap's own drop counter stays honest. Parser threads
//! block on the writer; back-pressure therefore ends in that one counted drop.
//!
//! Stopping (the `shutdown` flag, set by SIGINT/SIGTERM in the binary): the source
//! drains what the kernel captured before the stop, the flow table ships every open
//! handshake (`FlowTable::flush_all`), and those final batches are sent blocking, so
//! nothing captured is lost; the writer closes the last window when the queues are
//! empty. A writer failure sets `abort` instead, which ends capture at once.
//!
//! One run per output folder: [`run_live`] holds an exclusive lock on the folder
//! itself (`FolderLock`) for its whole life and refuses to start when another holds
//! it.
//!
//! Health: the capture thread snapshots its counters ([`LiveStatus`]); the writer
//! prints a stats line every `stats_every` and writes a `stats` row per window.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use super::shard::{self, LiveDispatch, Part};
use super::{capture_loop, spawn_named, InputProblem, LiveCounters, RunError, RunReport};
use crate::certs::chain::{TrustStore, Validator, DEFAULT_CACHE_LIMIT};
use crate::decode::{Decoder, DecoderLimits};
use crate::flow::table::{FlowLimits, FlowRecord, FlowTable};
use crate::output::rotate::FolderLock;
use crate::output::TableFormat;
use crate::output::{OutputError, RotateConfig, Rotator, StatsRow};
use crate::row::{analyze_flows, Analyzed, CertClaims};
use crate::source::live::CaptureStats;
use crate::source::{
    AfPacketConfig, AfPacketSource, FanoutConfig, FanoutMode, ListenSpec, LiveCapture, LiveConfig,
    LiveError, LiveSource, UdpListener,
};
use crate::stats::Counters;
use crate::store::delta::DeltaTables;
use crate::store::spool::{Spool, SpoolConfig};

/// Everything a live run needs.
#[derive(Debug, Clone)]
pub struct LiveRunConfig {
    /// The interface to capture on with libpcap (unused when `listen` is not empty).
    pub capture: LiveConfig,
    /// UDP sockets receiving mirrored traffic (`--listen-udp`) instead of an interface.
    pub listen: Vec<ListenSpec>,
    pub rotate: RotateConfig,
    /// Parser threads.
    pub threads: usize,
    /// How the interface is captured (unused with `listen`).
    pub engine: CaptureEngine,
    /// Flow workers, each with its own flow table and share of the memory limit; with
    /// [`CaptureEngine::AfPacket`] also the number of capture sockets (one fanout
    /// group). 1: the capture thread follows the flows itself.
    pub workers: usize,
    /// Flow-table limits; `flow.max_memory` is the whole process's limit (see
    /// [`super::table_memory`]; the rows of a rotation window come on top, bounded by
    /// the rotation's row cap).
    pub flow: FlowLimits,
    pub decoder: DecoderLimits,
    /// Batches waiting for the parsers before the capture thread drops.
    pub queue_batches: usize,
    /// Distinct certificates parsed once per run.
    pub max_cert_cache: usize,
    /// Roots for chain validation.
    pub trust: TrustStore,
    /// Period of the stats line on stderr (`None`: no line).
    pub stats_every: Option<Duration>,
    /// Upload windows to object storage: `rotate.dir` is then the spool they are
    /// uploaded from ([`crate::store::spool`]).
    pub upload: Option<LiveUpload>,
    /// Commit each window's files to a table format (after upload, when uploading).
    pub table: TableFormat,
}

/// Delta commits of a local live output, made by the writer after each window.
struct LocalTables {
    tables: DeltaTables,
    root: std::path::PathBuf,
    commits: u64,
    errors: u64,
    last_error: Option<String>,
}

impl LocalTables {
    fn open(root: &std::path::Path) -> Result<LocalTables, crate::store::StoreError> {
        let store = crate::store::Store::local_folder(root)?;
        Ok(LocalTables {
            tables: DeltaTables::new(store),
            root: root.to_owned(),
            commits: 0,
            errors: 0,
            last_error: None,
        })
    }

    /// Commit a closed window's files; a failure is counted (the files stay in the
    /// hive layout) and capture goes on.
    fn commit(&mut self, files: &[std::path::PathBuf]) {
        let list = crate::store::keys_below(&self.root, files);
        match self.tables.commit_files(&list) {
            Ok(n) => self.commits += n,
            Err(e) => {
                self.errors += 1;
                self.last_error = Some(e.to_string());
            }
        }
    }
}

/// Where and how a live run uploads its windows.
#[derive(Debug, Clone)]
pub struct LiveUpload {
    pub store: crate::store::Store,
    /// Bound of the spool ([`SpoolConfig::max_bytes`]).
    pub max_bytes: u64,
    /// At stop, how long to keep uploading before exiting.
    pub drain: Duration,
}

/// How `live` reads an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureEngine {
    /// libpcap: one capture thread (any OS).
    #[default]
    Pcap,
    /// Linux AF_PACKET TPACKET_V3 rings, one socket and capture thread per worker in a
    /// `PACKET_FANOUT` hash group.
    AfPacket,
}

/// Why a live run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LiveRunError {
    #[error(transparent)]
    Capture(#[from] LiveError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What the capture thread last published (read by the writer).
#[derive(Debug, Default)]
struct LiveStatus {
    counters: Mutex<Counters>,
    flows_open: AtomicU64,
    flows_seen: AtomicU64,
    tls_flows: AtomicU64,
    peak_open_flows: AtomicU64,
    tcp_segments: AtomicU64,
    udp_datagrams: AtomicU64,
    udp_flows: AtomicU64,
    queue_dropped: AtomicU64,
}

impl LiveStatus {
    /// Publish a flow table's totals (and, inline, its capture thread's decoder's).
    fn store_table(&self, table: &FlowTable, decoder: Option<&Decoder>) {
        let fs = table.stats();
        let mut c = fs.counters.clone();
        if let Some(d) = decoder {
            c.merge(d.counters());
        }
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()) = c;
        self.flows_open
            .store(table.open_flows() as u64, Ordering::Relaxed);
        self.flows_seen.store(fs.flows_seen, Ordering::Relaxed);
        self.udp_flows.store(fs.udp_flows, Ordering::Relaxed);
        self.udp_datagrams
            .store(fs.udp_datagrams, Ordering::Relaxed);
        self.tls_flows.store(fs.tls_flows, Ordering::Relaxed);
        self.peak_open_flows
            .store(fs.peak_open_flows, Ordering::Relaxed);
    }
}

/// Sum of one field over every thread's status.
fn total(statuses: &[LiveStatus], field: impl Fn(&LiveStatus) -> &AtomicU64) -> u64 {
    statuses
        .iter()
        .map(|s| field(s).load(Ordering::Relaxed))
        .sum()
}

/// Resident memory of this process, from `/proc/self/status` (0 where unavailable).
fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

struct Health<'a> {
    interface: &'a str,
    live: &'a LiveCounters,
    /// One per capture thread and flow worker.
    statuses: &'a [LiveStatus],
    /// One per capture socket.
    captures: &'a [Arc<CaptureStats>],
    /// Times a capture thread waited for a flow worker's queue.
    flow_queue_waits: &'a AtomicU64,
    /// The uploader, when writing to object storage.
    spool: Option<&'a Spool>,
    /// Delta commits of a local output (`--table delta` without upload).
    tables: Option<&'a Mutex<LocalTables>>,
}

impl Health<'_> {
    /// A window was written: the uploader looks at once; a local table commits it.
    fn rotated(&self, files: &[std::path::PathBuf]) {
        if let Some(spool) = self.spool {
            spool.kick();
        }
        if let Some(t) = self.tables {
            t.lock().unwrap_or_else(|e| e.into_inner()).commit(files);
        }
    }

    fn counters(&self) -> Counters {
        let mut drops = Counters::new();
        for s in self.statuses {
            drops.merge(&s.counters.lock().unwrap_or_else(|e| e.into_inner()));
        }
        drops.add(
            "live.parse_queue_full",
            total(self.statuses, |s| &s.queue_dropped),
        );
        drops.add(
            "live.flow_queue_waits",
            self.flow_queue_waits.load(Ordering::Relaxed),
        );
        drops
    }

    fn row(&self) -> StatsRow {
        let drops = self.counters();
        let sum = |f: fn(&CaptureStats) -> &AtomicU64| -> u64 {
            self.captures
                .iter()
                .map(|c| f(c).load(Ordering::Relaxed))
                .sum()
        };
        let mut drops: Vec<(String, u64)> = drops.iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Some(spool) = self.spool {
            drops.extend(spool.counters().into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
        if let Some(t) = self.tables {
            let t = t.lock().unwrap_or_else(|e| e.into_inner());
            drops.push(("table.commits".into(), t.commits));
            drops.push(("table.commit_errors".into(), t.errors));
        }
        if self.captures.len() > 1 {
            // Per fanout socket: which worker's ring overflows.
            for (i, c) in self.captures.iter().enumerate() {
                drops.push((
                    format!("capture.{i}.received"),
                    c.received.load(Ordering::Relaxed),
                ));
                drops.push((
                    format!("capture.{i}.dropped_kernel"),
                    c.dropped_kernel.load(Ordering::Relaxed),
                ));
            }
        }
        StatsRow {
            interface: self.interface.to_owned(),
            packets_received: sum(|c| &c.received),
            packets_dropped_kernel: sum(|c| &c.dropped_kernel),
            packets_dropped_interface: sum(|c| &c.dropped_interface),
            packets_processed: self.live.packets.load(Ordering::Relaxed),
            bytes_processed: self.live.bytes.load(Ordering::Relaxed),
            drops,
            flows_open: total(self.statuses, |s| &s.flows_open),
            rss_bytes: rss_bytes(),
            ..StatsRow::default()
        }
    }

    fn line(&self, written: u64) -> String {
        let r = self.row();
        let tlstap_drops: u64 = r
            .drops
            .iter()
            .filter(|(k, _)| k.ends_with("_limit") || k.ends_with("_full"))
            .map(|(_, v)| v)
            .sum();
        let spool = match self.spool {
            Some(sp) => {
                let c: std::collections::HashMap<_, _> = sp.counters().into_iter().collect();
                format!(
                    "; upload: {} files sent, {} waiting ({:.1} MiB), {} errors, {} dropped",
                    c["spool.uploaded_files"],
                    c["spool.pending_files"],
                    c["spool.pending_bytes"] as f64 / (1024.0 * 1024.0),
                    c["spool.upload_errors"],
                    c["spool.dropped_files"],
                )
            }
            None => String::new(),
        };
        format!(
            "tlstap live {}: {} packets received, dropped: kernel {} interface {} tlstap {} \
             (queue {}); {} flows open; {} handshakes written; RSS {:.1} MiB{spool}",
            r.interface,
            r.packets_received,
            r.packets_dropped_kernel,
            r.packets_dropped_interface,
            tlstap_drops,
            total(self.statuses, |s| &s.queue_dropped),
            r.flows_open,
            written,
            r.rss_bytes as f64 / (1024.0 * 1024.0),
        )
    }
}

/// Open the capture sockets: one for libpcap or the UDP listener, one per worker for
/// AF_PACKET (a fanout group when more than one).
fn open_sources(
    cfg: &LiveRunConfig,
    shutdown: &Arc<AtomicBool>,
) -> Result<Vec<Box<dyn LiveSource>>, LiveError> {
    if !cfg.listen.is_empty() {
        let l = UdpListener::open(
            &cfg.listen,
            cfg.capture.buffer_bytes as usize,
            shutdown.clone(),
        )?;
        return Ok(vec![Box::new(l)]);
    }
    match cfg.engine {
        CaptureEngine::Pcap => Ok(vec![Box::new(LiveCapture::open(
            &cfg.capture,
            shutdown.clone(),
        )?)]),
        CaptureEngine::AfPacket => {
            let workers = cfg.workers.max(1);
            // A group id of our own: sockets of other processes with the same id on
            // the same interface would join the group.
            let group_id = (std::process::id() & 0xffff) as u16;
            let af = AfPacketConfig {
                interface: cfg.capture.interface.clone(),
                fanout: (workers > 1).then_some(FanoutConfig {
                    group_id,
                    mode: FanoutMode::Hash,
                }),
                snaplen: cfg.capture.snaplen,
                promisc: cfg.capture.promisc,
                bpf: cfg.capture.bpf.clone(),
                ..AfPacketConfig::default()
            };
            (0..workers)
                .map(|i| {
                    AfPacketSource::open(&af, i, shutdown.clone())
                        .map(|s| Box::new(s) as Box<dyn LiveSource>)
                })
                .collect()
        }
    }
}

/// Capture from `cfg.capture` until `shutdown` is set, writing rotated files.
/// `on_start` is called once the capture is open (the binary prints "capturing").
pub fn run_live(
    cfg: &LiveRunConfig,
    shutdown: Arc<AtomicBool>,
    on_start: impl FnOnce(&dyn LiveSource),
) -> Result<RunReport, LiveRunError> {
    let workers = cfg.workers.max(1);
    let flow = FlowLimits {
        max_memory: super::table_memory(cfg.flow.max_memory, cfg.threads, workers)?,
        ..cfg.flow
    };
    // An existing folder is locked before the capture opens (a refused second start
    // needs no privileges); a new one only once the capture works, so a capture that
    // cannot start creates nothing.
    let early = match cfg.rotate.dir.is_dir() {
        true => Some(FolderLock::acquire(&cfg.rotate.dir)?),
        false => None,
    };
    let mut sources = open_sources(cfg, &shutdown)?;
    let _lock = match early {
        Some(lock) => lock,
        None => FolderLock::acquire(&cfg.rotate.dir)?,
    };
    let Some(first) = sources.first() else {
        return Err(LiveRunError::Run(RunError::Threads(
            "no capture socket".into(),
        )));
    };
    // Rows name the interface (`live:eth0`), not one fanout socket of it.
    let name = first.name();
    let name = name.split('#').next().unwrap_or(&name).to_owned();
    let mut rotator = Rotator::create(cfg.rotate.clone(), SystemTime::now())?;
    // Uploads what an earlier run left in the spool first.
    let spool = match &cfg.upload {
        Some(u) => Some(Spool::start(
            u.store.clone(),
            SpoolConfig {
                dir: cfg.rotate.dir.clone(),
                max_bytes: u.max_bytes,
                upload_timeout: crate::output::UPLOAD_TIMEOUT,
                delta: cfg.table == TableFormat::Delta,
            },
        )?),
        None => None,
    };
    let local_tables = match (&cfg.upload, cfg.table) {
        (None, TableFormat::Delta) => Some(Mutex::new(LocalTables::open(&cfg.rotate.dir)?)),
        _ => None,
    };
    let captures: Vec<Arc<CaptureStats>> = sources.iter().map(|s| s.capture_stats()).collect();
    on_start(&*sources[0]);

    // One flow table in the capture thread, or flow workers fed by every capture
    // thread.
    let sharded = workers > 1 || sources.len() > 1;
    let (parse_tx, parse_rx) = bounded::<Vec<FlowRecord>>(cfg.queue_batches.max(1));
    let (write_tx, write_rx) = bounded::<Vec<Analyzed>>(cfg.queue_batches.max(1));
    let live = LiveCounters::default();
    // Capture threads first, then flow workers.
    let statuses: Vec<LiveStatus> = (0..sources.len() + if sharded { workers } else { 0 })
        .map(|_| LiveStatus::default())
        .collect();
    let flow_queue_waits = AtomicU64::new(0);
    let abort = AtomicBool::new(false);
    let claims = CertClaims::new(cfg.max_cert_cache);
    let validator = Validator::new(cfg.trust.clone(), DEFAULT_CACHE_LIMIT);
    let source: Arc<str> = Arc::from(name.as_str());
    let health = Health {
        interface: name.strip_prefix("live:").unwrap_or(&name),
        live: &live,
        statuses: &statuses,
        captures: &captures,
        flow_queue_waits: &flow_queue_waits,
        spool: spool.as_ref(),
        tables: local_tables.as_ref(),
    };

    let mut report = RunReport {
        files: 1,
        ..Default::default()
    };
    let mut problems = Vec::new();
    let n_sources = sources.len();
    let written = std::thread::scope(|s| -> Result<_, LiveRunError> {
        let (spare_tx, spare_rx) = shard::spares();
        let mut to_workers = Vec::new();
        if sharded {
            for w in 0..workers {
                let (tx, rx) = bounded::<Part>(shard::WORKER_QUEUE);
                to_workers.push(tx);
                let (parse_tx, spare_tx) = (parse_tx.clone(), spare_tx.clone());
                let (status, shutdown) = (&statuses[n_sources + w], &shutdown);
                spawn_named(s, format!("tlstap-flow-{w}"), move || {
                    shard::live_worker_loop(
                        rx,
                        spare_tx,
                        FlowTable::new(flow),
                        |recs| emit_live(&parse_tx, shutdown, status, recs),
                        |t| status.store_table(t, None),
                    )
                });
            }
        }
        let mut captures = Vec::new();
        for (i, src) in sources.iter_mut().enumerate() {
            let (live, abort, shutdown, status) = (&live, &abort, &shutdown, &statuses[i]);
            let (to_workers, spare_rx) = (to_workers.clone(), spare_rx.clone());
            let waited = &flow_queue_waits;
            let parse_tx = parse_tx.clone();
            let name = if n_sources > 1 {
                format!("tlstap-capture-{i}")
            } else {
                "tlstap-capture".to_owned()
            };
            captures.push(spawn_named(s, name, move || {
                if to_workers.is_empty() {
                    capture_thread(
                        &mut **src, cfg, flow, live, status, abort, shutdown, parse_tx,
                    )
                } else {
                    drop(parse_tx);
                    let mut sink = LiveDispatch::new(
                        &to_workers,
                        &spare_rx,
                        cfg.flow.tunnel_id_in_key,
                        waited,
                    );
                    read_live(&mut **src, cfg, &mut sink, live, status, abort)
                }
            }));
        }
        // The workers end when the last capture thread lets go of their queues.
        drop(to_workers);
        for i in 0..cfg.threads.max(1) {
            let (rx, tx) = (parse_rx.clone(), write_tx.clone());
            let (claims, source, validator) = (&claims, &source, &validator);
            spawn_named(s, format!("tlstap-parse-{i}"), move || {
                parse_worker(rx, tx, claims, source, validator)
            });
        }
        drop((parse_rx, write_tx, parse_tx));
        let result = writer_loop(write_rx, &mut rotator, &health, cfg.stats_every);
        if result.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        for c in captures {
            problems.extend(c.join().ok().flatten());
        }
        result
    });
    written?;
    let final_row = health.row();
    let before = rotator.summary().files.len();
    let (summary, counters) = rotator.finish(final_row, SystemTime::now())?;
    health.rotated(&summary.files[before.min(summary.files.len())..]);
    report.output = summary;
    if let Some(t) = &local_tables {
        let t = t.lock().unwrap_or_else(|e| e.into_inner());
        report.counters.add("table.commits", t.commits);
        report.counters.add("table.commit_errors", t.errors);
        if let Some(e) = &t.last_error {
            report.warnings.push(format!(
                "{} window(s) not committed to the Delta tables (their files are in the \
                 hive layout): {e}",
                t.errors
            ));
        }
    }
    report.counters.merge(&counters);
    report.counters.merge(&health.counters());
    for src in &sources {
        report.counters.merge(&src.counters());
    }
    report.packets = live.packets.load(Ordering::Relaxed);
    report.bytes = live.bytes.load(Ordering::Relaxed);
    report.udp_datagrams = total(&statuses, |s| &s.udp_datagrams);
    report.tcp_segments =
        total(&statuses, |s| &s.tcp_segments).saturating_sub(report.udp_datagrams);
    report.udp_flows = total(&statuses, |s| &s.udp_flows);
    report.flows = total(&statuses, |s| &s.flows_seen);
    report.tls_flows = total(&statuses, |s| &s.tls_flows);
    // Tables peak at different moments: the sum is an upper bound.
    report.peak_open_flows = total(&statuses, |s| &s.peak_open_flows);
    for message in problems {
        report.problems.push(InputProblem {
            path: name.clone().into(),
            message,
            partial: true,
        });
    }
    if let (Some(spool), Some(u)) = (spool, &cfg.upload) {
        spool.kick();
        let left = spool.finish(u.drain);
        // Name the files by where they went, not by their place in the spool.
        for f in &mut report.output.files {
            if let Some(key) = crate::store::key_below(&cfg.rotate.dir, f) {
                *f = u.store.url_of(&key).into();
            }
        }
        for (k, v) in left
            .counters
            .iter()
            .filter(|(k, _)| !k.starts_with("spool.pending"))
        {
            report.counters.add(k, *v);
        }
        report.counters.add("spool.left_files", left.files);
        report.counters.add("spool.left_bytes", left.bytes);
        if left.files > 0 {
            report.warnings.push(format!(
                "{}: {} file(s), {:.1} MiB not uploaded yet{}; kept in {}, uploaded by the \
                 next start with the same --out and --spool-dir",
                u.store.url(),
                left.files,
                left.bytes as f64 / (1024.0 * 1024.0),
                left.last_error
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default(),
                cfg.rotate.dir.display()
            ));
        }
    }
    Ok(report)
}

/// Hand a batch of records to the parsers: never blocking while capturing (a full
/// queue drops the batch, counted in handshakes), blocking once stopping so the final
/// batches all arrive. `false` when the parsers are gone.
fn emit_live(
    tx: &Sender<Vec<FlowRecord>>,
    shutdown: &AtomicBool,
    status: &LiveStatus,
    recs: Vec<FlowRecord>,
) -> bool {
    if shutdown.load(Ordering::Relaxed) {
        return tx.send(recs).is_ok();
    }
    match tx.try_send(recs) {
        Ok(()) => true,
        Err(TrySendError::Full(recs)) => {
            status
                .queue_dropped
                .fetch_add(recs.len() as u64, Ordering::Relaxed);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// Runs [`capture_loop`] on the live source with its own flow table; returns the
/// capture error, if any.
#[allow(clippy::too_many_arguments)]
fn capture_thread(
    src: &mut dyn LiveSource,
    cfg: &LiveRunConfig,
    flow: FlowLimits,
    live: &LiveCounters,
    status: &LiveStatus,
    abort: &AtomicBool,
    shutdown: &AtomicBool,
    tx: Sender<Vec<FlowRecord>>,
) -> Option<String> {
    let mut decoder = Decoder::new(cfg.decoder);
    let mut table = FlowTable::new(flow);
    let (_, segments, problem) = capture_loop(
        src,
        &mut decoder,
        &mut table,
        live,
        abort,
        |_| true,
        |recs| emit_live(&tx, shutdown, status, recs),
        |table, decoder| status.store_table(table, Some(decoder)),
    );
    status.tcp_segments.store(segments, Ordering::Relaxed);
    src.publish_stats();
    problem
}

/// Runs [`capture_loop`] on the live source, handing packets to the flow workers;
/// returns the capture error, if any.
fn read_live(
    src: &mut dyn LiveSource,
    cfg: &LiveRunConfig,
    sink: &mut LiveDispatch<'_>,
    live: &LiveCounters,
    status: &LiveStatus,
    abort: &AtomicBool,
) -> Option<String> {
    let mut decoder = Decoder::new(cfg.decoder);
    let (_, segments, problem) = capture_loop(
        src,
        &mut decoder,
        sink,
        live,
        abort,
        |_| true,
        |_| true,
        |sink, decoder| {
            // Every tick (read timeout, progress) sends what waits for the workers.
            sink.flush();
            *status.counters.lock().unwrap_or_else(|e| e.into_inner()) = decoder.counters().clone();
        },
    );
    status.tcp_segments.store(segments, Ordering::Relaxed);
    src.publish_stats();
    problem
}

fn parse_worker(
    rx: Receiver<Vec<FlowRecord>>,
    tx: Sender<Vec<Analyzed>>,
    claims: &CertClaims,
    source: &Arc<str>,
    validator: &Validator,
) {
    for recs in rx {
        let rows = analyze_flows(recs, source, claims, validator);
        if tx.send(rows).is_err() {
            return;
        }
    }
}

/// Receive rows until every sender is gone, closing windows on time (or when full)
/// and printing the stats line. The last window is closed by the caller.
fn writer_loop(
    rx: Receiver<Vec<Analyzed>>,
    rotator: &mut Rotator,
    health: &Health<'_>,
    stats_every: Option<Duration>,
) -> Result<(), LiveRunError> {
    let mut next_line = stats_every.map(|d| Instant::now() + d);
    loop {
        // Wall clock decides rotation; the channel wait never outlasts the deadline.
        let to_deadline = rotator
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let to_line = next_line.map_or(Duration::MAX, |t| {
            t.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(to_deadline.min(to_line)) {
            Ok(rows) => {
                for a in rows {
                    rotator.push(a);
                    if rotator.is_full() {
                        let files = rotator.rotate(health.row(), SystemTime::now())?;
                        health.rotated(&files);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let now = SystemTime::now();
        if now >= rotator.deadline() {
            let files = rotator.rotate(health.row(), now)?;
            health.rotated(&files);
        }
        if let (Some(t), Some(every)) = (next_line, stats_every) {
            if Instant::now() >= t {
                eprintln!("{}", health.line(rotator.summary().handshakes));
                next_line = Some(Instant::now() + every);
            }
        }
    }
}
