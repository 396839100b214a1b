//! IPv4 and IPv6 headers, IPv6 extension headers, and the TCP and UDP headers.
//!
//! Each parser takes the bytes from its header on and returns borrowed views; lengths
//! are checked before any field is read. The IP payload is trimmed to the length the
//! header states (removing Ethernet padding and trailers); when the capture holds less
//! than that (snaplen), what is there is kept and marked `cut`.
//!
//! Limits: [`MAX_IPV6_EXT_HEADERS`] extension headers per packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{be16, be32, DecodeError};

/// Most IPv6 extension headers walked before the packet is dropped
/// (`decode.ipv6_ext_limit`). RFC 8200 section 4.1 expects at most one of each kind
/// (destination options twice): eight covers every legitimate chain.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// IPv4 in IP (RFC 2003, RFC 2473).
pub const IPPROTO_IPIP: u8 = 4;
/// IPv6 in IP (RFC 4213, RFC 2473).
pub const IPPROTO_IPV6: u8 = 41;
pub const IPPROTO_GRE: u8 = 47;
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_MOBILITY: u8 = 135;
const IPPROTO_HIP: u8 = 139;
const IPPROTO_SHIM6: u8 = 140;
const IPPROTO_NONE: u8 = 59;

const IPV4_MF: u16 = 0x2000;
const IPV4_OFFSET_MASK: u16 = 0x1fff;

/// An IPv4 header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u16,
    pub proto: u8,
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub frag_offset: usize,
    pub payload: &'a [u8],
    /// The capture holds less than the total length says.
    pub cut: bool,
}

impl Ipv4<'_> {
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }
}

pub fn parse_ipv4(d: &[u8]) -> Result<Ipv4<'_>, DecodeError> {
    let b0 = *d.first().ok_or(DecodeError::Truncated)?;
    if b0 >> 4 != 4 {
        return Err(DecodeError::Ipv4BadHeader);
    }
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < 20 {
        return Err(DecodeError::Ipv4BadHeader);
    }
    if d.len() < ihl {
        return Err(DecodeError::Truncated);
    }
    let total = usize::from(be16(d, 2).ok_or(DecodeError::Truncated)?);
    // Total length 0 is what TCP segmentation offload leaves in captures taken on the
    // sending host: the captured length is all we have.
    let total = if total == 0 { d.len() } else { total };
    if total < ihl {
        return Err(DecodeError::Ipv4BadHeader);
    }
    let avail = total.min(d.len());
    let payload = d.get(ihl..avail).ok_or(DecodeError::Truncated)?;
    let id = be16(d, 4).ok_or(DecodeError::Truncated)?;
    let ff = be16(d, 6).ok_or(DecodeError::Truncated)?;
    let proto = *d.get(9).ok_or(DecodeError::Truncated)?;
    let (src, dst) = ipv4_addrs(d).ok_or(DecodeError::Truncated)?;
    Ok(Ipv4 {
        src,
        dst,
        id,
        proto,
        more_fragments: ff & IPV4_MF != 0,
        frag_offset: usize::from(ff & IPV4_OFFSET_MASK) * 8,
        payload,
        cut: d.len() < total,
    })
}

/// Source and destination of the IPv4 header at the start of `d`.
pub fn ipv4_addrs(d: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let src: [u8; 4] = d.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = d.get(16..20)?.try_into().ok()?;
    Some((
        IpAddr::V4(Ipv4Addr::from(src)),
        IpAddr::V4(Ipv4Addr::from(dst)),
    ))
}

/// Source and destination of the IPv6 header at the start of `d`.
pub fn ipv6_addrs(d: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let src: [u8; 16] = d.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = d.get(24..40)?.try_into().ok()?;
    Some((
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
    ))
}

/// An IPv6 fixed header and the bytes after it (extension headers included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub next_header: u8,
    pub rest: &'a [u8],
    pub cut: bool,
}

pub fn parse_ipv6(d: &[u8]) -> Result<Ipv6<'_>, DecodeError> {
    let b0 = *d.first().ok_or(DecodeError::Truncated)?;
    if b0 >> 4 != 6 {
        return Err(DecodeError::Ipv6BadHeader);
    }
    if d.len() < 40 {
        return Err(DecodeError::Truncated);
    }
    let plen = usize::from(be16(d, 4).ok_or(DecodeError::Truncated)?);
    let next_header = *d.get(6).ok_or(DecodeError::Truncated)?;
    let total = if plen == 0 && next_header != IPPROTO_NONE {
        // Jumbogram (RFC 2675) or offloaded segment: use what was captured.
        d.len()
    } else {
        40 + plen
    };
    let avail = total.min(d.len());
    let (src, dst) = ipv6_addrs(d).ok_or(DecodeError::Truncated)?;
    Ok(Ipv6 {
        src,
        dst,
        next_header,
        rest: d.get(40..avail).ok_or(DecodeError::Truncated)?,
        cut: d.len() < total,
    })
}

/// Where an IPv6 extension-header walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Walk {
    /// The upper-layer protocol (not an extension header) and its offset.
    Upper { proto: u8, off: usize },
    /// A real fragment header (not atomic); its data starts at `data_off`.
    Fragment {
        next_header: u8,
        offset: usize,
        more: bool,
        id: u32,
        data_off: usize,
    },
}

/// Walks extension headers in `d` starting with header type `nh`; `cut` tells whether
/// `d` lacks bytes the IP length announced (then running out is `Truncated`).
pub fn walk_ipv6(d: &[u8], mut nh: u8, cut: bool) -> Result<Ipv6Walk, DecodeError> {
    let short = if cut {
        DecodeError::Truncated
    } else {
        DecodeError::Ipv6BadHeader
    };
    let mut off = 0usize;
    for _ in 0..=MAX_IPV6_EXT_HEADERS {
        let len = match nh {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_MOBILITY
            | IPPROTO_HIP | IPPROTO_SHIM6 => {
                // Length in 8-octet units, not counting the first 8.
                (usize::from(*d.get(off + 1).ok_or(short)?) + 1) * 8
            }
            // AH counts 4-octet units, not counting the first 8 (RFC 4302 section 2.2).
            IPPROTO_AH => (usize::from(*d.get(off + 1).ok_or(short)?) + 2) * 4,
            IPPROTO_FRAGMENT => {
                let next_header = *d.get(off).ok_or(short)?;
                let fo = be16(d, off + 2).ok_or(short)?;
                let id = be32(d, off + 4).ok_or(short)?;
                let offset = usize::from(fo & 0xfff8);
                let more = fo & 1 != 0;
                if offset != 0 || more {
                    return Ok(Ipv6Walk::Fragment {
                        next_header,
                        offset,
                        more,
                        id,
                        data_off: off + 8,
                    });
                }
                8 // atomic fragment (RFC 6946): just step over it
            }
            proto => return Ok(Ipv6Walk::Upper { proto, off }),
        };
        nh = *d.get(off).ok_or(short)?;
        off += len;
        if off > d.len() {
            return Err(short);
        }
    }
    Err(DecodeError::Ipv6ExtLimit)
}

/// A TCP header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
}

/// Parses a TCP segment; `cut` tells whether the IP layer lacks announced bytes.
#[inline]
pub fn parse_tcp(d: &[u8], cut: bool) -> Result<Tcp<'_>, DecodeError> {
    let short = if cut {
        DecodeError::Truncated
    } else {
        DecodeError::TcpBadHeader
    };
    if d.len() < 20 {
        return Err(short);
    }
    let doff = usize::from(d.get(12).ok_or(short)? >> 4) * 4;
    if doff < 20 {
        return Err(DecodeError::TcpBadHeader);
    }
    Ok(Tcp {
        sport: be16(d, 0).ok_or(short)?,
        dport: be16(d, 2).ok_or(short)?,
        seq: be32(d, 4).ok_or(short)?,
        ack: be32(d, 8).ok_or(short)?,
        flags: *d.get(13).ok_or(short)?,
        payload: d.get(doff..).ok_or(short)?,
    })
}

/// A UDP header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    pub sport: u16,
    pub dport: u16,
    /// Trimmed to the UDP length.
    pub payload: &'a [u8],
    /// The capture holds fewer bytes than the UDP length says.
    pub cut: bool,
}

/// Parses a UDP datagram (RFC 768); `cut` tells whether the IP layer lacks announced
/// bytes. A length field of 0 (IPv6 jumbograms, RFC 2675, and what segmentation
/// offload leaves in captures taken on the sender) means "to the end of the IP
/// payload"; a length shorter than the header is refused.
#[inline(always)]
pub fn parse_udp(d: &[u8], cut: bool) -> Result<Udp<'_>, DecodeError> {
    let short = if cut {
        DecodeError::Truncated
    } else {
        DecodeError::UdpBadHeader
    };
    let len = usize::from(be16(d, 4).ok_or(short)?);
    let end = match len {
        0 => d.len(),
        1..=7 => return Err(DecodeError::UdpBadHeader),
        n if n > d.len() && !cut => return Err(DecodeError::UdpBadHeader),
        n => n,
    };
    Ok(Udp {
        sport: be16(d, 0).ok_or(short)?,
        dport: be16(d, 2).ok_or(short)?,
        payload: d.get(8..end.min(d.len())).ok_or(short)?,
        cut: end > d.len(),
    })
}
