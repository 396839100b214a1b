//! Micro-benchmark: QUIC Initial key derivation and packet open, `ring` vs RustCrypto.
//!
//! Times, per candidate: (1) deriving both directions' Initial key/iv/hp from an 8-byte
//! DCID with the QUIC v1 salt (RFC 9001 5.2), and (2) removing header protection from
//! and opening (tag verified) one 1200-byte client Initial. The packet is built once
//! with `ring` and checked to open with both candidates before timing. Plain timing loop
//! (best of several rounds) so it builds quickly on a small machine; see README.md.

use std::hint::black_box;
use std::time::Instant;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Keys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

fn label_info(label: &str, len: u16) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut v = Vec::with_capacity(4 + full.len());
    v.extend_from_slice(&len.to_be_bytes());
    v.push(full.len() as u8);
    v.extend_from_slice(full.as_bytes());
    v.push(0);
    v
}

mod with_ring {
    use super::*;
    use ring::{aead, hkdf};

    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }

    fn expand(prk: &hkdf::Prk, label: &str, out: &mut [u8]) {
        let info = label_info(label, out.len() as u16);
        prk.expand(&[&info], Len(out.len())).unwrap().fill(out).unwrap();
    }

    fn side(initial: &hkdf::Prk, label: &str) -> Keys {
        let mut secret = [0u8; 32];
        expand(initial, label, &mut secret);
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        let mut k = Keys { key: [0; 16], iv: [0; 12], hp: [0; 16] };
        expand(&prk, "quic key", &mut k.key);
        expand(&prk, "quic iv", &mut k.iv);
        expand(&prk, "quic hp", &mut k.hp);
        k
    }

    pub fn derive(dcid: &[u8]) -> (Keys, Keys) {
        let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, &SALT_V1).extract(dcid);
        (side(&initial, "client in"), side(&initial, "server in"))
    }

    /// Build a protected 1200-byte client Initial (long header, 4-byte PN).
    pub fn build(k: &Keys, pn: u32) -> Vec<u8> {
        let total = 1200usize;
        let mut hdr = vec![0xc3u8, 0, 0, 0, 1, 8];
        hdr.extend_from_slice(&DCID);
        hdr.extend_from_slice(&[0, 0]); // scid len, token len
        let pn_off = hdr.len() + 2;
        let len = total - pn_off; // pn + payload + tag
        hdr.extend_from_slice(&(0x4000u16 | len as u16).to_be_bytes());
        hdr.extend_from_slice(&pn.to_be_bytes());
        let mut payload = vec![0u8; total - hdr.len() - 16];
        payload[0] = 0x06; // CRYPTO frame header, rest zero = padding-ish
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &k.key).unwrap());
        let mut nonce = k.iv;
        for (i, b) in (pn as u64).to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let tag = key
            .seal_in_place_separate_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(&hdr), &mut payload)
            .unwrap();
        let mut pkt = hdr;
        pkt.extend_from_slice(&payload);
        pkt.extend_from_slice(tag.as_ref());
        let hp = aead::quic::HeaderProtectionKey::new(&aead::quic::AES_128, &k.hp).unwrap();
        let mask = hp.new_mask(&pkt[pn_off + 4..pn_off + 20]).unwrap();
        pkt[0] ^= mask[0] & 0x0f;
        for i in 0..4 {
            pkt[pn_off + i] ^= mask[1 + i];
        }
        assert_eq!(pkt.len(), total);
        pkt
    }

    /// Remove header protection and open; returns plaintext length. Keys are set up
    /// inside (as the parser does once per connection) only when `fresh` is false.
    pub fn open(hp: &aead::quic::HeaderProtectionKey, key: &aead::LessSafeKey, iv: &[u8; 12], pkt: &mut [u8], pn_off: usize) -> usize {
        let mask = hp.new_mask(&pkt[pn_off + 4..pn_off + 20]).unwrap();
        pkt[0] ^= mask[0] & 0x0f;
        let pn_len = (pkt[0] & 3) as usize + 1;
        let mut pn = 0u64;
        for i in 0..pn_len {
            pkt[pn_off + i] ^= mask[1 + i];
            pn = (pn << 8) | pkt[pn_off + i] as u64;
        }
        let mut nonce = *iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let (hdr, body) = pkt.split_at_mut(pn_off + pn_len);
        key.open_in_place(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(&*hdr), body)
            .unwrap()
            .len()
    }

    pub fn keys(k: &Keys) -> (aead::quic::HeaderProtectionKey, aead::LessSafeKey) {
        (
            aead::quic::HeaderProtectionKey::new(&aead::quic::AES_128, &k.hp).unwrap(),
            aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &k.key).unwrap()),
        )
    }
}

mod with_rustcrypto {
    use super::*;
    use aes::cipher::{BlockEncrypt, KeyInit};
    use aes_gcm::aead::AeadInPlace;
    use hkdf::Hkdf;
    use sha2::Sha256;

    fn expand(hk: &Hkdf<Sha256>, label: &str, out: &mut [u8]) {
        let info = label_info(label, out.len() as u16);
        hk.expand(&info, out).unwrap();
    }

    fn side(initial: &Hkdf<Sha256>, label: &str) -> Keys {
        let mut secret = [0u8; 32];
        expand(initial, label, &mut secret);
        let hk = Hkdf::<Sha256>::from_prk(&secret).unwrap();
        let mut k = Keys { key: [0; 16], iv: [0; 12], hp: [0; 16] };
        expand(&hk, "quic key", &mut k.key);
        expand(&hk, "quic iv", &mut k.iv);
        expand(&hk, "quic hp", &mut k.hp);
        k
    }

    pub fn derive(dcid: &[u8]) -> (Keys, Keys) {
        let (_, initial) = Hkdf::<Sha256>::extract(Some(&SALT_V1), dcid);
        (side(&initial, "client in"), side(&initial, "server in"))
    }

    pub fn keys(k: &Keys) -> (aes::Aes128, aes_gcm::Aes128Gcm) {
        (aes::Aes128::new_from_slice(&k.hp).unwrap(), aes_gcm::Aes128Gcm::new_from_slice(&k.key).unwrap())
    }

    pub fn open(hp: &aes::Aes128, key: &aes_gcm::Aes128Gcm, iv: &[u8; 12], pkt: &mut [u8], pn_off: usize) -> usize {
        let mut block = aes::Block::clone_from_slice(&pkt[pn_off + 4..pn_off + 20]);
        hp.encrypt_block(&mut block);
        pkt[0] ^= block[0] & 0x0f;
        let pn_len = (pkt[0] & 3) as usize + 1;
        let mut pn = 0u64;
        for i in 0..pn_len {
            pkt[pn_off + i] ^= block[1 + i];
            pn = (pn << 8) | pkt[pn_off + i] as u64;
        }
        let mut nonce = *iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let (hdr, rest) = pkt.split_at_mut(pn_off + pn_len);
        let (body, tag) = rest.split_at_mut(rest.len() - 16);
        key.decrypt_in_place_detached(
            aes_gcm::Nonce::from_slice(&nonce),
            hdr,
            body,
            aes_gcm::Tag::from_slice(tag),
        )
        .unwrap();
        body.len()
    }
}

/// Best-of-rounds nanoseconds per call.
fn time<F: FnMut()>(iters: u32, mut f: F) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    best
}

fn main() {
    let (rc, rs) = with_ring::derive(&DCID);
    let (cc, cs) = with_rustcrypto::derive(&DCID);
    assert_eq!((rc, rs), (cc, cs), "candidates disagree on keys");
    // RFC 9001 A.1 client key for this DCID.
    assert_eq!(rc.key, [0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76, 0xd5, 0x46, 0x77, 0x30, 0xef, 0xcb, 0xe3, 0xb1, 0xa2, 0x2d]);
    let pkt = with_ring::build(&rc, 2);
    let pn_off = 18;

    let (rhp, rkey) = with_ring::keys(&rc);
    let (chp, ckey) = with_rustcrypto::keys(&rc);
    let mut buf = pkt.clone();
    let n1 = with_ring::open(&rhp, &rkey, &rc.iv, &mut buf, pn_off);
    let mut buf = pkt.clone();
    let n2 = with_rustcrypto::open(&chp, &ckey, &rc.iv, &mut buf, pn_off);
    assert_eq!(n1, n2);

    let iters = 20_000;
    let mut buf = pkt.clone();
    let copy = time(iters, || {
        buf.copy_from_slice(black_box(&pkt));
        black_box(&buf);
    });
    let d_ring = time(iters, || {
        black_box(with_ring::derive(black_box(&DCID)));
    });
    let d_rc = time(iters, || {
        black_box(with_rustcrypto::derive(black_box(&DCID)));
    });
    let s_ring = time(iters, || {
        black_box(with_ring::keys(black_box(&rc)));
    });
    let s_rc = time(iters, || {
        black_box(with_rustcrypto::keys(black_box(&rc)));
    });
    let o_ring = time(iters, || {
        buf.copy_from_slice(&pkt);
        black_box(with_ring::open(&rhp, &rkey, &rc.iv, &mut buf, pn_off));
    });
    let o_rc = time(iters, || {
        buf.copy_from_slice(&pkt);
        black_box(with_rustcrypto::open(&chp, &ckey, &rc.iv, &mut buf, pn_off));
    });
    println!("{:<44} {:>10} {:>12}", "operation (ns per call, best of 7)", "ring", "rustcrypto");
    println!("{:<44} {:>10.0} {:>12.0}", "derive client+server Initial secrets/keys", d_ring, d_rc);
    println!("{:<44} {:>10.0} {:>12.0}", "key schedule (hp + AEAD key objects)", s_ring, s_rc);
    println!("{:<44} {:>10.0} {:>12.0}", "unprotect + open 1200-byte Initial", o_ring - copy, o_rc - copy);
    println!("(open figures exclude a {copy:.0} ns 1200-byte copy done in each loop)");
}
