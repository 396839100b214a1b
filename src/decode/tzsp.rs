//! TZSP, the TaZmen Sniffer Protocol (UDP 37008): how MikroTik and other devices stream
//! captured frames to a remote sniffer.
//!
//! A 4-byte header (version 1, type, encapsulation), tagged fields up to an END tag,
//! then the captured frame: Ethernet (encapsulation 1) or IEEE 802.11 (18). Types other
//! than "received" and "for transmit" (keep-alives, port openers) carry no frame.

use super::encap::{Decap, EncapKind, Inner};
use super::{be16, DecodeError};

const VERSION: u8 = 1;
const TYPE_RECEIVED: u8 = 0;
const TYPE_FOR_TRANSMIT: u8 = 1;
const ENCAP_ETHERNET: u16 = 1;
const ENCAP_IEEE80211: u16 = 18;
const TAG_PADDING: u8 = 0;
const TAG_END: u8 = 1;

pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let version = *d.first().ok_or(DecodeError::Truncated)?;
    let ty = *d.get(1).ok_or(DecodeError::Truncated)?;
    let encap = be16(d, 2).ok_or(DecodeError::Truncated)?;
    if version != VERSION {
        return Err(DecodeError::TunnelBadHeader);
    }
    if ty != TYPE_RECEIVED && ty != TYPE_FOR_TRANSMIT {
        return Err(DecodeError::TunnelNotData);
    }
    // Every tag consumes at least one byte, so the walk ends with the data.
    let mut off = 4;
    loop {
        match *d.get(off).ok_or(DecodeError::Truncated)? {
            TAG_PADDING => off += 1,
            TAG_END => {
                off += 1;
                break;
            }
            _ => off += 2 + usize::from(*d.get(off + 1).ok_or(DecodeError::Truncated)?),
        }
    }
    if d.len() < off {
        return Err(DecodeError::Truncated);
    }
    let inner = match encap {
        ENCAP_ETHERNET => Inner::Ethernet,
        ENCAP_IEEE80211 => Inner::Ieee80211,
        _ => return Err(DecodeError::TunnelUnknownPayload),
    };
    Ok(Decap::new(EncapKind::Tzsp, inner, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_truncated_bad() {
        let bare = [1, 0, 0, 1, 1, 0xaa];
        let h = parse(&bare).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Tzsp, Inner::Ethernet, 5)
        );
        // Padding, a 2-byte tag (signal), END.
        let tagged = [1, 0, 0, 18, 0, 10, 2, 0xc4, 0xff, 1, 0x08];
        let h = parse(&tagged).unwrap();
        assert_eq!((h.inner, h.off), (Inner::Ieee80211, 10));
        // No END tag.
        assert_eq!(parse(&tagged[..9]), Err(DecodeError::Truncated));
        // A tag longer than the datagram.
        assert_eq!(
            parse(&[1, 0, 0, 1, 10, 200, 0, 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(parse(&[1, 0, 0]), Err(DecodeError::Truncated));
        assert_eq!(parse(&[2, 0, 0, 1, 1]), Err(DecodeError::TunnelBadHeader));
        assert_eq!(parse(&[1, 4, 0, 1, 1]), Err(DecodeError::TunnelNotData));
        assert_eq!(
            parse(&[1, 0, 0, 99, 1]),
            Err(DecodeError::TunnelUnknownPayload)
        );
    }
}
