//! CAPWAP data channel (RFC 5415 section 4.3, RFC 5416; UDP 5247): wireless access
//! points sending client frames to their controller.
//!
//! A 1-byte preamble (version 0, type 0 = clear; type 1 = DTLS-protected, not
//! decodable), then a header whose HLEN gives its length in 4-byte words. With the T
//! flag and wireless binding 1 the payload is a native IEEE 802.11 frame (then LLC/SNAP,
//! see `link::ieee80211`); without it an 802.3 (Ethernet) frame. Keep-alives and
//! fragments (not reassembled) carry no packet to follow.

use super::encap::{Decap, EncapKind, Inner};
use super::{be32, DecodeError};

/// Preamble + the fixed part of the header.
pub const MIN_LEN: usize = 8;
const PREAMBLE_CLEAR: u8 = 0x00;
const PREAMBLE_DTLS: u8 = 0x01;
const WBID_IEEE80211: u32 = 1;

pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let w = be32(d, 0).ok_or(DecodeError::Truncated)?;
    let preamble = (w >> 24) as u8;
    if preamble == PREAMBLE_DTLS {
        return Err(DecodeError::TunnelNotData);
    }
    if preamble != PREAMBLE_CLEAR {
        return Err(DecodeError::TunnelBadHeader);
    }
    let off = ((w >> 19) & 0x1f) as usize * 4;
    let wbid = (w >> 9) & 0x1f;
    let native = (w >> 8) & 1 == 1;
    let fragment = (w >> 7) & 1 == 1;
    let keep_alive = (w >> 3) & 1 == 1;
    if off < MIN_LEN {
        return Err(DecodeError::TunnelBadHeader);
    }
    if d.len() < off {
        return Err(DecodeError::Truncated);
    }
    if keep_alive || fragment || d.len() == off {
        return Err(DecodeError::TunnelNotData);
    }
    let inner = match (native, wbid) {
        (true, WBID_IEEE80211) => Inner::Ieee80211,
        (true, _) => return Err(DecodeError::TunnelUnknownPayload),
        (false, _) => Inner::Ethernet,
    };
    Ok(Decap::new(EncapKind::Capwap, inner, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HLEN 2 words, RID 1, WBID 1, T set: an 802.11 frame follows.
    const WLAN: [u8; 9] = [0x00, 0x10, 0x43, 0x10, 0, 0, 0, 0, 0x08];

    #[test]
    fn good_truncated_bad() {
        let h = parse(&WLAN).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Capwap, Inner::Ieee80211, 8)
        );
        let mut eth = WLAN;
        eth[2] = 0x42;
        eth[3] = 0x00; // T clear: 802.3
        assert_eq!(parse(&eth).unwrap().inner, Inner::Ethernet);
        assert_eq!(parse(&WLAN[..3]), Err(DecodeError::Truncated));
        let mut long = WLAN;
        long[1] = 0x20; // HLEN 4 words past the end
        assert_eq!(parse(&long), Err(DecodeError::Truncated));
        let mut short = WLAN;
        short[1] = 0x08; // HLEN 1 word
        assert_eq!(parse(&short), Err(DecodeError::TunnelBadHeader));
        let mut dtls = WLAN;
        dtls[0] = 0x01;
        assert_eq!(parse(&dtls), Err(DecodeError::TunnelNotData));
        let mut v1 = WLAN;
        v1[0] = 0x10;
        assert_eq!(parse(&v1), Err(DecodeError::TunnelBadHeader));
        let mut ka = WLAN;
        ka[3] |= 0x08;
        assert_eq!(parse(&ka), Err(DecodeError::TunnelNotData));
        assert_eq!(parse(&WLAN[..8]), Err(DecodeError::TunnelNotData));
        let mut other = WLAN;
        other[2] = 0x45; // WBID 2
        assert_eq!(parse(&other), Err(DecodeError::TunnelUnknownPayload));
    }
}
