//! Connection-level tests: RFC vectors end to end, packets built with the same crypto
//! (multi-packet ClientHello, Retry, corrupted tag, limits) and a no-panic property.

use super::keys::InitialKeys;
use super::vectors::{self, hex};
use super::version::{self, Support};
use super::*;
use proptest::prelude::*;

fn params(v: u32) -> Params {
    match version::support(v) {
        Support::Tls(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Build a protected Initial (4-byte PN) carrying `frames`, padded to `pad_to` bytes of
/// payload, sealed with `keys` (client or server side by `from_client`).
#[allow(clippy::too_many_arguments)]
fn initial(
    v: u32,
    keys: &InitialKeys,
    from_client: bool,
    dcid: &[u8],
    scid: &[u8],
    token: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
) -> Vec<u8> {
    let first = if params(v).v2 { 0xd3 } else { 0xc3 };
    let mut p = vec![first];
    p.extend_from_slice(&v.to_be_bytes());
    p.push(dcid.len() as u8);
    p.extend_from_slice(dcid);
    p.push(scid.len() as u8);
    p.extend_from_slice(scid);
    p.push(token.len() as u8); // 1-byte varint: tokens under 64 bytes in tests
    p.extend_from_slice(token);
    let mut payload = frames.to_vec();
    if payload.len() < pad_to {
        payload.resize(pad_to, 0);
    }
    let len = 4 + payload.len() + 16;
    p.extend_from_slice(&(0x4000u16 | len as u16).to_be_bytes());
    let pn_offset = p.len();
    p.extend_from_slice(&pn.to_be_bytes());
    p.extend_from_slice(&payload);
    let dir = if from_client {
        &keys.client
    } else {
        &keys.server
    };
    dir.seal(&mut p, pn_offset, u64::from(pn)).expect("seal");
    p
}

fn crypto_frame(off: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x06,
        0x80 | (off >> 24) as u8,
        (off >> 16) as u8,
        (off >> 8) as u8,
        off as u8,
    ];
    f.push(0x40 | (data.len() >> 8) as u8);
    f.push(data.len() as u8);
    f.extend_from_slice(data);
    f
}

/// A fake ClientHello of `n` bytes total (type 1, 3-byte length).
fn fake_hello(ty: u8, n: usize) -> Vec<u8> {
    let body = n - 4;
    let mut h = vec![ty, (body >> 16) as u8, (body >> 8) as u8, body as u8];
    h.extend((0..body).map(|i| (i * 7 + 3) as u8));
    h
}

fn dg(from_client: bool, ts: i64, data: &[u8]) -> Datagram<'_> {
    Datagram {
        from_client,
        ts_ns: ts,
        data,
    }
}

#[test]
fn rfc9001_connection() {
    let c = hex(vectors::v1::CLIENT_PACKET);
    let s = hex(vectors::v1::SERVER_PACKET);
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 10, &c), dg(false, 20, &s)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert_eq!(conn.version, version::V1);
    assert_eq!(conn.dcid, hex(vectors::DCID));
    assert_eq!(conn.scid.as_deref(), Some(&hex("f067a5502a4262b5")[..]));
    assert_eq!(
        (
            conn.client_initials,
            conn.server_initials,
            conn.decrypt_failed
        ),
        (1, 1, 0)
    );
    assert_eq!(conn.client.data.len(), 241);
    assert_eq!(conn.client.data[..4], [0x01, 0x00, 0x00, 0xed]);
    assert_eq!(conn.client.first_ts_ns, Some(10));
    assert_eq!(conn.server.data.len(), 90);
    assert_eq!(conn.server.data[0], 0x02);
    assert!(!conn.client.gap && !conn.server.gap);
    assert!(ctr.is_empty(), "{ctr:?}");
}

#[test]
fn rfc9369_connection() {
    let c = hex(vectors::v2::CLIENT_PACKET);
    let s = hex(vectors::v2::SERVER_PACKET);
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 1, &c), dg(false, 2, &s)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert_eq!(conn.version, version::V2);
    assert_eq!(conn.client.data.len(), 241);
    assert_eq!(conn.server.data[0], 0x02);
    assert_eq!(conn.decrypt_failed, 0);
}

#[test]
fn two_packet_client_hello_reordered() {
    let v = version::V1;
    let dcid = hex("0011223344556677");
    let keys = InitialKeys::derive(params(v), &dcid).unwrap();
    let ch = fake_hello(1, 2500);
    // Packet 1 carries [1100..2200) then [0..1100) (Chrome-style reorder); packet 2
    // carries [2200..2500) and a duplicate of [1000..1200). Packet 2 arrives first.
    let mut f1 = crypto_frame(1100, &ch[1100..2200]);
    f1.extend(crypto_frame(0, &ch[..1100]));
    let mut f2 = crypto_frame(2200, &ch[2200..]);
    f2.extend(crypto_frame(1000, &ch[1000..1200]));
    let p1 = initial(v, &keys, true, &dcid, b"cl", b"", 0, &f1, 0);
    let p2 = initial(v, &keys, true, &dcid, b"cl", b"", 1, &f2, 1162);
    let sh = fake_hello(2, 120);
    let s1 = initial(
        v,
        &keys,
        false,
        b"cl",
        b"srv",
        b"",
        0,
        &crypto_frame(0, &sh),
        0,
    );
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 5, &p2), dg(true, 6, &p1), dg(false, 7, &s1)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert_eq!(conn.client.data, ch);
    assert_eq!(conn.client.first_ts_ns, Some(6));
    assert!(!conn.client.gap && !conn.client.overlap_conflict);
    assert_eq!(conn.server.data, sh);
    assert_eq!(conn.client_initials, 2);
    assert_eq!(conn.scid.as_deref(), Some(&b"srv"[..]));
    assert_eq!(conn.client_scid, b"cl");
}

#[test]
fn missing_second_packet_is_a_gap() {
    let v = version::V1;
    let dcid = hex("0011223344556677");
    let keys = InitialKeys::derive(params(v), &dcid).unwrap();
    let ch = fake_hello(1, 2000);
    let p2 = initial(
        v,
        &keys,
        true,
        &dcid,
        b"",
        b"",
        1,
        &crypto_frame(1000, &ch[1000..]),
        0,
    );
    let p1 = initial(
        v,
        &keys,
        true,
        &dcid,
        b"",
        b"",
        0,
        &crypto_frame(0, &ch[..900]),
        0,
    );
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 1, &p1), dg(true, 2, &p2)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert_eq!(conn.client.data, &ch[..900]);
    assert!(conn.client.gap);
    assert_eq!(ctr.get("quic.crypto_gap"), 1);
}

#[test]
fn retry_changes_keys() {
    let v = version::V1;
    let dcid1 = hex("0102030405060708");
    let dcid2 = hex("a1a2a3a4a5a6a7a8a9");
    let k1 = InitialKeys::derive(params(v), &dcid1).unwrap();
    let k2 = InitialKeys::derive(params(v), &dcid2).unwrap();
    let ch = fake_hello(1, 300);
    let c1 = initial(
        v,
        &k1,
        true,
        &dcid1,
        b"c",
        b"",
        0,
        &crypto_frame(0, &ch),
        1162,
    );
    // Retry: type bits 11, version, DCID = client SCID, SCID = new CID, token, tag.
    let mut retry = vec![0xf0];
    retry.extend_from_slice(&v.to_be_bytes());
    retry.push(1);
    retry.extend_from_slice(b"c");
    retry.push(dcid2.len() as u8);
    retry.extend_from_slice(&dcid2);
    retry.extend_from_slice(b"tokentoken");
    retry.extend_from_slice(&[0u8; 16]);
    let c2 = initial(
        v,
        &k2,
        true,
        &dcid2,
        b"c",
        b"tokentoken",
        1,
        &crypto_frame(0, &ch),
        1162,
    );
    let sh = fake_hello(2, 100);
    let s1 = initial(
        v,
        &k2,
        false,
        b"c",
        b"srv",
        b"",
        0,
        &crypto_frame(0, &sh),
        0,
    );
    // The client then switches to the server's CID: keys must stay those of dcid2.
    let c3 = initial(v, &k2, true, b"srv", b"c", b"", 2, &[0x01], 1162);
    let mut ctr = Counters::new();
    let d = [
        dg(true, 1, &c1),
        dg(false, 2, &retry),
        dg(true, 3, &c2),
        dg(false, 4, &s1),
        dg(true, 5, &c3),
    ];
    let conn = connection(&d, &QuicLimits::default(), &mut ctr).unwrap();
    assert!(conn.retry);
    assert_eq!(conn.dcid, dcid1);
    assert_eq!(conn.retry_dcid.as_deref(), Some(&dcid2[..]));
    assert_eq!(conn.decrypt_failed, 0);
    assert_eq!((conn.client_initials, conn.server_initials), (3, 1));
    assert_eq!(conn.client.data, ch);
    assert_eq!(conn.client.first_ts_ns, Some(3));
    assert_eq!(conn.server.data, sh);
    assert_eq!(ctr.get("quic.retry"), 1);
}

#[test]
fn corrupted_tag_is_counted_and_not_parsed() {
    let mut c = hex(vectors::v1::CLIENT_PACKET);
    let n = c.len();
    c[n - 3] ^= 0x40;
    let s = hex(vectors::v1::SERVER_PACKET);
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 1, &c), dg(false, 2, &s)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert_eq!(conn.decrypt_failed, 1);
    assert_eq!(conn.client_initials, 0);
    assert!(conn.client.data.is_empty());
    assert_eq!(conn.server.data.len(), 90);
    assert_eq!(ctr.get("quic.decrypt_failed"), 1);
}

#[test]
fn coalesced_handshake_and_short() {
    let mut d = hex(vectors::v1::SERVER_PACKET);
    d.extend_from_slice(&hex("e0000000010008f067a5502a4262b514"));
    d.extend_from_slice(&[0u8; 20]);
    d.extend_from_slice(&hex("4100112233"));
    let c = hex(vectors::v1::CLIENT_PACKET);
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 1, &c), dg(false, 2, &d)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert!(conn.server_handshake_pkts && conn.server_short);
    assert!(!conn.client_handshake_pkts && !conn.client_short);
    assert_eq!(conn.server_initials, 1);
}

#[test]
fn limits_bind() {
    let c = hex(vectors::v1::CLIENT_PACKET);
    let s = hex(vectors::v1::SERVER_PACKET);
    let lim = QuicLimits {
        max_crypto_bytes: 100,
        max_packets: 1,
    };
    let mut ctr = Counters::new();
    let conn = connection(&[dg(true, 1, &c), dg(false, 2, &s)], &lim, &mut ctr).unwrap();
    assert_eq!(conn.client.data.len(), 100);
    assert!(conn.client.capped);
    assert_eq!(conn.server_initials, 0);
    assert_eq!(ctr.get("quic.packets_capped"), 1);
    assert_eq!(ctr.get("quic.crypto_capped"), 1);
}

#[test]
fn no_client_initial_no_connection() {
    let s = hex(vectors::v1::SERVER_PACKET);
    let mut ctr = Counters::new();
    assert!(connection(&[dg(false, 1, &s)], &QuicLimits::default(), &mut ctr).is_none());
    assert!(connection(
        &[dg(true, 1, &[0x40, 1, 2, 3])],
        &QuicLimits::default(),
        &mut ctr
    )
    .is_none());
    let unk = hex("c01a2a3a4a0401020304040506070800");
    assert!(connection(&[dg(true, 1, &unk)], &QuicLimits::default(), &mut ctr).is_none());
    assert_eq!(ctr.get("quic.unknown_version"), 1);
}

#[test]
fn unknown_frame_counted() {
    let v = version::V1;
    let dcid = hex("0011223344556677");
    let keys = InitialKeys::derive(params(v), &dcid).unwrap();
    let mut f = crypto_frame(0, b"\x01\x00\x00\x01z");
    f.extend_from_slice(&[0x08, 0x00]);
    let p = initial(v, &keys, true, &dcid, b"", b"", 0, &f, 0);
    let mut ctr = Counters::new();
    let conn = connection(&[dg(true, 1, &p)], &QuicLimits::default(), &mut ctr).unwrap();
    assert_eq!(conn.client.data, b"\x01\x00\x00\x01z");
    assert_eq!(ctr.get("quic.unknown_frame"), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn arbitrary_datagrams_never_panic(ds in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..1300)), 0..6)) {
        let d: Vec<Datagram<'_>> = ds.iter().map(|(c, b)| dg(*c, 0, b)).collect();
        let _ = connection(&d, &QuicLimits::default(), &mut Counters::new());
    }

    #[test]
    fn mutated_rfc_packets_never_panic(idx in proptest::collection::vec((0usize..1200, any::<u8>()), 1..8), cut in 0usize..1300) {
        let mut c = hex(vectors::v1::CLIENT_PACKET);
        for (i, b) in &idx {
            c[*i] = *b;
        }
        c.truncate(cut.max(1));
        let s = hex(vectors::v1::SERVER_PACKET);
        let _ = connection(&[dg(true, 1, &c), dg(false, 2, &s), dg(true, 3, &c)], &QuicLimits::default(), &mut Counters::new());
        let _ = packet_kinds(&c);
        let _ = sniff_client_initial(&c);
    }
}

#[test]
fn server_answers_in_compatible_version() {
    // RFC 9368: a v1 client Initial answered by a v2 server Initial (same DCID).
    let c = hex(vectors::v1::CLIENT_PACKET);
    let s = hex(vectors::v2::SERVER_PACKET);
    let mut ctr = Counters::new();
    let conn = connection(
        &[dg(true, 1, &c), dg(false, 2, &s)],
        &QuicLimits::default(),
        &mut ctr,
    )
    .unwrap();
    assert_eq!(conn.version, version::V1);
    assert_eq!(conn.server_version, Some(version::V2));
    assert_eq!(
        (
            conn.client_initials,
            conn.server_initials,
            conn.decrypt_failed
        ),
        (1, 1, 0)
    );
    assert_eq!(conn.server.data[0], 0x02);
}

#[test]
fn q050_recognised_not_parsed() {
    let mut p = hex(vectors::v1::CLIENT_PACKET);
    p[1..5].copy_from_slice(&version::Q050.to_be_bytes());
    let sniff = sniff_client_initial(&p).unwrap();
    assert!(!sniff.tls);
    let mut ctr = Counters::new();
    let conn = connection(&[dg(true, 1, &p)], &QuicLimits::default(), &mut ctr).unwrap();
    assert!(!conn.tls);
    assert_eq!(conn.version, version::Q050);
    assert_eq!((conn.client_initials, conn.decrypt_failed), (0, 0));
    assert_eq!(ctr.get("quic.not_tls"), 1);
}
