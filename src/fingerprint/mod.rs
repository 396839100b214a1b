//! Client and server fingerprints (JA3, JA3S, JA4) computed from a small
//! parsed-parameters struct, so TLS over TCP, QUIC and DTLS can share them.
//!
//! Invariants: pure functions of their inputs, no I/O; GREASE values (RFC 8701) are
//! removed exactly where each definition says so and nowhere else. These strings are
//! pivots for threat hunting, so each rule follows its reference (Salesforce JA3
//! python, FoxIO JA4.md) and is pinned by vectors taken from those tools' outputs.
//! A caller should not fingerprint a hello the parser marked malformed or truncated:
//! its lists may be incomplete.

mod ja3;
mod ja4;

pub use ja3::{ja3, ja3_string, ja3s, ja3s_string, md5_hex};
pub use ja4::{ja4, ja4_and_raw, ja4_o, ja4_r, ja4_ro, Transport};

use crate::tls::model::{ClientHello, ServerHello};

/// TLS extension type server_name (RFC 6066).
const EXT_SERVER_NAME: u16 = 0x0000;

/// ClientHello parameters that fingerprints read, borrowed from a parsed hello.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientParams<'a> {
    /// Legacy `client_version` of the hello body.
    pub version: u16,
    pub ciphers: &'a [u16],
    /// Extension types in wire order.
    pub extensions: &'a [u16],
    /// supported_groups (ext 10).
    pub groups: &'a [u16],
    /// ec_point_formats (ext 11).
    pub point_formats: &'a [u8],
    /// signature_algorithms (ext 13), wire order.
    pub sig_algs: &'a [u16],
    /// supported_versions (ext 43), wire order.
    pub supported_versions: &'a [u16],
    /// First ALPN protocol name, raw bytes (`None` when no ALPN value was sent).
    pub alpn_first: Option<&'a [u8]>,
    /// server_name extension present (JA4 looks at presence, not at the name).
    pub has_sni: bool,
}

impl<'a> From<&'a ClientHello> for ClientParams<'a> {
    fn from(ch: &'a ClientHello) -> Self {
        ClientParams {
            version: ch.version,
            ciphers: &ch.cipher_suites,
            extensions: &ch.extensions,
            groups: &ch.supported_groups,
            point_formats: &ch.ec_point_formats,
            sig_algs: &ch.signature_algorithms,
            supported_versions: &ch.supported_versions,
            alpn_first: ch.alpn.first().map(Vec::as_slice),
            has_sni: ch.extensions.contains(&EXT_SERVER_NAME),
        }
    }
}

fn key_u16s(out: &mut Vec<u8>, v: &[u16]) {
    out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

fn key_bytes(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(v);
}

impl ClientParams<'_> {
    /// Every field, length-prefixed, into `out`: equal keys mean equal parameters, so
    /// fingerprints computed from one can be reused for the other (see `row`).
    pub fn memo_key(&self, out: &mut Vec<u8>) {
        // Destructured without `..`: a new field does not compile until it is keyed.
        let ClientParams {
            version,
            ciphers,
            extensions,
            groups,
            point_formats,
            sig_algs,
            supported_versions,
            alpn_first,
            has_sni,
        } = *self;
        out.extend_from_slice(&version.to_be_bytes());
        out.push(u8::from(has_sni));
        key_u16s(out, ciphers);
        key_u16s(out, extensions);
        key_u16s(out, groups);
        key_bytes(out, point_formats);
        key_u16s(out, sig_algs);
        key_u16s(out, supported_versions);
        match alpn_first {
            Some(a) => {
                out.push(1);
                key_bytes(out, a);
            }
            None => out.push(0),
        }
    }
}

/// ServerHello parameters for JA3S.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerParams<'a> {
    /// Legacy `server_version` of the hello body.
    pub version: u16,
    pub cipher: u16,
    /// Extension types in wire order.
    pub extensions: &'a [u16],
}

impl<'a> From<&'a ServerHello> for ServerParams<'a> {
    fn from(sh: &'a ServerHello) -> Self {
        ServerParams {
            version: sh.version,
            cipher: sh.cipher,
            extensions: &sh.extensions,
        }
    }
}

impl ServerParams<'_> {
    /// Every field into `out` (see [`ClientParams::memo_key`]).
    pub fn memo_key(&self, out: &mut Vec<u8>) {
        let ServerParams {
            version,
            cipher,
            extensions,
        } = *self;
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&cipher.to_be_bytes());
        key_u16s(out, extensions);
    }
}

/// GREASE (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa (both bytes equal, low nibble 0xa).
pub fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && lo & 0x0f == 0x0a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        let all: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        assert_eq!(
            all,
            vec![
                0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a, 0x8a8a, 0x9a9a,
                0xaaaa, 0xbaba, 0xcaca, 0xdada, 0xeaea, 0xfafa
            ]
        );
    }

    #[test]
    fn params_from_hello() {
        let ch = ClientHello {
            version: 0x0303,
            cipher_suites: vec![0x1301],
            extensions: vec![0x0a0a, 0, 16],
            alpn: vec![b"h2".to_vec(), b"x".to_vec()],
            ..ClientHello::default()
        };
        let p = ClientParams::from(&ch);
        assert!(p.has_sni);
        assert_eq!(p.alpn_first, Some(&b"h2"[..]));
        assert_eq!(p.ciphers, &[0x1301]);
        let no_sni = ClientHello {
            sni: Some("x".into()),
            ..ClientHello::default()
        };
        assert!(
            !ClientParams::from(&no_sni).has_sni,
            "presence of the extension counts"
        );
        let sh = ServerHello {
            version: 0x0303,
            cipher: 0xc02f,
            extensions: vec![0xff01],
            ..ServerHello::default()
        };
        assert_eq!(
            ServerParams::from(&sh),
            ServerParams {
                version: 0x0303,
                cipher: 0xc02f,
                extensions: &[0xff01]
            }
        );
    }
}
