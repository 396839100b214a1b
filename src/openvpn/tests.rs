use super::packet::{
    test_packet as packet, P_ACK_V1, P_CONTROL_HARD_RESET_CLIENT_V2,
    P_CONTROL_HARD_RESET_SERVER_V2, P_CONTROL_V1, P_DATA_V2,
};
use super::*;

/// A direction's stream from packets, each delivered by its own TCP segment at time
/// 100 + its index.
fn stream(packets: &[Vec<u8>]) -> StreamData {
    let mut sd = StreamData::default();
    for (i, p) in packets.iter().enumerate() {
        sd.pieces.push(Piece {
            stream_offset: sd.data.len() as u64,
            data_offset: sd.data.len(),
            ts_ns: 100 + i as i64,
        });
        sd.data.extend(p);
    }
    sd
}

fn client(h: u8, controls: &[(u32, &[u8])]) -> StreamData {
    let mut v = vec![packet(P_CONTROL_HARD_RESET_CLIENT_V2, h, &[], Some(0), &[])];
    for &(id, payload) in controls {
        v.push(packet(P_CONTROL_V1, h, &[0], Some(id), payload));
    }
    stream(&v)
}

#[test]
fn control_payloads_are_concatenated_in_packet_id_order() {
    let c = client(
        20,
        &[(2, b"world"), (1, b"hello "), (1, b"HELLO "), (3, b"!")],
    );
    let s = stream(&[
        packet(P_CONTROL_HARD_RESET_SERVER_V2, 20, &[0], Some(0), &[]),
        packet(P_ACK_V1, 20, &[1, 2], None, &[]),
        packet(P_CONTROL_V1, 20, &[], Some(1), b"reply"),
        packet(P_DATA_V2, 0, &[], None, b"not control"),
        packet(P_CONTROL_V1, 20, &[], Some(2), b"after data"),
    ]);
    let mut counters = Counters::new();
    let u = unwrap(&c, 0, &s, &mut counters).unwrap();
    assert_eq!(u.client.data, b"hello world!");
    assert!(u.client.gaps.is_empty());
    // Dated by the segment that carried each payload (packet-id 1 came third).
    assert_eq!(u.client.ts_at(0), Some(102));
    assert_eq!(u.client.ts_at(6), Some(101));
    assert_eq!(u.server.data, b"reply");
    assert_eq!(counters.get("openvpn.retransmission"), 1);
}

#[test]
fn missing_packet_id_is_a_gap() {
    let c = client(0, &[(1, b"one"), (3, b"three")]);
    let mut counters = Counters::new();
    let u = unwrap(&c, 0, &StreamData::default(), &mut counters).unwrap();
    assert_eq!(u.client.data, b"one");
    assert_eq!(u.client.first_gap_data_index(), Some(3));
    assert_eq!(counters.get("openvpn.packet_id_gap"), 1);
    assert!(u.server.data.is_empty());
}

#[test]
fn packet_cut_by_the_end_of_the_stream_is_left_out() {
    let mut c = client(32, &[(1, b"whole"), (2, b"cut short")]);
    c.data.truncate(c.data.len() - 3);
    let u = unwrap(&c, 0, &StreamData::default(), &mut Counters::new()).unwrap();
    assert_eq!(u.client.data, b"whole");
}

#[test]
fn proxy_header_before_the_reset_is_skipped() {
    let mut c = client(0, &[(1, b"tls")]);
    let proxy = b"PROXY UNKNOWN\r\n";
    c.data.splice(0..0, proxy.iter().copied());
    for p in c.pieces.iter_mut().skip(1) {
        p.data_offset += proxy.len();
        p.stream_offset += proxy.len() as u64;
    }
    let u = unwrap(
        &c,
        proxy.len(),
        &StreamData::default(),
        &mut Counters::new(),
    )
    .unwrap();
    assert_eq!(u.client.data, b"tls");
}

#[test]
fn not_openvpn_is_left_alone() {
    let tls = stream(&[vec![0x16, 3, 1, 0, 4, 1, 0, 0, 0]]);
    assert!(unwrap(&tls, 0, &tls, &mut Counters::new()).is_none());
    let empty = StreamData::default();
    assert!(unwrap(&empty, 0, &empty, &mut Counters::new()).is_none());
    // Garbage after a valid reset is counted, never a panic.
    let mut c = client(0, &[(1, b"x")]);
    c.data.extend([0, 3, 0xff, 0xff, 0xff, 0, 0]);
    let mut counters = Counters::new();
    assert!(unwrap(&c, 0, &empty, &mut counters).is_some());
    // An unknown opcode, then an empty packet (which ends the walk).
    assert_eq!(counters.get("openvpn.bad_packet"), 2);
}

#[test]
fn control_packet_limit_binds() {
    let payloads: Vec<(u32, &[u8])> = (1..=MAX_CONTROL_PACKETS as u32 + 5)
        .map(|i| (i, &b"x"[..]))
        .collect();
    let c = client(0, &payloads);
    let mut counters = Counters::new();
    let u = unwrap(&c, 0, &StreamData::default(), &mut counters).unwrap();
    assert_eq!(counters.get("openvpn.packets_capped"), 1);
    assert_eq!(u.client.end, StreamEnd::Truncated);
    assert_eq!(u.client.data.len(), MAX_CONTROL_PACKETS - 1);
}

#[test]
fn scanner_ends_at_the_data_channel_and_rejects_bad_framing() {
    let c = client(0, &[(1, b"tls")]);
    let mut sc = Scanner::new(0);
    assert_eq!(sc.scan(&c.data), ScanState::InHandshake);
    let mut more = c.data.clone();
    more.extend(packet(P_DATA_V2, 0, &[], None, b"data"));
    assert_eq!(sc.scan(&more), ScanState::Done);
    let mut bad = c.data.clone();
    bad.extend([0, 0]);
    bad.push(0x20);
    assert_eq!(Scanner::new(0).scan(&bad), ScanState::NotTls);
    // A packet split across calls.
    let mut sc = Scanner::new(0);
    assert_eq!(sc.scan(&c.data[..5]), ScanState::InHandshake);
    assert_eq!(sc.scan(&more), ScanState::Done);
}

proptest::proptest! {
    #[test]
    fn unwrap_never_panics(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        skip in 0usize..20,
    ) {
        let mut c = client(20, &[(1, b"hello")]);
        c.data.extend(&data);
        let other = stream(std::slice::from_ref(&data));
        let _ = unwrap(&c, 0, &other, &mut Counters::new());
        let _ = unwrap(&other, skip, &c, &mut Counters::new());
        let _ = Scanner::new(skip).scan(&data);
    }
}
