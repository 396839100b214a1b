//! Direction-level tests: whole datagram sequences through [`super::direction`].

use super::record::tests::{frag, rec};
use super::record::{DTLS1_0, DTLS1_2};
use super::*;

fn dg(from_client: bool, ts_ns: i64, data: &[u8]) -> Datagram<'_> {
    Datagram {
        from_client,
        ts_ns,
        data,
    }
}

fn run(dgrams: &[Datagram<'_>], client: bool) -> (Direction, Counters) {
    let mut c = Counters::new();
    let d = direction(dgrams, client, &DtlsLimits::default(), &mut c);
    (d, c)
}

fn kinds(d: &Direction) -> Vec<String> {
    d.events
        .iter()
        .map(|e| match e {
            Event::Message {
                msg_type,
                message_seq,
                ..
            } => format!("m{msg_type}/{message_seq}"),
            Event::ChangeCipherSpec { .. } => "ccs".into(),
            Event::Alert {
                level, description, ..
            } => format!("a{level}/{description}"),
            Event::Encrypted {
                content_type,
                epoch,
                ..
            } => format!("e{content_type}/{epoch}"),
        })
        .collect()
}

/// RFC 6347 4.2.1: ClientHello (seq 0, empty cookie), HelloVerifyRequest (server seq 0),
/// ClientHello with the cookie (seq 1), ServerHello (seq 1) ...
#[test]
fn hello_verify_request_then_cookie_client_hello() {
    let ch1 = rec(22, DTLS1_0, 0, 0, &frag(1, 4, 0, 0, b"ch-0"));
    let hvr = rec(22, DTLS1_0, 0, 0, &frag(3, 3, 0, 0, &[0xfe, 0xff, 0]));
    // the cookie ClientHello in two fragments, the second retransmitted once
    let ch2a = rec(22, DTLS1_0, 0, 1, &frag(1, 8, 1, 0, b"ch-1"));
    let ch2b = rec(22, DTLS1_0, 0, 2, &frag(1, 8, 1, 4, b"+cke"));
    let mut sh = rec(22, DTLS1_0, 0, 1, &frag(2, 2, 1, 0, b"sh"));
    sh.extend(rec(22, DTLS1_0, 0, 2, &frag(14, 0, 2, 0, b"")));
    let mut fin = rec(20, DTLS1_0, 0, 3, &[1]);
    fin.extend(rec(22, DTLS1_0, 1, 0, &[0xee; 48]));
    let d = [
        dg(true, 1, &ch1),
        dg(false, 2, &hvr),
        dg(true, 3, &ch2a),
        dg(true, 4, &ch2b),
        dg(true, 5, &ch2b),
        dg(false, 6, &sh),
        dg(true, 7, &fin),
    ];
    let (c, counters) = run(&d, true);
    assert_eq!(kinds(&c), ["m1/0", "m1/1", "ccs", "e22/1"]);
    assert!(matches!(&c.events[1], Event::Message { body, ts_ns: 4, .. } if body == b"ch-1+cke"));
    assert_eq!(
        (c.retransmissions, c.incomplete_message, c.malformed),
        (1, false, None)
    );
    assert_eq!(counters.get("dtls.retransmission"), 1);
    let (s, _) = run(&d, false);
    assert_eq!(kinds(&s), ["m3/0", "m2/1", "m14/2"]);
}

/// Some stacks answer HVR and restart message_seq at 0 for the cookie ClientHello.
#[test]
fn cookie_client_hello_restarting_at_seq_zero() {
    let ch1 = rec(22, DTLS1_2, 0, 0, &frag(1, 4, 0, 0, b"ch-0"));
    let ch2 = rec(22, DTLS1_2, 0, 1, &frag(1, 6, 0, 0, b"ch-0+c"));
    let (c, _) = run(
        &[dg(true, 1, &ch1), dg(true, 2, &ch1), dg(true, 3, &ch2)],
        true,
    );
    assert_eq!(kinds(&c), ["m1/0", "m1/0"]);
    assert_eq!(c.retransmissions, 1);
}

#[test]
fn middle_fragment_missing_is_incomplete_and_not_emitted() {
    let a = rec(22, DTLS1_2, 0, 0, &frag(11, 9, 2, 0, b"abc"));
    let b = rec(22, DTLS1_2, 0, 1, &frag(11, 9, 2, 6, b"ghi"));
    let (s, _) = run(&[dg(false, 1, &a), dg(false, 2, &b)], false);
    assert!(s.events.is_empty());
    assert!(s.incomplete_message);
}

#[test]
fn alerts_and_epoch0_application_data() {
    let mut d = rec(21, DTLS1_2, 0, 0, &[2, 40, 1, 0]);
    d.extend(rec(23, DTLS1_2, 0, 1, b"odd"));
    let (c, _) = run(&[dg(true, 1, &d)], true);
    assert_eq!(kinds(&c), ["a2/40", "a1/0", "e23/0"]);
    assert_eq!(c.malformed, None);
}

#[test]
fn malformed_record_ends_its_datagram_only() {
    let good = rec(20, DTLS1_2, 0, 0, &[1]);
    let mut bad = good.clone();
    bad.extend_from_slice(&[22, 0xfe]); // truncated second header
    let mut badver = rec(22, 0x0303, 0, 0, b"");
    badver.extend(good.clone());
    let alert = rec(21, DTLS1_2, 0, 0, &[2]);
    let hs = rec(22, DTLS1_2, 0, 0, &[1, 0, 0]);
    let d = [
        dg(true, 1, &bad),
        dg(true, 2, &badver),
        dg(true, 3, &alert),
        dg(true, 4, &hs),
        dg(true, 5, &good),
    ];
    let (c, counters) = run(&d, true);
    assert_eq!(kinds(&c), ["ccs", "ccs"]);
    assert_eq!(c.malformed, Some("record_truncated_header"));
    assert_eq!(counters.get("dtls.bad_record"), 4);
}

#[test]
fn stun_and_rtp_datagrams_are_skipped() {
    let stun = [0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
    let rtp = [0x80u8, 0x60, 0, 1];
    let ch = rec(22, DTLS1_2, 0, 0, &frag(1, 2, 0, 0, b"hi"));
    let (c, counters) = run(
        &[dg(true, 1, &stun), dg(true, 2, &ch), dg(true, 3, &rtp)],
        true,
    );
    assert_eq!(kinds(&c), ["m1/0"]);
    assert_eq!((c.non_dtls_datagrams, c.malformed), (2, None));
    assert_eq!(counters.get("dtls.not_dtls_datagram"), 2);
}

#[test]
fn dtls13_unified_header_records_are_encrypted_events() {
    let sh = rec(22, DTLS1_2, 0, 0, &frag(2, 2, 0, 0, b"sh"));
    let mut d = sh.clone();
    d.extend_from_slice(&[0x2e, 0, 1, 0, 2, 9, 9]); // epoch 2, length 2
    d.extend_from_slice(&[0x3e, 0xc1, 0, 1, 0, 2, 9, 9]); // CID: to the end
    let (s, _) = run(&[dg(false, 1, &d)], false);
    assert_eq!(kinds(&s), ["m2/0", "e46/2", "e62/2"]);
}

#[test]
fn records_limit_binds() {
    let ccs = rec(20, DTLS1_2, 0, 0, &[1]);
    let d: Vec<_> = (0..5).map(|i| dg(true, i, &ccs)).collect();
    let lim = DtlsLimits {
        max_records: 3,
        ..DtlsLimits::default()
    };
    let mut counters = Counters::new();
    let c = direction(&d, true, &lim, &mut counters);
    assert_eq!((c.events.len(), c.records, c.capped), (3, 3, true));
    assert_eq!(counters.get("dtls.records_limit"), 1);
}

/// The reason tls-parser's record parser is not used beyond the header: an unfragmented
/// ServerKeyExchange (or Finished, CertificateRequest ...) fails the whole record.
#[test]
fn tls_parser_rejects_records_we_must_frame() {
    let ske = rec(22, DTLS1_2, 0, 0, &frag(12, 3, 3, 0, b"ske"));
    assert!(tls_parser::parse_dtls_plaintext_record(&ske).is_err());
    let (s, _) = run(&[dg(false, 1, &ske)], false);
    assert_eq!(kinds(&s), ["m12/3"]);
}

/// Zeek's dtls1_0.pcap (OpenSSL s_client/s_server, HelloVerifyRequest, fragmented
/// ClientHellos) as hex payloads, one datagram a line: `c|s <hex>`.
#[test]
fn zeek_dtls1_0_capture() {
    let text = include_str!("testdata/dtls1_0.txt");
    let bytes: Vec<(bool, Vec<u8>)> = text
        .lines()
        .filter_map(|l| {
            let (dir, hex) = l.split_once(' ')?;
            let v = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            Some((dir == "c", v))
        })
        .collect();
    let d: Vec<_> = bytes
        .iter()
        .enumerate()
        .map(|(i, (c, v))| dg(*c, i as i64, v))
        .collect();
    let (c, _) = run(&d, true);
    let (s, _) = run(&d, false);
    assert_eq!(
        kinds(&c),
        ["m1/0", "m1/1", "m16/2", "ccs", "e22/1", "e23/1", "e21/1"]
    );
    assert_eq!(
        kinds(&s),
        ["m3/0", "m2/1", "m11/2", "m12/3", "m14/4", "m4/5", "ccs", "e22/1", "e23/1"]
    );
    for dir in [&c, &s] {
        assert!(!dir.incomplete_message && !dir.capped && dir.malformed.is_none());
        assert!(!dir.overlap_conflict);
    }
    let Event::Message { body, .. } = &c.events[1] else {
        panic!()
    };
    assert_eq!(body.len(), 251);
}

#[test]
fn no_panic_on_mutated_captures() {
    let mut base = rec(22, DTLS1_2, 0, 0, &frag(1, 20, 0, 0, &[7; 10]));
    base.extend(rec(22, DTLS1_2, 0, 1, &frag(1, 20, 0, 10, &[7; 10])));
    base.extend(rec(21, DTLS1_2, 0, 2, &[2, 10]));
    base.extend_from_slice(&[0x2c, 1, 0, 3, 1, 2, 3]);
    for i in 0..base.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut m = base.clone();
            m[i] = v;
            for cut in [m.len(), i + 1, i / 2] {
                let d = [dg(true, 0, &m[..cut]), dg(true, 1, &base)];
                let _ = run(&d, true);
                let _ = record_kinds(&m[..cut]);
                let _ = sniff(&m[..cut]);
            }
        }
    }
}

proptest::proptest! {
    /// Arbitrary datagrams (biased to start like DTLS) never panic and keep the counters
    /// consistent with the result.
    #[test]
    fn arbitrary_datagrams_never_panic(
        raw in proptest::collection::vec(
            (proptest::bool::ANY, 20u8..=63, proptest::collection::vec(proptest::num::u8::ANY, 0..80)),
            0..12,
        )
    ) {
        let bufs: Vec<(bool, Vec<u8>)> = raw
            .into_iter()
            .map(|(c, first, mut rest)| {
                rest.insert(0, first);
                (c, rest)
            })
            .collect();
        let d: Vec<_> = bufs.iter().map(|(c, v)| dg(*c, 0, v)).collect();
        for client in [true, false] {
            let (dir, counters) = run(&d, client);
            proptest::prop_assert_eq!(dir.malformed.is_some(), counters.get("dtls.bad_record") > 0);
        }
    }
}
