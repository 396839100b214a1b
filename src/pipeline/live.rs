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

use super::{capture_loop, InputProblem, LiveCounters, RunError, RunReport};
use crate::certs::chain::{TrustStore, Validator, DEFAULT_CACHE_LIMIT};
use crate::decode::{Decoder, DecoderLimits};
use crate::flow::table::{FlowLimits, FlowRecord, FlowTable};
use crate::output::rotate::FolderLock;
use crate::output::{OutputError, RotateConfig, Rotator, StatsRow};
use crate::row::{analyze_flow, Analyzed, CertClaims};
use crate::source::live::CaptureStats;
use crate::source::{ListenSpec, LiveCapture, LiveConfig, LiveError, LiveSource, UdpListener};
use crate::stats::Counters;

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
    status: &'a LiveStatus,
    pcap: &'a CaptureStats,
}

impl Health<'_> {
    fn row(&self) -> StatsRow {
        let mut drops = self
            .status
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        drops.add(
            "live.parse_queue_full",
            self.status.queue_dropped.load(Ordering::Relaxed),
        );
        StatsRow {
            interface: self.interface.to_owned(),
            packets_received: self.pcap.received.load(Ordering::Relaxed),
            packets_dropped_kernel: self.pcap.dropped_kernel.load(Ordering::Relaxed),
            packets_dropped_interface: self.pcap.dropped_interface.load(Ordering::Relaxed),
            packets_processed: self.live.packets.load(Ordering::Relaxed),
            bytes_processed: self.live.bytes.load(Ordering::Relaxed),
            drops: drops.iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            flows_open: self.status.flows_open.load(Ordering::Relaxed),
            rss_bytes: rss_bytes(),
            ..StatsRow::default()
        }
    }

    fn line(&self, written: u64) -> String {
        let r = self.row();
        let tlstap_drops: u64 = r
            .drops
            .iter()
            .filter(|(k, _)| {
                k == "live.parse_queue_full" || k.ends_with("_limit") || k.ends_with("_full")
            })
            .map(|(_, v)| v)
            .sum();
        format!(
            "tlstap live {}: {} packets received, dropped: kernel {} interface {} tlstap {} \
             (queue {}); {} flows open; {} handshakes written; RSS {:.1} MiB",
            r.interface,
            r.packets_received,
            r.packets_dropped_kernel,
            r.packets_dropped_interface,
            tlstap_drops,
            self.status.queue_dropped.load(Ordering::Relaxed),
            r.flows_open,
            written,
            r.rss_bytes as f64 / (1024.0 * 1024.0),
        )
    }
}

/// Capture from `cfg.capture` until `shutdown` is set, writing rotated files.
/// `on_start` is called once the capture is open (the binary prints "capturing").
pub fn run_live(
    cfg: &LiveRunConfig,
    shutdown: Arc<AtomicBool>,
    on_start: impl FnOnce(&dyn LiveSource),
) -> Result<RunReport, LiveRunError> {
    let flow = FlowLimits {
        max_memory: super::table_memory(cfg.flow.max_memory, cfg.threads, 1)?,
        ..cfg.flow
    };
    // An existing folder is locked before the capture opens (a refused second start
    // needs no privileges); a new one only once the capture works, so a capture that
    // cannot start creates nothing.
    let early = match cfg.rotate.dir.is_dir() {
        true => Some(FolderLock::acquire(&cfg.rotate.dir)?),
        false => None,
    };
    let mut src: Box<dyn LiveSource> = if cfg.listen.is_empty() {
        Box::new(LiveCapture::open(&cfg.capture, shutdown.clone())?)
    } else {
        Box::new(UdpListener::open(
            &cfg.listen,
            cfg.capture.buffer_bytes as usize,
            shutdown.clone(),
        )?)
    };
    let _lock = match early {
        Some(lock) => lock,
        None => FolderLock::acquire(&cfg.rotate.dir)?,
    };
    let name = src.name();
    let mut rotator = Rotator::create(cfg.rotate.clone(), SystemTime::now())?;
    let pcap_stats = src.capture_stats();
    on_start(&*src);

    let (parse_tx, parse_rx) = bounded::<Vec<FlowRecord>>(cfg.queue_batches.max(1));
    let (write_tx, write_rx) = bounded::<Vec<Analyzed>>(cfg.queue_batches.max(1));
    let live = LiveCounters::default();
    let status = LiveStatus::default();
    let abort = AtomicBool::new(false);
    let claims = CertClaims::new(cfg.max_cert_cache);
    let validator = Validator::new(cfg.trust.clone(), DEFAULT_CACHE_LIMIT);
    let source: Arc<str> = Arc::from(name.as_str());
    let health = Health {
        interface: name.strip_prefix("live:").unwrap_or(&name),
        live: &live,
        status: &status,
        pcap: &pcap_stats,
    };

    let mut report = RunReport {
        files: 1,
        ..Default::default()
    };
    let mut problem = None;
    let written = std::thread::scope(|s| -> Result<_, LiveRunError> {
        let capture = std::thread::Builder::new()
            .name("tlstap-capture".into())
            .spawn_scoped(s, || {
                capture_thread(
                    &mut *src, cfg, flow, &live, &status, &abort, &shutdown, parse_tx,
                )
            })
            .map_err(|e| RunError::Threads(e.to_string()))?;
        for i in 0..cfg.threads.max(1) {
            let (rx, tx) = (parse_rx.clone(), write_tx.clone());
            let (claims, source, validator) = (&claims, &source, &validator);
            std::thread::Builder::new()
                .name(format!("tlstap-parse-{i}"))
                .spawn_scoped(s, move || parse_worker(rx, tx, claims, source, validator))
                .map_err(|e| RunError::Threads(e.to_string()))?;
        }
        drop((parse_rx, write_tx));
        let result = writer_loop(write_rx, &mut rotator, &health, cfg.stats_every);
        if result.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        problem = capture.join().ok().flatten();
        result
    });
    written?;
    let final_row = health.row();
    let (summary, counters) = rotator.finish(final_row, SystemTime::now())?;
    report.output = summary;
    report.counters.merge(&counters);
    report
        .counters
        .merge(&status.counters.lock().unwrap_or_else(|e| e.into_inner()));
    report.counters.add(
        "live.parse_queue_full",
        status.queue_dropped.load(Ordering::Relaxed),
    );
    report.counters.merge(&src.counters());
    report.packets = live.packets.load(Ordering::Relaxed);
    report.bytes = live.bytes.load(Ordering::Relaxed);
    report.tcp_segments = status.tcp_segments.load(Ordering::Relaxed);
    report.udp_datagrams = status.udp_datagrams.load(Ordering::Relaxed);
    report.udp_flows = status.udp_flows.load(Ordering::Relaxed);
    report.flows = status.flows_seen.load(Ordering::Relaxed);
    report.tls_flows = status.tls_flows.load(Ordering::Relaxed);
    report.peak_open_flows = status.peak_open_flows.load(Ordering::Relaxed);
    if let Some(message) = problem {
        report.problems.push(InputProblem {
            path: name.clone().into(),
            message,
            partial: true,
        });
    }
    Ok(report)
}

/// Runs [`capture_loop`] on the live source; returns the capture error, if any.
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
    let emit = |recs: Vec<FlowRecord>| {
        if shutdown.load(Ordering::Relaxed) {
            // Stopping: the final batches must all arrive; blocking is fine now.
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
    };
    let tick = |table: &FlowTable, decoder: &Decoder| {
        let fs = table.stats();
        let mut c = fs.counters.clone();
        c.merge(decoder.counters());
        *status.counters.lock().unwrap_or_else(|e| e.into_inner()) = c;
        status
            .flows_open
            .store(table.open_flows() as u64, Ordering::Relaxed);
        status.flows_seen.store(fs.flows_seen, Ordering::Relaxed);
        status.udp_flows.store(fs.udp_flows, Ordering::Relaxed);
        status
            .udp_datagrams
            .store(fs.udp_datagrams, Ordering::Relaxed);
        status.tls_flows.store(fs.tls_flows, Ordering::Relaxed);
        status
            .peak_open_flows
            .store(fs.peak_open_flows, Ordering::Relaxed);
    };
    let (_, segments, problem) = capture_loop(
        src,
        &mut decoder,
        &mut table,
        live,
        abort,
        |_| true,
        emit,
        tick,
    );
    let udp = status.udp_datagrams.load(Ordering::Relaxed);
    status
        .tcp_segments
        .store(segments.saturating_sub(udp), Ordering::Relaxed);
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
        let rows = recs
            .into_iter()
            .filter_map(|r| analyze_flow(r, source, claims, validator))
            .collect();
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
                        rotator.rotate(health.row(), SystemTime::now())?;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let now = SystemTime::now();
        if now >= rotator.deadline() {
            rotator.rotate(health.row(), now)?;
        }
        if let (Some(t), Some(every)) = (next_line, stats_every) {
            if Instant::now() >= t {
                eprintln!("{}", health.line(rotator.summary().handshakes));
                next_line = Some(Instant::now() + every);
            }
        }
    }
}
