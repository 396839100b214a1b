//! QUIC packet headers without crypto: variable-length integers (RFC 9000 16), the
//! long header (RFC 9000 17.2, RFC 9369 3.2), the walk over coalesced packets of one
//! datagram (RFC 9000 12.2), and the capture thread's cheap client-Initial sniffer.
//!
//! Invariants: every function takes arbitrary bytes and never panics (only `.get()`
//! on wire data); a parsed [`LongHeader`] guarantees `pn_offset <= packet_len <=
//! input length`, so slicing the packet with those values cannot fail. Limits: a
//! connection ID is at most [`MAX_CID_LEN`] bytes for versions we parse (RFC 9000
//! 17.2); a datagram walk stops after [`MAX_COALESCED`] packets.

use super::version::{self, LongType, Support};

/// Longest connection ID of QUIC v1/v2 (RFC 9000 17.2).
pub const MAX_CID_LEN: usize = 20;
/// Shortest DCID a client may choose for its first Initial (RFC 9000 7.2).
pub const MIN_CLIENT_DCID_LEN: usize = 8;
/// Smallest UDP payload carrying a client Initial (RFC 9000 14.1).
pub const MIN_CLIENT_INITIAL_DATAGRAM: usize = 1200;
/// At most this many coalesced packets are walked in one datagram; real stacks send
/// up to three (Initial, Handshake, 1-RTT), the rest is someone's fuzzing.
pub const MAX_COALESCED: usize = 8;

/// Read a QUIC variable-length integer; returns the value and the bytes it used.
#[inline]
pub fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for b in bytes.get(1..)? {
        v = (v << 8) | u64::from(*b);
    }
    Some((v, len))
}

/// A cursor over wire bytes whose reads fail (return `None`) instead of panicking.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    /// Step over a run of zero bytes (PADDING frames: an Initial is padded to 1200
    /// bytes, so one frame a byte would be most of the parse).
    pub fn skip_zeros(&mut self) {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos += rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
    }
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    pub fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_be_bytes([
            *b.first()?,
            *b.get(1)?,
            *b.get(2)?,
            *b.get(3)?,
        ]))
    }
    pub fn varint(&mut self) -> Option<u64> {
        let (v, n) = varint(self.buf.get(self.pos..)?)?;
        self.pos += n;
        Some(v)
    }
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }
    /// Bytes counted by a varint length prefix.
    pub fn varint_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }
}

/// A connection ID held inline (no allocation): cheap to copy across threads.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnId {
    len: u8,
    bytes: [u8; MAX_CID_LEN],
}

impl ConnId {
    /// `None` if longer than [`MAX_CID_LEN`].
    pub fn new(cid: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; MAX_CID_LEN];
        bytes.get_mut(..cid.len())?.copy_from_slice(cid);
        Some(ConnId {
            len: cid.len() as u8,
            bytes,
        })
    }
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl std::fmt::Debug for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a long header could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Ran out of bytes, or a length field points past the datagram.
    Truncated,
    /// A connection ID longer than the version allows.
    BadCidLen,
}

/// A parsed long header of a version we know (or a Version Negotiation / unknown
/// version header, of which only the invariant fields are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    pub first: u8,
    pub version: u32,
    pub support: Support,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// `None` for Version Negotiation and unknown versions (type bits meaningless).
    pub ty: Option<LongType>,
    /// Initial packets only.
    pub token: &'a [u8],
    /// Offset of the packet number (Initial, 0-RTT, Handshake); equals `packet_len`
    /// otherwise.
    pub pn_offset: usize,
    /// Bytes of this packet in the datagram: through the end of its Length field for
    /// Initial/0-RTT/Handshake, to the datagram end for the others.
    pub packet_len: usize,
}

/// Parse the long header at the start of `buf` (first byte has 0x80 set).
pub fn parse_long(buf: &[u8]) -> Result<LongHeader<'_>, HeaderError> {
    let mut r = Reader::new(buf);
    let t = HeaderError::Truncated;
    let first = r.u8().ok_or(t)?;
    let version = r.u32().ok_or(t)?;
    let support = version::support(version);
    let dcid_len = usize::from(r.u8().ok_or(t)?);
    // Invariants (RFC 8999) allow 255-byte CIDs; versions we parse cap them at 20.
    let known = matches!(support, Support::Tls(_) | Support::NotTls);
    if known && dcid_len > MAX_CID_LEN {
        return Err(HeaderError::BadCidLen);
    }
    let dcid = r.bytes(dcid_len).ok_or(t)?;
    let scid_len = usize::from(r.u8().ok_or(t)?);
    if known && scid_len > MAX_CID_LEN {
        return Err(HeaderError::BadCidLen);
    }
    let scid = r.bytes(scid_len).ok_or(t)?;
    let mut h = LongHeader {
        first,
        version,
        support,
        dcid,
        scid,
        ty: None,
        token: &[],
        pn_offset: buf.len(),
        packet_len: buf.len(),
    };
    let v2 = match support {
        Support::Tls(p) => p.v2,
        Support::NotTls => false,
        Support::Negotiation | Support::Unknown => return Ok(h),
    };
    let ty = version::long_type(first, v2);
    h.ty = Some(ty);
    if ty == LongType::Retry {
        return Ok(h);
    }
    if ty == LongType::Initial {
        h.token = r.varint_bytes().ok_or(t)?;
    }
    let length = usize::try_from(r.varint().ok_or(t)?).map_err(|_| t)?;
    h.pn_offset = r.pos();
    h.packet_len = h.pn_offset.checked_add(length).ok_or(t)?;
    if h.packet_len > buf.len() {
        return Err(t);
    }
    Ok(h)
}

/// What the capture thread needs to know about a client Initial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitialHeader {
    pub version: u32,
    pub dcid: ConnId,
    pub scid: ConnId,
    pub token_len: usize,
    pub datagram_len: usize,
    /// false for recognised non-TLS versions (Q050): track, but expect no TLS.
    pub tls: bool,
}

impl InitialHeader {
    /// The DCID as a slice of the payload this header was sniffed from (byte 6 on).
    pub fn dcid<'p>(&self, payload: &'p [u8]) -> &'p [u8] {
        payload
            .get(6..6 + self.dcid.as_slice().len())
            .unwrap_or(&[])
    }
}

/// Is this UDP payload (any port) a QUIC client Initial? No crypto: a known version,
/// Initial type bits, a DCID of 8..=20 bytes and a Length inside the datagram. The
/// 1200-byte minimum is not required (snap lengths cut captures); `datagram_len` lets
/// the caller apply it.
pub fn sniff_client_initial(payload: &[u8]) -> Option<InitialHeader> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let h = parse_long(payload).ok()?;
    let tls = match h.support {
        Support::Tls(_) => true,
        Support::NotTls => false,
        _ => return None,
    };
    if h.ty != Some(LongType::Initial) || h.dcid.len() < MIN_CLIENT_DCID_LEN {
        return None;
    }
    Some(InitialHeader {
        version: h.version,
        dcid: ConnId::new(h.dcid)?,
        scid: ConnId::new(h.scid)?,
        token_len: h.token.len(),
        datagram_len: payload.len(),
        tls,
    })
}

/// Packet types seen in one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketKinds {
    pub initial: bool,
    pub zero_rtt: bool,
    pub handshake: bool,
    pub retry: bool,
    pub version_negotiation: bool,
    pub short: bool,
    /// A long header of a version we cannot parse past its CIDs.
    pub unknown_version: bool,
    /// A length field ran past the datagram, or bytes after the last packet were not
    /// a packet (zero padding some stacks append).
    pub malformed: bool,
    /// DCID of the first Initial packet, if any.
    pub initial_dcid: Option<ConnId>,
    /// Wire version of the first long-header packet.
    pub version: Option<u32>,
    /// Where the first long-header packet's SCID sits in the datagram.
    scid_at: Option<(usize, usize)>,
}

impl PacketKinds {
    /// SCID of the first long-header packet, sliced from the datagram that was walked.
    pub fn first_scid<'p>(&self, payload: &'p [u8]) -> Option<&'p [u8]> {
        let (at, len) = self.scid_at?;
        payload.get(at..at.checked_add(len)?)
    }
}

/// One step of the coalesced-packet walk.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    Long(LongHeader<'a>),
    Short,
    /// Not a packet: trailing padding or garbage; the walk ends.
    Junk,
    Bad(#[allow(dead_code)] HeaderError),
}

/// Walk the packets of one datagram: each long header with a Length field is skipped
/// by it; a short header, Retry, Version Negotiation or unknown version runs to the
/// datagram end. Yields at most [`MAX_COALESCED`] steps.
pub(crate) fn walk(dgram: &[u8]) -> impl Iterator<Item = (usize, Step<'_>)> {
    let mut off = 0usize;
    let mut n = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done || n >= MAX_COALESCED {
            return None;
        }
        let rest = dgram.get(off..).filter(|r| !r.is_empty())?;
        let first = *rest.first()?;
        let start = off;
        n += 1;
        if first & 0x80 == 0 {
            done = true;
            // After a long packet, a byte without the fixed bit is padding, not a
            // short header (greasing the fixed bit is rare enough to ignore here).
            return Some((
                start,
                if start > 0 && first & 0x40 == 0 {
                    Step::Junk
                } else {
                    Step::Short
                },
            ));
        }
        match parse_long(rest) {
            Ok(h) => {
                if h.packet_len == 0 || h.packet_len >= rest.len() {
                    done = true;
                }
                off += h.packet_len;
                Some((start, Step::Long(h)))
            }
            Err(e) => {
                done = true;
                Some((start, Step::Bad(e)))
            }
        }
    })
}

/// Cheap packet-type census of one datagram (no crypto).
pub fn packet_kinds(payload: &[u8]) -> PacketKinds {
    let mut k = PacketKinds::default();
    for (start, step) in walk(payload) {
        match step {
            Step::Short => k.short = true,
            Step::Junk | Step::Bad(_) => k.malformed = true,
            Step::Long(h) => {
                if k.version.is_none() {
                    k.version = Some(h.version);
                    // SCID follows first byte, version, DCID length, DCID, SCID length.
                    k.scid_at = Some((start + 7 + h.dcid.len(), h.scid.len()));
                }
                match (h.support, h.ty) {
                    (Support::Negotiation, _) => k.version_negotiation = true,
                    (_, Some(LongType::Initial)) => {
                        if k.initial_dcid.is_none() {
                            k.initial_dcid = ConnId::new(h.dcid);
                        }
                        k.initial = true;
                    }
                    (_, Some(LongType::ZeroRtt)) => k.zero_rtt = true,
                    (_, Some(LongType::Handshake)) => k.handshake = true,
                    (_, Some(LongType::Retry)) => k.retry = true,
                    (_, None) => k.unknown_version = true,
                }
            }
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{self, hex};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_rfc9000_a1() {
        assert_eq!(
            varint(&hex("c2197c5eff14e88c")),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&hex("9d7f3e7d")), Some((494_878_333, 4)));
        assert_eq!(varint(&hex("7bbd")), Some((15_293, 2)));
        assert_eq!(varint(&hex("25")), Some((37, 1)));
        assert_eq!(varint(&hex("4025")), Some((37, 2)));
        // Truncated encodings.
        assert_eq!(varint(&[]), None);
        assert_eq!(varint(&hex("c2197c5eff14e8")), None);
        assert_eq!(varint(&hex("9d7f3e")), None);
        assert_eq!(varint(&hex("7b")), None);
    }

    #[test]
    fn long_header_client_initial() {
        let pkt = hex(vectors::v1::CLIENT_PACKET);
        let h = parse_long(&pkt).unwrap();
        assert_eq!(h.version, version::V1);
        assert_eq!(h.dcid, &hex(vectors::DCID)[..]);
        assert!(h.scid.is_empty());
        assert_eq!(h.ty, Some(LongType::Initial));
        assert_eq!(h.pn_offset, 18);
        assert_eq!(h.packet_len, 1200);
        let s = sniff_client_initial(&pkt).unwrap();
        assert_eq!(s.dcid.as_slice(), &hex(vectors::DCID)[..]);
        assert!(s.tls);
        assert_eq!(s.dcid(&pkt), &hex(vectors::DCID)[..]);
        let k = packet_kinds(&pkt);
        assert!(k.initial && !k.handshake && !k.short && !k.malformed);
        assert_eq!(k.version, Some(version::V1));
        assert_eq!(k.first_scid(&pkt), Some(&[][..]));
        let srv = hex(vectors::v1::SERVER_PACKET);
        assert_eq!(
            packet_kinds(&srv).first_scid(&srv),
            Some(&hex("f067a5502a4262b5")[..])
        );
    }

    #[test]
    fn long_header_v2_types() {
        let pkt = hex(vectors::v2::CLIENT_PACKET);
        assert_eq!(parse_long(&pkt).unwrap().ty, Some(LongType::Initial));
        assert!(sniff_client_initial(&pkt).is_some());
        let s = hex(vectors::v2::SERVER_PACKET);
        assert_eq!(parse_long(&s).unwrap().ty, Some(LongType::Initial));
        // Server Initial has an empty DCID-length-8 scid; sniffer wants DCID >= 8.
        assert!(sniff_client_initial(&s).is_none());
    }

    #[test]
    fn truncated_and_bad_lengths() {
        let pkt = hex(vectors::v1::CLIENT_PACKET);
        // Every prefix shorter than the full packet fails cleanly (Length says 1200).
        for n in 0..pkt.len() {
            assert!(parse_long(&pkt[..n]).is_err(), "prefix {n}");
            let _ = packet_kinds(&pkt[..n]);
        }
        // DCID length 21 for v1.
        let mut bad = pkt.clone();
        bad[5] = 21;
        assert_eq!(parse_long(&bad), Err(HeaderError::BadCidLen));
        // Length field larger than the datagram.
        let mut big = pkt.clone();
        big[16] = 0x7f;
        assert_eq!(parse_long(&big), Err(HeaderError::Truncated));
        assert!(packet_kinds(&big).malformed);
    }

    #[test]
    fn coalesced_walk() {
        let mut d = hex(vectors::v1::SERVER_PACKET);
        // A Handshake packet (type 2) with a 20-byte body, then a short header.
        d.extend_from_slice(&hex("e0000000010008f067a5502a4262b514"));
        d.extend_from_slice(&[0u8; 20]);
        d.extend_from_slice(&hex("4100112233"));
        let k = packet_kinds(&d);
        assert!(k.initial && k.handshake && k.short && !k.malformed && !k.retry);
        // Trailing zero padding after the Initial is junk, not a short packet.
        let mut p = hex(vectors::v1::SERVER_PACKET);
        p.extend_from_slice(&[0u8; 30]);
        let k = packet_kinds(&p);
        assert!(k.initial && k.malformed && !k.short);
    }

    #[test]
    fn negotiation_retry_unknown() {
        let vn = hex("c0000000000401020304040506070800000001ff00001d");
        let k = packet_kinds(&vn);
        assert!(k.version_negotiation && !k.initial);
        assert!(sniff_client_initial(&vn).is_none());
        let retry = hex("f0000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba");
        let k = packet_kinds(&retry);
        assert!(k.retry && !k.initial);
        let unk = hex("c01a2a3a4a0401020304040506070800");
        let k = packet_kinds(&unk);
        assert!(k.unknown_version && !k.initial);
        assert!(sniff_client_initial(&unk).is_none());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = parse_long(&data);
            let _ = sniff_client_initial(&data);
            let k = packet_kinds(&data);
            let _ = k.first_scid(&data);
            if let Some(h) = sniff_client_initial(&data) {
                prop_assert_eq!(h.dcid(&data), h.dcid.as_slice());
            }
            let _ = varint(&data);
        }

        #[test]
        fn never_panics_long_prefix(tail in proptest::collection::vec(any::<u8>(), 0..64), b in any::<u8>()) {
            let mut d = vec![0xc0 | (b & 0x3f), 0, 0, 0, 1];
            d.extend_from_slice(&tail);
            let _ = parse_long(&d);
            let _ = packet_kinds(&d);
        }
    }
}
