//! The UDP flow table: QUIC connections and DTLS associations the capture thread is
//! following, beside the TCP table (it shares that table's memory budget and record
//! numbering; [`super::table::FlowTable`] owns both).
//!
//! A UDP datagram creates state only when it opens a handshake, recognised by content
//! on any port: a QUIC client Initial ([`crate::quic::sniff_client_initial`]) or a
//! DTLS ClientHello / ServerHello / HelloVerifyRequest record
//! ([`crate::dtls::sniff`], which follows RFC 7983's first-byte rule so DTLS sharing a
//! port with STUN and RTP is found). Every other datagram costs one failed lookup and
//! a few byte compares. Nothing is decrypted here: the datagrams that can carry
//! handshake messages are kept (QUIC: those holding a long-header packet; DTLS: those
//! holding a cleartext epoch-0 record) and shipped as a [`FlowRecord`] for the parser
//! pool to decrypt and reassemble.
//!
//! When a flow is shipped (its handshake is over):
//! - QUIC: once both sides have sent 1-RTT (short header) packets, the handshake is
//!   done; the client's first Handshake or 1-RTT packet already means the Initial
//!   exchange is over, so no later datagram is kept.
//! - DTLS: once each side has sent a ChangeCipherSpec or a protected record (a later
//!   epoch, or DTLS 1.3's unified header), or a fatal alert in the clear.
//! - otherwise at the idle timeout (packet time) or the end of the input.
//!
//! After shipping, the entry stays (small, without datagrams) until it idles out, so the
//! rest of the connection is skipped; a new handshake on the same 5-tuple (a client
//! Initial with another Destination Connection ID, a ClientHello with another random)
//! replaces it.
//!
//! Limits ([`UdpLimits`], each counted when hit): open UDP flows (`udp.table_full`),
//! bytes and datagrams kept per flow (`udp.flow_bytes_limit`), idle timeout; the memory
//! of entries and kept bytes is charged to the flow table's [`MemBudget`]
//! (`flow.memory_limit`, `udp.memory_limit`).

use std::collections::HashMap;

use ahash::RandomState;

use crate::decode::UdpDatagram;
use crate::flow::reassembly::MemBudget;
use crate::flow::record::{
    ClientBy, FirstEncap, FlowKey, FlowPayload, FlowRecord, Transport, UdpFacts, UdpPayload,
};
use crate::flow::table::{note_encap, FlowStats};
use crate::{dtls, quic};

/// Limits of the UDP table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpLimits {
    /// QUIC connections / DTLS associations followed at once (`udp.table_full`).
    pub max_flows: usize,
    /// Bytes of datagrams kept per flow (`udp.flow_bytes_limit` when one is refused).
    /// A QUIC Initial exchange is 2-6 datagrams of 1200-1500 bytes; a DTLS 1.2 server
    /// flight with a certificate chain is a few KiB, fragmented.
    pub max_flow_bytes: usize,
    /// Datagrams kept per flow (`udp.flow_bytes_limit` too).
    pub max_flow_datagrams: usize,
    /// A flow with no datagram for this long (packet time) is shipped and forgotten.
    pub idle_timeout_ns: i64,
}

impl Default for UdpLimits {
    fn default() -> Self {
        UdpLimits {
            max_flows: 1_000_000,
            max_flow_bytes: 64 * 1024,
            max_flow_datagrams: 64,
            idle_timeout_ns: 60 * 1_000_000_000,
        }
    }
}

/// What an entry costs besides its datagrams: the hash-table slot (key, flow, control
/// byte) and the allocator's overhead on the datagram list.
const ENTRY_COST: usize = std::mem::size_of::<(FlowKey, UdpFlow)>() + 1 + 16;
/// Per kept datagram besides its bytes: the `UdpPayload` and the allocator's header.
const DATAGRAM_COST: usize = std::mem::size_of::<UdpPayload>() + 16;

#[derive(Debug)]
struct UdpFlow {
    transport: Transport,
    first_ts_ns: i64,
    last_ts_ns: i64,
    /// Direction index (0/1, see [`FlowKey::new`]) of the client.
    client_dir: usize,
    seq: u64,
    /// Identity of the handshake, to tell a new one on the same 5-tuple from a
    /// retransmission: QUIC, a hash of the client's first DCID; DTLS, of the client
    /// random.
    ident: u64,
    /// QUIC: a hash of the server's Source Connection ID (which the client uses as
    /// DCID once it has the server's first Initial), 0 until seen.
    server_cid: u64,
    shipped: bool,
    /// No more datagrams are kept (the Initial exchange is over, or a limit bound).
    keep_done: bool,
    /// DTLS: each side's cleartext handshake is over.
    side_done: [bool; 2],
    kept: Vec<UdpPayload>,
    kept_bytes: usize,
    facts: UdpFacts,
    /// Each direction's first encapsulation (tunnelled flows only), until shipped.
    encap: FirstEncap,
}

/// How a datagram opens a handshake.
struct Opening {
    transport: Transport,
    /// The sender is the client.
    from_client: bool,
    ident: u64,
}

fn hash_bytes(b: &[u8]) -> u64 {
    // Fixed keys: the identity must not depend on the table's random seed.
    RandomState::with_seeds(1, 2, 3, 4).hash_one(b) | 1
}

fn opening(payload: &[u8]) -> Option<Opening> {
    if let Some(h) = quic::sniff_client_initial(payload) {
        return Some(Opening {
            transport: Transport::Quic,
            from_client: true,
            ident: hash_bytes(h.dcid(payload)),
        });
    }
    let s = dtls::sniff(payload)?;
    let from_client = match s.hello {
        dtls::HelloKind::ClientHello => true,
        dtls::HelloKind::ServerHello | dtls::HelloKind::HelloVerifyRequest => false,
        dtls::HelloKind::None => return None,
    };
    Some(Opening {
        transport: Transport::Dtls,
        from_client,
        ident: s.client_random.map_or(0, hash_bytes),
    })
}

/// The capture thread's UDP table (see the module doc).
#[derive(Debug)]
pub struct UdpTable {
    limits: UdpLimits,
    /// See [`crate::flow::table::FlowLimits::tunnel_id_in_key`].
    tunnel_id_in_key: bool,
    flows: HashMap<FlowKey, UdpFlow, RandomState>,
}

impl UdpTable {
    pub fn new(limits: UdpLimits, tunnel_id_in_key: bool) -> Self {
        UdpTable {
            limits,
            tunnel_id_in_key,
            flows: HashMap::with_hasher(RandomState::new()),
        }
    }

    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// Feed one datagram; a finished handshake is appended to `out`.
    pub(crate) fn on_datagram(
        &mut self,
        d: &UdpDatagram<'_>,
        ts_ns: i64,
        budget: &mut MemBudget,
        next_seq: &mut u64,
        stats: &mut FlowStats,
        out: &mut Vec<FlowRecord>,
    ) {
        let net = if self.tunnel_id_in_key {
            d.encap.network_id().unwrap_or(0)
        } else {
            0
        };
        let (key, dir) = FlowKey::new(d.src, d.sport, d.dst, d.dport, d.vlan, net);
        if let Some(flow) = self.flows.get_mut(&key) {
            flow.last_ts_ns = flow.last_ts_ns.max(ts_ns);
            // A new handshake on the same 5-tuple replaces a shipped one.
            let restart = flow.shipped
                && opening(d.payload).is_some_and(|o| {
                    o.transport == flow.transport
                        && o.ident != flow.ident
                        && o.ident != flow.server_cid
                        && (o.from_client == (dir == flow.client_dir))
                });
            if !restart {
                if !flow.shipped {
                    note_encap(&mut flow.encap, dir, &d.encap, budget, stats);
                    Self::on_flow_datagram(
                        &key,
                        flow,
                        dir,
                        d.payload,
                        ts_ns,
                        &self.limits,
                        budget,
                        stats,
                        out,
                    );
                }
                return;
            }
            if let Some(mut old) = self.flows.remove(&key) {
                Self::release(&mut old, budget);
            }
        }
        let Some(open) = opening(d.payload) else {
            return;
        };
        if self.flows.len() >= self.limits.max_flows {
            stats.counters.bump("udp.table_full");
            return;
        }
        if !budget.try_reserve_fixed(ENTRY_COST) {
            stats.counters.bump("flow.memory_limit");
            return;
        }
        stats.udp_flows += 1;
        stats.tls_flows += 1;
        let mut flow = UdpFlow {
            transport: open.transport,
            first_ts_ns: ts_ns,
            last_ts_ns: ts_ns,
            client_dir: if open.from_client { dir } else { 1 - dir },
            seq: *next_seq,
            ident: open.ident,
            server_cid: 0,
            shipped: false,
            keep_done: false,
            side_done: [false; 2],
            kept: Vec::new(),
            kept_bytes: 0,
            facts: UdpFacts::default(),
            encap: FirstEncap::default(),
        };
        *next_seq += 1;
        note_encap(&mut flow.encap, dir, &d.encap, budget, stats);
        Self::on_flow_datagram(
            &key,
            &mut flow,
            dir,
            d.payload,
            ts_ns,
            &self.limits,
            budget,
            stats,
            out,
        );
        self.flows.insert(key, flow);
        stats.peak_open_flows = stats.peak_open_flows.max(self.flows.len() as u64);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_flow_datagram(
        key: &FlowKey,
        flow: &mut UdpFlow,
        dir: usize,
        payload: &[u8],
        ts_ns: i64,
        limits: &UdpLimits,
        budget: &mut MemBudget,
        stats: &mut FlowStats,
        out: &mut Vec<FlowRecord>,
    ) {
        let from_client = dir == flow.client_dir;
        let side = usize::from(!from_client);
        if from_client {
            flow.facts.client_datagrams = flow.facts.client_datagrams.saturating_add(1);
        } else {
            flow.facts.server_datagrams = flow.facts.server_datagrams.saturating_add(1);
        }
        let (keep, ship) = match flow.transport {
            Transport::Quic => {
                let k = quic::packet_kinds(payload);
                if from_client && (k.handshake || k.short) {
                    flow.keep_done = true;
                }
                if k.short {
                    if from_client {
                        flow.facts.client_short = true;
                    } else {
                        flow.facts.server_short = true;
                    }
                }
                if !from_client && flow.server_cid == 0 {
                    if let Some(scid) = k.first_scid(payload) {
                        flow.server_cid = hash_bytes(scid);
                    }
                }
                let keep = k.initial || k.retry;
                (keep, flow.facts.client_short && flow.facts.server_short)
            }
            Transport::Dtls => {
                let k = dtls::record_kinds(payload);
                if k.ccs || k.protected || k.fatal_alert {
                    flow.side_done[side] = true;
                }
                let over = flow.side_done.iter().all(|&x| x) || k.fatal_alert;
                (k.cleartext || k.ccs || k.protected, over)
            }
            Transport::Tcp => (false, false),
        };
        if keep && !flow.keep_done {
            let cost = payload.len() + DATAGRAM_COST;
            if flow.kept.len() >= limits.max_flow_datagrams
                || flow.kept_bytes + payload.len() > limits.max_flow_bytes
            {
                stats.counters.bump("udp.flow_bytes_limit");
                flow.facts.truncated = true;
                flow.keep_done = true;
            } else if !budget.try_reserve(cost) {
                stats.counters.bump("udp.memory_limit");
                flow.facts.truncated = true;
                flow.keep_done = true;
            } else {
                flow.kept_bytes += payload.len();
                flow.kept.push(UdpPayload {
                    from_client,
                    ts_ns,
                    data: payload.to_vec(),
                });
            }
        }
        if ship {
            out.push(Self::ship(key, flow, budget));
        }
    }

    /// The record of a flow; its datagrams are handed over and their memory released.
    fn ship(key: &FlowKey, flow: &mut UdpFlow, budget: &mut MemBudget) -> FlowRecord {
        let datagrams = std::mem::take(&mut flow.kept);
        budget.release(flow.kept_bytes + datagrams.len() * DATAGRAM_COST);
        flow.kept_bytes = 0;
        flow.shipped = true;
        flow.keep_done = true;
        let (cip, cport) = key.endpoint(flow.client_dir);
        let (sip, sport) = key.endpoint(1 - flow.client_dir);
        FlowRecord {
            seq: flow.seq,
            first_ts_ns: flow.first_ts_ns,
            last_ts_ns: flow.last_ts_ns,
            client_ip: cip,
            client_port: cport,
            server_ip: sip,
            server_port: sport,
            vlan: key.vlan,
            client_by: ClientBy::Hello,
            encap: flow.encap.of_client(flow.client_dir),
            payload: FlowPayload::Udp {
                transport: flow.transport,
                datagrams,
                facts: flow.facts,
            },
        }
    }

    fn release(flow: &mut UdpFlow, budget: &mut MemBudget) {
        budget.release(flow.kept_bytes + flow.kept.len() * DATAGRAM_COST);
        flow.kept = Vec::new();
        flow.kept_bytes = 0;
        budget.release_fixed(ENTRY_COST + flow.encap.heap_bytes());
        flow.encap = FirstEncap::default();
    }

    /// Ship and forget flows idle since before `now_ns - idle_timeout` (records in
    /// recognition order).
    pub(crate) fn expire(
        &mut self,
        now_ns: i64,
        budget: &mut MemBudget,
        stats: &mut FlowStats,
        out: &mut Vec<FlowRecord>,
    ) {
        let deadline = now_ns.saturating_sub(self.limits.idle_timeout_ns);
        let mut expired: Vec<(u64, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_ts_ns < deadline)
            .map(|(k, f)| (f.seq, *k))
            .collect();
        if expired.is_empty() {
            return;
        }
        stats.counters.add("udp.idle_timeout", expired.len() as u64);
        expired.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, key) in expired {
            self.remove_shipping(&key, budget, out);
        }
    }

    fn remove_shipping(
        &mut self,
        key: &FlowKey,
        budget: &mut MemBudget,
        out: &mut Vec<FlowRecord>,
    ) {
        if let Some(mut flow) = self.flows.remove(key) {
            if !flow.shipped {
                out.push(Self::ship(key, &mut flow, budget));
            }
            Self::release(&mut flow, budget);
        }
    }

    /// Flows not shipped yet, as (recognition number, key), sorted.
    pub(crate) fn pending(&self) -> Vec<(u64, FlowKey)> {
        let mut v: Vec<(u64, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.shipped)
            .map(|(k, f)| (f.seq, *k))
            .collect();
        v.sort_unstable_by_key(|(seq, _)| *seq);
        v
    }

    /// Ship one pending flow (end of input).
    pub(crate) fn flush_key(
        &mut self,
        key: &FlowKey,
        budget: &mut MemBudget,
        out: &mut Vec<FlowRecord>,
    ) {
        self.remove_shipping(key, budget, out);
    }

    /// Forget everything (after the end-of-input flush).
    pub(crate) fn clear(&mut self, budget: &mut MemBudget) {
        for (_, mut flow) in self.flows.drain() {
            Self::release(&mut flow, budget);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::UdpDatagram;
    use std::net::{IpAddr, Ipv4Addr};

    const SEC: i64 = 1_000_000_000;
    const C: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const S: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    /// A DTLS 1.2 record (epoch, one handshake fragment or raw body).
    fn record(ct: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 0xfe, 0xfd];
        v.extend(epoch.to_be_bytes());
        v.extend([0, 0, 0, 0, 0, 1]);
        v.extend((body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A whole (unfragmented) handshake message with DTLS's 12-byte header.
    fn hs(ty: u8, seq: u16, body: &[u8]) -> Vec<u8> {
        let len = (body.len() as u32).to_be_bytes();
        let mut v = vec![ty, len[1], len[2], len[3]];
        v.extend(seq.to_be_bytes());
        v.extend([0, 0, 0, len[1], len[2], len[3]]);
        v.extend_from_slice(body);
        v
    }

    fn client_hello(random: u8) -> Vec<u8> {
        // version, random, empty session id, empty cookie, one suite, null compression.
        let mut b = vec![0xfe, 0xfd];
        b.extend([random; 32]);
        b.extend([0, 0, 0, 2, 0xc0, 0x2b, 1, 0]);
        record(22, 0, &hs(1, 0, &b))
    }

    struct Rig {
        t: UdpTable,
        budget: MemBudget,
        seq: u64,
        stats: FlowStats,
        out: Vec<FlowRecord>,
    }

    impl Rig {
        fn new(limits: UdpLimits, memory: usize) -> Self {
            Rig {
                t: UdpTable::new(limits, true),
                budget: MemBudget::new(memory),
                seq: 0,
                stats: FlowStats::default(),
                out: Vec::new(),
            }
        }

        fn feed(&mut self, from_client: bool, cport: u16, payload: &[u8], ts: i64) {
            let (src, dst, sport, dport) = if from_client {
                (C, S, cport, 4433)
            } else {
                (S, C, 4433, cport)
            };
            let d = UdpDatagram {
                src,
                dst,
                sport,
                dport,
                vlan: 0,
                payload,
                payload_truncated: false,
                encap: Default::default(),
            };
            self.t.on_datagram(
                &d,
                ts,
                &mut self.budget,
                &mut self.seq,
                &mut self.stats,
                &mut self.out,
            );
        }
    }

    /// A DTLS 1.2 handshake: the flow starts at the ClientHello, keeps the cleartext
    /// and the first protected records, ships once both sides changed cipher spec, and
    /// skips what follows; nothing that is not a handshake creates state.
    #[test]
    fn dtls_association_is_shipped_once_when_both_sides_are_protected() {
        let mut r = Rig::new(UdpLimits::default(), 1 << 20);
        r.feed(
            true,
            5000,
            b"\x00\x01 not dtls (a STUN-like first byte)",
            SEC,
        );
        assert_eq!(r.t.open_flows(), 0);
        r.feed(true, 5000, &client_hello(7), SEC);
        r.feed(
            false,
            5000,
            &record(22, 0, &hs(3, 0, &[0xfe, 0xff, 1, 9])),
            SEC,
        );
        r.feed(true, 5000, &client_hello(7), SEC + 1);
        let mut flight = record(20, 0, &[1]);
        flight.extend(record(22, 1, &[0x55; 40]));
        r.feed(true, 5000, &flight, SEC + 2);
        assert!(r.out.is_empty(), "the server has not finished");
        r.feed(false, 5000, &flight, SEC + 3);
        assert_eq!(r.out.len(), 1);
        r.feed(true, 5000, &record(23, 1, &[0x66; 30]), SEC + 4);
        assert_eq!(
            r.out.len(),
            1,
            "application data after the handshake is skipped"
        );
        let rec = &r.out[0];
        assert_eq!(
            (rec.client_ip, rec.client_port, rec.server_port),
            (C, 5000, 4433)
        );
        let FlowPayload::Udp {
            transport,
            datagrams,
            facts,
        } = &rec.payload
        else {
            panic!("a UDP record");
        };
        assert_eq!(*transport, Transport::Dtls);
        assert_eq!(datagrams.len(), 5);
        assert_eq!((facts.client_datagrams, facts.server_datagrams), (3, 2));
        assert_eq!(r.stats.udp_flows, 1);
        // Only the entry is still charged once the datagrams are shipped.
        assert_eq!(r.budget.used(), ENTRY_COST);
        // Idle: the shipped entry is forgotten, nothing shipped twice.
        let mut out = Vec::new();
        r.t.expire(SEC * 100, &mut r.budget, &mut r.stats, &mut out);
        assert!(out.is_empty());
        assert_eq!((r.t.open_flows(), r.budget.used()), (0, 0));
    }

    /// A ClientHello with another random on a shipped 5-tuple is a new association;
    /// the same ClientHello again is a retransmission.
    #[test]
    fn new_handshake_on_the_same_five_tuple_replaces_a_shipped_one() {
        let mut r = Rig::new(UdpLimits::default(), 1 << 20);
        r.feed(true, 5000, &client_hello(1), SEC);
        r.feed(false, 5000, &record(21, 0, &[2, 40]), SEC);
        assert_eq!(r.out.len(), 1, "a fatal alert ends the handshake");
        r.feed(true, 5000, &client_hello(1), SEC + 1);
        assert_eq!(r.stats.udp_flows, 1, "a retransmission");
        r.feed(true, 5000, &client_hello(2), SEC + 2);
        assert_eq!(r.stats.udp_flows, 2);
        let mut out = Vec::new();
        r.t.expire(SEC * 100, &mut r.budget, &mut r.stats, &mut out);
        assert_eq!(out.len(), 1, "the second one ships at its idle timeout");
        assert_eq!((out[0].seq, r.out[0].seq), (1, 0));
        assert_eq!(r.stats.counters.get("udp.idle_timeout"), 1);
    }

    #[test]
    fn limits_bind_and_are_counted() {
        // Open flows.
        let lim = UdpLimits {
            max_flows: 2,
            ..UdpLimits::default()
        };
        let mut r = Rig::new(lim, 1 << 20);
        for port in 1..=3 {
            r.feed(true, port, &client_hello(port as u8), SEC);
        }
        assert_eq!(r.t.open_flows(), 2);
        assert_eq!(r.stats.counters.get("udp.table_full"), 1);

        // Bytes kept per flow: the flow is marked truncated, later datagrams not kept.
        let ch = client_hello(9);
        let lim = UdpLimits {
            max_flow_bytes: ch.len() * 2,
            ..UdpLimits::default()
        };
        let mut r = Rig::new(lim, 1 << 20);
        for i in 0..4 {
            r.feed(i % 2 == 0, 7000, &ch, SEC + i);
        }
        assert_eq!(r.stats.counters.get("udp.flow_bytes_limit"), 1);
        let mut out = Vec::new();
        r.t.flush_key(&r.t.pending()[0].1, &mut r.budget, &mut out);
        let FlowPayload::Udp {
            datagrams, facts, ..
        } = &out[0].payload
        else {
            panic!("a UDP record");
        };
        assert_eq!((datagrams.len(), facts.truncated), (2, true));

        // Memory: an entry that does not fit is refused; kept bytes that do not fit
        // are counted apart.
        let mut r = Rig::new(UdpLimits::default(), ENTRY_COST + ch.len() + DATAGRAM_COST);
        r.feed(true, 1, &ch, SEC);
        r.feed(true, 1, &ch, SEC);
        r.feed(true, 2, &client_hello(3), SEC);
        assert_eq!(r.t.open_flows(), 1);
        assert_eq!(r.stats.counters.get("flow.memory_limit"), 1);
        assert_eq!(r.stats.counters.get("udp.memory_limit"), 1);
        r.t.clear(&mut r.budget);
        assert_eq!(r.budget.used(), 0, "everything charged is given back");
    }
}
