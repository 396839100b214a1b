//! Signature checks: does a given public key verify a certificate's signature?
//!
//! Used for `CertInfo::self_signed`, and the building block for chain validation (not
//! written yet: no trust store, no time or name checks here). Verification is done by
//! `ring` through x509-parser's `verify` feature, which supports RSA PKCS#1 v1.5 with
//! SHA-1 (keys of 1024..=8192 bits) and SHA-2 (2048..=8192 bits), RSA-PSS with SHA-2,
//! ECDSA P-256/P-384 with SHA-256/384, and Ed25519. Everything else (MD5, 512-bit RSA,
//! DSA, explicit EC parameters, Ed448, ML-DSA...) is reported as
//! [`SigCheck::Unsupported`], never as invalid: an old or exotic signature is not a
//! forged one. Pure function, no limits needed (one signature per call).

use x509_parser::asn1_rs::FromDer;
use x509_parser::error::X509Error;
use x509_parser::prelude::X509Certificate;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Outcome of checking one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigCheck {
    Valid,
    Invalid,
    /// The algorithm, key size or key form is outside what `ring` verifies.
    Unsupported,
}

/// Does `signer` verify `cert`'s signature?
pub fn verify_signed_by(cert: &X509Certificate<'_>, signer: &SubjectPublicKeyInfo<'_>) -> SigCheck {
    if let Some(early) = rsa_precheck(cert, signer) {
        return early;
    }
    match cert.verify_signature(Some(signer)) {
        Ok(()) => SigCheck::Valid,
        Err(X509Error::SignatureUnsupportedAlgorithm) => SigCheck::Unsupported,
        Err(_) => SigCheck::Invalid,
    }
}

const OID_RSA_SHA1: &str = "1.2.840.113549.1.1.5";
const OID_RSA_SHA1_OIW: &str = "1.3.14.3.2.29";
const OID_RSA_SHA2: [&str; 4] = [
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.2.840.113549.1.1.10",
];

/// ring rejects RSA keys outside 1024 (SHA-1) / 2048 (SHA-2) ..= 8192 bits and
/// exponents that are even, below 3 or above 2^33-1, as a *verification failure*.
/// Such signatures are not wrong, only unverifiable here, so tell them apart first.
/// `None`: go on and verify. A signer key that is not RSA at all cannot have made an
/// RSA signature: `Invalid`.
fn rsa_precheck(cert: &X509Certificate<'_>, signer: &SubjectPublicKeyInfo<'_>) -> Option<SigCheck> {
    let sig = cert.signature_algorithm.algorithm.to_id_string();
    let min_bits = if sig == OID_RSA_SHA1 || sig == OID_RSA_SHA1_OIW {
        1024
    } else if OID_RSA_SHA2.contains(&sig.as_str()) {
        2048
    } else {
        return None;
    };
    let Ok((_, rsa)) = RSAPublicKey::from_der(&signer.subject_public_key.data) else {
        return Some(SigCheck::Invalid);
    };
    let bits = super::bit_len(rsa.modulus);
    let exp_ok = super::be_u64(rsa.exponent).is_some_and(|e| e >= 3 && e % 2 == 1 && e < (1 << 33));
    if (min_bits..=8192).contains(&bits) && exp_ok {
        None
    } else {
        Some(SigCheck::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDTRUST: &[u8] = include_bytes!("../../testdata/certs/addtrust_root.der");
    const RDP_SELF: &[u8] = include_bytes!("../../testdata/certs/rdp_selfsigned.der");
    const PANTZ: &[u8] = include_bytes!("../../testdata/certs/ecdsa_p384_pantz.der");

    fn check(der: &[u8], signer: &[u8]) -> SigCheck {
        let (_, cert) = X509Certificate::from_der(der).expect("test cert parses");
        let (_, key) = X509Certificate::from_der(signer).expect("test cert parses");
        verify_signed_by(&cert, key.public_key())
    }

    #[test]
    fn valid_invalid_unsupported() {
        assert_eq!(check(ADDTRUST, ADDTRUST), SigCheck::Valid);
        let mut bad = ADDTRUST.to_vec();
        if let Some(b) = bad.last_mut() {
            *b ^= 0x80;
        }
        assert_eq!(check(&bad, ADDTRUST), SigCheck::Invalid);
        // Wrong key (an EC key for an RSA signature) is a failure, not "unsupported".
        assert_eq!(check(ADDTRUST, PANTZ), SigCheck::Invalid);
        // 512-bit RSA: ring refuses it, so it cannot be judged.
        assert_eq!(check(RDP_SELF, RDP_SELF), SigCheck::Unsupported);
    }
}
