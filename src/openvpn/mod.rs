//! OpenVPN over TCP: the TLS handshake that OpenVPN carries in its control channel,
//! turned back into the TLS byte stream the TCP walker in `tls/` reads. A framing module
//! like `dtls/` and `quic/`: it knows OpenVPN's packets, not TLS.
//!
//! On TCP each OpenVPN packet has a 2-byte length prefix. Each side opens with a hard
//! reset, then `P_CONTROL_V1` packets carry the TLS records in message packet-id order,
//! acknowledged by `P_ACK_V1` (or piggy-backed acks); the data channel (`P_DATA_V1/V2`)
//! starts once the keys are agreed. [`packet`] reads one packet and recognises the
//! opening reset, including the tls-auth HMAC size, which is not on the wire.
//!
//! Two users:
//! - the flow table ([`Scanner`]): one cheap walk over packet lengths and opcodes that
//!   says when a direction's control-channel handshake is over (at the first data or
//!   soft-reset packet), the OpenVPN counterpart of `tls::RecordScanner`;
//! - the parser pool ([`unwrap`]): each direction's `P_CONTROL_V1` payloads of the
//!   first key (key id of the reset), ordered by message packet-id (a retransmitted id
//!   is kept once, first copy wins), concatenated into a [`StreamData`] whose bytes are
//!   dated by the TCP bytes that carried them.
//!
//! With tls-crypt (and tls-crypt-v2) everything after the reset's tag is encrypted: the
//! flow table recognises the reset, counts the connection (`flow.openvpn_tls_crypt`) and
//! makes no row, since no handshake field is visible.
//!
//! Invariants: never panics on any bytes; work is linear in the stream. Limits:
//! [`MAX_CONTROL_PACKETS`] per direction (counted, the direction is then `Truncated`);
//! the walk stops at the first missing packet-id, which becomes a gap (its length is not
//! known: recorded as 0), and at a TCP gap.

pub mod packet;

use crate::flow::stream::{Piece, StreamData, StreamEnd};
use crate::stats::Counters;
use crate::tls::ScanState;
use packet::{
    detect_auth, opcode_key, parse_control, Auth, MAX_OPCODE, P_CONTROL_SOFT_RESET_V1,
    P_CONTROL_V1, P_DATA_V1, P_DATA_V2,
};

pub use packet::{sniff, Side, Sniffed};

/// Control packets read per direction; a TLS handshake takes a few dozen.
pub const MAX_CONTROL_PACKETS: usize = 4096;

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ])))
}

/// Incremental walk over the packets of one direction (the flow table's end-of-handshake
/// test). The cursor only moves forward, so each call costs O(new packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanner {
    cursor: usize,
}

impl Scanner {
    /// A scanner whose first packet starts at `start` (after a PROXY header).
    pub fn new(start: usize) -> Self {
        Scanner { cursor: start }
    }

    /// `Done` at the first data-channel or soft-reset packet (the handshake carried so
    /// far is all there is), `NotTls` on a packet that cannot be OpenVPN.
    pub fn scan(&mut self, contiguous: &[u8]) -> ScanState {
        loop {
            let (Some(len), Some(&first)) = (
                be16(contiguous, self.cursor),
                contiguous.get(self.cursor.saturating_add(2)),
            ) else {
                return ScanState::InHandshake;
            };
            let (opcode, _) = opcode_key(first);
            if len == 0 || opcode == 0 || opcode > MAX_OPCODE {
                return ScanState::NotTls;
            }
            if matches!(opcode, P_DATA_V1 | P_DATA_V2 | P_CONTROL_SOFT_RESET_V1) {
                return ScanState::Done;
            }
            self.cursor = self.cursor.saturating_add(2 + len);
        }
    }
}

/// A connection's two TLS streams taken out of OpenVPN.
#[derive(Debug, Clone, Default)]
pub struct Unwrapped {
    pub client: StreamData,
    pub server: StreamData,
}

/// One direction, as [`unwrap_dir`] found it.
enum Dir {
    OpenVpn(StreamData),
    Empty,
    Other,
}

/// The TLS streams inside an OpenVPN-over-TCP connection, or `None` when neither
/// direction opens with a readable OpenVPN hard reset. The client's stream is read from
/// `client_skip` (past a PROXY header). Oddities are counted under `openvpn.*`.
pub fn unwrap(
    client: &StreamData,
    client_skip: usize,
    server: &StreamData,
    counters: &mut Counters,
) -> Option<Unwrapped> {
    let c = unwrap_dir(client, client_skip, counters);
    let s = unwrap_dir(server, 0, counters);
    let empty = |sd: &StreamData| StreamData {
        end: sd.end,
        ..Default::default()
    };
    match (c, s) {
        (Dir::OpenVpn(client), Dir::OpenVpn(server)) => Some(Unwrapped { client, server }),
        (Dir::OpenVpn(c), other) => {
            if matches!(other, Dir::Other) {
                counters.bump("openvpn.peer_not_openvpn");
            }
            Some(Unwrapped {
                client: c,
                server: empty(server),
            })
        }
        (other, Dir::OpenVpn(s)) => {
            if matches!(other, Dir::Other) {
                counters.bump("openvpn.peer_not_openvpn");
            }
            Some(Unwrapped {
                client: empty(client),
                server: s,
            })
        }
        _ => None,
    }
}

fn unwrap_dir(sd: &StreamData, skip: usize, counters: &mut Counters) -> Dir {
    let end = sd
        .first_gap_data_index()
        .map_or(sd.data.len(), |i| i.min(sd.data.len()));
    let Some(data) = sd.data.get(skip..end) else {
        return Dir::Empty;
    };
    if data.is_empty() {
        return Dir::Empty;
    }
    let first = be16(data, 0).and_then(|len| data.get(2..2 + len));
    let Some(auth) = first.and_then(detect_auth) else {
        return Dir::Other;
    };
    let (_, key_id) = opcode_key(first.and_then(|p| p.first().copied()).unwrap_or(0));
    let mut controls = Vec::new();
    let capped = collect_controls(data, skip, auth, key_id, &mut controls, counters);

    // Packet-id order; a stable sort keeps the first copy of a retransmitted id first.
    controls.sort_by_key(|c| c.0);
    let mut out = StreamData {
        overlap_conflict: sd.overlap_conflict,
        end: if capped { StreamEnd::Truncated } else { sd.end },
        ..Default::default()
    };
    // The reset took message packet-id 0; the TLS bytes start at 1.
    let mut expect: u32 = 1;
    let mut gap = false;
    for &(id, start, len) in &controls {
        if id < expect {
            counters.bump("openvpn.retransmission");
            continue;
        }
        if id > expect {
            counters.bump("openvpn.packet_id_gap");
            gap = true;
            break;
        }
        let Some(bytes) = sd.data.get(start..start + len) else {
            break;
        };
        out.pieces.push(Piece {
            stream_offset: out.data.len() as u64,
            data_offset: out.data.len(),
            ts_ns: sd.ts_at(start).unwrap_or(0),
        });
        out.data.extend_from_slice(bytes);
        expect = expect.saturating_add(1);
    }
    // Bytes missing (a packet-id never seen, or a TCP gap): the TLS walk stops here.
    if gap || end < sd.data.len() || !sd.gaps.is_empty() {
        out.gaps.push((out.data.len() as u64, 0));
    }
    Dir::OpenVpn(out)
}

/// The `P_CONTROL_V1` packets of key `key_id` in `data` as (packet-id, index in the
/// direction's bytes, length), stopping at the data channel. `true` when
/// [`MAX_CONTROL_PACKETS`] cut the walk.
fn collect_controls(
    data: &[u8],
    base: usize,
    auth: Auth,
    key_id: u8,
    out: &mut Vec<(u32, usize, usize)>,
    counters: &mut Counters,
) -> bool {
    let mut pos = 0usize;
    let mut packets = 0usize;
    while let Some(len) = be16(data, pos) {
        let Some(pkt) = data.get(pos + 2..pos + 2 + len) else {
            break;
        };
        let at = pos + 2;
        pos = at + len;
        let Some(&first) = pkt.first() else {
            counters.bump("openvpn.bad_packet");
            break;
        };
        let (opcode, key) = opcode_key(first);
        if matches!(opcode, P_DATA_V1 | P_DATA_V2 | P_CONTROL_SOFT_RESET_V1) {
            break;
        }
        packets += 1;
        if packets > MAX_CONTROL_PACKETS {
            counters.bump("openvpn.packets_capped");
            return true;
        }
        let Some(c) = parse_control(pkt, auth) else {
            counters.bump("openvpn.bad_packet");
            continue;
        };
        if c.opcode != P_CONTROL_V1 || key != key_id {
            continue;
        }
        let Some(id) = c.packet_id else { continue };
        // The payload is the packet's tail.
        let off = pkt.len().saturating_sub(c.payload.len());
        out.push((id, base + at + off, c.payload.len()));
    }
    false
}

#[cfg(test)]
mod tests;
