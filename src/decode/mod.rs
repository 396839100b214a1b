//! Packet decoding: from a captured frame to a TCP segment or a UDP datagram.
//!
//! [`Decoder::decode`] peels the link layer ([`link`]), the IP layer ([`ip`], with IPv6
//! extension headers) and reassembles IP fragments ([`defrag`]) before reading the TCP
//! or UDP header. Everything that is neither, or cannot be decoded, yields `None` and
//! bumps one counter named after the reason (`decode.*`, `defrag.*`), so every frame is
//! accounted for.
//!
//! Invariants: never panics on any bytes; allocates nothing for an unfragmented packet;
//! the returned payload borrows the packet, or the decoder's reassembly buffer for a
//! reassembled datagram (valid until the next call). The payload is trimmed to the IP
//! length (Ethernet padding and trailers removed); when snaplen cut it, what was
//! captured is returned with `payload_truncated` set.
//!
//! Limits: [`DecoderLimits`] (fragment pool), [`link::MAX_VLAN_TAGS`],
//! [`link::MAX_MPLS_LABELS`], [`ip::MAX_IPV6_EXT_HEADERS`].

pub mod defrag;
pub mod ip;
pub mod link;

use std::net::IpAddr;

use crate::source::RawPacket;
use crate::stats::Counters;
use defrag::{Defrag, FragKey, Fragment};
use ip::{Ipv6Walk, IPPROTO_TCP, IPPROTO_UDP};

pub use defrag::DefragLimits as DecoderLimits;

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
}

/// What [`Decoder::decode`] hands up: the transport header of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
}

/// Network layer found by the link layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3 {
    V4,
    V6,
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
    /// A fragment header inside a reassembled IPv6 datagram.
    DefragNested,
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

/// Link, IP, TCP and UDP decoder with its fragment pool and drop counters.
#[derive(Debug)]
pub struct Decoder {
    defrag: Defrag,
    counters: Counters,
}

/// What the IP layer handed up: a transport header in the packet or in the reassembly
/// buffer.
enum Upper<'a> {
    Packet {
        data: &'a [u8],
        cut: bool,
    },
    /// The segment is `defrag.output()[off..]`.
    Reassembled {
        off: usize,
    },
}

impl Decoder {
    pub fn new(limits: DecoderLimits) -> Self {
        Decoder {
            defrag: Defrag::new(limits),
            counters: Counters::new(),
        }
    }

    /// Decodes one packet. `Some` for TCP and UDP, `None` for everything else
    /// (another protocol, or dropped: each reason counted in [`Decoder::counters`]).
    pub fn decode<'a>(&'a mut self, pkt: &RawPacket<'a>) -> Option<Packet<'a>> {
        let Decoder { defrag, counters } = self;
        match decode_packet(defrag, counters, pkt) {
            Ok(p) => {
                let cut = match &p {
                    Packet::Tcp(s) => s.payload_truncated,
                    Packet::Udp(d) => d.payload_truncated,
                };
                if cut {
                    counters.bump("decode.payload_truncated");
                }
                Some(p)
            }
            Err(e) => {
                counters.bump(e.as_str());
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

fn decode_packet<'a>(
    defrag: &'a mut Defrag,
    counters: &mut Counters,
    pkt: &RawPacket<'a>,
) -> Result<Packet<'a>, DecodeError> {
    let data: &'a [u8] = pkt.data;
    let lk = link::parse(pkt.linktype, data)?;
    let l3 = data.get(lk.off..).ok_or(DecodeError::Truncated)?;
    let (src, dst, proto, upper) = match lk.l3 {
        L3::V4 => {
            let h = ip::parse_ipv4(l3)?;
            if h.is_fragment() {
                // Only TCP and UDP are wanted: other protocols' fragments are not buffered.
                if !wanted(h.proto) {
                    return Err(DecodeError::NotTcp);
                }
                if h.cut {
                    return Err(DecodeError::DefragTruncated);
                }
                let key = FragKey {
                    src: h.src,
                    dst: h.dst,
                    id: u32::from(h.id),
                    proto: h.proto,
                    vlan: lk.vlan,
                };
                let frag = Fragment {
                    offset: h.frag_offset,
                    more: h.more_fragments,
                    data: h.payload,
                    next_header: h.proto,
                };
                defrag.insert(key, frag, pkt.ts_ns, counters)?;
                (h.src, h.dst, h.proto, Upper::Reassembled { off: 0 })
            } else if !wanted(h.proto) {
                return Err(DecodeError::NotTcp);
            } else {
                let upper = Upper::Packet {
                    data: h.payload,
                    cut: h.cut,
                };
                (h.src, h.dst, h.proto, upper)
            }
        }
        L3::V6 => {
            let h = ip::parse_ipv6(l3)?;
            match ip::walk_ipv6(h.rest, h.next_header, h.cut)? {
                Ipv6Walk::Upper { proto, off } => {
                    if !wanted(proto) {
                        return Err(DecodeError::NotTcp);
                    }
                    let seg = h.rest.get(off..).ok_or(DecodeError::Truncated)?;
                    let upper = Upper::Packet {
                        data: seg,
                        cut: h.cut,
                    };
                    (h.src, h.dst, proto, upper)
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
                    let key = FragKey {
                        src: h.src,
                        dst: h.dst,
                        id,
                        proto: 0,
                        vlan: lk.vlan,
                    };
                    let frag = Fragment {
                        offset,
                        more,
                        data: h.rest.get(data_off..).ok_or(DecodeError::Truncated)?,
                        next_header,
                    };
                    let nh = defrag.insert(key, frag, pkt.ts_ns, counters)?;
                    match ip::walk_ipv6(defrag.output(), nh, false)? {
                        Ipv6Walk::Upper { proto, off } if wanted(proto) => {
                            (h.src, h.dst, proto, Upper::Reassembled { off })
                        }
                        Ipv6Walk::Upper { .. } => return Err(DecodeError::NotTcp),
                        Ipv6Walk::Fragment { .. } => return Err(DecodeError::DefragNested),
                    }
                }
            }
        }
    };
    let (seg, cut): (&'a [u8], bool) = match upper {
        Upper::Packet { data, cut } => (data, cut),
        Upper::Reassembled { off } => {
            let out: &'a [u8] = defrag.output();
            (out.get(off..).ok_or(DecodeError::Truncated)?, false)
        }
    };
    if proto == IPPROTO_UDP {
        let u = ip::parse_udp(seg, cut)?;
        return Ok(Packet::Udp(UdpDatagram {
            src,
            dst,
            sport: u.sport,
            dport: u.dport,
            vlan: lk.vlan,
            payload: u.payload,
            payload_truncated: u.cut,
        }));
    }
    let t = ip::parse_tcp(seg, cut)?;
    Ok(Packet::Tcp(TcpSegment {
        src,
        dst,
        sport: t.sport,
        dport: t.dport,
        vlan: lk.vlan,
        seq: t.seq,
        ack: t.ack,
        flags: t.flags,
        payload: t.payload,
        payload_truncated: cut,
    }))
}

/// The transports the decoder hands up (and reassembles fragments of).
fn wanted(proto: u8) -> bool {
    proto == IPPROTO_TCP || proto == IPPROTO_UDP
}
