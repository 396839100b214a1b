//! Sharded flow workers: one reader decodes, N flow tables follow the connections.
//!
//! ```text
//!  reader (one per run)          flow workers (N)              merger
//!  read + decode + number    →   FlowTable per worker,     →   k-way merge by packet
//!  hash the flow key: shard i    owns its flows and its        number → batches of
//!  copy the payload into its     share of the memory limit     records for the parser
//!  window; every window goes                                   pool, FileDone per file
//!  to every worker
//! ```
//! The reader hands each worker its part of a *window* (at most [`WINDOW_PACKETS`]
//! packets or [`WINDOW_BYTES`] of payload in one worker's part): owned copies of the
//! decoded headers with their payloads packed in one buffer. Every worker gets every
//! window, even an empty part, with the window's last packet number, so the merger
//! always knows how far each worker has got.
//!
//! Determinism (rows are the same whatever the number of workers): every packet gets a
//! number from the reader and a flow recognised by packet `n` gets `seq = n`; idle
//! sweeps run on the reader's clock ([`SweepClock`]) and reach every worker at the same
//! packet number. Each record gets a key: `(n, 0, seq)` when a sweep before packet `n`
//! shipped it, `(n, 1, k)` when packet `n` did (the worker's k-th record of that
//! packet: only one worker sees packet `n`), `(MAX, 2, seq)` at the end of the file.
//! Every worker's records leave in key order, so merging them by key gives exactly
//! the order one table would have produced ([`super::FlowSink`] for `FlowTable` uses
//! the same numbering and clock).
//!
//! Limits: [`WORKER_QUEUE`] windows in flight to and from each worker (blocking: files
//! lose nothing); each worker's table has its share of the memory limit
//! ([`super::table_memory`]), so a limit binds per worker and is counted per worker.
//! Packets go to a worker by a fixed hash of their flow key
//! ([`crate::flow::record::shard_of`]), the same for both directions.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::{FileResult, FlowSink, ToParse, RECORDS_PER_BATCH};
use crate::decode::Packet;
use crate::flow::record::shard_of;
use crate::flow::table::{FlowLimits, FlowRecord, FlowStats, FlowTable};

/// Packets per window: after this many, every worker is handed its part.
pub const WINDOW_PACKETS: usize = 2048;
/// Payload bytes in one worker's part that end the window early (bulk transfers).
pub const WINDOW_BYTES: usize = 1 << 20;
/// Windows (and the matching record messages) in flight to and from each worker.
pub const WORKER_QUEUE: usize = 8;

/// A record's place in the merged order (see the module doc).
type Key = (u64, u8, u64);
const SWEPT: u8 = 0;
const BY_PACKET: u8 = 1;
const AT_END: u8 = 2;

/// One decoded packet (or a sweep) in a worker's part of a window.
pub(super) struct Item {
    number: u64,
    ts_ns: i64,
    /// `None`: sweep idle flows before packet `number`. Otherwise the packet with an
    /// empty payload, and where its payload lies.
    packet: Option<(Packet<'static>, Loc)>,
}

/// Where a payload lies: in one of the part's shared source windows, or (`win ==
/// OWN`) in the part's own buffer (a reassembled fragment, a source that shares
/// nothing).
#[derive(Clone, Copy)]
struct Loc {
    win: u32,
    start: u32,
    len: u32,
}
const OWN: u32 = u32::MAX;

/// A worker's part of a window. Parts go back to the reader once read
/// ([`Spares`]), so their buffers are allocated once.
#[derive(Default)]
pub(super) struct Part {
    items: Vec<Item>,
    /// Source windows the items point into (usually one or two).
    windows: Vec<Arc<Vec<u8>>>,
    data: Vec<u8>,
}

impl Part {
    fn payload(&self, loc: Loc) -> &[u8] {
        let buf: &[u8] = if loc.win == OWN {
            &self.data
        } else {
            self.windows
                .get(loc.win as usize)
                .map_or(&[], |w| w.as_slice())
        };
        buf.get(loc.start as usize..loc.start as usize + loc.len as usize)
            .unwrap_or_default()
    }

    /// Empty it for reuse, letting go of the source windows.
    fn clear(&mut self) {
        self.items.clear();
        self.windows.clear();
        self.data.clear();
    }

    /// Where `payload` lies, adding `window` to the part when the payload is in it,
    /// else copying the payload into the part's own buffer.
    fn locate(&mut self, payload: &[u8], window: Option<&Arc<Vec<u8>>>) -> Loc {
        let len = payload.len() as u32;
        if let Some(w) = window {
            let base = w.as_ptr() as usize;
            let at = payload.as_ptr() as usize;
            if at >= base && at + payload.len() <= base + w.len() {
                if !self.windows.last().is_some_and(|l| Arc::ptr_eq(l, w)) {
                    self.windows.push(w.clone());
                }
                return Loc {
                    win: self.windows.len() as u32 - 1,
                    start: (at - base) as u32,
                    len,
                };
            }
        }
        let start = self.data.len() as u32;
        self.data.extend_from_slice(payload);
        Loc {
            win: OWN,
            start,
            len,
        }
    }
}

/// Put packet `number` into the part of the worker that owns its flow (one part per
/// worker); that worker's index.
fn place(
    parts: &mut [Part],
    p: &Packet<'_>,
    ts_ns: i64,
    number: u64,
    window: Option<&Arc<Vec<u8>>>,
    tunnel_id_in_key: bool,
) -> Option<usize> {
    let shard = shard_of(p, tunnel_id_in_key, parts.len());
    let part = parts.get_mut(shard)?;
    let loc = part.locate(p.payload(), window);
    part.items.push(Item {
        number,
        ts_ns,
        packet: Some((p.with_payload(&[]), loc)),
    });
    Some(shard)
}

/// Parts returned by the workers for the reader to fill again (at most
/// [`SPARE_PARTS`] wait; more are freed).
pub(super) type Spares = (Sender<Part>, Receiver<Part>);
pub const SPARE_PARTS: usize = 16;

pub(super) fn spares() -> Spares {
    crossbeam_channel::bounded(SPARE_PARTS)
}

pub(super) enum ToWorker {
    /// A new input: start an empty table.
    Start {
        file: usize,
    },
    Window {
        part: Part,
        through: u64,
    },
    /// The input is over: ship everything held. Worker 0 carries the reader's totals.
    End {
        reader: Option<Box<FileResult>>,
    },
}

pub(super) enum FromWorker {
    /// Records in key order; the worker will send nothing with a key `<= through`.
    Records {
        file: usize,
        records: Vec<(Key, FlowRecord)>,
        through: Key,
    },
    End {
        file: usize,
        stats: Box<FlowStats>,
        reader: Option<Box<FileResult>>,
    },
}

/// The reader's [`FlowSink`]: packs each decoded packet into its worker's part.
pub(super) struct Dispatch<'a> {
    workers: &'a [Sender<ToWorker>],
    spares: &'a Receiver<Part>,
    parts: Vec<Part>,
    packets: usize,
    last_number: u64,
    tunnel_id_in_key: bool,
}

impl<'a> Dispatch<'a> {
    /// Start input `file` on every worker.
    pub fn start(
        workers: &'a [Sender<ToWorker>],
        spares: &'a Receiver<Part>,
        file: usize,
        tunnel_id_in_key: bool,
    ) -> Self {
        for w in workers {
            let _ = w.send(ToWorker::Start { file });
        }
        Dispatch {
            workers,
            spares,
            parts: workers
                .iter()
                .map(|_| spares.try_recv().unwrap_or_default())
                .collect(),
            packets: 0,
            last_number: 0,
            tunnel_id_in_key,
        }
    }

    fn send_window(&mut self) {
        for (w, part) in self.workers.iter().zip(self.parts.iter_mut()) {
            let part = std::mem::replace(part, self.spares.try_recv().unwrap_or_default());
            // A closed worker means the run is ending (the writer failed and set the
            // stop flag); the reader stops at its next check.
            let _ = w.send(ToWorker::Window {
                part,
                through: self.last_number,
            });
        }
        self.packets = 0;
    }

    /// The input is over: every worker ships what it holds; `reader` (the reader's
    /// totals for this input) travels with worker 0's end.
    pub fn end(mut self, reader: FileResult) {
        self.send_window();
        let mut reader = Some(Box::new(reader));
        for w in self.workers {
            let _ = w.send(ToWorker::End {
                reader: reader.take(),
            });
        }
    }
}

impl FlowSink for Dispatch<'_> {
    const SHARES_PAYLOADS: bool = true;

    fn sweep(&mut self, ts_ns: i64, number: u64, _out: &mut Vec<FlowRecord>) {
        for part in &mut self.parts {
            part.items.push(Item {
                number,
                ts_ns,
                packet: None,
            });
        }
    }

    fn packet(
        &mut self,
        p: &Packet<'_>,
        ts_ns: i64,
        number: u64,
        window: Option<&Arc<Vec<u8>>>,
        _out: &mut Vec<FlowRecord>,
    ) {
        let Some(shard) = place(
            &mut self.parts,
            p,
            ts_ns,
            number,
            window,
            self.tunnel_id_in_key,
        ) else {
            return;
        };
        self.last_number = number;
        self.packets += 1;
        if self.packets >= WINDOW_PACKETS
            || self
                .parts
                .get(shard)
                .is_some_and(|part| part.data.len() >= WINDOW_BYTES)
        {
            self.send_window();
        }
    }

    fn finish(&mut self, _emit: &mut dyn FnMut(&mut Vec<FlowRecord>) -> bool) {
        // Nothing is held here; the workers flush at `end`.
    }
}

/// A flow worker: one table per input, fed by the reader, records to the merger.
pub(super) fn worker_loop(
    rx: Receiver<ToWorker>,
    tx: Sender<FromWorker>,
    spares: Sender<Part>,
    limits: FlowLimits,
) {
    let mut table = FlowTable::new(limits);
    let mut file = 0;
    let mut out = Vec::new();
    for msg in rx {
        let sent = match msg {
            ToWorker::Start { file: f } => {
                table = FlowTable::new(limits);
                file = f;
                true
            }
            ToWorker::Window { mut part, through } => {
                let mut records = Vec::new();
                for it in &part.items {
                    match it.packet {
                        None => {
                            table.sweep(it.ts_ns, &mut out);
                            records.extend(out.drain(..).map(|r| ((it.number, SWEPT, r.seq), r)));
                        }
                        Some((p, loc)) => {
                            let data = part.payload(loc);
                            table.on_numbered_packet(
                                &p.with_payload(data),
                                it.ts_ns,
                                it.number,
                                &mut out,
                            );
                            records.extend(
                                out.drain(..)
                                    .enumerate()
                                    .map(|(k, r)| ((it.number, BY_PACKET, k as u64), r)),
                            );
                        }
                    }
                }
                part.clear();
                // Full: the reader has enough; this one is freed.
                let _ = spares.try_send(part);
                tx.send(FromWorker::Records {
                    file,
                    records,
                    through: (through, u8::MAX, u64::MAX),
                })
                .is_ok()
            }
            ToWorker::End { reader } => {
                let mut ok = true;
                table.flush_all_in_batches(RECORDS_PER_BATCH, &mut |batch: &mut Vec<
                    FlowRecord,
                >| {
                    let records: Vec<(Key, FlowRecord)> = batch
                        .drain(..)
                        .map(|r| ((u64::MAX, AT_END, r.seq), r))
                        .collect();
                    let through = records.last().map_or((0, 0, 0), |(k, _)| *k);
                    ok = tx
                        .send(FromWorker::Records {
                            file,
                            records,
                            through,
                        })
                        .is_ok();
                    ok
                });
                let stats = Box::new(table.stats().clone());
                table = FlowTable::new(FlowLimits {
                    max_memory: 0,
                    ..limits
                });
                ok && tx
                    .send(FromWorker::End {
                        file,
                        stats,
                        reader,
                    })
                    .is_ok()
            }
        };
        if !sent {
            return;
        }
    }
}

/// A worker's totals for an input, and the reader's (worker 0 carries them).
type WorkerEnd = (Box<FlowStats>, Option<Box<FileResult>>);

/// The merger: records of all workers in key order, in batches to the parser pool,
/// and each input's totals once every worker has ended it.
pub(super) fn merge_loop(workers: Vec<Receiver<FromWorker>>, tx: Sender<ToParse>) {
    let n = workers.len();
    loop {
        let mut heads: Vec<VecDeque<(Key, FlowRecord)>> = (0..n).map(|_| VecDeque::new()).collect();
        let mut through: Vec<Key> = vec![(0, 0, 0); n];
        let mut ended: Vec<Option<WorkerEnd>> = (0..n).map(|_| None).collect();
        let mut file = None;
        let mut batches = 0u64;
        let mut out: Vec<FlowRecord> = Vec::new();
        let mut send = |out: &mut Vec<FlowRecord>, file: usize| {
            let ok = tx
                .send(ToParse::Flows((file, batches), std::mem::take(out)))
                .is_ok();
            batches += 1;
            ok
        };
        loop {
            let best = (0..n)
                .filter_map(|i| heads[i].front().map(|(k, _)| (*k, i)))
                .min();
            // A worker with nothing buffered that may still send a smaller key: the one
            // furthest behind (waiting on any other could wait for ever: that worker
            // may be blocked on its full queue to us while the reader waits on it).
            let wait = (0..n)
                .filter(|&i| {
                    heads[i].is_empty()
                        && ended[i].is_none()
                        && best.is_none_or(|(k, _)| through[i] < k)
                })
                .min_by_key(|&i| through[i]);
            if let Some(i) = wait {
                match workers[i].recv() {
                    Ok(FromWorker::Records {
                        file: f,
                        records,
                        through: t,
                    }) => {
                        file = Some(f);
                        heads[i].extend(records);
                        through[i] = through[i].max(t);
                    }
                    Ok(FromWorker::End {
                        file: f,
                        stats,
                        reader,
                    }) => {
                        file = Some(f);
                        ended[i] = Some((stats, reader));
                    }
                    // Workers gone: the run is over.
                    Err(_) => return,
                }
                continue;
            }
            let Some((_, i)) = best else {
                break; // every worker ended this input and everything was merged
            };
            if let Some((_, r)) = heads[i].pop_front() {
                out.push(r);
            }
            if out.len() >= RECORDS_PER_BATCH && !send(&mut out, file.unwrap_or(0)) {
                return;
            }
        }
        let Some(file) = file else { return };
        if !out.is_empty() && !send(&mut out, file) {
            return;
        }
        let mut res = FileResult::default();
        let mut stats = Vec::with_capacity(n);
        for (s, reader) in ended.into_iter().flatten() {
            if let Some(r) = reader {
                res = *r;
            }
            stats.push(s);
        }
        for s in &stats {
            res.add_flow_stats(s);
        }
        res.batches = batches;
        if tx.send(ToParse::FileDone(file, Box::new(res))).is_err() {
            return;
        }
    }
}

/// Packets in a live capture thread's part for one flow worker before it is sent
/// (parts are also sent at every read timeout and progress tick, so a quiet link's
/// packets wait at most a timeout).
pub const LIVE_PART_PACKETS: usize = 256;

/// A live capture thread's [`FlowSink`]: packets go to the flow worker that owns their
/// flow, by the same hash as files use, whichever socket the kernel delivered them to
/// (so a tunnel hashed on its outer header, or IPv6 fragments, still meet their flow).
/// A full worker queue makes the capture thread wait (counted, `live.flow_queue_waits`):
/// dropping here would waste the kernel's ring, which absorbs a burst far longer than
/// this queue and counts its own drops (`packets_dropped_kernel`).
pub(super) struct LiveDispatch<'a> {
    workers: &'a [Sender<Part>],
    spares: &'a Receiver<Part>,
    parts: Vec<Part>,
    tunnel_id_in_key: bool,
    waited: &'a std::sync::atomic::AtomicU64,
}

impl<'a> LiveDispatch<'a> {
    pub fn new(
        workers: &'a [Sender<Part>],
        spares: &'a Receiver<Part>,
        tunnel_id_in_key: bool,
        waited: &'a std::sync::atomic::AtomicU64,
    ) -> Self {
        LiveDispatch {
            workers,
            spares,
            parts: workers.iter().map(|_| Part::default()).collect(),
            tunnel_id_in_key,
            waited,
        }
    }

    fn send(&mut self, i: usize) {
        use std::sync::atomic::Ordering;
        let (Some(w), Some(part)) = (self.workers.get(i), self.parts.get_mut(i)) else {
            return;
        };
        if part.items.is_empty() {
            return;
        }
        let part = std::mem::replace(part, self.spares.try_recv().unwrap_or_default());
        if let Err(crossbeam_channel::TrySendError::Full(part)) = w.try_send(part) {
            // Wait for the worker: the kernel's ring (or libpcap's buffer), far larger
            // than this queue, absorbs the burst meanwhile and counts what it cannot.
            self.waited.fetch_add(1, Ordering::Relaxed);
            let _ = w.send(part);
        }
    }

    /// Send every part that holds packets.
    pub fn flush(&mut self) {
        for i in 0..self.parts.len() {
            self.send(i);
        }
    }
}

impl FlowSink for LiveDispatch<'_> {
    const SHARES_PAYLOADS: bool = true;

    fn sweep(&mut self, _ts_ns: i64, _number: u64, _out: &mut Vec<FlowRecord>) {
        // Live workers sweep on their own clocks (no output order to keep).
    }

    fn packet(
        &mut self,
        p: &Packet<'_>,
        ts_ns: i64,
        number: u64,
        window: Option<&Arc<Vec<u8>>>,
        _out: &mut Vec<FlowRecord>,
    ) {
        let Some(shard) = place(
            &mut self.parts,
            p,
            ts_ns,
            number,
            window,
            self.tunnel_id_in_key,
        ) else {
            return;
        };
        if self
            .parts
            .get(shard)
            .is_some_and(|part| part.items.len() >= LIVE_PART_PACKETS)
        {
            self.send(shard);
        }
    }

    fn finish(&mut self, _emit: &mut dyn FnMut(&mut Vec<FlowRecord>) -> bool) {
        self.flush();
    }
}

/// A live flow worker: follows its share of the flows until every capture thread is
/// gone, handing records to `emit` as they complete and its table to `tick` after each
/// part (and at least every [`LIVE_WORKER_TICK`]); then ships everything still open.
pub(super) fn live_worker_loop(
    rx: Receiver<Part>,
    spares: Sender<Part>,
    mut table: FlowTable,
    mut emit: impl FnMut(Vec<FlowRecord>) -> bool,
    mut tick: impl FnMut(&FlowTable),
) {
    let mut out = Vec::new();
    loop {
        match rx.recv_timeout(LIVE_WORKER_TICK) {
            Ok(mut part) => {
                for it in &part.items {
                    if let Some((p, loc)) = it.packet {
                        table.on_packet(&p.with_payload(part.payload(loc)), it.ts_ns, &mut out);
                    }
                }
                part.clear();
                let _ = spares.try_send(part);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if !out.is_empty() && !emit(std::mem::take(&mut out)) {
            return;
        }
        tick(&table);
    }
    table.flush_all_in_batches(RECORDS_PER_BATCH, &mut |batch: &mut Vec<FlowRecord>| {
        emit(std::mem::take(batch))
    });
    tick(&table);
}

/// Longest a live flow worker waits before publishing its counters again.
pub const LIVE_WORKER_TICK: std::time::Duration = std::time::Duration::from_millis(250);
