//! ERSPAN, Cisco's Encapsulated Remote SPAN (draft-foschiano-erspan), after a GRE header.
//!
//! Type I has no header of its own (GRE 0x88BE without a sequence number); type II an
//! 8-byte header (version 1); type III a 12-byte header (version 2), followed by an
//! 8-byte platform-specific sub-header when its O flag is set, and a frame type that
//! says Ethernet (0) or IP (2). The mirrored frame follows. The session id names the
//! mirror session, not a network: it is not kept as a tunnel id.

use super::encap::{Decap, EncapKind, Inner};
use super::{be16, DecodeError};

pub const TYPE2_HEADER_LEN: usize = 8;
pub const TYPE3_HEADER_LEN: usize = 12;
const TYPE3_PLATFORM_LEN: usize = 8;
const VERSION_TYPE2: u8 = 1;
const VERSION_TYPE3: u8 = 2;
const FRAME_ETHERNET: u16 = 0;
const FRAME_IP: u16 = 2;

/// The ERSPAN header of type `ty` (1, 2 or 3, as GRE said).
pub fn parse(ty: u8, d: &[u8]) -> Result<Decap, DecodeError> {
    let (kind, inner, off) = match ty {
        1 => (EncapKind::Erspan1, Inner::Ethernet, 0),
        2 => {
            let b0 = *d.first().ok_or(DecodeError::Truncated)?;
            if d.len() < TYPE2_HEADER_LEN {
                return Err(DecodeError::Truncated);
            }
            if b0 >> 4 != VERSION_TYPE2 {
                return Err(DecodeError::TunnelBadHeader);
            }
            (EncapKind::Erspan2, Inner::Ethernet, TYPE2_HEADER_LEN)
        }
        3 => {
            let b0 = *d.first().ok_or(DecodeError::Truncated)?;
            let flags = be16(d, 10).ok_or(DecodeError::Truncated)?;
            if b0 >> 4 != VERSION_TYPE3 {
                return Err(DecodeError::TunnelBadHeader);
            }
            let mut off = TYPE3_HEADER_LEN;
            if flags & 0x0001 != 0 {
                off += TYPE3_PLATFORM_LEN;
            }
            if d.len() < off {
                return Err(DecodeError::Truncated);
            }
            let inner = match (flags >> 10) & 0x1f {
                FRAME_ETHERNET => Inner::Ethernet,
                FRAME_IP => Inner::Ip,
                _ => return Err(DecodeError::TunnelUnknownPayload),
            };
            (EncapKind::Erspan3, inner, off)
        }
        _ => return Err(DecodeError::TunnelBadHeader),
    };
    Ok(Decap::new(kind, inner, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type1_has_no_header() {
        let h = parse(1, &[]).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Erspan1, Inner::Ethernet, 0)
        );
    }

    #[test]
    fn type2_good_truncated_bad() {
        let h2 = [0x10, 0x64, 0x00, 0x01, 0, 0, 0, 0, 0xaa];
        let h = parse(2, &h2).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Erspan2, Inner::Ethernet, 8)
        );
        assert_eq!(parse(2, &h2[..7]), Err(DecodeError::Truncated));
        assert_eq!(parse(2, &[]), Err(DecodeError::Truncated));
        let mut v = h2;
        v[0] = 0x20;
        assert_eq!(parse(2, &v), Err(DecodeError::TunnelBadHeader));
    }

    #[test]
    fn type3_platform_subheader_and_frame_type() {
        let mut h3 = [0u8; 20];
        h3[0] = 0x20;
        let h = parse(3, &h3[..12]).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Erspan3, Inner::Ethernet, 12)
        );
        h3[11] = 0x01; // O: platform sub-header follows
        assert_eq!(parse(3, &h3).unwrap().off, 20);
        assert_eq!(parse(3, &h3[..19]), Err(DecodeError::Truncated));
        h3[10] = 0x08; // frame type 2: IP
        assert_eq!(parse(3, &h3).unwrap().inner, Inner::Ip);
        h3[10] = 0x0c; // frame type 3
        assert_eq!(parse(3, &h3), Err(DecodeError::TunnelUnknownPayload));
        assert_eq!(parse(3, &h3[..11]), Err(DecodeError::Truncated));
        h3[0] = 0x10;
        assert_eq!(parse(3, &h3), Err(DecodeError::TunnelBadHeader));
        assert_eq!(parse(4, &h3), Err(DecodeError::TunnelBadHeader));
    }
}
