//! The flow table: every TCP connection the capture thread is following, and the
//! decision of when a connection's handshake bytes are complete enough to ship.
//!
//! Runs on the capture thread only; nothing here is shared. Per packet the work is one
//! hash lookup, plus (only while a handshake is in progress) one reassembly push and an
//! incremental record-header scan. Once a direction's handshake is over its bytes stop
//! being buffered, and once both are over the connection is shipped as a
//! [`FlowRecord`] and the entry shrinks to a few dozen bytes that let the rest of the
//! connection's packets be skipped cheaply.
//!
//! TLS is recognised by content, not port: a direction starts collecting at the first
//! segment that begins with a TLS hello (or, for the second direction of a TLS flow,
//! any TLS record), so STARTTLS protocols (SMTP, IMAP, Postgres, ...) work too. A flow
//! that shows no TLS within [`FlowLimits::sniff_max_segments`] data segments is marked
//! not-TLS and skipped from then on.
//!
//! A segment that arrives ahead of its turn (a hole before it in sequence space, known
//! from the SYN) while its direction is still looking for the start of TLS is held back,
//! at most [`STASH_SEGMENTS`] per direction and within the memory budget, and replayed
//! once the direction starts collecting: otherwise a ServerHello retransmitted or
//! reordered behind the rest of its flight (e.g. after a SOCKS reply) leaves a gap
//! where the certificate was.
//!
//! A RST does not ship a collecting flow at once: the other side's data already in
//! flight (a server's Certificate behind its ServerHello when the client resets) is
//! still taken for [`RST_GRACE_NS`] of packet time (`flow.rst_grace`). The flow ships
//! when the other direction's handshake is over (or it closes too), or when the grace
//! has passed: at the flow's next packet after it, at the sweep, or at the end of the
//! input (`flow.rst_grace_ended`). Data the resetting side sends after its RST is
//! ignored.
//!
//! Limits (all in [`FlowLimits`], each counted when hit): open flows, idle timeout in
//! packet time, per-direction depth and out-of-order segments (in
//! [`ReasmLimits`]), and the total memory of this table ([`MemBudget`]).
//!
//! Memory: one budget ([`FlowLimits::max_memory`]) covers the connection map (entries
//! in fixed chunks and a small index, each reserved before it grows: `flow::slots`), a
//! fixed [`ASSEMBLER_COST`] per collecting direction, buffered stream bytes
//! and held-back segments. When the budget cannot cover a new connection's share of the
//! table, the connection is refused and counted (`flow.memory_limit`), like Suricata's
//! flow memcap: flows already followed are never evicted to make room, so an attacker
//! opening connections cannot push real handshakes out; idle ones still expire. A
//! direction that cannot get an assembler is counted the same way and not collected.
//!
//! Determinism: records leave in packet order (the packet that finished the flow), and
//! each TLS flow gets a sequence number when it is first recognised, in packet order;
//! the end-of-input flush hands out what is left in that order. Nothing depends on
//! hash-map iteration order.

use crate::decode::{
    Packet, TcpSegment, TCP_ACK as ACK, TCP_FIN as FIN, TCP_RST as RST, TCP_SYN as SYN,
};
use crate::flow::reassembly::{DirAssembler, MemBudget, ReasmLimits};
pub use crate::flow::record::{ClientBy, FlowPayload, FlowRecord, Transport};
use crate::flow::record::{FirstEncap, FlowKey};
use crate::flow::slots::SlotMap;
use crate::flow::start::{sniff_start, DirScanner};
use crate::flow::stream::{StreamData, StreamEnd};
use crate::flow::udp::{UdpLimits, UdpTable};
use crate::stats::Counters;
use crate::tls::{is_record_start, ScanState, Sniff};

/// Out-of-order segments held per direction before it starts collecting
/// (`flow.stash_full` when more arrive). A handshake flight reordered around its first
/// segment is a few segments; this is the reassembler's job once collecting starts.
pub const STASH_SEGMENTS: usize = 8;

/// After a RST, how long (packet time) the other direction's data is still collected
/// before the flow ships (see the module doc). A flight already sent when the RST
/// crossed it arrives within a round trip; one second covers intercontinental paths
/// with queueing, while a reset connection is not held open for long.
pub const RST_GRACE_NS: i64 = 1_000_000_000;

/// Default [`FlowLimits::max_memory`]: 256 MiB per flow table.
pub const DEFAULT_MAX_MEMORY: usize = 256 << 20;

/// What one collecting direction costs besides its bytes: the box holding its
/// assembler and record walk (its first piece is inline, so a direction whose bytes
/// came in one segment allocates nothing else), rounded up to the allocator's 16-byte
/// classes, and up to 16 bytes of rounding of its first data allocation.
pub const ASSEMBLER_COST: usize = std::mem::size_of::<Held>().next_multiple_of(16) + 16;

/// Limits of one flow table (one capture thread).
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// Connections followed at once; new connections beyond it are not followed
    /// (`flow.table_full`).
    pub max_flows: usize,
    /// A connection with no packet for this long (packet time) is flushed and forgotten.
    pub idle_timeout_ns: i64,
    /// Data segments per direction inspected for the start of TLS before a flow is
    /// declared not TLS.
    pub sniff_max_segments: u8,
    /// Total memory of this table: hash-table slots, assemblers, buffered bytes
    /// (`flow.memory_limit` when a new flow or assembler does not fit,
    /// `reasm.memory_limit` when a segment's bytes do not).
    pub max_memory: usize,
    pub reasm: ReasmLimits,
    /// The UDP table's own limits (QUIC, DTLS); its memory is inside `max_memory`.
    pub udp: UdpLimits,
    /// Key flows by the virtual network they were tunnelled in as well (VXLAN/Geneve
    /// VNI, GRE key: [`crate::decode::Encap::network_id`]), so connections of
    /// different tenants that reuse inner addresses stay apart. Off: one connection
    /// whatever network id each direction arrived with.
    pub tunnel_id_in_key: bool,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_flows: 1_000_000,
            idle_timeout_ns: 120 * 1_000_000_000,
            sniff_max_segments: 16,
            max_memory: DEFAULT_MAX_MEMORY,
            reasm: ReasmLimits::default(),
            udp: UdpLimits::default(),
            tunnel_id_in_key: true,
        }
    }
}

impl FlowKey {
    fn of(seg: &TcpSegment<'_>, tunnel_id_in_key: bool) -> (FlowKey, usize) {
        let net = if tunnel_id_in_key {
            seg.encap.network_id().unwrap_or(0)
        } else {
            0
        };
        FlowKey::new(seg.src, seg.sport, seg.dst, seg.dport, seg.vlan, net)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Looking for the start of TLS.
    Sniffing,
    /// TLS recognised; collecting handshake bytes.
    Collecting,
    /// Shipped, or not TLS: remaining packets are skipped.
    Done,
}

/// A collecting direction's reassembler and record walk.
#[derive(Debug)]
struct Collector {
    asm: DirAssembler,
    /// Record (or OpenVPN packet) walk, for the framing found when collecting started.
    scanner: DirScanner,
}

/// What a direction keeps on the heap: the segments it holds back while looking for
/// TLS, then, once it collects, its [`Collector`]. One box for either (the stash is
/// replayed when collecting starts, and never refilled): the table holds both
/// directions of a million connections, most with neither.
#[derive(Debug)]
enum Held {
    /// Segments that arrived ahead of `next_seq` before collecting; their bytes are
    /// reserved in the memory budget.
    Stash(Vec<StashedSegment>),
    Collecting(Collector),
}

/// One direction of a connection. 16 bytes: flags in a byte, sentinels for options.
#[derive(Debug)]
struct Dir {
    /// `None` until this direction holds back a segment or starts collecting (its first
    /// TLS record); dropped once it is done.
    held: Option<Box<Held>>,
    /// Before collecting, with the ISN known ([`Dir::NEXT_SEQ_KNOWN`]): the next
    /// in-order sequence number.
    next_seq: u32,
    end: StreamEnd,
    data_segments: u8,
    flags: u8,
}

/// A segment held back before its direction starts collecting: (seq, time, bytes).
type StashedSegment = (u32, i64, Vec<u8>);

impl Dir {
    /// The handshake part of this direction is over (or cannot be followed further).
    const HANDSHAKE_OVER: u8 = 1;
    /// Collecting on a segment too short to recognise; decided on the next bytes.
    const TENTATIVE: u8 = 1 << 1;
    /// `next_seq` is set.
    const NEXT_SEQ_KNOWN: u8 = 1 << 2;

    fn new() -> Self {
        Dir {
            held: None,
            next_seq: 0,
            end: StreamEnd::Open,
            data_segments: 0,
            flags: 0,
        }
    }

    fn flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn set_flag(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    fn handshake_over(&self) -> bool {
        self.flag(Self::HANDSHAKE_OVER)
    }

    fn tentative(&self) -> bool {
        self.flag(Self::TENTATIVE)
    }

    fn next_seq(&self) -> Option<u32> {
        self.flag(Self::NEXT_SEQ_KNOWN).then_some(self.next_seq)
    }

    fn set_next_seq(&mut self, seq: u32) {
        self.next_seq = seq;
        self.set_flag(Self::NEXT_SEQ_KNOWN, true);
    }

    fn collector(&self) -> Option<&Collector> {
        match self.held.as_deref() {
            Some(Held::Collecting(c)) => Some(c),
            _ => None,
        }
    }

    fn collector_mut(&mut self) -> Option<&mut Collector> {
        match self.held.as_deref_mut() {
            Some(Held::Collecting(c)) => Some(c),
            _ => None,
        }
    }

    fn is_collecting(&self) -> bool {
        self.collector().is_some()
    }

    /// The stash, made on first use; `None` once collecting.
    fn stash_mut(&mut self) -> Option<&mut Vec<StashedSegment>> {
        match self
            .held
            .get_or_insert_with(|| Box::new(Held::Stash(Vec::new())))
            .as_mut()
        {
            Held::Stash(s) => Some(s),
            Held::Collecting(_) => None,
        }
    }

    /// Start collecting with `c`, handing back the segments held until now (their bytes
    /// are still reserved).
    fn start_collecting(&mut self, c: Collector) -> Vec<StashedSegment> {
        match self.held.replace(Box::new(Held::Collecting(c))).map(|b| *b) {
            Some(Held::Stash(s)) => s,
            _ => Vec::new(),
        }
    }

    /// Stop collecting: the collector, whose bytes and [`ASSEMBLER_COST`] are still
    /// reserved. A stash is left in place.
    fn take_collector(&mut self) -> Option<Collector> {
        if !self.is_collecting() {
            return None;
        }
        match self.held.take().map(|b| *b) {
            Some(Held::Collecting(c)) => Some(c),
            _ => None,
        }
    }

    /// Return the stash's bytes and any assembler still held to the budget and
    /// forget them.
    fn release(&mut self, budget: &mut MemBudget) {
        match self.held.take().map(|b| *b) {
            Some(Held::Stash(s)) => {
                for (_, _, b) in s {
                    budget.release(b.len());
                }
            }
            Some(Held::Collecting(mut c)) => {
                c.asm.release_all(budget);
                budget.release_fixed(ASSEMBLER_COST);
            }
            None => {}
        }
    }

    /// Nothing more to collect in this direction.
    fn finished(&self) -> bool {
        self.handshake_over() || matches!(self.end, StreamEnd::Fin | StreamEnd::Rst)
    }
}

/// [`Flow::rst_ts_ns`] before any RST (no packet is that old).
const NO_RST: i64 = i64::MIN;

#[derive(Debug)]
struct Flow {
    first_ts_ns: i64,
    last_ts_ns: i64,
    phase: Phase,
    /// Direction index (0/1) of the client, once known.
    /// (A byte, not a `usize`: the entry is kept small; see `flow_entry_stays_small`.)
    client_dir: Option<u8>,
    client_by: ClientBy,
    seq: Option<u64>,
    /// Packet time of the first RST while collecting ([`NO_RST`] until then): the grace
    /// ([`RST_GRACE_NS`]) runs from here.
    rst_ts_ns: i64,
    /// Each direction's first encapsulation (tunnelled flows only), until shipped.
    encap: FirstEncap,
    dirs: [Dir; 2],
}

impl Flow {
    /// A new connection whose first packet came at `ts_ns`.
    fn new(ts_ns: i64) -> Self {
        Flow {
            first_ts_ns: ts_ns,
            last_ts_ns: ts_ns,
            phase: Phase::Sniffing,
            client_dir: None,
            client_by: ClientBy::Hello,
            seq: None,
            rst_ts_ns: NO_RST,
            encap: FirstEncap::default(),
            dirs: [Dir::new(), Dir::new()],
        }
    }

    /// A RST's grace has run out at `now_ns` (packet time).
    fn rst_grace_over(&self, now_ns: i64) -> bool {
        self.rst_grace_started() && now_ns.saturating_sub(self.rst_ts_ns) > RST_GRACE_NS
    }

    fn rst_grace_started(&self) -> bool {
        self.rst_ts_ns != NO_RST
    }

    /// Give back everything this flow holds (stashes, assemblers not shipped, the
    /// encapsulation record).
    fn release(&mut self, budget: &mut MemBudget) {
        for d in &mut self.dirs {
            d.release(budget);
        }
        budget.release_fixed(self.encap.heap_bytes());
        self.encap = FirstEncap::default();
    }
}

/// Remember a packet's encapsulation as its direction's first (tunnelled flows only),
/// charging the record to the budget; counted and skipped when it does not fit.
pub(crate) fn note_encap(
    first: &mut FirstEncap,
    dir: usize,
    e: &crate::decode::Encap,
    budget: &mut MemBudget,
    stats: &mut FlowStats,
) {
    let before = first.heap_bytes();
    if before == 0 && e.is_plain() {
        return;
    }
    let mut next = std::mem::take(first);
    next.note(dir, e);
    let grew = next.heap_bytes() - before;
    if grew > 0 && !budget.try_reserve_fixed(grew) {
        stats.counters.bump("flow.memory_limit");
        *first = FirstEncap::default();
        budget.release_fixed(before);
        return;
    }
    *first = next;
}

/// Everything counted by the flow table.
#[derive(Debug, Default, Clone)]
pub struct FlowStats {
    /// TCP connections followed.
    pub flows_seen: u64,
    /// UDP datagrams seen, and QUIC connections / DTLS associations followed.
    pub udp_datagrams: u64,
    pub udp_flows: u64,
    pub tls_flows: u64,
    pub peak_open_flows: u64,
    pub counters: Counters,
}

/// The capture thread's connection table: TCP connections here, QUIC and DTLS in its
/// [`UdpTable`], one memory budget and one recognition numbering for both.
pub struct FlowTable {
    udp: UdpTable,
    limits: FlowLimits,
    /// Keyed with a random per-table seed; its memory is reserved in `budget`. Nothing
    /// in the output depends on its iteration order.
    flows: SlotMap<FlowKey, Flow>,
    budget: MemBudget,
    next_seq: u64,
    clock: SweepClock,
    stats: FlowStats,
}

/// When idle flows are swept: at most once per [`SweepClock::EVERY_NS`] of packet time,
/// the first packet only starting the clock. One clock per input: a table's own (in
/// [`FlowTable::on_packet`]) or a sharded reader's, which tells every shard.
#[derive(Debug, Clone, Copy)]
pub struct SweepClock {
    last_ns: i64,
}

impl Default for SweepClock {
    fn default() -> Self {
        SweepClock { last_ns: i64::MIN }
    }
}

impl SweepClock {
    pub const EVERY_NS: i64 = 1_000_000_000;

    /// A packet at `now_ns` arrived: is a sweep due before it?
    pub fn due(&mut self, now_ns: i64) -> bool {
        if self.last_ns == i64::MIN {
            self.last_ns = now_ns;
            return false;
        }
        if now_ns.saturating_sub(self.last_ns) < Self::EVERY_NS {
            return false;
        }
        self.last_ns = now_ns;
        true
    }
}

impl FlowTable {
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            udp: UdpTable::new(limits.udp, limits.tunnel_id_in_key),
            limits,
            flows: SlotMap::new(),
            budget: MemBudget::new(limits.max_memory),
            next_seq: 0,
            clock: SweepClock::default(),
            stats: FlowStats::default(),
        }
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// TCP connections and UDP flows held.
    pub fn open_flows(&self) -> usize {
        self.flows.len() + self.udp.open_flows()
    }

    /// Feed one decoded packet (TCP segment or UDP datagram), sweeping idle flows on
    /// this table's own packet clock ([`SweepClock`]). Completed handshakes are
    /// appended to `out`.
    pub fn on_packet(&mut self, p: &Packet<'_>, ts_ns: i64, out: &mut Vec<FlowRecord>) {
        if self.clock.due(ts_ns) {
            self.sweep(ts_ns, out);
        }
        self.on_numbered_packet(p, ts_ns, self.next_seq, out);
    }

    /// Feed packet number `number` of the input (numbers only grow) without sweeping:
    /// the caller drives sweeps ([`FlowTable::sweep`]) from the whole input's clock, so
    /// a table that sees only its shard of the packets expires flows at the same
    /// points as one table that sees them all. A flow recognised as TLS by this packet
    /// gets `number` as its [`FlowRecord::seq`], so records of sibling tables merge
    /// into one order.
    pub fn on_numbered_packet(
        &mut self,
        p: &Packet<'_>,
        ts_ns: i64,
        number: u64,
        out: &mut Vec<FlowRecord>,
    ) {
        self.next_seq = self.next_seq.max(number);
        match p {
            Packet::Tcp(seg) => self.segment(seg, ts_ns, out),
            Packet::Udp(d) => {
                self.stats.udp_datagrams += 1;
                self.udp.on_datagram(
                    d,
                    ts_ns,
                    &mut self.budget,
                    &mut self.next_seq,
                    &mut self.stats,
                    out,
                );
            }
        }
    }

    /// Bytes currently held for reassembly.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.buffered()
    }

    /// Everything this table holds against [`FlowLimits::max_memory`].
    pub fn memory_used(&self) -> usize {
        self.budget.used()
    }

    /// Feed one TCP segment (as [`FlowTable::on_packet`]). Completed handshakes are
    /// appended to `out`.
    pub fn on_segment(&mut self, seg: &TcpSegment<'_>, ts_ns: i64, out: &mut Vec<FlowRecord>) {
        self.on_packet(&Packet::Tcp(*seg), ts_ns, out);
    }

    fn segment(&mut self, seg: &TcpSegment<'_>, ts_ns: i64, out: &mut Vec<FlowRecord>) {
        let (key, dir) = FlowKey::of(seg, self.limits.tunnel_id_in_key);
        let flow = match self.flows.get_mut(&key) {
            Some(f) => f,
            None => {
                // A bare ACK/FIN/RST of a connection we are not following (the last
                // ACK after both FINs, or a scan) starts nothing: no entry, no count.
                if seg.payload.is_empty() && seg.flags & SYN == 0 {
                    return;
                }
                if self.flows.len() >= self.limits.max_flows {
                    self.stats.counters.bump("flow.table_full");
                    return;
                }
                if !self.flows.make_room(&mut self.budget) {
                    self.stats.counters.bump("flow.memory_limit");
                    return;
                }
                self.stats.flows_seen += 1;
                let f = Flow::new(ts_ns);
                self.stats.peak_open_flows =
                    self.stats.peak_open_flows.max(self.flows.len() as u64 + 1);
                match self.flows.insert(key, f) {
                    Some(f) => f,
                    // Cannot happen: room was just made.
                    None => return,
                }
            }
        };
        flow.last_ts_ns = flow.last_ts_ns.max(ts_ns);

        if flow.phase == Phase::Collecting && flow.rst_grace_over(ts_ns) {
            // The grace after a RST is over: ship what came in it; this packet and any
            // later ones belong to nothing we still read.
            self.stats.counters.bump("flow.rst_grace_ended");
            if let Some(rec) = Self::ship(&key, flow, &mut self.budget, &mut self.stats) {
                out.push(rec);
            }
            flow.release(&mut self.budget);
            self.flows.remove(&key);
            return;
        }

        if flow.phase == Phase::Done {
            // The common case on a real link: application data of a known flow.
            if seg.flags & (FIN | RST) != 0 {
                let d = &mut flow.dirs[dir];
                d.end = if seg.flags & RST != 0 {
                    StreamEnd::Rst
                } else {
                    StreamEnd::Fin
                };
                if seg.flags & RST != 0 || flow.dirs[1 - dir].end != StreamEnd::Open {
                    self.flows.remove(&key);
                }
            }
            return;
        }

        note_encap(
            &mut flow.encap,
            dir,
            &seg.encap,
            &mut self.budget,
            &mut self.stats,
        );

        if seg.flags & SYN != 0 {
            flow.dirs[dir].set_next_seq(seg.seq.wrapping_add(1));
            if flow.client_dir.is_none() || flow.client_by != ClientBy::Syn {
                // SYN alone: this side is the client; SYN+ACK: the other side is.
                let client = if seg.flags & ACK == 0 { dir } else { 1 - dir };
                flow.client_dir = Some(client as u8);
                flow.client_by = ClientBy::Syn;
            }
        }

        // Whatever the resetting side sends after its RST is not part of the stream.
        if !seg.payload.is_empty() && flow.dirs[dir].end != StreamEnd::Rst {
            Self::on_payload(
                flow,
                dir,
                seg,
                ts_ns,
                &self.limits,
                &mut self.budget,
                &mut self.next_seq,
                &mut self.stats,
            );
        }

        if seg.flags & (FIN | RST) != 0 {
            let d = &mut flow.dirs[dir];
            d.end = if seg.flags & RST != 0 {
                StreamEnd::Rst
            } else {
                StreamEnd::Fin
            };
        }

        let ready = match flow.phase {
            Phase::Collecting => {
                let finished = flow.dirs.iter().all(Dir::finished);
                if !finished
                    && !flow.rst_grace_started()
                    && flow.dirs.iter().any(|d| d.end == StreamEnd::Rst)
                {
                    // The other side's flight may still be on its way: wait for it.
                    flow.rst_ts_ns = ts_ns;
                    self.stats.counters.bump("flow.rst_grace");
                }
                finished
            }
            Phase::Sniffing => {
                // A connection that closes before showing TLS is simply forgotten.
                if flow.dirs.iter().any(|d| d.end != StreamEnd::Open) {
                    flow.release(&mut self.budget);
                    flow.phase = Phase::Done;
                }
                false
            }
            Phase::Done => false,
        };
        if ready {
            if let Some(rec) = Self::ship(&key, flow, &mut self.budget, &mut self.stats) {
                out.push(rec);
            }
            flow.release(&mut self.budget);
            flow.phase = Phase::Done;
        }
        let closed = flow.dirs.iter().all(|d| d.end != StreamEnd::Open)
            || flow.dirs.iter().any(|d| d.end == StreamEnd::Rst);
        if flow.phase == Phase::Done && closed {
            self.flows.remove(&key);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_payload(
        flow: &mut Flow,
        dir: usize,
        seg: &TcpSegment<'_>,
        ts_ns: i64,
        limits: &FlowLimits,
        budget: &mut MemBudget,
        next_seq: &mut u64,
        stats: &mut FlowStats,
    ) {
        let d = &mut flow.dirs[dir];
        if d.handshake_over() {
            return;
        }
        let mut stash = Vec::new();
        if !d.is_collecting() {
            // Look for the start of TLS at the start of this segment (behind a PROXY
            // header, or inside OpenVPN: `flow::start`).
            d.data_segments = d.data_segments.saturating_add(1);
            let opening = sniff_start(seg.payload, d.data_segments == 1);
            let found = opening.sniff;
            if opening.tls_crypt && flow.phase == Phase::Sniffing {
                // OpenVPN with tls-crypt: the handshake is encrypted, nothing to parse.
                stats.counters.bump("flow.openvpn_tls_crypt");
                flow.release(budget);
                flow.phase = Phase::Done;
                return;
            }
            // Once the flow is TLS the other side may open with any record (an alert
            // refusing the hello, say).
            let other_record = flow.phase == Phase::Collecting && is_record_start(seg.payload);
            let start = match found {
                Sniff::ClientHello | Sniff::ServerHello => true,
                // A segment too short to tell (a hello whose first segment carries
                // only part of the record header): collect tentatively and decide on
                // the reassembled bytes.
                Sniff::NeedMore => true,
                Sniff::NotTls => other_record,
            };
            if !start {
                Self::hold_back(d, seg, ts_ns, budget, &mut stats.counters);
                if flow.phase == Phase::Sniffing
                    && flow
                        .dirs
                        .iter()
                        .all(|x| x.data_segments >= limits.sniff_max_segments)
                {
                    stats.counters.bump("flow.not_tls");
                    flow.release(budget);
                    flow.phase = Phase::Done;
                }
                return;
            }
            if !budget.try_reserve_fixed(ASSEMBLER_COST) {
                stats.counters.bump("flow.memory_limit");
                return;
            }
            let mut asm = DirAssembler::new();
            // The stream we keep starts at this segment (which may be after a
            // plaintext STARTTLS exchange).
            asm.set_isn(seg.seq.wrapping_sub(1), &mut stats.counters);
            let scanner = DirScanner::new(opening.framing);
            stash = d.start_collecting(Collector { asm, scanner });
            let tentative = found == Sniff::NeedMore && !other_record;
            d.set_flag(Dir::TENTATIVE, tentative);
            if !tentative {
                Self::recognise(flow, dir, found, next_seq, stats);
            }
        }
        let d = &mut flow.dirs[dir];
        let data_segments = d.data_segments;
        let tentative = d.tentative();
        let Some(col) = d.collector_mut() else { return };
        let asm = &mut col.asm;
        let counters = &mut stats.counters;
        asm.push(seg.seq, seg.payload, ts_ns, &limits.reasm, budget, counters);
        // Segments that arrived early, after this start: replay them; earlier ones
        // belong to the plaintext before TLS.
        for (seq, ts, bytes) in stash {
            budget.release(bytes.len());
            if (seq.wrapping_sub(seg.seq) as i32) > 0 {
                asm.push(seq, &bytes, ts, &limits.reasm, budget, counters);
            }
        }
        if tentative {
            // `data_segments` stops counting once collecting: still the tentative start's.
            let start = sniff_start(asm.contiguous(), data_segments == 1);
            if start.tls_crypt && flow.phase == Phase::Sniffing {
                stats.counters.bump("flow.openvpn_tls_crypt");
                flow.release(budget);
                flow.phase = Phase::Done;
                return;
            }
            match start.sniff {
                Sniff::NeedMore => return,
                Sniff::NotTls => {
                    // Not a hello after all: forget the bytes, keep sniffing.
                    d.release(budget);
                    d.set_flag(Dir::TENTATIVE, false);
                    // The segment that disproved it may open TLS itself: a ClientHello
                    // whose first bytes were claimed by noise (two bytes an ACK carried;
                    // first data wins in reassembly). Start again from this segment.
                    if matches!(
                        sniff_start(seg.payload, false).sniff,
                        Sniff::ClientHello | Sniff::ServerHello
                    ) {
                        stats.counters.bump("flow.tentative_start_replaced");
                        return Self::on_payload(
                            flow, dir, seg, ts_ns, limits, budget, next_seq, stats,
                        );
                    }
                    return;
                }
                found @ (Sniff::ClientHello | Sniff::ServerHello) => {
                    col.scanner = DirScanner::new(start.framing);
                    d.set_flag(Dir::TENTATIVE, false);
                    Self::recognise(flow, dir, found, next_seq, stats);
                    return Self::scan_direction(&mut flow.dirs[dir], &mut stats.counters);
                }
            }
        }
        Self::scan_direction(d, counters);
    }

    /// A direction showed a hello: the flow is TLS (numbered in recognition order), and
    /// the hello's sender tells the client when no SYN did.
    fn recognise(
        flow: &mut Flow,
        dir: usize,
        found: Sniff,
        next_seq: &mut u64,
        stats: &mut FlowStats,
    ) {
        if flow.client_dir.is_none() {
            match found {
                Sniff::ClientHello => flow.client_dir = Some(dir as u8),
                Sniff::ServerHello => flow.client_dir = Some(1 - dir as u8),
                Sniff::NotTls | Sniff::NeedMore => {}
            }
            if flow.client_dir.is_some() {
                flow.client_by = ClientBy::Hello;
            }
        }
        if flow.phase == Phase::Sniffing {
            flow.phase = Phase::Collecting;
            flow.seq = Some(*next_seq);
            *next_seq += 1;
            stats.tls_flows += 1;
        }
    }

    /// Walk the record headers collected so far; stop collecting once the handshake
    /// part is over, the framing breaks, or a limit cut the direction.
    fn scan_direction(d: &mut Dir, counters: &mut Counters) {
        let Some(col) = d.collector_mut() else { return };
        let state = col.scanner.scan(col.asm.contiguous());
        let over = match state {
            ScanState::InHandshake => false,
            ScanState::Done => true,
            ScanState::NotTls => {
                // Broken framing: nothing more useful will come; the parser reports it.
                counters.bump("flow.bad_record_framing");
                true
            }
        };
        if over || col.asm.is_truncated() {
            d.set_flag(Dir::HANDSHAKE_OVER, true);
        }
    }

    /// Before collecting: keep a segment that arrived ahead of its turn (see the module
    /// doc), or move the in-order point past one that did not.
    fn hold_back(
        d: &mut Dir,
        seg: &TcpSegment<'_>,
        ts_ns: i64,
        budget: &mut MemBudget,
        counters: &mut Counters,
    ) {
        let Some(next) = d.next_seq() else { return };
        // Wrap-safe signed distance; the `as i32` is the intended reduction.
        let ahead = seg.seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            let Some(stash) = d.stash_mut() else { return };
            if stash.len() < STASH_SEGMENTS && budget.try_reserve(seg.payload.len()) {
                stash.push((seg.seq, ts_ns, seg.payload.to_vec()));
            } else {
                counters.bump("flow.stash_full");
            }
            return;
        }
        let end = seg.seq.wrapping_add(seg.payload.len() as u32);
        if (end.wrapping_sub(next) as i32) > 0 {
            d.set_next_seq(end);
        }
    }

    /// Build the record for a collecting flow, releasing its buffers.
    fn ship(
        key: &FlowKey,
        flow: &mut Flow,
        budget: &mut MemBudget,
        stats: &mut FlowStats,
    ) -> Option<FlowRecord> {
        let seq = flow.seq?;
        let client_dir = usize::from(flow.client_dir.unwrap_or(0));
        let mut take = |d: &mut Dir, counters: &mut Counters| -> StreamData {
            // A depth or memory drop also ends collection (`handshake_over`), but the row
            // must still say the handshake was cut, not that it finished.
            let end = if d.collector().is_some_and(|c| c.asm.is_truncated()) {
                StreamEnd::Truncated
            } else if d.handshake_over() {
                StreamEnd::HandshakeDone
            } else {
                d.end
            };
            match d.take_collector() {
                Some(Collector { mut asm, .. }) => {
                    asm.skip_gaps(counters);
                    let data = asm.finish(end, budget, counters);
                    budget.release_fixed(ASSEMBLER_COST);
                    data
                }
                None => StreamData {
                    end,
                    ..Default::default()
                },
            }
        };
        let client = take(&mut flow.dirs[client_dir], &mut stats.counters);
        let server = take(&mut flow.dirs[1 - client_dir], &mut stats.counters);
        let (cip, cport) = key.endpoint(client_dir);
        let (sip, sport) = key.endpoint(1 - client_dir);
        Some(FlowRecord {
            seq,
            first_ts_ns: flow.first_ts_ns,
            last_ts_ns: flow.last_ts_ns,
            client_ip: cip,
            client_port: cport,
            server_ip: sip,
            server_port: sport,
            vlan: key.vlan,
            client_by: flow.client_by,
            encap: flow.encap.of_client(client_dir),
            payload: FlowPayload::Tcp { client, server },
        })
    }

    /// Expire idle flows as of packet time `now_ns` (and ship flows whose RST grace is
    /// over). Records leave in recognition order. [`FlowTable::on_packet`] calls this
    /// on its own [`SweepClock`]; a sharded pipeline calls it on the input's clock.
    pub fn sweep(&mut self, now_ns: i64, out: &mut Vec<FlowRecord>) {
        let start = out.len();
        self.udp
            .expire(now_ns, &mut self.budget, &mut self.stats, out);
        let deadline = now_ns.saturating_sub(self.limits.idle_timeout_ns);
        let mut idle = 0u64;
        let mut grace_over = 0u64;
        let mut expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| {
                if f.last_ts_ns < deadline {
                    idle += 1;
                    true
                } else if f.phase == Phase::Collecting && f.rst_grace_over(now_ns) {
                    grace_over += 1;
                    true
                } else {
                    false
                }
            })
            .map(|(k, _)| *k)
            .collect();
        if !expired.is_empty() {
            self.stats.counters.add("flow.idle_timeout", idle);
            self.stats.counters.add("flow.rst_grace_ended", grace_over);
            self.flush_keys(&mut expired, out);
        }
        // Hash-map order must not leak into the output; TCP and UDP records interleave
        // by recognition order.
        out[start..].sort_by_key(|r| r.seq);
    }

    fn flush_keys(&mut self, keys: &mut [FlowKey], out: &mut Vec<FlowRecord>) {
        let start = out.len();
        for key in keys.iter() {
            if let Some(mut flow) = self.flows.remove(key) {
                self.flush_flow(key, &mut flow, out);
            }
        }
        // Hash-map order must not leak into the output.
        out[start..].sort_by_key(|r| r.seq);
    }

    /// Ship a flow taken out of the table if it was collecting, and release it.
    fn flush_flow(&mut self, key: &FlowKey, flow: &mut Flow, out: &mut Vec<FlowRecord>) {
        if flow.phase == Phase::Collecting {
            if let Some(rec) = Self::ship(key, flow, &mut self.budget, &mut self.stats) {
                out.push(rec);
            }
        }
        flow.release(&mut self.budget);
    }

    /// End of input: ship every flow still collecting, in recognition order.
    pub fn flush_all(&mut self, out: &mut Vec<FlowRecord>) {
        self.flush_all_in_batches(usize::MAX, |batch| {
            out.append(batch);
            true
        });
    }

    /// [`FlowTable::flush_all`], handing the records to `emit` `batch` at a time (so a
    /// table of a million pending handshakes is not turned into records all at once);
    /// stops when `emit` returns `false`.
    pub fn flush_all_in_batches(
        &mut self,
        batch: usize,
        mut emit: impl FnMut(&mut Vec<FlowRecord>) -> bool,
    ) {
        // TCP flows by slot number, not key: this list is as long as the table (a
        // million entries at the end of an attack), and is not in the budget.
        let mut tcp: Vec<(u64, u32)> = self
            .flows
            .iter_slots()
            .filter(|(_, _, f)| f.phase == Phase::Collecting)
            .filter_map(|(i, _, f)| Some((f.seq?, i)))
            .collect();
        tcp.sort_unstable();
        let mut udp = self.udp.pending();
        udp.sort_unstable_by_key(|(seq, _)| *seq);
        let (mut tcp, mut udp) = (tcp.into_iter().peekable(), udp.into_iter().peekable());
        let mut out = Vec::new();
        let mut in_batch = 0;
        loop {
            match (tcp.peek(), udp.peek()) {
                (None, None) => break,
                (Some(&(t, i)), u) if u.is_none_or(|&(s, _)| t < s) => {
                    tcp.next();
                    if let Some((key, mut flow)) = self.flows.remove_slot(i) {
                        self.flush_flow(&key, &mut flow, &mut out);
                    }
                }
                _ => {
                    if let Some((_, key)) = udp.next() {
                        self.udp.flush_key(&key, &mut self.budget, &mut out);
                    }
                }
            }
            in_batch += 1;
            let last = tcp.peek().is_none() && udp.peek().is_none();
            if in_batch == batch.max(1) || last {
                in_batch = 0;
                if !emit(&mut out) {
                    break;
                }
                out.clear();
            }
        }
        // Whatever is left (not TLS, still sniffing, or not emitted) is dropped.
        let budget = &mut self.budget;
        self.flows.drain(|_, mut flow| flow.release(budget));
        self.udp.clear(&mut self.budget);
    }

    /// Number of sequence numbers handed out (= records this table will have shipped
    /// once flushed).
    pub fn records_assigned(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const C: [u8; 4] = [10, 0, 0, 1];
    const S: [u8; 4] = [10, 0, 0, 2];
    const SEC: i64 = 1_000_000_000;

    /// A handshake record carrying a message of `msg_type` with `body_len` zero bytes.
    fn hs_record(msg_type: u8, body_len: usize) -> Vec<u8> {
        let mut m = vec![msg_type, 0, (body_len >> 8) as u8, body_len as u8];
        m.resize(4 + body_len, 0);
        let mut r = vec![0x16, 3, 3, (m.len() >> 8) as u8, m.len() as u8];
        r.extend(m);
        r
    }

    fn ccs_and_finished() -> Vec<u8> {
        let mut v = vec![0x14, 3, 3, 0, 1, 1];
        v.extend([0x16, 3, 3, 0, 40]);
        v.extend([0u8; 40]);
        v
    }

    fn seg<'a>(
        from_client: bool,
        port: u16,
        seq: u32,
        flags: u8,
        payload: &'a [u8],
    ) -> TcpSegment<'a> {
        let (src, dst, sport, dport) = if from_client {
            (C, S, port, 443)
        } else {
            (S, C, 443, port)
        };
        TcpSegment {
            src: IpAddr::V4(Ipv4Addr::from(src)),
            dst: IpAddr::V4(Ipv4Addr::from(dst)),
            sport,
            dport,
            vlan: 0,
            seq,
            ack: 0,
            flags,
            payload,
            payload_truncated: false,
            encap: Default::default(),
        }
    }

    /// A handshake whose packets are wrapped by `wrap(from_client)`.
    fn wrapped_handshake(
        t: &mut FlowTable,
        port: u16,
        ts: i64,
        wrap: impl Fn(bool) -> crate::decode::Encap,
        out: &mut Vec<FlowRecord>,
    ) {
        let ch = hs_record(1, 60);
        let sh = hs_record(2, 50);
        let fin = ccs_and_finished();
        let steps: [(bool, u32, u8, &[u8]); 5] = [
            (true, 1000, SYN, &[]),
            (false, 5000, SYN | ACK, &[]),
            (true, 1001, ACK, &ch),
            (false, 5001, ACK, &sh),
            (true, 1001 + ch.len() as u32, ACK, &fin),
        ];
        for (k, (c, sq, fl, p)) in steps.into_iter().enumerate() {
            let mut s = seg(c, port, sq, fl, p);
            s.encap = wrap(c);
            t.on_segment(&s, ts + k as i64, out);
        }
        let fin = ccs_and_finished();
        let mut s = seg(false, port, 5001 + sh.len() as u32, ACK, &fin);
        s.encap = wrap(false);
        t.on_segment(&s, ts + 9, out);
    }

    fn vni(kind: crate::decode::EncapKind, id: u32) -> crate::decode::Encap {
        let mut e = crate::decode::Encap::default();
        assert!(e.push(kind, crate::decode::encap::TunnelId::both_ways(id)));
        e
    }

    /// The virtual network id keys flows (by default): the same inner 5-tuple in two
    /// VXLAN networks is two connections; directions that arrive one in Geneve with
    /// VNI 0 (AWS Gateway Load Balancer) and one plain are one connection, and the
    /// row records the client's encapsulation. With the id left out of the key, the
    /// two networks' packets meet in one connection.
    #[test]
    fn tunnel_network_id_keys_flows_unless_told_not_to() {
        use crate::decode::EncapKind::{Geneve, Vxlan};
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        wrapped_handshake(&mut t, 4000, SEC, |_| vni(Vxlan, 100), &mut out);
        wrapped_handshake(&mut t, 4000, SEC, |_| vni(Vxlan, 200), &mut out);
        assert_eq!(out.len(), 2, "two tenants, two connections");
        let ids: Vec<Option<u32>> = out.iter().map(|r| r.encap.tunnel_id).collect();
        assert_eq!(ids, vec![Some(100), Some(200)]);
        assert_eq!(out[0].encap.names().collect::<Vec<_>>(), ["vxlan"]);

        let mut out = Vec::new();
        let gwlb = |from_client: bool| {
            if from_client {
                vni(Geneve, 0)
            } else {
                crate::decode::Encap::default()
            }
        };
        wrapped_handshake(&mut t, 4001, SEC, gwlb, &mut out);
        assert_eq!(
            out.len(),
            1,
            "one connection whatever the wrapping per direction"
        );
        assert_eq!(out[0].encap.names().collect::<Vec<_>>(), ["geneve"]);
        assert_eq!(out[0].client().data[..1], [0x16]);
        assert!(!out[0].server().data.is_empty());

        let mut t = FlowTable::new(FlowLimits {
            tunnel_id_in_key: false,
            ..FlowLimits::default()
        });
        let mut out = Vec::new();
        let split = |from_client: bool| vni(Vxlan, if from_client { 100 } else { 200 });
        wrapped_handshake(&mut t, 4002, SEC, split, &mut out);
        assert_eq!(out.len(), 1, "ids left out of the key");
        assert_eq!(
            out[0].encap.tunnel_id,
            Some(100),
            "the client's first packet"
        );
        assert_eq!(
            t.memory_used(),
            t.flows.reserved_bytes(),
            "the encapsulation record is released"
        );
    }

    /// Feed a full TLS 1.2-style exchange on `port` starting at time `t`.
    fn handshake(t: &mut FlowTable, port: u16, ts: i64, out: &mut Vec<FlowRecord>) {
        let ch = hs_record(1, 60);
        let sh = hs_record(2, 50);
        let fin = ccs_and_finished();
        t.on_segment(&seg(true, port, 1000, SYN, &[]), ts, out);
        t.on_segment(&seg(false, port, 5000, SYN | ACK, &[]), ts, out);
        t.on_segment(&seg(true, port, 1001, ACK, &ch), ts + 1, out);
        t.on_segment(&seg(false, port, 5001, ACK, &sh), ts + 2, out);
        t.on_segment(
            &seg(true, port, 1001 + ch.len() as u32, ACK, &fin),
            ts + 3,
            out,
        );
        t.on_segment(
            &seg(false, port, 5001 + sh.len() as u32, ACK, &fin),
            ts + 4,
            out,
        );
    }

    #[test]
    fn tls_flow_is_shipped_once_both_handshakes_are_over() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        handshake(&mut t, 40000, SEC, &mut out);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.seq, 0);
        assert_eq!(r.client_port, 40000);
        assert_eq!(r.server_port, 443);
        assert_eq!(r.client_by, ClientBy::Syn);
        assert_eq!(r.client().data[..5], [0x16, 3, 3, 0, 64]);
        assert_eq!(r.server().data[5], 2);
        assert_eq!(r.client().end, StreamEnd::HandshakeDone);
        assert_eq!(r.client().ts_at(0), Some(SEC + 1));
        // Application data afterwards is skipped and nothing is buffered.
        t.on_segment(
            &seg(true, 40000, 9000, ACK, &[0x17; 100]),
            SEC + 5,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(t.buffered_bytes(), 0);
        assert_eq!(t.stats().tls_flows, 1);
    }

    #[test]
    fn non_tls_flow_is_given_up_after_the_sniff_limit() {
        let limits = FlowLimits {
            sniff_max_segments: 2,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut out = Vec::new();
        for i in 0..3u32 {
            t.on_segment(
                &seg(true, 1, 100 + i * 10, ACK, b"GET / HTTP/1.1"),
                SEC,
                &mut out,
            );
            t.on_segment(
                &seg(false, 1, 900 + i * 10, ACK, b"HTTP/1.1 200 OK"),
                SEC,
                &mut out,
            );
        }
        assert!(out.is_empty());
        assert_eq!(t.stats().counters.get("flow.not_tls"), 1);
        assert_eq!(t.stats().tls_flows, 0);
    }

    #[test]
    fn starttls_is_found_after_a_plaintext_preamble() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        t.on_segment(
            &seg(false, 2, 100, ACK, b"220 mail ESMTP\r\n"),
            SEC,
            &mut out,
        );
        t.on_segment(&seg(true, 2, 500, ACK, b"STARTTLS\r\n"), SEC, &mut out);
        t.on_segment(&seg(false, 2, 116, ACK, b"220 go ahead\r\n"), SEC, &mut out);
        let ch = hs_record(1, 60);
        t.on_segment(&seg(true, 2, 510, ACK, &ch), SEC, &mut out);
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client_port, 2);
        assert_eq!(out[0].client_by, ClientBy::Hello);
        assert_eq!(out[0].client().data, ch);
    }

    #[test]
    fn server_hello_first_makes_the_peer_the_client() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let sh = hs_record(2, 50);
        t.on_segment(&seg(false, 3, 100, ACK, &sh), SEC, &mut out);
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client_port, 3);
        assert_eq!(out[0].server().data, sh);
        assert!(out[0].client().data.is_empty());
    }

    #[test]
    fn max_flows_binds_and_counts() {
        let limits = FlowLimits {
            max_flows: 2,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut out = Vec::new();
        for port in 1..=5 {
            t.on_segment(&seg(true, port, 1, SYN, &[]), SEC, &mut out);
        }
        assert_eq!(t.open_flows(), 2);
        assert_eq!(t.stats().counters.get("flow.table_full"), 3);
    }

    #[test]
    fn idle_timeout_in_packet_time_flushes_pending_handshakes() {
        let limits = FlowLimits {
            idle_timeout_ns: 10 * SEC,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut out = Vec::new();
        t.on_segment(&seg(true, 7, 100, ACK, &hs_record(1, 60)), SEC, &mut out);
        // Another connection 5 s later: not yet idle.
        t.on_segment(&seg(true, 8, 100, SYN, &[]), 6 * SEC, &mut out);
        assert!(out.is_empty());
        // 20 s later (packet time): the first connection is flushed, with its row.
        t.on_segment(&seg(true, 8, 101, ACK, &[]), 21 * SEC, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client_port, 7);
        assert_eq!(t.stats().counters.get("flow.idle_timeout"), 2);
        assert_eq!(t.buffered_bytes(), 0);
    }

    #[test]
    fn reassembly_memory_limit_binds_and_counts() {
        let limits = FlowLimits {
            // Room for the table's first slot array, two assemblers and 100 bytes.
            max_memory: SlotMap::<FlowKey, Flow>::first_entry_bytes() + 2 * ASSEMBLER_COST + 100,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut out = Vec::new();
        // A 300-byte ClientHello record arriving in 3 segments, on two connections
        // at once (both get their assembler before the bytes run out).
        let ch = hs_record(1, 295);
        for (i, part) in ch.chunks(100).enumerate() {
            for port in [20, 21] {
                t.on_segment(
                    &seg(true, port, 1 + 100 * i as u32, ACK, part),
                    SEC,
                    &mut out,
                );
            }
        }
        assert!(t.buffered_bytes() <= 100);
        assert!(t.memory_used() <= limits.max_memory);
        assert!(t.stats().counters.get("reasm.memory_limit") > 0);
        t.flush_all(&mut out);
        assert_eq!(out.len(), 2, "each TLS connection still yields its record");
        assert_eq!(t.buffered_bytes(), 0);
    }

    /// A flood of connections that open and send part of a hello, then nothing: the
    /// table, its assemblers and their bytes stay within `max_memory` together, the
    /// excess is refused and counted, and the flows kept still ship.
    #[test]
    fn memory_limit_binds_on_a_flood_of_unfinished_handshakes() {
        let limit = 256 << 10;
        let limits = FlowLimits {
            max_memory: limit,
            ..FlowLimits::default()
        };
        let mut t = FlowTable::new(limits);
        let mut out = Vec::new();
        let hello = &hs_record(1, 200)[..100];
        let mut peak = 0;
        for port in 0..20_000u16 {
            t.on_segment(&seg(true, port, 1000, SYN, &[]), SEC, &mut out);
            t.on_segment(&seg(true, port, 1001, ACK, hello), SEC, &mut out);
            peak = peak.max(t.memory_used());
        }
        assert!(peak <= limit, "{peak} > {limit}");
        // The slot array really is what was reserved for it.
        assert_eq!(t.flows.reserved_bytes(), t.flows.allocated_bytes());
        let refused = t.stats().counters.get("flow.memory_limit");
        assert!(refused > 0);
        assert!(t.open_flows() > 100 && t.open_flows() < 20_000);
        t.flush_all(&mut out);
        assert_eq!(out.len() as u64, t.stats().tls_flows);
        assert_eq!(t.buffered_bytes(), 0);
        assert_eq!(
            t.memory_used(),
            t.flows.reserved_bytes(),
            "only the slot array is left"
        );
    }

    #[test]
    fn flush_all_ships_in_recognition_order() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        for port in (100..140).rev() {
            t.on_segment(&seg(true, port, 1, ACK, &hs_record(1, 60)), SEC, &mut out);
        }
        t.flush_all(&mut out);
        let seqs: Vec<u64> = out.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (0..40).collect::<Vec<u64>>());
        assert_eq!(out[0].client_port, 139);
        assert_eq!(t.records_assigned(), 40);
    }

    #[test]
    fn rst_ships_a_half_finished_handshake_when_the_grace_ends() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        t.on_segment(&seg(true, 9, 100, ACK, &hs_record(1, 60)), SEC, &mut out);
        t.on_segment(&seg(false, 9, 500, RST, &[]), SEC, &mut out);
        assert!(out.is_empty(), "the client's data may still be in flight");
        assert_eq!(t.stats().counters.get("flow.rst_grace"), 1);
        // Any packet after the grace (here another connection's) lets the sweep ship it.
        t.on_segment(
            &seg(true, 10, 100, SYN, &[]),
            2 * SEC + RST_GRACE_NS,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server().end, StreamEnd::Rst);
        assert_eq!(t.stats().counters.get("flow.rst_grace_ended"), 1);
        assert_eq!(t.open_flows(), 1, "only the new connection is left");
    }

    /// Regression: a client RST right after the ServerHello shipped the flow at once, and
    /// the Certificate that followed in sequence (already in flight) was lost.
    #[test]
    fn server_flight_after_a_client_rst_is_kept() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let ch = hs_record(1, 60);
        let sh = hs_record(2, 70);
        let cert = hs_record(11, 300);
        t.on_segment(&seg(true, 9, 1000, SYN, &[]), SEC, &mut out);
        t.on_segment(&seg(false, 9, 5000, SYN | ACK, &[]), SEC, &mut out);
        t.on_segment(&seg(true, 9, 1001, ACK, &ch), SEC, &mut out);
        t.on_segment(&seg(false, 9, 5001, ACK, &sh), SEC, &mut out);
        let rst_seq = 1001 + ch.len() as u32;
        t.on_segment(&seg(true, 9, rst_seq, RST, &[]), SEC + 1000, &mut out);
        // Data the resetting side sends afterwards is not taken.
        t.on_segment(&seg(true, 9, rst_seq, ACK, b"junk"), SEC + 1500, &mut out);
        let next = 5001 + sh.len() as u32;
        t.on_segment(&seg(false, 9, next, ACK, &cert), SEC + 2000, &mut out);
        assert!(out.is_empty());
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        let server = out[0].server();
        assert_eq!(
            server.data.len(),
            sh.len() + cert.len(),
            "the Certificate is kept"
        );
        assert_eq!(out[0].client().data, ch);
        assert_eq!(out[0].client().end, StreamEnd::Rst);
    }

    /// The grace is bounded in packet time: data after it is not taken; the flow ships
    /// at that packet. A peer whose handshake is over ships the flow at once.
    #[test]
    fn rst_grace_is_bounded_and_ends_early_when_the_peer_is_done() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let ch = hs_record(1, 60);
        let sh = hs_record(2, 70);
        t.on_segment(&seg(true, 9, 1001, ACK, &ch), SEC, &mut out);
        t.on_segment(&seg(false, 9, 5001, ACK, &sh), SEC, &mut out);
        t.on_segment(
            &seg(true, 9, 1001 + ch.len() as u32, RST, &[]),
            SEC,
            &mut out,
        );
        let late = 5001 + sh.len() as u32;
        let cert = hs_record(11, 300);
        t.on_segment(
            &seg(false, 9, late, ACK, &cert),
            SEC + RST_GRACE_NS + 1,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].server().data,
            sh,
            "the late Certificate is not taken"
        );
        // (The late segment itself opens a fresh entry that never shows a hello.)
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);

        // The server's flight ends its handshake (CCS + Finished) inside the grace.
        t.on_segment(&seg(true, 11, 1001, ACK, &ch), SEC, &mut out);
        t.on_segment(
            &seg(true, 11, 1001 + ch.len() as u32, RST, &[]),
            SEC,
            &mut out,
        );
        let mut flight = sh.clone();
        flight.extend(ccs_and_finished());
        t.on_segment(&seg(false, 11, 5001, ACK, &flight), SEC + 10, &mut out);
        assert_eq!(
            out.len(),
            2,
            "shipped as soon as the server's handshake is over"
        );
        assert_eq!(out[1].server().data, flight);
    }

    /// The table holds up to a million connections: an entry must stay small (the
    /// assembler is boxed and allocated only for TLS directions), and so must what a
    /// collecting direction allocates (one box in an 80-byte allocator class).
    #[test]
    fn flow_entry_stays_small() {
        use std::mem::size_of;
        let sizes = (
            size_of::<Flow>(),
            size_of::<Dir>(),
            size_of::<Held>(),
            size_of::<DirAssembler>(),
        );
        assert!(
            sizes.0 <= 88 && sizes.1 <= 16 && sizes.2 <= 80 && sizes.3 <= 64,
            "Flow, Dir, Held, DirAssembler: {sizes:?}"
        );
        assert!(size_of::<FlowKey>() <= 48);
        const { assert!(ASSEMBLER_COST <= 96) };
    }

    /// A handshake record (type 22) whose first message has type `ty` and `body_len`
    /// body bytes; the record header claims `record_len`.
    fn hs_record_len(ty: u8, body_len: usize, record_len: u16) -> Vec<u8> {
        let mut v = vec![22, 3, 3];
        v.extend(record_len.to_be_bytes());
        v.push(ty);
        v.extend(&(body_len as u32).to_be_bytes()[1..]);
        v.resize(5 + usize::from(record_len), 0x42);
        v
    }

    /// Regression: a direction cut by the depth limit was shipped as `HandshakeDone`
    /// (the limit also stops collection), so the row read "incomplete" with no
    /// `server_truncated` anomaly instead of "truncated". Seen on Zeek's
    /// tls-fragmented-handshake.pcap (a 340 KB Certificate message).
    #[test]
    fn depth_limit_is_shipped_as_truncated() {
        let mut limits = FlowLimits::default();
        limits.reasm.max_bytes_per_direction = 4096;
        let mut t = FlowTable::new(limits);
        let mut out = Vec::new();
        t.on_segment(&seg(true, 40000, 100, SYN, &[]), 1, &mut out);
        t.on_segment(&seg(false, 40000, 500, SYN | ACK, &[]), 2, &mut out);
        // A server flight far larger than the depth: one 16 KiB record (a ServerHello
        // header, so the flow is recognised as TLS, and a body never completed).
        let flight = hs_record_len(2, 16380, 16384);
        let mut seq = 501u32;
        for (i, chunk) in flight.chunks(1400).enumerate() {
            t.on_segment(&seg(false, 40000, seq, ACK, chunk), 4 + i as i64, &mut out);
            seq += chunk.len() as u32;
        }
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].server().end, StreamEnd::Truncated);
        assert_eq!(out[0].client().end, StreamEnd::Open);
        assert!(t.stats().counters.get("reasm.depth_limit") > 0);
        let hs = crate::tls::analyze(out[0].client(), out[0].server());
        assert_eq!(hs.status, crate::tls::model::HandshakeStatus::Truncated);
    }

    /// The capture side must not cut what the TLS parser is sized to read (the 340 KB
    /// certificate chain of Zeek's tls-fragmented-handshake.pcap was cut at 256 KiB).
    #[test]
    fn default_depth_covers_the_parser_handshake_limit() {
        assert!(
            ReasmLimits::default().max_bytes_per_direction
                >= crate::tls::Limits::default().max_handshake_bytes
        );
    }

    /// Regression: in Arkime's socks4-https.pcap the server's flight after the SOCKS
    /// reply arrived with its second segment first; that segment was seen while the
    /// direction was still looking for TLS and dropped, so the certificate chain
    /// became a gap.
    #[test]
    fn segment_arriving_before_the_first_record_is_kept() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        t.on_segment(&seg(true, 40000, 100, SYN, &[]), 1, &mut out);
        t.on_segment(&seg(false, 40000, 500, SYN | ACK, &[]), 2, &mut out);
        t.on_segment(&seg(true, 40000, 101, ACK, b"CONNECT"), 3, &mut out);
        t.on_segment(
            &seg(false, 40000, 501, ACK, b"\x00\x5a\0\0\0\0\0\0"),
            4,
            &mut out,
        );
        let flight = hs_record_len(2, 300, 304);
        let (a, b) = flight.split_at(100);
        t.on_segment(&seg(false, 40000, 509 + 100, ACK, b), 5, &mut out);
        t.on_segment(&seg(false, 40000, 509, ACK, a), 6, &mut out);
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        let server = &out[0].server();
        assert!(server.gaps.is_empty(), "{:?}", server.gaps);
        assert_eq!(server.data, flight);
        assert_eq!(t.buffered_bytes(), 0);
    }

    /// Held-back bytes are returned to the budget when a flow is given up as not TLS.
    #[test]
    fn stash_is_released_when_the_flow_is_not_tls() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        t.on_segment(&seg(true, 40000, 100, SYN, &[]), 1, &mut out);
        t.on_segment(&seg(true, 40000, 200, ACK, b"later bytes"), 2, &mut out);
        assert_eq!(t.buffered_bytes(), 11);
        t.on_segment(&seg(true, 40000, 101, FIN | ACK, b"GET /"), 3, &mut out);
        assert!(out.is_empty());
        assert_eq!(t.buffered_bytes(), 0);
    }

    /// Regression: a ClientHello whose first segments carry only part of the record
    /// header (3 + 2 bytes, testdata/loopback/fragmented-hello.pcap) was never
    /// recognised, because TLS was looked for one segment at a time.
    #[test]
    fn hello_split_inside_the_record_header_is_recognised() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let ch = hs_record(1, 60);
        t.on_segment(&seg(true, 50, 100, SYN, &[]), SEC, &mut out);
        let mut seq = 101;
        for part in [&ch[..3], &ch[3..5], &ch[5..20], &ch[20..]] {
            t.on_segment(&seg(true, 50, seq, ACK, part), SEC, &mut out);
            seq += part.len() as u32;
        }
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client().data, ch);
        assert_eq!(t.stats().tls_flows, 1);
    }

    /// A short segment that only looks like the start of a record is given up as soon
    /// as the following bytes say otherwise, and its bytes go back to the budget.
    #[test]
    fn tentative_start_that_is_not_tls_is_dropped() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        t.on_segment(&seg(true, 51, 100, SYN, &[]), SEC, &mut out);
        t.on_segment(&seg(true, 51, 101, ACK, &[0x16, 3]), SEC, &mut out);
        t.on_segment(
            &seg(true, 51, 103, ACK, b"plain text, not a record"),
            SEC,
            &mut out,
        );
        assert_eq!(t.stats().tls_flows, 0);
        assert_eq!(t.buffered_bytes(), 0);
        t.flush_all(&mut out);
        assert!(out.is_empty());
    }

    /// Regression (`heuristic_tcp_ack_payload`): the ACK of the SYN-ACK carries two
    /// bytes of noise where the ClientHello then starts. Too short to judge, they start
    /// a tentative collection; the hello overlaps them (first data wins), so the
    /// reassembled start is not TLS. The hello itself is: collecting restarts from it.
    #[test]
    fn hello_overlapping_a_tentative_start_of_noise_is_kept() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let ch = hs_record(1, 60);
        t.on_segment(&seg(true, 52, 100, SYN, &[]), SEC, &mut out);
        // Could start an SSLv2 record: too short to say it does not.
        t.on_segment(&seg(true, 52, 101, ACK, &[0x80, 0]), SEC, &mut out);
        t.on_segment(&seg(true, 52, 101, ACK | 0x08, &ch), SEC, &mut out);
        assert_eq!(t.stats().counters.get("flow.tentative_start_replaced"), 1);
        assert_eq!(t.stats().tls_flows, 1);
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client().data, ch);
    }

    /// Regression: the last ACK after both FINs created a fresh entry, so every
    /// connection was counted twice in the summary ("96 TCP connections" for 47).
    #[test]
    fn control_packets_of_unknown_connections_create_nothing() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        t.on_segment(&seg(true, 60, 100, ACK, &[]), SEC, &mut out);
        t.on_segment(&seg(true, 60, 100, FIN | ACK, &[]), SEC, &mut out);
        t.on_segment(&seg(false, 60, 100, RST, &[]), SEC, &mut out);
        assert_eq!(t.open_flows(), 0);
        assert_eq!(t.stats().flows_seen, 0);
        t.on_segment(&seg(true, 60, 100, SYN, &[]), SEC, &mut out);
        assert_eq!(t.stats().flows_seen, 1);
    }

    /// A PROXY protocol header in its own segment, then the ClientHello: the flow is
    /// TLS and the client's stream keeps the header (the row reads its addresses).
    #[test]
    fn proxy_header_in_its_own_segment_then_the_hello() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let proxy = b"PROXY TCP4 192.0.2.7 10.0.0.2 40001 443\r\n";
        let ch = hs_record(1, 60);
        t.on_segment(&seg(true, 70, 100, SYN, &[]), SEC, &mut out);
        t.on_segment(&seg(true, 70, 101, ACK, proxy), SEC, &mut out);
        let after = 101 + proxy.len() as u32;
        t.on_segment(&seg(true, 70, after, ACK, &ch), SEC, &mut out);
        t.on_segment(&seg(false, 70, 500, ACK, &hs_record(2, 50)), SEC, &mut out);
        t.flush_all(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client().data, [&proxy[..], &ch].concat());
        assert_eq!(out[0].client_by, ClientBy::Syn);
        // The record walk starts after the header: a CCS still ends the direction.
        let mut t = FlowTable::new(FlowLimits::default());
        let mut one = proxy.to_vec();
        one.extend(&ch);
        t.on_segment(&seg(true, 71, 101, ACK, &one), SEC, &mut out);
        let fin = ccs_and_finished();
        let next = 101 + one.len() as u32;
        t.on_segment(&seg(true, 71, next, ACK, &fin), SEC, &mut out);
        assert_eq!(t.stats().tls_flows, 1);
        assert_eq!(t.stats().counters.get("flow.bad_record_framing"), 0);
    }

    /// OpenVPN over TCP: recognised at the client's hard reset, the server's reset
    /// starts its direction, and a data-channel packet ends each direction.
    #[test]
    fn openvpn_flow_is_collected_until_the_data_channel() {
        use crate::openvpn::packet::{self as ovpn, test_packet};
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let c = [
            test_packet(ovpn::P_CONTROL_HARD_RESET_CLIENT_V2, 20, &[], Some(0), &[]),
            test_packet(ovpn::P_CONTROL_V1, 20, &[0], Some(1), &hs_record(1, 60)),
            test_packet(ovpn::P_DATA_V2, 0, &[], None, b"data"),
        ];
        let s = [
            test_packet(ovpn::P_CONTROL_HARD_RESET_SERVER_V2, 20, &[0], Some(0), &[]),
            test_packet(ovpn::P_CONTROL_V1, 20, &[1], Some(1), &hs_record(2, 50)),
            test_packet(ovpn::P_DATA_V2, 0, &[], None, b"data"),
        ];
        let (mut cs, mut ss) = (101u32, 501u32);
        for (a, b) in c.iter().zip(&s) {
            t.on_segment(&seg(true, 72, cs, ACK, a), SEC, &mut out);
            t.on_segment(&seg(false, 72, ss, ACK, b), SEC, &mut out);
            cs += a.len() as u32;
            ss += b.len() as u32;
        }
        assert_eq!(out.len(), 1, "shipped once both directions reached data");
        assert_eq!(out[0].client().end, StreamEnd::HandshakeDone);
        assert_eq!(out[0].server().end, StreamEnd::HandshakeDone);
        assert_eq!(t.stats().counters.get("flow.bad_record_framing"), 0);
        let inner =
            crate::openvpn::unwrap(out[0].client(), 0, out[0].server(), &mut Counters::new())
                .unwrap();
        let hs = crate::tls::analyze(&inner.client, &inner.server);
        assert!(hs.client_hello.is_some() && hs.server_hello.is_some());
    }

    /// tls-crypt hides the handshake: the connection is counted, no row is made.
    #[test]
    fn openvpn_tls_crypt_is_counted_without_a_row() {
        let mut t = FlowTable::new(FlowLimits::default());
        let mut out = Vec::new();
        let reset = crate::openvpn::packet::test_tls_crypt_reset();
        t.on_segment(&seg(true, 73, 101, ACK, &reset), SEC, &mut out);
        t.flush_all(&mut out);
        assert!(out.is_empty());
        assert_eq!(t.stats().counters.get("flow.openvpn_tls_crypt"), 1);
        assert_eq!(t.stats().tls_flows, 0);
        assert_eq!(t.buffered_bytes(), 0);
    }
}
