//! DTLS 1.0 / 1.2 / 1.3 framing (RFC 6347, RFC 9147): turns one direction of a UDP
//! association's datagrams into an ordered list of [`Event`]s — complete handshake
//! messages reassembled from fragments, cleartext ChangeCipherSpec and alerts, and
//! "protected record seen" — for `tls/` to parse the messages.
//!
//! Layout: [`record`] frames records and handshake fragments and holds the cheap
//! per-datagram walks ([`sniff`], [`record_kinds`]); [`reassembly`] rebuilds messages.
//!
//! Invariants: no function here panics on any bytes (wire data is read with `.get()`);
//! only epoch-0 plaintext records are looked into, everything protected becomes
//! [`Event::Encrypted`]; a broken record ends the walk of its datagram only, and the
//! first reason is kept in [`Direction::malformed`]; datagrams failing the RFC 7983
//! first-byte rule (STUN, RTP/RTCP, ZRTP, TURN sharing the port) are skipped and counted.
//! Event order: cleartext CCS / alerts / protected records in arrival order; a
//! message at the point where it can be emitted in `message_seq` order (see
//! [`reassembly`] for the rules, incl. restarts after HelloVerifyRequest); messages held
//! back by a gap that never filled come last, in seq order.
//! Limits ([`DtlsLimits`], each counted and each setting [`Direction::capped`]): message
//! length, messages being reassembled, message bytes per direction, records per direction.
//!
//! Why tls-parser's `dtls` module is used only for the record header: its
//! `parse_dtls_plaintext_record` / `parse_dtls_message_handshake` parse the body of every
//! unfragmented message eagerly and fail the whole record for types outside a short list
//! (ServerKeyExchange, CertificateRequest, CertificateVerify, Finished, NewSessionTicket
//! -> `ErrorKind::Switch`) or for a body they cannot parse; they reject application_data,
//! heartbeat, tls12_cid and ack records, know nothing of DTLS 1.3 unified headers,
//! allocate a `Vec` per record, and the fragments they return still need reassembling.
//! Its allocation-free `parse_dtls_record_header` is used as is; the 12-byte fragment
//! header is read here, and message bodies go to `tls/` once whole.

pub mod reassembly;
pub mod record;

pub use record::{record_kinds, sniff, HelloKind, RecordKinds, Sniffed};

use crate::stats::Counters;
use reassembly::Reassembler;
use record::{Fragments, Records, CT_ALERT, CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE};

/// One UDP payload, in capture order (the flow layer's borrowed view).
pub use crate::flow::record::Datagram;

/// Bounds on what one direction may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtlsLimits {
    /// One message's announced length. RFC 6347 4.2.2 allows 2^24-1; real hellos are
    /// < 64 KiB, certificate chains rarely pass 64 KiB.
    pub max_message_len: usize,
    /// Messages being reassembled at once per direction (a handshake flight has < 10).
    pub max_pending_messages: usize,
    /// Message bytes allocated per direction (pending and emitted).
    pub max_bytes: usize,
    /// Records walked per direction; the flow table stops feeding once the handshake
    /// is over ([`record_kinds`]), so this bounds a direction that never says so.
    pub max_records: usize,
}

impl Default for DtlsLimits {
    fn default() -> Self {
        DtlsLimits {
            max_message_len: 256 * 1024,
            max_pending_messages: 32,
            max_bytes: 1024 * 1024,
            max_records: 1024,
        }
    }
}

/// What one direction carried, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole handshake message (header stripped). `ts_ns` is the time of the datagram
    /// whose fragment completed it; `record_version` is that of the record carrying the
    /// first fragment that was accepted.
    Message {
        msg_type: u8,
        message_seq: u16,
        body: Vec<u8>,
        record_version: u16,
        ts_ns: i64,
    },
    /// Epoch-0 ChangeCipherSpec.
    ChangeCipherSpec { ts_ns: i64 },
    /// Epoch-0 alert, one per 2-byte (level, description) pair.
    Alert {
        level: u8,
        description: u8,
        ts_ns: i64,
    },
    /// A record not looked into: epoch > 0, a DTLS 1.3 unified header (`content_type` is
    /// then its whole first byte 0x20..=0x3f and `epoch` the header's two low epoch
    /// bits), `tls12_cid`, or application_data / heartbeat / ack at epoch 0.
    Encrypted {
        content_type: u8,
        epoch: u16,
        ts_ns: i64,
    },
}

/// One direction's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Direction {
    pub events: Vec<Event>,
    /// A message whose fragments never all arrived (not emitted).
    pub incomplete_message: bool,
    /// A limit bound; see [`DtlsLimits`].
    pub capped: bool,
    /// Fragments that added nothing new (whole-message retransmissions included).
    pub retransmissions: u32,
    /// Overlapping fragment bytes disagreed (first data was kept).
    pub overlap_conflict: bool,
    /// First framing problem met (a `record_*`, `handshake_*`, `fragment_*`, `ccs_body`
    /// or `alert_length` reason).
    pub malformed: Option<&'static str>,
    /// Datagrams skipped by the RFC 7983 first-byte rule (not DTLS).
    pub non_dtls_datagrams: u32,
    /// Records walked.
    pub records: u32,
}

impl Direction {
    fn bad(&mut self, reason: &'static str, counters: &mut Counters) {
        counters.bump("dtls.bad_record");
        self.malformed.get_or_insert(reason);
    }
}

/// Frame and reassemble the datagrams of one direction (`client`: those with
/// `from_client == client`), in the order given.
pub fn direction(
    dgrams: &[Datagram<'_>],
    client: bool,
    lim: &DtlsLimits,
    counters: &mut Counters,
) -> Direction {
    let mut d = Direction::default();
    let mut reasm = Reassembler::new(lim);
    'datagrams: for dg in dgrams.iter().filter(|g| g.from_client == client) {
        if !record::first_byte_is_dtls(dg.data) {
            d.non_dtls_datagrams += 1;
            counters.bump("dtls.not_dtls_datagram");
            continue;
        }
        for rec in Records::new(dg.data) {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    d.bad(e.reason(), counters);
                    break;
                }
            };
            if d.records as usize >= lim.max_records {
                counters.bump("dtls.records_limit");
                d.capped = true;
                break 'datagrams;
            }
            d.records += 1;
            let ts_ns = dg.ts_ns;
            if rec.is_protected() {
                d.events.push(Event::Encrypted {
                    content_type: rec.content_type,
                    epoch: rec.epoch,
                    ts_ns,
                });
                continue;
            }
            match rec.content_type {
                CT_HANDSHAKE => {
                    for frag in Fragments::new(rec.body) {
                        match frag {
                            Ok(f) => reasm.accept(&f, rec.version, ts_ns, &mut d.events, counters),
                            Err(e) => {
                                d.bad(e.reason(), counters);
                                break;
                            }
                        }
                    }
                }
                CT_CHANGE_CIPHER_SPEC => {
                    if !record::ccs_body_ok(rec.version, rec.body) {
                        d.bad("ccs_body", counters);
                    }
                    d.events.push(Event::ChangeCipherSpec { ts_ns });
                }
                CT_ALERT => {
                    if rec.body.is_empty() || rec.body.len() % 2 != 0 {
                        d.bad("alert_length", counters);
                    }
                    for a in rec.body.chunks_exact(2) {
                        if let (Some(&level), Some(&description)) = (a.first(), a.get(1)) {
                            d.events.push(Event::Alert {
                                level,
                                description,
                                ts_ns,
                            });
                        }
                    }
                }
                ct => d.events.push(Event::Encrypted {
                    content_type: ct,
                    epoch: 0,
                    ts_ns,
                }),
            }
        }
    }
    reasm.finish(&mut d.events);
    d.incomplete_message = reasm.incomplete;
    d.capped |= reasm.capped;
    d.retransmissions = reasm.retransmissions;
    d.overlap_conflict = reasm.overlap_conflict;
    d
}

#[cfg(test)]
mod tests;
