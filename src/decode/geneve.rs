//! Geneve (RFC 8926, UDP 6081): an 8-byte header plus variable options, then a packet
//! of the protocol type it names (Ethernet 0x6558, IPv4, IPv6, or any ethertype).
//!
//! Options are skipped by their total length (never walked, never kept). The VNI is the
//! packet's virtual network, the same in both directions. AWS Gateway Load Balancer
//! sends VNI 0 with its metadata in options.

use super::encap::{Decap, EncapKind, Inner, TunnelId};
use super::{be16, be32, DecodeError};

pub const HEADER_LEN: usize = 8;
/// Only version 0 exists (RFC 8926 section 3.4).
const VERSION: u8 = 0;
const ETHERTYPE_TEB: u16 = 0x6558;

pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let b0 = *d.first().ok_or(DecodeError::Truncated)?;
    let proto = be16(d, 2).ok_or(DecodeError::Truncated)?;
    let vni = be32(d, 4).ok_or(DecodeError::Truncated)? >> 8;
    if b0 >> 6 != VERSION {
        return Err(DecodeError::TunnelBadHeader);
    }
    // Option length in 4-byte words, header excluded.
    let off = HEADER_LEN + usize::from(b0 & 0x3f) * 4;
    if d.len() < off {
        return Err(DecodeError::Truncated);
    }
    let inner = match proto {
        ETHERTYPE_TEB => Inner::Ethernet,
        et => Inner::Ethertype(et),
    };
    Ok(Decap {
        kind: EncapKind::Geneve,
        id: TunnelId::both_ways(vni),
        inner,
        off,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two options of 8 and 4 bytes (opt len 3 words), Ethernet, VNI 0xabcdef.
    const WITH_OPTIONS: [u8; 22] = [
        0x03, 0x00, 0x65, 0x58, 0xab, 0xcd, 0xef, 0x00, // header
        0x01, 0x08, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef, // class 0x0108 type 1, 4 bytes
        0x01, 0x08, 0x02, 0x00, // class 0x0108 type 2, empty
        0xaa, 0xbb,
    ];

    #[test]
    fn good_truncated_bad() {
        let h = parse(&WITH_OPTIONS).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Geneve, Inner::Ethernet, 20)
        );
        assert_eq!(h.id.unwrap().value, 0xabcdef);
        let ip = [0, 0, 0x08, 0x00, 0, 0, 1, 0];
        assert_eq!(parse(&ip).unwrap().inner, Inner::Ethertype(0x0800));
        assert_eq!(parse(&ip).unwrap().off, 8);
        // Options announced past the end.
        assert_eq!(parse(&WITH_OPTIONS[..19]), Err(DecodeError::Truncated));
        assert_eq!(parse(&WITH_OPTIONS[..7]), Err(DecodeError::Truncated));
        let mut v1 = WITH_OPTIONS;
        v1[0] |= 0x40;
        assert_eq!(parse(&v1), Err(DecodeError::TunnelBadHeader));
        // The largest option length (63 words) on a short packet.
        let mut big = WITH_OPTIONS;
        big[0] = 0x3f;
        assert_eq!(parse(&big), Err(DecodeError::Truncated));
    }
}
