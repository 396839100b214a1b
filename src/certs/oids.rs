//! Names for the object identifiers a certificate row reports.
//!
//! Every table here maps a dotted OID to the name OpenSSL prints for it, because the
//! reference logs we compare with (Zeek's `x509.log`) are produced by OpenSSL. An OID
//! missing from a table is never an error: callers fall back to the dotted form, so
//! unknown algorithms and attributes are kept, just not named. The tables are small
//! sorted-by-topic slices searched linearly: a certificate has a handful of OIDs and
//! the tables hold a few dozen entries, so a map would cost more than it saves.

/// Signature algorithms: OpenSSL long names (`OBJ_nid2ln`), as Zeek's
/// `certificate.sig_alg` prints them.
const SIG_ALGS: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.1", "rsaEncryption"),
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.3", "md4WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.10", "rsassaPss"),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption"),
    ("1.2.840.113549.1.1.15", "sha512-224WithRSAEncryption"),
    ("1.2.840.113549.1.1.16", "sha512-256WithRSAEncryption"),
    ("1.3.14.3.2.3", "md5WithRSA"),
    ("1.3.14.3.2.29", "sha1WithRSA"),
    ("1.3.14.3.2.13", "dsaWithSHA"),
    ("1.3.14.3.2.27", "dsaWithSHA1-old"),
    ("1.2.840.10040.4.3", "dsaWithSHA1"),
    ("2.16.840.1.101.3.4.3.1", "dsa_with_SHA224"),
    ("2.16.840.1.101.3.4.3.2", "dsa_with_SHA256"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("2.16.840.1.101.3.4.3.10", "ecdsa_with_SHA3-256"),
    ("2.16.840.1.101.3.4.3.11", "ecdsa_with_SHA3-384"),
    ("2.16.840.1.101.3.4.3.12", "ecdsa_with_SHA3-512"),
    ("2.16.840.1.101.3.4.3.14", "RSA-SHA3-256"),
    ("2.16.840.1.101.3.4.3.15", "RSA-SHA3-384"),
    ("2.16.840.1.101.3.4.3.16", "RSA-SHA3-512"),
    ("2.16.840.1.101.3.4.3.17", "ML-DSA-44"),
    ("2.16.840.1.101.3.4.3.18", "ML-DSA-65"),
    ("2.16.840.1.101.3.4.3.19", "ML-DSA-87"),
    ("1.3.101.112", "ED25519"),
    ("1.3.101.113", "ED448"),
    ("1.2.156.10197.1.501", "SM2-with-SM3"),
    ("1.2.643.2.2.3", "GOST R 34.11-94 with GOST R 34.10-2001"),
];

/// OpenSSL long name of a signature (or key) algorithm; `None` when unknown.
pub fn sig_alg_name(oid: &str) -> Option<&'static str> {
    lookup(SIG_ALGS, oid)
}

/// Public-key algorithms -> our `key_type` vocabulary. The RSA *signature* OIDs are
/// listed too: some old certificates (Microsoft RDP's proprietary chain, for one) put
/// `md5WithRSAEncryption` in the SubjectPublicKeyInfo, and OpenSSL/Zeek still read the
/// key as RSA; we do the same.
const KEY_TYPES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.1", "rsa"),
    ("1.2.840.113549.1.1.10", "rsa"),
    ("2.5.8.1.1", "rsa"),
    ("1.2.840.113549.1.1.2", "rsa"),
    ("1.2.840.113549.1.1.3", "rsa"),
    ("1.2.840.113549.1.1.4", "rsa"),
    ("1.2.840.113549.1.1.5", "rsa"),
    ("1.2.840.113549.1.1.11", "rsa"),
    ("1.2.840.113549.1.1.12", "rsa"),
    ("1.2.840.113549.1.1.13", "rsa"),
    ("1.2.840.113549.1.1.14", "rsa"),
    ("1.3.14.3.2.29", "rsa"),
    ("1.2.840.10045.2.1", "ec"),
    ("1.2.840.10040.4.1", "dsa"),
    ("1.3.14.3.2.12", "dsa"),
    ("1.2.840.113549.1.3.1", "dh"),
    ("1.2.840.10046.2.1", "dh"),
    ("1.3.101.110", "x25519"),
    ("1.3.101.111", "x448"),
    ("1.3.101.112", "ed25519"),
    ("1.3.101.113", "ed448"),
    ("2.16.840.1.101.3.4.3.17", "ml-dsa-44"),
    ("2.16.840.1.101.3.4.3.18", "ml-dsa-65"),
    ("2.16.840.1.101.3.4.3.19", "ml-dsa-87"),
];

/// Our `key_type` name for a SubjectPublicKeyInfo algorithm OID; `None` when unknown
/// (the caller then reports the dotted OID).
pub fn key_type_name(oid: &str) -> Option<&'static str> {
    lookup(KEY_TYPES, oid)
}

/// Key sizes OpenSSL's `EVP_PKEY_bits` reports for fixed-size key types.
pub fn fixed_key_bits(key_type: &str) -> Option<u32> {
    match key_type {
        "ed25519" | "x25519" => Some(253),
        "ed448" => Some(456),
        "x448" => Some(448),
        _ => None,
    }
}

/// Named curves: (OID, OpenSSL short name, order size in bits as `EVP_PKEY_bits`).
const CURVES: &[(&str, &str, u32)] = &[
    ("1.2.840.10045.3.1.7", "prime256v1", 256),
    ("1.3.132.0.34", "secp384r1", 384),
    ("1.3.132.0.35", "secp521r1", 521),
    ("1.3.132.0.33", "secp224r1", 224),
    ("1.3.132.0.10", "secp256k1", 256),
    ("1.2.840.10045.3.1.1", "prime192v1", 192),
    ("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1", 256),
    ("1.3.36.3.3.2.8.1.1.11", "brainpoolP384r1", 384),
    ("1.3.36.3.3.2.8.1.1.13", "brainpoolP512r1", 512),
    ("1.2.156.10197.1.301", "SM2", 256),
];

/// OpenSSL short name and size of a named curve.
pub fn curve(oid: &str) -> Option<(&'static str, u32)> {
    CURVES
        .iter()
        .find(|(o, _, _)| *o == oid)
        .map(|(_, name, bits)| (*name, *bits))
}

/// Distinguished-name attribute types: OpenSSL short names (`XN_FLAG_FN_SN`), which is
/// what Zeek prints. RFC 4514 spells `street` as `STREET`; LDAP names are
/// case-insensitive, and matching OpenSSL byte for byte is worth more to us.
const DN_ATTRS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.18", "postOfficeBox"),
    ("2.5.4.20", "telephoneNumber"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "x500UniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.97", "organizationIdentifier"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.2.840.113549.1.9.8", "unstructuredAddress"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"),
    ("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"),
];

/// OpenSSL short name of a DN attribute type.
pub fn dn_attr_name(oid: &str) -> Option<&'static str> {
    lookup(DN_ATTRS, oid)
}

/// commonName and organizationName, for the `*_cn` / `*_org` columns.
pub const OID_CN: &str = "2.5.4.3";
pub const OID_O: &str = "2.5.4.10";

/// Extended key usages: OpenSSL short names.
const EKUS: &[(&str, &str)] = &[
    ("1.3.6.1.5.5.7.3.1", "serverAuth"),
    ("1.3.6.1.5.5.7.3.2", "clientAuth"),
    ("1.3.6.1.5.5.7.3.3", "codeSigning"),
    ("1.3.6.1.5.5.7.3.4", "emailProtection"),
    ("1.3.6.1.5.5.7.3.8", "timeStamping"),
    ("1.3.6.1.5.5.7.3.9", "OCSPSigning"),
    ("2.5.29.37.0", "anyExtendedKeyUsage"),
    ("1.3.6.1.5.5.7.3.5", "ipsecEndSystem"),
    ("1.3.6.1.5.5.7.3.6", "ipsecTunnel"),
    ("1.3.6.1.5.5.7.3.7", "ipsecUser"),
    ("1.3.6.1.4.1.311.10.3.3", "msSGC"),
    ("2.16.840.1.113730.4.1", "nsSGC"),
    ("1.3.6.1.4.1.311.20.2.2", "msSmartcardLogin"),
    ("1.3.6.1.4.1.311.10.3.4", "msEFS"),
    ("1.3.6.1.4.1.311.10.3.12", "msDocumentSigning"),
];

/// OpenSSL short name of an extended key usage.
pub fn eku_name(oid: &str) -> Option<&'static str> {
    lookup(EKUS, oid)
}

fn lookup(table: &[(&str, &'static str)], oid: &str) -> Option<&'static str> {
    table.iter().find(|(o, _)| *o == oid).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_oids() {
        assert_eq!(
            sig_alg_name("1.2.840.113549.1.1.11"),
            Some("sha256WithRSAEncryption")
        );
        assert_eq!(sig_alg_name("1.3.14.3.2.29"), Some("sha1WithRSA"));
        assert_eq!(sig_alg_name("1.2.3.4"), None);
        assert_eq!(key_type_name("1.2.840.10045.2.1"), Some("ec"));
        assert_eq!(key_type_name("1.2.840.113549.1.1.4"), Some("rsa"));
        assert_eq!(curve("1.3.132.0.35"), Some(("secp521r1", 521)));
        assert_eq!(curve("1.2.3"), None);
        assert_eq!(dn_attr_name("2.5.4.9"), Some("street"));
        assert_eq!(fixed_key_bits("ed25519"), Some(253));
        assert_eq!(fixed_key_bits("rsa"), None);
        assert_eq!(eku_name("1.3.6.1.5.5.7.3.7"), Some("ipsecUser"));
    }

    #[test]
    fn tables_have_no_duplicate_oids() {
        for table in [SIG_ALGS, KEY_TYPES, DN_ATTRS, EKUS] {
            for (i, (a, _)) in table.iter().enumerate() {
                assert!(
                    table.iter().skip(i + 1).all(|(b, _)| a != b),
                    "duplicate {a}"
                );
            }
        }
    }
}
