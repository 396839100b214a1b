//! The owned record the capture thread ships to the parser pool for one connection,
//! whatever its transport: the seam between `flow/` and the parsers. TCP connections
//! carry their two reassembled byte streams; QUIC connections and DTLS associations
//! carry the datagrams that may hold handshake messages, in packet order, for the
//! parser pool to decrypt (QUIC Initials) or reassemble (DTLS fragments).

use std::net::IpAddr;

use crate::decode::Encap;
use crate::flow::stream::StreamData;

/// Who the client is, and how we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBy {
    /// Sender of the SYN.
    Syn,
    /// Sender of the ClientHello / client Initial (capture started mid-connection, or
    /// UDP, which has no SYN), or the peer of the ServerHello sender.
    Hello,
}

/// The transport a handshake travelled over (the `transport` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Quic,
    Dtls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
            Transport::Dtls => "dtls",
        }
    }
}

/// One UDP payload of a QUIC or DTLS flow, as captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPayload {
    pub from_client: bool,
    /// Packet time, ns since the Unix epoch.
    pub ts_ns: i64,
    pub data: Vec<u8>,
}

impl UdpPayload {
    /// A borrowed view, as the QUIC and DTLS framings take it.
    pub fn as_datagram(&self) -> Datagram<'_> {
        Datagram {
            from_client: self.from_client,
            ts_ns: self.ts_ns,
            data: &self.data,
        }
    }
}

/// One UDP payload of a flow, borrowed, in capture order: what [`crate::quic`] and
/// [`crate::dtls`] read.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub from_client: bool,
    /// Packet time, ns since the Unix epoch.
    pub ts_ns: i64,
    pub data: &'a [u8],
}

/// What the capture thread saw of a UDP handshake besides the datagrams it kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpFacts {
    /// Datagrams seen per direction (kept or not).
    pub client_datagrams: u32,
    pub server_datagrams: u32,
    /// QUIC: 1-RTT (short header) packets seen from the client / the server.
    pub client_short: bool,
    pub server_short: bool,
    /// A datagram of this flow was not kept ([`crate::flow::udp::UdpLimits`]).
    pub truncated: bool,
}

/// The handshake material of one connection.
#[derive(Debug, Clone)]
pub enum FlowPayload {
    Tcp {
        client: StreamData,
        server: StreamData,
    },
    /// QUIC or DTLS: the datagrams kept, in packet order.
    Udp {
        transport: Transport,
        datagrams: Vec<UdpPayload>,
        facts: UdpFacts,
    },
}

/// One TLS connection's handshake material, shipped from the capture thread to the
/// parser pool. Owned; crosses threads.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Order of TLS recognition within this packet source (dense, from 0, shared by
    /// TCP and UDP flows).
    pub seq: u64,
    /// Packet time of the connection's first packet seen.
    pub first_ts_ns: i64,
    pub last_ts_ns: i64,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub server_ip: IpAddr,
    pub server_port: u16,
    pub vlan: u32,
    pub client_by: ClientBy,
    /// How the client's first packet was wrapped (else the server's first packet's;
    /// `Encap::default()` when plain).
    pub encap: Encap,
    pub payload: FlowPayload,
}

/// What a UDP flow has in place of TCP streams.
static NO_STREAM: StreamData = StreamData {
    data: Vec::new(),
    pieces: Vec::new(),
    gaps: Vec::new(),
    overlap_conflict: false,
    end: crate::flow::stream::StreamEnd::Open,
};

impl FlowRecord {
    /// TCP: the client's reassembled stream (empty for a UDP flow).
    pub fn client(&self) -> &StreamData {
        match &self.payload {
            FlowPayload::Tcp { client, .. } => client,
            FlowPayload::Udp { .. } => &NO_STREAM,
        }
    }

    /// TCP: the server's reassembled stream (empty for a UDP flow).
    pub fn server(&self) -> &StreamData {
        match &self.payload {
            FlowPayload::Tcp { server, .. } => server,
            FlowPayload::Udp { .. } => &NO_STREAM,
        }
    }

    pub fn transport(&self) -> Transport {
        match &self.payload {
            FlowPayload::Tcp { .. } => Transport::Tcp,
            FlowPayload::Udp { transport, .. } => *transport,
        }
    }
}

/// Canonical (direction-independent) flow key: the lower endpoint first. Shared by the
/// TCP and UDP tables. `net` is the virtual network the packet was tunnelled in
/// ([`Encap::network_id`]: a VXLAN/Geneve VNI or GRE key, the same both ways), 0 when
/// none or when the run keys flows without it (`FlowLimits::tunnel_id_in_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FlowKey {
    pub lo_ip: IpAddr,
    pub hi_ip: IpAddr,
    pub lo_port: u16,
    pub hi_port: u16,
    pub vlan: u32,
    pub net: u32,
}

/// Which of `shards` flow tables owns packet `p`'s flow: a fixed hash of its canonical
/// key (the same for both directions, and for every run), with the network id in it
/// exactly when the tables key by it.
pub fn shard_of(p: &crate::decode::Packet<'_>, tunnel_id_in_key: bool, shards: usize) -> usize {
    use crate::decode::Packet;
    if shards <= 1 {
        return 0;
    }
    let (src, sport, dst, dport, vlan, encap) = match p {
        Packet::Tcp(s) => (s.src, s.sport, s.dst, s.dport, s.vlan, &s.encap),
        Packet::Udp(d) => (d.src, d.sport, d.dst, d.dport, d.vlan, &d.encap),
    };
    let net = if tunnel_id_in_key {
        encap.network_id().unwrap_or(0)
    } else {
        0
    };
    let (key, _) = FlowKey::new(src, sport, dst, dport, vlan, net);
    // Fixed seeds: the split must not change between runs (memory limits bind per
    // table, so which flows share a table shows when a limit is hit).
    let h = ahash::RandomState::with_seeds(0x7473_7461, 0x706c_7374, 0x6172_6473, 0x6861_7264)
        .hash_one(key);
    // Multiply-shift onto 0..shards: uses the high bits, no division.
    ((u128::from(h) * shards as u128) >> 64) as usize
}

/// The first encapsulation seen in each direction of a flow (index as in
/// [`FlowKey::new`]), boxed and allocated only for a tunnelled flow, so a plain flow
/// pays one pointer.
#[derive(Debug, Default)]
pub(crate) struct FirstEncap(Option<Box<[Option<Encap>; 2]>>);

impl FirstEncap {
    /// Remember `e` as direction `dir`'s first encapsulation (plain packets are not
    /// stored: a missing entry means plain).
    pub fn note(&mut self, dir: usize, e: &Encap) {
        if e.is_plain() && self.0.is_none() {
            return;
        }
        let slots = self.0.get_or_insert_with(|| Box::new([None, None]));
        if let Some(slot) = slots.get_mut(dir) {
            slot.get_or_insert(*e);
        }
    }

    /// Bytes this holds on the heap (for the memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |_| std::mem::size_of::<[Option<Encap>; 2]>() + 16)
    }

    /// The client's first encapsulation, else the server's, else plain.
    pub fn of_client(&self, client_dir: usize) -> Encap {
        let Some(slots) = &self.0 else {
            return Encap::default();
        };
        slots
            .get(client_dir)
            .copied()
            .flatten()
            .or(slots.get(1 - client_dir.min(1)).copied().flatten())
            .unwrap_or_default()
    }
}

impl FlowKey {
    /// Key and the direction index of a packet from `src` to `dst`: 0 when sent by the
    /// lower endpoint.
    pub fn new(
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        vlan: u32,
        net: u32,
    ) -> (FlowKey, usize) {
        let a = (src, sport);
        let b = (dst, dport);
        let (lo, hi, dir) = if a <= b { (a, b, 0) } else { (b, a, 1) };
        (
            FlowKey {
                lo_ip: lo.0,
                hi_ip: hi.0,
                lo_port: lo.1,
                hi_port: hi.1,
                vlan,
                net,
            },
            dir,
        )
    }

    pub fn endpoint(&self, dir: usize) -> (IpAddr, u16) {
        if dir == 0 {
            (self.lo_ip, self.lo_port)
        } else {
            (self.hi_ip, self.hi_port)
        }
    }
}
