//! VXLAN (RFC 7348, UDP 4789) and VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe, UDP 4790).
//!
//! Both are an 8-byte header: flags, 24-bit VNI, reserved. VXLAN always wraps an
//! Ethernet frame; VXLAN-GPE names what it wraps (IPv4, IPv6, Ethernet, NSH, MPLS).
//! The VNI is the packet's virtual network, the same in both directions.

use super::encap::{Decap, EncapKind, Inner, TunnelId};
use super::{be32, DecodeError};

pub const HEADER_LEN: usize = 8;
/// "VNI is valid" (RFC 7348 section 5): must be set.
const FLAG_I: u8 = 0x08;
/// VXLAN-GPE "next protocol present".
const GPE_FLAG_P: u8 = 0x04;
const GPE_VERSION_MASK: u8 = 0x30;

const GPE_IPV4: u8 = 1;
const GPE_IPV6: u8 = 2;
const GPE_ETHERNET: u8 = 3;
const GPE_NSH: u8 = 4;
const GPE_MPLS: u8 = 5;

fn vni(d: &[u8]) -> Result<u32, DecodeError> {
    Ok(be32(d, 4).ok_or(DecodeError::Truncated)? >> 8)
}

/// A VXLAN header; reserved bits (and VXLAN-GBP's group policy) are ignored on
/// receipt as the RFC says, the I flag is required.
pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let flags = *d.first().ok_or(DecodeError::Truncated)?;
    let vni = vni(d)?;
    if flags & FLAG_I == 0 {
        return Err(DecodeError::TunnelBadHeader);
    }
    Ok(Decap {
        kind: EncapKind::Vxlan,
        id: TunnelId::both_ways(vni),
        inner: Inner::Ethernet,
        off: HEADER_LEN,
    })
}

/// A VXLAN-GPE header. Without the P flag the payload is Ethernet (as VXLAN).
pub fn parse_gpe(d: &[u8]) -> Result<Decap, DecodeError> {
    let flags = *d.first().ok_or(DecodeError::Truncated)?;
    let vni = vni(d)?;
    let next = *d.get(3).ok_or(DecodeError::Truncated)?;
    if flags & GPE_VERSION_MASK != 0 {
        return Err(DecodeError::TunnelBadHeader);
    }
    let inner = if flags & GPE_FLAG_P == 0 {
        Inner::Ethernet
    } else {
        match next {
            GPE_IPV4 => Inner::Ipv4,
            GPE_IPV6 => Inner::Ipv6,
            GPE_ETHERNET => Inner::Ethernet,
            GPE_NSH => Inner::Nsh,
            GPE_MPLS => Inner::Mpls,
            _ => return Err(DecodeError::TunnelUnknownPayload),
        }
    };
    Ok(Decap {
        kind: EncapKind::VxlanGpe,
        id: if flags & FLAG_I != 0 {
            TunnelId::both_ways(vni)
        } else {
            None
        },
        inner,
        off: HEADER_LEN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: [u8; 10] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa, 0xbb];

    #[test]
    fn vxlan_good_truncated_bad() {
        let h = parse(&GOOD).unwrap();
        assert_eq!(h.kind, EncapKind::Vxlan);
        assert_eq!(h.id.map(|i| (i.value, i.symmetric)), Some((0x123456, true)));
        assert_eq!((h.inner, h.off), (Inner::Ethernet, 8));
        assert_eq!(parse(&GOOD[..7]), Err(DecodeError::Truncated));
        assert_eq!(parse(&[]), Err(DecodeError::Truncated));
        let mut no_i = GOOD;
        no_i[0] = 0;
        assert_eq!(parse(&no_i), Err(DecodeError::TunnelBadHeader));
        // Group-based policy bits are ignored.
        let mut gbp = GOOD;
        gbp[0] = 0x88;
        gbp[2] = 0x10;
        assert!(parse(&gbp).is_ok());
    }

    #[test]
    fn gpe_next_protocols() {
        let h = |flags: u8, next: u8| [flags, 0, 0, next, 0, 0, 7, 0];
        assert_eq!(parse_gpe(&h(0x0c, 1)).unwrap().inner, Inner::Ipv4);
        assert_eq!(parse_gpe(&h(0x0c, 2)).unwrap().inner, Inner::Ipv6);
        assert_eq!(parse_gpe(&h(0x0c, 3)).unwrap().inner, Inner::Ethernet);
        assert_eq!(parse_gpe(&h(0x0c, 4)).unwrap().inner, Inner::Nsh);
        assert_eq!(parse_gpe(&h(0x0c, 5)).unwrap().inner, Inner::Mpls);
        assert_eq!(parse_gpe(&h(0x08, 1)).unwrap().inner, Inner::Ethernet);
        assert_eq!(parse_gpe(&h(0x0c, 1)).unwrap().id.unwrap().value, 7);
        assert_eq!(parse_gpe(&h(0x04, 1)).unwrap().id, None);
        assert_eq!(
            parse_gpe(&h(0x0c, 0x7f)),
            Err(DecodeError::TunnelUnknownPayload)
        );
        assert_eq!(parse_gpe(&h(0x2c, 1)), Err(DecodeError::TunnelBadHeader));
        assert_eq!(parse_gpe(&h(0x0c, 1)[..5]), Err(DecodeError::Truncated));
    }
}
