//! Initial packet protection (RFC 9001 5.2-5.4, RFC 9369 3.3): key derivation from the
//! client's DCID, header-protection removal and AEAD open with the tag verified.
//!
//! Crypto is `ring` (HKDF-SHA256, AES-128-GCM, AES-128 header protection); nothing is
//! hand-rolled here but the HKDF-Expand-Label framing (RFC 8446 7.1) and the packet
//! number arithmetic. `ring` was picked by a measured benchmark:
//! `benches/crypto-pick/README.md`.
//!
//! Invariants: [`open`] never panics on any bytes and never returns plaintext whose
//! tag did not verify. It works on a caller-owned copy of the packet because header
//! protection and decryption are in place.

use ring::{aead, hkdf};

use super::version::Params;

/// AES-128-GCM tag length; also the header-protection sample length.
pub const TAG_LEN: usize = 16;
const SAMPLE_LEN: usize = 16;
/// The sample starts 4 bytes after the packet number offset (RFC 9001 5.4.2).
const SAMPLE_OFFSET: usize = 4;

/// Raw key material of one direction (kept for tests and debugging).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyMaterial {
    pub key: [u8; 16],
    pub iv: [u8; 12],
    pub hp: [u8; 16],
}

/// Ready-to-use Initial keys of one direction.
pub struct DirKeys {
    hp: aead::quic::HeaderProtectionKey,
    aead: aead::LessSafeKey,
    iv: [u8; 12],
}

impl std::fmt::Debug for DirKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirKeys(..)")
    }
}

/// Both directions' Initial keys, derived from one DCID.
#[derive(Debug)]
pub struct InitialKeys {
    pub client: DirKeys,
    pub server: DirKeys,
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label with an empty context (RFC 8446 7.1). Labels here are at most 12
/// bytes, so the info fits a fixed array.
fn expand_label(prk: &hkdf::Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    const PREFIX: &[u8] = b"tls13 ";
    let mut info = [0u8; 2 + 1 + 6 + 32 + 1];
    let n = 2 + 1 + PREFIX.len() + label.len() + 1;
    let len = u16::try_from(out.len()).ok()?;
    let label_len = u8::try_from(PREFIX.len() + label.len()).ok()?;
    let buf = info.get_mut(..n)?;
    let (l, rest) = buf.split_at_mut(2);
    l.copy_from_slice(&len.to_be_bytes());
    let (ll, rest) = rest.split_at_mut(1);
    ll.copy_from_slice(&[label_len]);
    let (p, rest) = rest.split_at_mut(PREFIX.len());
    p.copy_from_slice(PREFIX);
    let (lab, ctx) = rest.split_at_mut(label.len());
    lab.copy_from_slice(label);
    ctx.copy_from_slice(&[0]);
    let parts = [info.get(..n)?];
    let okm = prk.expand(&parts, Len(out.len())).ok()?;
    okm.fill(out).ok()
}

fn material(initial: &hkdf::Prk, side: &[u8], v2: bool) -> Option<KeyMaterial> {
    let mut secret = [0u8; 32];
    expand_label(initial, side, &mut secret)?;
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
    let (lk, liv, lhp): (&[u8], &[u8], &[u8]) = if v2 {
        (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
    } else {
        (b"quic key", b"quic iv", b"quic hp")
    };
    let mut m = KeyMaterial {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&prk, lk, &mut m.key)?;
    expand_label(&prk, liv, &mut m.iv)?;
    expand_label(&prk, lhp, &mut m.hp)?;
    Some(m)
}

/// Client and server key material for `dcid` under a version's parameters.
pub fn derive_material(params: Params, dcid: &[u8]) -> Option<(KeyMaterial, KeyMaterial)> {
    let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, params.salt).extract(dcid);
    Some((
        material(&initial, b"client in", params.v2)?,
        material(&initial, b"server in", params.v2)?,
    ))
}

impl DirKeys {
    pub fn new(m: &KeyMaterial) -> Option<Self> {
        Some(DirKeys {
            hp: aead::quic::HeaderProtectionKey::new(&aead::quic::AES_128, &m.hp).ok()?,
            aead: aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &m.key).ok()?),
            iv: m.iv,
        })
    }

    /// Seal a packet (tests build packets with this): `pkt` holds the unprotected
    /// header (PN included, `pn_len` bytes at `pn_offset`) followed by the plaintext;
    /// the tag is appended and header protection applied.
    /// Not used by the analyzer (a tap never sends): for tests and the fuzz target,
    /// which need valid Initials. `None` when `pkt` is too short to hold the packet
    /// number and the header-protection sample.
    #[doc(hidden)]
    pub fn seal(&self, pkt: &mut Vec<u8>, pn_offset: usize, pn: u64) -> Option<()> {
        let pn_len = usize::from(pkt.first()? & 3) + 1;
        let hdr_len = pn_offset.checked_add(pn_len)?;
        if hdr_len > pkt.len() {
            return None;
        }
        let mut body = pkt.split_off(hdr_len);
        let tag = self
            .aead
            .seal_in_place_separate_tag(self.nonce(pn), aead::Aad::from(&pkt[..]), &mut body)
            .ok()?;
        pkt.extend_from_slice(&body);
        pkt.extend_from_slice(tag.as_ref());
        let at = pn_offset.checked_add(SAMPLE_OFFSET)?;
        let sample = pkt.get(at..at.checked_add(SAMPLE_LEN)?)?;
        let mask = self.hp.new_mask(sample).ok()?;
        let first = pkt.first_mut()?;
        *first ^= mask[0] & if *first & 0x80 != 0 { 0x0f } else { 0x1f };
        for (i, m) in mask.iter().skip(1).take(pn_len).enumerate() {
            *pkt.get_mut(pn_offset + i)? ^= m;
        }
        Some(())
    }

    fn nonce(&self, pn: u64) -> aead::Nonce {
        let mut n = self.iv;
        for (d, p) in n.iter_mut().skip(4).zip(pn.to_be_bytes()) {
            *d ^= p;
        }
        aead::Nonce::assume_unique_for_key(n)
    }
}

impl InitialKeys {
    pub fn derive(params: Params, dcid: &[u8]) -> Option<Self> {
        let (c, s) = derive_material(params, dcid)?;
        Some(InitialKeys {
            client: DirKeys::new(&c)?,
            server: DirKeys::new(&s)?,
        })
    }
}

/// Why a packet could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Too short for a header-protection sample plus tag.
    TooShort,
    /// The AEAD tag did not verify.
    Auth,
}

/// An opened packet: header bytes (unprotected) and plaintext are ranges of the
/// caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub pn: u64,
    pub header_len: usize,
    pub payload_len: usize,
}

/// Reconstruct a full packet number from its truncated form (RFC 9000 A.3).
pub fn decode_pn(largest: Option<u64>, truncated: u64, pn_nbits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << pn_nbits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62).saturating_sub(win) {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Remove header protection from and open one long-header packet in place. `pkt` is
/// exactly the packet (through the end of its Length field); `pn_offset` comes from
/// the parsed header. On success the plaintext is
/// `pkt[header_len..header_len + payload_len]`.
pub fn open(
    keys: &DirKeys,
    pkt: &mut [u8],
    pn_offset: usize,
    largest: Option<u64>,
) -> Result<Opened, OpenError> {
    let s0 = pn_offset
        .checked_add(SAMPLE_OFFSET)
        .ok_or(OpenError::TooShort)?;
    let sample = pkt.get(s0..s0 + SAMPLE_LEN).ok_or(OpenError::TooShort)?;
    let mask = keys.hp.new_mask(sample).map_err(|_| OpenError::TooShort)?;
    let first = pkt.first_mut().ok_or(OpenError::TooShort)?;
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut truncated = 0u64;
    for i in 0..pn_len {
        let b = pkt.get_mut(pn_offset + i).ok_or(OpenError::TooShort)?;
        *b ^= *mask.get(1 + i).ok_or(OpenError::TooShort)?;
        truncated = (truncated << 8) | u64::from(*b);
    }
    let pn = decode_pn(largest, truncated, 8 * pn_len as u32);
    let header_len = pn_offset + pn_len;
    if pkt.len() < header_len + TAG_LEN {
        return Err(OpenError::TooShort);
    }
    let (hdr, body) = pkt.split_at_mut(header_len);
    let plain = keys
        .aead
        .open_in_place(keys.nonce(pn), aead::Aad::from(&*hdr), body)
        .map_err(|_| OpenError::Auth)?;
    Ok(Opened {
        pn,
        header_len,
        payload_len: plain.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{self, hex};
    use super::super::version::{self, Support};
    use super::*;

    fn params(v: u32) -> Params {
        match version::support(v) {
            Support::Tls(p) => p,
            other => panic!("{other:?}"),
        }
    }

    fn check_material(v: u32, ck: &str, civ: &str, chp: &str, sk: &str, siv: &str, shp: &str) {
        let (c, s) = derive_material(params(v), &hex(vectors::DCID)).unwrap();
        assert_eq!(c.key.to_vec(), hex(ck));
        assert_eq!(c.iv.to_vec(), hex(civ));
        assert_eq!(c.hp.to_vec(), hex(chp));
        assert_eq!(s.key.to_vec(), hex(sk));
        assert_eq!(s.iv.to_vec(), hex(siv));
        assert_eq!(s.hp.to_vec(), hex(shp));
    }

    #[test]
    fn rfc9001_a1_keys() {
        use vectors::v1::*;
        check_material(
            version::V1,
            CLIENT_KEY,
            CLIENT_IV,
            CLIENT_HP,
            SERVER_KEY,
            SERVER_IV,
            SERVER_HP,
        );
    }

    #[test]
    fn rfc9369_a1_keys() {
        use vectors::v2::*;
        check_material(
            version::V2,
            CLIENT_KEY,
            CLIENT_IV,
            CLIENT_HP,
            SERVER_KEY,
            SERVER_IV,
            SERVER_HP,
        );
    }

    fn open_vector(v: u32, pkt_hex: &str, client: bool, plain_hdr: &str, pn: u64) -> Vec<u8> {
        let keys = InitialKeys::derive(params(v), &hex(vectors::DCID)).unwrap();
        let mut pkt = hex(pkt_hex);
        let dir = if client { &keys.client } else { &keys.server };
        let o = open(dir, &mut pkt, 18, None).unwrap();
        assert_eq!(o.pn, pn);
        assert_eq!(&pkt[..o.header_len], &hex(plain_hdr)[..]);
        pkt[o.header_len..o.header_len + o.payload_len].to_vec()
    }

    /// RFC 9001 A.2/A.3 (v1) and RFC 9369 A.2/A.3 (v2): the sample client and server
    /// Initials open to the sample payloads.
    #[test]
    fn rfc9001_and_rfc9369_samples_open() {
        let cases = [
            (
                version::V1,
                [vectors::v1::CLIENT_PACKET, vectors::v1::CLIENT_PLAIN_HEADER],
                [vectors::v1::SERVER_PACKET, vectors::v1::SERVER_PLAIN_HEADER],
            ),
            (
                version::V2,
                [vectors::v2::CLIENT_PACKET, vectors::v2::CLIENT_PLAIN_HEADER],
                [vectors::v2::SERVER_PACKET, vectors::v2::SERVER_PLAIN_HEADER],
            ),
        ];
        for (v, [cp, ch], [sp, sh]) in cases {
            let p = open_vector(v, cp, true, ch, 2);
            let mut want = hex(vectors::CLIENT_CRYPTO_FRAME);
            want.resize(1162, 0);
            assert_eq!(p, want, "{v:#x}");
            let s = open_vector(v, sp, false, sh, 1);
            assert_eq!(s, hex(vectors::SERVER_PAYLOAD), "{v:#x}");
        }
    }

    #[test]
    fn seal_reproduces_rfc_packet() {
        let keys = InitialKeys::derive(params(version::V1), &hex(vectors::DCID)).unwrap();
        let mut pkt = hex(vectors::v1::CLIENT_PLAIN_HEADER);
        let mut payload = hex(vectors::CLIENT_CRYPTO_FRAME);
        payload.resize(1162, 0);
        pkt.extend_from_slice(&payload);
        keys.client.seal(&mut pkt, 18, 2).expect("seal");
        assert_eq!(pkt, hex(vectors::v1::CLIENT_PACKET));
    }

    #[test]
    fn corrupted_tag_and_short_packets() {
        let keys = InitialKeys::derive(params(version::V1), &hex(vectors::DCID)).unwrap();
        let mut pkt = hex(vectors::v1::CLIENT_PACKET);
        let last = pkt.len() - 1;
        pkt[last] ^= 1;
        assert_eq!(open(&keys.client, &mut pkt, 18, None), Err(OpenError::Auth));
        // Wrong direction's keys.
        let mut pkt = hex(vectors::v1::CLIENT_PACKET);
        assert_eq!(open(&keys.server, &mut pkt, 18, None), Err(OpenError::Auth));
        let full = hex(vectors::v1::CLIENT_PACKET);
        for n in [0, 1, 18, 21, 22, 37, 38, 39] {
            let mut p = full[..n].to_vec();
            assert!(open(&keys.client, &mut p, 18, None).is_err());
        }
        let mut p = full.clone();
        assert!(open(&keys.client, &mut p, usize::MAX - 2, None).is_err());
    }

    #[test]
    fn pn_decode_rfc9000_a3() {
        assert_eq!(decode_pn(Some(0xa82f30ea), 0x9b32, 16), 0xa82f9b32);
        assert_eq!(decode_pn(None, 0, 8), 0);
        assert_eq!(decode_pn(Some(0xff), 0x01, 8), 0x101);
        assert_eq!(decode_pn(Some(0x101), 0xff, 8), 0xff);
        assert_eq!(
            decode_pn(Some(u64::MAX), 5, 32),
            decode_pn(Some(u64::MAX), 5, 32)
        );
    }
}
