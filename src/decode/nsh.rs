//! Network Service Header (RFC 8300): service function chaining metadata in front of a
//! packet, reached by ethertype 0x894F, GRE, or VXLAN-GPE next protocol 4.
//!
//! A 4-byte base header (version 0, total length in 4-byte words, MD type, next
//! protocol), a 4-byte service path header, then context headers: all skipped by the
//! length field. The service path id is a chain position, not a network: not kept.

use super::encap::{Decap, EncapKind, Inner};
use super::{be16, DecodeError};

/// Base header + service path header: the shortest NSH.
pub const MIN_LEN: usize = 8;
const VERSION: u8 = 0;
const NEXT_IPV4: u8 = 1;
const NEXT_IPV6: u8 = 2;
const NEXT_ETHERNET: u8 = 3;
const NEXT_NSH: u8 = 4;
const NEXT_MPLS: u8 = 5;

pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let w = be16(d, 0).ok_or(DecodeError::Truncated)?;
    let next = *d.get(3).ok_or(DecodeError::Truncated)?;
    if (w >> 14) as u8 != VERSION {
        return Err(DecodeError::TunnelBadHeader);
    }
    let off = usize::from(w & 0x3f) * 4;
    if off < MIN_LEN {
        return Err(DecodeError::TunnelBadHeader);
    }
    if d.len() < off {
        return Err(DecodeError::Truncated);
    }
    let inner = match next {
        NEXT_IPV4 => Inner::Ipv4,
        NEXT_IPV6 => Inner::Ipv6,
        NEXT_ETHERNET => Inner::Ethernet,
        NEXT_NSH => Inner::Nsh,
        NEXT_MPLS => Inner::Mpls,
        _ => return Err(DecodeError::TunnelUnknownPayload),
    };
    Ok(Decap::new(EncapKind::Nsh, inner, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MD type 1 (length 6 words), next protocol IPv4.
    const MD1: [u8; 25] = [
        0x0f, 0xc6, 0x01, 0x01, 0x00, 0x00, 0x2a, 0xff, // base, SPI 42, SI 255
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 16 bytes of context
        0x45,
    ];

    #[test]
    fn good_truncated_bad() {
        let h = parse(&MD1).unwrap();
        assert_eq!((h.kind, h.inner, h.off), (EncapKind::Nsh, Inner::Ipv4, 24));
        assert_eq!(parse(&MD1[..23]), Err(DecodeError::Truncated));
        assert_eq!(parse(&MD1[..3]), Err(DecodeError::Truncated));
        let mut short = MD1;
        short[1] = 0xc1; // length 1 word: shorter than the fixed headers
        assert_eq!(parse(&short), Err(DecodeError::TunnelBadHeader));
        let mut v1 = MD1;
        v1[0] |= 0x40;
        assert_eq!(parse(&v1), Err(DecodeError::TunnelBadHeader));
        let mut md2 = [0x0f, 0xc2, 0x02, 0x03, 0, 0, 1, 0xff, 0xaa];
        assert_eq!(parse(&md2).unwrap().inner, Inner::Ethernet);
        md2[3] = 0x99;
        assert_eq!(parse(&md2), Err(DecodeError::TunnelUnknownPayload));
    }
}
