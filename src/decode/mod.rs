//! Packet decoding: from a captured frame to a TCP segment or a UDP datagram.
//!
//! [`Decoder::decode`] peels the link layer ([`link`]), the IP layer ([`ip`], with IPv6
//! extension headers) and reassembles IP fragments ([`defrag`]) before reading the TCP
//! or UDP header. Everything that is neither, or cannot be decoded, yields `None` and
//! bumps one counter named after the reason (`decode.*`, `defrag.*`), so every frame is
//! accounted for.
//!
//! Tunnels are more layers of the same walk: a UDP port (VXLAN, VXLAN-GPE, Geneve, GRE
//! in UDP, GTP-U, Teredo, AYIYA, CAPWAP, TZSP: [`encap::TunnelConfig`]), an IP protocol
//! (IP-in-IP 4 and 41, GRE 47) or an ethertype (NSH) leads to one small parser per
//! family ([`vxlan`], [`geneve`], [`gre`], [`erspan`], [`gtp`], [`teredo`], [`nsh`],
//! [`capwap`], [`tzsp`]), whose payload goes back to link or IP decoding. Teredo is
//! also recognised off its port by content ([`teredo::looks_like_teredo`]). The segment
//! handed up is the innermost one, with an [`Encap`] saying how it was wrapped. A
//! datagram whose port says tunnel but whose header does not parse (or carries no user
//! packet: GTP-U signalling, CAPWAP keep-alives) is handed up as the plain UDP it is,
//! and counted (`decode.tunnel_bad_header`, `decode.tunnel_not_data`,
//! `decode.tunnel_unknown_payload`); a bad GRE header drops the packet with the same
//! counters. Outer fragments are reassembled first; a fragment found inside a
//! reassembled datagram is dropped (`defrag.nested_fragment`). A UDP listener's
//! payloads enter through internal link types ([`encap::LINKTYPE_TLSTAP_VXLAN`], ...).
//!
//! Invariants: never panics on any bytes; allocates nothing for an unfragmented packet;
//! the returned payload borrows the packet, or the decoder's reassembly buffer for a
//! reassembled datagram (valid until the next call). The payload is trimmed to the IP
//! length (Ethernet padding and trailers removed); when snaplen cut it, what was
//! captured is returned with `payload_truncated` set.
//!
//! Limits: [`DecoderLimits`] (fragment pool, tunnel ports), [`link::MAX_VLAN_TAGS`],
//! [`link::MAX_MPLS_LABELS`], [`ip::MAX_IPV6_EXT_HEADERS`], [`MAX_TUNNEL_DEPTH`]
//! (`decode.tunnel_depth_limit`), [`gtp::MAX_EXT_HEADERS`].

pub mod capwap;
pub mod defrag;
pub mod encap;
pub mod erspan;
pub mod geneve;
pub mod gre;
pub mod gtp;
pub mod ip;
pub mod link;
pub mod nsh;
pub mod teredo;
pub mod tzsp;
pub mod vxlan;

use std::net::IpAddr;

use crate::source::RawPacket;
use crate::stats::Counters;
use defrag::{Defrag, FragKey, Fragment};
use encap::{Decap, Inner};
use ip::{Ipv6Walk, IPPROTO_GRE, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP};

pub use defrag::DefragLimits;
pub use encap::{Encap, EncapKind, TunnelConfig, UdpTunnel, MAX_TUNNEL_DEPTH};

/// The decoder's configuration: fragment-pool bounds and which tunnels to peel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderLimits {
    pub defrag: DefragLimits,
    pub tunnels: TunnelConfig,
}

#[cfg(test)]
mod tests;

/// TCP flag bits of [`TcpSegment::flags`].
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// A decoded TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// 0 if untagged; `outer << 12 | inner` for QinQ, so flows on different VLANs never merge.
    pub vlan: u32,
    pub seq: u32,
    pub ack: u32,
    /// FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 (see `TCP_*`).
    pub flags: u8,
    /// TCP payload, trimmed to the IP length.
    pub payload: &'a [u8],
    /// The capture holds fewer payload bytes than the IP length says (snaplen).
    pub payload_truncated: bool,
    /// The tunnels this segment came through; `Encap::default()` when plain.
    pub encap: Encap,
}

/// A decoded UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// As [`TcpSegment::vlan`].
    pub vlan: u32,
    /// UDP payload, trimmed to the UDP length.
    pub payload: &'a [u8],
    /// The capture holds fewer payload bytes than the UDP length says (snaplen).
    pub payload_truncated: bool,
    /// As [`TcpSegment::encap`].
    pub encap: Encap,
}

/// What [`Decoder::decode`] hands up: the transport header of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
}

impl<'a> Packet<'a> {
    /// The transport payload.
    pub fn payload(&self) -> &'a [u8] {
        match self {
            Packet::Tcp(s) => s.payload,
            Packet::Udp(d) => d.payload,
        }
    }

    /// The same headers over another payload: how a packet crosses threads without its
    /// frame (headers copied, payload moved into a batch buffer, then put back).
    pub fn with_payload<'b>(self, payload: &'b [u8]) -> Packet<'b> {
        match self {
            Packet::Tcp(s) => Packet::Tcp(TcpSegment { payload, ..s }),
            Packet::Udp(d) => Packet::Udp(UdpDatagram { payload, ..d }),
        }
    }
}

/// Network layer found by the link layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3 {
    V4,
    V6,
    /// An NSH header (ethertype 0x894F), a tunnel layer in front of the network layer.
    Nsh,
}

/// Why a frame yields no segment; each becomes a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    UnsupportedLinktype,
    Truncated,
    NotIp,
    /// Neither TCP nor UDP.
    NotTcp,
    PppoeBadHeader,
    VlanDepthLimit,
    MplsDepthLimit,
    Ipv4BadHeader,
    Ipv6BadHeader,
    Ipv6ExtLimit,
    TcpBadHeader,
    UdpBadHeader,
    /// A fragment was stored; the datagram is not complete yet.
    FragmentQueued,
    /// A fragment cut by snaplen cannot be reassembled.
    DefragTruncated,
    DefragPendingLimit,
    DefragBytesLimit,
    DefragFragmentLimit,
    DefragOversize,
    /// Inconsistent with the fragments already seen (end moved, data past the end).
    DefragBadFragment,
    /// A fragment header inside a reassembled IPv6 datagram, or a fragment inside a
    /// tunnel whose outer datagram was reassembled.
    DefragNested,
    /// A tunnel header that does not parse.
    TunnelBadHeader,
    /// A valid tunnel header that carries no user packet (signalling, keep-alive,
    /// encrypted control, fragment of a tunnel that fragments itself).
    TunnelNotData,
    /// A tunnel carrying a protocol that is not decoded.
    TunnelUnknownPayload,
    /// More than [`MAX_TUNNEL_DEPTH`] tunnel layers.
    TunnelDepthLimit,
}

impl DecodeError {
    /// The counter name.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeError::UnsupportedLinktype => "decode.unsupported_linktype",
            DecodeError::Truncated => "decode.truncated",
            DecodeError::NotIp => "decode.not_ip",
            DecodeError::NotTcp => "decode.not_tcp_udp",
            DecodeError::PppoeBadHeader => "decode.pppoe_bad_header",
            DecodeError::VlanDepthLimit => "decode.vlan_depth_limit",
            DecodeError::MplsDepthLimit => "decode.mpls_depth_limit",
            DecodeError::Ipv4BadHeader => "decode.ipv4_bad_header",
            DecodeError::Ipv6BadHeader => "decode.ipv6_bad_header",
            DecodeError::Ipv6ExtLimit => "decode.ipv6_ext_limit",
            DecodeError::TcpBadHeader => "decode.tcp_bad_header",
            DecodeError::UdpBadHeader => "decode.udp_bad_header",
            DecodeError::FragmentQueued => "defrag.queued",
            DecodeError::DefragTruncated => "defrag.truncated_fragment",
            DecodeError::DefragPendingLimit => "defrag.pending_limit",
            DecodeError::DefragBytesLimit => "defrag.bytes_limit",
            DecodeError::DefragFragmentLimit => "defrag.fragment_limit",
            DecodeError::DefragOversize => "defrag.oversize",
            DecodeError::DefragBadFragment => "defrag.bad_fragment",
            DecodeError::DefragNested => "defrag.nested_fragment",
            DecodeError::TunnelBadHeader => "decode.tunnel_bad_header",
            DecodeError::TunnelNotData => "decode.tunnel_not_data",
            DecodeError::TunnelUnknownPayload => "decode.tunnel_unknown_payload",
            DecodeError::TunnelDepthLimit => "decode.tunnel_depth_limit",
        }
    }
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(a))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(a))
}

/// Link, IP, tunnel, TCP and UDP decoder with its fragment pool and drop counters.
#[derive(Debug)]
pub struct Decoder {
    defrag: Defrag,
    tunnels: TunnelConfig,
    counters: Counters,
}

impl Decoder {
    pub fn new(limits: DecoderLimits) -> Self {
        Decoder {
            defrag: Defrag::new(limits.defrag),
            tunnels: limits.tunnels,
            counters: Counters::new(),
        }
    }

    /// Decodes one packet. `Some` for TCP and UDP, `None` for everything else
    /// (another protocol, or dropped: each reason counted in [`Decoder::counters`]).
    pub fn decode<'a>(&'a mut self, pkt: &RawPacket<'a>) -> Option<Packet<'a>> {
        let Decoder {
            defrag,
            tunnels,
            counters,
        } = self;
        let mut w = Walk {
            tunnels,
            counters,
            encap: Encap::default(),
            vlan: 0,
        };
        match innermost(defrag, &mut w, pkt) {
            Ok(up) => w.packet(up),
            Err(e) => {
                w.counters.bump(e.as_str());
                None
            }
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Datagrams waiting in the fragment pool.
    pub fn defrag_pending(&self) -> usize {
        self.defrag.pending()
    }
}

/// The next header of the walk and the bytes from it on.
#[derive(Debug, Clone, Copy)]
enum Hdr {
    /// A frame of this link type (a file's, or an internal tunnel-payload type).
    Link(u32),
    /// What a tunnel or link header announced.
    Inner(Inner),
}

/// An IP header the walk passed: its bytes from the header on. Addresses are read
/// from it only when needed, so the walk moves two words, not two `IpAddr`s.
#[derive(Debug, Clone, Copy)]
struct IpRef<'a> {
    hdr: &'a [u8],
    v6: bool,
}

impl IpRef<'_> {
    fn addrs(self) -> Result<(IpAddr, IpAddr), DecodeError> {
        let a = if self.v6 {
            ip::ipv6_addrs(self.hdr)
        } else {
            ip::ipv4_addrs(self.hdr)
        };
        a.ok_or(DecodeError::Truncated)
    }
}

/// The innermost transport header: made into a [`Packet`] once, at the end.
#[derive(Debug, Clone, Copy)]
struct Up<'a> {
    ip: IpRef<'a>,
    proto: u8,
    seg: &'a [u8],
    cut: bool,
}

/// Where one step of the walk led.
enum Flow<'a> {
    Next(Hdr, &'a [u8]),
    Up(Up<'a>),
    /// A fragment: the walk stops, the defragmenter takes over.
    Fragment(FragJob<'a>),
}

/// A fragment to pool, and the header to go on from when it completes its datagram.
struct FragJob<'a> {
    ip: IpRef<'a>,
    id: u32,
    /// IPv4 protocol (IPv6 learns it from the reassembled chain).
    proto: u8,
    frag: Fragment<'a>,
}

/// The state of one packet's walk through its layers.
struct Walk<'c> {
    tunnels: &'c TunnelConfig,
    counters: &'c mut Counters,
    encap: Encap,
    /// Tags of the innermost link layer: a tunnel resets them, an inner frame sets them.
    vlan: u32,
}

/// The innermost transport header of a packet, through its tunnels and fragments.
fn innermost<'a>(
    defrag: &'a mut Defrag,
    w: &mut Walk<'_>,
    pkt: &RawPacket<'a>,
) -> Result<Up<'a>, DecodeError> {
    if let Some(up) = plain(w, pkt)? {
        return Ok(up);
    }
    let up = match w.run(Hdr::Link(pkt.linktype), pkt.data)? {
        Flow::Up(up) => up,
        Flow::Fragment(job) => {
            let (src, dst) = job.ip.addrs()?;
            let key = FragKey {
                src,
                dst,
                id: job.id,
                proto: job.proto,
                vlan: w.vlan,
                tunnel: w.encap.tunnel_id.unwrap_or(0),
            };
            let nh = defrag.insert(key, job.frag, pkt.ts_ns, w.counters)?;
            let out: &'a [u8] = defrag.output();
            let flow = if job.ip.v6 {
                match ip::walk_ipv6(out, nh, false)? {
                    Ipv6Walk::Upper { proto, off } if w.wanted(proto) => {
                        let seg = out.get(off..).ok_or(DecodeError::Truncated)?;
                        w.transport(proto, job.ip, seg, false)?
                    }
                    Ipv6Walk::Upper { .. } => return Err(DecodeError::NotTcp),
                    Ipv6Walk::Fragment { .. } => return Err(DecodeError::DefragNested),
                }
            } else {
                w.transport(job.proto, job.ip, out, false)?
            };
            let done = match flow {
                Flow::Next(hdr, d) => w.run(hdr, d)?,
                done => done,
            };
            match done {
                Flow::Up(up) => up,
                // One reassembly per packet: the output buffer is lent out from here on.
                _ => return Err(DecodeError::DefragNested),
            }
        }
        Flow::Next(..) => return Err(DecodeError::Truncated), // run never returns it
    };
    Ok(up)
}

/// The bulk of any capture, decoded without the walk: an unfragmented TCP segment or
/// a UDP datagram not addressed to a tunnel port, right behind the link layer. The
/// walk hands its state from step to step through memory, which costs plain packets
/// twice the time (benchmarked); this is the same parsers called in one function.
/// `None` sends the packet to the walk, which parses it from the start.
#[inline]
fn plain<'a>(w: &mut Walk<'_>, pkt: &RawPacket<'a>) -> Result<Option<Up<'a>>, DecodeError> {
    if UdpTunnel::from_linktype(pkt.linktype).is_some() {
        return Ok(None);
    }
    let lk = link::parse(pkt.linktype, pkt.data)?;
    let d = pkt.data.get(lk.off..).ok_or(DecodeError::Truncated)?;
    let (ip, proto, seg, cut) = match lk.l3 {
        L3::V4 => {
            let h = ip::parse_ipv4(d)?;
            if h.is_fragment() {
                return Ok(None);
            }
            (IpRef { hdr: d, v6: false }, h.proto, h.payload, h.cut)
        }
        L3::V6 => {
            let h = ip::parse_ipv6(d)?;
            let Ipv6Walk::Upper { proto, off } = ip::walk_ipv6(h.rest, h.next_header, h.cut)?
            else {
                return Ok(None);
            };
            let seg = h.rest.get(off..).ok_or(DecodeError::Truncated)?;
            (IpRef { hdr: d, v6: true }, proto, seg, h.cut)
        }
        L3::Nsh => return Ok(None),
    };
    let plain = match proto {
        IPPROTO_TCP => true,
        IPPROTO_UDP => {
            let u = ip::parse_udp(seg, cut)?;
            w.tunnels.udp_tunnel(u.sport, u.dport).is_none()
                && !(w.tunnels.decapsulate && teredo::looks_like_teredo(u.payload))
        }
        _ => false,
    };
    if !plain {
        return Ok(None);
    }
    w.vlan = lk.vlan;
    Ok(Some(Up {
        ip,
        proto,
        seg,
        cut,
    }))
}

impl Walk<'_> {
    /// Follows headers from `hdr` until a transport header or a fragment. Every cycle
    /// through the loop enters a tunnel ([`Walk::enter`]), so [`MAX_TUNNEL_DEPTH`]
    /// bounds it. Only the header kind and a slice are carried round the loop (a `Flow`
    /// kept in a loop variable went through memory on every step).
    fn run<'a>(&mut self, mut hdr: Hdr, mut d: &'a [u8]) -> Result<Flow<'a>, DecodeError> {
        loop {
            match self.step(hdr, d)? {
                Flow::Next(h, rest) => {
                    hdr = h;
                    d = rest;
                }
                done => return Ok(done),
            }
        }
    }

    #[inline]
    fn step<'a>(&mut self, hdr: Hdr, d: &'a [u8]) -> Result<Flow<'a>, DecodeError> {
        match hdr {
            Hdr::Link(lt) => match UdpTunnel::from_linktype(lt) {
                // A listener's payload: the tunnel is certain, errors drop it.
                Some(t) => self.enter(udp_tunnel(t, d)?, d, None),
                None => {
                    let lk = link::parse(lt, d)?;
                    self.vlan = lk.vlan;
                    let rest = d.get(lk.off..).ok_or(DecodeError::Truncated)?;
                    Ok(Flow::Next(Hdr::Inner(l3_inner(lk.l3)), rest))
                }
            },
            Hdr::Inner(Inner::Ipv4) => self.ipv4(d),
            Hdr::Inner(Inner::Ipv6) => self.ipv6(d),
            Hdr::Inner(inner) => self.inner(inner, d),
        }
    }

    /// The layers between tunnel headers and IP.
    fn inner<'a>(&mut self, inner: Inner, d: &'a [u8]) -> Result<Flow<'a>, DecodeError> {
        let mut vlan = 0;
        let (l3, off) = match inner {
            Inner::Ethernet => {
                let lk = link::parse(link::LINKTYPE_ETHERNET, d)?;
                vlan = lk.vlan;
                (lk.l3, lk.off)
            }
            Inner::Ethertype(et) => link::ethertype(d, 0, et, &mut vlan)?,
            Inner::Ieee80211 => link::ieee80211(d, &mut vlan)?,
            Inner::Ppp => link::ppp(d, 0, &mut vlan)?,
            Inner::Mpls => link::mpls(d, 0)?,
            Inner::Ip => (link::by_version(d, 0)?, 0),
            Inner::Ipv4 => (L3::V4, 0),
            Inner::Ipv6 => (L3::V6, 0),
            Inner::Nsh => return self.enter(nsh::parse(d)?, d, None),
            Inner::Erspan(ty) => return self.enter(erspan::parse(ty, d)?, d, None),
        };
        self.vlan = vlan;
        let rest = d.get(off..).ok_or(DecodeError::Truncated)?;
        Ok(Flow::Next(Hdr::Inner(l3_inner(l3)), rest))
    }

    /// Records a tunnel layer (and, for the first one carried by IP, the addresses of
    /// that IP header: the outermost) and moves to what it wraps.
    fn enter<'a>(
        &mut self,
        dc: Decap,
        d: &'a [u8],
        carrier: Option<IpRef<'_>>,
    ) -> Result<Flow<'a>, DecodeError> {
        if let (None, Some(ip)) = (self.encap.outer_src, carrier) {
            if let Ok((src, dst)) = ip.addrs() {
                self.encap.outer_src = Some(src);
                self.encap.outer_dst = Some(dst);
            }
        }
        if !self.encap.push(dc.kind, dc.id) {
            return Err(DecodeError::TunnelDepthLimit);
        }
        self.vlan = 0;
        let rest = d.get(dc.off..).ok_or(DecodeError::Truncated)?;
        Ok(Flow::Next(Hdr::Inner(dc.inner), rest))
    }

    /// The IP protocols handed up or peeled (and whose fragments are pooled).
    fn wanted(&self, proto: u8) -> bool {
        proto == IPPROTO_TCP
            || proto == IPPROTO_UDP
            || (self.tunnels.decapsulate
                && (proto == IPPROTO_IPIP || proto == IPPROTO_IPV6 || proto == IPPROTO_GRE))
    }

    fn ipv4<'a>(&mut self, d: &'a [u8]) -> Result<Flow<'a>, DecodeError> {
        let h = ip::parse_ipv4(d)?;
        let ip = IpRef { hdr: d, v6: false };
        // Only wanted protocols: other protocols' fragments are not buffered.
        if !self.wanted(h.proto) {
            return Err(DecodeError::NotTcp);
        }
        if !h.is_fragment() {
            return self.transport(h.proto, ip, h.payload, h.cut);
        }
        if h.cut {
            return Err(DecodeError::DefragTruncated);
        }
        Ok(Flow::Fragment(FragJob {
            ip,
            id: u32::from(h.id),
            proto: h.proto,
            frag: Fragment {
                offset: h.frag_offset,
                more: h.more_fragments,
                data: h.payload,
                next_header: h.proto,
            },
        }))
    }

    fn ipv6<'a>(&mut self, d: &'a [u8]) -> Result<Flow<'a>, DecodeError> {
        let h = ip::parse_ipv6(d)?;
        let ip = IpRef { hdr: d, v6: true };
        match ip::walk_ipv6(h.rest, h.next_header, h.cut)? {
            Ipv6Walk::Upper { proto, off } => {
                if !self.wanted(proto) {
                    return Err(DecodeError::NotTcp);
                }
                let seg = h.rest.get(off..).ok_or(DecodeError::Truncated)?;
                self.transport(proto, ip, seg, h.cut)
            }
            Ipv6Walk::Fragment {
                next_header,
                offset,
                more,
                id,
                data_off,
            } => {
                if h.cut {
                    return Err(DecodeError::DefragTruncated);
                }
                Ok(Flow::Fragment(FragJob {
                    ip,
                    id,
                    proto: 0,
                    frag: Fragment {
                        offset,
                        more,
                        data: h.rest.get(data_off..).ok_or(DecodeError::Truncated)?,
                        next_header,
                    },
                }))
            }
        }
    }

    /// The header after IP: TCP and UDP end the walk (unless the UDP port says tunnel
    /// and its header parses), IP-in-IP and GRE go on.
    fn transport<'a>(
        &mut self,
        proto: u8,
        ip: IpRef<'a>,
        seg: &'a [u8],
        cut: bool,
    ) -> Result<Flow<'a>, DecodeError> {
        match proto {
            IPPROTO_TCP => Ok(Flow::Up(Up {
                ip,
                proto,
                seg,
                cut,
            })),
            IPPROTO_UDP => {
                let u = ip::parse_udp(seg, cut)?;
                if let Some(t) = self.tunnels.udp_tunnel(u.sport, u.dport) {
                    match udp_tunnel(t, u.payload) {
                        Ok(dc) => return self.enter(dc, u.payload, Some(ip)),
                        // Not the tunnel its port says: the plain datagram goes up.
                        Err(DecodeError::Truncated) => {
                            self.counters.bump("decode.tunnel_bad_header")
                        }
                        Err(e) => self.counters.bump(e.as_str()),
                    }
                } else if self.tunnels.decapsulate && teredo::looks_like_teredo(u.payload) {
                    let dc = teredo::parse_teredo(u.payload)?;
                    return self.enter(dc, u.payload, Some(ip));
                }
                Ok(Flow::Up(Up {
                    ip,
                    proto,
                    seg,
                    cut,
                }))
            }
            IPPROTO_IPIP | IPPROTO_IPV6 => {
                let (kind, inner) = match (proto == IPPROTO_IPIP, ip.v6) {
                    (true, false) => (EncapKind::Ip4in4, Inner::Ipv4),
                    (true, true) => (EncapKind::Ip4in6, Inner::Ipv4),
                    (false, false) => (EncapKind::Ip6in4, Inner::Ipv6),
                    (false, true) => (EncapKind::Ip6in6, Inner::Ipv6),
                };
                self.enter(Decap::new(kind, inner, 0), seg, Some(ip))
            }
            IPPROTO_GRE => self.enter(gre::parse(seg)?, seg, Some(ip)),
            _ => Err(DecodeError::NotTcp),
        }
    }

    /// The segment or datagram handed up; a header that does not parse is counted.
    /// Built here, as the value returned, so the 120-byte packet is not copied again.
    #[inline(always)]
    fn packet<'a>(&mut self, up: Up<'a>) -> Option<Packet<'a>> {
        let (src, dst) = self.ok(up.ip.addrs())?;
        if up.proto == IPPROTO_UDP {
            let u = self.ok(ip::parse_udp(up.seg, up.cut))?;
            if u.cut {
                self.counters.bump("decode.payload_truncated");
            }
            return Some(Packet::Udp(UdpDatagram {
                src,
                dst,
                sport: u.sport,
                dport: u.dport,
                vlan: self.vlan,
                payload: u.payload,
                payload_truncated: u.cut,
                encap: self.encap,
            }));
        }
        let t = self.ok(ip::parse_tcp(up.seg, up.cut))?;
        if up.cut {
            self.counters.bump("decode.payload_truncated");
        }
        Some(Packet::Tcp(TcpSegment {
            src,
            dst,
            sport: t.sport,
            dport: t.dport,
            vlan: self.vlan,
            seq: t.seq,
            ack: t.ack,
            flags: t.flags,
            payload: t.payload,
            payload_truncated: up.cut,
            encap: self.encap,
        }))
    }

    /// The value, or `None` with the error counted.
    fn ok<T>(&mut self, r: Result<T, DecodeError>) -> Option<T> {
        r.map_err(|e| self.counters.bump(e.as_str())).ok()
    }
}

/// The parser of a UDP tunnel's header.
fn udp_tunnel(t: UdpTunnel, d: &[u8]) -> Result<Decap, DecodeError> {
    match t {
        UdpTunnel::Vxlan => vxlan::parse(d),
        UdpTunnel::VxlanGpe => vxlan::parse_gpe(d),
        UdpTunnel::Geneve => geneve::parse(d),
        UdpTunnel::Gre => gre::parse(d),
        UdpTunnel::GtpU => gtp::parse(d),
        UdpTunnel::Teredo => teredo::parse_teredo(d),
        UdpTunnel::Ayiya => teredo::parse_ayiya(d),
        UdpTunnel::Capwap => capwap::parse(d),
        UdpTunnel::Tzsp => tzsp::parse(d),
    }
}

fn l3_inner(l3: L3) -> Inner {
    match l3 {
        L3::V4 => Inner::Ipv4,
        L3::V6 => Inner::Ipv6,
        L3::Nsh => Inner::Nsh,
    }
}
