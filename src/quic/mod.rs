//! QUIC framing layer: one connection's UDP datagrams in, the two directions'
//! Initial-level CRYPTO streams (the TLS ClientHello and ServerHello bytes) and QUIC
//! metadata out. RFC 9000 (transport), RFC 9001 (TLS in QUIC), RFC 9369 (QUIC v2),
//! plus IETF drafts 22-34, mvfst and Google T050/T051 (see [`version`]).
//!
//! Flow: [`packet`] walks the coalesced packets of each datagram by their Length
//! fields without crypto; only Initial packets are opened ([`keys`]: header protection
//! removed, AES-128-GCM tag verified, a failed packet is counted and never parsed);
//! [`frames`] reads the plaintext; [`reassembly`] rebuilds each direction's CRYPTO
//! stream. Handshake, 0-RTT and 1-RTT packets are only noted (their keys come from the
//! TLS handshake, which a passive tap does not have).
//!
//! Keys: derived from the client's first Destination Connection ID. A client that
//! switches to the server's chosen CID after the server's first Initial keeps those
//! keys (RFC 9001 5.2). After a Retry the client's next Initial carries a new DCID and
//! both directions' keys derive from it; the client's CRYPTO stream restarts then. A
//! server may answer in another compatible version (RFC 9368): keys are derived per
//! (version, DCID) pair, at most [`MAX_KEY_SETS`] of them.
//!
//! Limits ([`QuicLimits`]): `max_crypto_bytes` per direction (`quic.crypto_capped`),
//! `max_packets` Initial packets opened per connection (`quic.packets_capped`), plus
//! fixed caps on coalesced packets per datagram and CRYPTO fragments per direction.
//! Never panics on any bytes.
//!
//! Counters: `quic.decrypt_failed` (tag check failed; the packet is not parsed),
//! `quic.bad_packet` (length fields inconsistent), `quic.unknown_version`,
//! `quic.retry`, `quic.packets_capped`, `quic.crypto_capped`, `quic.crypto_gap`,
//! `quic.crypto_overlap_conflict`, `quic.crypto_fragments_dropped`,
//! `quic.unknown_frame`, `quic.bad_frame` (truncated frame), `quic.not_tls` (Q050).

pub mod frames;
pub mod keys;
pub mod packet;
mod reassembly;
#[cfg(test)]
mod vectors;
pub mod version;

pub use frames::ConnectionClose;
pub use packet::{packet_kinds, sniff_client_initial, ConnId, InitialHeader, PacketKinds};

use crate::stats::Counters;
use keys::InitialKeys;
use packet::{Step, MAX_CID_LEN};
use reassembly::Reassembler;
use version::{LongType, Params, Support};

/// At most this many (version, DCID) key sets are derived per connection: the first
/// DCID, a post-Retry DCID, and a compatible-version answer for each.
pub const MAX_KEY_SETS: usize = 4;

/// One UDP payload, in capture order (the flow layer's borrowed view).
pub use crate::flow::record::Datagram;

/// Per-connection work limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuicLimits {
    /// CRYPTO bytes kept per direction.
    pub max_crypto_bytes: usize,
    /// Initial packets put through AEAD per connection (successful or not).
    pub max_packets: usize,
}

impl Default for QuicLimits {
    fn default() -> Self {
        QuicLimits {
            max_crypto_bytes: 64 * 1024,
            max_packets: 64,
        }
    }
}

/// One direction's reassembled Initial CRYPTO stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptoStream {
    /// Contiguous CRYPTO bytes from offset 0 up to the first gap.
    pub data: Vec<u8>,
    /// Bytes are missing before later bytes that were received.
    pub gap: bool,
    /// `max_crypto_bytes` was hit.
    pub capped: bool,
    /// A retransmission differed from bytes already held (first wins).
    pub overlap_conflict: bool,
    /// Packet time of the (first) packet carrying offset 0.
    pub first_ts_ns: Option<i64>,
}

/// What the Initial packets of one connection showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuicConnection {
    /// Wire version of the client's first Initial.
    pub version: u32,
    /// Wire version of the server's first Initial, if it differs (RFC 9368).
    pub server_version: Option<u32>,
    /// The handshake is TLS (false for gQUIC Q050: streams stay empty).
    pub tls: bool,
    /// The client's first Destination CID (Initial keys derive from it).
    pub dcid: Vec<u8>,
    /// Server's Source CID from its first Initial.
    pub scid: Option<Vec<u8>>,
    pub client_scid: Vec<u8>,
    /// DCID the client used after a Retry (keys derive from it from then on).
    pub retry_dcid: Option<Vec<u8>>,
    pub retry: bool,
    /// The client's first Initial carried a token (from NEW_TOKEN or a Retry).
    pub client_token: bool,
    pub client: CryptoStream,
    pub server: CryptoStream,
    /// Initial packets decrypted OK.
    pub client_initials: u32,
    pub server_initials: u32,
    pub decrypt_failed: u32,
    pub client_handshake_pkts: bool,
    pub server_handshake_pkts: bool,
    pub client_zero_rtt: bool,
    /// 1-RTT (short header) packets seen.
    pub client_short: bool,
    pub server_short: bool,
    /// First CONNECTION_CLOSE found in an Initial.
    pub close: Option<ConnectionClose>,
}

struct KeySet {
    version: u32,
    dcid: ConnId,
    keys: InitialKeys,
}

/// Per-connection parse state.
struct State {
    conn: QuicConnection,
    params: Params,
    /// DCID the Initial keys currently derive from.
    key_dcid: ConnId,
    key_sets: Vec<KeySet>,
    retry_pending: bool,
    largest_pn: [Option<u64>; 2],
    attempts: usize,
    client: Reassembler,
    server: Reassembler,
    scratch: Vec<u8>,
}

impl State {
    /// Keys for packets of `version` under the current DCID, derived on first use.
    fn keys(&mut self, version: u32) -> Option<&InitialKeys> {
        let dcid = self.key_dcid;
        let i = match self
            .key_sets
            .iter()
            .position(|k| k.version == version && k.dcid == dcid)
        {
            Some(i) => i,
            None => {
                let params = match version::support(version) {
                    Support::Tls(p) => p,
                    _ => self.params,
                };
                if self.key_sets.len() >= MAX_KEY_SETS {
                    self.key_sets.remove(0);
                }
                let keys = InitialKeys::derive(params, dcid.as_slice())?;
                self.key_sets.push(KeySet {
                    version,
                    dcid,
                    keys,
                });
                self.key_sets.len() - 1
            }
        };
        self.key_sets.get(i).map(|k| &k.keys)
    }
}

/// Turn one connection's datagrams into its QUIC metadata and Initial CRYPTO streams.
/// `None` if no client Initial of a recognised version was seen (nothing to key on).
pub fn connection(
    dgrams: &[Datagram<'_>],
    lim: &QuicLimits,
    counters: &mut Counters,
) -> Option<QuicConnection> {
    let mut st: Option<State> = None;
    let mut capped_counted = false;
    for dg in dgrams {
        let dir = usize::from(!dg.from_client);
        for (off, step) in packet::walk(dg.data) {
            let h = match step {
                Step::Short => {
                    if let Some(s) = st.as_mut() {
                        if dg.from_client {
                            s.conn.client_short = true;
                        } else {
                            s.conn.server_short = true;
                        }
                    }
                    continue;
                }
                Step::Junk => continue,
                Step::Bad(_) => {
                    counters.bump("quic.bad_packet");
                    continue;
                }
                Step::Long(h) => h,
            };
            match h.support {
                Support::Negotiation => continue,
                Support::Unknown => {
                    counters.bump("quic.unknown_version");
                    continue;
                }
                Support::NotTls | Support::Tls(_) => {}
            }
            let Some(ty) = h.ty else { continue };
            let s = match (st.as_mut(), ty, dg.from_client) {
                (Some(s), _, _) => s,
                (None, LongType::Initial, true) => {
                    let Some(dcid) = ConnId::new(h.dcid) else {
                        continue;
                    };
                    let (params, tls) = match h.support {
                        Support::Tls(p) => (p, true),
                        // Q050 is recognised but its CRYPTO frames carry QUIC-crypto:
                        // report the connection, do not decrypt.
                        _ => (
                            Params {
                                salt: &[0; 20],
                                v2: false,
                            },
                            false,
                        ),
                    };
                    if !tls {
                        counters.bump("quic.not_tls");
                    }
                    st.insert(State {
                        conn: QuicConnection {
                            version: h.version,
                            tls,
                            dcid: h.dcid.to_vec(),
                            client_scid: h.scid.to_vec(),
                            client_token: !h.token.is_empty(),
                            ..Default::default()
                        },
                        params,
                        key_dcid: dcid,
                        key_sets: Vec::new(),
                        retry_pending: false,
                        largest_pn: [None; 2],
                        attempts: 0,
                        client: Reassembler::new(lim.max_crypto_bytes),
                        server: Reassembler::new(lim.max_crypto_bytes),
                        scratch: Vec::with_capacity(1500),
                    })
                }
                // Nothing to key on before the client's first Initial.
                (None, _, _) => continue,
            };
            match ty {
                LongType::Retry => {
                    if !dg.from_client && !s.conn.retry {
                        s.conn.retry = true;
                        s.retry_pending = true;
                        counters.bump("quic.retry");
                    }
                    continue;
                }
                LongType::Handshake => {
                    if dg.from_client {
                        s.conn.client_handshake_pkts = true;
                    } else {
                        s.conn.server_handshake_pkts = true;
                    }
                    continue;
                }
                LongType::ZeroRtt => {
                    s.conn.client_zero_rtt |= dg.from_client;
                    continue;
                }
                LongType::Initial => {}
            }
            if !s.conn.tls {
                continue;
            }
            if dg.from_client && s.retry_pending && h.dcid != s.key_dcid.as_slice() {
                if let Some(new) = ConnId::new(h.dcid) {
                    s.key_dcid = new;
                    s.conn.retry_dcid = Some(h.dcid.to_vec());
                    s.retry_pending = false;
                    s.client.reset();
                }
            }
            if !dg.from_client && s.conn.scid.is_none() {
                s.conn.scid = Some(h.scid.to_vec());
                if h.version != s.conn.version {
                    s.conn.server_version = Some(h.version);
                }
            }
            if s.attempts >= lim.max_packets {
                if !capped_counted {
                    counters.bump("quic.packets_capped");
                    capped_counted = true;
                }
                continue;
            }
            s.attempts += 1;
            let Some(pkt) = dg.data.get(off..off + h.packet_len) else {
                counters.bump("quic.bad_packet");
                continue;
            };
            let mut scratch = std::mem::take(&mut s.scratch);
            scratch.clear();
            scratch.extend_from_slice(pkt);
            let largest = s.largest_pn.get(dir).copied().flatten();
            let opened = match s.keys(h.version) {
                Some(k) => {
                    let dk = if dg.from_client { &k.client } else { &k.server };
                    keys::open(dk, &mut scratch, h.pn_offset, largest).ok()
                }
                None => None,
            };
            match opened {
                None => {
                    s.conn.decrypt_failed += 1;
                    counters.bump("quic.decrypt_failed");
                }
                Some(o) => {
                    if let Some(l) = s.largest_pn.get_mut(dir) {
                        *l = Some(l.map_or(o.pn, |p| p.max(o.pn)));
                    }
                    if dg.from_client {
                        s.conn.client_initials += 1;
                    } else {
                        s.conn.server_initials += 1;
                    }
                    let payload = scratch
                        .get(o.header_len..o.header_len + o.payload_len)
                        .unwrap_or(&[]);
                    let re = if dg.from_client {
                        &mut s.client
                    } else {
                        &mut s.server
                    };
                    let sum = frames::parse(payload, dg.from_client, |off, data| {
                        re.insert(off, data, dg.ts_ns)
                    });
                    if sum.unknown_type.is_some() {
                        counters.bump("quic.unknown_frame");
                    }
                    if sum.truncated {
                        counters.bump("quic.bad_frame");
                    }
                    if s.conn.close.is_none() {
                        s.conn.close = sum.close;
                    }
                }
            }
            s.scratch = scratch;
        }
    }
    let s = st?;
    let mut conn = s.conn;
    for (re, out) in [(s.client, &mut conn.client), (s.server, &mut conn.server)] {
        counters.add(
            "quic.crypto_fragments_dropped",
            u64::from(re.dropped_frames),
        );
        *out = re.finish();
        if out.capped {
            counters.bump("quic.crypto_capped");
        }
        if out.gap {
            counters.bump("quic.crypto_gap");
        }
        if out.overlap_conflict {
            counters.bump("quic.crypto_overlap_conflict");
        }
    }
    debug_assert!(conn.dcid.len() <= MAX_CID_LEN);
    Some(conn)
}

#[cfg(test)]
mod tests;
