//! QUIC version table: which wire versions we can open, with which Initial salt,
//! HKDF labels and long-header type bits.
//!
//! Invariant: every version that maps to [`Support::Tls`] has a 20-byte salt and
//! AES-128-GCM Initial protection (RFC 9001 5); only the salt, the label prefix and the
//! long-header type encoding vary. Versions are kept as plain `u32` numbers so an
//! unknown one is reported, never rejected silently.
//!
//! Sources: RFC 9001 5.2 (v1 salt), RFC 9369 3.3 (v2 salt, labels, type bits),
//! draft-ietf-quic-tls-22/23/29 (draft salts; drafts 33-34 use the v1 salt), the
//! Chromium QUIC sources (T050/T051/Q050 salts) and mvfst's handshake layer
//! (0xfaceb001 uses the draft-22 salt, 0xfaceb003 the v1 salt, its other versions the
//! draft-23 salt).

/// QUIC version 1, RFC 9000.
pub const V1: u32 = 0x0000_0001;
/// QUIC version 2, RFC 9369.
pub const V2: u32 = 0x6b33_43cf;
/// Google QUIC with TLS 1.3 and IETF invariant headers.
pub const T050: u32 = 0x5430_3530;
pub const T051: u32 = 0x5430_3531;
/// Google QUIC with IETF invariant headers but QUIC-crypto (CHLO), not TLS.
pub const Q050: u32 = 0x5130_3530;
/// Version Negotiation packets carry version 0.
pub const NEGOTIATION: u32 = 0;

const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
const SALT_DRAFT22: [u8; 20] = [
    0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd,
    0x7a, 0x02, 0x64, 0x4a,
];
const SALT_DRAFT23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];
const SALT_DRAFT29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
const SALT_T050: [u8; 20] = [
    0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c,
    0x60, 0x48, 0x83, 0x10,
];
const SALT_T051: [u8; 20] = [
    0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc,
    0xda, 0x6e, 0x03, 0x3d,
];

/// Initial-key parameters of a version whose Initials carry TLS 1.3 in CRYPTO frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub salt: &'static [u8; 20],
    /// RFC 9369: `quicv2 key/iv/hp` labels and the v2 long-header type bits.
    pub v2: bool,
}

/// What we can do with a wire version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Initial packets can be opened and carry TLS.
    Tls(Params),
    /// Recognised, IETF invariant header, but the handshake is not TLS (gQUIC Q050).
    NotTls,
    /// Version Negotiation (version 0).
    Negotiation,
    /// Anything else, including reserved 0x?a?a?a?a greasing versions.
    Unknown,
}

/// Long-header packet type, after mapping the version-specific type bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// Look a wire version up.
pub fn support(version: u32) -> Support {
    let tls = |salt, v2| Support::Tls(Params { salt, v2 });
    match version {
        NEGOTIATION => Support::Negotiation,
        V1 => tls(&SALT_V1, false),
        V2 => tls(&SALT_V2, true),
        T050 => tls(&SALT_T050, false),
        T051 => tls(&SALT_T051, false),
        Q050 => Support::NotTls,
        0xff00_0016 => tls(&SALT_DRAFT22, false),
        0xff00_0017..=0xff00_001c => tls(&SALT_DRAFT23, false),
        0xff00_001d..=0xff00_0020 => tls(&SALT_DRAFT29, false),
        0xff00_0021 | 0xff00_0022 => tls(&SALT_V1, false),
        0xface_b001 => tls(&SALT_DRAFT22, false),
        0xface_b003 => tls(&SALT_V1, false),
        0xface_b002 | 0xface_b00d..=0xface_b013 => tls(&SALT_DRAFT23, false),
        _ => Support::Unknown,
    }
}

/// Map the two long-header type bits (`first_byte & 0x30`) to a packet type.
pub fn long_type(first_byte: u8, v2: bool) -> LongType {
    let bits = (first_byte >> 4) & 0x03;
    match (v2, bits) {
        (false, 0) | (true, 1) => LongType::Initial,
        (false, 1) | (true, 2) => LongType::ZeroRtt,
        (false, 2) | (true, 3) => LongType::Handshake,
        _ => LongType::Retry,
    }
}

/// A short human name, for reports and logs.
pub fn name(version: u32) -> &'static str {
    match version {
        V1 => "v1",
        V2 => "v2",
        T050 => "T050",
        T051 => "T051",
        Q050 => "Q050",
        NEGOTIATION => "negotiation",
        0xff00_0016..=0xff00_0022 => "draft",
        0xface_b000..=0xface_b0ff => "mvfst",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(
            support(V1),
            Support::Tls(Params {
                salt: &SALT_V1,
                v2: false
            })
        );
        assert!(matches!(support(V2), Support::Tls(Params { v2: true, .. })));
        assert_eq!(support(0xff00_0021), support(V1));
        assert_eq!(
            support(0xff00_001d),
            Support::Tls(Params {
                salt: &SALT_DRAFT29,
                v2: false
            })
        );
        assert_eq!(
            support(0xff00_001b),
            Support::Tls(Params {
                salt: &SALT_DRAFT23,
                v2: false
            })
        );
        assert_eq!(
            support(0xface_b001),
            Support::Tls(Params {
                salt: &SALT_DRAFT22,
                v2: false
            })
        );
        assert_eq!(
            support(0xface_b002),
            Support::Tls(Params {
                salt: &SALT_DRAFT23,
                v2: false
            })
        );
        assert_eq!(support(Q050), Support::NotTls);
        assert_eq!(support(0), Support::Negotiation);
        assert_eq!(support(0x1a2a_3a4a), Support::Unknown);
        assert_eq!(support(0xff00_0015), Support::Unknown);
    }

    #[test]
    fn type_bits() {
        assert_eq!(long_type(0xc0, false), LongType::Initial);
        assert_eq!(long_type(0xe0, false), LongType::Handshake);
        assert_eq!(long_type(0xf0, false), LongType::Retry);
        assert_eq!(long_type(0xd0, true), LongType::Initial);
        assert_eq!(long_type(0xe0, true), LongType::ZeroRtt);
        assert_eq!(long_type(0xf0, true), LongType::Handshake);
        assert_eq!(long_type(0xc0, true), LongType::Retry);
    }
}
