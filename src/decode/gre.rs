//! GRE (RFC 2784 with RFC 2890 key and sequence number; IP protocol 47, or UDP 4754
//! per RFC 8086) and PPTP's enhanced GRE (version 1, RFC 2637).
//!
//! Version 0 carries whatever its protocol type names: Ethernet (0x6558), IPv4, IPv6,
//! MPLS, NSH, PPP, ERSPAN (0x88BE: type II with a sequence number, type I without;
//! 0x22EB: type III), or any other ethertype the link layer knows. Source-routed GRE
//! (RFC 1701 R bit) is refused. Aruba access points send their clients' IEEE 802.11
//! frames with protocol types 0x8200 to 0x8300 (as Zeek reads them). Version 1 always
//! carries PPP; its key field holds the
//! payload length and the peer's call id (a different id each way), and a packet with
//! no payload is a bare acknowledgement.

use super::encap::{Decap, EncapKind, Inner, TunnelId};
use super::{be16, be32, DecodeError};

const FLAG_CSUM: u8 = 0x80;
const FLAG_ROUTING: u8 = 0x40;
const FLAG_KEY: u8 = 0x20;
const FLAG_SEQ: u8 = 0x10;
/// PPTP: acknowledgement number present (second byte).
const FLAG_ACK: u8 = 0x80;

const ETHERTYPE_TEB: u16 = 0x6558;
const ETHERTYPE_ERSPAN_1_2: u16 = 0x88be;
const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;
const ETHERTYPE_PPP: u16 = 0x880b;
/// Aruba's 802.11-in-GRE protocol types (Zeek `packet_analysis/protocol/gre`).
const ARUBA_80211: std::ops::RangeInclusive<u16> = 0x8200..=0x8300;

pub fn parse(d: &[u8]) -> Result<Decap, DecodeError> {
    let b0 = *d.first().ok_or(DecodeError::Truncated)?;
    let b1 = *d.get(1).ok_or(DecodeError::Truncated)?;
    let proto = be16(d, 2).ok_or(DecodeError::Truncated)?;
    match b1 & 0x07 {
        0 => {
            if b0 & FLAG_ROUTING != 0 {
                return Err(DecodeError::TunnelBadHeader);
            }
            let mut off = 4;
            if b0 & FLAG_CSUM != 0 {
                off += 4; // checksum + reserved1
            }
            let mut id = None;
            if b0 & FLAG_KEY != 0 {
                id = TunnelId::both_ways(be32(d, off).ok_or(DecodeError::Truncated)?);
                off += 4;
            }
            let seq = b0 & FLAG_SEQ != 0;
            if seq {
                off += 4;
            }
            if d.len() < off {
                return Err(DecodeError::Truncated);
            }
            let inner = match proto {
                ETHERTYPE_TEB => Inner::Ethernet,
                ETHERTYPE_ERSPAN_1_2 if seq => Inner::Erspan(2),
                ETHERTYPE_ERSPAN_1_2 => Inner::Erspan(1),
                ETHERTYPE_ERSPAN_3 => Inner::Erspan(3),
                ETHERTYPE_PPP => Inner::Ppp,
                et if ARUBA_80211.contains(&et) => Inner::Ieee80211,
                et => Inner::Ethertype(et),
            };
            Ok(Decap {
                kind: EncapKind::Gre,
                id,
                inner,
                off,
            })
        }
        1 => {
            if proto != ETHERTYPE_PPP || b0 & FLAG_KEY == 0 || b0 & (FLAG_CSUM | FLAG_ROUTING) != 0
            {
                return Err(DecodeError::TunnelBadHeader);
            }
            let payload_len = usize::from(be16(d, 4).ok_or(DecodeError::Truncated)?);
            let call_id = be16(d, 6).ok_or(DecodeError::Truncated)?;
            let mut off = 8;
            if b0 & FLAG_SEQ != 0 {
                off += 4;
            }
            if b1 & FLAG_ACK != 0 {
                off += 4;
            }
            if d.len() < off {
                return Err(DecodeError::Truncated);
            }
            if payload_len == 0 {
                return Err(DecodeError::TunnelNotData);
            }
            Ok(Decap {
                kind: EncapKind::Gre,
                id: TunnelId::one_way(u32::from(call_id)),
                inner: Inner::Ppp,
                off,
            })
        }
        _ => Err(DecodeError::TunnelBadHeader),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keyed_sequenced_checksummed() {
        let plain = [0x00, 0x00, 0x08, 0x00, 0x45];
        let h = parse(&plain).unwrap();
        assert_eq!(
            (h.kind, h.inner, h.off, h.id),
            (EncapKind::Gre, Inner::Ethertype(0x0800), 4, None)
        );
        let keyed = [0x20, 0x00, 0x65, 0x58, 0, 0, 0x01, 0x02];
        let h = parse(&keyed).unwrap();
        assert_eq!((h.inner, h.off), (Inner::Ethernet, 8));
        assert_eq!(h.id.map(|i| (i.value, i.symmetric)), Some((0x0102, true)));
        let all = [0xb0, 0x00, 0x86, 0xdd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1];
        let h = parse(&all).unwrap();
        assert_eq!((h.inner, h.off), (Inner::Ethertype(0x86dd), 16));
        assert_eq!(h.id.unwrap().value, 9);
        // Announced fields past the end.
        assert_eq!(parse(&all[..15]), Err(DecodeError::Truncated));
        assert_eq!(parse(&keyed[..6]), Err(DecodeError::Truncated));
        assert_eq!(parse(&[0x00, 0x00, 0x08]), Err(DecodeError::Truncated));
        // Source routing and unknown versions.
        assert_eq!(parse(&[0x40, 0, 8, 0]), Err(DecodeError::TunnelBadHeader));
        assert_eq!(parse(&[0, 2, 8, 0]), Err(DecodeError::TunnelBadHeader));
    }

    #[test]
    fn erspan_types_by_protocol_and_sequence() {
        assert_eq!(parse(&[0, 0, 0x88, 0xbe]).unwrap().inner, Inner::Erspan(1));
        let seq = [0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
        assert_eq!(parse(&seq).unwrap().inner, Inner::Erspan(2));
        assert_eq!(parse(&seq).unwrap().off, 8);
        assert_eq!(
            parse(&[0x10, 0, 0x22, 0xeb, 0, 0, 0, 1]).unwrap().inner,
            Inner::Erspan(3)
        );
    }

    #[test]
    fn pptp_enhanced_gre() {
        // K, S set; A set; payload length 4, call id 0x1234, seq, ack.
        let pkt = [
            0x30, 0x81, 0x88, 0x0b, 0, 4, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0x03,
        ];
        let h = parse(&pkt).unwrap();
        assert_eq!((h.inner, h.off), (Inner::Ppp, 16));
        assert_eq!(h.id.map(|i| (i.value, i.symmetric)), Some((0x1234, false)));
        // Acknowledgement only.
        let ack = [0x20, 0x81, 0x88, 0x0b, 0, 0, 0x12, 0x34, 0, 0, 0, 2];
        assert_eq!(parse(&ack), Err(DecodeError::TunnelNotData));
        assert_eq!(parse(&pkt[..14]), Err(DecodeError::Truncated));
        // Version 1 without a key, or not PPP.
        assert_eq!(
            parse(&[0x00, 0x01, 0x88, 0x0b, 0, 4, 0, 1]),
            Err(DecodeError::TunnelBadHeader)
        );
        assert_eq!(
            parse(&[0x20, 0x01, 0x08, 0x00, 0, 4, 0, 1]),
            Err(DecodeError::TunnelBadHeader)
        );
    }
}
