//! From a shipped connection ([`FlowRecord`]) to an output row: TLS parsing,
//! fingerprints, certificate hashing and (first sighting only) certificate parsing.
//!
//! This is the work of the parser pool; it is a pure function of the record plus a
//! shared "already parsed" set for certificates, so its result does not depend on which
//! thread runs it. The certificate set only decides *who* parses a certificate, never
//! what ends up in the output (the writer merges sightings by hash).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::certs::chain::{Validator, Verdict};
use crate::certs::{cert_sha256_hex_memo, parse_certificate, CertInfo};
use crate::fingerprint::{self, ClientParams, ServerParams};
use crate::flow::community_id::{community_id_v1, PROTO_TCP, PROTO_UDP};
use crate::flow::record::{ClientBy, FlowPayload, FlowRecord, Transport, UdpFacts, UdpPayload};
use crate::flow::stream::{StreamData, StreamEnd};
use crate::memo::{ByteMemo, MemoSize};
use crate::stats::Counters;
use crate::tls::model::HandshakeInfo;
use crate::tls::{Event, FramedSide, Limits};
use crate::{dtls, quic};

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
    pub transport: Transport,
    /// How the client's first packet was wrapped (tunnels, outermost first).
    pub encap: crate::decode::Encap,
    pub source_file: Arc<str>,
    /// Position of the row in its source (order of TLS recognition).
    pub seq: u64,
}

/// Fingerprint strings of a row (absent when the hello they describe is absent). Shared
/// with the parser thread's memo: one client build's strings are stored once, and each
/// of its rows holds a reference, not a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints {
    pub ja3: Option<Arc<str>>,
    pub ja3_string: Option<Arc<str>>,
    pub ja3s: Option<Arc<str>>,
    pub ja3s_string: Option<Arc<str>>,
    pub ja4: Option<Arc<str>>,
    pub ja4_r: Option<Arc<str>>,
    pub ja4_o: Option<Arc<str>>,
    pub ja4_ro: Option<Arc<str>>,
}

/// What a QUIC row says about the QUIC layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicMeta {
    /// Wire version of the client's first Initial.
    pub version: u32,
    /// The client's first Destination Connection ID, hex.
    pub dcid: String,
    /// The server's Source Connection ID from its first Initial, hex.
    pub scid: Option<String>,
    /// The client's Source Connection ID, hex.
    pub client_scid: String,
    /// The server sent a Retry.
    pub retry: bool,
}

/// What a TCP row's TLS was wrapped in (the `wrapper`, `proxy_src_*` columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrapMeta {
    /// Version (1, 2) of the PROXY protocol header that opened the client's stream.
    pub proxy_version: Option<u8>,
    /// The source address that header carried: the real client behind a load balancer.
    pub proxy_src: Option<SocketAddr>,
    /// The TLS handshake travelled in OpenVPN control packets.
    pub openvpn: bool,
}

impl WrapMeta {
    /// The `wrapper` column: the wrappers outermost first, `/`-joined; `None` when the
    /// TLS was not wrapped.
    pub fn wrapper(&self) -> Option<&'static str> {
        match (self.proxy_version, self.openvpn) {
            (None, false) => None,
            (None, true) => Some("openvpn"),
            (Some(1), false) => Some("proxy_v1"),
            (Some(1), true) => Some("proxy_v1/openvpn"),
            (Some(_), false) => Some("proxy_v2"),
            (Some(_), true) => Some("proxy_v2/openvpn"),
        }
    }
}

/// One `handshakes` row.
#[derive(Debug, Clone)]
pub struct HandshakeRow {
    pub meta: ConnMeta,
    /// QUIC rows only.
    pub quic: Option<QuicMeta>,
    /// TCP rows: a PROXY header or OpenVPN around the TLS.
    pub wrap: WrapMeta,
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
    /// What the parsers counted on this connection (`tls.*`, `quic.*`, `dtls.*`).
    pub counters: Counters,
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

/// [`analyze_flow`] for each of a batch of connections, in order (the parser pool's
/// unit of work, for `read` and `live` alike).
pub fn analyze_flows(
    recs: Vec<FlowRecord>,
    source: &Arc<str>,
    claims: &CertClaims,
    validator: &Validator,
) -> Vec<Analyzed> {
    // Sized up front: rows are large, and growing by doubling copied each several times.
    let mut rows = Vec::with_capacity(recs.len());
    rows.extend(
        recs.into_iter()
            .filter_map(|r| analyze_flow(r, source, claims, validator)),
    );
    rows
}

/// Parse one connection into its row, its findings and certificate sightings. `None`
/// for a UDP flow that turned out not to be QUIC (no Initial packet decrypted: the
/// content only looked like one).
pub fn analyze_flow(
    rec: FlowRecord,
    source: &Arc<str>,
    claims: &CertClaims,
    validator: &Validator,
) -> Option<Analyzed> {
    let mut counters = Counters::new();
    let lim = Limits::default();
    let mut anomalies = Vec::new();
    let transport = rec.transport();
    let mut wrap = WrapMeta::default();
    let (mut hs, quic_meta) = match &rec.payload {
        FlowPayload::Tcp { client, server } => {
            if rec.client_by != ClientBy::Syn {
                anomalies.push("no_syn");
            }
            stream_anomalies(client, "client", &mut anomalies);
            stream_anomalies(server, "server", &mut anomalies);
            (
                tcp_handshake(client, server, &lim, &mut counters, &mut wrap),
                None,
            )
        }
        FlowPayload::Udp {
            transport: Transport::Quic,
            datagrams,
            facts,
        } => {
            let (hs, meta) = quic_handshake(datagrams, facts, &lim, &mut counters, &mut anomalies)?;
            (hs, Some(meta))
        }
        FlowPayload::Udp {
            datagrams, facts, ..
        } => (
            dtls_handshake(datagrams, facts, &lim, &mut counters, &mut anomalies),
            None,
        ),
    };
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

    let fp = fingerprints(&hs, transport);
    let proto = match transport {
        Transport::Tcp => PROTO_TCP,
        Transport::Quic | Transport::Dtls => PROTO_UDP,
    };
    let meta = ConnMeta {
        ts_us,
        community_id: community_id_v1(
            rec.client_ip,
            rec.client_port,
            rec.server_ip,
            rec.server_port,
            proto,
        ),
        src_ip: rec.client_ip,
        src_port: rec.client_port,
        dst_ip: rec.server_ip,
        dst_port: rec.server_port,
        vlan: rec.vlan,
        transport,
        encap: rec.encap,
        source_file: source.clone(),
        seq: rec.seq,
    };
    Some(Analyzed {
        row: HandshakeRow {
            meta,
            quic: quic_meta,
            wrap,
            hs,
            fp,
            cert_chain_sha256,
            client_cert_chain_sha256,
            anomalies,
            validation,
            findings,
        },
        certs,
        counters,
    })
}

/// A TCP connection's handshake: behind a PROXY protocol header and inside OpenVPN's
/// control channel when the streams open with them (`wrap` says so), else the two
/// streams as captured.
fn tcp_handshake(
    client: &StreamData,
    server: &StreamData,
    lim: &Limits,
    counters: &mut Counters,
    wrap: &mut WrapMeta,
) -> HandshakeInfo {
    let proxy = crate::tls::proxy::parse(&client.data).ok();
    if let Some(p) = proxy {
        wrap.proxy_version = Some(p.version);
        wrap.proxy_src = p.src;
        if p.bad_tlvs {
            counters.bump("tls.proxy_bad_tlvs");
        }
    }
    let skip = proxy.map_or(0, |p| p.len);
    match crate::openvpn::unwrap(client, skip, server, counters) {
        Some(inner) => {
            wrap.openvpn = true;
            crate::tls::analyze_with(&inner.client, &inner.server, lim, counters)
        }
        None => crate::tls::analyze_with(client, server, lim, counters),
    }
}

/// A QUIC connection's handshake: Initial packets decrypted and their CRYPTO frames
/// reassembled by [`quic`], the messages parsed by [`crate::tls`]. `None` when no
/// Initial decrypted (not QUIC after all, or not a version we can read).
fn quic_handshake(
    datagrams: &[UdpPayload],
    facts: &UdpFacts,
    lim: &Limits,
    counters: &mut Counters,
    anomalies: &mut Vec<&'static str>,
) -> Option<(HandshakeInfo, QuicMeta)> {
    let dg: Vec<_> = datagrams.iter().map(UdpPayload::as_datagram).collect();
    let conn = quic::connection(&dg, &quic::QuicLimits::default(), counters)?;
    if conn.client_initials == 0 {
        counters.bump("quic.no_client_initial");
        return None;
    }
    let client = crypto_side(&conn.client, facts.client_short);
    let server = crypto_side(&conn.server, facts.server_short);
    let mut hs = crate::tls::analyze_framed(&client, &server, lim, counters);
    // QUIC carries no TLS records: CCS and record-layer facts do not apply, and the
    // certificate always travels in (encrypted) Handshake packets.
    hs.certs_encrypted = hs.server_hello.is_some() && hs.server_certs.is_empty() && !hs.resumed;
    for (client, cs) in [(true, &conn.client), (false, &conn.server)] {
        side_anomalies(client, cs.gap, cs.overlap_conflict, cs.capped, anomalies);
    }
    if conn.decrypt_failed > 0 {
        anomalies.push("quic_decrypt_failed");
    }
    if facts.truncated {
        anomalies.push("udp_truncated");
    }
    let meta = QuicMeta {
        version: conn.version,
        dcid: hex::encode(&conn.dcid),
        scid: conn.scid.as_deref().map(hex::encode),
        client_scid: hex::encode(&conn.client_scid),
        retry: conn.retry,
    };
    Some((hs, meta))
}

/// One side's Initial CRYPTO stream as handshake events; `short`: the side sent 1-RTT
/// packets (protected traffic after the handshake).
fn crypto_side(cs: &quic::CryptoStream, short: bool) -> FramedSide<'_> {
    let mut f = FramedSide {
        gap: cs.gap,
        truncated: cs.capped,
        ..FramedSide::default()
    };
    if crate::tls::split_messages(&cs.data, cs.first_ts_ns, &mut f.events) && !cs.gap {
        // The stream ends inside a message: the rest never arrived.
        f.gap = true;
    }
    if short {
        f.events.push(Event::Protected { ts_ns: None });
    }
    f
}

/// A DTLS direction's events for the handshake parser.
fn dtls_side(d: &dtls::Direction, truncated: bool) -> FramedSide<'_> {
    let mut f = FramedSide {
        gap: d.incomplete_message,
        truncated: d.capped || truncated,
        ..FramedSide::default()
    };
    for e in &d.events {
        f.events.push(match e {
            dtls::Event::Message {
                msg_type,
                body,
                record_version,
                ts_ns,
                ..
            } => Event::Message {
                ty: *msg_type,
                body,
                record_version: *record_version,
                ts_ns: Some(*ts_ns),
            },
            dtls::Event::ChangeCipherSpec { .. } => Event::ChangeCipherSpec,
            dtls::Event::Alert {
                level, description, ..
            } => Event::Alert {
                level: *level,
                description: *description,
            },
            dtls::Event::Encrypted { ts_ns, .. } => Event::Protected {
                ts_ns: Some(*ts_ns),
            },
        });
    }
    f
}

/// A DTLS association's handshake: records and handshake fragments reassembled by
/// [`dtls`], the messages parsed by [`crate::tls`].
fn dtls_handshake(
    datagrams: &[UdpPayload],
    facts: &UdpFacts,
    lim: &Limits,
    counters: &mut Counters,
    anomalies: &mut Vec<&'static str>,
) -> HandshakeInfo {
    let dg: Vec<_> = datagrams.iter().map(UdpPayload::as_datagram).collect();
    let dl = dtls::DtlsLimits::default();
    let c = dtls::direction(&dg, true, &dl, counters);
    let s = dtls::direction(&dg, false, &dl, counters);
    let hs = crate::tls::analyze_framed(
        &dtls_side(&c, facts.truncated),
        &dtls_side(&s, facts.truncated),
        lim,
        counters,
    );
    for (client, d) in [(true, &c), (false, &s)] {
        side_anomalies(
            client,
            d.incomplete_message,
            d.overlap_conflict,
            d.capped,
            anomalies,
        );
    }
    if facts.truncated {
        anomalies.push("udp_truncated");
    }
    hs
}

fn stream_anomalies(s: &StreamData, side: &'static str, out: &mut Vec<&'static str>) {
    let truncated = s.end == StreamEnd::Truncated;
    side_anomalies(
        side == "client",
        !s.gaps.is_empty(),
        s.overlap_conflict,
        truncated,
        out,
    );
}

/// The anomaly names of one side: bytes missing (a TCP gap, a CRYPTO gap, a DTLS
/// message whose fragments never all arrived), a differing overlap, a limit cut.
fn side_anomalies(
    client: bool,
    gap: bool,
    overlap_conflict: bool,
    truncated: bool,
    out: &mut Vec<&'static str>,
) {
    let pick = |c: &'static str, s: &'static str| if client { c } else { s };
    if gap {
        out.push(pick("client_gap", "server_gap"));
    }
    if overlap_conflict {
        out.push(pick("client_overlap_conflict", "server_overlap_conflict"));
    }
    if truncated {
        out.push(pick("client_truncated", "server_truncated"));
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
pub fn fingerprints(hs: &HandshakeInfo, transport: Transport) -> Fingerprints {
    let mut fp = Fingerprints::default();
    let t = transport;
    FP_MEMO.with(|m| {
        let m = &mut *m.borrow_mut();
        if let Some(ch) = hs.client_hello.as_ref().filter(|ch| !ch.sslv2_format) {
            let p = ClientParams::from(ch);
            m.key.clear();
            // The JA4 prefix depends on the transport: it is part of the key.
            m.key.push(t as u8);
            p.memo_key(&mut m.key);
            let [ja3, ja3_string, ja4, ja4_r, ja4_o, ja4_ro] = m
                .client
                .get_or_insert_with(&m.key, || client_fingerprints(&p, t))
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
                    FpStrings([fingerprint::md5_hex(&s).into(), s.into()])
                })
                .0;
            fp.ja3s = Some(ja3s);
            fp.ja3s_string = Some(ja3s_string);
        }
    });
    fp
}

/// JA3 hash and string, JA4, JA4_r, JA4_o, JA4_ro of one ClientHello.
fn client_fingerprints(p: &ClientParams, t: Transport) -> FpStrings<6> {
    let s = fingerprint::ja3_string(p);
    let ja3 = fingerprint::md5_hex(&s);
    let (ja4, ja4_r) = fingerprint::ja4_and_raw(p, t, false);
    let (ja4_o, ja4_ro) = fingerprint::ja4_and_raw(p, t, true);
    FpStrings([ja3, s, ja4, ja4_r, ja4_o, ja4_ro].map(Arc::from))
}

/// Key and value bytes each parser thread keeps of recent fingerprints, per side.
pub const FINGERPRINT_MEMO_BYTES: usize = 1 << 20;

#[derive(Clone)]
struct FpStrings<const N: usize>([Arc<str>; N]);

impl<const N: usize> MemoSize for FpStrings<N> {
    fn memo_bytes(&self) -> usize {
        self.0.iter().map(|s| s.len()).sum()
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
                let fp = fingerprints(&hs, Transport::Tcp);
                let [ja3, ja3_string, ja4, ja4_r, ja4_o, ja4_ro] =
                    client_fingerprints(&ClientParams::from(ch), Transport::Tcp).0;
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
            fingerprints(
                &HandshakeInfo {
                    client_hello: Some(ch.clone()),
                    ..HandshakeInfo::default()
                },
                Transport::Tcp,
            )
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
        let fp = fingerprints(&hs, Transport::Tcp);
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
        assert_eq!(fingerprints(&hs, Transport::Tcp), Fingerprints::default());
    }
}
