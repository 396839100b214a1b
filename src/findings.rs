//! Findings: short stable codes naming what a security team acts on in one handshake.
//!
//! [`handshake_findings`] is a pure function of the parsed handshake and, when the
//! server chain was readable, its validation [`Verdict`]. Codes come out in the fixed
//! order of [`ALL`], each at most once, so the `findings` column is stable for a given
//! capture. The README's "Findings" table gives each code's threshold and the standard
//! behind it; keep the two in step. Cipher properties come from tls-parser's IANA table
//! (through [`crate::tls::names::cipher_suite`]); version knowledge from
//! [`crate::tls::names`].

use tls_parser::{TlsCipherAu, TlsCipherEnc, TlsCipherKx};

use crate::certs::chain::{Trust, ValidationStatus, Verdict};
use crate::tls::model::HandshakeInfo;
use crate::tls::names::{cipher_suite, is_deprecated_version};

pub const DEPRECATED_PROTOCOL: &str = "deprecated_protocol";
pub const WEAK_CIPHER: &str = "weak_cipher";
pub const NO_FORWARD_SECRECY: &str = "no_forward_secrecy";
pub const WEAK_KEY: &str = "weak_key";
pub const WEAK_SIGNATURE: &str = "weak_signature";
pub const CERT_EXPIRED: &str = "cert_expired";
pub const CERT_NOT_YET_VALID: &str = "cert_not_yet_valid";
pub const SELF_SIGNED_CERT: &str = "self_signed_cert";
pub const UNTRUSTED_CHAIN: &str = "untrusted_chain";
pub const SNI_MISMATCH: &str = "sni_mismatch";
pub const MISSING_SNI: &str = "missing_sni";
pub const FALLBACK_SCSV: &str = "fallback_scsv";
pub const DOWNGRADE_SENTINEL: &str = "downgrade_sentinel";
pub const INSECURE_RENEGOTIATION: &str = "insecure_renegotiation";

/// Every code, in output order.
pub const ALL: [&str; 14] = [
    DEPRECATED_PROTOCOL,
    WEAK_CIPHER,
    NO_FORWARD_SECRECY,
    WEAK_KEY,
    WEAK_SIGNATURE,
    CERT_EXPIRED,
    CERT_NOT_YET_VALID,
    SELF_SIGNED_CERT,
    UNTRUSTED_CHAIN,
    SNI_MISMATCH,
    MISSING_SNI,
    FALLBACK_SCSV,
    DOWNGRADE_SENTINEL,
    INSECURE_RENEGOTIATION,
];

/// One line saying what a code means and the threshold behind it (for `tlstap report`;
/// the README has the standards).
pub fn describe(code: &str) -> &'static str {
    match code {
        DEPRECATED_PROTOCOL => "SSLv2, SSLv3, TLS 1.0 or TLS 1.1 negotiated",
        WEAK_CIPHER => "NULL, EXPORT, anonymous, RC4, DES or 3DES cipher suite",
        NO_FORWARD_SECRECY => "static RSA/DH/ECDH or plain PSK key exchange",
        WEAK_KEY => "RSA/DSA/DH key < 2048 bits or EC key < 224 bits (certificate or key exchange)",
        WEAK_SIGNATURE => "MD5 or SHA-1 signature on a non-root certificate of the chain",
        CERT_EXPIRED => "a certificate of the chain had expired at capture time",
        CERT_NOT_YET_VALID => "a certificate of the chain was not yet valid at capture time",
        SELF_SIGNED_CERT => "self-signed server certificate that is not a trusted root",
        UNTRUSTED_CHAIN => "chain does not lead to a trusted root (unknown issuer, incomplete, bad signature)",
        SNI_MISMATCH => "the server certificate does not name the SNI",
        MISSING_SNI => "the ClientHello has no server_name",
        FALLBACK_SCSV => "client sent TLS_FALLBACK_SCSV: a version-fallback retry",
        DOWNGRADE_SENTINEL => "ServerHello random carries the RFC 8446 downgrade sentinel below the client's best version",
        INSECURE_RENEGOTIATION => "no RFC 5746 renegotiation_info from both sides (TLS <= 1.2)",
        _ => "",
    }
}

/// RSA, DSA and finite-field DH below this many bits give less than 112-bit security
/// (NIST SP 800-57 Part 1 rev. 5 table 2; SP 800-131A rev. 2; CA/B Forum BR 6.1.5).
pub const MIN_RSA_DH_BITS: u32 = 2048;
/// EC keys below this many bits give less than 112-bit security (same sources).
pub const MIN_EC_BITS: u32 = 224;
/// Symmetric keys below this many bits are export-grade or otherwise breakable.
pub const MIN_CIPHER_BITS: u16 = 112;

/// TLS named groups (RFC 8422 / RFC 4492) with an order below [`MIN_EC_BITS`]:
/// sect163k1..sect193r2 (1..=5) and secp160k1..secp192r1 (15..=19).
const WEAK_GROUPS: [u16; 10] = [1, 2, 3, 4, 5, 15, 16, 17, 18, 19];

/// RFC 8446 4.1.3: last 8 bytes of ServerHello.random when a TLS 1.3 server negotiates
/// TLS 1.2 (`..01`) or TLS 1.1 and below (`..00`).
const DOWNGRADE_TLS12: [u8; 8] = *b"DOWNGRD\x01";
const DOWNGRADE_TLS11: [u8; 8] = *b"DOWNGRD\x00";

const TLS13: u16 = 0x0304;

/// Is `(key_type, bits)` below the thresholds above?
pub fn weak_key(key_type: Option<&str>, bits: Option<u32>) -> bool {
    match (key_type, bits) {
        (Some("rsa" | "dsa" | "dh"), Some(b)) => b < MIN_RSA_DH_BITS,
        (Some("ec"), Some(b)) => b < MIN_EC_BITS,
        _ => false,
    }
}

/// The highest non-GREASE version the client offered.
fn client_max_version(hs: &HandshakeInfo) -> Option<u16> {
    let ch = hs.client_hello.as_ref()?;
    ch.supported_versions
        .iter()
        .copied()
        .filter(|v| v & 0x0f0f != 0x0a0a)
        .chain(std::iter::once(ch.version))
        .max()
}

/// The findings of one handshake, in [`ALL`] order.
pub fn handshake_findings(hs: &HandshakeInfo, verdict: Option<&Verdict>) -> Vec<&'static str> {
    let mut out = Vec::new();
    let ch = hs.client_hello.as_ref();
    let sh = hs.server_hello.as_ref();
    let version = hs.version;
    let pre13 = version.is_some_and(|v| v < TLS13 && v != 0x0002);

    if version.is_some_and(is_deprecated_version) {
        out.push(DEPRECATED_PROTOCOL);
    }
    // An SSLv2 SERVER-HELLO carries cipher specs, not a TLS cipher suite.
    let suite = hs.negotiated_cipher().and_then(cipher_suite);
    if let Some(cs) = suite {
        let weak_enc = matches!(
            cs.enc,
            TlsCipherEnc::Null
                | TlsCipherEnc::Des
                | TlsCipherEnc::TripleDes
                | TlsCipherEnc::Rc2
                | TlsCipherEnc::Rc4
        );
        let anon = cs.au == TlsCipherAu::Null;
        if weak_enc || anon || cs.enc_size < MIN_CIPHER_BITS {
            out.push(WEAK_CIPHER);
        }
        let static_kx = matches!(
            cs.kx,
            TlsCipherKx::Rsa | TlsCipherKx::Dh | TlsCipherKx::Ecdh | TlsCipherKx::Psk
        );
        if static_kx && !anon {
            out.push(NO_FORWARD_SECRECY);
        }
    }
    let ske = hs.server_key_exchange;
    let weak_dh = ske
        .and_then(|k| k.dh_bits)
        .is_some_and(|b| b < MIN_RSA_DH_BITS);
    let weak_curve = ske
        .and_then(|k| k.curve)
        .is_some_and(|c| WEAK_GROUPS.contains(&c));
    let weak_leaf =
        verdict.is_some_and(|v| weak_key(v.facts.leaf_key_type.as_deref(), v.facts.leaf_key_bits));
    if weak_dh || weak_curve || weak_leaf {
        out.push(WEAK_KEY);
    }
    if let Some(v) = verdict {
        if v.facts.weak_signature {
            out.push(WEAK_SIGNATURE);
        }
        if v.expired {
            out.push(CERT_EXPIRED);
        }
        if v.not_yet_valid {
            out.push(CERT_NOT_YET_VALID);
        }
        match v.facts.trust {
            Trust::Untrusted(ValidationStatus::SelfSigned) => out.push(SELF_SIGNED_CERT),
            Trust::Untrusted(
                ValidationStatus::UnknownIssuer
                | ValidationStatus::IncompleteChain
                | ValidationStatus::BadSignature,
            ) => out.push(UNTRUSTED_CHAIN),
            _ => {}
        }
        if v.sni_matches == Some(false) {
            out.push(SNI_MISMATCH);
        }
    }
    if ch.is_some_and(|c| c.sni.is_none()) {
        out.push(MISSING_SNI);
    }
    if ch.is_some_and(|c| c.fallback_scsv) {
        out.push(FALLBACK_SCSV);
    }
    if let (Some(sh), Some(v), Some(max)) = (sh, version, client_max_version(hs)) {
        let tail = sh
            .random
            .len()
            .checked_sub(8)
            .and_then(|i| sh.random.get(i..));
        let sentinel = tail == Some(&DOWNGRADE_TLS12[..]) || tail == Some(&DOWNGRADE_TLS11[..]);
        if sentinel && v < max && !sh.is_hrr {
            out.push(DOWNGRADE_SENTINEL);
        }
    }
    if pre13 {
        if let Some(sh) = sh {
            // RFC 5746: both sides must signal; the client by extension or SCSV.
            let client_ok = ch.is_none_or(|c| c.secure_renegotiation);
            if !(sh.secure_renegotiation && client_ok) {
                out.push(INSECURE_RENEGOTIATION);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::model::{ClientHello, ServerHello, ServerKeyExchange};

    fn tls12(cipher: u16) -> HandshakeInfo {
        HandshakeInfo {
            client_hello: Some(ClientHello {
                version: 0x0303,
                sni: Some("a.example".into()),
                secure_renegotiation: true,
                ..ClientHello::default()
            }),
            server_hello: Some(ServerHello {
                version: 0x0303,
                cipher,
                random: vec![0; 32],
                secure_renegotiation: true,
                ..ServerHello::default()
            }),
            version: Some(0x0303),
            ..HandshakeInfo::default()
        }
    }

    #[test]
    fn every_code_is_described() {
        for code in ALL {
            assert!(!describe(code).is_empty(), "{code}");
        }
    }

    #[test]
    fn clean_ecdhe_has_none() {
        assert!(handshake_findings(&tls12(0xc02f), None).is_empty());
    }

    #[test]
    fn cipher_properties() {
        // TLS_RSA_WITH_RC4_128_SHA: weak and no FS.
        assert_eq!(
            handshake_findings(&tls12(0x0005), None),
            [WEAK_CIPHER, NO_FORWARD_SECRECY]
        );
        // TLS_RSA_WITH_3DES_EDE_CBC_SHA.
        assert_eq!(
            handshake_findings(&tls12(0x000a), None),
            [WEAK_CIPHER, NO_FORWARD_SECRECY]
        );
        // TLS_DH_anon_WITH_AES_128_CBC_SHA: anonymous, so weak; not "no FS".
        assert_eq!(handshake_findings(&tls12(0x0034), None), [WEAK_CIPHER]);
        // TLS_RSA_EXPORT_WITH_DES40_CBC_SHA.
        assert_eq!(
            handshake_findings(&tls12(0x0008), None),
            [WEAK_CIPHER, NO_FORWARD_SECRECY]
        );
        // TLS_RSA_WITH_NULL_SHA256.
        assert!(handshake_findings(&tls12(0x003b), None).contains(&WEAK_CIPHER));
        // Unknown suite: no guess.
        assert!(handshake_findings(&tls12(0x0a0a), None).is_empty());
    }

    #[test]
    fn weak_dh_and_curve() {
        let mut hs = tls12(0x009e); // DHE_RSA_WITH_AES_128_GCM_SHA256
        hs.server_key_exchange = Some(ServerKeyExchange {
            dh_bits: Some(1024),
            ..ServerKeyExchange::default()
        });
        assert_eq!(handshake_findings(&hs, None), [WEAK_KEY]);
        hs.server_key_exchange = Some(ServerKeyExchange {
            curve: Some(19),
            ..ServerKeyExchange::default()
        });
        assert_eq!(handshake_findings(&hs, None), [WEAK_KEY]);
        assert!(weak_key(Some("ec"), Some(192)));
        assert!(!weak_key(Some("ec"), Some(256)));
        assert!(!weak_key(Some("ed25519"), Some(253)));
    }

    #[test]
    fn downgrade_sentinel_only_when_client_wanted_more() {
        let mut hs = tls12(0xc02f);
        if let Some(sh) = hs.server_hello.as_mut() {
            sh.random[24..].copy_from_slice(b"DOWNGRD\x01");
        }
        // A TLS 1.2-only client: the sentinel is expected, not a signal.
        assert!(handshake_findings(&hs, None).is_empty());
        if let Some(ch) = hs.client_hello.as_mut() {
            ch.supported_versions = vec![0x1a1a, 0x0304, 0x0303];
        }
        assert_eq!(handshake_findings(&hs, None), [DOWNGRADE_SENTINEL]);
    }

    #[test]
    fn sni_scsv_renegotiation() {
        let mut hs = tls12(0xc02f);
        if let Some(ch) = hs.client_hello.as_mut() {
            ch.sni = None;
            ch.fallback_scsv = true;
        }
        if let Some(sh) = hs.server_hello.as_mut() {
            sh.secure_renegotiation = false;
        }
        assert_eq!(
            handshake_findings(&hs, None),
            [MISSING_SNI, FALLBACK_SCSV, INSECURE_RENEGOTIATION]
        );
    }

    #[test]
    fn deprecated_versions() {
        for (v, want) in [
            (0x0300, true),
            (0x0301, true),
            (0x0302, true),
            (0x0303, false),
            (0xfeff, true),
            (0xfefd, false),
            (0xfefc, false),
        ] {
            let mut hs = tls12(0xc013);
            hs.version = Some(v);
            assert_eq!(
                handshake_findings(&hs, None).contains(&DEPRECATED_PROTOCOL),
                want,
                "{v:#x}"
            );
        }
    }
}
