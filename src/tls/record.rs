//! TLS record layer: constants, the cheap content sniff, and the incremental record
//! scanner the capture thread uses to decide when the cleartext handshake is over.
//!
//! Invariants: nothing here parses message bodies; [`sniff`] looks at no more than
//! [`SNIFF_BYTES`] bytes and [`RecordScanner::scan`] visits each record header once
//! (its cursor only moves forward), so both are cheap enough to run per packet.
//! Limits: a record longer than [`MAX_RECORD_LEN`] is broken framing.

use super::reader::be16;

/// RFC 5246 6.2.3: `TLSCiphertext.length` MUST NOT exceed 2^14 + 2048.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Bytes [`sniff`] needs at most to decide (the SSLv2 SERVER-HELLO check).
pub const SNIFF_BYTES: usize = 7;

/// RFC 5246 6.2.1 / RFC 6520 content types.
pub(crate) const CT_CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const CT_ALERT: u8 = 21;
pub(crate) const CT_HANDSHAKE: u8 = 22;
pub(crate) const CT_APPLICATION_DATA: u8 = 23;
pub(crate) const CT_HEARTBEAT: u8 = 24;

/// RFC 5246 7.4 handshake message types used to recognise a hello.
pub(crate) const HS_CLIENT_HELLO: u8 = 1;
pub(crate) const HS_SERVER_HELLO: u8 = 2;
/// HelloRetryRequest had its own type in TLS 1.3 drafts (before draft-22).
pub(crate) const HS_HELLO_RETRY_REQUEST_DRAFT: u8 = 6;

/// SSLv2 message types (draft-hickman-netscape-ssl-00 / RFC 6101 E.2).
pub(crate) const SSL2_CLIENT_HELLO: u8 = 1;
pub(crate) const SSL2_SERVER_HELLO: u8 = 4;

/// Smallest hello body: version (2) + random (32) + a few length bytes; used to tell a
/// cleartext hello after a TLS 1.3 compatibility ChangeCipherSpec from an encrypted
/// Finished.
const MIN_HELLO_BODY: u32 = 38;

/// A plausible TLS record header: known content type, SSL 3.0+ major version,
/// length within the RFC limit.
pub(crate) fn header_ok(ct: u8, major: u8, len: usize) -> Result<(), &'static str> {
    if !(CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&ct) {
        return Err("record_content_type");
    }
    if major != 3 {
        return Err("record_version");
    }
    if len > MAX_RECORD_LEN {
        return Err("record_length");
    }
    Ok(())
}

/// What the first bytes of a direction look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    ClientHello,
    ServerHello,
    NotTls,
    /// Too few bytes to decide; call again with more.
    NeedMore,
}

/// Does `prefix` (the first bytes of one direction) start like a TLS/SSL record
/// carrying a ClientHello or ServerHello, or an SSLv2(-compatible) hello?
///
/// TLS: `16 03 0x LL LL tt` with `x <= 4`, `0 < LL <= MAX_RECORD_LEN`, `tt` 1, 2 (or
/// 6, a TLS 1.3 draft HelloRetryRequest). SSLv2: 2-byte header with the high bit set,
/// then CLIENT-HELLO with version 0x0002 or 0x03xx, or SERVER-HELLO with version 0x0002.
pub fn sniff(prefix: &[u8]) -> Sniff {
    let Some(&first) = prefix.first() else {
        return Sniff::NeedMore;
    };
    if first == CT_HANDSHAKE {
        return sniff_tls(prefix);
    }
    if first & 0x80 != 0 {
        return sniff_sslv2(prefix);
    }
    Sniff::NotTls
}

/// Check each available byte in turn; `NeedMore` only when nothing contradicts yet.
fn sniff_tls(p: &[u8]) -> Sniff {
    match p.get(1) {
        None => return Sniff::NeedMore,
        Some(&3) => {}
        Some(_) => return Sniff::NotTls,
    }
    match p.get(2) {
        None => return Sniff::NeedMore,
        Some(&minor) if minor <= 4 => {}
        Some(_) => return Sniff::NotTls,
    }
    match be16(p, 3) {
        None => return Sniff::NeedMore,
        Some(len) if len >= 1 && usize::from(len) <= MAX_RECORD_LEN => {}
        Some(_) => return Sniff::NotTls,
    }
    match p.get(5) {
        None => Sniff::NeedMore,
        Some(&HS_CLIENT_HELLO) => Sniff::ClientHello,
        Some(&HS_SERVER_HELLO) | Some(&HS_HELLO_RETRY_REQUEST_DRAFT) => Sniff::ServerHello,
        Some(_) => Sniff::NotTls,
    }
}

fn sniff_sslv2(p: &[u8]) -> Sniff {
    let Some(len) = be16(p, 0).map(|v| v & 0x7fff) else {
        return Sniff::NeedMore;
    };
    match p.get(2) {
        None => Sniff::NeedMore,
        Some(&SSL2_CLIENT_HELLO) => {
            // msg_type, version, three u16 lengths.
            if len < 9 {
                return Sniff::NotTls;
            }
            match (p.get(3), p.get(4)) {
                (None, _) => Sniff::NeedMore,
                (Some(&0), None) | (Some(&3), None) => Sniff::NeedMore,
                (Some(&0), Some(&2)) => Sniff::ClientHello,
                (Some(&3), Some(&minor)) if minor <= 4 => Sniff::ClientHello,
                _ => Sniff::NotTls,
            }
        }
        Some(&SSL2_SERVER_HELLO) => {
            // msg_type, session_id_hit, certificate_type, version, three u16 lengths.
            if len < 11 {
                return Sniff::NotTls;
            }
            match p.get(3) {
                None => return Sniff::NeedMore,
                Some(&hit) if hit <= 1 => {}
                Some(_) => return Sniff::NotTls,
            }
            match be16(p, 5) {
                None if p.len() <= 5 => Sniff::NeedMore,
                None if p.get(5) == Some(&0) => Sniff::NeedMore,
                Some(2) => Sniff::ServerHello,
                _ => Sniff::NotTls,
            }
        }
        Some(_) => Sniff::NotTls,
    }
}

/// Does `prefix` start with a plausible TLS record header of any content type (an
/// alert refusing a hello, say)? Used to start collecting the second direction of a
/// connection already recognised as TLS. Needs 5 bytes.
pub fn is_record_start(prefix: &[u8]) -> bool {
    match (
        prefix.first(),
        prefix.get(1),
        prefix.get(2),
        be16(prefix, 3),
    ) {
        (Some(&ct), Some(&major), Some(&minor), Some(len)) => {
            minor <= 4 && len > 0 && header_ok(ct, major, usize::from(len)).is_ok()
        }
        _ => false,
    }
}

/// First offset in `data[1..limit]` where a TLS record carrying `want` (a ClientHello or
/// ServerHello, per [`sniff`]) starts: where TLS begins after a STARTTLS, HTTP CONNECT or
/// SOCKS preamble. O(limit); only TLS-format hellos are searched for, since a byte with
/// the high bit set is too common to mean SSLv2.
pub fn find_hello_start(data: &[u8], want: Sniff, limit: usize) -> Option<usize> {
    let end = data.len().min(limit);
    (1..end).find(|&i| {
        data.get(i) == Some(&CT_HANDSHAKE) && data.get(i..).is_some_and(|rest| sniff(rest) == want)
    })
}

/// Result of [`RecordScanner::scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    /// Still in the cleartext handshake (or waiting for more bytes).
    InHandshake,
    /// A ChangeCipherSpec (not followed by a cleartext hello) or an application_data
    /// record was seen: the readable part of this direction is over.
    Done,
    /// Broken record framing: not TLS.
    NotTls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    /// After an SSLv2 CLIENT-HELLO: the next record tells SSLv2 from TLS.
    AfterSslv2Hello,
    Records,
    /// After a ChangeCipherSpec: the next record decides (see [`RecordScanner`]).
    AfterCcs,
    Done,
    NotTls,
}

/// Incremental record-header walk over the contiguous bytes of one direction.
///
/// Keeps a cursor at the next record header, so each call costs O(new records).
/// A ChangeCipherSpec normally ends the handshake part, except that TLS 1.3
/// middlebox-compatibility mode (RFC 8446 D.4) lets a client send CCS before its second
/// ClientHello and a server send CCS between HelloRetryRequest and ServerHello: when the
/// record after a CCS is a handshake record that starts like a hello, the scan goes on.
/// Deciding that needs the next record's first 9 bytes, so after a CCS the scanner
/// answers `InHandshake` until they arrive (they travel in the same flight).
#[derive(Debug, Clone)]
pub struct RecordScanner {
    cursor: usize,
    phase: Phase,
}

impl Default for RecordScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordScanner {
    pub fn new() -> Self {
        RecordScanner {
            cursor: 0,
            phase: Phase::Start,
        }
    }

    /// A scanner whose first record starts at `offset` (after a plaintext preamble found
    /// with [`find_hello_start`]).
    pub fn starting_at(offset: usize) -> Self {
        let phase = if offset == 0 {
            Phase::Start
        } else {
            Phase::Records
        };
        RecordScanner {
            cursor: offset,
            phase,
        }
    }

    /// Stream offset (index into the contiguous bytes) of the next record header.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Scan `contiguous` (the whole contiguous prefix so far, growing between calls;
    /// it must start with the same bytes as in earlier calls).
    pub fn scan(&mut self, contiguous: &[u8]) -> ScanState {
        loop {
            match self.phase {
                Phase::Done => return ScanState::Done,
                Phase::NotTls => return ScanState::NotTls,
                Phase::Start => {
                    let Some(&first) = contiguous.first() else {
                        return ScanState::InHandshake;
                    };
                    if first & 0x80 == 0 {
                        self.phase = Phase::Records;
                        continue;
                    }
                    let (Some(len), Some(&ty)) = (be16(contiguous, 0), contiguous.get(2)) else {
                        return ScanState::InHandshake;
                    };
                    let len = usize::from(len & 0x7fff);
                    self.cursor = 2 + len;
                    self.phase = match ty {
                        SSL2_CLIENT_HELLO if len >= 9 => Phase::AfterSslv2Hello,
                        // Everything after an SSLv2 SERVER-HELLO is encrypted.
                        SSL2_SERVER_HELLO if len >= 11 => Phase::Done,
                        _ => Phase::NotTls,
                    };
                }
                Phase::AfterSslv2Hello => {
                    let Some(&b) = contiguous.get(self.cursor) else {
                        return ScanState::InHandshake;
                    };
                    // Pure SSLv2 (CLIENT-MASTER-KEY next, then encryption) or TLS records
                    // after an SSLv2-compatible hello.
                    self.phase = if b & 0x80 != 0 {
                        Phase::Done
                    } else {
                        Phase::Records
                    };
                }
                Phase::Records => {
                    let Some(hdr) = header_at(contiguous, self.cursor) else {
                        return ScanState::InHandshake;
                    };
                    if header_ok(hdr.ct, hdr.major, hdr.len).is_err() {
                        self.phase = Phase::NotTls;
                        continue;
                    }
                    match hdr.ct {
                        CT_APPLICATION_DATA => self.phase = Phase::Done,
                        CT_CHANGE_CIPHER_SPEC => {
                            self.cursor = self.cursor.saturating_add(5 + hdr.len);
                            self.phase = Phase::AfterCcs;
                        }
                        _ => self.cursor = self.cursor.saturating_add(5 + hdr.len),
                    }
                }
                Phase::AfterCcs => {
                    let Some(hdr) = header_at(contiguous, self.cursor) else {
                        return ScanState::InHandshake;
                    };
                    if hdr.ct != CT_HANDSHAKE {
                        self.phase = Phase::Done;
                        continue;
                    }
                    let body = self.cursor.saturating_add(5);
                    let peek = contiguous.get(body..body.saturating_add(4));
                    match peek {
                        None if hdr.len >= 4 => return ScanState::InHandshake,
                        Some(&[ty, l0, l1, l2]) if hdr.len >= 4 => {
                            let mlen = u32::from_be_bytes([0, l0, l1, l2]);
                            let hello = matches!(ty, HS_CLIENT_HELLO | HS_SERVER_HELLO)
                                && l0 == 0
                                && mlen >= MIN_HELLO_BODY;
                            self.phase = if hello { Phase::Records } else { Phase::Done };
                        }
                        _ => self.phase = Phase::Done,
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub ct: u8,
    pub major: u8,
    pub version: u16,
    pub len: usize,
}

/// The 5-byte record header at `at`, if all 5 bytes are present.
pub(crate) fn header_at(buf: &[u8], at: usize) -> Option<Header> {
    let h = buf.get(at..at.checked_add(5)?)?;
    let version = be16(h, 1)?;
    Some(Header {
        ct: *h.first()?,
        major: *h.get(1)?,
        version,
        len: usize::from(be16(h, 3)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sniff_tls_hellos() {
        assert_eq!(sniff(&[0x16, 3, 1, 0, 0xc8, 1]), Sniff::ClientHello);
        assert_eq!(sniff(&[0x16, 3, 3, 0, 0x5a, 2, 0]), Sniff::ServerHello);
        assert_eq!(sniff(&[0x16, 3, 3, 0, 0x5a, 6]), Sniff::ServerHello);
        assert_eq!(sniff(&[]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x16, 3, 1, 0, 0xc8]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x16]), Sniff::NeedMore);
        assert_eq!(
            sniff(&[0x16, 2]),
            Sniff::NotTls,
            "major version 2 is not TLS"
        );
        assert_eq!(sniff(&[0x16, 3, 9]), Sniff::NotTls);
        assert_eq!(sniff(&[0x16, 3, 1, 0, 0]), Sniff::NotTls, "empty record");
        assert_eq!(sniff(&[0x16, 3, 1, 0x48, 1]), Sniff::NotTls, "too long");
        assert_eq!(
            sniff(&[0x16, 3, 1, 0, 5, 11]),
            Sniff::NotTls,
            "certificate first"
        );
        assert_eq!(sniff(b"GET / HTTP/1.1"), Sniff::NotTls);
        assert_eq!(sniff(&[0x17, 3, 3, 0, 5, 1]), Sniff::NotTls);
    }

    #[test]
    fn sniff_sslv2() {
        // SSLv2-compatible CLIENT-HELLO offering TLS 1.0.
        assert_eq!(sniff(&[0x80, 0x2e, 1, 3, 1, 0, 0x15]), Sniff::ClientHello);
        assert_eq!(sniff(&[0x80, 0x2e, 1, 0, 2]), Sniff::ClientHello);
        assert_eq!(sniff(&[0x80, 0x2e, 1, 3]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x80, 0x2e, 1, 7, 1]), Sniff::NotTls);
        assert_eq!(
            sniff(&[0x80, 0x05, 1, 3, 1]),
            Sniff::NotTls,
            "shorter than header"
        );
        // SERVER-HELLO: hit 0, cert type 1, version 0x0002.
        assert_eq!(sniff(&[0x83, 0x20, 4, 0, 1, 0, 2]), Sniff::ServerHello);
        assert_eq!(sniff(&[0x83, 0x20, 4, 0, 1, 0]), Sniff::NeedMore);
        assert_eq!(sniff(&[0x83, 0x20, 4, 0, 1, 3, 1]), Sniff::NotTls);
        assert_eq!(sniff(&[0x83, 0x20, 4, 5]), Sniff::NotTls);
        assert_eq!(sniff(&[0x83, 0x20, 9]), Sniff::NotTls);
        assert_eq!(sniff(&[0x83]), Sniff::NeedMore);
    }

    fn rec(ct: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 3, 3];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn scanner_stops_at_ccs_and_is_incremental() {
        let mut bytes = rec(22, &[1, 0, 0, 40]);
        bytes.extend(rec(22, &[0; 40]));
        bytes.extend(rec(20, &[1]));
        bytes.extend(rec(22, &[0x9e; 40])); // encrypted Finished
                                            // The record after the CCS decides once its header and 4 payload bytes are in.
        let decided_at = 9 + 45 + 6 + 9;
        let mut s = RecordScanner::new();
        for cut in 0..decided_at {
            let st = s.scan(&bytes[..cut]);
            assert_eq!(st, ScanState::InHandshake, "cut {cut}");
        }
        assert_eq!(s.scan(&bytes[..decided_at]), ScanState::Done);
        assert_eq!(s.scan(&bytes), ScanState::Done, "sticky");
    }

    #[test]
    fn scanner_goes_on_after_tls13_compat_ccs_before_hello() {
        let mut bytes = rec(22, &[1, 0, 0, 40]);
        bytes.extend(rec(22, &[0; 40]));
        bytes.extend(rec(20, &[1]));
        let mut ch2 = vec![1, 0, 0, 60];
        ch2.extend([0u8; 60]);
        bytes.extend(rec(22, &ch2));
        let mut s = RecordScanner::new();
        assert_eq!(s.scan(&bytes), ScanState::InHandshake);
        bytes.extend(rec(23, &[0; 30]));
        assert_eq!(s.scan(&bytes), ScanState::Done);
    }

    #[test]
    fn scanner_flags_broken_framing() {
        let mut s = RecordScanner::new();
        assert_eq!(s.scan(&rec(22, &[1, 0, 0, 0])), ScanState::InHandshake);
        let mut bad = rec(22, &[1, 0, 0, 0]);
        bad.extend([0x47, 0x45, 0x54, 0x20, 0x2f]);
        assert_eq!(s.scan(&bad), ScanState::NotTls);
        let mut long = vec![22, 3, 1, 0x48, 0x01];
        long.extend([0; 10]);
        assert_eq!(RecordScanner::new().scan(&long), ScanState::NotTls);
    }

    #[test]
    fn scanner_sslv2() {
        // SSLv2 client hello (len 9+3) followed by TLS records.
        let mut v = vec![0x80, 12, 1, 3, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0x2f];
        let mut s = RecordScanner::new();
        assert_eq!(s.scan(&v), ScanState::InHandshake);
        v.extend(rec(22, &[16, 0, 0, 0]));
        assert_eq!(s.scan(&v), ScanState::InHandshake);
        v.extend(rec(20, &[1]));
        v.extend(rec(22, &[0xee; 40]));
        assert_eq!(s.scan(&v), ScanState::Done);
        // Pure SSLv2: the record after the hello has the high bit set.
        let mut w = vec![0x80, 12, 1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0x2f, 0x80];
        assert_eq!(RecordScanner::new().scan(&w), ScanState::Done);
        w[2] = 7;
        assert_eq!(RecordScanner::new().scan(&w), ScanState::NotTls);
        assert_eq!(RecordScanner::new().scan(&[0x83, 0x20, 4]), ScanState::Done);
    }

    #[test]
    fn preamble_search() {
        let mut v = b"220 2.0.0 Ready to start TLS\r\n".to_vec();
        let at = v.len();
        v.extend(rec(22, &[2, 0, 0, 70]));
        assert_eq!(find_hello_start(&v, Sniff::ServerHello, 1024), Some(at));
        assert_eq!(find_hello_start(&v, Sniff::ClientHello, 1024), None);
        assert_eq!(
            find_hello_start(&v, Sniff::ServerHello, at),
            None,
            "limit binds"
        );
        let mut s = RecordScanner::starting_at(at);
        assert_eq!(s.scan(&v), ScanState::InHandshake);
        v.extend(rec(20, &[1]));
        v.extend(rec(23, &[0; 9]));
        assert_eq!(s.scan(&v), ScanState::Done);
        assert_eq!(RecordScanner::new().scan(&v), ScanState::NotTls);
    }

    proptest! {
        #[test]
        fn sniff_and_scan_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
            let _ = sniff(&bytes);
            let mut s = RecordScanner::new();
            let cut = cut.min(bytes.len());
            let _ = s.scan(&bytes[..cut]);
            let before = s.cursor();
            let _ = s.scan(&bytes);
            prop_assert!(s.cursor() >= before, "the cursor only moves forward");
        }
    }
}
