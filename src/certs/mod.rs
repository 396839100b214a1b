//! Per-certificate facts for the `certificates` table.
//!
//! [`parse_certificate`] turns one DER certificate (as carried in a TLS Certificate
//! message) into a [`CertInfo`] row. It never fails and never panics: a certificate
//! x509-parser cannot read is still reported with its hashes, its size and
//! `parse_error`, plus its version and serial when the start of its TBSCertificate reads
//! as DER (OpenSSL, hence Zeek, and Arkime accept e.g. a UTCTime with a zone offset,
//! which RFC 5280 4.1.2.5.1 forbids and x509-parser rejects); every other field is left
//! empty. Deduplication, first-seen time and
//! counts belong to the caller; [`cert_sha256_hex`] is the one hash used for both the
//! row key and the handshake rows' `cert_chain_sha256`.
//!
//! Conventions, chosen to match Zeek's `x509.log` (OpenSSL underneath) so the two can be
//! compared field by field:
//! - `serial`: uppercase hex of the integer's magnitude, as OpenSSL's
//!   `i2a_ASN1_INTEGER` prints it: the one `00` byte DER adds to keep a positive
//!   integer positive is dropped, a zero serial is `00`, a (non-conforming) negative
//!   serial is `-` + magnitude. Arkime prints the raw DER bytes in lowercase instead
//!   (`00f1965d...` where Zeek says `F1965D...`).
//! - `subject` / `issuer`: see [`names`]; byte-identical to Zeek's strings once Zeek's
//!   own log escaping (`\\` for `\`, `\xHH` for bytes) is undone.
//! - `key_type` uses our lowercase vocabulary (`rsa`, `ec`, `dsa`, `dh`, `ed25519`,
//!   ...), where Zeek says `rsa`, `ecdsa`, `dsa`; `key_bits` is OpenSSL's
//!   `EVP_PKEY_bits` (RSA/DSA/DH modulus bits, EC curve order bits, 253 for Ed25519,
//!   the public key's bit length for ML-DSA).
//! - `sig_alg`: OpenSSL long name, dotted OID when unknown.
//!
//! Limits: each SAN list and the key-usage lists keep at most
//! [`CertLimits::max_list_entries`] entries (`certs.list_limit` counts the cut). The
//! certificate size itself is bounded by the TLS layer (a handshake message).

pub mod chain;
pub mod hostname;
pub mod names;
pub mod oids;
pub mod validate;

use std::net::{Ipv4Addr, Ipv6Addr};

use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::{Any, Class, FromDer, Oid, Tag};
use x509_parser::der_parser::der::parse_der_integer;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::X509Certificate;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::stats::Counters;

/// One row of the `certificates` table, minus what the caller adds (first seen, count).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Lowercase hex SHA-256 of the DER bytes.
    pub sha256: String,
    /// Lowercase hex SHA-1 of the DER bytes.
    pub sha1: String,
    pub der_len: u32,
    /// Why the certificate could not be parsed; when set, only the three fields above,
    /// and `version` and `serial` when readable (see the module doc), are filled.
    pub parse_error: Option<String>,
    /// 1..3.
    pub version: Option<u8>,
    /// Uppercase hex, OpenSSL style (see the module doc).
    pub serial: String,
    /// RFC 4514, most specific RDN first.
    pub subject: String,
    pub issuer: String,
    pub subject_cn: Option<String>,
    pub issuer_cn: Option<String>,
    pub subject_org: Option<String>,
    pub issuer_org: Option<String>,
    /// Microseconds since the Unix epoch, UTC.
    pub not_before_us: Option<i64>,
    pub not_after_us: Option<i64>,
    /// `rsa`, `ec`, `dsa`, `dh`, `ed25519`, `ed448`, `x25519`, `x448`, `ml-dsa-44`, ...
    /// or the dotted OID.
    pub key_type: Option<String>,
    pub key_bits: Option<u32>,
    pub rsa_exponent: Option<u64>,
    /// OpenSSL short curve name (`prime256v1`), dotted OID for an unknown named curve,
    /// `None` for explicit curve parameters.
    pub curve: Option<String>,
    /// OpenSSL long name (`sha256WithRSAEncryption`) or dotted OID.
    pub sig_alg: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub san_email: Vec<String>,
    pub san_uri: Vec<String>,
    /// basicConstraints cA; `None` when the extension is absent or unreadable.
    pub is_ca: Option<bool>,
    pub path_len: Option<u32>,
    /// RFC 5280 names, in bit order.
    pub key_usage: Vec<String>,
    /// OpenSSL short names (`serverAuth`, ...) or dotted OIDs.
    pub ext_key_usage: Vec<String>,
    /// Lowercase hex key identifiers.
    pub ski: Option<String>,
    pub aki: Option<String>,
    /// Entries in the embedded SCT list extension (RFC 6962).
    pub sct_count: u32,
    /// Subject equals issuer and the signature verifies with the certificate's own key;
    /// when the algorithm cannot be checked here: subject equals issuer and the AKI is
    /// absent or equals the SKI.
    pub self_signed: bool,
}

/// Caps applied while filling a [`CertInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertLimits {
    /// Entries kept per SAN list / key-usage list.
    pub max_list_entries: usize,
}

/// Default for [`CertLimits::max_list_entries`]: the largest SAN lists seen in the wild
/// (CDN certificates) hold a few hundred names.
pub const DEFAULT_MAX_LIST_ENTRIES: usize = 1024;

impl Default for CertLimits {
    fn default() -> Self {
        Self {
            max_list_entries: DEFAULT_MAX_LIST_ENTRIES,
        }
    }
}

/// Lowercase hex SHA-256 of `der`: the certificate's identity everywhere in tlstap.
pub fn cert_sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// DER bytes a parser thread keeps in its [`cert_sha256_hex_memo`]; past it the memo
/// starts over (nothing is lost: a certificate not found is simply hashed).
pub const SHA256_MEMO_BYTES: usize = 4 << 20;

thread_local! {
    static SHA256_MEMO: std::cell::RefCell<crate::memo::ByteMemo<String>> =
        std::cell::RefCell::new(crate::memo::ByteMemo::new(SHA256_MEMO_BYTES));
}

/// [`cert_sha256_hex`], remembering this thread's recent certificates: most chains
/// repeat (one site's chain on every connection), and comparing the DER is several
/// times cheaper than hashing it again.
pub fn cert_sha256_hex_memo(der: &[u8]) -> String {
    SHA256_MEMO.with(|m| {
        m.borrow_mut()
            .get_or_insert_with(der, || cert_sha256_hex(der))
    })
}

/// Lowercase hex SHA-1 of `der`.
pub fn cert_sha1_hex(der: &[u8]) -> String {
    hex::encode(Sha1::digest(der))
}

/// Parse one DER certificate with default limits. Never panics, never fails.
pub fn parse_certificate(der: &[u8]) -> CertInfo {
    let mut scratch = Counters::new();
    parse_certificate_counted(der, &CertLimits::default(), &mut scratch)
}

/// Parse one DER certificate, counting anomalies in `counters`:
/// `certs.parse_error`, `certs.trailing_data`, `certs.list_limit`,
/// `certs.extension_error`.
pub fn parse_certificate_counted(
    der: &[u8],
    limits: &CertLimits,
    counters: &mut Counters,
) -> CertInfo {
    let mut info = CertInfo {
        sha256: cert_sha256_hex(der),
        sha1: cert_sha1_hex(der),
        der_len: u32::try_from(der.len()).unwrap_or(u32::MAX),
        ..CertInfo::default()
    };
    let cert = match X509Certificate::from_der(der) {
        Ok((rest, cert)) => {
            if !rest.is_empty() {
                // OpenSSL's d2i_X509 ignores bytes after the certificate too.
                counters.bump("certs.trailing_data");
            }
            cert
        }
        Err(e) => {
            counters.bump("certs.parse_error");
            info.parse_error = Some(e.to_string());
            if let Some((version, serial)) = tbs_prefix(der) {
                info.version = version;
                info.serial = serial_hex(serial);
            }
            return info;
        }
    };
    fill(&mut info, &cert, limits, counters);
    info
}

/// Version and raw serial from the start of a certificate x509-parser rejected:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] EXPLICIT version OPTIONAL,
/// serialNumber INTEGER, ... } ... }` (RFC 5280 4.1). Nothing past the serial is read.
fn tbs_prefix(der: &[u8]) -> Option<(Option<u8>, &[u8])> {
    let (_, cert) = Any::from_der(der).ok()?;
    let (_, tbs) = Any::from_der(cert.data).ok()?;
    if cert.tag() != Tag::Sequence || tbs.tag() != Tag::Sequence {
        return None;
    }
    let (rest, first) = Any::from_der(tbs.data).ok()?;
    let (version, serial) = if first.class() == Class::ContextSpecific && first.tag() == Tag(0) {
        let (_, v) = Any::from_der(first.data).ok()?;
        let (_, serial) = Any::from_der(rest).ok()?;
        let version = match v.data {
            [n] => n.checked_add(1),
            _ => None,
        };
        (version, serial)
    } else {
        (Some(1), first)
    };
    (serial.tag() == Tag::Integer).then_some((version, serial.data))
}

fn fill(info: &mut CertInfo, cert: &X509Certificate<'_>, limits: &CertLimits, c: &mut Counters) {
    let tbs = &cert.tbs_certificate;
    info.version = u8::try_from(tbs.version.0)
        .ok()
        .and_then(|v| v.checked_add(1));
    info.serial = serial_hex(tbs.raw_serial());
    info.subject = names::format_name(&tbs.subject);
    info.issuer = names::format_name(&tbs.issuer);
    info.subject_cn = names::most_specific(&tbs.subject, oids::OID_CN);
    info.issuer_cn = names::most_specific(&tbs.issuer, oids::OID_CN);
    info.subject_org = names::most_specific(&tbs.subject, oids::OID_O);
    info.issuer_org = names::most_specific(&tbs.issuer, oids::OID_O);
    info.not_before_us = tbs.validity.not_before.timestamp().checked_mul(1_000_000);
    info.not_after_us = tbs.validity.not_after.timestamp().checked_mul(1_000_000);
    fill_key(info, &tbs.subject_pki);
    info.sig_alg = alg_name(&cert.signature_algorithm.algorithm);
    fill_extensions(info, cert, limits, c);
    info.self_signed = is_self_signed(info, cert);
}

fn alg_name(oid: &Oid<'_>) -> String {
    let dotted = oid.to_id_string();
    match oids::sig_alg_name(&dotted) {
        Some(name) => name.to_string(),
        None => dotted,
    }
}

/// OpenSSL-style serial: see the module doc.
pub fn serial_hex(raw: &[u8]) -> String {
    match raw.split_first() {
        None => "00".to_string(),
        Some((&first, _)) if first & 0x80 != 0 => {
            // Two's complement negative: magnitude = !raw + 1.
            let mut mag: Vec<u8> = raw.iter().map(|b| !b).collect();
            for b in mag.iter_mut().rev() {
                let (v, carry) = b.overflowing_add(1);
                *b = v;
                if !carry {
                    break;
                }
            }
            let start = mag
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(mag.len().saturating_sub(1));
            format!(
                "-{}",
                hex::encode_upper(mag.get(start..).unwrap_or_default())
            )
        }
        Some((&0, rest)) if rest.first().is_some_and(|b| b & 0x80 != 0) => hex::encode_upper(rest),
        Some(_) => hex::encode_upper(raw),
    }
}

/// Bits in an unsigned big-endian integer, leading zero bits not counted.
fn bit_len(be: &[u8]) -> u32 {
    let Some(start) = be.iter().position(|&b| b != 0) else {
        return 0;
    };
    let digits = be.get(start..).unwrap_or_default();
    let top = digits.first().copied().unwrap_or(0);
    let bytes = u32::try_from(digits.len()).unwrap_or(u32::MAX);
    bytes
        .saturating_sub(1)
        .saturating_mul(8)
        .saturating_add(8 - top.leading_zeros())
}

fn be_u64(be: &[u8]) -> Option<u64> {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = be.get(start..)?;
    if digits.len() > 8 {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

/// The prime `p` of DSA (`Dss-Parms`, RFC 3279) or DH (PKCS #3 / X9.42) parameters:
/// the first INTEGER inside the parameters SEQUENCE.
fn first_integer_of_sequence<'a>(params: &Any<'a>) -> Option<&'a [u8]> {
    if params.tag() != Tag::Sequence {
        return None;
    }
    let (_, p) = parse_der_integer(params.data).ok()?;
    p.as_slice().ok()
}

pub(crate) fn fill_key(info: &mut CertInfo, spki: &SubjectPublicKeyInfo<'_>) {
    let oid = spki.algorithm.algorithm.to_id_string();
    let key_type = oids::key_type_name(&oid);
    let key = &spki.subject_public_key.data;
    match key_type {
        Some("rsa") => {
            if let Ok((_, rsa)) = RSAPublicKey::from_der(key) {
                info.key_bits = Some(bit_len(rsa.modulus));
                info.rsa_exponent = be_u64(rsa.exponent);
            }
        }
        Some("ec") => {
            let named = spki
                .algorithm
                .parameters
                .as_ref()
                .filter(|p| p.tag() == Tag::Oid)
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            // Fallback when the curve is unknown: half the uncompressed point's bits.
            let from_point = match key.split_first() {
                Some((4, rest)) => u32::try_from(rest.len() / 2).ok(),
                Some((2 | 3, rest)) => u32::try_from(rest.len()).ok(),
                _ => None,
            }
            .and_then(|b| b.checked_mul(8));
            match named.as_deref().and_then(oids::curve) {
                Some((name, bits)) => {
                    info.curve = Some(name.to_string());
                    info.key_bits = Some(bits);
                }
                None => {
                    info.curve = named;
                    info.key_bits = from_point;
                }
            }
        }
        Some("dsa" | "dh") => {
            info.key_bits = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(first_integer_of_sequence)
                .map(bit_len);
        }
        Some(t) if t.starts_with("ml-dsa") => {
            info.key_bits = u32::try_from(key.len()).ok().and_then(|n| n.checked_mul(8));
        }
        Some(t) => info.key_bits = oids::fixed_key_bits(t),
        None => {}
    }
    info.key_type = Some(key_type.map_or(oid, str::to_string));
}

fn push_limited(list: &mut Vec<String>, value: String, limits: &CertLimits, c: &mut Counters) {
    if list.len() < limits.max_list_entries {
        list.push(value);
    } else {
        c.bump("certs.list_limit");
    }
}

fn ip_string(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ipv4Addr::from(v4).to_string()
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ipv6Addr::from(v6).to_string()
    } else {
        // Not an address length (name constraints use address+mask): keep the bytes.
        format!("#{}", hex::encode(bytes))
    }
}

fn push_general_names(
    info: &mut CertInfo,
    names: &[GeneralName<'_>],
    limits: &CertLimits,
    c: &mut Counters,
) {
    for name in names {
        match name {
            GeneralName::DNSName(s) => push_limited(&mut info.san_dns, s.to_string(), limits, c),
            GeneralName::RFC822Name(s) => {
                push_limited(&mut info.san_email, s.to_string(), limits, c)
            }
            GeneralName::URI(s) => push_limited(&mut info.san_uri, s.to_string(), limits, c),
            GeneralName::IPAddress(b) => push_limited(&mut info.san_ip, ip_string(b), limits, c),
            _ => {}
        }
    }
}

/// Only the SAN lists of `cert` (default limits), for name checks.
pub(crate) fn fill_sans(info: &mut CertInfo, cert: &X509Certificate<'_>) {
    let mut scratch = Counters::new();
    for ext in cert.tbs_certificate.iter_extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            push_general_names(
                info,
                &san.general_names,
                &CertLimits::default(),
                &mut scratch,
            );
        }
    }
}

const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

fn fill_extensions(
    info: &mut CertInfo,
    cert: &X509Certificate<'_>,
    limits: &CertLimits,
    c: &mut Counters,
) {
    for ext in cert.tbs_certificate.iter_extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                push_general_names(info, &san.general_names, limits, c)
            }
            ParsedExtension::BasicConstraints(bc) => {
                info.is_ca = Some(bc.ca);
                info.path_len = bc.path_len_constraint;
            }
            ParsedExtension::KeyUsage(ku) => {
                for (bit, name) in KEY_USAGE_NAMES.iter().enumerate() {
                    if (ku.flags >> bit) & 1 == 1 {
                        push_limited(&mut info.key_usage, (*name).to_string(), limits, c);
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(_) => {
                // Re-read the raw SEQUENCE OF OID: x509-parser's struct loses the order.
                match <Vec<Oid<'_>>>::from_der(ext.value) {
                    Ok((_, list)) => {
                        for oid in list {
                            let dotted = oid.to_id_string();
                            let name = oids::eku_name(&dotted).map_or(dotted, str::to_string);
                            push_limited(&mut info.ext_key_usage, name, limits, c);
                        }
                    }
                    Err(_) => c.bump("certs.extension_error"),
                }
            }
            ParsedExtension::SubjectKeyIdentifier(ki) => info.ski = Some(hex::encode(ki.0)),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                info.aki = aki.key_identifier.as_ref().map(|k| hex::encode(k.0));
            }
            ParsedExtension::SCT(list) => {
                info.sct_count = u32::try_from(list.len()).unwrap_or(u32::MAX);
            }
            ParsedExtension::ParseError { .. } => c.bump("certs.extension_error"),
            _ => {}
        }
    }
}

fn is_self_signed(info: &CertInfo, cert: &X509Certificate<'_>) -> bool {
    if info.subject != info.issuer {
        return false;
    }
    match validate::verify_signed_by(cert, cert.public_key()) {
        validate::SigCheck::Valid => true,
        validate::SigCheck::Invalid => false,
        validate::SigCheck::Unsupported => match (&info.aki, &info.ski) {
            (None, _) => true,
            (Some(aki), Some(ski)) => aki == ski,
            (Some(_), None) => false,
        },
    }
}

#[cfg(test)]
mod tests;
