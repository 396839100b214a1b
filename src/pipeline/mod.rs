//! The only module that knows about threads: reader → flow workers → merger → parse
//! pool → writer. Batch runs over files are here; live capture is in [`live`] and
//! shares [`capture_loop`] and everything after it.
//!
//! ```text
//!  reader (one)          flow workers (N, `shard`)   parser pool (rayon)        writer
//!  read + decode,     →  reassembly, one table    →  analyze_flow (TLS,      →  reorder by
//!  number + hash         each; merged by packet      JA3/JA4, certificates),    (file, batch);
//!  (`--threads 1`:       number                      rows → Arrow               Parquet columns
//!  its own table)                                                               encoded on rayon
//! ```
//! Stages are joined by bounded channels carrying batches of owned records
//! ([`CHANNEL_BATCHES`] batches of up to [`RECORDS_PER_BATCH`]); for files the policy
//! when a channel is full is to block (nothing is dropped; the reader simply waits).
//!
//! Determinism: a capture thread hands on connections in packet order (when their
//! handshake is done, or at the end of the file) and numbers its batches; the parser
//! pool turns each batch into one Arrow record batch, and the writer emits files in
//! input order and a file's batches by number, so the output is byte-identical whatever
//! the thread count or scheduling. The reorder buffer holds only batches that finished
//! ahead of an earlier one.
//!
//! Inputs: [`expand_inputs`] never fails as a whole: a missing path or an unreadable
//! folder is an [`InputProblem`] and every other input is still read. The same file
//! named twice (or reached through two folders) is read once. `-` is standard input.
//!
//! Stopping: [`run_batch`] takes a stop flag (set on SIGINT by the binary). Once it is
//! set the capture threads stop reading, hand on every connection read so far, and
//! start no further file; the output is then written as usual and the report says
//! `interrupted`. Nothing is written (the folder is left as it was) when no input
//! turned out to be a capture.

pub mod live;
mod order;
pub mod progress;
mod shard;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::certs::chain::{TrustStore, Validator, DEFAULT_CACHE_LIMIT};
use crate::decode::{Decoder, DecoderLimits, Packet};
use crate::flow::table::{FlowLimits, FlowRecord, FlowStats, FlowTable, SweepClock};
use crate::output::{Chunk, Output, OutputConfig, OutputError, OutputSummary};
use crate::row::{analyze_flow, analyze_flows, CertClaims};
use crate::source::{BpfFilter, CaptureFile, PacketSource, SourceError};
use crate::stats::Counters;
pub use live::{run_live, CaptureEngine, LiveRunConfig, LiveRunError, LiveUpload};
use order::Reorder;
pub use progress::Progress;

/// Flow records per message from a capture thread to the parser pool (and rows per
/// record batch the writer gets).
pub const RECORDS_PER_BATCH: usize = 256;
/// Packets between two progress publications of a capture thread.
pub const PUBLISH_EVERY: u64 = 4096;
/// Messages in flight on each channel (with [`RECORDS_PER_BATCH`], at most 4096
/// connections wait on each).
pub const CHANNEL_BATCHES: usize = 16;

/// Memory a run keeps besides its flow tables and the parser threads' memos (80 MiB): the
/// binary and the trust store (~28 MB resident on a tiny capture), read windows (with
/// sharded flow workers, up to `source::file::SPARE_WINDOWS` 1 MiB windows and the
/// windows' parts in flight), bounded channels and the batches in them, the writer's
/// row group (35-47 MiB of working set once the end-of-input flush writes a 64k-row
/// group of unfinished handshakes), and allocator slack. Measured, not derived: see the
/// README's performance section.
pub const BASE_RESERVE: usize = 80 << 20;

/// Part of a flow table's share that its own count may use: on the attack capture
/// (1 M connections, each an entry, an assembler and 100 bytes) a table's real memory
/// is ~1.045 bytes per byte it counts (allocator size classes); the end-of-input flush
/// then writes a row group of unfinished handshakes while the table's memory is still
/// resident (35-47 MiB, in [`BASE_RESERVE`]). Fitted on the attack bench at 96, 128,
/// 256 and 512 MiB (README, Performance).
pub const TABLE_SHARE_PERCENT: usize = 80;

/// The smallest flow table share that still follows a few thousand connections.
pub const MIN_TABLE_MEMORY: usize = 4 << 20;

/// Split a process memory limit (`--max-memory-mib`) into each flow table's budget:
/// what is left after [`BASE_RESERVE`] and every parser thread's memos, times
/// [`TABLE_SHARE_PERCENT`], shared by the capture threads. `Err` names the smallest
/// limit that works when `process_limit` is below it.
pub fn table_memory(
    process_limit: usize,
    parse_threads: usize,
    capture_threads: usize,
) -> Result<usize, RunError> {
    let per_parser = crate::certs::SHA256_MEMO_BYTES + 2 * crate::row::FINGERPRINT_MEMO_BYTES;
    let reserve = BASE_RESERVE + parse_threads.max(1) * per_parser;
    let captures = capture_threads.max(1);
    let table = process_limit.saturating_sub(reserve) / 100 * TABLE_SHARE_PERCENT / captures;
    if table >= MIN_TABLE_MEMORY {
        return Ok(table);
    }
    let need = reserve + (MIN_TABLE_MEMORY * captures).div_ceil(TABLE_SHARE_PERCENT) * 100;
    Err(RunError::Memory(format!(
        "--max-memory-mib {} is too small for {parse_threads} parser thread(s) and \
         {captures} capture thread(s): at least {} MiB is needed",
        process_limit >> 20,
        need.div_ceil(1 << 20)
    )))
}

/// Everything a batch run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<Input>,
    /// Worker threads (parser pool size, and the most capture threads).
    pub threads: usize,
    /// Flow-table limits; `flow.max_memory` is the whole process's limit, which the run
    /// divides among its flow tables with [`table_memory`].
    pub flow: FlowLimits,
    pub decoder: DecoderLimits,
    pub output: OutputConfig,
    /// Distinct certificates parsed once per run (beyond it, parsed per sighting).
    pub max_cert_cache: usize,
    /// Roots server chains are validated against (Mozilla's, plus `--ca-file`).
    pub trust: TrustStore,
    /// `--bpf`: only packets this expression accepts are analysed.
    pub bpf: Option<String>,
}

/// A problem with one input: it was unreadable, or damaged part-way.
#[derive(Debug, Clone)]
pub struct InputProblem {
    pub path: PathBuf,
    pub message: String,
    /// `true` when the file was read up to the damage (what came before is in the
    /// output).
    pub partial: bool,
}

/// Totals of a run, for the summary and the exit code.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub files: usize,
    pub bytes: u64,
    pub packets: u64,
    pub tcp_segments: u64,
    pub udp_datagrams: u64,
    pub flows: u64,
    /// QUIC connections and DTLS associations followed.
    pub udp_flows: u64,
    pub tls_flows: u64,
    pub peak_open_flows: u64,
    pub output: OutputSummary,
    pub counters: Counters,
    pub problems: Vec<InputProblem>,
    /// Files found in folders that are not captures (skipped, not problems).
    pub skipped: Vec<PathBuf>,
    /// Inputs read as captures (`files` minus skipped and unreadable ones).
    pub captures: usize,
    /// Packets `--bpf` left out.
    pub bpf_rejected: u64,
    /// The stop flag ended the run early; everything read until then was written.
    pub interrupted: bool,
    /// Worth telling the user, not failures (e.g. live windows left in the spool).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{path}: {source}")]
    Input {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no capture files found in {0}")]
    NoInputs(String),
    #[error(transparent)]
    Bpf(#[from] crate::source::BpfError),
    #[error("starting worker threads: {0}")]
    Threads(String),
    #[error("{0}")]
    Memory(String),
}

/// One capture file to read.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file, or for an object in storage its URL (`s3://bucket/key`), which is
    /// also what rows name in `source_file`.
    pub path: PathBuf,
    /// Found by walking a folder (rather than named on the command line): such a file
    /// that is plainly not a capture (no capture magic and no capture-like extension,
    /// e.g. a README) is skipped and counted instead of reported.
    pub from_dir: bool,
    /// An object in storage, streamed rather than opened as a file.
    pub object: Option<RemoteInput>,
}

/// A capture in object storage.
#[derive(Debug, Clone)]
pub struct RemoteInput {
    pub store: crate::store::Store,
    /// Key below the store's prefix.
    pub rel: String,
    pub size: u64,
}

impl PartialEq for Input {
    fn eq(&self, other: &Input) -> bool {
        self.path == other.path && self.from_dir == other.from_dir
    }
}

impl Eq for Input {}

/// Expand a storage URL into the captures below it: the object itself when the URL
/// names one, else every object below it as a folder (sorted by key; names starting
/// with `.` or `_` are skipped, as Spark and Hive do). A store that cannot be listed is
/// a problem naming the URL; the other inputs still run.
pub fn expand_remote(url: &str, opts: &crate::store::StoreOptions) -> Expanded {
    use crate::store::Store;
    let mut out = Expanded::default();
    let problem = |message: String| InputProblem {
        path: PathBuf::from(url),
        message,
        partial: false,
    };
    let limit = crate::store::REQUEST_TIMEOUT;
    // The URL may name one object: its parent is the store, its name the key.
    if let Some((parent, name)) = url.trim_end_matches('/').rsplit_once('/') {
        if !url.ends_with('/')
            && !name.is_empty()
            && !parent.ends_with(':')
            && !parent.ends_with("//")
        {
            if let Ok(store) = Store::open(parent, opts) {
                match store.size(name, limit) {
                    Ok(Some(size)) => {
                        out.inputs.push(Input {
                            path: PathBuf::from(store.url_of(name)),
                            from_dir: false,
                            object: Some(RemoteInput {
                                store,
                                rel: name.to_owned(),
                                size,
                            }),
                        });
                        return out;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        out.problems.push(problem(e.reason()));
                        return out;
                    }
                }
            }
        }
    }
    let store = match Store::open(url, opts) {
        Ok(s) => s,
        Err(e) => {
            out.problems.push(problem(e.reason()));
            return out;
        }
    };
    match store.list(limit) {
        Ok(list) if list.is_empty() => out
            .problems
            .push(problem("no such object, and no objects below it".into())),
        Ok(list) => {
            for (rel, size) in list {
                let hidden = rel
                    .split('/')
                    .any(|part| part.starts_with('.') || part.starts_with('_'));
                if hidden {
                    continue;
                }
                out.inputs.push(Input {
                    path: PathBuf::from(store.url_of(&rel)),
                    from_dir: true,
                    object: Some(RemoteInput {
                        store: store.clone(),
                        rel,
                        size,
                    }),
                });
            }
        }
        Err(e) => out.problems.push(problem(e.reason())),
    }
    out
}

/// `--shard K/N`: shard `k` (1-based) of `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// `"K/N"` with 1 <= K <= N.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected K/N, e.g. 2/8"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: K is not a number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: N is not a number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(format!(
                "{s:?}: need 1 <= K <= N (shards are numbered from 1)"
            ));
        }
        Ok(Shard { k, n })
    }

    /// This shard's inputs: the whole list sorted by path (URL), every N-th from the
    /// K-th. The N shards of one list cover it exactly once, whatever order the
    /// inputs were named or listed in.
    pub fn select(self, mut inputs: Vec<Input>) -> Vec<Input> {
        inputs.sort_by(|a, b| a.path.as_os_str().cmp(b.path.as_os_str()));
        inputs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.n == self.k - 1)
            .map(|(_, input)| input)
            .collect()
    }
}

/// What [`expand_inputs`] found.
#[derive(Debug, Default)]
pub struct Expanded {
    pub inputs: Vec<Input>,
    /// Paths that do not exist or folders that cannot be listed.
    pub problems: Vec<InputProblem>,
    /// Inputs left out because an earlier one is the same file.
    pub duplicates: usize,
}

/// Expand files and folders (walked recursively, in sorted order) into capture files.
/// Hidden files and folders (starting with `.`) inside folders are skipped; `-` is
/// standard input. A path that cannot be read is a problem, not the end: the rest is
/// still expanded. A file reached twice (named twice, or also inside a named folder)
/// is kept once, at its first place.
pub fn expand_inputs(paths: &[PathBuf]) -> Expanded {
    use std::os::unix::fs::MetadataExt;
    fn problem(path: &Path, e: &std::io::Error) -> InputProblem {
        let message = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or folder".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => e.to_string(),
        };
        InputProblem {
            path: path.to_owned(),
            message,
            partial: false,
        }
    }
    struct Walk {
        out: Expanded,
        seen: std::collections::HashSet<(u64, u64)>,
    }
    impl Walk {
        fn add(&mut self, path: PathBuf, md: &std::fs::Metadata, from_dir: bool) {
            if self.seen.insert((md.dev(), md.ino())) {
                self.out.inputs.push(Input {
                    path,
                    from_dir,
                    object: None,
                });
            } else {
                self.out.duplicates += 1;
            }
        }
        fn dir(&mut self, dir: &Path) {
            let rd = match std::fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) => return self.out.problems.push(problem(dir, &e)),
            };
            let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            entries.sort();
            for p in entries {
                let hidden = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
                if hidden {
                    continue;
                }
                match std::fs::metadata(&p) {
                    Ok(md) if md.is_dir() => self.dir(&p),
                    Ok(md) if md.is_file() => self.add(p, &md, true),
                    Ok(_) => {} // sockets, devices, FIFOs: only read when named
                    Err(e) => self.out.problems.push(problem(&p, &e)),
                }
            }
        }
    }
    let mut w = Walk {
        out: Expanded::default(),
        seen: Default::default(),
    };
    let mut stdin = false;
    for p in paths {
        if p.as_os_str() == "-" {
            if !std::mem::replace(&mut stdin, true) {
                w.out.inputs.push(Input {
                    path: p.clone(),
                    from_dir: false,
                    object: None,
                });
            } else {
                w.out.duplicates += 1;
            }
            continue;
        }
        match std::fs::metadata(p) {
            Ok(md) if md.is_dir() => w.dir(p),
            Ok(md) => w.add(p.clone(), &md, false),
            Err(e) => w.out.problems.push(problem(p, &e)),
        }
    }
    w.out
}

/// Extensions that say "this is meant to be a capture" (so a damaged one is reported
/// even when found in a folder).
fn capture_like_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    [
        ".pcap", ".pcapng", ".cap", ".dmp", ".trace", ".gz", ".erf", ".snoop",
    ]
    .iter()
    .any(|e| name.ends_with(e))
}

/// Live counters the progress display reads.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub bytes: AtomicU64,
    pub packets: AtomicU64,
    pub handshakes: AtomicU64,
}

/// (file index, batch number within the file): the writer's order.
type BatchId = (usize, u64);

enum ToParse {
    Flows(BatchId, Vec<FlowRecord>),
    FileDone(usize, Box<FileResult>),
}

enum ToWrite {
    Chunk(BatchId, Result<Box<Chunk>, OutputError>),
    FileDone(usize, Box<FileResult>),
}

/// What a capture thread reports for one file.
#[derive(Debug, Default)]
struct FileResult {
    /// The file opened as a capture.
    capture: bool,
    /// Found in a folder and not a capture: skipped.
    skipped: Option<PathBuf>,
    bpf_rejected: u64,
    /// Batches handed to the parser pool.
    batches: u64,
    bytes: u64,
    packets: u64,
    tcp_segments: u64,
    udp_datagrams: u64,
    flows: u64,
    udp_flows: u64,
    tls_flows: u64,
    peak_open_flows: u64,
    counters: Counters,
    problem: Option<InputProblem>,
}

impl FileResult {
    /// Add one flow table's totals (a sharded input has one per worker; the reader
    /// counted every decoded packet as a TCP segment until now).
    fn add_flow_stats(&mut self, fs: &FlowStats) {
        self.tcp_segments = self.tcp_segments.saturating_sub(fs.udp_datagrams);
        self.udp_datagrams += fs.udp_datagrams;
        self.flows += fs.flows_seen;
        self.udp_flows += fs.udp_flows;
        self.tls_flows += fs.tls_flows;
        // Workers peak at different moments: the sum is an upper bound.
        self.peak_open_flows += fs.peak_open_flows;
        self.counters.merge(&fs.counters);
    }
}

impl RunReport {
    /// Fold one source's totals into the run's.
    fn add_file(&mut self, res: FileResult) {
        self.bytes += res.bytes;
        self.packets += res.packets;
        self.tcp_segments += res.tcp_segments;
        self.udp_datagrams += res.udp_datagrams;
        self.flows += res.flows;
        self.udp_flows += res.udp_flows;
        self.tls_flows += res.tls_flows;
        self.peak_open_flows = self.peak_open_flows.max(res.peak_open_flows);
        self.counters.merge(&res.counters);
        self.captures += usize::from(res.capture);
        self.bpf_rejected += res.bpf_rejected;
        self.skipped.extend(res.skipped);
        if let Some(p) = res.problem {
            self.problems.push(p);
        }
    }
}

/// Read one packet source to its end through decode and a fresh flow table, handing
/// batches of records to `emit` with their number (0, 1, ...; a batch `emit` refuses
/// stops the read and is not counted); the source's totals and counters come back as a
/// [`FileResult`].
/// The one path shared by `read` (per file) and [`analyze_source`].
// Each argument is a separate stage's state or a caller's hook; bundling them in a
// struct only to please the lint would hide which caller owns what.
///
/// `sink` is where the decoded packets go: a [`FlowTable`] (its totals are in the
/// result) or the reader's side of the sharded flow workers (their totals are added by
/// the merger).
#[allow(clippy::too_many_arguments)]
fn read_source<S: PacketSource + ?Sized, F: FlowSink + FlowTotals>(
    src: &mut S,
    path: &Path,
    sink: &mut F,
    decoder: DecoderLimits,
    live: &LiveCounters,
    stop: &AtomicBool,
    mut filter: Option<&mut BpfFilter>,
    mut emit: impl FnMut(u64, Vec<FlowRecord>) -> bool,
) -> FileResult {
    let mut decoder = Decoder::new(decoder);
    let mut filter_counters = Counters::new();
    let mut batches = 0u64;
    let numbered = |recs| {
        let taken = emit(batches, recs);
        batches += u64::from(taken);
        taken
    };
    let accept = |p: &crate::source::RawPacket<'_>| {
        filter
            .as_deref_mut()
            .is_none_or(|f| f.accepts(p, &mut filter_counters))
    };
    let (packets, segments, problem) = capture_loop(
        src,
        &mut decoder,
        sink,
        live,
        stop,
        accept,
        numbered,
        |_, _| {},
    );
    let mut counters = filter_counters;
    counters.merge(decoder.counters());
    counters.merge(&src.counters());
    let mut res = FileResult {
        capture: true,
        skipped: None,
        bpf_rejected: filter.map_or(0, |f| f.rejected),
        batches,
        bytes: src.bytes_consumed(),
        packets,
        tcp_segments: segments,
        counters,
        problem: problem.map(|message| InputProblem {
            path: path.to_owned(),
            message,
            partial: true,
        }),
        ..Default::default()
    };
    if let Some(fs) = sink.totals() {
        res.add_flow_stats(fs);
    }
    res
}

/// Where a capture loop's decoded packets go: a [`FlowTable`] on the same thread, or
/// the reader's side of the sharded flow workers (`shard::Dispatch`). Packets are
/// numbered by the loop, and sweeps of idle flows come from the loop's
/// [`SweepClock`], so both give the same records in the same order.
pub trait FlowSink {
    /// Whether [`FlowSink::packet`] wants the source's shared window (payloads are
    /// then referenced in it instead of copied).
    const SHARES_PAYLOADS: bool = false;
    /// Sweep idle flows before packet `number` (packet time `ts_ns`).
    fn sweep(&mut self, ts_ns: i64, number: u64, out: &mut Vec<FlowRecord>);
    /// Packet `number` of the input (numbers only grow); `window` is the source's
    /// shared buffer the packet may lie in ([`PacketSource::shared_window`]).
    fn packet(
        &mut self,
        p: &Packet<'_>,
        ts_ns: i64,
        number: u64,
        window: Option<&Arc<Vec<u8>>>,
        out: &mut Vec<FlowRecord>,
    );
    /// The input is over: hand on everything still held, `emit` returning `false` to
    /// stop.
    fn finish(&mut self, emit: &mut dyn FnMut(&mut Vec<FlowRecord>) -> bool);
}

impl FlowSink for FlowTable {
    fn sweep(&mut self, ts_ns: i64, _number: u64, out: &mut Vec<FlowRecord>) {
        FlowTable::sweep(self, ts_ns, out);
    }

    fn packet(
        &mut self,
        p: &Packet<'_>,
        ts_ns: i64,
        number: u64,
        _window: Option<&Arc<Vec<u8>>>,
        out: &mut Vec<FlowRecord>,
    ) {
        self.on_numbered_packet(p, ts_ns, number, out);
    }

    fn finish(&mut self, emit: &mut dyn FnMut(&mut Vec<FlowRecord>) -> bool) {
        self.flush_all_in_batches(RECORDS_PER_BATCH, emit);
    }
}

/// A sink's own flow totals, when it has them on the reading thread.
trait FlowTotals {
    fn totals(&self) -> Option<&FlowStats>;
}

impl FlowTotals for FlowTable {
    fn totals(&self) -> Option<&FlowStats> {
        Some(self.stats())
    }
}

impl FlowTotals for shard::Dispatch<'_> {
    fn totals(&self) -> Option<&FlowStats> {
        None
    }
}

/// Completed records wait at most this long (packet time) for their batch to fill, so a
/// live link with few handshakes still hands them on promptly.
pub const MAX_BATCH_DELAY_NS: i64 = 200_000_000;

/// Read packets from `src` through decode and the flow table, sending batches of
/// records to `emit` (which returns `false` to stop). Shared by files and live capture
/// (one code path after the packet source). Stops early when `stop` is set. Packets
/// `accept` refuses (`read --bpf`) are left out before anything counts them.
///
/// Every [`PUBLISH_EVERY`] packets, every second of packet time and whenever a live
/// source's read times out, progress is published to `live` and `tick` is called with
/// the table and decoder (the live pipeline snapshots their counters there). A live
/// source's timeout also hands on the records held so far.
// Each argument is a stage's state or a hook of the caller (`read` and `live` differ
// in all three hooks); see `read_source`.
#[allow(clippy::too_many_arguments)]
pub fn capture_loop<S: PacketSource + ?Sized, F: FlowSink>(
    src: &mut S,
    decoder: &mut Decoder,
    table: &mut F,
    live: &LiveCounters,
    stop: &AtomicBool,
    mut accept: impl FnMut(&crate::source::RawPacket<'_>) -> bool,
    mut emit: impl FnMut(Vec<FlowRecord>) -> bool,
    mut tick: impl FnMut(&mut F, &Decoder),
) -> (u64, u64, Option<String>) {
    const PUBLISH_EVERY_NS: i64 = 1_000_000_000;
    let mut packets = 0u64;
    let mut segments = 0u64;
    let (mut published_packets, mut published_bytes) = (0u64, 0u64);
    let mut last_publish_ns = i64::MIN;
    let mut pending_since_ns = 0i64;
    let mut out: Vec<FlowRecord> = Vec::new();
    let mut problem = None;
    let mut clock = SweepClock::default();
    // The source's shared window, refreshed when it changes (one clone per window).
    let mut window: Option<Arc<Vec<u8>>> = None;
    let mut publish = |src: &S, packets: u64| {
        let b = src.bytes_consumed();
        live.bytes
            .fetch_add(b.saturating_sub(published_bytes), Ordering::Relaxed);
        live.packets
            .fetch_add(packets - published_packets, Ordering::Relaxed);
        (published_packets, published_bytes) = (packets, b);
    };
    let mut hand_on = |out: &mut Vec<FlowRecord>| {
        live.handshakes
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        emit(std::mem::take(out))
    };
    loop {
        if F::SHARES_PAYLOADS {
            if let Some(w) = src.shared_window() {
                if !window.as_ref().is_some_and(|c| Arc::ptr_eq(c, w)) {
                    window = Some(w.clone());
                }
            }
        }
        let Some(next) = src.next_packet() else {
            if src.at_end() {
                break;
            }
            // A live source's read timeout: nothing came for a while.
            publish(src, packets);
            tick(table, decoder);
            if (!out.is_empty() && !hand_on(&mut out)) || stop.load(Ordering::Relaxed) {
                return (packets, segments, problem);
            }
            continue;
        };
        let pkt = match next {
            Ok(p) => p,
            Err(e) => {
                problem = Some(e.to_string());
                break;
            }
        };
        if !accept(&pkt) {
            continue;
        }
        packets += 1;
        let ts = pkt.ts_ns;
        let held = out.len();
        if let Some(p) = decoder.decode(&pkt) {
            segments += 1;
            if clock.due(ts) {
                table.sweep(ts, packets, &mut out);
            }
            table.packet(&p, ts, packets, window.as_ref(), &mut out);
        }
        if held == 0 && !out.is_empty() {
            pending_since_ns = ts;
        }
        if (out.len() >= RECORDS_PER_BATCH
            || (!out.is_empty() && ts.saturating_sub(pending_since_ns) >= MAX_BATCH_DELAY_NS))
            && !hand_on(&mut out)
        {
            return (packets, segments, problem);
        }
        if packets.is_multiple_of(PUBLISH_EVERY)
            || ts.saturating_sub(last_publish_ns) >= PUBLISH_EVERY_NS
        {
            last_publish_ns = ts;
            publish(src, packets);
            tick(table, decoder);
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
    if !out.is_empty() && !hand_on(&mut out) {
        return (packets, segments, problem);
    }
    table.finish(&mut hand_on);
    publish(src, packets);
    tick(table, decoder);
    (packets, segments, problem)
}

/// How a capture thread follows the flows of a file.
enum Flows<'a> {
    /// In a table of its own, sending batches of records to the parser pool.
    Own(FlowLimits, &'a Sender<ToParse>),
    /// In the sharded flow workers (which send the records on).
    Sharded(&'a [Sender<shard::ToWorker>], &'a Receiver<shard::Part>),
}

/// Read one input. `None` when it was read into the sharded workers (the merger
/// reports it); otherwise what to report for it.
fn process_file(
    input: &Input,
    cfg: &RunConfig,
    flows: Flows<'_>,
    live: &LiveCounters,
    stop: &Arc<AtomicBool>,
    file_idx: usize,
) -> Option<FileResult> {
    let path = input.path.as_path();
    let mut res = FileResult::default();
    if stop.load(Ordering::Relaxed) {
        return Some(res);
    }
    let opened = match &input.object {
        Some(obj) => obj
            .store
            .reader(&obj.rel)
            .map_err(|e| SourceError::Io(std::io::Error::other(e.to_string())))
            .and_then(CaptureFile::read_ahead),
        None => CaptureFile::open_stoppable(path, stop.clone()),
    };
    let mut src = match opened {
        Ok(s) => s,
        Err(SourceError::NotACapture { .. } | SourceError::Empty)
            if input.from_dir && !capture_like_name(path) =>
        {
            res.counters.bump("input.skipped_not_a_capture");
            res.skipped = Some(path.to_owned());
            return Some(res);
        }
        Err(_) if stop.load(Ordering::Relaxed) => return Some(res),
        Err(e) => {
            res.problem = Some(InputProblem {
                path: path.to_owned(),
                message: e.to_string(),
                partial: false,
            });
            return Some(res);
        }
    };
    // Checked by `run_batch` before any thread starts, so this compiles.
    let mut filter = cfg.bpf.as_deref().and_then(|e| BpfFilter::new(e).ok());
    let stopped_mid_record = |res: &mut FileResult| {
        if stop.load(Ordering::Relaxed)
            && res
                .problem
                .as_ref()
                .is_some_and(|p| p.message.contains("cut short"))
        {
            // A pipe ended by the stop mid-record: not damage.
            res.problem = None;
        }
    };
    match flows {
        Flows::Own(limits, tx) => {
            let mut table = FlowTable::new(limits);
            let mut res = read_source(
                &mut src,
                path,
                &mut table,
                cfg.decoder,
                live,
                stop,
                filter.as_mut(),
                |n, recs| tx.send(ToParse::Flows((file_idx, n), recs)).is_ok(),
            );
            stopped_mid_record(&mut res);
            Some(res)
        }
        Flows::Sharded(workers, spares) => {
            let mut dispatch =
                shard::Dispatch::start(workers, spares, file_idx, cfg.flow.tunnel_id_in_key);
            let mut res = read_source(
                &mut src,
                path,
                &mut dispatch,
                cfg.decoder,
                live,
                stop,
                filter.as_mut(),
                |_, _| true,
            );
            stopped_mid_record(&mut res);
            dispatch.end(res);
            None
        }
    }
}

/// Run a batch analysis over capture files. Setting `stop` (SIGINT) ends reading early;
/// what was read is still written and the report says `interrupted`. When no input is
/// a capture, nothing is written and the output folder is not touched
/// (`report.captures == 0`).
pub fn run_batch(
    cfg: &RunConfig,
    progress: &Progress,
    stop: Arc<AtomicBool>,
) -> Result<RunReport, RunError> {
    let files = cfg.inputs.clone();
    let threads = cfg.threads.max(1);
    // With more than one thread, one reader feeds `threads` flow workers (one file
    // at a time, each file's flows split over all of them); with one, a capture thread
    // follows its file's flows itself.
    let workers = if threads > 1 { threads } else { 0 };
    let flow = FlowLimits {
        max_memory: table_memory(cfg.flow.max_memory, threads, workers.max(1))?,
        ..cfg.flow
    };
    if let Some(expr) = &cfg.bpf {
        BpfFilter::new(expr)?;
    }
    let mut report = RunReport {
        files: files.len(),
        ..Default::default()
    };
    if files.is_empty() {
        return Ok(report);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tlstap-parse-{i}"))
        .build()
        .map_err(|e| RunError::Threads(e.to_string()))?;

    let (parse_tx, parse_rx) = bounded::<ToParse>(CHANNEL_BATCHES);
    let (write_tx, write_rx) = bounded::<ToWrite>(CHANNEL_BATCHES);
    let live = Arc::new(LiveCounters::default());
    let next_file = AtomicUsize::new(0);
    let claims = CertClaims::new(cfg.max_cert_cache);
    let validator = Validator::new(cfg.trust.clone(), DEFAULT_CACHE_LIMIT);
    let sources: Vec<Arc<str>> = files
        .iter()
        .map(|i| Arc::from(i.path.display().to_string()))
        .collect();
    // Created when the first capture is found, so a run that finds none leaves the
    // output folder untouched.
    let mut output: Option<Output> = None;

    let total_bytes: u64 = files
        .iter()
        .filter_map(|i| match &i.object {
            Some(o) => Some(o.size),
            None => std::fs::metadata(&i.path).ok().map(|m| m.len()),
        })
        .sum();
    let ticker = progress.start(total_bytes, live.clone());

    let write_result: Result<(), OutputError> = std::thread::scope(|s| {
        let mut to_workers = Vec::new();
        let mut from_workers = Vec::new();
        let (spare_tx, spare_rx) = shard::spares();
        for w in 0..workers {
            let spare_tx = spare_tx.clone();
            let (tx, rx) = bounded(shard::WORKER_QUEUE);
            let (out_tx, out_rx) = bounded(shard::WORKER_QUEUE);
            to_workers.push(tx);
            from_workers.push(out_rx);
            spawn_named(s, format!("tlstap-flow-{w}"), move || {
                shard::worker_loop(rx, out_tx, spare_tx, flow)
            });
        }
        if workers > 0 {
            let tx = parse_tx.clone();
            spawn_named(s, "tlstap-merge".into(), move || {
                shard::merge_loop(from_workers, tx)
            });
        }
        {
            let tx = parse_tx.clone();
            let (files, next_file, live, stop, flow) = (&files, &next_file, &live, &stop, flow);
            let to_workers = std::mem::take(&mut to_workers);
            spawn_named(s, "tlstap-read".into(), move || loop {
                let spare_rx = &spare_rx;
                if stop.load(Ordering::Relaxed) {
                    break; // files not started yet are not read
                }
                let i = next_file.fetch_add(1, Ordering::Relaxed);
                let Some(input) = files.get(i) else { break };
                let flows = if to_workers.is_empty() {
                    Flows::Own(flow, &tx)
                } else {
                    Flows::Sharded(&to_workers, spare_rx)
                };
                let Some(res) = process_file(input, cfg, flows, live, stop, i) else {
                    continue;
                };
                if tx.send(ToParse::FileDone(i, Box::new(res))).is_err() {
                    break;
                }
            });
        }
        drop(parse_tx);
        {
            let (claims, validator, sources, pool) = (&claims, &validator, &sources, &pool);
            let (rx, tx) = (parse_rx, write_tx);
            s.spawn(move || {
                pool.scope(|ps| {
                    for _ in 0..threads {
                        let (rx, tx) = (rx.clone(), tx.clone());
                        ps.spawn(move |_| {
                            parse_worker(rx, tx, claims, validator, sources);
                            // Each runs until the channel closes, one per pool thread.
                            crate::threadcpu::finish_thread();
                        });
                    }
                });
            });
        }
        writer_loop(
            write_rx,
            files.len(),
            &cfg.output,
            &mut output,
            &mut report,
            &stop,
        )
    });
    ticker.finish();
    write_result?;
    report.interrupted = stop.load(Ordering::Relaxed);
    let Some(output) = output else {
        return Ok(report);
    };
    let (summary, counters) = output.finish()?;
    report.counters.merge(&counters);
    report.output = summary;
    Ok(report)
}

/// Spawn a named thread in `s` (names show in `top -H`, perf and the per-thread CPU
/// report, [`crate::threadcpu`], which it joins at its end). Like `Scope::spawn`, a
/// failure to create a thread is fatal.
pub(crate) fn spawn_named<'scope, 'env, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    std::thread::Builder::new()
        .name(name)
        .spawn_scoped(s, move || {
            let r = f();
            crate::threadcpu::finish_thread();
            r
        })
        .expect("creating a worker thread")
}

fn parse_worker(
    rx: Receiver<ToParse>,
    tx: Sender<ToWrite>,
    claims: &CertClaims,
    validator: &Validator,
    sources: &[Arc<str>],
) {
    for msg in rx {
        let out = match msg {
            ToParse::Flows(id, recs) => {
                let src = &sources[id.0];
                let rows = analyze_flows(recs, src, claims, validator);
                ToWrite::Chunk(id, Chunk::new(rows).map(Box::new).map_err(Into::into))
            }
            ToParse::FileDone(file, res) => ToWrite::FileDone(file, res),
        };
        if tx.send(out).is_err() {
            return;
        }
    }
}

fn writer_loop(
    rx: Receiver<ToWrite>,
    files: usize,
    cfg: &OutputConfig,
    output: &mut Option<Output>,
    report: &mut RunReport,
    stop: &AtomicBool,
) -> Result<(), OutputError> {
    let mut order = Reorder::new(files);
    let mut failed = None;
    report.files = 0;
    for msg in rx {
        if failed.is_some() {
            continue; // drain so the other stages can finish
        }
        let capture = match &msg {
            ToWrite::Chunk(..) => true,
            ToWrite::FileDone(_, res) => res.capture,
        };
        if capture && output.is_none() {
            match Output::create(cfg.clone()) {
                Ok(o) => *output = Some(o),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failed = Some(e);
                    continue;
                }
            }
        }
        match msg {
            ToWrite::Chunk((file, batch), chunk) => order.push(file, batch, chunk),
            ToWrite::FileDone(file, res) => {
                order.file_done(file, res.batches);
                report.files += 1;
                report.add_file(*res);
            }
        }
        let drained = match output.as_mut() {
            Some(out) => order.drain(|c| out.push(*c?)),
            None => Ok(()),
        };
        if let Err(e) = drained {
            stop.store(true, Ordering::Relaxed);
            failed = Some(e);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
    let leftover = order.leftover();
    report
        .counters
        .add("pipeline.rows_unordered", leftover as u64);
    Ok(())
}

/// Everything tlstap finds in one capture file, in memory and on the calling thread:
/// the rows and certificates `read` would write, in the same order. For tests, tools
/// and small captures; `run_batch` is the scalable path and shares every stage with
/// this.
pub fn analyze_capture(
    path: &Path,
    flow: FlowLimits,
    decoder: DecoderLimits,
) -> (
    Vec<crate::row::HandshakeRow>,
    Vec<crate::output::CertRow>,
    RunReport,
) {
    match CaptureFile::open(path) {
        Ok(mut src) => analyze_source(&mut src, &path.display().to_string(), flow, decoder),
        Err(e) => {
            let report = RunReport {
                files: 1,
                problems: vec![InputProblem {
                    path: path.to_owned(),
                    message: e.to_string(),
                    partial: false,
                }],
                ..Default::default()
            };
            (Vec::new(), Vec::new(), report)
        }
    }
}

/// [`analyze_capture`] over any packet source (`name` goes in `source_file`).
pub fn analyze_source<S: PacketSource + ?Sized>(
    src: &mut S,
    name: &str,
    flow: FlowLimits,
    decoder: DecoderLimits,
) -> (
    Vec<crate::row::HandshakeRow>,
    Vec<crate::output::CertRow>,
    RunReport,
) {
    let live = LiveCounters::default();
    let stop = AtomicBool::new(false);
    let claims = CertClaims::new(usize::MAX);
    let validator = Validator::new(TrustStore::mozilla(), DEFAULT_CACHE_LIMIT);
    let source: Arc<str> = Arc::from(name);
    let mut report = RunReport {
        files: 1,
        ..Default::default()
    };
    let mut records = Vec::new();
    let res = read_source(
        src,
        Path::new(name),
        &mut FlowTable::new(flow),
        decoder,
        &live,
        &stop,
        None,
        |_, recs| {
            records.extend(recs);
            true
        },
    );
    report.add_file(res);
    let mut certs = crate::output::CertTable::default();
    let mut rows = Vec::with_capacity(records.len());
    for rec in records {
        let Some(a) = analyze_flow(rec, &source, &claims, &validator) else {
            continue;
        };
        report.counters.merge(&a.counters);
        for s in a.certs {
            certs.add(s, usize::MAX, &mut report.counters);
        }
        rows.push(a.row);
    }
    let cert_rows = certs.into_rows(&mut report.counters);
    (rows, cert_rows, report)
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    /// The flow tables get 3/4 of what the reserve leaves, split among capture
    /// threads; the smallest workable limit is named, and works.
    #[test]
    fn table_memory_splits_the_process_limit() {
        let mib = 1usize << 20;
        let per_parser = crate::certs::SHA256_MEMO_BYTES + 2 * crate::row::FINGERPRINT_MEMO_BYTES;
        let t = table_memory(256 * mib, 2, 1).unwrap();
        assert_eq!(
            t,
            (256 * mib - BASE_RESERVE - 2 * per_parser) / 100 * TABLE_SHARE_PERCENT
        );
        assert!(t + BASE_RESERVE + 2 * per_parser < 256 * mib);
        // Two capture threads share it.
        let t2 = table_memory(256 * mib, 2, 2).unwrap();
        assert!(t2 <= t / 2 && t2 + 1 >= t / 2);
        // More parser threads leave less for the tables.
        assert!(table_memory(256 * mib, 8, 1).unwrap() < t);
        // Too small: the error names the smallest limit, and that limit is accepted.
        let Err(RunError::Memory(msg)) = table_memory(16 * mib, 2, 1) else {
            panic!("16 MiB must be refused");
        };
        let need: usize = msg
            .split("at least ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("message names a number of MiB");
        assert!(table_memory(need * mib, 2, 1).unwrap() >= MIN_TABLE_MEMORY);
        assert!(table_memory((need - 1) * mib, 2, 1).is_err());
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    fn input(name: &str) -> Input {
        Input {
            path: PathBuf::from(name),
            from_dir: false,
            object: None,
        }
    }

    /// N shards of a list cover it exactly once, whatever order it came in.
    #[test]
    fn shards_cover_the_sorted_list_once() {
        let names: Vec<String> = (0..23).map(|i| format!("s3://b/cap-{i:03}.pcap")).collect();
        let mut shuffled: Vec<Input> = names.iter().rev().map(|n| input(n)).collect();
        shuffled.swap(3, 17);
        for n in [1, 2, 3, 7, 23, 30] {
            let mut seen: Vec<String> = Vec::new();
            for k in 1..=n {
                let part = Shard { k, n }.select(shuffled.clone());
                let again = Shard { k, n }.select(shuffled.iter().rev().cloned().collect());
                assert_eq!(part, again, "independent of input order");
                seen.extend(part.iter().map(|i| i.path.display().to_string()));
            }
            seen.sort();
            assert_eq!(seen, names, "{n} shards");
        }
        assert_eq!(Shard::parse("2/8"), Ok(Shard { k: 2, n: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
