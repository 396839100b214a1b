//! Per-direction TCP stream reassembly for the TLS handshake bytes of one direction.
//!
//! The capture thread owns one [`DirAssembler`] per direction of a TCP connection, pushes
//! every segment of that direction into it and, once the flow layer decides the handshake
//! is over (or the flow ends), takes the collected bytes with [`DirAssembler::finish`] as a
//! [`StreamData`] for the parser pool. Modelled on smoltcp's fixed-capacity assembler and
//! the Zeek / Suricata stream engines.
//!
//! Invariants:
//! - Sequence numbers are turned into 64-bit stream offsets (offset 0 is `isn + 1` after a
//!   SYN, else the first data byte seen) by the wrapping difference from the highest
//!   in-window offset seen so far, so streams crossing 2^32 (or longer than 2^32) work.
//!   A segment further than [`MAX_SEQ_DISTANCE`] from that reference is out of window.
//! - First data wins: a byte, once held (in order or queued), is never replaced. A later
//!   copy that differs sets `overlap_conflict` and counts `reasm.overlap_conflict`.
//! - Every stream offset below the in-order frontier is either in `data` (one
//!   [`Piece`] per run delivered by one packet, with that packet's time) or in a recorded
//!   gap. Queued out-of-order segments are disjoint, sorted, and all above the frontier.
//! - The bytes held (in order + queued) are exactly the bytes reserved from the shared
//!   [`MemBudget`]; `finish` or `release_all` gives them back. `Drop` cannot reach the
//!   budget, so the flow layer MUST call one of them before dropping an assembler.
//!
//! Size: the flow table holds an assembler for every collecting direction of up to a
//! million connections, most of them one segment of a hello that never finishes. So the
//! first piece is kept inline, and everything only a direction with more than one run of
//! bytes needs (further pieces, gaps, the queue) sits in a box allocated on first use;
//! the limits are the table's, passed with each push, not a copy per assembler.
//!
//! Limits (each counted when it binds), [`ReasmLimits`] passed to every push:
//! - depth [`ReasmLimits::max_bytes_per_direction`]: only stream offsets below it are kept
//!   (`reasm.depth_limit`, once per direction); depth is a stream offset, like Suricata's
//!   `stream.reassembly.depth`, so bytes held never exceed it even with gaps.
//! - queue [`ReasmLimits::max_ooo_segments`]: when full, the first hole is given up, up
//!   to the earlier of the new segment and the first queued one (`reasm.ooo_limit`, and
//!   `reasm.gap` for the recorded gap).
//! - global [`MemBudget`]: a segment that cannot be reserved is dropped whole
//!   (`reasm.memory_limit`); its hole may still be filled by a retransmission.
//!
//!   Any depth or memory drop marks the direction truncated: `finish` then turns an
//!   [`StreamEnd::Open`] into [`StreamEnd::Truncated`]; any other end the caller passes
//!   (HandshakeDone, Fin, Rst) is kept, and [`DirAssembler::is_truncated`] still tells.
//!   The budget counts bytes held, not `Vec` capacity (which may be up to twice that).

use crate::flow::stream::{Piece, StreamData, StreamEnd};
use crate::stats::Counters;

/// Default depth: stream bytes kept per direction. Equal to the TLS layer's
/// `Limits::max_handshake_bytes` (1 MiB), so the capture side never cuts a handshake the
/// parser is sized to read: real chains reach 340 KB (Zeek's
/// tls-fragmented-handshake.pcap), which a 256 KiB depth truncated. Bytes are held only
/// until a direction's handshake is over, and the memory budget still bounds the total.
pub const DEFAULT_MAX_BYTES_PER_DIRECTION: usize = 1024 * 1024;
/// Default number of out-of-order segments queued per direction.
pub const DEFAULT_MAX_OOO_SEGMENTS: usize = 64;
/// Default global reassembly memory per capture thread.
pub const DEFAULT_MEM_BUDGET: usize = 256 * 1024 * 1024;
/// Largest distance, in sequence space, between a segment and the highest sequence seen.
/// RFC 7323 §2.3 caps the TCP window at 2^30 bytes, so neither new data nor a
/// retransmission of unacknowledged data can be further away; this also keeps the
/// signed 32-bit difference unambiguous.
pub const MAX_SEQ_DISTANCE: u32 = 1 << 30;

/// Counter names bumped by this module.
pub mod reason {
    pub const OUT_OF_WINDOW: &str = "reasm.out_of_window";
    pub const BEFORE_START: &str = "reasm.before_start";
    pub const DEPTH_LIMIT: &str = "reasm.depth_limit";
    pub const MEMORY_LIMIT: &str = "reasm.memory_limit";
    pub const OOO_LIMIT: &str = "reasm.ooo_limit";
    pub const GAP: &str = "reasm.gap";
    pub const RETRANSMISSION: &str = "reasm.retransmission";
    pub const OVERLAP_CONFLICT: &str = "reasm.overlap_conflict";
    /// Bytes that arrived for a hole that had already been given up as a gap.
    pub const LATE_IN_GAP: &str = "reasm.late_in_gap";
    /// Queued segments still waiting behind a hole when `finish` was called.
    pub const OOO_DISCARDED: &str = "reasm.ooo_discarded";
    /// A SYN whose ISN disagrees with the offset 0 already in use (ignored).
    pub const ISN_MISMATCH: &str = "reasm.isn_mismatch";
}

/// Per-direction limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasmLimits {
    /// Depth: stream offsets at or above this are not kept.
    pub max_bytes_per_direction: usize,
    /// Out-of-order segments queued per direction.
    pub max_ooo_segments: usize,
}

impl Default for ReasmLimits {
    fn default() -> Self {
        Self {
            max_bytes_per_direction: DEFAULT_MAX_BYTES_PER_DIRECTION,
            max_ooo_segments: DEFAULT_MAX_OOO_SEGMENTS,
        }
    }
}

/// Global memory budget shared by all flows of one flow table (single-threaded: passed
/// by `&mut`). Buffered stream bytes are reserved with [`MemBudget::try_reserve`]; the
/// flow table also reserves its own structures (hash-table slots, boxed assemblers) with
/// [`MemBudget::try_reserve_fixed`], so one limit bounds both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemBudget {
    limit: usize,
    used: usize,
    /// Part of `used` that is structures, not buffered bytes.
    fixed: usize,
}

impl Default for MemBudget {
    fn default() -> Self {
        Self::new(DEFAULT_MEM_BUDGET)
    }
}

impl MemBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            fixed: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used
    }

    /// Reserve `n` bytes; false (and nothing reserved) when that would exceed the limit.
    pub fn try_reserve(&mut self, n: usize) -> bool {
        match self.used.checked_add(n) {
            Some(u) if u <= self.limit => {
                self.used = u;
                true
            }
            _ => false,
        }
    }

    pub fn release(&mut self, n: usize) {
        debug_assert!(n <= self.used, "releasing more than reserved");
        self.used = self.used.saturating_sub(n);
    }

    /// [`MemBudget::try_reserve`] for structures (counted apart from buffered bytes).
    pub fn try_reserve_fixed(&mut self, n: usize) -> bool {
        let ok = self.try_reserve(n);
        if ok {
            self.fixed += n;
        }
        ok
    }

    pub fn release_fixed(&mut self, n: usize) {
        debug_assert!(n <= self.fixed, "releasing more than reserved");
        self.fixed = self.fixed.saturating_sub(n);
        self.release(n);
    }

    /// Bytes reserved for buffered stream data (everything but structures).
    pub fn buffered(&self) -> usize {
        self.used - self.fixed
    }
}

/// What one [`DirAssembler::push`] did (the counters say why bytes were dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// New bytes were added to the collected data (in order, possibly pulling queued
    /// segments after them): rescan [`DirAssembler::contiguous`].
    Appended,
    /// New bytes were queued out of order; nothing was appended.
    Queued,
    /// Every byte was already held: a retransmission.
    Duplicate,
    /// Nothing new was kept: out of window, before offset 0, beyond depth, no memory,
    /// or only bytes for holes already given up.
    Dropped,
    /// Not looked at: empty payload, or the assembler is finished.
    Ignored,
}

/// One queued out-of-order segment (owned copy, its own packet time).
#[derive(Debug)]
struct OooSeg {
    off: u64,
    buf: Vec<u8>,
    ts_ns: i64,
}

impl OooSeg {
    fn end(&self) -> u64 {
        self.off + len64(&self.buf)
    }
}

/// What happened to the bytes of one push.
#[derive(Default)]
struct Tally {
    appended: bool,
    queued: bool,
    dropped: bool,
    dup: bool,
    late: u64,
    conflict: bool,
}

/// The parts of a [`DirAssembler`] that only a direction with more than one run of bytes
/// needs: further pieces, gaps, the out-of-order queue. Boxed and allocated on first use,
/// so a direction whose bytes came in one segment (every unfinished hello a flood leaves
/// in the table) carries one pointer for them. Not charged to the budget, like the
/// growth of these lists (the bytes they hold are).
#[derive(Debug, Default)]
struct Rest {
    /// Pieces after the first (which is [`DirAssembler::first_ts`] at data index 0).
    pieces: Vec<Piece>,
    gaps: Vec<(u64, u64)>,
    /// Index in `data` where the first gap sits.
    first_gap_idx: Option<usize>,
    /// Sorted by `off`, disjoint, every `off > next`.
    ooo: Vec<OooSeg>,
    ooo_bytes: usize,
}

/// Bits of [`DirAssembler::flags`] (one byte, not six `bool`s: the flow table holds an
/// assembler for every collecting direction of a million connections).
mod flag {
    /// `base` is set.
    pub const BASE_KNOWN: u8 = 1;
    /// Offset 0 came from a SYN (not from the first data segment).
    pub const SYN_SEEN: u8 = 1 << 1;
    /// A differing copy overlapped held bytes.
    pub const CONFLICT: u8 = 1 << 2;
    /// Bytes were dropped for depth or memory.
    pub const TRUNCATED: u8 = 1 << 3;
    /// `reasm.depth_limit` was counted.
    pub const DEPTH_COUNTED: u8 = 1 << 4;
    pub const FINISHED: u8 = 1 << 5;
}

/// Reassembler for one direction of one TCP connection. Its limits are the flow
/// table's, passed to each [`DirAssembler::push`] like the budget, so that a million
/// assemblers do not each carry a copy.
#[derive(Debug)]
pub struct DirAssembler {
    /// In-order bytes, gaps squeezed out.
    data: Vec<u8>,
    /// Highest in-window stream end offset seen: the reference for wrap-safe offsets.
    highest: u64,
    /// In-order frontier: every offset below is in `data` or in a gap.
    next: u64,
    /// Packet time of the piece at data index 0 (its stream offset is 0, or the end of
    /// the gap before it).
    first_ts: i64,
    rest: Option<Box<Rest>>,
    /// Sequence number of stream offset 0, once known ([`flag::BASE_KNOWN`]).
    base: u32,
    flags: u8,
}

#[inline]
fn len64(b: &[u8]) -> u64 {
    // usize is at most 64 bits on every supported target.
    b.len() as u64
}

/// `b[from..to]` for offsets relative to `start`; empty if out of range (cannot happen
/// for the ranges computed below, but stays panic-free).
#[inline]
fn sub(b: &[u8], start: u64, from: u64, to: u64) -> &[u8] {
    let a = usize::try_from(from.saturating_sub(start)).unwrap_or(usize::MAX);
    let z = usize::try_from(to.saturating_sub(start)).unwrap_or(usize::MAX);
    b.get(a..z).unwrap_or(&[])
}

impl Default for DirAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl DirAssembler {
    pub fn new() -> Self {
        Self {
            data: Vec::new(),
            highest: 0,
            next: 0,
            first_ts: 0,
            rest: None,
            base: 0,
            flags: 0,
        }
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn set(&mut self, f: u8) {
        self.flags |= f;
    }

    fn rest_mut(&mut self) -> &mut Rest {
        self.rest.get_or_insert_with(Box::default)
    }

    fn ooo(&self) -> &[OooSeg] {
        self.rest.as_ref().map_or(&[], |r| &r.ooo)
    }

    /// Pieces after the first.
    fn later_pieces(&self) -> &[Piece] {
        self.rest.as_ref().map_or(&[], |r| &r.pieces)
    }

    /// The piece at data index 0: at stream offset 0 unless the stream began with a
    /// gap (the first gap recorded while nothing was held starts at 0 and only grows
    /// until data follows it).
    fn first_piece(&self) -> Option<Piece> {
        if self.data.is_empty() {
            return None;
        }
        let stream_offset = match &self.rest {
            Some(r) if r.first_gap_idx == Some(0) => r.gaps.first().map_or(0, |g| g.1),
            _ => 0,
        };
        Some(Piece {
            stream_offset,
            data_offset: 0,
            ts_ns: self.first_ts,
        })
    }

    /// SYN seen for this direction: stream offset 0 is `isn + 1`. Effective only before
    /// the first data segment; a later SYN agreeing with offset 0 is fine, a disagreeing
    /// one is counted (`reasm.isn_mismatch`) and ignored (offsets never move once used).
    /// A SYN carrying data (TCP Fast Open) is pushed with `seq = isn + 1`.
    pub fn set_isn(&mut self, isn: u32, counters: &mut Counters) {
        if self.has(flag::FINISHED) {
            return;
        }
        let start = isn.wrapping_add(1);
        if !self.has(flag::BASE_KNOWN) {
            self.base = start;
            self.set(flag::BASE_KNOWN | flag::SYN_SEEN);
        } else if self.base == start {
            self.set(flag::SYN_SEEN);
        } else {
            counters.bump(reason::ISN_MISMATCH);
        }
    }

    /// One segment's payload, kept within `limits`. Without a SYN, the first data
    /// segment's `seq` is offset 0. After `finish` this is O(1) and does not read
    /// `payload`.
    pub fn push(
        &mut self,
        seq: u32,
        payload: &[u8],
        ts_ns: i64,
        limits: &ReasmLimits,
        budget: &mut MemBudget,
        counters: &mut Counters,
    ) -> PushOutcome {
        if self.has(flag::FINISHED) || payload.is_empty() {
            return PushOutcome::Ignored;
        }
        if !self.has(flag::BASE_KNOWN) {
            self.base = seq;
            self.set(flag::BASE_KNOWN);
        }
        let base = self.base;

        // Wrap-safe offset: signed distance from the highest offset seen. The `as u32`
        // truncation is the intended reduction modulo 2^32.
        let ref_seq = base.wrapping_add(self.highest as u32);
        let diff = seq.wrapping_sub(ref_seq) as i32;
        if diff.unsigned_abs() > MAX_SEQ_DISTANCE {
            counters.bump(reason::OUT_OF_WINDOW);
            return PushOutcome::Dropped;
        }
        let start = i128::from(self.highest) + i128::from(diff);
        let end = start + i128::from(len64(payload));
        if end <= 0 {
            counters.bump(reason::BEFORE_START);
            return PushOutcome::Dropped;
        }
        let mut trimmed_front = false;
        let (start, payload) = if start < 0 {
            counters.bump(reason::BEFORE_START);
            trimmed_front = true;
            let skip = usize::try_from(-start).unwrap_or(usize::MAX);
            (0u64, payload.get(skip..).unwrap_or(&[]))
        } else {
            (u64::try_from(start).unwrap_or(u64::MAX), payload)
        };
        let end = start + len64(payload);
        self.highest = self.highest.max(end);

        let mut tally = Tally::default();
        let depth = u64::try_from(limits.max_bytes_per_direction).unwrap_or(u64::MAX);
        let keep_end = end.min(depth);
        if keep_end < end {
            self.note_depth(counters);
            tally.dropped = true;
        }

        let mut cur = start;
        while cur < keep_end {
            if cur < self.next {
                // Already behind the frontier: compare with what was kept.
                let upto = keep_end.min(self.next);
                self.check_kept(cur, sub(payload, start, cur, upto), &mut tally);
                cur = upto;
                continue;
            }
            let ooo = self.ooo();
            let i = ooo.partition_point(|q| q.end() <= cur);
            match ooo.get(i) {
                Some(q) if q.off <= cur => {
                    let upto = keep_end.min(q.end());
                    let held = sub(&q.buf, q.off, cur, upto);
                    if held != sub(payload, start, cur, upto) {
                        tally.conflict = true;
                    }
                    tally.dup = true;
                    cur = upto;
                }
                other => {
                    let upto = other.map_or(keep_end, |q| q.off.min(keep_end));
                    let bytes = sub(payload, start, cur, upto);
                    // Reserve first: giving up a hole for bytes that cannot be stored
                    // would only lose more.
                    if budget.try_reserve(bytes.len()) {
                        if cur > self.next && self.ooo().len() >= limits.max_ooo_segments {
                            self.make_queue_room(cur, counters, &mut tally);
                        }
                        self.place(cur, bytes, ts_ns, &mut tally);
                    } else {
                        counters.bump(reason::MEMORY_LIMIT);
                        self.set(flag::TRUNCATED);
                        tally.dropped = true;
                    }
                    cur = upto;
                }
            }
        }

        if tally.conflict {
            self.set(flag::CONFLICT);
            counters.bump(reason::OVERLAP_CONFLICT);
        }
        if tally.late > 0 {
            counters.add(reason::LATE_IN_GAP, tally.late);
        }
        if tally.appended {
            PushOutcome::Appended
        } else if tally.queued {
            PushOutcome::Queued
        } else if tally.dropped || tally.late > 0 || !tally.dup {
            PushOutcome::Dropped
        } else {
            if !trimmed_front {
                counters.bump(reason::RETRANSMISSION);
            }
            PushOutcome::Duplicate
        }
    }

    /// Where stream offset `cur` (below the frontier) is held: `Ok` with the stream
    /// offset and data range of the piece holding it, or `Err` with the stream offset
    /// of the next piece (`None`: no piece follows) when it falls in a gap.
    fn locate(&self, cur: u64) -> Result<(u64, usize, usize), Option<u64>> {
        let later = self.later_pieces();
        let i = later.partition_point(|p| p.stream_offset <= cur);
        let (p_off, from, after) = match i.checked_sub(1).and_then(|k| later.get(k)) {
            Some(p) => (p.stream_offset, p.data_offset, later.get(i)),
            None => match self.first_piece() {
                Some(p) if p.stream_offset <= cur => (p.stream_offset, 0, later.first()),
                p => return Err(p.map(|p| p.stream_offset)),
            },
        };
        let to = after.map_or(self.data.len(), |n| n.data_offset);
        let p_end = p_off + len64(self.data.get(from..to).unwrap_or(&[]));
        if cur < p_end {
            Ok((p_off, from, to))
        } else {
            Err(after.map(|n| n.stream_offset))
        }
    }

    /// Compare bytes at `[off, off+len)`, all below the frontier, with what was kept;
    /// bytes falling in a recorded gap are late.
    fn check_kept(&self, off: u64, bytes: &[u8], tally: &mut Tally) {
        let end = off + len64(bytes);
        let mut cur = off;
        while cur < end {
            match self.locate(cur) {
                Ok((p_off, from, to)) => {
                    let p_end = p_off + len64(self.data.get(from..to).unwrap_or(&[]));
                    let upto = end.min(p_end);
                    let a = usize::try_from(cur - p_off)
                        .ok()
                        .and_then(|d| d.checked_add(from));
                    let n = usize::try_from(upto - cur).ok();
                    let held = a
                        .zip(n)
                        .and_then(|(a, n)| self.data.get(a..a.checked_add(n)?));
                    if held != Some(sub(bytes, off, cur, upto)) {
                        tally.conflict = true;
                    }
                    tally.dup = true;
                    cur = upto;
                }
                Err(next_piece) => {
                    // In a gap: up to the next piece (or the end of the bytes).
                    let upto = next_piece.map_or(end, |n| n.min(end)).max(cur + 1);
                    tally.late += upto.min(end) - cur;
                    cur = upto;
                }
            }
        }
    }

    /// The queue is full and bytes for `off` (past the frontier) are coming: give up the
    /// first hole, up to the earlier of `off` and the first queued segment
    /// (`reasm.ooo_limit`).
    fn make_queue_room(&mut self, off: u64, counters: &mut Counters, tally: &mut Tally) {
        counters.bump(reason::OOO_LIMIT);
        let target = self.ooo().first().map_or(off, |q| q.off.min(off));
        // Skipping drains at least the first queued segment (or reaches `off`), so
        // there is room afterwards; the frontier never passes `off` (a hole).
        if self.skip_to(target, counters) {
            tally.appended = true;
        }
    }

    /// Keep bytes (already reserved) for the hole `[off, off+len)` (`off >= next`, not
    /// covered by the queue): appended at the frontier, else queued.
    fn place(&mut self, off: u64, bytes: &[u8], ts_ns: i64, tally: &mut Tally) {
        if off == self.next {
            self.append(off, bytes, ts_ns);
            self.drain();
            tally.appended = true;
        } else {
            let r = self.rest_mut();
            let i = r.ooo.partition_point(|q| q.off < off);
            r.ooo.insert(
                i,
                OooSeg {
                    off,
                    buf: bytes.to_vec(),
                    ts_ns,
                },
            );
            r.ooo_bytes += bytes.len();
            tally.queued = true;
        }
    }

    /// Add a piece at the frontier (`off == next`).
    fn append(&mut self, off: u64, bytes: &[u8], ts_ns: i64) {
        if self.data.is_empty() {
            self.first_ts = ts_ns;
        } else {
            let data_offset = self.data.len();
            self.rest_mut().pieces.push(Piece {
                stream_offset: off,
                data_offset,
                ts_ns,
            });
        }
        self.data.extend_from_slice(bytes);
        self.next = off + len64(bytes);
    }

    /// Append queued segments that now start at the frontier. True if any was appended.
    fn drain(&mut self) -> bool {
        let mut any = false;
        while let Some(r) = self.rest.as_mut() {
            if r.ooo.first().is_none_or(|q| q.off != self.next) {
                break;
            }
            let q = r.ooo.remove(0);
            r.ooo_bytes -= q.buf.len();
            self.append(q.off, &q.buf, q.ts_ns);
            any = true;
        }
        any
    }

    /// Give up the hole from the frontier to `target`, then append what follows.
    fn skip_to(&mut self, target: u64, counters: &mut Counters) -> bool {
        if target > self.next {
            let (next, held) = (self.next, self.data.len());
            let len = target - next;
            let r = self.rest_mut();
            match r.gaps.last_mut() {
                // Nothing was appended since the last gap: it just grows (a gap is always
                // followed by data, so `StreamData` consumers see one jump per gap).
                Some(g) if g.0 + g.1 == next => g.1 += len,
                _ => {
                    r.first_gap_idx.get_or_insert(held);
                    r.gaps.push((next, len));
                    counters.bump(reason::GAP);
                }
            }
            self.next = target;
        }
        self.drain()
    }

    fn note_depth(&mut self, counters: &mut Counters) {
        if !self.has(flag::DEPTH_COUNTED) {
            self.set(flag::DEPTH_COUNTED);
            counters.bump(reason::DEPTH_LIMIT);
        }
        self.set(flag::TRUNCATED);
    }

    /// In-order bytes from offset 0 up to the first gap (never past it: record framing is
    /// lost there). Queued out-of-order bytes are not included.
    pub fn contiguous(&self) -> &[u8] {
        let end = self
            .rest
            .as_ref()
            .and_then(|r| r.first_gap_idx)
            .unwrap_or(self.data.len());
        self.data.get(..end).unwrap_or(&self.data)
    }

    /// All collected bytes in stream order, including those after skipped gaps.
    pub fn delivered(&self) -> &[u8] {
        &self.data
    }

    /// Gaps recorded so far (stream offset, length).
    pub fn gaps(&self) -> &[(u64, u64)] {
        self.rest.as_ref().map_or(&[], |r| &r.gaps)
    }

    /// Give up on missing bytes: close every hole before a queued segment by skipping it
    /// (recorded in `gaps`, counted `reasm.gap`) and append the queued segments in order.
    /// Called at flow end / flush (the queue overflow does it for the first hole itself).
    pub fn skip_gaps(&mut self, counters: &mut Counters) {
        while let Some(target) = self.ooo().first().map(|q| q.off) {
            self.skip_to(target, counters);
        }
    }

    /// Take the collected data and release its bytes (and any queued ones, which are
    /// discarded and counted `reasm.ooo_discarded`: call `skip_gaps` first to keep them)
    /// from the budget. Afterwards pushes are ignored. An `Open` end becomes `Truncated`
    /// if bytes were dropped for depth or memory; other ends are kept as given.
    pub fn finish(
        &mut self,
        end: StreamEnd,
        budget: &mut MemBudget,
        counters: &mut Counters,
    ) -> StreamData {
        if self.has(flag::FINISHED) {
            return StreamData {
                end,
                ..StreamData::default()
            };
        }
        counters.add(
            reason::OOO_DISCARDED,
            u64::try_from(self.queued_segments()).unwrap_or(u64::MAX),
        );
        let end = if self.is_truncated() && end == StreamEnd::Open {
            StreamEnd::Truncated
        } else {
            end
        };
        let first = self.first_piece();
        // In-order and queued bytes alike go back (the queued ones leave with `rest`).
        budget.release(self.buffered_bytes());
        let (later, gaps) = self
            .rest
            .take()
            .map(|r| (r.pieces, r.gaps))
            .unwrap_or_default();
        let mut pieces = Vec::with_capacity(usize::from(first.is_some()) + later.len());
        pieces.extend(first);
        pieces.extend(later);
        let out = StreamData {
            data: std::mem::take(&mut self.data),
            pieces,
            gaps,
            overlap_conflict: self.has(flag::CONFLICT),
            end,
        };
        self.release_all(budget);
        out
    }

    /// Drop everything held without shipping it, returning its bytes to the budget; the
    /// assembler then ignores pushes. Use before dropping an unfinished assembler.
    pub fn release_all(&mut self, budget: &mut MemBudget) {
        budget.release(self.buffered_bytes());
        self.data = Vec::new();
        self.rest = None;
        self.set(flag::FINISHED);
    }

    /// Bytes held (in order + queued), i.e. reserved from the budget.
    pub fn buffered_bytes(&self) -> usize {
        self.data.len() + self.rest.as_ref().map_or(0, |r| r.ooo_bytes)
    }

    /// Number of queued out-of-order segments.
    pub fn queued_segments(&self) -> usize {
        self.ooo().len()
    }

    /// Bytes were dropped for depth or memory.
    pub fn is_truncated(&self) -> bool {
        self.has(flag::TRUNCATED)
    }

    pub fn is_finished(&self) -> bool {
        self.has(flag::FINISHED)
    }

    /// Offset 0 came from a SYN rather than the first data segment.
    pub fn syn_seen(&self) -> bool {
        self.has(flag::SYN_SEEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Deterministic, non-repeating-looking stream bytes.
    fn stream(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i.wrapping_mul(7) + 3) as u8).collect()
    }

    fn lim(depth: usize, ooo: usize) -> ReasmLimits {
        ReasmLimits {
            max_bytes_per_direction: depth,
            max_ooo_segments: ooo,
        }
    }

    /// Assembler plus its budget and counters, seq numbers relative to `isn + 1`.
    struct H {
        a: DirAssembler,
        l: ReasmLimits,
        b: MemBudget,
        c: Counters,
        isn: u32,
    }

    impl H {
        fn new(limits: ReasmLimits, budget: usize, isn: u32) -> Self {
            let mut c = Counters::new();
            let mut a = DirAssembler::new();
            a.set_isn(isn, &mut c);
            H {
                a,
                l: limits,
                b: MemBudget::new(budget),
                c,
                isn,
            }
        }

        /// No SYN: offset 0 is the first data segment's seq.
        fn mid() -> Self {
            H {
                a: DirAssembler::new(),
                l: ReasmLimits::default(),
                b: MemBudget::new(usize::MAX),
                c: Counters::new(),
                isn: 0,
            }
        }

        /// Push `bytes` at raw sequence number `seq`.
        fn raw(&mut self, seq: u32, bytes: &[u8], ts: i64) -> PushOutcome {
            let out = self
                .a
                .push(seq, bytes, ts, &self.l, &mut self.b, &mut self.c);
            assert_eq!(self.b.used(), self.a.buffered_bytes());
            out
        }

        fn syn(isn: u32) -> Self {
            Self::new(ReasmLimits::default(), usize::MAX, isn)
        }

        /// Push `s[off..off+len]` at stream offset `off`.
        fn seg(&mut self, s: &[u8], off: usize, len: usize, ts: i64) -> PushOutcome {
            let seq = self.isn.wrapping_add(1).wrapping_add(off as u32);
            let out = self.a.push(
                seq,
                &s[off..off + len],
                ts,
                &self.l,
                &mut self.b,
                &mut self.c,
            );
            assert_eq!(self.b.used(), self.a.buffered_bytes());
            out
        }

        fn finish(&mut self, end: StreamEnd) -> StreamData {
            let sd = self.a.finish(end, &mut self.b, &mut self.c);
            assert_eq!(self.b.used(), 0);
            sd
        }
    }

    fn piece(stream_offset: u64, data_offset: usize, ts_ns: i64) -> Piece {
        Piece {
            stream_offset,
            data_offset,
            ts_ns,
        }
    }

    #[test]
    fn in_order_segments_append() {
        let s = stream(7);
        let mut h = H::syn(1000);
        assert_eq!(h.seg(&s, 0, 3, 1), PushOutcome::Appended);
        assert_eq!(h.a.contiguous(), &s[..3]);
        assert_eq!(h.seg(&s, 3, 4, 2), PushOutcome::Appended);
        assert_eq!(h.a.contiguous(), &s[..]);
        let sd = h.finish(StreamEnd::Fin);
        assert_eq!(sd.data, s);
        assert_eq!(sd.pieces, vec![piece(0, 0, 1), piece(3, 3, 2)]);
        assert!(sd.gaps.is_empty());
        assert!(!sd.overlap_conflict);
        assert_eq!(sd.end, StreamEnd::Fin);
        assert!(h.c.is_empty());
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for i in 0..=p.len() {
                let mut q = p.clone();
                q.insert(i, n - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn out_of_order_all_permutations() {
        let s = stream(20);
        let segs = [(0usize, 5usize), (5, 4), (9, 5), (14, 6)];
        let perms = permutations(segs.len());
        assert_eq!(perms.len(), 24);
        for perm in perms {
            let mut h = H::syn(0xdead_beef);
            let mut have = [false; 4];
            for &k in &perm {
                let (off, len) = segs[k];
                let before = h.a.contiguous().len();
                have[k] = true;
                let prefix: usize = have
                    .iter()
                    .zip(segs.iter())
                    .take_while(|(h, _)| **h)
                    .map(|(_, s)| s.1)
                    .sum();
                let out = h.seg(&s, off, len, k as i64);
                let want = if prefix > before {
                    PushOutcome::Appended
                } else {
                    PushOutcome::Queued
                };
                assert_eq!(out, want, "perm {perm:?} seg {k}");
                assert_eq!(h.a.contiguous(), &s[..prefix], "perm {perm:?}");
            }
            assert_eq!(h.a.queued_segments(), 0);
            let sd = h.finish(StreamEnd::Open);
            assert_eq!(sd.data, s, "perm {perm:?}");
            let want: Vec<Piece> = segs
                .iter()
                .enumerate()
                .map(|(k, &(o, _))| piece(o as u64, o, k as i64))
                .collect();
            assert_eq!(sd.pieces, want, "queued segments keep their own ts");
            assert!(sd.gaps.is_empty());
            assert!(h.c.is_empty(), "{:?}", h.c);
        }
    }

    #[test]
    fn duplicates_are_retransmissions() {
        let s = stream(30);
        let mut h = H::syn(5);
        assert_eq!(h.seg(&s, 0, 10, 1), PushOutcome::Appended);
        assert_eq!(h.seg(&s, 0, 10, 2), PushOutcome::Duplicate);
        assert_eq!(h.seg(&s, 2, 5, 3), PushOutcome::Duplicate);
        assert_eq!(h.seg(&s, 20, 5, 4), PushOutcome::Queued);
        let held = h.a.buffered_bytes();
        assert_eq!(h.seg(&s, 20, 5, 5), PushOutcome::Duplicate);
        assert_eq!(h.seg(&s, 21, 3, 6), PushOutcome::Duplicate);
        assert_eq!(h.a.buffered_bytes(), held);
        assert_eq!(h.c.get(reason::RETRANSMISSION), 4);
        assert_eq!(h.a.queued_segments(), 1);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.pieces, vec![piece(0, 0, 1)]);
        assert!(!sd.overlap_conflict);
        assert_eq!(h.c.get(reason::OOO_DISCARDED), 1);
    }

    #[test]
    fn partial_overlap_same_bytes_appends_tail() {
        let s = stream(15);
        let mut h = H::syn(77);
        h.seg(&s, 0, 10, 1);
        assert_eq!(h.seg(&s, 5, 10, 2), PushOutcome::Appended);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.data, s);
        assert_eq!(sd.pieces, vec![piece(0, 0, 1), piece(10, 10, 2)]);
        assert!(!sd.overlap_conflict);
        assert_eq!(h.c.get(reason::RETRANSMISSION), 0);
        assert_eq!(h.c.get(reason::OVERLAP_CONFLICT), 0);
    }

    #[test]
    fn differing_overlap_keeps_first_bytes_and_flags() {
        let s = stream(20);
        let mut bad = s.clone();
        for b in &mut bad[5..15] {
            *b ^= 0xff;
        }
        // Against in-order data.
        let mut h = H::syn(9);
        h.seg(&s, 0, 10, 1);
        assert_eq!(h.seg(&bad, 5, 10, 2), PushOutcome::Appended);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(&sd.data[..10], &s[..10], "first bytes win");
        assert_eq!(&sd.data[10..], &bad[10..15], "new tail appended");
        assert!(sd.overlap_conflict);
        assert_eq!(h.c.get(reason::OVERLAP_CONFLICT), 1);

        // Against queued data: the queued copy came first.
        let mut h = H::syn(9);
        h.seg(&s, 10, 10, 1);
        assert_eq!(h.seg(&bad, 0, 15, 2), PushOutcome::Appended);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(&sd.data[..10], &bad[..10]);
        assert_eq!(&sd.data[10..], &s[10..20]);
        assert_eq!(sd.pieces, vec![piece(0, 0, 2), piece(10, 10, 1)]);
        assert!(sd.overlap_conflict);

        // A differing full duplicate is a conflict too, and not silent.
        let mut h = H::syn(9);
        h.seg(&s, 0, 20, 1);
        assert_eq!(h.seg(&bad, 5, 10, 2), PushOutcome::Duplicate);
        assert_eq!(h.c.get(reason::OVERLAP_CONFLICT), 1);
        assert_eq!(h.finish(StreamEnd::Open).data, s);
    }

    #[test]
    fn gaps_are_skipped_and_recorded() {
        let s = stream(25);
        let mut h = H::syn(1);
        h.seg(&s, 0, 5, 1);
        h.seg(&s, 20, 5, 3);
        h.seg(&s, 10, 5, 2);
        assert_eq!(h.a.contiguous(), &s[..5]);
        h.a.skip_gaps(&mut h.c);
        assert_eq!(h.c.get(reason::GAP), 2);
        assert_eq!(h.a.gaps(), &[(5, 5), (15, 5)]);
        assert_eq!(h.a.contiguous(), &s[..5], "never past the first gap");
        assert_eq!(h.a.delivered().len(), 15);
        // The hole was given up: late bytes are counted, not inserted.
        assert_eq!(h.seg(&s, 5, 5, 4), PushOutcome::Dropped);
        assert_eq!(h.c.get(reason::LATE_IN_GAP), 5);
        // Half late, half duplicate.
        assert_eq!(h.seg(&s, 12, 6, 5), PushOutcome::Dropped);
        assert_eq!(h.c.get(reason::LATE_IN_GAP), 8);
        let sd = h.finish(StreamEnd::Open);
        let mut want = s[..5].to_vec();
        want.extend_from_slice(&s[10..15]);
        want.extend_from_slice(&s[20..25]);
        assert_eq!(sd.data, want);
        assert_eq!(sd.gaps, vec![(5, 5), (15, 5)]);
        assert_eq!(
            sd.pieces,
            vec![piece(0, 0, 1), piece(10, 5, 2), piece(20, 10, 3)]
        );
        assert_eq!(sd.first_gap_data_index(), Some(5));
        assert_eq!(sd.contiguous_runs(), vec![0..5, 5..10, 10..15]);
    }

    #[test]
    fn stream_crossing_2_pow_32() {
        let s = stream(40);
        // Offset 0 at u32::MAX - 9: bytes 10.. have wrapped sequence numbers.
        let isn = u32::MAX - 10;
        let mut h = H::syn(isn);
        assert_eq!(h.seg(&s, 20, 20, 3), PushOutcome::Queued);
        assert_eq!(h.seg(&s, 0, 5, 1), PushOutcome::Appended);
        assert_eq!(h.seg(&s, 5, 15, 2), PushOutcome::Appended);
        assert_eq!(h.seg(&s, 8, 10, 4), PushOutcome::Duplicate);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.data, s);
        assert!(sd.gaps.is_empty());
        assert_eq!(h.c.get(reason::OUT_OF_WINDOW), 0);
    }

    #[test]
    fn reference_follows_long_streams_across_many_wraps() {
        // Depth-limited direction that keeps running: sequence numbers lap 2^32 twice;
        // each segment is within the window of the previous one, so none is out of window.
        let mut h = H::new(lim(4, 8), usize::MAX, 0);
        let mut c = Counters::new();
        let step = 1u32 << 29;
        for i in 1..=20u32 {
            let out = h.a.push(
                1 + i.wrapping_mul(step),
                b"x",
                i64::from(i),
                &h.l,
                &mut h.b,
                &mut c,
            );
            assert_eq!(out, PushOutcome::Dropped);
        }
        assert_eq!(c.get(reason::OUT_OF_WINDOW), 0);
        assert_eq!(c.get(reason::DEPTH_LIMIT), 1);
        // Offset 1 is now ~10 GiB behind: out of window, not mistaken for new data.
        assert_eq!(
            h.a.push(2, b"y", 0, &h.l, &mut h.b, &mut c),
            PushOutcome::Dropped
        );
        assert_eq!(c.get(reason::OUT_OF_WINDOW), 1);
    }

    #[test]
    fn out_of_window_segment_is_ignored() {
        let s = stream(4);
        let mut h = H::syn(100);
        h.seg(&s, 0, 4, 1);
        let far = 101u32.wrapping_add(4).wrapping_add(MAX_SEQ_DISTANCE + 1);
        assert_eq!(
            h.a.push(far, b"zz", 2, &h.l, &mut h.b, &mut h.c),
            PushOutcome::Dropped
        );
        let behind = 105u32.wrapping_sub(MAX_SEQ_DISTANCE + 1);
        assert_eq!(
            h.a.push(behind, b"zz", 2, &h.l, &mut h.b, &mut h.c),
            PushOutcome::Dropped
        );
        assert_eq!(h.c.get(reason::OUT_OF_WINDOW), 2);
        // Exactly at the limit is still in window: dropped by depth, not by window.
        let at = 105u32.wrapping_add(MAX_SEQ_DISTANCE);
        h.a.push(at, b"zz", 3, &h.l, &mut h.b, &mut h.c);
        assert_eq!(h.c.get(reason::OUT_OF_WINDOW), 2);
        assert_eq!(h.c.get(reason::DEPTH_LIMIT), 1);
        assert_eq!(h.finish(StreamEnd::Open).data, s);
    }

    /// The first piece is kept inline, its stream offset implied by a leading gap: bytes
    /// sent again are still told apart as late (in the gap), duplicate or conflicting.
    #[test]
    fn stream_opening_with_a_gap_checks_retransmissions() {
        let s = stream(30);
        let mut h = H::syn(40);
        assert_eq!(h.seg(&s, 10, 5, 1), PushOutcome::Queued);
        h.a.skip_gaps(&mut h.c);
        assert_eq!(h.a.gaps(), &[(0, 10)]);
        // 5..10 fall in the gap, 10..12 are held.
        assert_eq!(h.seg(&s, 5, 7, 2), PushOutcome::Dropped);
        assert_eq!(h.c.get(reason::LATE_IN_GAP), 5);
        assert_eq!(h.seg(&s, 11, 4, 3), PushOutcome::Duplicate);
        let mut bad = s.clone();
        bad[13] ^= 0xff;
        assert_eq!(h.seg(&bad, 12, 3, 4), PushOutcome::Duplicate);
        assert_eq!(h.c.get(reason::OVERLAP_CONFLICT), 1);
        assert_eq!(h.seg(&s, 15, 5, 5), PushOutcome::Appended);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.data, &s[10..20]);
        assert_eq!(sd.pieces, vec![piece(10, 0, 1), piece(15, 5, 5)]);
        assert!(sd.overlap_conflict);
    }

    /// The common case under a flood: one in-order segment allocates its bytes and
    /// nothing else.
    #[test]
    fn one_segment_needs_no_rest() {
        let s = stream(100);
        let mut h = H::syn(7);
        assert_eq!(h.seg(&s, 0, 100, 1), PushOutcome::Appended);
        assert_eq!(h.seg(&s, 0, 50, 2), PushOutcome::Duplicate);
        assert!(h.a.rest.is_none());
        assert_eq!(h.finish(StreamEnd::Open).pieces, vec![piece(0, 0, 1)]);
    }

    #[test]
    fn syn_defines_offset_zero_else_first_data() {
        let s = stream(20);
        // With SYN: data at isn+11 is offset 10, out of order behind a hole.
        let mut h = H::syn(99);
        assert!(h.a.syn_seen());
        assert_eq!(h.seg(&s, 10, 5, 1), PushOutcome::Queued);
        assert!(h.a.contiguous().is_empty());
        h.a.skip_gaps(&mut h.c);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.gaps, vec![(0, 10)]);
        assert_eq!(sd.pieces, vec![piece(10, 0, 1)]);

        // Mid-stream: the first data segment is offset 0.
        let mut h = H::mid();
        assert_eq!(h.raw(110, &s[..5], 1), PushOutcome::Appended);
        assert_eq!(h.raw(115, &s[5..9], 2), PushOutcome::Appended);
        assert!(!h.a.syn_seen());
        // A late SYN that agrees is accepted; one that disagrees is counted and ignored.
        h.a.set_isn(109, &mut h.c);
        assert!(h.a.syn_seen());
        assert_eq!(h.c.get(reason::ISN_MISMATCH), 0);
        h.a.set_isn(50, &mut h.c);
        assert_eq!(h.c.get(reason::ISN_MISMATCH), 1);
        assert_eq!(h.a.contiguous(), &s[..9]);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.pieces, vec![piece(0, 0, 1), piece(5, 5, 2)]);
    }

    #[test]
    fn segment_before_start_is_trimmed() {
        let s = stream(30);
        let mut h = H::mid();
        // Capture starts mid-stream at s[10]; seq of s[i] is 1000 + i.
        assert_eq!(h.raw(1010, &s[10..16], 1), PushOutcome::Appended);
        // Reordered earlier segment reaching past the start: only its new tail is kept.
        assert_eq!(h.raw(1005, &s[5..20], 2), PushOutcome::Appended);
        assert_eq!(h.c.get(reason::BEFORE_START), 1);
        assert_eq!(h.c.get(reason::RETRANSMISSION), 0);
        // Entirely before the start.
        assert_eq!(h.raw(1000, &s[..8], 3), PushOutcome::Dropped);
        // Before the start and otherwise duplicate: not a plain retransmission.
        assert_eq!(h.raw(1008, &s[8..12], 4), PushOutcome::Duplicate);
        assert_eq!(h.c.get(reason::BEFORE_START), 3);
        assert_eq!(h.c.get(reason::RETRANSMISSION), 0);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.data, &s[10..20]);
        assert_eq!(sd.pieces, vec![piece(0, 0, 1), piece(6, 6, 2)]);
    }

    #[test]
    fn depth_limit_binds_and_counts_once() {
        let s = stream(30);
        let mut h = H::new(lim(10, 8), usize::MAX, 7);
        assert_eq!(h.seg(&s, 0, 8, 1), PushOutcome::Appended);
        assert!(!h.a.is_truncated());
        assert_eq!(h.seg(&s, 8, 8, 2), PushOutcome::Appended);
        assert!(h.a.is_truncated());
        assert_eq!(h.seg(&s, 16, 4, 3), PushOutcome::Dropped);
        assert_eq!(h.seg(&s, 25, 4, 4), PushOutcome::Dropped);
        assert_eq!(h.c.get(reason::DEPTH_LIMIT), 1);
        assert_eq!(h.a.buffered_bytes(), 10);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.data, &s[..10]);
        assert_eq!(sd.end, StreamEnd::Truncated);

        // A caller-given end other than Open is kept.
        let mut h = H::new(lim(4, 8), usize::MAX, 7);
        h.seg(&s, 0, 8, 1);
        assert_eq!(h.finish(StreamEnd::Rst).end, StreamEnd::Rst);
        // Out-of-order data beyond depth is not queued.
        let mut h = H::new(lim(4, 8), usize::MAX, 7);
        assert_eq!(h.seg(&s, 6, 2, 1), PushOutcome::Dropped);
        assert_eq!(h.a.queued_segments(), 0);
    }

    #[test]
    fn ooo_limit_skips_first_hole() {
        let s = stream(40);
        let mut h = H::new(lim(1000, 2), usize::MAX, 3);
        h.seg(&s, 0, 2, 1);
        assert_eq!(h.seg(&s, 10, 2, 2), PushOutcome::Queued);
        assert_eq!(h.seg(&s, 20, 2, 3), PushOutcome::Queued);
        assert_eq!(h.c.get(reason::OOO_LIMIT), 0);
        // Third queued segment: the hole 2..10 is given up, 10..12 appended.
        assert_eq!(h.seg(&s, 30, 2, 4), PushOutcome::Appended);
        assert_eq!(h.c.get(reason::OOO_LIMIT), 1);
        assert_eq!(h.c.get(reason::GAP), 1);
        assert_eq!(h.a.gaps(), &[(2, 8)]);
        assert_eq!(h.a.queued_segments(), 2);
        // A new segment earlier than every queued one: skip only up to it.
        assert_eq!(h.seg(&s, 15, 2, 5), PushOutcome::Appended);
        assert_eq!(h.a.gaps(), &[(2, 8), (12, 3)]);
        assert_eq!(h.a.queued_segments(), 2);
        assert_eq!(h.c.get(reason::OOO_LIMIT), 2);
        assert_eq!(h.a.contiguous(), &s[..2]);

        // No queue at all: every hole is skipped at once.
        let mut h = H::new(lim(1000, 0), usize::MAX, 3);
        assert_eq!(h.seg(&s, 5, 5, 1), PushOutcome::Appended);
        assert_eq!(h.a.gaps(), &[(0, 5)]);
        assert!(h.a.contiguous().is_empty());
        assert_eq!(h.finish(StreamEnd::Open).data, &s[5..10]);
    }

    #[test]
    fn memory_budget_binds_and_is_shared() {
        let s = stream(30);
        let mut c = Counters::new();
        let mut b = MemBudget::new(12);
        let l = ReasmLimits::default();
        let mut x = DirAssembler::new();
        let mut y = DirAssembler::new();
        assert_eq!(
            x.push(0, &s[..8], 1, &l, &mut b, &mut c),
            PushOutcome::Appended
        );
        assert_eq!(
            y.push(0, &s[..4], 1, &l, &mut b, &mut c),
            PushOutcome::Appended
        );
        assert_eq!(b.used(), 12);
        // No room: the whole segment is dropped.
        assert_eq!(
            y.push(4, &s[4..6], 2, &l, &mut b, &mut c),
            PushOutcome::Dropped
        );
        assert_eq!(
            x.push(20, &s[20..21], 2, &l, &mut b, &mut c),
            PushOutcome::Dropped
        );
        assert_eq!(c.get(reason::MEMORY_LIMIT), 2);
        assert!(y.is_truncated());
        // x finishing frees room; y's hole is filled by the retransmission.
        let sx = x.finish(StreamEnd::HandshakeDone, &mut b, &mut c);
        assert_eq!(sx.end, StreamEnd::HandshakeDone);
        assert_eq!(b.used(), 4);
        assert_eq!(
            y.push(4, &s[4..6], 3, &l, &mut b, &mut c),
            PushOutcome::Appended
        );
        assert_eq!(y.contiguous(), &s[..6]);
        let sy = y.finish(StreamEnd::Open, &mut b, &mut c);
        assert_eq!(sy.end, StreamEnd::Truncated);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn finish_releases_and_later_pushes_are_ignored() {
        let s = stream(20);
        let mut h = H::syn(0);
        h.seg(&s, 0, 5, 1);
        h.seg(&s, 10, 5, 2);
        assert_eq!(h.b.used(), 10);
        let sd = h.finish(StreamEnd::Open);
        assert_eq!(sd.data, &s[..5]);
        assert_eq!(h.c.get(reason::OOO_DISCARDED), 1);
        assert!(h.a.is_finished());
        assert_eq!(h.seg(&s, 5, 5, 3), PushOutcome::Ignored);
        assert_eq!(h.a.buffered_bytes(), 0);
        assert_eq!(h.b.used(), 0);
        let again = h.finish(StreamEnd::Fin);
        assert!(again.data.is_empty() && again.pieces.is_empty());

        // release_all: same accounting without shipping.
        let mut h = H::syn(0);
        h.seg(&s, 0, 5, 1);
        h.seg(&s, 10, 5, 2);
        h.a.release_all(&mut h.b);
        assert_eq!(h.b.used(), 0);
        assert_eq!(h.seg(&s, 5, 5, 3), PushOutcome::Ignored);
        // Empty payloads are ignored without fixing offset 0.
        let mut h = H::mid();
        assert_eq!(h.raw(500, &[], 1), PushOutcome::Ignored);
        assert_eq!(h.raw(600, b"ab", 2), PushOutcome::Appended);
        assert_eq!(h.finish(StreamEnd::Open).pieces, vec![piece(0, 0, 2)]);
    }

    #[test]
    fn mem_budget_arithmetic() {
        let mut b = MemBudget::new(10);
        assert!(b.try_reserve(10));
        assert!(!b.try_reserve(1));
        assert!(!b.try_reserve(usize::MAX));
        b.release(4);
        assert_eq!(b.used(), 6);
        assert!(b.try_reserve(4));
        assert_eq!(b.limit(), 10);
    }

    // ---- property tests against a simple model ----

    #[derive(Debug, Clone)]
    struct Case {
        data: Vec<u8>,
        isn: u32,
        syn: bool,
        /// (offset, len) in feed order; ts = index in this list.
        segs: Vec<(usize, usize)>,
    }

    /// Random stream cut into segments at random points, plus random overlapping
    /// segments and duplicates, some dropped (when `drops`), shuffled.
    fn arb_case(drops: bool) -> impl Strategy<Value = Case> {
        (
            prop::collection::vec(any::<u8>(), 1..400),
            prop_oneof![any::<u32>(), (u32::MAX - 500)..=u32::MAX],
            any::<bool>(),
            prop::collection::vec(any::<u16>(), 0..30),
            prop::collection::vec((any::<u16>(), 1usize..80), 0..8),
            prop::collection::vec(any::<u16>(), 0..8),
            prop::collection::vec(any::<u16>(), 0..5),
            prop::collection::vec(any::<u32>(), 64),
        )
            .prop_map(
                move |(data, isn, syn, cuts, extras, dups, dropped, swaps)| {
                    let n = data.len();
                    let mut points: Vec<usize> =
                        cuts.iter().map(|&c| usize::from(c) * n / 65536).collect();
                    points.extend([0, n]);
                    points.sort_unstable();
                    points.dedup();
                    let mut segs: Vec<(usize, usize)> =
                        points.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
                    if drops && !segs.is_empty() {
                        for d in &dropped {
                            let i = usize::from(*d) % segs.len();
                            segs.remove(i);
                            if segs.is_empty() {
                                break;
                            }
                        }
                    }
                    for &(o, l) in &extras {
                        let o = usize::from(o) * n / 65536;
                        let l = l.min(n - o);
                        if l > 0 && !drops {
                            segs.push((o, l));
                        }
                    }
                    if !segs.is_empty() {
                        for d in &dups {
                            let i = usize::from(*d) % segs.len();
                            segs.push(segs[i]);
                        }
                    }
                    for i in (1..segs.len()).rev() {
                        let j = swaps[i % swaps.len()] as usize % (i + 1);
                        segs.swap(i, j);
                    }
                    Case {
                        data,
                        isn,
                        syn,
                        segs,
                    }
                },
            )
    }

    struct Run {
        sd: StreamData,
        c: Counters,
        /// Stream index of offset 0.
        base: usize,
        /// Feed index of the first segment covering each stream index (model).
        first: Vec<Option<i64>>,
        /// Model: end of the data the assembler may keep (relative offset).
        end: usize,
    }

    fn run(case: &Case, limits: ReasmLimits, budget: usize) -> Run {
        let mut c = Counters::new();
        let mut b = MemBudget::new(budget);
        let mut a = DirAssembler::new();
        if case.syn {
            a.set_isn(case.isn, &mut c);
        }
        let base = if case.syn {
            0
        } else {
            case.segs.first().map_or(0, |s| s.0)
        };
        let mut first = vec![None; case.data.len()];
        let mut end = 0;
        for (k, &(o, l)) in case.segs.iter().enumerate() {
            let seq = case.isn.wrapping_add(1).wrapping_add(o as u32);
            a.push(seq, &case.data[o..o + l], k as i64, &limits, &mut b, &mut c);
            assert_eq!(b.used(), a.buffered_bytes());
            assert!(a.buffered_bytes() <= limits.max_bytes_per_direction);
            let lo = o.max(base);
            let hi = (o + l).min(base.saturating_add(limits.max_bytes_per_direction));
            for f in first.iter_mut().take(hi).skip(lo) {
                f.get_or_insert(k as i64);
            }
            if hi > lo {
                end = end.max(hi - base);
            }
        }
        a.skip_gaps(&mut c);
        assert_eq!(b.used(), a.buffered_bytes());
        let sd = a.finish(StreamEnd::Open, &mut b, &mut c);
        assert_eq!(b.used(), 0);
        assert_eq!(
            a.push(case.isn, &case.data, 0, &limits, &mut b, &mut c),
            PushOutcome::Ignored
        );
        Run {
            sd,
            c,
            base,
            first,
            end,
        }
    }

    /// Structural invariants that hold whatever limits were hit.
    fn check_invariants(case: &Case, r: &Run, depth: usize) {
        let sd = &r.sd;
        let mut gaps = sd.gaps.iter();
        let mut expect = 0u64;
        for (i, p) in sd.pieces.iter().enumerate() {
            let stop = sd
                .pieces
                .get(i + 1)
                .map_or(sd.data.len(), |n| n.data_offset);
            assert!(stop > p.data_offset, "empty piece");
            assert_eq!(
                p.data_offset as u64
                    + sd.gaps
                        .iter()
                        .filter(|g| g.0 < p.stream_offset)
                        .map(|g| g.1)
                        .sum::<u64>(),
                p.stream_offset
            );
            if p.stream_offset != expect {
                assert_eq!(gaps.next(), Some(&(expect, p.stream_offset - expect)));
            }
            let so = p.stream_offset as usize + r.base;
            let len = stop - p.data_offset;
            assert!(p.stream_offset as usize + len <= depth);
            assert_eq!(&sd.data[p.data_offset..stop], &case.data[so..so + len]);
            expect = p.stream_offset + len as u64;
        }
        assert_eq!(gaps.next(), None, "gap not followed by data");
        assert!(
            !sd.overlap_conflict,
            "all segments carry the same stream bytes"
        );
    }

    /// Exact comparison with the model: every captured byte, every hole, first wins.
    fn check_model(case: &Case, r: &Run) {
        let mut want = Vec::new();
        let mut want_gaps: Vec<(u64, u64)> = Vec::new();
        for rel in 0..r.end {
            match r.first[r.base + rel] {
                Some(_) => want.push(case.data[r.base + rel]),
                None => match want_gaps.last_mut() {
                    Some(g) if g.0 + g.1 == rel as u64 => g.1 += 1,
                    _ => want_gaps.push((rel as u64, 1)),
                },
            }
        }
        assert_eq!(r.sd.data, want);
        assert_eq!(r.sd.gaps, want_gaps);
        assert_eq!(r.c.get(reason::GAP), want_gaps.len() as u64);
        for (i, p) in r.sd.pieces.iter().enumerate() {
            let stop =
                r.sd.pieces
                    .get(i + 1)
                    .map_or(r.sd.data.len(), |n| n.data_offset);
            for rel in p.stream_offset as usize..p.stream_offset as usize + stop - p.data_offset {
                assert_eq!(r.first[r.base + rel], Some(p.ts_ns), "first data wins");
            }
        }
    }

    proptest! {
        #[test]
        fn reassembles_shuffled_duplicated_segments_exactly(case in arb_case(false)) {
            let limits = lim(usize::MAX, usize::MAX);
            let r = run(&case, limits, usize::MAX);
            check_invariants(&case, &r, usize::MAX);
            check_model(&case, &r);
            if case.syn {
                prop_assert_eq!(&r.sd.data, &case.data);
                prop_assert!(r.sd.gaps.is_empty());
            }
            prop_assert_eq!(r.c.get(reason::OVERLAP_CONFLICT), 0);
        }

        #[test]
        fn dropped_segments_become_exact_gaps(case in arb_case(true)) {
            let r = run(&case, lim(usize::MAX, usize::MAX), usize::MAX);
            check_invariants(&case, &r, usize::MAX);
            check_model(&case, &r);
        }

        #[test]
        fn limits_keep_invariants(
            case in arb_case(true),
            depth in 1usize..450,
            ooo in 0usize..4,
            budget in 0usize..500,
        ) {
            let r = run(&case, lim(depth, ooo), budget);
            check_invariants(&case, &r, depth);
            let truncating = r.c.get(reason::DEPTH_LIMIT) + r.c.get(reason::MEMORY_LIMIT);
            prop_assert_eq!(r.sd.end == StreamEnd::Truncated, truncating > 0);
            prop_assert!(r.c.get(reason::DEPTH_LIMIT) <= 1);
            if r.c.get(reason::OOO_LIMIT) == 0 && r.c.get(reason::MEMORY_LIMIT) == 0 {
                check_model(&case, &r);
            }
        }

        #[test]
        fn arbitrary_pushes_never_panic(
            isn in proptest::option::of(any::<u32>()),
            segs in prop::collection::vec((any::<u32>(), prop::collection::vec(any::<u8>(), 0..40)), 0..40),
            depth in 0usize..200,
            ooo in 0usize..5,
            budget in 0usize..300,
        ) {
            let mut c = Counters::new();
            let mut b = MemBudget::new(budget);
            let limits = lim(depth, ooo);
            let mut a = DirAssembler::new();
            if let Some(i) = isn {
                a.set_isn(i, &mut c);
            }
            for (k, (seq, p)) in segs.iter().enumerate() {
                a.push(*seq, p, k as i64, &limits, &mut b, &mut c);
                prop_assert_eq!(b.used(), a.buffered_bytes());
                prop_assert!(a.contiguous().len() <= a.delivered().len());
            }
            a.skip_gaps(&mut c);
            let sd = a.finish(StreamEnd::Open, &mut b, &mut c);
            prop_assert_eq!(b.used(), 0);
            prop_assert!(sd.data.len() <= depth);
        }
    }
}
