//! JA4 TLS client fingerprint (FoxIO, BSD-3-Clause), per `technical_details/JA4.md`:
//! `a_b_c` where
//! - a = transport (`t`/`q`/`d`), version, `d`/`i` (server_name extension present or
//!   not), cipher count and extension count (GREASE removed, extensions counting SNI
//!   and ALPN, each capped at 99, two digits), first+last character of the first ALPN
//!   value;
//! - b = sha256[:12] of the sorted 4-hex cipher list;
//! - c = sha256[:12] of the sorted 4-hex extension list without SNI (0x0000) and ALPN
//!   (0x0010), then `_` and the signature algorithms in wire order (no `_` when there are
//!   none).
//!
//! GREASE is removed from every list, signature algorithms included. An empty string to
//! hash gives `000000000000`. `_r` variants show the strings instead of their hashes;
//! `_o` variants keep wire order and, as JA4.md says ("the original values in the
//! original order, less GREASE values. This means SNI (0000) and ALPN (0010) are
//! included"), keep SNI and ALPN in the extension list. So a hello whose only
//! extension is SNI has `_o` c-part `hash("0000")` = `9af15b336e6a`, as FoxIO's Rust
//! tool computes it (`hash12` zeroes only an empty string); FoxIO's Python prints
//! `000000000000` there while its own `JA4_ro` shows `0000`: a Python slip, not the rule.
//!
//! ALPN: `00` when there is no ALPN value or the first one is empty; a 1-byte value gives
//! its character twice; when the first or last byte is not ASCII alphanumeric, the first
//! and last characters of the value's hex form are used (0xba 0xad -> `bd`). This is
//! JA4.md's rule. FoxIO's Rust and Python tools (and the Rust snapshot of
//! `tls-non-ascii-alpn.pcapng` in the corpus) print `99` instead, because they read
//! tshark's text rendering and map every non-ASCII character to `9`; the JA4 author
//! ruled that "the documentation is the correct method" (FoxIO-LLC/ja4#178), FoxIO's
//! Python has an open issue to adopt it (#326), and Wireshark's JA4 and s2n-tls
//! implement the hex rule. The conformance test lists that snapshot as an exception.

use sha2::{Digest, Sha256};

use super::{is_grease, ClientParams};

pub use crate::flow::record::Transport;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_ALPN: u16 = 0x0010;
/// JA4.md: counts above 99 print as 99.
const MAX_COUNT: usize = 99;
const EMPTY_HASH: &str = "000000000000";

/// JA4 (sorted, hashed).
pub fn ja4(p: &ClientParams, t: Transport) -> String {
    ja4_and_raw(p, t, false).0
}

/// JA4 and JA4_r (`original = false`) or JA4_o and JA4_ro (`true`), from one pass over
/// the hello: the hashed form is built from the same parts as the raw one.
pub fn ja4_and_raw(p: &ClientParams, t: Transport, original: bool) -> (String, String) {
    let (a, b, c) = parts(p, t, original);
    let mut hashed = String::with_capacity(a.len() + 26);
    hashed.push_str(&a);
    hashed.push('_');
    push_hash12(&mut hashed, &b);
    hashed.push('_');
    push_hash12(&mut hashed, &c);
    let mut raw = a;
    raw.reserve(b.len() + c.len() + 2);
    raw.push('_');
    raw.push_str(&b);
    raw.push('_');
    raw.push_str(&c);
    (hashed, raw)
}

/// JA4_r: sorted, raw strings.
pub fn ja4_r(p: &ClientParams, t: Transport) -> String {
    let (a, b, c) = parts(p, t, false);
    format!("{a}_{b}_{c}")
}

/// JA4_o: wire order, hashed.
pub fn ja4_o(p: &ClientParams, t: Transport) -> String {
    ja4_and_raw(p, t, true).0
}

/// JA4_ro: wire order, raw strings.
pub fn ja4_ro(p: &ClientParams, t: Transport) -> String {
    let (a, b, c) = parts(p, t, true);
    format!("{a}_{b}_{c}")
}

fn parts(p: &ClientParams, t: Transport, original: bool) -> (String, String, String) {
    let mut ciphers: Vec<u16> = p
        .ciphers
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let mut exts: Vec<u16> = p
        .extensions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v))
        .collect();
    let proto = match t {
        Transport::Tcp => 't',
        Transport::Quic => 'q',
        Transport::Dtls => 'd',
    };
    let sni = if p.has_sni { 'd' } else { 'i' };
    let [al0, al1] = alpn_chars(p.alpn_first);
    let a = format!(
        "{proto}{}{sni}{:02}{:02}{al0}{al1}",
        version_code(p, t),
        ciphers.len().min(MAX_COUNT),
        exts.len().min(MAX_COUNT),
    );
    if !original {
        ciphers.sort_unstable();
        exts.retain(|&v| v != EXT_SERVER_NAME && v != EXT_ALPN);
        exts.sort_unstable();
    }
    let b = hex_list(ciphers.iter().copied());
    let mut c = hex_list(exts.iter().copied());
    let sigs = hex_list(p.sig_algs.iter().copied().filter(|&v| !is_grease(v)));
    if !sigs.is_empty() {
        c.push('_');
        c.push_str(&sigs);
    }
    (a, b, c)
}

/// Values as 4-digit lowercase hex joined by `,` (written directly: this runs for
/// every handshake, and `format!` was a visible share of the parser pool's time).
fn hex_list(vals: impl Iterator<Item = u16>) -> String {
    let mut s = String::with_capacity(5 * 32);
    for (i, v) in vals.enumerate() {
        if i > 0 {
            s.push(',');
        }
        for shift in [12, 8, 4, 0] {
            s.push(char::from(HEX[usize::from((v >> shift) & 0xf)]));
        }
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// First 12 hex digits of the SHA-256 of `s` (JA4's truncated hash), appended to `out`.
fn push_hash12(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str(EMPTY_HASH);
        return;
    }
    for b in &Sha256::digest(s.as_bytes())[..6] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// Highest non-GREASE supported_versions value (for DTLS the newest, i.e. the lowest
/// number), else the legacy version; then JA4.md's two-character code.
fn version_code(p: &ClientParams, t: Transport) -> &'static str {
    let listed = p
        .supported_versions
        .iter()
        .copied()
        .filter(|&v| !is_grease(v));
    let chosen = match t {
        Transport::Dtls => listed.min(),
        Transport::Tcp | Transport::Quic => listed.max(),
    };
    match chosen.unwrap_or(p.version) {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn alpn_chars(alpn: Option<&[u8]>) -> [char; 2] {
    let Some((&first, &last)) = alpn.and_then(|v| Some((v.first()?, v.last()?))) else {
        return ['0', '0'];
    };
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        return [char::from(first), char::from(last)];
    }
    [nibble(first >> 4), nibble(last & 0x0f)]
}

fn nibble(n: u8) -> char {
    char::from_digit(u32::from(n & 0x0f), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hexes(s: &str) -> Vec<u16> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(|x| u16::from_str_radix(x, 16).unwrap())
            .collect()
    }

    /// One stream of corpus `_derived/ja4_expected_rust_plus_python.tsv`:
    /// (ja4 from FoxIO Rust, py_ja4_r, py_ja4_o, py_ja4_ro).
    struct Row {
        ja4: &'static str,
        r: &'static str,
        o: &'static str,
        ro: &'static str,
    }

    const ROWS: &[Row] = &[
        Row {
            ja4: "t13d1615h2_46e7e9700bed_45f260be83e2",
            r: "t13d1615h2_000a,002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,ff01_0403,0804,0401,0503,0805,0501,0806,0601,0201",
            o: "t13d1615h2_45f31bb0a5cc_b0e5d31d5128",
            ro: "t13d1615h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035,000a_0000,0017,ff01,000a,000b,0023,0010,0005,000d,0012,0033,002d,002b,001b,0015_0403,0804,0401,0503,0805,0501,0806,0601,0201",
        },
        Row {
            ja4: "t12d4605h2_85626a9a5f7f_aaf95bb78ec9",
            r: "t12d4605h2_0004,0005,000a,0016,002f,0033,0035,0039,003c,003d,0041,0045,0067,006b,0081,0084,0088,009c,009d,009e,009f,00ba,00be,00c0,00c4,00ff,c007,c008,c009,c00a,c011,c012,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa,ff85_000a,000b,000d_0601,0603,efef,0501,0503,0401,0403,eeee,eded,0301,0303,0201,0203",
            o: "t12d4605h2_644f5d117d98_094daec7ec8d",
            ro: "t12d4605h2_c030,c02c,c028,c024,c014,c00a,009f,006b,0039,cca9,cca8,ccaa,ff85,00c4,0088,0081,009d,003d,0035,00c0,0084,c02f,c02b,c027,c023,c013,c009,009e,0067,0033,00be,0045,009c,003c,002f,00ba,0041,c011,c007,0005,0004,c012,c008,0016,000a,00ff_0000,000b,000a,000d,0010_0601,0603,efef,0501,0503,0401,0403,eeee,eded,0301,0303,0201,0203",
        },
        Row {
            ja4: "t13d151400_8daaf6152771_de4a06bb82e3",
            r: "t13d151400_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
            o: "t13d151400_acb858a92679_2f4561be1d1f",
            ro: "t13d151400_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_0033,002b,001b,0000,0012,002d,000d,000a,0005,0023,0017,ff01,000b,0015_0403,0804,0401,0503,0805,0501,0806,0601",
        },
        Row {
            ja4: "t13d2613h2_2802a3db6c62_845d286b0d67",
            r: "t13d2613h2_000a,002f,0035,003c,003d,009c,009d,1301,1302,1303,c008,c009,c00a,c012,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,002b,002d,0033,ff01_0403,0804,0401,0503,0203,0805,0805,0501,0806,0601,0201",
            o: "t13d2613h2_78a7dc604b78_93870a65b655",
            ro: "t13d2613h2_1301,1302,1303,c02c,c02b,c024,c023,c00a,c009,cca9,c030,c02f,c028,c027,c014,c013,cca8,009d,009c,003d,003c,0035,002f,c008,c012,000a_ff01,0000,0017,000d,0005,0012,0010,000b,0033,002d,002b,000a,0015_0403,0804,0401,0503,0203,0805,0805,0501,0806,0601,0201",
        },
        Row {
            ja4: "t12d190800_d83cc789557e_7af1ed941c26",
            r: "t12d190800_000a,002f,0035,003c,003d,009c,009d,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030_0005,000a,000b,000d,0017,0023,ff01_0804,0805,0806,0401,0501,0201,0403,0503,0203,0202,0601,0603",
            o: "t12d190800_e8d5f427a2c5_5e98404dd3cc",
            ro: "t12d190800_c02c,c02b,c030,c02f,c024,c023,c028,c027,c00a,c009,c014,c013,009d,009c,003d,003c,0035,002f,000a_0000,0005,000a,000b,000d,0023,0017,ff01_0804,0805,0806,0401,0501,0201,0403,0503,0203,0202,0601,0603",
        },
    ];

    /// Owned hello lists rebuilt from a JA4_ro string.
    struct Hello {
        version: u16,
        supported: Vec<u16>,
        ciphers: Vec<u16>,
        exts: Vec<u16>,
        sigs: Vec<u16>,
        alpn: Option<Vec<u8>>,
        sni: bool,
    }

    impl Hello {
        /// Rebuild a hello from a JA4_ro string, adding GREASE everywhere it may appear.
        fn from_ro(ro: &str) -> Self {
            let mut it = ro.splitn(4, '_');
            let a = it.next().unwrap();
            let ciphers = it.next().unwrap();
            let exts = it.next().unwrap_or("");
            let sigs = it.next().unwrap_or("");
            let (version, supported) = match &a[1..3] {
                "13" => (0x0303, vec![0x5a5a, 0x0304, 0x0303]),
                "12" => (0x0303, vec![]),
                "10" => (0x0301, vec![]),
                v => panic!("version {v}"),
            };
            let alpn = match &a[8..10] {
                "00" => None,
                s => Some(s.as_bytes().to_vec()),
            };
            let grease = |mut v: Vec<u16>| {
                v.insert(0, 0x1a1a);
                v.push(0xeaea);
                v
            };
            Hello {
                version,
                supported,
                ciphers: grease(hexes(ciphers)),
                exts: grease(hexes(exts)),
                sigs: grease(hexes(sigs)),
                alpn,
                sni: &a[3..4] == "d",
            }
        }

        fn params(&self) -> ClientParams<'_> {
            ClientParams {
                version: self.version,
                ciphers: &self.ciphers,
                extensions: &self.exts,
                sig_algs: &self.sigs,
                supported_versions: &self.supported,
                alpn_first: self.alpn.as_deref(),
                has_sni: self.sni,
                ..ClientParams::default()
            }
        }
    }

    #[test]
    fn foxio_vectors() {
        for row in ROWS {
            let hello = Hello::from_ro(row.ro);
            let p = hello.params();
            assert_eq!(ja4_ro(&p, Transport::Tcp), row.ro);
            assert_eq!(ja4_r(&p, Transport::Tcp), row.r);
            assert_eq!(ja4(&p, Transport::Tcp), row.ja4);
            assert_eq!(ja4_o(&p, Transport::Tcp), row.o);
        }
    }

    #[test]
    fn spec_example() {
        let ciphers =
            hexes("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035");
        let exts = hexes(
            "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015",
        );
        let sigs = hexes("0403,0804,0401,0503,0805,0501,0806,0601");
        let p = ClientParams {
            version: 0x0303,
            ciphers: &ciphers,
            extensions: &exts,
            sig_algs: &sigs,
            supported_versions: &[0x0304],
            alpn_first: Some(b"h2"),
            has_sni: true,
            ..ClientParams::default()
        };
        assert_eq!(
            ja4(&p, Transport::Tcp),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
        assert_eq!(
            ja4_o(&p, Transport::Tcp),
            "t13d1516h2_acb858a92679_18f69afefd3d"
        );
        assert_eq!(
            ja4(&p, Transport::Quic),
            "q13d1516h2_8daaf6152771_e5627efa2ab1"
        );
        // No signature algorithms: no trailing underscore before hashing (JA4.md).
        let p = ClientParams {
            sig_algs: &[0x3a3a],
            ..p
        };
        assert!(ja4_r(&p, Transport::Tcp)
            .ends_with("_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"));
        assert_eq!(&ja4(&p, Transport::Tcp)[24..], "6d807ffa2a79");
    }

    #[test]
    fn empty_lists_and_arkime_vector() {
        // arkime_synthetic.pcap: one cipher, no extensions.
        let p = ClientParams {
            version: 0x0303,
            ciphers: &[0x002f],
            ..ClientParams::default()
        };
        assert_eq!(
            ja4(&p, Transport::Tcp),
            "t12i010000_ba72b8082249_000000000000"
        );
        assert_eq!(ja4_r(&p, Transport::Tcp), "t12i010000_002f_");
        let p = ClientParams {
            version: 0x0300,
            extensions: &[0x0000, 0x0010],
            has_sni: true,
            ..p
        };
        assert_eq!(
            ja4(&p, Transport::Tcp),
            "ts3d010200_ba72b8082249_000000000000"
        );
        let nothing = ClientParams::default();
        assert_eq!(
            ja4(&nothing, Transport::Tcp),
            "t00i000000_000000000000_000000000000"
        );
    }

    /// JA4.md: `_o` keeps SNI and ALPN, so an SNI-only hello hashes `0000` there, while
    /// the sorted JA4 (SNI removed, nothing left) gets the empty-list zeros.
    #[test]
    fn original_order_sni_only_is_not_empty() {
        let p = ClientParams {
            version: 0x0301,
            ciphers: &[0x0039, 0x00ff],
            extensions: &[0x0000],
            has_sni: true,
            ..ClientParams::default()
        };
        assert_eq!(ja4_ro(&p, Transport::Tcp), "t10d020100_0039,00ff_0000");
        assert!(ja4_o(&p, Transport::Tcp).ends_with("_9af15b336e6a"));
        assert_eq!(ja4_r(&p, Transport::Tcp), "t10d020100_0039,00ff_");
        assert!(ja4(&p, Transport::Tcp).ends_with("_000000000000"));
    }

    #[test]
    fn counts_cap_at_99() {
        let many: Vec<u16> = (1..=150).collect();
        let p = ClientParams {
            version: 0x0303,
            ciphers: &many,
            extensions: &many,
            ..ClientParams::default()
        };
        assert!(ja4(&p, Transport::Tcp).starts_with("t12i999900_"));
        let few: Vec<u16> = (1..=9).collect();
        let p = ClientParams {
            ciphers: &few,
            extensions: &few,
            ..p
        };
        assert!(ja4(&p, Transport::Tcp).starts_with("t12i090900_"));
    }

    #[test]
    fn alpn_rules() {
        assert_eq!(alpn_chars(None), ['0', '0']);
        assert_eq!(alpn_chars(Some(b"")), ['0', '0']);
        assert_eq!(alpn_chars(Some(b"h2")), ['h', '2']);
        assert_eq!(alpn_chars(Some(b"http/1.1")), ['h', '1']);
        assert_eq!(alpn_chars(Some(b"H2")), ['H', '2'], "case is kept");
        assert_eq!(
            alpn_chars(Some(b"x")),
            ['x', 'x'],
            "one byte is first and last"
        );
        // JA4.md examples of the hex rule.
        assert_eq!(alpn_chars(Some(&[0xab])), ['a', 'b']);
        assert_eq!(alpn_chars(Some(&[0xab, 0xcd])), ['a', 'd']);
        assert_eq!(alpn_chars(Some(&[0x30, 0xab])), ['3', 'b']);
        assert_eq!(alpn_chars(Some(&[0x30, 0x31, 0xab, 0xcd])), ['3', 'd']);
        assert_eq!(alpn_chars(Some(&[0x30, 0xab, 0xcd, 0x31])), ['0', '1']);
        assert_eq!(alpn_chars(Some(&[0xba, 0xad])), ['b', 'd']);
        // Cases like those of s2n-tls's `alpns.pcap` (corpus `s2n-tls/tests/pcap/data/`).
        assert_eq!(alpn_chars(Some(&[b'z', 0xab])), ['7', 'b']);
        assert_eq!(alpn_chars(Some(&[0xab, b'z', b'y', 0xcd])), ['a', 'd']);
        assert_eq!(alpn_chars(Some(&[b'z', 0xab, 0xcd, b'y'])), ['z', 'y']);
        assert_eq!(alpn_chars(Some(b"-+")), ['2', 'b']);
        assert_eq!(alpn_chars(Some(b"_")), ['5', 'f']);
        assert_eq!(
            alpn_chars(Some(b",zy")),
            ['2', '9'],
            "',' is not alphanumeric"
        );
        assert_eq!(
            alpn_chars(Some(b"h2/")),
            ['6', 'f'],
            "'/' is not alphanumeric"
        );
    }

    #[test]
    fn versions() {
        let v = |legacy: u16, sv: &[u16], t: Transport| {
            let p = ClientParams {
                version: legacy,
                supported_versions: sv,
                ..ClientParams::default()
            };
            version_code(&p, t)
        };
        assert_eq!(v(0x0303, &[0x0a0a, 0x0303, 0x0304], Transport::Tcp), "13");
        assert_eq!(
            v(0x0303, &[0x0a0a], Transport::Tcp),
            "12",
            "only GREASE: legacy version"
        );
        assert_eq!(v(0x0301, &[], Transport::Tcp), "10");
        assert_eq!(v(0x0302, &[], Transport::Tcp), "11");
        assert_eq!(v(0x0002, &[], Transport::Tcp), "s2");
        assert_eq!(
            v(0x0303, &[0x7f1c], Transport::Tcp),
            "00",
            "draft versions are unknown"
        );
        assert_eq!(v(0xfefd, &[], Transport::Dtls), "d2");
        assert_eq!(v(0xfeff, &[], Transport::Dtls), "d1");
        assert_eq!(v(0xfefd, &[0xfefc, 0xfefd], Transport::Dtls), "d3");
    }
}
