//! Teredo (RFC 4380, UDP 3544) and AYIYA (draft-massar-v6ops-ayiya, UDP 5072): IPv6
//! carried in UDP.
//!
//! Teredo has no header of its own: an optional authentication indicator, an optional
//! origin indicator, then an IPv6 packet. Like Zeek, a datagram counts as Teredo only
//! when what follows is an IPv6 header whose payload length matches the datagram
//! exactly; anything else on port 3544 is plain UDP. AYIYA has an 8-byte header plus
//! identity and signature, and only "forward" packets (opcode 1) carry IPv4 or IPv6.

use super::encap::{Decap, EncapKind, Inner};
use super::{be16, DecodeError};

const IPV6_HEADER_LEN: usize = 40;
/// Teredo authentication indicator: 2 type bytes, 2 lengths, nonce 8, confirmation 1.
const AUTH_FIXED_LEN: usize = 13;
const ORIGIN_LEN: usize = 8;

pub fn parse_teredo(d: &[u8]) -> Result<Decap, DecodeError> {
    let mut off = 0;
    if matches!(d.get(..2), Some([0, 1])) {
        let id_len = usize::from(*d.get(2).ok_or(DecodeError::Truncated)?);
        let au_len = usize::from(*d.get(3).ok_or(DecodeError::Truncated)?);
        off += AUTH_FIXED_LEN + id_len + au_len;
    }
    if matches!(d.get(off..off + 2), Some([0, 0])) {
        off += ORIGIN_LEN;
    }
    let ip = d.get(off..).ok_or(DecodeError::Truncated)?;
    if ip.len() < IPV6_HEADER_LEN {
        return Err(DecodeError::TunnelBadHeader);
    }
    let plen = usize::from(be16(ip, 4).ok_or(DecodeError::Truncated)?);
    if ip.first().map(|b| b >> 4) != Some(6) || IPV6_HEADER_LEN + plen != ip.len() {
        return Err(DecodeError::TunnelBadHeader);
    }
    Ok(Decap::new(EncapKind::Teredo, Inner::Ipv6, off))
}

/// The Teredo prefix, 2001:0000::/32 (RFC 4380 section 2.6).
const TEREDO_PREFIX: [u8; 4] = [0x20, 0x01, 0x00, 0x00];

/// A datagram on any port that is Teredo all the same: a bare IPv6 packet, its length
/// exactly the datagram's, to or from a Teredo address. Teredo clients talk to relays
/// and peers from their mapped port, not 3544 (Zeek follows them the same way); the
/// length and prefix checks keep other protocols out (a QUIC short header can start
/// with 0x6_, but matching a 16-bit length and a 32-bit prefix by chance is ~2^-48).
pub fn looks_like_teredo(d: &[u8]) -> bool {
    let Ok(dc) = parse_teredo(d) else {
        return false;
    };
    dc.off == 0
        && (d.get(8..12) == Some(&TEREDO_PREFIX[..]) || d.get(24..28) == Some(&TEREDO_PREFIX[..]))
}

const AYIYA_FIXED_LEN: usize = 8;
const AYIYA_OP_FORWARD: u8 = 1;
const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;

pub fn parse_ayiya(d: &[u8]) -> Result<Decap, DecodeError> {
    let hdr = d.get(..AYIYA_FIXED_LEN).ok_or(DecodeError::Truncated)?;
    let (id_byte, sig_byte, op_byte, next) = match *hdr {
        [a, b, c, n, ..] => (a, b, c, n),
        _ => return Err(DecodeError::Truncated),
    };
    let id_len = 1usize << (id_byte >> 4);
    let sig_len = usize::from(sig_byte >> 4) * 4;
    let off = AYIYA_FIXED_LEN + id_len + sig_len;
    if d.len() < off {
        return Err(DecodeError::Truncated);
    }
    if op_byte & 0x0f != AYIYA_OP_FORWARD {
        return Err(DecodeError::TunnelNotData);
    }
    let inner = match next {
        IPPROTO_IPIP => Inner::Ipv4,
        IPPROTO_IPV6 => Inner::Ipv6,
        _ => return Err(DecodeError::TunnelUnknownPayload),
    };
    Ok(Decap::new(EncapKind::Ayiya, inner, off))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv6(plen: u16, total: usize) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend(plen.to_be_bytes());
        v.resize(total, 0);
        v
    }

    #[test]
    fn teredo_plain_origin_auth() {
        let p = ipv6(8, 48);
        let h = parse_teredo(&p).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Teredo, Inner::Ipv6, 0)
        );
        let mut origin = vec![0, 0, 0x12, 0x34, 1, 2, 3, 4];
        origin.extend(&p);
        assert_eq!(parse_teredo(&origin).unwrap().off, 8);
        // Authentication with a 2-byte client id and 1-byte value, then origin.
        let mut auth = vec![0, 1, 2, 1, 0xa, 0xb, 0xc];
        auth.extend([0; 9]); // nonce + confirmation
        auth.extend(&origin);
        assert_eq!(parse_teredo(&auth).unwrap().off, 16 + 8);
    }

    #[test]
    fn teredo_needs_a_consistent_ipv6_header() {
        // Payload length disagrees with the datagram.
        assert_eq!(
            parse_teredo(&ipv6(9, 48)),
            Err(DecodeError::TunnelBadHeader)
        );
        // Truncated inner header.
        assert_eq!(
            parse_teredo(&ipv6(0, 39)),
            Err(DecodeError::TunnelBadHeader)
        );
        // Not IPv6.
        let mut v4 = ipv6(8, 48);
        v4[0] = 0x45;
        assert_eq!(parse_teredo(&v4), Err(DecodeError::TunnelBadHeader));
        // Auth indicator longer than the datagram.
        assert_eq!(parse_teredo(&[0, 1, 200, 200]), Err(DecodeError::Truncated));
        assert_eq!(parse_teredo(&[0, 1]), Err(DecodeError::Truncated));
        assert_eq!(parse_teredo(&[]), Err(DecodeError::TunnelBadHeader));
    }

    #[test]
    fn teredo_off_port_needs_a_teredo_address() {
        let mut p = ipv6(8, 48);
        assert!(!looks_like_teredo(&p));
        p[8..12].copy_from_slice(&TEREDO_PREFIX);
        assert!(looks_like_teredo(&p));
        // With an origin indication it is only taken on the Teredo port.
        let mut o = vec![0, 0, 0x12, 0x34, 1, 2, 3, 4];
        o.extend(&p);
        assert!(!looks_like_teredo(&o));
        p[4] = 1; // length disagrees
        assert!(!looks_like_teredo(&p));
    }

    #[test]
    fn ayiya_good_truncated_bad() {
        // id 2^4 = 16 bytes, signature 5 words = 20 bytes, forward, IPv6.
        let mut p = vec![0x41, 0x52, 0x11, 41, 0, 0, 0, 0];
        p.extend([0; 36]);
        p.push(0x60);
        let h = parse_ayiya(&p).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off),
            (EncapKind::Ayiya, Inner::Ipv6, 44)
        );
        assert_eq!(parse_ayiya(&p[..43]), Err(DecodeError::Truncated));
        assert_eq!(parse_ayiya(&p[..7]), Err(DecodeError::Truncated));
        let mut hb = p.clone();
        hb[2] = 0x10; // opcode 0: heartbeat
        assert_eq!(parse_ayiya(&hb), Err(DecodeError::TunnelNotData));
        let mut udp = p.clone();
        udp[3] = 17;
        assert_eq!(parse_ayiya(&udp), Err(DecodeError::TunnelUnknownPayload));
        // The largest identity (2^15 bytes) on a short datagram.
        let mut big = p;
        big[0] = 0xf1;
        assert_eq!(parse_ayiya(&big), Err(DecodeError::Truncated));
    }
}
