//! From a shipped connection ([`FlowRecord`]) to an output row: TLS parsing,
//! fingerprints, certificate hashing and (first sighting only) certificate parsing.
//!
//! This is the work of the parser pool; it is a pure function of the record plus a
//! shared "already parsed" set for certificates, so its result does not depend on which
//! thread runs it. The certificate set only decides *who* parses a certificate, never
//! what ends up in the output (the writer merges sightings by hash).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::certs::chain::{Validator, Verdict};
use crate::certs::{cert_sha256_hex_memo, parse_certificate, CertInfo};
use crate::fingerprint::{self, ClientParams, ServerParams, Transport};
use crate::flow::community_id::{community_id_v1, PROTO_TCP};
use crate::flow::stream::{StreamData, StreamEnd};
use crate::flow::table::{ClientBy, FlowRecord};
use crate::memo::{ByteMemo, MemoSize};
use crate::tls::model::HandshakeInfo;

/// Connection identity of a row.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    /// Packet time of the connection's first packet, µs since the epoch (UTC).
    pub ts_us: i64,
    pub community_id: String,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub vlan: u32,
    pub source_file: Arc<str>,
    /// Position of the row in its source (order of TLS recognition).
    pub seq: u64,
}

/// Fingerprint strings of a row (absent when the hello they describe is absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints {
    pub ja3: Option<String>,
    pub ja3_string: Option<String>,
    pub ja3s: Option<String>,
    pub ja3s_string: Option<String>,
    pub ja4: Option<String>,
    pub ja4_r: Option<String>,
    pub ja4_o: Option<String>,
    pub ja4_ro: Option<String>,
}

/// One `handshakes` row.
#[derive(Debug, Clone)]
pub struct HandshakeRow {
    pub meta: ConnMeta,
    /// Parsed handshake; its certificate DER vectors are emptied (hashes below).
    pub hs: HandshakeInfo,
    pub fp: Fingerprints,
    pub cert_chain_sha256: Vec<String>,
    pub client_cert_chain_sha256: Vec<String>,
    /// Stream-level anomalies (gaps, differing overlaps, missing SYN, ...).
    pub anomalies: Vec<&'static str>,
    /// Server chain validation at packet time; `None` when no chain was readable.
    pub validation: Option<Verdict>,
    /// Finding codes ([`crate::findings`]).
    pub findings: Vec<&'static str>,
}

/// A certificate seen in a row's chain.
#[derive(Debug, Clone)]
pub struct CertSighting {
    pub sha256: String,
    pub ts_us: i64,
    /// Parsed fields, present only for the sighting that first claimed this hash.
    pub info: Option<Box<CertInfo>>,
}

/// Output of the parser pool for one connection.
#[derive(Debug, Clone)]
pub struct Analyzed {
    pub row: HandshakeRow,
    pub certs: Vec<CertSighting>,
}

/// Certificates already parsed by some worker (by SHA-256), so each distinct
/// certificate is parsed once per run. Bounded: past `limit` hashes, the set stops
/// growing and later certificates are parsed again (correct, only slower), counted by
/// the writer as duplicates it drops.
pub struct CertClaims {
    seen: Mutex<HashSet<String>>,
    limit: usize,
}

impl CertClaims {
    pub fn new(limit: usize) -> Self {
        CertClaims {
            seen: Mutex::new(HashSet::new()),
            limit,
        }
    }

    /// `true` when the caller is the first to see this hash and must parse it.
    fn claim(&self, sha256: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(sha256) {
            return false;
        }
        if seen.len() < self.limit {
            seen.insert(sha256.to_owned());
        }
        true
    }
}

const NS_PER_US: i64 = 1_000;

/// Parse one connection into its row, its findings and certificate sightings.
pub fn analyze_flow(
    rec: FlowRecord,
    source: &Arc<str>,
    claims: &CertClaims,
    validator: &Validator,
) -> Analyzed {
    let mut hs = crate::tls::analyze(&rec.client, &rec.server);
    let ts_us = rec.first_ts_ns.div_euclid(NS_PER_US);

    let mut certs = Vec::new();
    let hash_chain = |ders: &[Vec<u8>], certs: &mut Vec<CertSighting>| {
        let mut hashes = Vec::with_capacity(ders.len());
        for der in ders {
            let sha256 = cert_sha256_hex_memo(der);
            let info = claims
                .claim(&sha256)
                .then(|| Box::new(parse_certificate(der)));
            certs.push(CertSighting {
                sha256: sha256.clone(),
                ts_us,
                info,
            });
            hashes.push(sha256);
        }
        hashes
    };
    let cert_chain_sha256 = hash_chain(&hs.server_certs, &mut certs);
    let client_cert_chain_sha256 = hash_chain(&hs.client_certs, &mut certs);
    let sni = hs.client_hello.as_ref().and_then(|c| c.sni.as_deref());
    let validation = validator.check(
        &hs.server_certs,
        &cert_chain_sha256,
        rec.first_ts_ns.div_euclid(1_000_000_000),
        sni,
    );
    let findings = crate::findings::handshake_findings(&hs, validation.as_ref());
    hs.server_certs = Vec::new();
    hs.client_certs = Vec::new();

    let fp = fingerprints(&hs);
    let mut anomalies = Vec::new();
    if rec.client_by != ClientBy::Syn {
        anomalies.push("no_syn");
    }
    stream_anomalies(&rec.client, "client", &mut anomalies);
    stream_anomalies(&rec.server, "server", &mut anomalies);

    let meta = ConnMeta {
        ts_us,
        community_id: community_id_v1(
            rec.client_ip,
            rec.client_port,
            rec.server_ip,
            rec.server_port,
            PROTO_TCP,
        ),
        src_ip: rec.client_ip,
        src_port: rec.client_port,
        dst_ip: rec.server_ip,
        dst_port: rec.server_port,
        vlan: rec.vlan,
        source_file: source.clone(),
        seq: rec.seq,
    };
    Analyzed {
        row: HandshakeRow {
            meta,
            hs,
            fp,
            cert_chain_sha256,
            client_cert_chain_sha256,
            anomalies,
            validation,
            findings,
        },
        certs,
    }
}

fn stream_anomalies(s: &StreamData, side: &'static str, out: &mut Vec<&'static str>) {
    let client = side == "client";
    if !s.gaps.is_empty() {
        out.push(if client { "client_gap" } else { "server_gap" });
    }
    if s.overlap_conflict {
        out.push(if client {
            "client_overlap_conflict"
        } else {
            "server_overlap_conflict"
        });
    }
    if s.end == StreamEnd::Truncated {
        out.push(if client {
            "client_truncated"
        } else {
            "server_truncated"
        });
    }
}

/// JA3/JA3S/JA4 of a parsed handshake.
///
/// - JA3 and JA4 describe the first ClientHello, never the retry after a
///   HelloRetryRequest (the retry answers the server, so it is not the client's own
///   choice; JA4.md and FoxIO's tools fingerprint the first hello of a stream). The
///   reassembled stream holds a retransmitted hello once, so it cannot count twice.
/// - JA3S describes the real ServerHello, not the HelloRetryRequest (RFC 8446 4.1.4:
///   a different message that only borrows the ServerHello layout).
/// - SSLv2-format hellos get none of them: JA3 (Salesforce `ja3.py` reads TLS handshake
///   records only), JA4 and JA3S are defined on TLS hellos, whose extension and 2-byte
///   cipher lists an SSLv2 hello does not have. tshark and Arkime print nothing for them
///   either, and a made-up string that no other tool produces is no pivot.
///
/// The fingerprints are pure functions of the hello parameters, and one client build
/// sends the same parameters on every connection, so each parser thread remembers
/// recent results ([`FINGERPRINT_MEMO_BYTES`], keyed by every parameter byte for byte:
/// see [`crate::memo`]). A client that permutes its extensions per connection (Chrome
/// since version 110) or sends fresh GREASE values simply misses the memo.
pub fn fingerprints(hs: &HandshakeInfo) -> Fingerprints {
    let mut fp = Fingerprints::default();
    FP_MEMO.with(|m| {
        let m = &mut *m.borrow_mut();
        if let Some(ch) = hs.client_hello.as_ref().filter(|ch| !ch.sslv2_format) {
            let p = ClientParams::from(ch);
            m.key.clear();
            p.memo_key(&mut m.key);
            let [ja3, ja3_string, ja4, ja4_r, ja4_o, ja4_ro] = m
                .client
                .get_or_insert_with(&m.key, || client_fingerprints(&p))
                .0;
            fp.ja3 = Some(ja3);
            fp.ja3_string = Some(ja3_string);
            fp.ja4 = Some(ja4);
            fp.ja4_r = Some(ja4_r);
            fp.ja4_o = Some(ja4_o);
            fp.ja4_ro = Some(ja4_ro);
        }
        if let Some(sh) = hs.server_hello.as_ref().filter(|sh| !sh.sslv2_format) {
            let p = ServerParams::from(sh);
            m.key.clear();
            p.memo_key(&mut m.key);
            let [ja3s, ja3s_string] = m
                .server
                .get_or_insert_with(&m.key, || {
                    let s = fingerprint::ja3s_string(&p);
                    FpStrings([fingerprint::md5_hex(&s), s])
                })
                .0;
            fp.ja3s = Some(ja3s);
            fp.ja3s_string = Some(ja3s_string);
        }
    });
    fp
}

/// JA3 hash and string, JA4, JA4_r, JA4_o, JA4_ro of one ClientHello.
fn client_fingerprints(p: &ClientParams) -> FpStrings<6> {
    let s = fingerprint::ja3_string(p);
    let ja3 = fingerprint::md5_hex(&s);
    let (ja4, ja4_r) = fingerprint::ja4_and_raw(p, Transport::Tcp, false);
    let (ja4_o, ja4_ro) = fingerprint::ja4_and_raw(p, Transport::Tcp, true);
    FpStrings([ja3, s, ja4, ja4_r, ja4_o, ja4_ro])
}

/// Key and value bytes each parser thread keeps of recent fingerprints, per side.
pub const FINGERPRINT_MEMO_BYTES: usize = 1 << 20;

#[derive(Clone)]
struct FpStrings<const N: usize>([String; N]);

impl<const N: usize> MemoSize for FpStrings<N> {
    fn memo_bytes(&self) -> usize {
        self.0.iter().map(String::len).sum()
    }
}

struct FpMemo {
    key: Vec<u8>,
    client: ByteMemo<FpStrings<6>>,
    server: ByteMemo<FpStrings<2>>,
}

thread_local! {
    static FP_MEMO: std::cell::RefCell<FpMemo> = std::cell::RefCell::new(FpMemo {
        key: Vec::new(),
        client: ByteMemo::new(FINGERPRINT_MEMO_BYTES),
        server: ByteMemo::new(FINGERPRINT_MEMO_BYTES),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::model::{ClientHello, ServerHello};

    fn hello(ciphers: &[u16]) -> ClientHello {
        ClientHello {
            version: 0x0303,
            cipher_suites: ciphers.to_vec(),
            extensions: vec![0, 43],
            supported_versions: vec![0x0304],
            ..ClientHello::default()
        }
    }

    fn server(exts: &[u16], hrr: bool) -> ServerHello {
        ServerHello {
            version: 0x0303,
            cipher: 0x1301,
            extensions: exts.to_vec(),
            is_hrr: hrr,
            ..ServerHello::default()
        }
    }

    /// Memoized fingerprints equal freshly computed ones, on a hit as on a miss, and
    /// hellos that differ in one parameter never share a result.
    #[test]
    fn memoized_fingerprints_match_fresh_ones() {
        let variants: Vec<ClientHello> = vec![
            hello(&[0x1301, 0x1302]),
            hello(&[0x1302, 0x1301]),
            ClientHello {
                alpn: vec![b"h2".to_vec()],
                ..hello(&[0x1301, 0x1302])
            },
            ClientHello {
                alpn: vec![b"http/1.1".to_vec()],
                ..hello(&[0x1301, 0x1302])
            },
            ClientHello {
                signature_algorithms: vec![0x0403],
                ..hello(&[0x1301, 0x1302])
            },
        ];
        for round in 0..2 {
            for ch in &variants {
                let hs = HandshakeInfo {
                    client_hello: Some(ch.clone()),
                    server_hello: Some(server(&[43, 51], false)),
                    ..HandshakeInfo::default()
                };
                let fp = fingerprints(&hs);
                let [ja3, ja3_string, ja4, ja4_r, ja4_o, ja4_ro] =
                    client_fingerprints(&ClientParams::from(ch)).0;
                assert_eq!(fp.ja3, Some(ja3), "round {round}");
                assert_eq!(fp.ja3_string, Some(ja3_string));
                assert_eq!(fp.ja4, Some(ja4));
                assert_eq!(fp.ja4_r, Some(ja4_r));
                assert_eq!(fp.ja4_o, Some(ja4_o));
                assert_eq!(fp.ja4_ro, Some(ja4_ro));
                assert_eq!(fp.ja3s_string.as_deref(), Some("771,4865,43-51"));
            }
        }
        let raw = |ch: &ClientHello| {
            fingerprints(&HandshakeInfo {
                client_hello: Some(ch.clone()),
                ..HandshakeInfo::default()
            })
            .ja4_ro
        };
        let distinct: HashSet<_> = variants.iter().map(raw).collect();
        assert_eq!(distinct.len(), variants.len());
    }

    #[test]
    fn hello_retry_request_fingerprints_first_client_hello_and_real_server_hello() {
        let hs = HandshakeInfo {
            client_hello: Some(hello(&[0x1301, 0x1302])),
            retry_client_hello: Some(hello(&[0x1303])),
            hello_retry_request: Some(server(&[43, 51], true)),
            server_hello: Some(server(&[51, 43], false)),
            ..HandshakeInfo::default()
        };
        let fp = fingerprints(&hs);
        assert_eq!(fp.ja3_string.as_deref(), Some("771,4865-4866,0-43,,"));
        assert!(fp.ja4.as_deref().unwrap().starts_with("t13d0202"));
        assert_eq!(fp.ja3s_string.as_deref(), Some("771,4865,51-43"));
        assert!(!fp.ja3_string.unwrap().contains(';'), "nothing appended");
    }

    #[test]
    fn sslv2_format_hellos_get_no_fingerprints() {
        let hs = HandshakeInfo {
            client_hello: Some(ClientHello {
                sslv2_format: true,
                ..hello(&[0x0039])
            }),
            server_hello: Some(ServerHello {
                sslv2_format: true,
                version: 0x0002,
                ..ServerHello::default()
            }),
            ..HandshakeInfo::default()
        };
        assert_eq!(fingerprints(&hs), Fingerprints::default());
    }
}
