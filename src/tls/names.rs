//! Human-readable names for on-wire code points, for convenience columns. The numbers
//! stay the source of truth; an unknown value has no name (null), never a guess.

/// Name of a protocol version code point (`"TLSv1.2"`), or `"unknown"`.
pub fn version_name(v: u16) -> &'static str {
    const DRAFTS: [&str; 29] = [
        "TLSv1.3-draft00",
        "TLSv1.3-draft01",
        "TLSv1.3-draft02",
        "TLSv1.3-draft03",
        "TLSv1.3-draft04",
        "TLSv1.3-draft05",
        "TLSv1.3-draft06",
        "TLSv1.3-draft07",
        "TLSv1.3-draft08",
        "TLSv1.3-draft09",
        "TLSv1.3-draft10",
        "TLSv1.3-draft11",
        "TLSv1.3-draft12",
        "TLSv1.3-draft13",
        "TLSv1.3-draft14",
        "TLSv1.3-draft15",
        "TLSv1.3-draft16",
        "TLSv1.3-draft17",
        "TLSv1.3-draft18",
        "TLSv1.3-draft19",
        "TLSv1.3-draft20",
        "TLSv1.3-draft21",
        "TLSv1.3-draft22",
        "TLSv1.3-draft23",
        "TLSv1.3-draft24",
        "TLSv1.3-draft25",
        "TLSv1.3-draft26",
        "TLSv1.3-draft27",
        "TLSv1.3-draft28",
    ];
    match v {
        0x0002 => "SSLv2",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1.0",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        0x7f00..=0x7f1c => DRAFTS[usize::from(v & 0xff)],
        // Facebook's experimental TLS 1.3 variants (Fizz).
        0xfb00..=0xfbff => "TLSv1.3-fb",
        0xfeff => "DTLSv1.0",
        // OpenSSL's DTLS before RFC 4347's code point (DTLS1_BAD_VER, OpenSSL < 0.9.8f).
        0x0100 => "DTLSv1.0-pre-RFC",
        0xfefd => "DTLSv1.2",
        0xfefc => "DTLSv1.3",
        _ => "unknown",
    }
}

/// SSL 2.0 (RFC 6176), SSL 3.0 (RFC 7568), TLS 1.0 and 1.1 (RFC 8996), and DTLS 1.0
/// (RFC 8996 too, with its pre-RFC OpenSSL variant): prohibited.
pub fn is_deprecated_version(v: u16) -> bool {
    matches!(v, 0x0002 | 0x0300 | 0x0301 | 0x0302 | 0xfeff | 0x0100)
}

/// A cipher suite's properties (key exchange, authentication, cipher, key size, MAC)
/// from tls-parser's IANA table: the one place tlstap looks them up.
pub fn cipher_suite(id: u16) -> Option<&'static tls_parser::TlsCipherSuite> {
    tls_parser::TlsCipherSuite::from_id(id)
}

/// IANA name of a cipher suite (`"TLS_AES_128_GCM_SHA256"`), if known.
pub fn cipher_name(id: u16) -> Option<&'static str> {
    cipher_suite(id).map(|c| c.name)
}

/// Name of a TLS supported group (key-share group / named curve) as the IANA "TLS
/// Supported Groups" registry spells it (`"x25519"`, `"secp256r1"`, `"X25519MLKEM768"`,
/// the names Zeek's `ssl.log` prints), or `None` for a value the registry does not
/// name (GREASE, private use, unassigned).
pub fn group_name(g: u16) -> Option<&'static str> {
    const EC: [&str; 41] = [
        "sect163k1",
        "sect163r1",
        "sect163r2",
        "sect193r1",
        "sect193r2",
        "sect233k1",
        "sect233r1",
        "sect239k1",
        "sect283k1",
        "sect283r1",
        "sect409k1",
        "sect409r1",
        "sect571k1",
        "sect571r1",
        "secp160k1",
        "secp160r1",
        "secp160r2",
        "secp192k1",
        "secp192r1",
        "secp224k1",
        "secp224r1",
        "secp256k1",
        "secp256r1",
        "secp384r1",
        "secp521r1",
        "brainpoolP256r1",
        "brainpoolP384r1",
        "brainpoolP512r1",
        "x25519",
        "x448",
        "brainpoolP256r1tls13",
        "brainpoolP384r1tls13",
        "brainpoolP512r1tls13",
        "GC256A",
        "GC256B",
        "GC256C",
        "GC256D",
        "GC512A",
        "GC512B",
        "GC512C",
        "curveSM2",
    ];
    Some(match g {
        1..=41 => EC[usize::from(g - 1)],
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x0200 => "MLKEM512",
        0x0201 => "MLKEM768",
        0x0202 => "MLKEM1024",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        0x639a => "SecP256r1Kyber768Draft00",
        // Private-use code points (RFC 8446 4.2.7) Cloudflare and Chrome used for the
        // Kyber experiments before IANA assigned 0x6399.
        0xfe30 => "X25519Kyber512Draft00",
        0xfe31 => "X25519Kyber768Draft00",
        0xff01 => "arbitrary_explicit_prime_curves",
        0xff02 => "arbitrary_explicit_char2_curves",
        _ => return None,
    })
}

/// A hybrid or pure post-quantum key-exchange group: the ML-KEM groups of
/// draft-ietf-tls-mlkem-key-agreement (0x0200-0x0202), the hybrids of
/// draft-ietf-tls-ecdhe-mlkem (0x11eb-0x11ed), and the Kyber drafts browsers and
/// Cloudflare deployed before ML-KEM (0x6399, 0x639a; 0xfe30, 0xfe31 in private use).
pub fn is_pq_group(g: u16) -> bool {
    matches!(
        g,
        0x0200..=0x0202 | 0x11eb..=0x11ed | 0x6399 | 0x639a | 0xfe30 | 0xfe31
    )
}

/// Name of an alert description (RFC 8446 6, the IANA "TLS Alerts" registry, and the
/// SSL 3.0 / TLS 1.0 values since withdrawn), as Zeek's `ssl.log` prints it
/// (`"handshake_failure"`), or `None` for a value no registry names.
pub fn alert_name(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        117 => "general_error",
        120 => "no_application_protocol",
        121 => "ech_required",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(version_name(0x0303), "TLSv1.2");
        assert_eq!(version_name(0x7f17), "TLSv1.3-draft23");
        assert_eq!(version_name(0x1234), "unknown");
        assert_eq!(cipher_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(
            cipher_name(0xc02f),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(cipher_name(0x0a0a), None);
    }

    #[test]
    fn group_names_follow_the_iana_registry() {
        assert_eq!(group_name(23), Some("secp256r1"));
        assert_eq!(group_name(29), Some("x25519"));
        assert_eq!(group_name(1), Some("sect163k1"));
        assert_eq!(group_name(41), Some("curveSM2"));
        assert_eq!(group_name(256), Some("ffdhe2048"));
        assert_eq!(group_name(0x11ec), Some("X25519MLKEM768"));
        assert_eq!(group_name(0x6399), Some("X25519Kyber768Draft00"));
        // Unassigned, GREASE: no name, never a guess.
        for g in [0, 42, 255, 261, 0x0a0a, 0x1234, 0xfe32] {
            assert_eq!(group_name(g), None, "{g:#x}");
        }
    }

    #[test]
    fn post_quantum_groups() {
        for g in [
            0x0200, 0x0201, 0x0202, 0x11eb, 0x11ec, 0x11ed, 0x6399, 0x639a, 0xfe30, 0xfe31,
        ] {
            assert!(is_pq_group(g), "{g:#x}");
            assert!(group_name(g).is_some(), "{g:#x} is named");
        }
        for g in [23, 24, 29, 30, 256, 0x0203, 0x11ea, 0x11ee, 0x0a0a] {
            assert!(!is_pq_group(g), "{g:#x}");
        }
    }

    #[test]
    fn alert_names() {
        assert_eq!(alert_name(40), Some("handshake_failure"));
        assert_eq!(alert_name(0), Some("close_notify"));
        assert_eq!(alert_name(112), Some("unrecognized_name"));
        assert_eq!(alert_name(121), Some("ech_required"));
        for d in [1, 23, 99, 122, 255] {
            assert_eq!(alert_name(d), None, "{d}");
        }
    }
}
