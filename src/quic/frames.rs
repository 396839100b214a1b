//! Frames of a decrypted Initial payload (RFC 9000 12.4, 19): PADDING, PING, ACK (with
//! ECN counts), CRYPTO and CONNECTION_CLOSE. Those are the only frames an Initial may
//! carry; any other type ends the parse (counted as `quic.unknown_frame`), since its
//! length cannot be known.
//!
//! Invariants: never panics; CRYPTO data is handed out as sub-slices of the payload
//! with `offset + len <= 2^62` (RFC 9000 19.6). A truncated frame ends the parse
//! (`quic.bad_frame`); frames before it are kept.

use super::packet::Reader;

pub const PADDING: u64 = 0x00;
pub const PING: u64 = 0x01;
pub const ACK: u64 = 0x02;
pub const ACK_ECN: u64 = 0x03;
pub const CRYPTO: u64 = 0x06;
pub const CONNECTION_CLOSE: u64 = 0x1c;
pub const CONNECTION_CLOSE_APP: u64 = 0x1d;

/// Largest stream offset + length (RFC 9000 19.6).
pub const MAX_CRYPTO_END: u64 = 1 << 62;
/// CONNECTION_CLOSE reason phrases are kept up to this many bytes.
pub const MAX_REASON_LEN: usize = 128;

/// A CONNECTION_CLOSE seen in an Initial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClose {
    pub from_client: bool,
    /// 0x1d (application) rather than 0x1c (transport).
    pub application: bool,
    /// Transport error code; 0x0100..=0x01ff carry a TLS alert (RFC 9001 4.8).
    pub error_code: u64,
    /// Frame type that caused the error (transport close only).
    pub frame_type: Option<u64>,
    /// Reason phrase, cut to [`MAX_REASON_LEN`] bytes.
    pub reason: Vec<u8>,
}

/// What one frame parse found, besides the CRYPTO data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameSummary {
    pub crypto_frames: u32,
    pub acks: u32,
    pub pings: u32,
    /// Type of the frame the parse stopped at, if not one of ours.
    pub unknown_type: Option<u64>,
    /// A frame ran past the payload or had an impossible length.
    pub truncated: bool,
    pub close: Option<ConnectionClose>,
}

/// Parse `payload`, calling `on_crypto(offset, data)` for each CRYPTO frame.
pub fn parse<'a>(
    payload: &'a [u8],
    from_client: bool,
    mut on_crypto: impl FnMut(u64, &'a [u8]),
) -> FrameSummary {
    let mut s = FrameSummary::default();
    let mut r = Reader::new(payload);
    while r.remaining() > 0 {
        let Some(ty) = r.varint() else {
            s.truncated = true;
            break;
        };
        let ok = match ty {
            PADDING => {
                r.skip_zeros();
                Some(())
            }
            PING => {
                s.pings += 1;
                Some(())
            }
            ACK | ACK_ECN => skip_ack(&mut r, ty == ACK_ECN).map(|()| s.acks += 1),
            CRYPTO => (|| {
                let off = r.varint()?;
                let data = r.varint_bytes()?;
                let end = off.checked_add(data.len() as u64)?;
                (end <= MAX_CRYPTO_END).then_some(())?;
                s.crypto_frames += 1;
                on_crypto(off, data);
                Some(())
            })(),
            CONNECTION_CLOSE | CONNECTION_CLOSE_APP => (|| {
                let application = ty == CONNECTION_CLOSE_APP;
                let error_code = r.varint()?;
                let frame_type = if application { None } else { Some(r.varint()?) };
                let reason = r.varint_bytes()?;
                s.close = Some(ConnectionClose {
                    from_client,
                    application,
                    error_code,
                    frame_type,
                    reason: reason.get(..MAX_REASON_LEN).unwrap_or(reason).to_vec(),
                });
                Some(())
            })(),
            other => {
                s.unknown_type = Some(other);
                break;
            }
        };
        if ok.is_none() {
            s.truncated = true;
            break;
        }
    }
    s
}

fn skip_ack(r: &mut Reader<'_>, ecn: bool) -> Option<()> {
    let _largest = r.varint()?;
    let _delay = r.varint()?;
    let ranges = r.varint()?;
    let _first = r.varint()?;
    // Each further range is two varints (>= 2 bytes): a huge count ends on truncation
    // within remaining/2 iterations.
    for _ in 0..ranges {
        r.varint()?;
        r.varint()?;
    }
    if ecn {
        for _ in 0..3 {
            r.varint()?;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::super::vectors::{self, hex};
    use super::*;
    use proptest::prelude::*;

    fn collect(p: &[u8]) -> (FrameSummary, Vec<(u64, Vec<u8>)>) {
        let mut v = Vec::new();
        let s = parse(p, true, |o, d| v.push((o, d.to_vec())));
        (s, v)
    }

    #[test]
    fn rfc_server_payload() {
        let (s, c) = collect(&hex(vectors::SERVER_PAYLOAD));
        assert_eq!(s.acks, 1);
        assert_eq!(s.crypto_frames, 1);
        assert!(!s.truncated && s.unknown_type.is_none());
        assert_eq!(c[0].0, 0);
        assert_eq!(c[0].1.len(), 90);
        assert_eq!(c[0].1[0], 0x02);
    }

    #[test]
    fn client_payload_with_padding() {
        let mut p = hex(vectors::CLIENT_CRYPTO_FRAME);
        p.resize(1162, 0);
        let (s, c) = collect(&p);
        assert_eq!(s.crypto_frames, 1);
        assert_eq!(c[0].1.len(), 241);
        assert!(!s.truncated);
    }

    #[test]
    fn padding_runs_between_frames() {
        // PADDING runs before, between and after frames (some senders pad in the middle),
        // and a two-byte PADDING type (0x4000, not minimal but valid) as one frame.
        let p = hex("0000 01 000000 0600026869 4000 00 01 0000");
        let (s, c) = collect(&p);
        assert_eq!(s.pings, 2);
        assert_eq!(c, vec![(0, b"hi".to_vec())]);
        assert!(!s.truncated && s.unknown_type.is_none());
        let (s, c) = collect(&[0; 1200]);
        assert_eq!((s.pings, s.crypto_frames, s.truncated), (0, 0, false));
        assert!(c.is_empty());
    }

    #[test]
    fn ack_ecn_ping_close() {
        // ACK_ECN: largest 5, delay 0, 1 range, first 2, gap 0 len 1, ECN 1 2 3; PING;
        // CONNECTION_CLOSE 0x1c code 0x0128 (TLS alert 40) frame 6 reason "hi".
        let p = hex("03 05 00 01 02 00 01 01 02 03 01 1c 4128 06 02 6869");
        let (s, _) = collect(&p);
        assert_eq!(s.acks, 1);
        assert_eq!(s.pings, 1);
        let c = s.close.unwrap();
        assert_eq!(c.error_code, 0x128);
        assert_eq!(c.frame_type, Some(6));
        assert_eq!(c.reason, b"hi");
        assert!(!c.application);
        let (s, _) = collect(&hex("1d4100026869"));
        assert!(s.close.unwrap().application);
    }

    #[test]
    fn truncated_frames() {
        for p in [
            "06",
            "0600",
            "060005",
            "06000501",
            "02",
            "0201",
            "020100",
            "02010001",
            "0301000100",
            "1c",
            "1c01",
            "1c0100",
            "1c010003ab",
            "1d0105",
        ] {
            let (s, c) = collect(&hex(p));
            assert!(s.truncated, "{p}");
            assert!(c.is_empty());
        }
        // ACK with a huge range count ends cleanly.
        let (s, _) = collect(&hex("0201 00 bfffffffffffffff 00 0000"));
        assert!(s.truncated);
        // CRYPTO whose offset + length passes 2^62.
        let (s, _) = collect(&hex("06 bfffffffffffffff 02 0000"));
        assert!(s.truncated);
    }

    #[test]
    fn unknown_frame_stops() {
        let (s, c) = collect(&hex("0600026869 08 0600016a"));
        assert_eq!(s.unknown_type, Some(8));
        assert_eq!(c.len(), 1);
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = collect(&data);
        }
    }
}
