//! GTP-U, the user plane of mobile cores (3GPP TS 29.281, UDP 2152).
//!
//! An 8-byte header (version 1, protocol type GTP), 4 more bytes when any of the E, S,
//! PN flags is set, then a chain of extension headers, each a multiple of 4 bytes whose
//! last byte names the next. Only G-PDUs (message type 0xFF) carry user packets, and
//! only those whose first nibble says IPv4 or IPv6 are followed; echo, error
//! indication, end marker and non-IP PDU sessions are `TunnelNotData` /
//! `TunnelUnknownPayload`. The TEID is chosen by the receiving end, so the two
//! directions of one connection carry different TEIDs.

use super::encap::{Decap, EncapKind, Inner, TunnelId};
use super::{be16, be32, DecodeError};

pub const HEADER_LEN: usize = 8;
/// Most extension headers walked; a longer chain is a bad header. TS 29.281 defines
/// fewer than ten types, and a packet carries one or two.
pub const MAX_EXT_HEADERS: usize = 8;
const VERSION: u8 = 1;
const FLAG_PT: u8 = 0x10;
const FLAGS_OPTIONAL: u8 = 0x07;
const FLAG_E: u8 = 0x04;
const MSG_G_PDU: u8 = 0xff;

pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let b0 = *d.first().ok_or(DecodeError::Truncated)?;
    let msg = *d.get(1).ok_or(DecodeError::Truncated)?;
    let len = usize::from(be16(d, 2).ok_or(DecodeError::Truncated)?);
    let teid = be32(d, 4).ok_or(DecodeError::Truncated)?;
    if b0 >> 5 != VERSION || b0 & FLAG_PT == 0 {
        return Err(DecodeError::TunnelBadHeader);
    }
    let end = HEADER_LEN + len;
    let d = d.get(..end).ok_or(DecodeError::Truncated)?;
    let mut off = HEADER_LEN;
    if b0 & FLAGS_OPTIONAL != 0 {
        // Sequence number (2), N-PDU number (1), next extension type (1).
        let mut next = *d.get(off + 3).ok_or(DecodeError::TunnelBadHeader)?;
        if b0 & FLAG_E == 0 {
            next = 0;
        }
        off += 4;
        let mut n = 0;
        while next != 0 {
            n += 1;
            if n > MAX_EXT_HEADERS {
                return Err(DecodeError::TunnelBadHeader);
            }
            let words = usize::from(*d.get(off).ok_or(DecodeError::TunnelBadHeader)?);
            if words == 0 {
                return Err(DecodeError::TunnelBadHeader);
            }
            let ext_end = off + words * 4;
            next = *d.get(ext_end - 1).ok_or(DecodeError::TunnelBadHeader)?;
            off = ext_end;
        }
    }
    if msg != MSG_G_PDU {
        return Err(DecodeError::TunnelNotData);
    }
    match d.get(off).map(|b| b >> 4) {
        Some(4 | 6) => {}
        None => return Err(DecodeError::TunnelNotData),
        Some(_) => return Err(DecodeError::TunnelUnknownPayload),
    }
    Ok(Decap {
        kind: EncapKind::GtpU,
        id: TunnelId::one_way(teid),
        inner: Inner::Ip,
        off,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G-PDU, TEID 0x01020304, 2-byte IPv4 stub payload.
    const PLAIN: [u8; 10] = [0x30, 0xff, 0x00, 0x02, 1, 2, 3, 4, 0x45, 0x00];

    #[test]
    fn good_truncated_bad_length() {
        let h = parse(&PLAIN).unwrap();
        assert_eq!((h.kind, h.inner, h.off), (EncapKind::GtpU, Inner::Ip, 8));
        assert_eq!(
            h.id.map(|i| (i.value, i.symmetric)),
            Some((0x01020304, false))
        );
        assert_eq!(parse(&PLAIN[..7]), Err(DecodeError::Truncated));
        // The length says more than there is.
        assert_eq!(parse(&PLAIN[..9]), Err(DecodeError::Truncated));
        // Bytes after the announced length are not GTP's.
        let mut trailing = PLAIN.to_vec();
        trailing.push(0xee);
        assert_eq!(parse(&trailing).unwrap().off, 8);
        let mut v0 = PLAIN;
        v0[0] = 0x10;
        assert_eq!(parse(&v0), Err(DecodeError::TunnelBadHeader));
        let mut prime = PLAIN;
        prime[0] = 0x20; // PT=0: GTP'
        assert_eq!(parse(&prime), Err(DecodeError::TunnelBadHeader));
    }

    #[test]
    fn only_g_pdus_carrying_ip() {
        let mut echo = PLAIN;
        echo[1] = 0x01;
        assert_eq!(parse(&echo), Err(DecodeError::TunnelNotData));
        let mut not_ip = PLAIN;
        not_ip[8] = 0x00;
        assert_eq!(parse(&not_ip), Err(DecodeError::TunnelUnknownPayload));
        let empty = [0x30, 0xff, 0, 0, 1, 2, 3, 4];
        assert_eq!(parse(&empty), Err(DecodeError::TunnelNotData));
    }

    #[test]
    fn extension_headers() {
        // E set; PDU session container (0x85) of 1 word, then none; IPv6 payload.
        let pkt = [
            0x34, 0xff, 0x00, 0x0a, 0, 0, 0, 9, // header, length 10
            0x00, 0x00, 0x00, 0x85, // seq, N-PDU, next = 0x85
            0x01, 0x10, 0x05, 0x00, // 1 word, content, next = 0
            0x60, 0x00,
        ];
        let h = parse(&pkt).unwrap();
        assert_eq!(h.off, 16);
        // S only: the optional word is there, no extension chain.
        let s = [0x32, 0xff, 0x00, 0x06, 0, 0, 0, 9, 0, 1, 0, 0x85, 0x45, 0];
        assert_eq!(parse(&s).unwrap().off, 12);
        // Zero-length extension header.
        let mut zero = pkt;
        zero[12] = 0;
        assert_eq!(parse(&zero), Err(DecodeError::TunnelBadHeader));
        // Extension running past the GTP length.
        let mut long = pkt;
        long[12] = 4;
        assert_eq!(parse(&long), Err(DecodeError::TunnelBadHeader));
        // A chain longer than the limit.
        let mut chain = vec![0x34, 0xff, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0x85];
        for _ in 0..=MAX_EXT_HEADERS {
            chain.extend([1, 0, 0, 0x85]);
        }
        chain.extend([0x45, 0]);
        let n = (chain.len() - 8) as u16;
        chain[2..4].copy_from_slice(&n.to_be_bytes());
        assert_eq!(parse(&chain), Err(DecodeError::TunnelBadHeader));
    }
}
