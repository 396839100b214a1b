//! Chain validation of a server certificate chain, as a passive observer can do it.
//!
//! [`Validator::check`] answers, for one handshake: does the chain the server sent lead
//! to a trusted root (the Mozilla set from `webpki-roots`, plus any `--ca-file` roots),
//! was every certificate on that path valid *at the packet time of the capture* (never
//! today: the same capture always gives the same answer), and does the leaf name the SNI?
//!
//! Path building does not trust the order the server sent: from the leaf it follows
//! issuer name → any sent certificate or trust anchor with that subject whose key
//! verifies the signature, backtracking over alternatives (cross-signs, extra or stale
//! certificates). A certificate that *is* a trust anchor (same subject and key) ends the
//! path. Bounded by [`MAX_PATH_LEN`] and [`MAX_SIGNATURE_CHECKS`] per chain.
//!
//! Not checked (a passive tap cannot, or it is out of scope): revocation, name
//! constraints, key usage / EKU, policy, path-length constraints, CT.
//!
//! The expensive part (parsing and signatures) depends on the chain only, so it is cached
//! by the chain's certificate hashes ([`ChainFacts`], at most `cache_limit` entries; past
//! that the cache stops growing and chains are re-checked); the time and SNI checks are
//! redone per handshake, exactly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use x509_parser::asn1_rs::FromDer;
use x509_parser::prelude::X509Certificate;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::hostname::{host_matches, CertNames};
use super::validate::{verify_signed_by, SigCheck};
use super::{fill_key, oids, CertInfo};

/// Longest path followed from the leaf to an anchor (leaf and anchor included).
pub const MAX_PATH_LEN: usize = 8;
/// Signature verifications spent on one chain before giving up on other paths.
pub const MAX_SIGNATURE_CHECKS: usize = 32;
/// Default number of chains whose [`ChainFacts`] are cached.
pub const DEFAULT_CACHE_LIMIT: usize = 100_000;

/// `validation_status` vocabulary, one value per handshake with a readable chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationStatus {
    /// Trusted path, every certificate on it valid at capture time, SNI matches (or
    /// there is no SNI to compare).
    Ok,
    /// Trusted path, but a certificate on it had expired at capture time.
    Expired,
    /// Trusted path, but a certificate on it was not yet valid at capture time.
    NotYetValid,
    /// Trusted and in date, but the leaf does not name the SNI.
    NameMismatch,
    /// Trusted path, in date, names match, but a signature on it uses an algorithm or
    /// key size that cannot be verified here (MD5, 512-bit RSA, DSA...).
    UnverifiableSignature,
    /// The leaf is self-issued and self-signed, and not a trust anchor.
    SelfSigned,
    /// The path ends at a self-signed root that is not trusted.
    UnknownIssuer,
    /// The path ends at a certificate whose issuer was not sent and is not a root: a
    /// missing intermediate (or a root we do not know that the server did not send).
    IncompleteChain,
    /// An issuer with the right name was found, but its key does not verify the
    /// signature (and no other path worked).
    BadSignature,
    /// The leaf certificate could not be parsed.
    Unparseable,
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Ok => "ok",
            ValidationStatus::Expired => "expired",
            ValidationStatus::NotYetValid => "not_yet_valid",
            ValidationStatus::NameMismatch => "name_mismatch",
            ValidationStatus::UnverifiableSignature => "unverifiable_signature",
            ValidationStatus::SelfSigned => "self_signed",
            ValidationStatus::UnknownIssuer => "unknown_issuer",
            ValidationStatus::IncompleteChain => "incomplete_chain",
            ValidationStatus::BadSignature => "bad_signature",
            ValidationStatus::Unparseable => "unparseable",
        }
    }

    /// Every value, for documentation and tests.
    pub const ALL: [ValidationStatus; 10] = [
        ValidationStatus::Ok,
        ValidationStatus::Expired,
        ValidationStatus::NotYetValid,
        ValidationStatus::NameMismatch,
        ValidationStatus::UnverifiableSignature,
        ValidationStatus::SelfSigned,
        ValidationStatus::UnknownIssuer,
        ValidationStatus::IncompleteChain,
        ValidationStatus::BadSignature,
        ValidationStatus::Unparseable,
    ];
}

/// How the path search ended (time- and name-independent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    /// Trusted, through at least one signature that could not be verified.
    TrustedUnverified,
    Untrusted(ValidationStatus),
}

/// What a chain says, independent of the time and the SNI (so it can be cached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFacts {
    pub trust: Trust,
    /// Latest notBefore / earliest notAfter (Unix seconds) of the certificates on the
    /// path built (the whole trusted path, else the part that could be built).
    pub path_not_before: Option<i64>,
    pub path_not_after: Option<i64>,
    /// Names of the leaf; `None` when it did not parse.
    pub leaf_names: Option<CertNames>,
    /// The leaf key as reported in `certificates` (`rsa`, 1024), for key-size checks.
    pub leaf_key_type: Option<String>,
    pub leaf_key_bits: Option<u32>,
    /// A certificate on the path other than a self-signed root is signed with MD5,
    /// MD2, MD4 or SHA-1.
    pub weak_signature: bool,
}

/// The outcome for one handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: ValidationStatus,
    /// `None` when there is no SNI or the leaf could not be parsed.
    pub sni_matches: Option<bool>,
    pub expired: bool,
    pub not_yet_valid: bool,
    pub facts: Arc<ChainFacts>,
}

/// Why a `--ca-file` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: not PEM certificates ({1})")]
    Pem(String, String),
    #[error("{0}: no CERTIFICATE block found")]
    Empty(String),
}

/// Subject (full DER Name) and SubjectPublicKeyInfo (full DER) of a trusted root.
#[derive(Debug, Clone)]
struct Anchor {
    spki: Vec<u8>,
}

/// Trust anchors indexed by subject.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    by_subject: HashMap<Vec<u8>, Vec<Anchor>>,
    len: usize,
}

/// DER SEQUENCE around `content` (webpki-roots stores Name and SPKI contents only).
fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

impl TrustStore {
    /// The Mozilla root program's server-authentication roots (`webpki-roots`), built
    /// once per process.
    pub fn mozilla() -> Self {
        static MOZILLA: OnceLock<TrustStore> = OnceLock::new();
        MOZILLA
            .get_or_init(|| {
                let mut s = TrustStore::default();
                for ta in webpki_roots::TLS_SERVER_ROOTS {
                    s.insert(
                        der_sequence(&ta.subject),
                        der_sequence(&ta.subject_public_key_info),
                    );
                }
                s
            })
            .clone()
    }

    fn insert(&mut self, subject: Vec<u8>, spki: Vec<u8>) {
        self.by_subject
            .entry(subject)
            .or_default()
            .push(Anchor { spki });
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add every certificate of a PEM file as a trust anchor; returns how many.
    pub fn add_pem_file(&mut self, path: &std::path::Path) -> Result<usize, TrustError> {
        let name = path.display().to_string();
        let data = std::fs::read(path).map_err(|e| TrustError::Io(name.clone(), e))?;
        let mut added = 0;
        for pem in x509_parser::pem::Pem::iter_from_buffer(&data) {
            let pem = pem.map_err(|e| TrustError::Pem(name.clone(), e.to_string()))?;
            if pem.label != "CERTIFICATE" {
                continue;
            }
            let cert = pem
                .parse_x509()
                .map_err(|e| TrustError::Pem(name.clone(), e.to_string()))?;
            let subject = cert.subject().as_raw().to_vec();
            let spki = cert.public_key().raw.to_vec();
            self.insert(subject, spki);
            added += 1;
        }
        if added == 0 {
            return Err(TrustError::Empty(name));
        }
        Ok(added)
    }

    fn anchors_named(&self, subject: &[u8]) -> &[Anchor] {
        self.by_subject.get(subject).map_or(&[], Vec::as_slice)
    }

    fn is_anchor(&self, cert: &X509Certificate<'_>) -> bool {
        let spki = cert.public_key().raw;
        self.anchors_named(cert.subject().as_raw())
            .iter()
            .any(|a| a.spki == spki)
    }
}

/// Chain validation with a trust store and a bounded cache of [`ChainFacts`].
pub struct Validator {
    store: TrustStore,
    cache: Mutex<HashMap<String, Arc<ChainFacts>>>,
    cache_limit: usize,
}

impl Validator {
    pub fn new(store: TrustStore, cache_limit: usize) -> Self {
        Validator {
            store,
            cache: Mutex::new(HashMap::new()),
            cache_limit,
        }
    }

    /// Validate `chain` (DER, as sent, leaf first) whose certificates hash to `hashes`,
    /// at `time_s` (Unix seconds, packet time), for `sni`. `None` for an empty chain.
    pub fn check(
        &self,
        chain: &[Vec<u8>],
        hashes: &[String],
        time_s: i64,
        sni: Option<&str>,
    ) -> Option<Verdict> {
        if chain.is_empty() {
            return None;
        }
        let key = hashes.concat();
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let facts = match cached {
            Some(f) => f,
            None => {
                let f = Arc::new(chain_facts(chain, &self.store));
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() < self.cache_limit {
                    cache.insert(key, f.clone());
                }
                f
            }
        };
        Some(verdict(facts, time_s, sni))
    }
}

fn verdict(facts: Arc<ChainFacts>, time_s: i64, sni: Option<&str>) -> Verdict {
    let expired = facts.path_not_after.is_some_and(|t| time_s > t);
    let not_yet_valid = facts.path_not_before.is_some_and(|t| time_s < t);
    let sni_matches = match (sni, &facts.leaf_names) {
        (Some(host), Some(names)) => Some(host_matches(host, names)),
        _ => None,
    };
    let status = match facts.trust {
        Trust::Untrusted(s) => s,
        _ if expired => ValidationStatus::Expired,
        _ if not_yet_valid => ValidationStatus::NotYetValid,
        _ if sni_matches == Some(false) => ValidationStatus::NameMismatch,
        Trust::TrustedUnverified => ValidationStatus::UnverifiableSignature,
        Trust::Trusted => ValidationStatus::Ok,
    };
    Verdict {
        status,
        sni_matches,
        expired,
        not_yet_valid,
        facts,
    }
}

/// Where one step of the path search got to.
enum Step {
    /// Reached a trust anchor; `unverified` when a signature on the way was not checkable.
    Trusted { path: Vec<usize>, unverified: bool },
    /// Dead end: the best failure seen and the partial path to it.
    Failed {
        status: ValidationStatus,
        path: Vec<usize>,
    },
}

/// How far a failed path got, to keep the most telling one when every path fails: a
/// sound chain up to a root we do not trust beats a signature that did not verify
/// (a re-keyed or look-alike CA with the same name as a trusted one), which beats a
/// chain that stops at a missing issuer.
fn failure_rank(s: ValidationStatus) -> u8 {
    match s {
        ValidationStatus::UnknownIssuer => 3,
        ValidationStatus::BadSignature => 2,
        ValidationStatus::IncompleteChain => 1,
        _ => 0,
    }
}

struct Search<'a, 'c> {
    certs: &'a [Option<X509Certificate<'c>>],
    store: &'a TrustStore,
    checks: usize,
}

impl Search<'_, '_> {
    fn verify(&mut self, cert: &X509Certificate<'_>, key: &SubjectPublicKeyInfo<'_>) -> SigCheck {
        self.checks += 1;
        verify_signed_by(cert, key)
    }

    /// Depth-first from `path.last()` towards an anchor.
    fn extend(&mut self, path: &mut Vec<usize>, unverified: bool) -> Step {
        let Some(&at) = path.last() else {
            return Step::Failed {
                status: ValidationStatus::Unparseable,
                path: Vec::new(),
            };
        };
        let Some(Some(cert)) = self.certs.get(at) else {
            return Step::Failed {
                status: ValidationStatus::Unparseable,
                path: path.clone(),
            };
        };
        if self.store.is_anchor(cert) {
            return Step::Trusted {
                path: path.clone(),
                unverified,
            };
        }
        let issuer = cert.issuer().as_raw();
        let mut best = ValidationStatus::IncompleteChain;
        let mut best_path = path.clone();
        for anchor in self.store.anchors_named(issuer) {
            if self.checks >= MAX_SIGNATURE_CHECKS {
                break;
            }
            let Ok((_, key)) = SubjectPublicKeyInfo::from_der(&anchor.spki) else {
                continue;
            };
            match self.verify(cert, &key) {
                SigCheck::Valid => {
                    return Step::Trusted {
                        path: path.clone(),
                        unverified,
                    }
                }
                SigCheck::Unsupported => {
                    return Step::Trusted {
                        path: path.clone(),
                        unverified: true,
                    }
                }
                SigCheck::Invalid => best = ValidationStatus::BadSignature,
            }
        }
        if cert.subject().as_raw() == issuer {
            // Self-issued. When its own key verifies it, it is a root the store does not
            // hold (or a self-signed leaf): the path ends here. A trusted root with the
            // same name but another key is not its issuer.
            if self.verify(cert, cert.public_key()) != SigCheck::Invalid {
                let status = if path.len() == 1 {
                    ValidationStatus::SelfSigned
                } else {
                    ValidationStatus::UnknownIssuer
                };
                return Step::Failed {
                    status,
                    path: path.clone(),
                };
            }
            // Signed by another key with the same name (a CA and a server sharing one
            // DN, as MySQL's generated certificates do): look for it among those sent;
            // when it was not sent this is `incomplete_chain`, as for any missing issuer
            // (a passive observer cannot tell it from a corrupted self-signature).
        }
        if path.len() >= MAX_PATH_LEN {
            return Step::Failed {
                status: best,
                path: best_path,
            };
        }
        for (i, cand) in self.certs.iter().enumerate() {
            let Some(cand) = cand else { continue };
            if path.contains(&i) || cand.subject().as_raw() != issuer {
                continue;
            }
            if self.checks >= MAX_SIGNATURE_CHECKS {
                break;
            }
            let sub_unverified = match self.verify(cert, cand.public_key()) {
                SigCheck::Valid => unverified,
                SigCheck::Unsupported => true,
                SigCheck::Invalid => {
                    if failure_rank(ValidationStatus::BadSignature) > failure_rank(best) {
                        best = ValidationStatus::BadSignature;
                        best_path = path.clone();
                    }
                    continue;
                }
            };
            path.push(i);
            let step = self.extend(path, sub_unverified);
            path.pop();
            match step {
                Step::Trusted { .. } => return step,
                Step::Failed { status, path: p } => {
                    if failure_rank(status) > failure_rank(best)
                        || (failure_rank(status) == failure_rank(best) && p.len() > best_path.len())
                    {
                        best = status;
                        best_path = p;
                    }
                }
            }
        }
        Step::Failed {
            status: best,
            path: best_path,
        }
    }
}

/// Signature algorithms a security team should no longer accept on a certificate (RFC
/// 6151 for MD5, RFC 9155 / CA/B Forum BR 7.1.3.2 for SHA-1).
fn weak_sig_alg(cert: &X509Certificate<'_>) -> bool {
    let dotted = cert.signature_algorithm.algorithm.to_id_string();
    oids::sig_alg_name(&dotted).is_some_and(|name| {
        let n = name.to_ascii_lowercase();
        // `dsaWithSHA` is SHA-0.
        ["md2", "md4", "md5", "sha1"].iter().any(|w| n.contains(w)) || n == "dsawithsha"
    })
}

/// Parse, build the path, and collect everything that does not depend on time or SNI.
pub fn chain_facts(chain: &[Vec<u8>], store: &TrustStore) -> ChainFacts {
    let certs: Vec<Option<X509Certificate<'_>>> = chain
        .iter()
        .map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
        .collect();
    let Some(Some(leaf)) = certs.first() else {
        return ChainFacts {
            trust: Trust::Untrusted(ValidationStatus::Unparseable),
            path_not_before: None,
            path_not_after: None,
            leaf_names: None,
            leaf_key_type: None,
            leaf_key_bits: None,
            weak_signature: false,
        };
    };
    let mut search = Search {
        certs: &certs,
        store,
        checks: 0,
    };
    let (trust, path) = match search.extend(&mut vec![0], false) {
        Step::Trusted { path, unverified } => (
            if unverified {
                Trust::TrustedUnverified
            } else {
                Trust::Trusted
            },
            path,
        ),
        Step::Failed { status, path } => (Trust::Untrusted(status), path),
    };
    let on_path = || {
        path.iter()
            .filter_map(|&i| certs.get(i).and_then(Option::as_ref))
    };
    let path_not_before = on_path().map(|c| c.validity().not_before.timestamp()).max();
    let path_not_after = on_path().map(|c| c.validity().not_after.timestamp()).min();
    let weak_signature = on_path()
        .filter(|c| c.subject().as_raw() != c.issuer().as_raw())
        .any(weak_sig_alg);
    let mut key = CertInfo::default();
    fill_key(&mut key, leaf.public_key());
    let mut info = CertInfo::default();
    super::fill_sans(&mut info, leaf);
    let leaf_names = CertNames {
        dns: info.san_dns,
        ips: info.san_ip.iter().filter_map(|s| s.parse().ok()).collect(),
        cn: super::names::most_specific(leaf.subject(), oids::OID_CN),
    };
    ChainFacts {
        trust,
        path_not_before,
        path_not_after,
        leaf_names: Some(leaf_names),
        leaf_key_type: key.key_type,
        leaf_key_bits: key.key_bits,
        weak_signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDTRUST: &[u8] = include_bytes!("../../testdata/certs/addtrust_root.der");

    #[test]
    fn mozilla_store_loads() {
        let s = TrustStore::mozilla();
        assert!(s.len() > 100, "{} roots", s.len());
    }

    #[test]
    fn der_sequence_long_form() {
        assert_eq!(der_sequence(&[1, 2]), vec![0x30, 2, 1, 2]);
        let big = vec![0u8; 300];
        assert_eq!(&der_sequence(&big)[..4], &[0x30, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn self_signed_root_not_in_store() {
        let f = chain_facts(&[ADDTRUST.to_vec()], &TrustStore::default());
        assert_eq!(f.trust, Trust::Untrusted(ValidationStatus::SelfSigned));
        let v = verdict(Arc::new(f), 0, Some("x.example"));
        assert_eq!(v.status, ValidationStatus::SelfSigned);
        assert_eq!(v.sni_matches, Some(false));
        assert!(v.not_yet_valid);
    }

    const LEAF: &[u8] = include_bytes!("../../testdata/certs/loopback_leaf.der");
    const MYSQL_V1: &[u8] = include_bytes!("../../testdata/certs/mysql_v1_server.der");

    fn loopback_ca() -> (TrustStore, Vec<u8>) {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loopback/ca.pem");
        let mut store = TrustStore::default();
        assert_eq!(store.add_pem_file(&path).expect("ca.pem"), 1);
        let pem = std::fs::read(&path).expect("ca.pem");
        let der = x509_parser::pem::Pem::iter_from_buffer(&pem)
            .next()
            .expect("one PEM block")
            .expect("PEM")
            .contents;
        (store, der)
    }

    #[test]
    fn chain_with_an_extra_cert_is_trusted() {
        let (store, ca) = loopback_ca();
        let chain = [LEAF.to_vec(), ADDTRUST.to_vec(), ca.clone()];
        let f = chain_facts(&chain, &store);
        assert_eq!(f.trust, Trust::Trusted);
        // The leaf alone: its issuer is a trust anchor, nothing is missing.
        assert_eq!(chain_facts(&[LEAF.to_vec()], &store).trust, Trust::Trusted);
        // Time and name are per handshake: 2030 is after the leaf's notAfter (2029).
        let f = Arc::new(f);
        let v = verdict(f.clone(), 1_900_000_000, Some("www.tlstap.test"));
        assert_eq!(
            (v.status, v.sni_matches),
            (ValidationStatus::Expired, Some(true))
        );
        let v = verdict(f, 1_800_000_000, Some("tlstap.example"));
        assert_eq!(v.status, ValidationStatus::NameMismatch);
    }

    #[test]
    fn untrusted_and_missing_issuers() {
        let (_, ca) = loopback_ca();
        let moz = TrustStore::mozilla();
        let f = chain_facts(&[LEAF.to_vec(), ca], &moz);
        assert_eq!(f.trust, Trust::Untrusted(ValidationStatus::UnknownIssuer));
        let f = chain_facts(&[LEAF.to_vec()], &moz);
        assert_eq!(f.trust, Trust::Untrusted(ValidationStatus::IncompleteChain));
    }

    /// Regression: a v1 certificate with the same DN as the CA that signed it (MySQL's
    /// generated certificates) was called `bad_signature` (its own key does not verify it).
    #[test]
    fn same_dn_as_unsent_issuer_is_incomplete_chain() {
        let f = chain_facts(&[MYSQL_V1.to_vec()], &TrustStore::mozilla());
        assert_eq!(f.trust, Trust::Untrusted(ValidationStatus::IncompleteChain));
    }

    #[test]
    fn garbage_leaf_is_unparseable() {
        let f = chain_facts(&[vec![0x30, 0x03, 1, 2, 3]], &TrustStore::mozilla());
        assert_eq!(f.trust, Trust::Untrusted(ValidationStatus::Unparseable));
    }
}
