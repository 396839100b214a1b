//! How a packet was wrapped: the record the decoder hands up with every segment, and
//! the configuration of which UDP ports mean which tunnel.
//!
//! [`Encap`] is small and `Copy`: the tunnel layers peeled, outermost first (at most
//! [`MAX_TUNNEL_DEPTH`]), the innermost virtual-network id, and the addresses of the
//! outermost IP header. A plain packet carries `Encap::default()` (no layers, no ids,
//! no outer addresses), which costs nothing to build.
//!
//! Link-layer details that are not tunnels (802.1Q/QinQ tags, MPLS labels, PPPoE,
//! Cisco SGT tags) are not layers here: they do not change who talks to whom.
//!
//! Each tunnel family parser (`vxlan`, `geneve`, `gre`, ...) returns a [`Decap`]: the
//! layer it recognised and what follows it; the decoder loops on that.

use std::net::IpAddr;

/// Most tunnel layers peeled from one packet; one more is dropped and counted as
/// `decode.tunnel_depth_limit`. GRE+ERSPAN counts two; the deepest real stacks seen
/// (VXLAN in VXLAN in VXLAN, ERSPAN of GTP-U) need three.
pub const MAX_TUNNEL_DEPTH: usize = 4;

/// Extra UDP ports that can be configured per tunnel type.
pub const MAX_EXTRA_PORTS: usize = 4;

/// One tunnel layer. `as_str` gives the name used in the `encap` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EncapKind {
    /// VXLAN, RFC 7348 (UDP 4789).
    Vxlan,
    /// VXLAN-GPE, draft-ietf-nvo3-vxlan-gpe (UDP 4790).
    VxlanGpe,
    /// Geneve, RFC 8926 (UDP 6081).
    Geneve,
    /// GRE, RFC 2784/2890 (IP protocol 47, or UDP 4754 per RFC 8086), and PPTP's
    /// enhanced GRE (version 1, RFC 2637).
    Gre,
    /// ERSPAN type I (GRE 0x88BE without sequence number, no header).
    Erspan1,
    /// ERSPAN type II (GRE 0x88BE, 8-byte header).
    Erspan2,
    /// ERSPAN type III (GRE 0x22EB, 12-byte header, optional platform sub-header).
    Erspan3,
    /// GTP-U, 3GPP TS 29.281 (UDP 2152), G-PDU only.
    GtpU,
    /// IPv4 in IPv4 (IP protocol 4), RFC 2003.
    Ip4in4,
    /// IPv6 in IPv4 (IP protocol 41), RFC 4213.
    Ip6in4,
    /// IPv4 in IPv6 (IP protocol 4), RFC 2473.
    Ip4in6,
    /// IPv6 in IPv6 (IP protocol 41), RFC 2473.
    Ip6in6,
    /// Teredo, RFC 4380 (UDP 3544).
    Teredo,
    /// AYIYA, draft-massar-v6ops-ayiya (UDP 5072).
    Ayiya,
    /// Network Service Header, RFC 8300 (ethertype 0x894F, GRE, VXLAN-GPE).
    Nsh,
    /// CAPWAP data channel, RFC 5415/5416 (UDP 5247).
    Capwap,
    /// TaZmen Sniffer Protocol (UDP 37008).
    Tzsp,
}

impl EncapKind {
    /// The name in the `encap` column.
    pub fn as_str(self) -> &'static str {
        match self {
            EncapKind::Vxlan => "vxlan",
            EncapKind::VxlanGpe => "vxlan-gpe",
            EncapKind::Geneve => "geneve",
            EncapKind::Gre => "gre",
            EncapKind::Erspan1 => "erspan1",
            EncapKind::Erspan2 => "erspan2",
            EncapKind::Erspan3 => "erspan3",
            EncapKind::GtpU => "gtpu",
            EncapKind::Ip4in4 => "4in4",
            EncapKind::Ip6in4 => "6in4",
            EncapKind::Ip4in6 => "4in6",
            EncapKind::Ip6in6 => "6in6",
            EncapKind::Teredo => "teredo",
            EncapKind::Ayiya => "ayiya",
            EncapKind::Nsh => "nsh",
            EncapKind::Capwap => "capwap",
            EncapKind::Tzsp => "tzsp",
        }
    }
}

/// How a packet was wrapped (see the module docs). `Default` is a plain packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encap {
    /// `layers[..depth]` are the layers, outermost first; the rest is filler.
    layers: [EncapKind; MAX_TUNNEL_DEPTH],
    depth: u8,
    /// Whether `tunnel_id` names the same network in both directions (see
    /// [`Encap::network_id`]).
    id_symmetric: bool,
    /// The innermost virtual-network id: VXLAN/VXLAN-GPE/Geneve VNI, GRE key (PPTP:
    /// the call id), GTP-U TEID. `None` when no layer carries one.
    pub tunnel_id: Option<u32>,
    /// Source of the outermost IP header, when the packet was tunnelled through IP
    /// (`None` for plain packets and for payloads that arrived without one, such as
    /// a UDP listener's datagrams: the listener may fill in the sender).
    pub outer_src: Option<IpAddr>,
    /// Destination of the outermost IP header (as `outer_src`).
    pub outer_dst: Option<IpAddr>,
}

impl Default for Encap {
    fn default() -> Self {
        Encap {
            layers: [EncapKind::Vxlan; MAX_TUNNEL_DEPTH],
            depth: 0,
            id_symmetric: false,
            tunnel_id: None,
            outer_src: None,
            outer_dst: None,
        }
    }
}

impl Encap {
    /// The layers peeled, outermost first; empty for a plain packet.
    pub fn layers(&self) -> &[EncapKind] {
        self.layers.get(..usize::from(self.depth)).unwrap_or(&[])
    }

    pub fn is_plain(&self) -> bool {
        self.depth == 0
    }

    /// The layer names, outermost first (the `encap` column).
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.layers().iter().map(|k| k.as_str())
    }

    /// The innermost id that names a virtual network the same way in both directions:
    /// VXLAN, VXLAN-GPE and Geneve VNIs and RFC 2890 GRE keys. GTP-U TEIDs and PPTP call
    /// ids are chosen by each receiving end, so the two directions of one connection
    /// carry different values: they are in `tunnel_id` but not here. Meant for the flow
    /// key (`network_id().unwrap_or(0)`, like the VLAN id).
    pub fn network_id(&self) -> Option<u32> {
        self.tunnel_id.filter(|_| self.id_symmetric)
    }

    /// Adds a layer; `false` when [`MAX_TUNNEL_DEPTH`] is reached (nothing changes).
    pub(crate) fn push(&mut self, kind: EncapKind, id: Option<TunnelId>) -> bool {
        let Some(slot) = self.layers.get_mut(usize::from(self.depth)) else {
            return false;
        };
        *slot = kind;
        self.depth += 1;
        if let Some(id) = id {
            self.tunnel_id = Some(id.value);
            self.id_symmetric = id.symmetric;
        }
        true
    }
}

/// A virtual-network id found in a tunnel header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelId {
    pub value: u32,
    /// Same value in both directions (see [`Encap::network_id`]).
    pub symmetric: bool,
}

impl TunnelId {
    pub(crate) fn both_ways(value: u32) -> Option<TunnelId> {
        Some(TunnelId {
            value,
            symmetric: true,
        })
    }

    pub(crate) fn one_way(value: u32) -> Option<TunnelId> {
        Some(TunnelId {
            value,
            symmetric: false,
        })
    }
}

/// What follows a tunnel header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner {
    /// An Ethernet frame.
    Ethernet,
    /// The payload of this ethertype (IP, VLAN tags, MPLS, PPPoE, NSH...).
    Ethertype(u16),
    /// IPv4 or IPv6, told apart by the version nibble.
    Ip,
    Ipv4,
    Ipv6,
    /// An MPLS label stack.
    Mpls,
    /// A PPP frame (PPTP).
    Ppp,
    /// An NSH header.
    Nsh,
    /// An IEEE 802.11 frame.
    Ieee80211,
    /// An ERSPAN header of this type (1, 2, 3), after GRE.
    Erspan(u8),
}

/// A tunnel header recognised: its layer, its id, and where what it wraps starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decap {
    pub kind: EncapKind,
    pub id: Option<TunnelId>,
    pub inner: Inner,
    /// Offset of the inner header in the bytes given to the parser.
    pub off: usize,
}

impl Decap {
    /// A layer without a virtual-network id.
    pub(crate) fn new(kind: EncapKind, inner: Inner, off: usize) -> Decap {
        Decap {
            kind,
            id: None,
            inner,
            off,
        }
    }
}

/// Tunnels carried in UDP, by port. Also the payload types a UDP listener receives
/// (see [`UdpTunnel::linktype`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpTunnel {
    Vxlan,
    VxlanGpe,
    Geneve,
    /// GRE in UDP, RFC 8086.
    Gre,
    GtpU,
    Teredo,
    Ayiya,
    Capwap,
    Tzsp,
}

pub const VXLAN_PORT: u16 = 4789;
pub const VXLAN_GPE_PORT: u16 = 4790;
pub const GENEVE_PORT: u16 = 6081;
pub const GRE_UDP_PORT: u16 = 4754;
pub const GTPU_PORT: u16 = 2152;
pub const TEREDO_PORT: u16 = 3544;
pub const AYIYA_PORT: u16 = 5072;
pub const CAPWAP_DATA_PORT: u16 = 5247;
pub const TZSP_PORT: u16 = 37008;

/// Internal link types (above the 16 bits a capture file can name, so they never
/// collide with one) for a frame that *is* a tunnel payload: what a UDP listener
/// receives. A source builds `RawPacket { linktype: UdpTunnel::Vxlan.linktype(), data:
/// <the UDP payload>, .. }` and the decoder peels it like any other frame.
pub const LINKTYPE_TLSTAP_VXLAN: u32 = 0x1_0000;
pub const LINKTYPE_TLSTAP_GENEVE: u32 = 0x1_0001;
pub const LINKTYPE_TLSTAP_TZSP: u32 = 0x1_0002;

impl UdpTunnel {
    pub fn as_str(self) -> &'static str {
        match self {
            UdpTunnel::Vxlan => "vxlan",
            UdpTunnel::VxlanGpe => "vxlan-gpe",
            UdpTunnel::Geneve => "geneve",
            UdpTunnel::Gre => "gre",
            UdpTunnel::GtpU => "gtpu",
            UdpTunnel::Teredo => "teredo",
            UdpTunnel::Ayiya => "ayiya",
            UdpTunnel::Capwap => "capwap",
            UdpTunnel::Tzsp => "tzsp",
        }
    }

    /// The internal link type of a frame holding this tunnel's UDP payload (VXLAN,
    /// Geneve and TZSP: what cloud mirroring and TZSP senders deliver).
    pub fn linktype(self) -> Option<u32> {
        match self {
            UdpTunnel::Vxlan => Some(LINKTYPE_TLSTAP_VXLAN),
            UdpTunnel::Geneve => Some(LINKTYPE_TLSTAP_GENEVE),
            UdpTunnel::Tzsp => Some(LINKTYPE_TLSTAP_TZSP),
            _ => None,
        }
    }

    pub(crate) fn from_linktype(linktype: u32) -> Option<UdpTunnel> {
        match linktype {
            LINKTYPE_TLSTAP_VXLAN => Some(UdpTunnel::Vxlan),
            LINKTYPE_TLSTAP_GENEVE => Some(UdpTunnel::Geneve),
            LINKTYPE_TLSTAP_TZSP => Some(UdpTunnel::Tzsp),
            _ => None,
        }
    }
}

/// Which tunnels the decoder peels. `Copy`, part of [`super::DecoderLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Peel tunnels at all. Off: UDP tunnels are handed up as plain UDP, GRE and
    /// IP-in-IP are dropped as `decode.not_tcp_udp` (what tlstap did before).
    pub decapsulate: bool,
    /// UDP ports carrying VXLAN besides 4789 (0: unused slot).
    pub vxlan_ports: [u16; MAX_EXTRA_PORTS],
    /// UDP ports carrying Geneve besides 6081 (0: unused slot).
    pub geneve_ports: [u16; MAX_EXTRA_PORTS],
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            decapsulate: true,
            vxlan_ports: [0; MAX_EXTRA_PORTS],
            geneve_ports: [0; MAX_EXTRA_PORTS],
        }
    }
}

impl TunnelConfig {
    /// The tunnel a UDP datagram carries, judged by its destination port; for GTP-U,
    /// Teredo, AYIYA and CAPWAP also by its source port, since their answers come
    /// *from* the well-known port. VXLAN, VXLAN-GPE, Geneve, GRE-in-UDP and TZSP
    /// senders always address the well-known port (the source port is a flow hash), so
    /// a client that happens to pick one of those as its ephemeral port is not taken
    /// for a tunnel. Whether the header really parses is checked after.
    pub fn udp_tunnel(&self, sport: u16, dport: u16) -> Option<UdpTunnel> {
        if !self.decapsulate {
            return None;
        }
        self.by_port(dport).or_else(|| {
            self.by_port(sport).filter(|t| {
                matches!(
                    t,
                    UdpTunnel::GtpU | UdpTunnel::Teredo | UdpTunnel::Ayiya | UdpTunnel::Capwap
                )
            })
        })
    }

    fn by_port(&self, port: u16) -> Option<UdpTunnel> {
        let t = match port {
            VXLAN_PORT => UdpTunnel::Vxlan,
            VXLAN_GPE_PORT => UdpTunnel::VxlanGpe,
            GENEVE_PORT => UdpTunnel::Geneve,
            GRE_UDP_PORT => UdpTunnel::Gre,
            GTPU_PORT => UdpTunnel::GtpU,
            TEREDO_PORT => UdpTunnel::Teredo,
            AYIYA_PORT => UdpTunnel::Ayiya,
            CAPWAP_DATA_PORT => UdpTunnel::Capwap,
            TZSP_PORT => UdpTunnel::Tzsp,
            0 => return None,
            p if self.vxlan_ports.contains(&p) => UdpTunnel::Vxlan,
            p if self.geneve_ports.contains(&p) => UdpTunnel::Geneve,
            _ => return None,
        };
        Some(t)
    }
}
