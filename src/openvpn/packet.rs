//! One OpenVPN control-channel packet as it travels on TCP (after the 2-byte length):
//! opcode/key_id, session id, the optional tls-auth block, the acknowledgement array,
//! the message packet-id and the TLS payload; plus the first-packet sniff that tells
//! an OpenVPN connection (and whether its control channel is readable) from anything
//! else.
//!
//! Layout (OpenVPN `ssl_pkt.h`, the protocol description in OpenVPN's source tree):
//! ```text
//! opcode(5 bits) key_id(3) | session_id(8)
//!   [tls-auth: HMAC(H) | replay packet-id(4) | net time(4)]
//!   ack_count(1) | ack packet-ids(4 each) | [remote session_id(8) if ack_count > 0]
//!   [not P_ACK_V1: message packet-id(4) | TLS bytes]
//! ```
//! tls-crypt moves the replay id and time right after the session id, follows them with
//! a 32-byte tag and encrypts the rest: nothing after the tag is readable passively.
//!
//! The HMAC size `H` is not on the wire. tshark decides whether a tls-auth block is
//! there from how the bytes after the session id look and takes `H` from a preference
//! (default 20, HMAC-SHA1). Here `H` is found from the structure of the hard reset that
//! opens each direction: it is the size (none, then 20, 32, 64, 16, 48, 28) for which
//! the replay id is small and non-zero, the ack array fits, the message packet-id is 0
//! and the packet ends exactly after it (or after a well-formed TLV list: OpenVPN 2.6
//! announces early negotiation that way). A tls-crypt reset matches none of them.
//!
//! Invariants: never panics on any bytes; reads only inside the packet it is given.

/// Opcodes (high 5 bits of the first byte).
pub const P_CONTROL_HARD_RESET_CLIENT_V1: u8 = 1;
pub const P_CONTROL_HARD_RESET_SERVER_V1: u8 = 2;
pub const P_CONTROL_SOFT_RESET_V1: u8 = 3;
pub const P_CONTROL_V1: u8 = 4;
pub const P_ACK_V1: u8 = 5;
pub const P_DATA_V1: u8 = 6;
pub const P_CONTROL_HARD_RESET_CLIENT_V2: u8 = 7;
pub const P_CONTROL_HARD_RESET_SERVER_V2: u8 = 8;
pub const P_DATA_V2: u8 = 9;
/// tls-crypt-v2 client reset (carries the wrapped client key).
pub const P_CONTROL_HARD_RESET_CLIENT_V3: u8 = 10;
/// tls-crypt-v2 control packet carrying the wrapped client key.
pub const P_CONTROL_WKC_V1: u8 = 11;
/// Highest opcode defined.
pub const MAX_OPCODE: u8 = P_CONTROL_WKC_V1;

const SESSION_ID_LEN: usize = 8;
/// tls-auth / tls-crypt replay protection: packet-id(4) and net time(4).
const REPLAY_LEN: usize = 8;
/// OpenVPN's `RELIABLE_ACK_SIZE`: at most 8 acknowledgements per packet.
pub const MAX_ACKS: u8 = 8;
/// tls-crypt's authentication tag (HMAC-SHA256).
const TLS_CRYPT_TAG_LEN: usize = 32;
/// Smallest tls-crypt reset: opcode, session id, replay block, tag, then at least the
/// encrypted ack count and message packet-id.
const TLS_CRYPT_MIN_RESET: usize = 1 + SESSION_ID_LEN + REPLAY_LEN + TLS_CRYPT_TAG_LEN + 5;
/// The replay packet-id of a connection's first packet starts at 1; a value this large
/// in a reset means the bytes are not a replay block.
const MAX_FIRST_REPLAY_ID: u32 = 0xffff;
/// Largest hard reset a sniff waits for: the fixed part, the largest tls-auth block and
/// a few early-negotiation TLVs. Longer "resets" are not OpenVPN.
pub const MAX_RESET_LEN: usize = 512;
/// tls-auth HMAC sizes tried, most common first (none, SHA1, SHA256, SHA512, MD5,
/// SHA384, SHA224).
const HMAC_SIZES: [u8; 7] = [0, 20, 32, 64, 16, 48, 28];

/// The tls-auth block of a connection: HMAC size in bytes, 0 without tls-auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth {
    pub hmac_len: u8,
}

/// A control-channel packet, borrowed from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control<'a> {
    pub opcode: u8,
    pub key_id: u8,
    /// tls-auth replay packet-id (0 without tls-auth).
    pub replay_id: u32,
    pub acks: u8,
    /// Message packet-id; `None` for `P_ACK_V1`, which has none.
    pub packet_id: Option<u32>,
    /// Bytes after the packet-id: TLS records for `P_CONTROL_V1`, TLVs (or nothing)
    /// for a reset.
    pub payload: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

/// Opcode and key id of a packet's first byte.
pub fn opcode_key(first: u8) -> (u8, u8) {
    (first >> 3, first & 0x07)
}

/// Does this opcode carry the control channel (and so the layout above)?
pub fn is_control(opcode: u8) -> bool {
    matches!(
        opcode,
        P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_SERVER_V1
            | P_CONTROL_SOFT_RESET_V1
            | P_CONTROL_V1
            | P_ACK_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_SERVER_V2
    )
}

/// Parse one control packet (`packet` starts at the opcode byte) with the connection's
/// tls-auth block. `None` when the bytes do not fit the layout.
pub fn parse_control(packet: &[u8], auth: Auth) -> Option<Control<'_>> {
    let (opcode, key_id) = opcode_key(*packet.first()?);
    if !is_control(opcode) {
        return None;
    }
    let mut at = 1 + SESSION_ID_LEN;
    let mut replay_id = 0;
    if auth.hmac_len > 0 {
        at += usize::from(auth.hmac_len);
        replay_id = be32(packet, at)?;
        at += REPLAY_LEN;
    }
    let acks = *packet.get(at)?;
    if acks > MAX_ACKS {
        return None;
    }
    at += 1 + 4 * usize::from(acks);
    if acks > 0 {
        at += SESSION_ID_LEN;
    }
    if opcode == P_ACK_V1 {
        // No message packet-id and nothing after the remote session id.
        return (packet.len() == at).then_some(Control {
            opcode,
            key_id,
            replay_id,
            acks,
            packet_id: None,
            payload: &[],
        });
    }
    let packet_id = be32(packet, at)?;
    Some(Control {
        opcode,
        key_id,
        replay_id,
        acks,
        packet_id: Some(packet_id),
        payload: packet.get(at + 4..)?,
    })
}

/// `true` when `b` is a list of (type u16, length u16, value) TLVs ending exactly.
fn tlvs_tile(mut b: &[u8]) -> bool {
    while !b.is_empty() {
        let Some(len) = b
            .get(2..4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            return false;
        };
        match b.get(4 + len..) {
            Some(rest) => b = rest,
            None => return false,
        }
    }
    true
}

/// The tls-auth block of a direction whose first packet is the hard reset `packet`
/// (starting at the opcode byte), or `None` when no size fits (tls-crypt, or not
/// OpenVPN). See the module doc for the rule.
pub fn detect_auth(packet: &[u8]) -> Option<Auth> {
    let (opcode, key_id) = opcode_key(*packet.first()?);
    let reset = matches!(
        opcode,
        P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_SERVER_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_SERVER_V2
    );
    if !reset || key_id != 0 {
        return None;
    }
    let fits = |hmac_len: u8, exact: bool| {
        let auth = Auth { hmac_len };
        parse_control(packet, auth).filter(|c| {
            let replay_ok = hmac_len == 0 || (1..=MAX_FIRST_REPLAY_ID).contains(&c.replay_id);
            let payload_ok = if exact {
                c.payload.is_empty()
            } else {
                tlvs_tile(c.payload)
            };
            replay_ok && c.packet_id == Some(0) && payload_ok
        })
    };
    // A reset that ends right after its packet-id under some size beats one whose tail
    // only parses as TLVs under another.
    [true, false].into_iter().find_map(|exact| {
        HMAC_SIZES
            .into_iter()
            .find(|&h| fits(h, exact).is_some())
            .map(|hmac_len| Auth { hmac_len })
    })
}

/// Which side a readable hard reset comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// What the first bytes of a TCP direction say about OpenVPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A hard reset whose control channel is readable (no tls-auth, or tls-auth).
    Reset(Side, Auth),
    /// A client reset of a tls-crypt (or tls-crypt-v2) connection: the TLS handshake
    /// inside is encrypted.
    TlsCrypt,
    NotOpenVpn,
    /// Every byte so far fits a reset; more are needed (at most [`MAX_RESET_LEN`] + 2).
    NeedMore,
}

/// Does `prefix` (the first bytes of a TCP direction) open with an OpenVPN hard reset?
pub fn sniff(prefix: &[u8]) -> Sniffed {
    let (Some(len), Some(&first)) = (
        prefix
            .get(..2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))),
        prefix.get(2),
    ) else {
        // A length alone says little; an impossible one (already from its first
        // byte) says no.
        let too_long = match prefix {
            [] => false,
            [hi] => usize::from(*hi) > MAX_RESET_LEN >> 8,
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])) > MAX_RESET_LEN,
        };
        return if too_long {
            Sniffed::NotOpenVpn
        } else {
            Sniffed::NeedMore
        };
    };
    let (opcode, key_id) = opcode_key(first);
    let side = match opcode {
        P_CONTROL_HARD_RESET_CLIENT_V2 | P_CONTROL_HARD_RESET_CLIENT_V3 => Side::Client,
        P_CONTROL_HARD_RESET_SERVER_V2 => Side::Server,
        _ => return Sniffed::NotOpenVpn,
    };
    let min = 1 + SESSION_ID_LEN + 1 + 4;
    if key_id != 0 || len < min || len > MAX_RESET_LEN {
        return Sniffed::NotOpenVpn;
    }
    if opcode == P_CONTROL_HARD_RESET_CLIENT_V3 {
        // tls-crypt-v2 only; its wrapped client key can make it longer than a V2 reset
        // but the replay id right after the session id is enough to decide.
        let Some(replay_id) = be32(prefix, 2 + 1 + SESSION_ID_LEN) else {
            return Sniffed::NeedMore;
        };
        return if len >= TLS_CRYPT_MIN_RESET && (1..=MAX_FIRST_REPLAY_ID).contains(&replay_id) {
            Sniffed::TlsCrypt
        } else {
            Sniffed::NotOpenVpn
        };
    }
    let Some(packet) = prefix.get(2..2 + len) else {
        return Sniffed::NeedMore;
    };
    if let Some(auth) = detect_auth(packet) {
        return Sniffed::Reset(side, auth);
    }
    let tls_crypt = side == Side::Client
        && len >= TLS_CRYPT_MIN_RESET
        && be32(packet, 1 + SESSION_ID_LEN)
            .is_some_and(|id| (1..=MAX_FIRST_REPLAY_ID).contains(&id));
    if tls_crypt {
        Sniffed::TlsCrypt
    } else {
        Sniffed::NotOpenVpn
    }
}

/// Test helper: a packet (with its 2-byte TCP length) as OpenVPN writes it.
#[cfg(test)]
pub(crate) fn test_packet(
    opcode: u8,
    hmac_len: u8,
    acks: &[u32],
    packet_id: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![opcode << 3];
    p.extend(b"SESSIONA");
    if hmac_len > 0 {
        p.extend((0..hmac_len).map(|i| i.wrapping_mul(37).wrapping_add(0x91)));
        p.extend(1u32.to_be_bytes());
        p.extend(0x6500_0000u32.to_be_bytes());
    }
    p.push(acks.len() as u8);
    for a in acks {
        p.extend(a.to_be_bytes());
    }
    if !acks.is_empty() {
        p.extend(b"SESSIONB");
    }
    if let Some(id) = packet_id {
        p.extend(id.to_be_bytes());
    }
    p.extend(payload);
    let mut v = (p.len() as u16).to_be_bytes().to_vec();
    v.extend(p);
    v
}

/// Test helper: a tls-crypt client reset (with its TCP length): opcode, session id,
/// replay id 1 and time, then 32 bytes of tag and 5 of ciphertext.
#[cfg(test)]
pub(crate) fn test_tls_crypt_reset() -> Vec<u8> {
    let mut p = vec![P_CONTROL_HARD_RESET_CLIENT_V2 << 3];
    p.extend(b"SESSIONA");
    p.extend(1u32.to_be_bytes());
    p.extend(0x6500_0000u32.to_be_bytes());
    p.extend((0..37u8).map(|i| i.wrapping_mul(97).wrapping_add(0xa5)));
    let mut v = (p.len() as u16).to_be_bytes().to_vec();
    v.extend(&p);
    v
}

#[cfg(test)]
mod tests {
    use super::test_packet as packet;
    use super::*;

    #[test]
    fn detects_each_hmac_size() {
        for h in HMAC_SIZES {
            let reset = packet(P_CONTROL_HARD_RESET_CLIENT_V2, h, &[], Some(0), &[]);
            assert_eq!(
                sniff(&reset),
                Sniffed::Reset(Side::Client, Auth { hmac_len: h }),
                "hmac {h}"
            );
            let server = packet(P_CONTROL_HARD_RESET_SERVER_V2, h, &[0], Some(0), &[]);
            assert_eq!(
                sniff(&server),
                Sniffed::Reset(Side::Server, Auth { hmac_len: h })
            );
        }
    }

    #[test]
    fn early_negotiation_tlv_is_accepted() {
        let tlv = [0, 1, 0, 2, 0, 1];
        let reset = packet(P_CONTROL_HARD_RESET_CLIENT_V2, 20, &[], Some(0), &tlv);
        assert_eq!(
            sniff(&reset),
            Sniffed::Reset(Side::Client, Auth { hmac_len: 20 })
        );
    }

    #[test]
    fn control_packet_fields() {
        let p = packet(P_CONTROL_V1, 32, &[0, 7], Some(3), &[0x16, 3, 3]);
        let c = parse_control(&p[2..], Auth { hmac_len: 32 }).unwrap();
        assert_eq!(c.opcode, P_CONTROL_V1);
        assert_eq!((c.acks, c.packet_id, c.replay_id), (2, Some(3), 1));
        assert_eq!(c.payload, &[0x16, 3, 3]);
        let ack = packet(P_ACK_V1, 0, &[1], None, &[]);
        let c = parse_control(&ack[2..], Auth { hmac_len: 0 }).unwrap();
        assert_eq!((c.opcode, c.packet_id), (P_ACK_V1, None));
        // An ack with trailing bytes, or with too many acks, does not fit.
        let bad = packet(P_ACK_V1, 0, &[1], None, &[9]);
        assert_eq!(parse_control(&bad[2..], Auth { hmac_len: 0 }), None);
        let many = packet(P_CONTROL_V1, 0, &[0; 9], Some(1), &[]);
        assert_eq!(parse_control(&many[2..], Auth { hmac_len: 0 }), None);
        assert_eq!(
            parse_control(&[P_DATA_V2 << 3, 0, 0], Auth { hmac_len: 0 }),
            None
        );
    }

    #[test]
    fn tls_crypt_reset_is_recognised() {
        let v = test_tls_crypt_reset();
        assert_eq!(sniff(&v), Sniffed::TlsCrypt);
        let mut v3 = v.clone();
        v3[2] = P_CONTROL_HARD_RESET_CLIENT_V3 << 3;
        assert_eq!(sniff(&v3[..17]), Sniffed::TlsCrypt);
    }

    #[test]
    fn truncated_needs_more_and_bad_is_not_openvpn() {
        let reset = packet(P_CONTROL_HARD_RESET_CLIENT_V2, 20, &[], Some(0), &[]);
        for cut in 0..reset.len() {
            assert_eq!(sniff(&reset[..cut]), Sniffed::NeedMore, "cut {cut}");
        }
        // Length shorter than any reset, longer than the cap, wrong key id.
        assert_eq!(sniff(&[0, 5, 0x38, 0, 0]), Sniffed::NotOpenVpn);
        assert_eq!(sniff(&[0x10, 0, 0x38]), Sniffed::NotOpenVpn);
        assert_eq!(sniff(&[0x10, 0]), Sniffed::NotOpenVpn);
        assert_eq!(sniff(b"S"), Sniffed::NotOpenVpn, "PostgreSQL's SSL answer");
        assert_eq!(sniff(&[1]), Sniffed::NeedMore);
        assert_eq!(sniff(&[0, 14, 0x39]), Sniffed::NotOpenVpn);
        // A TLS record, HTTP.
        assert_eq!(sniff(&[0x16, 3, 1, 0, 0x40, 1]), Sniffed::NotOpenVpn);
        assert_eq!(sniff(b"GET / HTTP/1.1"), Sniffed::NotOpenVpn);
        // Right length and opcode, but the message packet-id is not 0.
        let odd = packet(P_CONTROL_HARD_RESET_CLIENT_V2, 0, &[], Some(5), &[]);
        assert_eq!(sniff(&odd), Sniffed::NotOpenVpn);
        // Length announcing more bytes than the structure explains.
        let long = packet(P_CONTROL_HARD_RESET_CLIENT_V2, 0, &[], Some(0), &[1, 2, 3]);
        assert_eq!(sniff(&long), Sniffed::NotOpenVpn);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = sniff(&data);
            let _ = detect_auth(&data);
            for h in HMAC_SIZES {
                let _ = parse_control(&data, Auth { hmac_len: h });
            }
        }
    }
}
