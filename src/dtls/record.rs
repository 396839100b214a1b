//! DTLS record layer framing: the plaintext record header (RFC 6347 4.1), the DTLS 1.3
//! unified header (RFC 9147 4), the handshake fragment header (RFC 6347 4.2.2), and the
//! two cheap per-datagram walks the capture thread uses ([`sniff`], [`record_kinds`]).
//!
//! Invariants: nothing here allocates or parses message bodies; every slice handed out
//! lies inside the datagram; a record whose framing is wrong ends the walk of *that
//! datagram only* (DTLS records never span datagrams, RFC 6347 4.1.1, so the next
//! datagram starts clean).
//! Limits: a record longer than [`MAX_RECORD_LEN`] is broken framing. A record whose
//! length cannot be located passively (a DTLS 1.3 unified header with a connection ID,
//! or an RFC 9146 `tls12_cid` record: the CID length is negotiated, not on the wire)
//! runs to the end of its datagram, so records packed after it are not seen.

use tls_parser::parse_dtls_record_header;

/// DTLSPlaintext header: type (1), version (2), epoch (2), sequence_number (6), length (2).
pub const PLAINTEXT_HEADER_LEN: usize = 13;
/// A `tls12_cid` record's fixed part: type, version, epoch, sequence_number.
const CID_RECORD_FIXED_LEN: usize = 11;
/// Handshake header: msg_type (1), length (3), message_seq (2), fragment_offset (3),
/// fragment_length (3) (RFC 6347 4.2.2).
pub const HANDSHAKE_HEADER_LEN: usize = 12;
/// RFC 6347 4.1 defers to RFC 5246 6.2.3: a ciphertext record MUST NOT exceed 2^14 + 2048.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// RFC 5246 6.2.1 / RFC 6520 / RFC 9146 / RFC 9147 content types.
pub const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CT_ALERT: u8 = 21;
pub const CT_HANDSHAKE: u8 = 22;
pub const CT_APPLICATION_DATA: u8 = 23;
pub const CT_HEARTBEAT: u8 = 24;
/// RFC 9146 `tls12_cid`: a CID of negotiated (unknown to us) length sits before `length`.
pub const CT_TLS12_CID: u8 = 25;
/// RFC 9147 7 `ack`.
pub const CT_ACK: u8 = 26;

/// Record versions (RFC 6347 4.1, RFC 9147 5.3: DTLS 1.3 records carry 0xfefd, 0xfefc
/// appears only in supported_versions but is accepted).
pub const DTLS1_0: u16 = 0xfeff;
pub const DTLS1_2: u16 = 0xfefd;
pub const DTLS1_3: u16 = 0xfefc;
/// OpenSSL's pre-RFC DTLS (`DTLS1_BAD_VER`, Cisco AnyConnect).
pub const DTLS1_BAD_VER: u16 = 0x0100;

/// RFC 9147 4: unified header first byte is `0b001CSLEE`.
const UNIFIED_FIXED_MASK: u8 = 0xe0;
const UNIFIED_FIXED_BITS: u8 = 0x20;
const UNIFIED_C: u8 = 0x10;
const UNIFIED_S: u8 = 0x08;
const UNIFIED_L: u8 = 0x04;
const UNIFIED_EPOCH: u8 = 0x03;

/// Handshake types this module names (RFC 6347 4.3.2).
pub const HS_CLIENT_HELLO: u8 = 1;
pub const HS_SERVER_HELLO: u8 = 2;
pub const HS_HELLO_VERIFY_REQUEST: u8 = 3;

/// Alert level `fatal` (RFC 5246 7.2).
const ALERT_FATAL: u8 = 2;

/// RFC 7983 5: a UDP payload whose first byte is 20..=63 is DTLS (0..=3 STUN,
/// 16..=19 ZRTP, 64..=79 TURN channel, 128..=191 RTP/RTCP).
pub fn first_byte_is_dtls(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(20..=63))
}

/// RFC 6347 4.1 / RFC 5246 7.1: the ChangeCipherSpec body is the single byte 1.
/// OpenSSL's pre-RFC DTLS (`DTLS1_BAD_VER`) appends the 2-byte message_seq.
pub fn ccs_body_ok(version: u16, body: &[u8]) -> bool {
    body == [1] || (version == DTLS1_BAD_VER && body.len() == 3 && body.first() == Some(&1))
}

fn known_content_type(ct: u8) -> bool {
    (CT_CHANGE_CIPHER_SPEC..=CT_ACK).contains(&ct)
}

fn known_version(v: u16) -> bool {
    matches!(v, DTLS1_0 | DTLS1_2 | DTLS1_3 | DTLS1_BAD_VER)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        0,
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
    ]))
}

/// Why a record's framing was rejected; [`RecordError::reason`] is the `malformed` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes left than a record header needs.
    TruncatedHeader,
    /// First byte neither a known content type nor a unified header.
    ContentType,
    /// Plaintext header with a version that is not DTLS.
    Version,
    /// Length field beyond [`MAX_RECORD_LEN`].
    TooLong,
    /// Length field beyond the end of the datagram.
    PastDatagram,
}

impl RecordError {
    pub fn reason(self) -> &'static str {
        match self {
            RecordError::TruncatedHeader => "record_truncated_header",
            RecordError::ContentType => "record_content_type",
            RecordError::Version => "record_version",
            RecordError::TooLong => "record_too_long",
            RecordError::PastDatagram => "record_past_datagram",
        }
    }
}

/// One record of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Plaintext content type, or the whole first byte of a unified header (0x20..=0x3f).
    pub content_type: u8,
    /// Record version; 0 for a unified header (it has none).
    pub version: u16,
    /// Epoch; only its low two bits for a unified header.
    pub epoch: u16,
    /// DTLS 1.3 unified header (RFC 9147 4).
    pub unified: bool,
    /// The record's payload. For a record of unlocatable length it is everything after
    /// the fixed header up to the datagram's end (CID included).
    pub body: &'a [u8],
}

impl Record<'_> {
    /// Content this module does not look into: protected records (epoch > 0, unified
    /// header, `tls12_cid`).
    pub fn is_protected(&self) -> bool {
        self.unified || self.epoch > 0 || self.content_type == CT_TLS12_CID
    }
}

/// Parse the record at the start of `buf`; returns it and the bytes it used.
pub fn parse_record(buf: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    let first = *buf.first().ok_or(RecordError::TruncatedHeader)?;
    if first & UNIFIED_FIXED_MASK == UNIFIED_FIXED_BITS {
        return parse_unified(first, buf);
    }
    if !known_content_type(first) {
        return Err(RecordError::ContentType);
    }
    // tls-parser's header parser is allocation-free and validates nothing; the checks
    // are ours. It returns nom's Incomplete on short input, hence the length test first.
    if buf.len() < PLAINTEXT_HEADER_LEN {
        return Err(RecordError::TruncatedHeader);
    }
    let (rest, h) = parse_dtls_record_header(buf).map_err(|_| RecordError::TruncatedHeader)?;
    let version = h.version.0;
    if !known_version(version) {
        return Err(RecordError::Version);
    }
    if first == CT_TLS12_CID {
        // RFC 9146 4: the CID sits between sequence_number and length.
        let body = buf.get(CID_RECORD_FIXED_LEN..).unwrap_or_default();
        let rec = Record {
            content_type: first,
            version,
            epoch: h.epoch,
            unified: false,
            body,
        };
        return Ok((rec, buf.len()));
    }
    let len = usize::from(h.length);
    if len > MAX_RECORD_LEN {
        return Err(RecordError::TooLong);
    }
    let body = rest.get(..len).ok_or(RecordError::PastDatagram)?;
    let rec = Record {
        content_type: first,
        version,
        epoch: h.epoch,
        unified: false,
        body,
    };
    Ok((rec, PLAINTEXT_HEADER_LEN + len))
}

fn parse_unified(first: u8, buf: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    let epoch = u16::from(first & UNIFIED_EPOCH);
    let mk = |body| Record {
        content_type: first,
        version: 0,
        epoch,
        unified: true,
        body,
    };
    if first & UNIFIED_C != 0 {
        // Connection ID of unknown length: cannot find the length field.
        return Ok((mk(buf.get(1..).unwrap_or_default()), buf.len()));
    }
    let seq_len = if first & UNIFIED_S != 0 { 2 } else { 1 };
    let fixed = 1 + seq_len;
    if first & UNIFIED_L == 0 {
        let body = buf.get(fixed..).ok_or(RecordError::TruncatedHeader)?;
        return Ok((mk(body), buf.len()));
    }
    let len = usize::from(be16(buf, fixed).ok_or(RecordError::TruncatedHeader)?);
    if len > MAX_RECORD_LEN {
        return Err(RecordError::TooLong);
    }
    let start = fixed + 2;
    let body = buf
        .get(start..start + len)
        .ok_or(RecordError::PastDatagram)?;
    Ok((mk(body), start + len))
}

/// Items parsed back to back from a buffer by one parser (records of a datagram,
/// fragments of a record body), in order; yields at most one error, then stops.
#[derive(Debug, Clone)]
pub struct BackToBack<'a, T, E> {
    rest: &'a [u8],
    parse: ParseOne<'a, T, E>,
}

/// Parse one item from the front of a buffer: the item and the bytes it used.
type ParseOne<'a, T, E> = fn(&'a [u8]) -> Result<(T, usize), E>;

impl<T, E> Iterator for BackToBack<'_, T, E> {
    type Item = Result<T, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match (self.parse)(self.rest) {
            Ok((item, used)) => {
                self.rest = self.rest.get(used..).unwrap_or_default();
                Some(Ok(item))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The records of one datagram.
pub type Records<'a> = BackToBack<'a, Record<'a>, RecordError>;

impl<'a> Records<'a> {
    pub fn new(datagram: &'a [u8]) -> Self {
        BackToBack {
            rest: datagram,
            parse: parse_record,
        }
    }
}

/// Why a handshake fragment header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentError {
    /// Fewer than 12 bytes left in the record.
    TruncatedHeader,
    /// fragment_length runs past the record.
    PastRecord,
    /// fragment_offset + fragment_length > length.
    PastMessage,
}

impl FragmentError {
    pub fn reason(self) -> &'static str {
        match self {
            FragmentError::TruncatedHeader => "handshake_truncated_header",
            FragmentError::PastRecord => "fragment_past_record",
            FragmentError::PastMessage => "fragment_past_message",
        }
    }
}

/// One handshake fragment (RFC 6347 4.2.2); `data` is `fragment_length` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub msg_type: u8,
    /// Length of the whole message.
    pub length: u32,
    pub message_seq: u16,
    pub offset: u32,
    pub data: &'a [u8],
}

/// Parse the fragment at the start of `buf` (a handshake record body); returns it and
/// the bytes it used. tls-parser has no header-only parser (see the module README note
/// in `mod.rs`), and the header is 12 fixed bytes.
pub fn parse_fragment(buf: &[u8]) -> Result<(Fragment<'_>, usize), FragmentError> {
    if buf.len() < HANDSHAKE_HEADER_LEN {
        return Err(FragmentError::TruncatedHeader);
    }
    let hdr = (|| {
        Some((
            *buf.first()?,
            be24(buf, 1)?,
            be16(buf, 4)?,
            be24(buf, 6)?,
            be24(buf, 9)?,
        ))
    })();
    let (msg_type, length, message_seq, offset, frag_len) =
        hdr.ok_or(FragmentError::TruncatedHeader)?;
    let end = HANDSHAKE_HEADER_LEN + frag_len as usize;
    let data = buf
        .get(HANDSHAKE_HEADER_LEN..end)
        .ok_or(FragmentError::PastRecord)?;
    if u64::from(offset) + u64::from(frag_len) > u64::from(length) {
        return Err(FragmentError::PastMessage);
    }
    Ok((
        Fragment {
            msg_type,
            length,
            message_seq,
            offset,
            data,
        },
        end,
    ))
}

/// The fragments of one handshake record body.
pub type Fragments<'a> = BackToBack<'a, Fragment<'a>, FragmentError>;

impl<'a> Fragments<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        BackToBack {
            rest: body,
            parse: parse_fragment,
        }
    }
}

/// Which hello a datagram's first record starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloKind {
    /// A DTLS record, but not an epoch-0 hello.
    None,
    ClientHello,
    /// ServerHello, also DTLS 1.3's HelloRetryRequest (same type).
    ServerHello,
    HelloVerifyRequest,
}

/// What [`sniff`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed<'a> {
    pub content_type: u8,
    pub version: u16,
    pub epoch: u16,
    /// The first fragment's type when the first record is an epoch-0 handshake record.
    pub hello: HelloKind,
    /// ClientHello.random (32 bytes) when the first fragment starts the ClientHello and
    /// holds it; the same in a cookie ClientHello (RFC 6347 4.2.1), so it names the
    /// handshake.
    pub client_random: Option<&'a [u8]>,
}

/// ClientHello body: client_version (2) then random (32).
const CLIENT_RANDOM: std::ops::Range<usize> = 2..34;

/// Is this UDP payload a DTLS datagram? Looks only at the first record: a plaintext
/// header with a known content type and version whose length fits the datagram. A
/// unified-header (DTLS 1.3 protected) record alone is too weak a signal: `None`.
pub fn sniff(payload: &[u8]) -> Option<Sniffed<'_>> {
    let (rec, _) = parse_record(payload).ok()?;
    if rec.unified {
        return None;
    }
    let mut s = Sniffed {
        content_type: rec.content_type,
        version: rec.version,
        epoch: rec.epoch,
        hello: HelloKind::None,
        client_random: None,
    };
    if rec.content_type == CT_HANDSHAKE && rec.epoch == 0 {
        if let Ok((f, _)) = parse_fragment(rec.body) {
            s.hello = match f.msg_type {
                HS_CLIENT_HELLO => HelloKind::ClientHello,
                HS_SERVER_HELLO => HelloKind::ServerHello,
                HS_HELLO_VERIFY_REQUEST => HelloKind::HelloVerifyRequest,
                _ => HelloKind::None,
            };
            if s.hello == HelloKind::ClientHello && f.offset == 0 {
                s.client_random = f.data.get(CLIENT_RANDOM);
            }
        }
    }
    Some(s)
}

/// Kinds of records in one datagram, for deciding when a direction's handshake is over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordKinds {
    /// Any epoch-0 plaintext record (handshake, alert, CCS, ...): worth keeping.
    pub cleartext: bool,
    /// Epoch-0 handshake record.
    pub handshake: bool,
    /// Epoch-0 ChangeCipherSpec.
    pub ccs: bool,
    /// Protected record: epoch > 0, unified header or `tls12_cid`.
    pub protected: bool,
    /// Cleartext (epoch 0) alert of level fatal.
    pub fatal_alert: bool,
    /// application_data content type (any epoch). DTLS 1.3 application data hides
    /// inside unified-header records, which only set `protected`.
    pub application_data: bool,
    /// The walk stopped at a record with broken framing.
    pub malformed: bool,
}

/// Walk the records of one datagram (no allocation, header reads only). A payload
/// failing the RFC 7983 first-byte rule gives all-false.
pub fn record_kinds(payload: &[u8]) -> RecordKinds {
    let mut k = RecordKinds::default();
    if !first_byte_is_dtls(payload) {
        return k;
    }
    for rec in Records::new(payload) {
        let Ok(rec) = rec else {
            k.malformed = true;
            break;
        };
        if rec.content_type == CT_APPLICATION_DATA {
            k.application_data = true;
        }
        if rec.is_protected() {
            k.protected = true;
            continue;
        }
        k.cleartext = true;
        match rec.content_type {
            CT_HANDSHAKE => k.handshake = true,
            CT_CHANGE_CIPHER_SPEC => k.ccs = true,
            CT_ALERT => {
                k.fatal_alert |= rec.body.chunks(2).any(|a| a.first() == Some(&ALERT_FATAL));
            }
            _ => {}
        }
    }
    k
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plaintext record with the given header fields around `body`.
    pub(crate) fn rec(ct: u8, version: u16, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct];
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(&epoch.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes()[2..]);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A handshake fragment header + data.
    pub(crate) fn frag(ty: u8, len: u32, seq: u16, off: u32, data: &[u8]) -> Vec<u8> {
        let mut v = vec![ty];
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&off.to_be_bytes()[1..]);
        v.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn two_records_in_one_datagram() {
        let mut d = rec(22, DTLS1_2, 0, 7, &frag(1, 3, 0, 0, b"abc"));
        d.extend(rec(20, DTLS1_2, 0, 8, &[1]));
        let recs: Vec<_> = Records::new(&d).collect();
        assert_eq!(recs.len(), 2);
        let r0 = recs[0].unwrap();
        assert_eq!((r0.content_type, r0.version, r0.epoch), (22, DTLS1_2, 0));
        let (f, used) = parse_fragment(r0.body).unwrap();
        assert_eq!(used, r0.body.len());
        assert_eq!(
            (f.msg_type, f.length, f.message_seq, f.offset, f.data),
            (1, 3, 0, 0, &b"abc"[..])
        );
        assert_eq!(recs[1].unwrap().body, &[1]);
    }

    #[test]
    fn truncated_and_bad_length() {
        let d = rec(22, DTLS1_0, 0, 0, b"xyz");
        for cut in 1..d.len() {
            let r: Vec<_> = Records::new(&d[..cut]).collect();
            assert_eq!(r.len(), 1);
            let want = if cut < PLAINTEXT_HEADER_LEN {
                RecordError::TruncatedHeader
            } else {
                RecordError::PastDatagram
            };
            assert_eq!(r[0], Err(want), "cut {cut}");
        }
        let mut long = rec(23, DTLS1_2, 1, 0, &[]);
        long[11..13].copy_from_slice(&(MAX_RECORD_LEN as u16 + 1).to_be_bytes());
        long.resize(13 + MAX_RECORD_LEN + 1, 0);
        assert_eq!(parse_record(&long).unwrap_err(), RecordError::TooLong);
    }

    #[test]
    fn unknown_content_type_and_version() {
        assert_eq!(
            parse_record(&rec(19, DTLS1_2, 0, 0, b"")).unwrap_err(),
            RecordError::ContentType
        );
        assert_eq!(
            parse_record(&rec(64, DTLS1_2, 0, 0, b"")).unwrap_err(),
            RecordError::ContentType
        );
        assert_eq!(
            parse_record(&rec(22, 0x0303, 0, 0, b"")).unwrap_err(),
            RecordError::Version
        );
        let bad_ver = rec(22, DTLS1_BAD_VER, 0, 0, b"");
        assert_eq!(parse_record(&bad_ver).unwrap().0.version, DTLS1_BAD_VER);
        // ack (26) is kept as a known type
        assert!(parse_record(&rec(CT_ACK, DTLS1_2, 2, 0, b"")).is_ok());
    }

    #[test]
    fn unified_header_forms() {
        // 0b00101110: no CID, 16-bit seq, length present, epoch 2
        let mut d = vec![0x2e, 0, 5, 0, 3, 9, 9, 9];
        d.extend(rec(21, DTLS1_2, 0, 1, &[2, 40]));
        let recs: Vec<_> = Records::new(&d).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert!(recs[0].unified && recs[0].is_protected());
        assert_eq!((recs[0].epoch, recs[0].body), (2, &[9u8, 9, 9][..]));
        // no length: runs to the end
        let d = [0x23, 7, 1, 2, 3, 4];
        let (r, used) = parse_record(&d).unwrap();
        assert_eq!((r.body, used, r.epoch), (&[1u8, 2, 3, 4][..], 6, 3));
        // CID: runs to the end whatever L says
        let d = [0x3c, 0xaa, 0xbb, 0, 1, 0, 2, 5, 5];
        let (r, used) = parse_record(&d).unwrap();
        assert_eq!((r.body.len(), used), (8, 9));
        // length past the datagram, truncated header
        assert_eq!(
            parse_record(&[0x2c, 1, 0, 9, 1]).unwrap_err(),
            RecordError::PastDatagram
        );
        assert_eq!(
            parse_record(&[0x2c, 1]).unwrap_err(),
            RecordError::TruncatedHeader
        );
        assert_eq!(
            parse_record(&[0x28]).unwrap_err(),
            RecordError::TruncatedHeader
        );
    }

    #[test]
    fn tls12_cid_runs_to_datagram_end() {
        let mut d = rec(CT_TLS12_CID, DTLS1_2, 1, 3, b"");
        d.truncate(11);
        d.extend_from_slice(&[0xc1, 0xc2, 0, 2, 7, 7]);
        let (r, used) = parse_record(&d).unwrap();
        assert!(r.is_protected());
        assert_eq!((used, r.epoch, r.body.len()), (d.len(), 1, 6));
    }

    #[test]
    fn fragment_errors() {
        let f = frag(1, 10, 0, 8, b"ab");
        assert!(parse_fragment(&f).is_ok());
        assert_eq!(
            parse_fragment(&f[..11]).unwrap_err(),
            FragmentError::TruncatedHeader
        );
        assert_eq!(
            parse_fragment(&f[..13]).unwrap_err(),
            FragmentError::PastRecord
        );
        let f = frag(1, 9, 0, 8, b"ab");
        assert_eq!(parse_fragment(&f).unwrap_err(), FragmentError::PastMessage);
        let mut it = Fragments::new(&[1, 2, 3]);
        assert_eq!(it.next(), Some(Err(FragmentError::TruncatedHeader)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn ccs_bodies() {
        assert!(ccs_body_ok(DTLS1_2, &[1]));
        assert!(!ccs_body_ok(DTLS1_2, &[1, 0, 3]));
        // wireshark-dtls0.pcap (OpenSSL 0.9.8): 01 00 03
        assert!(ccs_body_ok(DTLS1_BAD_VER, &[1, 0, 3]));
        assert!(!ccs_body_ok(DTLS1_BAD_VER, &[]));
    }

    #[test]
    fn sniff_hellos() {
        let mut ch = vec![0xfe, 0xfd];
        ch.extend(1..=32u8);
        ch.extend_from_slice(&[0, 0]);
        let d = rec(22, DTLS1_0, 0, 0, &frag(1, 100, 0, 0, &ch));
        let s = sniff(&d).unwrap();
        assert_eq!(s.hello, HelloKind::ClientHello);
        assert_eq!(s.client_random, Some(&ch[2..34]));
        // a later fragment of a ClientHello: a hello, but no random
        let d = rec(22, DTLS1_0, 0, 0, &frag(1, 100, 0, 50, &ch));
        assert_eq!(sniff(&d).unwrap().client_random, None);
        let d = rec(22, DTLS1_2, 0, 0, &frag(3, 3, 0, 0, &[0xfe, 0xff, 0]));
        assert_eq!(sniff(&d).unwrap().hello, HelloKind::HelloVerifyRequest);
        let d = rec(22, DTLS1_2, 0, 0, &frag(2, 3, 0, 0, b"abc"));
        let s = sniff(&d).unwrap();
        assert_eq!((s.hello, s.client_random), (HelloKind::ServerHello, None));
        let d = rec(22, DTLS1_2, 1, 0, &frag(1, 3, 0, 0, b"abc"));
        assert_eq!(sniff(&d).unwrap().hello, HelloKind::None);
        assert_eq!(sniff(&d[..d.len() - 1]), None);
        assert_eq!(sniff(&[0x2c, 0, 0, 0]), None);
        assert_eq!(sniff(&[0, 1, 0, 0]), None); // STUN
        assert_eq!(sniff(&[]), None);
    }

    #[test]
    fn record_kinds_walk() {
        let mut d = rec(22, DTLS1_2, 0, 0, &frag(16, 1, 2, 0, b"f"));
        d.extend(rec(20, DTLS1_2, 0, 1, &[1]));
        d.extend(rec(22, DTLS1_2, 1, 0, &[0; 40]));
        let k = record_kinds(&d);
        assert!(k.cleartext && k.handshake && k.ccs && k.protected);
        assert!(!k.fatal_alert && !k.application_data && !k.malformed);
        let k = record_kinds(&rec(21, DTLS1_2, 0, 0, &[2, 40]));
        assert!(k.fatal_alert && k.cleartext && !k.handshake);
        let k = record_kinds(&rec(21, DTLS1_2, 0, 0, &[1, 0]));
        assert!(!k.fatal_alert);
        let k = record_kinds(&rec(23, DTLS1_2, 1, 0, b"x"));
        assert!(k.application_data && k.protected && !k.cleartext);
        let k = record_kinds(&[0x2c, 1, 0, 0, 1, 9]);
        assert!(k.protected && !k.cleartext);
        let mut d = rec(20, DTLS1_2, 0, 0, &[1]);
        d.push(0x99);
        assert!(record_kinds(&d).malformed);
        assert_eq!(record_kinds(&[1, 1, 0, 0]), RecordKinds::default());
    }

    #[test]
    fn never_panics_on_short_prefixes_of_anything() {
        let mut d = rec(22, DTLS1_2, 0, 0, &frag(1, 5, 0, 0, b"hello"));
        d.extend_from_slice(&[0x3f, 1, 2, 0x2f, 0xff]);
        for cut in 0..=d.len() {
            let _ = record_kinds(&d[..cut]);
            let _ = sniff(&d[..cut]);
            for r in Records::new(&d[..cut]).flatten() {
                let _ = Fragments::new(r.body).count();
            }
        }
    }
}
