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
}
