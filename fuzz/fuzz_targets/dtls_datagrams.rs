//! One DTLS association's datagrams through the DTLS framing layer (`dtls::direction`
//! for both sides, with small limits so that every cap is reachable) and through
//! `row::analyze_flow` as a DTLS flow (default limits, TLS parsing, fingerprints,
//! certificates).
//!
//! Input: datagram records (`datagrams.rs`), each one UDP payload as captured; flag bit
//! 0 = from the client, bit 1 on any record = the flow table dropped a datagram
//! (`UdpFacts::truncated`). Seeds are real DTLS payloads in that format (README).
#![no_main]

mod datagrams;

use datagrams::{analyze_udp_flow, records};
use libfuzzer_sys::fuzz_target;
use tlstap::dtls::{self, Datagram, DtlsLimits};
use tlstap::flow::record::{Transport, UdpFacts, UdpPayload};
use tlstap::stats::Counters;

const TRUNCATED: u8 = 0x02;

/// Small enough that a fuzz input can reach each of them.
const SMALL: DtlsLimits = DtlsLimits {
    max_message_len: 4096,
    max_pending_messages: 4,
    max_bytes: 16 * 1024,
    max_records: 64,
};

fuzz_target!(|data: &[u8]| {
    let recs = records(data);
    let mut facts = UdpFacts::default();
    for r in &recs {
        // What the flow table asks of every datagram before keeping it.
        let _ = dtls::sniff(r.bytes);
        let _ = dtls::record_kinds(r.bytes);
        if r.from_client() {
            facts.client_datagrams += 1;
        } else {
            facts.server_datagrams += 1;
        }
        facts.truncated |= r.flags & TRUNCATED != 0;
    }

    let views: Vec<Datagram<'_>> = recs
        .iter()
        .map(|r| Datagram {
            from_client: r.from_client(),
            ts_ns: r.ts_ns,
            data: r.bytes,
        })
        .collect();
    let mut counters = Counters::new();
    let _ = dtls::direction(&views, true, &SMALL, &mut counters);
    let _ = dtls::direction(&views, false, &SMALL, &mut counters);

    let payloads = recs
        .iter()
        .map(|r| UdpPayload {
            from_client: r.from_client(),
            ts_ns: r.ts_ns,
            data: r.bytes.to_vec(),
        })
        .collect();
    analyze_udp_flow(Transport::Dtls, payloads, facts);
});
