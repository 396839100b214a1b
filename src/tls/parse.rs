//! Handshake extraction from both reassembled directions of one TCP connection
//! ([`analyze_with`]), or from the handshake events QUIC and DTLS framed
//! ([`analyze_framed`]): one set of message rules for all three.
//!
//! Each direction is walked record by record over its contiguous prefix (up to the first
//! gap; bytes after a gap are not resynchronised, see below). Cleartext handshake record
//! payloads are concatenated and messages are cut out of the concatenation, so messages
//! split over records, records split over segments and several messages per record all
//! parse the same way. The walk stops at the point where a direction turns encrypted:
//! - server: after a TLS 1.3 ServerHello, or at ChangeCipherSpec once a TLS <= 1.2
//!   ServerHello was seen (a CCS between HelloRetryRequest and ServerHello is TLS 1.3
//!   middlebox-compatibility noise, RFC 8446 D.4);
//! - client: at ChangeCipherSpec or application data, except while a second ClientHello
//!   is still due after a HelloRetryRequest (compat CCS and 0-RTT data may precede it).
//!
//! The server direction is walked first because the client's rules need its outcome.
//!
//! Invariants: never panics on any bytes; work is O(bytes) per direction and bounded by
//! [`Limits`]; data ending anywhere (mid-record, mid-message) is an end, not a
//! malformation. Resynchronising after a gap would need a record-boundary search with
//! false positives; it is not attempted, a gap before a direction's encrypted point gives
//! status `Gap` instead.

use crate::flow::stream::{StreamData, StreamEnd};
use crate::stats::Counters;

use super::hello::{
    is_tls13, parse_client_hello, parse_draft_hello_retry, parse_server_hello,
    parse_sslv2_client_hello, parse_sslv2_server_hello, SSL2_VERSION,
};
use super::limits::{Issues, Limits};
use super::messages::{parse_certificate, parse_server_key_exchange};
use super::model::{Alert, HandshakeInfo, HandshakeStatus};
use super::reader::{be16, Reader};
use super::record::{
    find_hello_start, header_at, header_ok, Sniff, CT_ALERT, CT_APPLICATION_DATA,
    CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE, CT_HEARTBEAT, HS_CLIENT_HELLO,
    HS_HELLO_RETRY_REQUEST_DRAFT, HS_SERVER_HELLO, SSL2_CLIENT_HELLO, SSL2_SERVER_HELLO,
};

/// RFC 6347 4.2.1: DTLS HelloVerifyRequest (the server's stateless cookie).
const HS_HELLO_VERIFY_REQUEST: u8 = 3;
/// RFC 5246 7.4 handshake types handled besides the hellos.
const HS_NEW_SESSION_TICKET: u8 = 4;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_CERTIFICATE_REQUEST: u8 = 13;
const HS_SERVER_HELLO_DONE: u8 = 14;
/// SSLv2 message types after the hellos.
const SSL2_ERROR: u8 = 0;
const SSL2_CLIENT_MASTER_KEY: u8 = 2;
/// RFC 5246 7.2: AlertLevel fatal.
const ALERT_FATAL: u8 = 2;

/// Parse both directions of one connection with default [`Limits`].
pub fn analyze(client: &StreamData, server: &StreamData) -> HandshakeInfo {
    let mut counters = Counters::new();
    analyze_with(client, server, &Limits::default(), &mut counters)
}

/// Parse both directions of one connection; limits that bind and oddities are counted in
/// `counters` under `tls.*`.
pub fn analyze_with(
    client: &StreamData,
    server: &StreamData,
    lim: &Limits,
    counters: &mut Counters,
) -> HandshakeInfo {
    let mut st = State::new(lim, counters);
    let srv = walk(server, Side::Server, &mut st);
    let cli = walk(client, Side::Client, &mut st);
    st.finish(&cli, &srv)
}

/// One step of a side's handshake as QUIC or DTLS framed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole handshake message (`ty`, body after the message header), in the
    /// record version that carried it (0 when none: QUIC), sent at `ts_ns`.
    Message {
        ty: u8,
        body: &'a [u8],
        record_version: u16,
        ts_ns: Option<i64>,
    },
    ChangeCipherSpec,
    /// An alert in the clear (two bytes: level, description).
    Alert {
        level: u8,
        description: u8,
    },
    /// Protected traffic from this side: a DTLS record of a later epoch or with the
    /// DTLS 1.3 unified header, a QUIC 1-RTT packet.
    Protected {
        ts_ns: Option<i64>,
    },
}

/// One side of a QUIC connection or DTLS association, as its framing delivered it.
#[derive(Debug, Clone, Default)]
pub struct FramedSide<'a> {
    pub events: Vec<Event<'a>>,
    /// Handshake bytes are missing before later ones (a CRYPTO gap, a DTLS message
    /// whose fragments never all arrived).
    pub gap: bool,
    /// A framing limit cut this side's handshake.
    pub truncated: bool,
}

/// [`analyze_with`] for handshakes framed by QUIC CRYPTO frames or DTLS records: the
/// same message rules, fed whole messages instead of a byte stream.
pub fn analyze_framed(
    client: &FramedSide<'_>,
    server: &FramedSide<'_>,
    lim: &Limits,
    counters: &mut Counters,
) -> HandshakeInfo {
    let mut st = State::new(lim, counters);
    let srv = walk_events(server, Side::Server, &mut st);
    let cli = walk_events(client, Side::Client, &mut st);
    st.finish(&cli, &srv)
}

fn walk_events(side_in: &FramedSide<'_>, side: Side, st: &mut State) -> DirOutcome {
    let mut encrypted = false;
    let mut messages = 0usize;
    for ev in &side_in.events {
        match *ev {
            Event::Message {
                ty,
                body,
                record_version,
                ts_ns,
            } => {
                if encrypted {
                    st.is.note("tls.handshake_encrypted");
                    continue;
                }
                if !message_fits(messages, body.len(), st) {
                    break;
                }
                messages += 1;
                if deliver(side, ty, body, record_version, ts_ns, st) == After::Encrypted {
                    encrypted = true;
                }
            }
            Event::ChangeCipherSpec => on_ccs(side, &mut encrypted, st),
            Event::Alert { level, description } => {
                on_alert(side, encrypted, &[level, description], true, st)
            }
            Event::Protected { ts_ns } => on_app_data(side, ts_ns, &mut encrypted, st),
        }
    }
    DirOutcome {
        gap: side_in.gap && !encrypted,
        truncated: side_in.truncated && !encrypted,
    }
}

/// Cut a byte stream of back-to-back handshake messages (a QUIC CRYPTO stream) into
/// [`Event::Message`]s dated `ts_ns`; `true` when the bytes end inside a message.
pub fn split_messages<'a>(bytes: &'a [u8], ts_ns: Option<i64>, out: &mut Vec<Event<'a>>) -> bool {
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (Some(ty), Some(len)) = (r.u8(), r.u24()) else {
            return true;
        };
        let Some(body) = usize::try_from(len).ok().and_then(|l| r.take(l)) else {
            return true;
        };
        out.push(Event::Message {
            ty,
            body,
            record_version: 0,
            ts_ns,
        });
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Facts gathered across both directions.
struct State<'l, 'c> {
    info: HandshakeInfo,
    lim: &'l Limits,
    is: Issues<'c>,
    fatal_alert: bool,
    hrr_seen: bool,
    /// The server sent Certificate / ServerKeyExchange / CertificateRequest /
    /// ServerHelloDone: a full (not abbreviated) TLS <= 1.2 handshake.
    server_full_flight: bool,
    sslv2_resumed: bool,
    /// Body of the first ClientHello, to recognise an identical repeat.
    first_ch_raw: Option<Vec<u8>>,
    sslv2_client_master_key: bool,
    /// A client application-data record that cannot be 0-RTT early data.
    client_app_after_sh: bool,
    /// DTLS: the server sent a HelloVerifyRequest.
    hello_verify_seen: bool,
}

/// How one direction's walk ended.
#[derive(Debug, Default)]
struct DirOutcome {
    /// A gap cut the direction before its encrypted point.
    gap: bool,
    /// The capture's buffer limit cut the direction before its encrypted point.
    truncated: bool,
}

impl<'l, 'c> State<'l, 'c> {
    fn new(lim: &'l Limits, counters: &'c mut Counters) -> Self {
        State {
            info: HandshakeInfo::default(),
            lim,
            is: Issues::new(counters),
            fatal_alert: false,
            hrr_seen: false,
            server_full_flight: false,
            sslv2_resumed: false,
            first_ch_raw: None,
            sslv2_client_master_key: false,
            client_app_after_sh: false,
            hello_verify_seen: false,
        }
    }

    /// Negotiated version known so far (from the real ServerHello).
    fn version(&self) -> Option<u16> {
        self.info
            .server_hello
            .as_ref()
            .map(|sh| sh.selected_version.unwrap_or(sh.version))
    }

    /// This side's hello (ClientHello / ServerHello or HelloRetryRequest) was parsed.
    fn hello_parsed(&self, side: Side) -> bool {
        match side {
            Side::Client => self.info.client_hello.is_some(),
            Side::Server => {
                self.info.server_hello.is_some() || self.info.hello_retry_request.is_some()
            }
        }
    }

    /// A second ClientHello is still expected after a HelloRetryRequest.
    fn awaiting_second_client_hello(&self) -> bool {
        self.hrr_seen
            && self.info.retry_client_hello.is_none()
            && self.version().is_none_or(is_tls13)
    }

    fn finish(mut self, cli: &DirOutcome, srv: &DirOutcome) -> HandshakeInfo {
        let version = self.version();
        let info = &mut self.info;
        info.version = version;
        let tls13 = version.is_some_and(is_tls13);
        let sslv2 = version == Some(SSL2_VERSION);
        info.resumed = match (&info.client_hello, &info.server_hello) {
            (_, Some(sh)) if tls13 => sh.psk_selected,
            _ if sslv2 => self.sslv2_resumed,
            (Some(ch), Some(sh)) => {
                let echoed = !sh.session_id.is_empty() && sh.session_id == ch.session_id;
                let ticket =
                    ch.session_ticket_len > 0 && info.server_ccs && !self.server_full_flight;
                echoed || ticket
            }
            _ => false,
        };
        info.established = !self.fatal_alert
            && match version {
                None => false,
                Some(SSL2_VERSION) => self.sslv2_client_master_key,
                Some(v) if is_tls13(v) => info.server_app_data && self.client_app_after_sh,
                Some(_) => info.client_ccs && info.server_ccs,
            };
        // A PSK-resumed TLS 1.3 handshake sends no certificate at all.
        info.certs_encrypted = tls13 && info.server_certs.is_empty() && !info.resumed;
        info.malformed_reason = self.is.malformed;
        let est = info.established;
        info.status = if self.is.malformed.is_some() {
            HandshakeStatus::Malformed
        } else if self.fatal_alert && !est {
            HandshakeStatus::Alert
        } else if (cli.gap || srv.gap) && !est {
            HandshakeStatus::Gap
        } else if self.is.capped || ((cli.truncated || srv.truncated) && !est) {
            HandshakeStatus::Truncated
        } else if info.client_hello.is_none() {
            HandshakeStatus::NoClientHello
        } else if info.server_hello.is_none() {
            HandshakeStatus::NoServerHello
        } else if !est {
            HandshakeStatus::Incomplete
        } else {
            HandshakeStatus::Complete
        };
        self.info
    }
}

/// Concatenated cleartext handshake payloads of one direction, with where each record
/// started so a message can be dated by the record carrying its first byte.
#[derive(Debug, Default)]
struct HsBuf {
    buf: Vec<u8>,
    /// Bytes of `buf` already cut into messages.
    consumed: usize,
    /// Total bytes ever appended (bounded by `Limits::max_handshake_bytes`).
    total: usize,
    /// Bytes dropped from the front of `buf` (absolute offset of `buf[0]`).
    base: usize,
    /// (absolute offset, data index of the record header, record version).
    records: Vec<(usize, usize, u16)>,
}

impl HsBuf {
    fn push(&mut self, payload: &[u8], record_idx: usize, version: u16) {
        if self.consumed == self.buf.len() {
            self.base = self.base.saturating_add(self.buf.len());
            self.buf.clear();
            self.consumed = 0;
        }
        self.records.push((
            self.base.saturating_add(self.buf.len()),
            record_idx,
            version,
        ));
        self.buf.extend_from_slice(payload);
        self.total = self.total.saturating_add(payload.len());
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.consumed..).unwrap_or(&[])
    }

    /// Data index and version of the record carrying the next message's first byte.
    fn current_record(&self) -> (usize, u16) {
        let abs = self.base.saturating_add(self.consumed);
        let i = self.records.partition_point(|r| r.0 <= abs);
        match i.checked_sub(1).and_then(|j| self.records.get(j)) {
            Some(&(_, idx, ver)) => (idx, ver),
            None => (0, 0),
        }
    }
}

/// Per-direction walk state.
struct Dir<'a> {
    sd: &'a StreamData,
    /// Contiguous bytes from the stream start to the first gap.
    data: &'a [u8],
    side: Side,
    pos: usize,
    hs: HsBuf,
    encrypted: bool,
    stop: bool,
    messages: usize,
}

fn walk(sd: &StreamData, side: Side, st: &mut State) -> DirOutcome {
    let gap_idx = sd.first_gap_data_index();
    let end = gap_idx.map_or(sd.data.len(), |i| i.min(sd.data.len()));
    let mut d = Dir {
        sd,
        data: sd.data.get(..end).unwrap_or(&[]),
        side,
        pos: 0,
        hs: HsBuf::default(),
        encrypted: false,
        stop: false,
        messages: 0,
    };
    d.pos = tls_start(d.data, side, st);
    if d.data.get(d.pos).is_some_and(|b| b & 0x80 != 0) {
        sslv2_start(&mut d, st);
    }
    // The walk goes on after the encrypted point: record types still show app data.
    while !d.stop {
        let Some(h) = header_at(d.data, d.pos) else {
            break;
        };
        if let Err(reason) = header_ok(h.ct, h.major, h.len) {
            if d.encrypted {
                st.is.note("tls.framing_after_encryption");
            } else if sd.overlap_conflict && st.hello_parsed(side) {
                // Noise that claimed these bytes first (two bytes an ACK carried, where
                // the next record starts; first data wins in reassembly) after a hello
                // that parsed: the direction stops here, the row keeps what was read
                // and says `*_overlap_conflict`, not `malformed`.
                st.is.note("tls.framing_after_overlap_conflict");
            } else {
                st.is.malformed(reason);
            }
            break;
        }
        let start = d.pos.saturating_add(5);
        let rec_end = start.saturating_add(h.len);
        let complete = rec_end <= d.data.len();
        let payload = d.data.get(start..rec_end.min(d.data.len())).unwrap_or(&[]);
        match h.ct {
            CT_CHANGE_CIPHER_SPEC => on_ccs(d.side, &mut d.encrypted, st),
            CT_ALERT => on_alert(d.side, d.encrypted, payload, complete, st),
            CT_HANDSHAKE => {
                if d.encrypted {
                    st.is.note("tls.handshake_encrypted");
                } else if d.hs.total.saturating_add(payload.len()) > st.lim.max_handshake_bytes {
                    st.is.capped("tls.handshake_bytes_capped");
                    d.stop = true;
                } else {
                    d.hs.push(payload, d.pos, h.version);
                    process_messages(&mut d, st);
                }
            }
            CT_APPLICATION_DATA => {
                let ts = d.sd.ts_at(d.pos);
                on_app_data(d.side, ts, &mut d.encrypted, st);
            }
            CT_HEARTBEAT => st.is.note("tls.heartbeat"),
            _ => {}
        }
        if !complete {
            break;
        }
        d.pos = rec_end;
    }
    let had_gap = gap_idx.is_some();
    DirOutcome {
        gap: had_gap && !d.encrypted,
        truncated: sd.end == StreamEnd::Truncated && !d.encrypted,
    }
}

/// Where TLS starts in a direction: normally at 0; after a PROXY protocol header
/// ([`super::proxy`]) when the client's direction opens with one; when the direction
/// does not open with a TLS or SSLv2 record (STARTTLS, HTTP CONNECT, SOCKS), at the
/// first record carrying this side's hello within `Limits::max_preamble` bytes.
fn tls_start(data: &[u8], side: Side, st: &mut State) -> usize {
    let skip = match side {
        Side::Client => super::proxy::header_len(data),
        Side::Server => 0,
    };
    let whole = data;
    let data = whole.get(skip..).unwrap_or(&[]);
    let Some(&first) = data.first() else {
        return skip;
    };
    let opens_with_record =
        header_at(data, 0).is_some_and(|h| header_ok(h.ct, h.major, h.len).is_ok());
    if first & 0x80 != 0 || opens_with_record {
        return skip;
    }
    let want = match side {
        Side::Client => Sniff::ClientHello,
        Side::Server => Sniff::ServerHello,
    };
    match find_hello_start(whole, want, st.lim.max_preamble) {
        Some(i) => {
            st.is.note("tls.preamble_skipped");
            i
        }
        None => skip,
    }
}

fn on_ccs(side: Side, encrypted: &mut bool, st: &mut State) {
    match side {
        Side::Server => {
            st.info.server_ccs = true;
            // CCS between HRR and ServerHello is TLS 1.3 compatibility mode.
            if !(st.hrr_seen && st.info.server_hello.is_none()) {
                *encrypted = true;
            }
        }
        Side::Client => {
            st.info.client_ccs = true;
            if !st.awaiting_second_client_hello() {
                *encrypted = true;
            }
        }
    }
}

/// Application data (or a protected record) from `side`, sent at `ts` when known.
fn on_app_data(side: Side, ts: Option<i64>, encrypted: &mut bool, st: &mut State) {
    match side {
        Side::Server => {
            st.info.server_app_data = true;
            *encrypted = true;
        }
        Side::Client => {
            st.info.client_app_data = true;
            let early = st
                .info
                .client_hello
                .as_ref()
                .is_some_and(|ch| ch.early_data);
            let after_sh = match (ts, st.info.server_hello_ts_ns) {
                (Some(t), Some(sh)) => t >= sh,
                _ => st.info.server_hello.is_some(),
            };
            if !early || after_sh {
                st.client_app_after_sh = true;
            }
            if !st.awaiting_second_client_hello() {
                *encrypted = true;
            }
        }
    }
}

fn on_alert(side: Side, encrypted: bool, payload: &[u8], complete: bool, st: &mut State) {
    if encrypted {
        st.is.note("tls.alert_encrypted");
        return;
    }
    if !complete {
        return;
    }
    if !payload.len().is_multiple_of(2) {
        st.is.note("tls.alert_odd_length");
    }
    for pair in payload.chunks_exact(2) {
        let [level, description] = [
            pair.first().copied().unwrap_or(0),
            pair.get(1).copied().unwrap_or(0),
        ];
        if level == ALERT_FATAL {
            st.fatal_alert = true;
        }
        if st.info.alerts.len() >= st.lim.max_alerts {
            st.is.capped("tls.alerts_capped");
            return;
        }
        st.info.alerts.push(Alert {
            level,
            description,
            from_server: side == Side::Server,
        });
    }
}

/// What the direction does after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Continue,
    /// Everything after this message is encrypted (TLS 1.3 ServerHello).
    Encrypted,
}

fn process_messages(d: &mut Dir, st: &mut State) {
    while !d.encrypted && !d.stop {
        let pending = d.hs.pending();
        let mut hdr = Reader::new(pending);
        let (Some(ty), Some(len)) = (hdr.u8(), hdr.u24()) else {
            break;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if !message_fits(d.messages, len, st) {
            d.stop = true;
            break;
        }
        let Some(body) = pending.get(4..4usize.saturating_add(len)) else {
            break;
        };
        let (rec_idx, rec_version) = d.hs.current_record();
        let ts = d.sd.ts_at(rec_idx);
        let after = deliver(d.side, ty, body, rec_version, ts, st);
        d.hs.consumed = d.hs.consumed.saturating_add(4 + len);
        d.messages = d.messages.saturating_add(1);
        if after == After::Encrypted {
            d.encrypted = true;
        }
    }
}

/// The per-direction message count and one message's length against [`Limits`]
/// (counted when they bind).
fn message_fits(messages: usize, len: usize, st: &mut State) -> bool {
    if messages >= st.lim.max_messages {
        st.is.capped("tls.messages_capped");
        return false;
    }
    if len > st.lim.max_message_len {
        st.is.capped("tls.message_too_long");
        return false;
    }
    true
}

/// One whole handshake message from `side`, whoever framed it.
fn deliver(
    side: Side,
    ty: u8,
    body: &[u8],
    rec_version: u16,
    ts: Option<i64>,
    st: &mut State,
) -> After {
    match side {
        Side::Server => server_message(ty, body, rec_version, ts, st),
        Side::Client => client_message(ty, body, rec_version, ts, st),
    }
}

fn server_message(ty: u8, body: &[u8], rec_version: u16, ts: Option<i64>, st: &mut State) -> After {
    let lim = st.lim;
    match ty {
        HS_SERVER_HELLO | HS_HELLO_RETRY_REQUEST_DRAFT => {
            let parsed = if ty == HS_SERVER_HELLO {
                parse_server_hello(body, rec_version, lim, &mut st.is)
            } else {
                parse_draft_hello_retry(body, rec_version, lim, &mut st.is)
            };
            let Some(sh) = parsed else {
                return After::Continue;
            };
            if sh.is_hrr {
                if st.info.hello_retry_request.is_none() && st.info.server_hello.is_none() {
                    st.info.hello_retry_request = Some(sh);
                    st.hrr_seen = true;
                } else {
                    st.is.note("tls.extra_hello_retry_request");
                }
            } else if st.info.server_hello.is_none() {
                let tls13 = is_tls13(sh.selected_version.unwrap_or(sh.version));
                st.info.server_hello = Some(sh);
                st.info.server_hello_ts_ns = ts;
                if tls13 {
                    return After::Encrypted;
                }
            } else {
                st.is.note("tls.extra_server_hello");
            }
        }
        HS_CERTIFICATE => {
            st.server_full_flight = true;
            if let Some(certs) = parse_certificate(body, lim, &mut st.is) {
                if st.info.server_certs.is_empty() {
                    st.info.server_certs = certs;
                }
            }
        }
        HS_SERVER_KEY_EXCHANGE => {
            st.server_full_flight = true;
            let Some((cipher, version)) = st
                .info
                .server_hello
                .as_ref()
                .map(|sh| (sh.cipher, sh.selected_version.unwrap_or(sh.version)))
            else {
                st.is.note("tls.unexpected_message");
                return After::Continue;
            };
            let ske = parse_server_key_exchange(body, cipher, version, &mut st.is);
            st.info.server_key_exchange.get_or_insert(ske);
        }
        HS_CERTIFICATE_REQUEST => {
            st.server_full_flight = true;
            st.info.certificate_request = true;
        }
        HS_SERVER_HELLO_DONE => st.server_full_flight = true,
        HS_HELLO_VERIFY_REQUEST => st.hello_verify_seen = true,
        HS_NEW_SESSION_TICKET => st.info.new_session_ticket = true,
        HS_CLIENT_HELLO => st.is.note("tls.unexpected_message"),
        _ => {}
    }
    After::Continue
}

fn client_message(ty: u8, body: &[u8], rec_version: u16, ts: Option<i64>, st: &mut State) -> After {
    match ty {
        HS_CLIENT_HELLO => {
            if st.first_ch_raw.as_deref() == Some(body) {
                st.is.note("tls.duplicate_client_hello");
                return After::Continue;
            }
            let Some(ch) = parse_client_hello(body, rec_version, st.lim, &mut st.is) else {
                return After::Continue;
            };
            if st.info.client_hello.is_none() {
                st.info.client_hello = Some(ch);
                st.info.client_hello_ts_ns = ts;
                st.first_ch_raw = Some(body.to_vec());
            } else if st.awaiting_second_client_hello() {
                st.info.retry_client_hello = Some(ch);
            } else if st.hello_verify_seen && ch.cookie_len > 0 && !st.info.dtls_cookie {
                // DTLS: the ClientHello repeated with the server's cookie (RFC 6347
                // 4.2.1). The first hello stays the one fingerprints describe.
                st.info.dtls_cookie = true;
            } else {
                st.is.note("tls.extra_client_hello");
            }
        }
        HS_CERTIFICATE => {
            if let Some(certs) = parse_certificate(body, st.lim, &mut st.is) {
                if st.info.client_certs.is_empty() {
                    st.info.client_certs = certs;
                }
            }
        }
        HS_SERVER_HELLO | HS_HELLO_RETRY_REQUEST_DRAFT => st.is.note("tls.unexpected_message"),
        _ => {}
    }
    After::Continue
}

/// A direction starting with an SSLv2 record (high bit set: 2-byte header).
fn sslv2_start(d: &mut Dir, st: &mut State) {
    d.stop = true;
    let at = d.pos;
    let Some(len) = be16(d.data, at).map(|v| usize::from(v & 0x7fff)) else {
        return;
    };
    let end = at.saturating_add(2).saturating_add(len);
    let Some(msg) = d.data.get(at.saturating_add(2)..end) else {
        return; // data ends inside the first record
    };
    match (d.side, msg.first().copied()) {
        (Side::Client, Some(SSL2_CLIENT_HELLO)) => {
            let Some(ch) = parse_sslv2_client_hello(msg, st.lim, &mut st.is) else {
                return;
            };
            st.info.client_hello = Some(ch);
            st.info.client_hello_ts_ns = d.sd.ts_at(at);
            st.first_ch_raw = Some(msg.to_vec());
            d.pos = end;
            match d.data.get(end) {
                // TLS records follow an SSLv2-compatible hello.
                Some(b) if b & 0x80 == 0 => d.stop = false,
                Some(_) => {
                    // Pure SSLv2: CLIENT-MASTER-KEY next, then encryption.
                    if d.data.get(end.saturating_add(2)) == Some(&SSL2_CLIENT_MASTER_KEY) {
                        st.sslv2_client_master_key = true;
                    }
                    d.encrypted = true;
                }
                None => {}
            }
        }
        (Side::Server, Some(SSL2_SERVER_HELLO)) => {
            let Some((sh, cert, hit)) = parse_sslv2_server_hello(msg, &mut st.is) else {
                return;
            };
            st.info.server_hello = Some(sh);
            st.info.server_hello_ts_ns = d.sd.ts_at(at);
            if !cert.is_empty() {
                st.info.server_certs = vec![cert];
            }
            st.sslv2_resumed = hit;
            d.encrypted = true;
        }
        (Side::Server, Some(SSL2_ERROR)) => {
            // SSLv2 ERROR (e.g. NO-CIPHER-ERROR): a refusal, but its 2-byte code does not
            // fit `Alert`, so it is counted rather than invented as an alert.
            st.is.note("tls.sslv2_error");
            st.fatal_alert = true;
        }
        _ => st.is.malformed("sslv2_record"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::stream::Piece;
    use crate::tls::hello::tests::{
        alpn_ext, client_hello_body, ext_bytes, server_hello_body, sni_ext, u16s, vec16,
    };
    use crate::tls::hello::HRR_RANDOM;
    use proptest::prelude::*;

    fn record(ct: u8, version: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![ct];
        v.extend(version.to_be_bytes());
        v.extend((payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ty];
        v.extend(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    /// Stream from (bytes, packet time) chunks, no gaps.
    fn stream(chunks: &[(&[u8], i64)]) -> StreamData {
        let mut sd = StreamData::default();
        for (bytes, ts) in chunks {
            sd.pieces.push(Piece {
                stream_offset: sd.data.len() as u64,
                data_offset: sd.data.len(),
                ts_ns: *ts,
            });
            sd.data.extend_from_slice(bytes);
        }
        sd
    }

    fn certificate(certs: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for c in certs {
            list.extend(&(c.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(c);
        }
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend(list);
        hs(11, &body)
    }

    fn ecdhe_ske() -> Vec<u8> {
        let mut b = vec![3, 0, 29, 4, 4, 1, 2, 3];
        b.extend([0x04, 0x01, 0, 2, 0xaa, 0xbb]);
        hs(12, &b)
    }

    const CCS: [u8; 1] = [1];

    fn tls12_client_hello(sid: &[u8], exts: &[Vec<u8>]) -> Vec<u8> {
        hs(
            1,
            &client_hello_body(0x0303, sid, &[0x0a0a, 0xc02f, 0x009c], exts),
        )
    }

    fn default_exts() -> Vec<Vec<u8>> {
        vec![
            sni_ext("example.org"),
            ext_bytes(10, &vec16(&u16s(&[29, 23]))),
            alpn_ext(&[b"h2"]),
        ]
    }

    /// A full TLS 1.2 handshake: the ClientHello is fragmented over two records that
    /// arrive in two packets; the server flight is one record carrying four messages
    /// delivered in three packets.
    fn tls12_full() -> (StreamData, StreamData) {
        let ch = tls12_client_hello(&[], &default_exts());
        let (a, b) = ch.split_at(50);
        let rec1 = record(22, 0x0301, a);
        let rec2 = record(22, 0x0301, b);
        let mut flight2 = record(22, 0x0303, &hs(16, &[0, 2, 9, 9]));
        flight2.extend(record(20, 0x0303, &CCS));
        flight2.extend(record(22, 0x0303, &[0x5e; 40]));
        flight2.extend(record(23, 0x0303, &[0x77; 30]));
        let client = stream(&[(&rec1, 10), (&rec2, 20), (&flight2, 300)]);

        let sh = hs(
            2,
            &server_hello_body(
                0x0303,
                [7; 32],
                &[],
                0xc02f,
                &[
                    ext_bytes(0xff01, &[0]),
                    ext_bytes(16, &vec16(&[2, b'h', b'2'])),
                ],
            ),
        );
        let mut msgs = sh;
        msgs.extend(certificate(&[&[0x30, 0x82, 1], &[0x30, 0x82, 2]]));
        msgs.extend(ecdhe_ske());
        msgs.extend(hs(14, &[]));
        let srec = record(22, 0x0303, &msgs);
        let (p1, rest) = srec.split_at(7);
        let (p2, p3) = rest.split_at(40);
        let mut fin = record(20, 0x0303, &CCS);
        fin.extend(record(22, 0x0303, &[0x6e; 40]));
        fin.extend(record(23, 0x0303, &[0x88; 30]));
        let server = stream(&[(p1, 100), (p2, 110), (p3, 120), (&fin, 400)]);
        (client, server)
    }

    #[test]
    fn tls12_full_handshake_over_records_and_segments() {
        let (c, s) = tls12_full();
        let mut counters = Counters::new();
        let info = analyze_with(&c, &s, &Limits::default(), &mut counters);
        assert_eq!(info.status, HandshakeStatus::Complete, "{info:?}");
        assert!(info.established && !info.resumed && !info.certs_encrypted);
        let ch = info.client_hello.as_ref().unwrap();
        assert_eq!(ch.record_version, 0x0301);
        assert_eq!(ch.sni.as_deref(), Some("example.org"));
        assert_eq!(ch.cipher_suites, vec![0x0a0a, 0xc02f, 0x009c]);
        assert_eq!(
            info.client_hello_ts_ns,
            Some(10),
            "record carrying the first byte"
        );
        assert_eq!(info.server_hello_ts_ns, Some(100));
        assert_eq!(info.version, Some(0x0303));
        let sh = info.server_hello.as_ref().unwrap();
        assert_eq!((sh.cipher, sh.alpn.as_deref()), (0xc02f, Some(&b"h2"[..])));
        assert_eq!(
            info.server_certs,
            vec![vec![0x30, 0x82, 1], vec![0x30, 0x82, 2]]
        );
        let ske = info.server_key_exchange.unwrap();
        assert_eq!(
            (ske.curve, ske.signature_algorithm),
            (Some(29), Some(0x0401))
        );
        assert!(info.client_ccs && info.server_ccs && info.client_app_data && info.server_app_data);
        assert!(info.retry_client_hello.is_none() && info.hello_retry_request.is_none());
        assert_eq!(info.malformed_reason, None);
        assert_eq!(counters.get("tls.malformed"), 0);
    }

    #[test]
    fn several_messages_per_record_equal_one_per_record() {
        let (c, s) = tls12_full();
        let whole = analyze(&c, &s);
        // Same server messages, one record each, in one packet.
        let srec = &s.data[5..5 + usize::from(u16::from_be_bytes([s.data[3], s.data[4]]))];
        let mut split = Vec::new();
        let mut r = Reader::new(srec);
        while let (Some(ty), Some(len)) = (r.u8(), r.u24()) {
            let body = r.take(len as usize).unwrap();
            split.extend(record(22, 0x0303, &hs(ty, body)));
        }
        split.extend_from_slice(&s.data[5 + srec.len()..]);
        let s2 = stream(&[(&split, 100)]);
        let info = analyze(&c, &s2);
        assert_eq!(
            info,
            HandshakeInfo {
                server_hello_ts_ns: Some(100),
                ..whole
            }
        );
    }

    #[test]
    fn tls13_hello_retry_request_two_client_hellos() {
        // TLS 1.3 ClientHello offering one key share.
        let hello = |group: u16, key_len: usize| {
            let mut ks = u16s(&[group]);
            ks.extend(vec16(&vec![1; key_len]));
            let exts = [ext_bytes(43, &[4, 3, 4, 3, 3]), ext_bytes(51, &vec16(&ks))];
            hs(
                1,
                &client_hello_body(0x0303, &[9; 32], &[0x1301, 0x1302], &exts),
            )
        };
        let ch1 = hello(29, 32);
        let ch2 = hello(23, 65);
        let mut c = record(22, 0x0301, &ch1);
        c.extend(record(22, 0x0301, &ch1)); // an identical repeat is not the retry
        c.extend(record(20, 0x0303, &CCS)); // compatibility-mode CCS before the second hello
        c.extend(record(22, 0x0303, &ch2));
        c.extend(record(23, 0x0303, &[0x11; 60])); // encrypted Finished
        let hrr = hs(
            2,
            &server_hello_body(
                0x0303,
                HRR_RANDOM,
                &[9; 32],
                0x1301,
                &[ext_bytes(43, &[3, 4]), ext_bytes(51, &[0, 23])],
            ),
        );
        let mut ks = u16s(&[23]);
        ks.extend(vec16(&[3; 65]));
        let sh = hs(
            2,
            &server_hello_body(
                0x0303,
                [5; 32],
                &[9; 32],
                0x1301,
                &[ext_bytes(43, &[3, 4]), ext_bytes(51, &ks)],
            ),
        );
        let mut s = record(22, 0x0303, &hrr);
        s.extend(record(20, 0x0303, &CCS));
        s.extend(record(22, 0x0303, &sh));
        s.extend(record(23, 0x0303, &[0x22; 900])); // EncryptedExtensions..Finished
        let mut counters = Counters::new();
        let info = analyze_with(
            &stream(&[(&c, 1)]),
            &stream(&[(&s, 2)]),
            &Limits::default(),
            &mut counters,
        );
        assert_eq!(info.status, HandshakeStatus::Complete, "{info:?}");
        assert!(info.established && info.certs_encrypted && !info.resumed);
        assert_eq!(info.version, Some(0x0304));
        assert_eq!(
            info.client_hello.as_ref().unwrap().key_share_groups,
            vec![29]
        );
        assert_eq!(
            info.retry_client_hello.as_ref().unwrap().key_share_groups,
            vec![23]
        );
        let hrr = info.hello_retry_request.as_ref().unwrap();
        assert!(hrr.is_hrr);
        assert_eq!(hrr.key_share_group, Some(23));
        let sh = info.server_hello.as_ref().unwrap();
        assert!(!sh.is_hrr);
        assert_eq!(sh.random, vec![5; 32]);
        assert_eq!(counters.get("tls.duplicate_client_hello"), 1);
        assert!(info.client_ccs && info.server_ccs);
    }

    #[test]
    fn tls13_needs_encrypted_records_from_both_sides() {
        let ch = hs(
            1,
            &client_hello_body(
                0x0303,
                &[],
                &[0x1301],
                &[ext_bytes(43, &[2, 3, 4]), ext_bytes(41, &[0; 8])],
            ),
        );
        let sh = hs(
            2,
            &server_hello_body(
                0x0303,
                [5; 32],
                &[],
                0x1301,
                &[ext_bytes(43, &[3, 4]), ext_bytes(41, &[0, 0])],
            ),
        );
        let mut s = record(22, 0x0303, &sh);
        s.extend(record(23, 0x0303, &[0x22; 100]));
        let c = record(22, 0x0301, &ch);
        let info = analyze(&stream(&[(&c, 1)]), &stream(&[(&s, 2)]));
        assert_eq!(info.status, HandshakeStatus::Incomplete);
        assert!(
            !info.established && info.resumed && !info.certs_encrypted,
            "PSK: no certificate at all"
        );
        let mut c2 = c.clone();
        c2.extend(record(23, 0x0303, &[0x33; 50]));
        let info = analyze(&stream(&[(&c2, 1)]), &stream(&[(&s, 2)]));
        assert_eq!(info.status, HandshakeStatus::Complete);
        assert!(info.established);
    }

    #[test]
    fn sslv2_compatible_client_hello_with_tls_server() {
        let mut v2 = vec![1, 3, 1, 0, 6, 0, 0, 0, 16, 0, 0, 0x2f, 0, 0, 0xff];
        v2.extend([0x42; 16]);
        let mut c = vec![0x80, v2.len() as u8];
        c.extend(&v2);
        c.extend(record(22, 0x0301, &hs(16, &[0, 1, 1])));
        c.extend(record(20, 0x0301, &CCS));
        c.extend(record(22, 0x0301, &[0x44; 32]));
        let mut msgs = hs(2, &server_hello_body(0x0301, [1; 32], &[], 0x002f, &[]));
        msgs.extend(certificate(&[&[0x30, 0]]));
        msgs.extend(hs(14, &[]));
        let mut s = record(22, 0x0301, &msgs);
        s.extend(record(20, 0x0301, &CCS));
        s.extend(record(22, 0x0301, &[0x55; 32]));
        let info = analyze(&stream(&[(&c, 5)]), &stream(&[(&s, 6)]));
        assert_eq!(info.status, HandshakeStatus::Complete, "{info:?}");
        let ch = info.client_hello.as_ref().unwrap();
        assert!(ch.sslv2_format && ch.secure_renegotiation);
        assert_eq!((ch.version, ch.record_version), (0x0301, 0x0002));
        assert_eq!(ch.cipher_suites, vec![0x002f, 0x00ff]);
        assert_eq!(info.client_hello_ts_ns, Some(5));
        assert_eq!(info.version, Some(0x0301));
    }

    #[test]
    fn pure_sslv2() {
        let mut v2 = vec![1, 0, 2, 0, 3, 0, 0, 0, 16, 1, 0, 0x80];
        v2.extend([0x42; 16]);
        let mut c = vec![0x80, v2.len() as u8];
        c.extend(&v2);
        c.extend([0x80, 4, 2, 1, 0, 0x80]); // CLIENT-MASTER-KEY (cut short, unread)
        let mut sh = vec![
            4, 0, 1, 0, 2, 0, 2, 0, 3, 0, 4, 0x30, 0, 1, 0, 0x80, 9, 9, 9, 9,
        ];
        sh.truncate(20);
        let mut s = vec![0x80, sh.len() as u8];
        s.extend(&sh);
        s.extend([0x80, 3, 1, 2, 3]);
        let info = analyze(&stream(&[(&c, 5)]), &stream(&[(&s, 6)]));
        assert_eq!(info.status, HandshakeStatus::Complete, "{info:?}");
        assert_eq!(info.version, Some(0x0002));
        assert_eq!(info.server_certs, vec![vec![0x30, 0]]);
        assert!(info.established);
        // Without CLIENT-MASTER-KEY the exchange stops at the hellos.
        let info = analyze(&stream(&[(&c[..2 + v2.len()], 5)]), &stream(&[(&s, 6)]));
        assert_eq!(info.status, HandshakeStatus::Incomplete);
    }

    fn resumption(
        sid_c: &[u8],
        sid_s: &[u8],
        ticket: &[u8],
        server_msgs: &[Vec<u8>],
    ) -> HandshakeInfo {
        let exts = vec![ext_bytes(35, ticket)];
        let mut c = record(22, 0x0301, &tls12_client_hello(sid_c, &exts));
        c.extend(record(20, 0x0303, &CCS));
        c.extend(record(22, 0x0303, &[0x12; 40]));
        let mut msgs = hs(
            2,
            &server_hello_body(0x0303, [1; 32], sid_s, 0xc02f, &[ext_bytes(35, &[])]),
        );
        for m in server_msgs {
            msgs.extend(m);
        }
        let mut s = record(22, 0x0303, &msgs);
        s.extend(record(20, 0x0303, &CCS));
        s.extend(record(22, 0x0303, &[0x13; 40]));
        analyze(&stream(&[(&c, 1)]), &stream(&[(&s, 2)]))
    }

    #[test]
    fn resumption_by_session_id_and_ticket() {
        let info = resumption(&[4; 32], &[4; 32], &[], &[]);
        assert!(info.resumed && info.established);
        assert_eq!(info.status, HandshakeStatus::Complete);
        // Ticket accepted: abbreviated handshake with NewSessionTicket.
        let info = resumption(&[], &[], &[1; 100], &[hs(4, &[0, 0, 0, 1, 0, 0])]);
        assert!(info.resumed && info.new_session_ticket);
        // Ticket offered but the server ran a full handshake.
        let full = [certificate(&[&[0x30]]), ecdhe_ske(), hs(14, &[])];
        let info = resumption(&[], &[], &[1; 100], &full);
        assert!(!info.resumed);
        assert!(info.server_key_exchange.is_some());
        // New session id from the server.
        let info = resumption(&[4; 32], &[5; 32], &[], &full);
        assert!(!info.resumed);
    }

    #[test]
    fn fatal_alert() {
        let c = record(22, 0x0301, &tls12_client_hello(&[], &default_exts()));
        let s = record(21, 0x0303, &[2, 40]);
        let info = analyze(&stream(&[(&c, 1)]), &stream(&[(&s, 2)]));
        assert_eq!(info.status, HandshakeStatus::Alert);
        assert_eq!(
            info.alerts,
            vec![Alert {
                level: 2,
                description: 40,
                from_server: true
            }]
        );
        assert!(!info.established);
        // A warning alert is kept but does not end the handshake.
        let s = record(21, 0x0303, &[1, 112]);
        let info = analyze(&stream(&[(&c, 1)]), &stream(&[(&s, 2)]));
        assert_eq!(info.status, HandshakeStatus::NoServerHello);
        assert_eq!(info.alerts.len(), 1);
        // Encrypted alerts (after CCS) are not invented.
        let (mut cl, sv) = tls12_full();
        cl.data.extend(record(21, 0x0303, &[0x99; 26]));
        let info = analyze(&cl, &sv);
        assert!(info.alerts.is_empty());
        assert_eq!(info.status, HandshakeStatus::Complete);
    }

    #[test]
    fn truncated_mid_message_is_not_malformed() {
        let (c, s) = tls12_full();
        for cut in 0..c.data.len() {
            let mut cc = c.clone();
            cc.data.truncate(cut);
            cc.end = StreamEnd::Truncated;
            let info = analyze(&cc, &s);
            assert_ne!(
                info.status,
                HandshakeStatus::Malformed,
                "client cut at {cut}"
            );
            assert!(info.malformed_reason.is_none());
        }
        for cut in 0..s.data.len() {
            let mut ss = s.clone();
            ss.data.truncate(cut);
            let info = analyze(&c, &ss);
            assert_ne!(
                info.status,
                HandshakeStatus::Malformed,
                "server cut at {cut}"
            );
        }
        // Cut inside the ClientHello by the capture's buffer limit.
        let mut cc = c.clone();
        cc.data.truncate(30);
        cc.end = StreamEnd::Truncated;
        let info = analyze(&cc, &s);
        assert_eq!(info.status, HandshakeStatus::Truncated);
        assert!(info.client_hello.is_none());
        // The same cut at the end of the capture: no ClientHello.
        cc.end = StreamEnd::Open;
        assert_eq!(analyze(&cc, &s).status, HandshakeStatus::NoClientHello);
        // Cut after the server's CCS: the handshake was complete.
        let mut cc = c.clone();
        cc.end = StreamEnd::Truncated;
        assert_eq!(analyze(&cc, &s).status, HandshakeStatus::Complete);
    }

    /// Regression (`heuristic_tcp_ack_payload`): two bytes of noise an ACK carried took
    /// the place where the client's next record starts (first data wins on the differing
    /// overlap). The hello parsed: the row is not malformed, the walk stops there.
    #[test]
    fn heuristic_tcp_ack_payload_after_a_parsed_hello_is_not_malformed() {
        let (c, s) = tls12_full();
        // The hello fills the first two records; the noise lands on the third's header.
        let rec_end =
            |at: usize| at + 5 + usize::from(u16::from_be_bytes([c.data[at + 3], c.data[at + 4]]));
        let hello_end = rec_end(rec_end(0));
        let mut noisy = c.clone();
        noisy.data[hello_end] = 0;
        noisy.data[hello_end + 1] = 0;
        noisy.overlap_conflict = true;
        let mut counters = Counters::new();
        let info = analyze_with(&noisy, &s, &Limits::default(), &mut counters);
        assert!(info.client_hello.is_some());
        assert_eq!(info.malformed_reason, None);
        assert_eq!(info.status, HandshakeStatus::Incomplete);
        assert_eq!(counters.get("tls.framing_after_overlap_conflict"), 1);
        // Without a differing overlap the same bytes are a broken stream.
        noisy.overlap_conflict = false;
        let info = analyze(&noisy, &s);
        assert_eq!(info.malformed_reason, Some("record_content_type"));
    }

    #[test]
    fn malformed_inputs() {
        let (c, _) = tls12_full();
        let s = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
        let info = analyze(&c, &stream(&[(&s, 1)]));
        assert_eq!(info.status, HandshakeStatus::Malformed);
        assert_eq!(info.malformed_reason, Some("record_content_type"));
        assert!(info.client_hello.is_some());
        // Extension block length overruns the hello.
        let mut body = client_hello_body(0x0303, &[], &[0x1301], &default_exts());
        let n = body.len();
        let block_len_at = n - default_exts().concat().len() - 2;
        body[block_len_at + 1] = body[block_len_at + 1].wrapping_add(7);
        let c = record(22, 0x0301, &hs(1, &body));
        let info = analyze(&stream(&[(&c, 1)]), &StreamData::default());
        assert_eq!(info.status, HandshakeStatus::Malformed);
        assert_eq!(info.malformed_reason, Some("client_hello_extensions"));
        // Oversized record.
        let mut big = vec![22, 3, 3, 0x48, 0x01];
        big.extend([0; 64]);
        let info = analyze(&stream(&[(&big, 1)]), &StreamData::default());
        assert_eq!(info.malformed_reason, Some("record_length"));
        // Unknown content type 25.
        let info = analyze(
            &stream(&[(&record(25, 0x0303, &[0]), 1)]),
            &StreamData::default(),
        );
        assert_eq!(info.malformed_reason, Some("record_content_type"));
    }

    #[test]
    fn gaps() {
        let (c, s) = tls12_full();
        // Bytes missing right after the ClientHello records: status Gap.
        let ch_end = c.pieces[2].data_offset;
        let mut g = c.clone();
        g.pieces[2].stream_offset += 100;
        g.gaps = vec![(ch_end as u64, 100)];
        let info = analyze(&g, &s);
        assert_eq!(info.status, HandshakeStatus::Gap);
        assert!(
            info.client_hello.is_some() && !info.client_ccs,
            "bytes after the gap are not read"
        );
        // A gap after the server's CCS does not matter.
        let mut g = s.clone();
        let last = g.pieces.len();
        g.pieces.push(Piece {
            stream_offset: g.data.len() as u64 + 50,
            data_offset: g.data.len(),
            ts_ns: 900,
        });
        g.data.extend([0; 10]);
        g.gaps = vec![(g.data.len() as u64 - 10, 50)];
        assert_eq!(last + 1, g.pieces.len());
        let info = analyze(&c, &g);
        assert_eq!(info.status, HandshakeStatus::Complete);
    }

    #[test]
    fn starttls_preamble_is_skipped() {
        let (c, s) = tls12_full();
        let c2 = stream(&[(b"a001 STARTTLS\r\n", 1), (&c.data, 10)]);
        let s2 = stream(&[
            (b"a001 OK Begin TLS negotiation now\r\n", 2),
            (&s.data, 100),
        ]);
        let mut counters = Counters::new();
        let info = analyze_with(&c2, &s2, &Limits::default(), &mut counters);
        assert_eq!(info.status, HandshakeStatus::Complete);
        assert_eq!(info.client_hello_ts_ns, Some(10));
        assert_eq!(counters.get("tls.preamble_skipped"), 2);
        let no_search = Limits {
            max_preamble: 0,
            ..Limits::default()
        };
        let info = analyze_with(&c2, &s2, &no_search, &mut counters);
        assert_eq!(info.malformed_reason, Some("record_content_type"));
    }

    #[test]
    fn limits_bind_and_count() {
        let (c, s) = tls12_full();
        let mut counters = Counters::new();
        let lim = Limits {
            max_messages: 2,
            ..Limits::default()
        };
        let info = analyze_with(&c, &s, &lim, &mut counters);
        assert_eq!(info.status, HandshakeStatus::Truncated);
        assert_eq!(counters.get("tls.messages_capped"), 1);
        assert!(info.server_key_exchange.is_none());
        let lim = Limits {
            max_message_len: 64,
            ..Limits::default()
        };
        let info = analyze_with(&c, &s, &lim, &mut counters);
        assert_eq!(info.status, HandshakeStatus::Truncated);
        assert_eq!(counters.get("tls.message_too_long"), 1);
        // Both directions carry more than 60 handshake bytes.
        let lim = Limits {
            max_handshake_bytes: 60,
            ..Limits::default()
        };
        let info = analyze_with(&c, &s, &lim, &mut counters);
        assert_eq!(counters.get("tls.handshake_bytes_capped"), 2);
        assert_eq!(info.status, HandshakeStatus::Truncated);
        assert!(info.server_hello.is_none());
    }

    #[test]
    fn client_certificate_and_certificate_request() {
        let (c, s) = tls12_full();
        let mut s2 = s.clone();
        // Insert a CertificateRequest record before the CCS.
        let ccs_at = s2.pieces[3].data_offset;
        let cr = record(22, 0x0303, &hs(13, &[1, 1, 0, 0, 0, 0]));
        s2.data.splice(ccs_at..ccs_at, cr.iter().copied());
        let mut c2 = c.clone();
        let fl = c2.pieces[2].data_offset;
        let cc = record(22, 0x0303, &certificate(&[&[0x30, 0x0c]]));
        c2.data.splice(fl..fl, cc.iter().copied());
        let info = analyze(&c2, &s2);
        assert!(info.certificate_request);
        assert_eq!(info.client_certs, vec![vec![0x30, 0x0c]]);
        assert_eq!(info.status, HandshakeStatus::Complete);
    }

    fn arb_stream() -> impl Strategy<Value = StreamData> {
        (
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec((0usize..600, 0u64..50), 0..4),
            any::<u8>(),
        )
            .prop_map(|(data, cuts, e)| {
                let mut sd = StreamData {
                    data,
                    ..StreamData::default()
                };
                let mut offs: Vec<usize> = cuts.iter().map(|c| c.0.min(sd.data.len())).collect();
                offs.sort_unstable();
                let mut shift = 0u64;
                sd.pieces.push(Piece {
                    stream_offset: 0,
                    data_offset: 0,
                    ts_ns: 0,
                });
                for (i, (&o, &(_, g))) in offs.iter().zip(cuts.iter()).enumerate() {
                    if g > 0 && o > 0 {
                        sd.gaps.push((o as u64 + shift, g));
                    }
                    shift += g;
                    sd.pieces.push(Piece {
                        stream_offset: o as u64 + shift,
                        data_offset: o,
                        ts_ns: i as i64,
                    });
                }
                sd.end = match e % 5 {
                    0 => StreamEnd::Open,
                    1 => StreamEnd::HandshakeDone,
                    2 => StreamEnd::Fin,
                    3 => StreamEnd::Rst,
                    _ => StreamEnd::Truncated,
                };
                sd
            })
    }

    /// A DTLS 1.2 client body: version, random, session id, cookie, suites, compression.
    fn dtls_client_hello(cookie: &[u8]) -> Vec<u8> {
        let mut b = vec![0xfe, 0xfd];
        b.extend([0x22; 32]);
        b.push(0);
        b.push(cookie.len() as u8);
        b.extend_from_slice(cookie);
        b.extend(vec16(&u16s(&[0xc02b, 0xc02f])));
        b.extend([1, 0]);
        b.extend(vec16(
            &[sni_ext("dtls.example"), alpn_ext(&[b"webrtc"])].concat(),
        ));
        b
    }

    fn msg(ty: u8, body: &[u8], ts: i64) -> Event<'_> {
        Event::Message {
            ty,
            body,
            record_version: 0xfefd,
            ts_ns: Some(ts),
        }
    }

    /// DTLS: HelloVerifyRequest, then the ClientHello again with the cookie: one
    /// handshake, described by the first hello, with `dtls_cookie` set; both sides'
    /// ChangeCipherSpec make it established.
    #[test]
    fn dtls_cookie_exchange_is_one_handshake() {
        let ch1 = dtls_client_hello(&[]);
        let ch2 = dtls_client_hello(&[9; 20]);
        let hvr = [
            0xfe, 0xff, 20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        ];
        let sh = server_hello_body(0xfefd, [7; 32], &[], 0xc02b, &[ext_bytes(0xff01, &[0])]);
        let client = FramedSide {
            events: vec![
                msg(1, &ch1, 10),
                msg(1, &ch2, 30),
                Event::ChangeCipherSpec,
                Event::Protected { ts_ns: Some(50) },
            ],
            ..FramedSide::default()
        };
        let server = FramedSide {
            events: vec![
                msg(3, &hvr, 20),
                msg(2, &sh, 40),
                msg(14, &[], 40),
                Event::ChangeCipherSpec,
                Event::Protected { ts_ns: Some(60) },
            ],
            ..FramedSide::default()
        };
        let mut counters = Counters::new();
        let info = analyze_framed(&client, &server, &Limits::default(), &mut counters);
        assert_eq!(info.status, HandshakeStatus::Complete, "{info:?}");
        assert!(info.dtls_cookie && info.established);
        let ch = info.client_hello.as_ref().unwrap();
        assert_eq!((ch.version, ch.cookie_len), (0xfefd, 0));
        assert_eq!(ch.sni.as_deref(), Some("dtls.example"));
        assert_eq!(info.version, Some(0xfefd));
        assert_eq!(info.client_hello_ts_ns, Some(10));
        assert_eq!(counters.get("tls.extra_client_hello"), 0);
    }

    /// QUIC: a CRYPTO stream is back-to-back messages; one ending early is reported.
    #[test]
    fn crypto_stream_splits_into_messages() {
        let ch = hs(1, &tls12_client_hello(&[], &default_exts())[4..]);
        let mut two = ch.clone();
        two.extend(hs(2, &[1, 2, 3]));
        let mut ev = Vec::new();
        assert!(!split_messages(&two, Some(5), &mut ev));
        assert_eq!(ev.len(), 2);
        assert!(matches!(
            ev[1],
            Event::Message {
                ty: 2,
                body: [1, 2, 3],
                ts_ns: Some(5),
                ..
            }
        ));
        let mut ev = Vec::new();
        assert!(
            split_messages(&two[..two.len() - 1], None, &mut ev),
            "cut inside"
        );
        assert_eq!(ev.len(), 1);
        assert!(
            split_messages(&[1, 0], None, &mut Vec::new()),
            "cut inside the header"
        );
        assert!(!split_messages(&[], None, &mut Vec::new()));
    }

    /// QUIC transport parameter ids are kept in wire order (RFC 9000 18 varints), and
    /// a broken list makes the hello malformed without losing the hello.
    #[test]
    fn quic_transport_parameter_ids() {
        // initial_max_data (0x04) = 1 MiB as a 4-byte varint, a GREASE id (0x1b..) with
        // a 2-byte varint id, and disable_active_migration (0x0c) empty.
        let tp = [
            0x04, 0x04, 0x80, 0x10, 0x00, 0x00, 0x40, 0x5b, 0x01, 0xaa, 0x0c, 0x00,
        ];
        let ch = tls12_client_hello(&[], &[ext_bytes(57, &tp)]);
        let c = stream(&[(&record(22, 0x0301, &ch), 1)]);
        let info = analyze(&c, &StreamData::default());
        let hello = info.client_hello.unwrap();
        assert_eq!(hello.quic_transport_params, vec![0x04, 0x5b, 0x0c]);
        let bad = tls12_client_hello(&[], &[ext_bytes(57, &tp[..3])]);
        let c = stream(&[(&record(22, 0x0301, &bad), 1)]);
        let info = analyze(&c, &StreamData::default());
        assert_eq!(
            info.malformed_reason,
            Some("client_hello_ext_quic_transport_parameters")
        );
        assert!(info.client_hello.is_some());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(c in arb_stream(), s in arb_stream()) {
            let info = analyze(&c, &s);
            prop_assert_eq!(info.malformed_reason.is_some(), info.status == HandshakeStatus::Malformed);
        }

        #[test]
        fn never_panics_on_mutated_handshakes(pos in 0usize..2000, byte in any::<u8>(), side in any::<bool>(), cut in 0usize..2000) {
            let (mut c, mut s) = tls12_full();
            let target = if side { &mut c } else { &mut s };
            let n = target.data.len();
            if let Some(b) = target.data.get_mut(pos % n) {
                *b = byte;
            }
            target.data.truncate(cut.max(1));
            let _ = analyze(&c, &s);
        }
    }
}
