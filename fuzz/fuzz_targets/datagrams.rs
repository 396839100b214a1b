//! Shared by the UDP targets (`quic_initials`, `dtls_datagrams`): the fuzzer's bytes as
//! a list of datagram records, and the row path a UDP flow takes in the parser pool.
//!
//! Record format: `[len: u16 BE][flags: u8][len bytes]`; a short last record takes what
//! is left. Flag bit 0 = sent by the client; the other bits are the target's own.
//! Packet times step 1 ms per record from a fixed instant, so a run is reproducible.

use std::sync::Arc;

use tlstap::certs::chain::{TrustStore, Validator};
use tlstap::decode::Encap;
use tlstap::flow::record::{ClientBy, FlowPayload, FlowRecord, Transport, UdpFacts, UdpPayload};
use tlstap::row::{analyze_flow, CertClaims};

/// 2023-11-14T22:13:20Z: inside the validity of today's web PKI roots.
pub const T0_NS: i64 = 1_700_000_000 * 1_000_000_000;
const STEP_NS: i64 = 1_000_000;

pub const FROM_CLIENT: u8 = 0x01;

/// One record of the input.
pub struct Record<'a> {
    pub flags: u8,
    pub ts_ns: i64,
    pub bytes: &'a [u8],
}

impl Record<'_> {
    pub fn from_client(&self) -> bool {
        self.flags & FROM_CLIENT != 0
    }
}

/// Split `data` into records (see the module doc).
pub fn records(mut data: &[u8]) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    let mut ts_ns = T0_NS;
    while let [hi, lo, flags, rest @ ..] = data {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        let (bytes, tail) = rest.split_at(n);
        out.push(Record {
            flags: *flags,
            ts_ns,
            bytes,
        });
        ts_ns += STEP_NS;
        data = tail;
    }
    out
}

/// Ship `datagrams` as one UDP flow of `transport` through `row::analyze_flow`, the way
/// `pipeline::analyze_source` does for a flow the UDP table recognised.
pub fn analyze_udp_flow(transport: Transport, datagrams: Vec<UdpPayload>, facts: UdpFacts) {
    let first_ts_ns = datagrams.first().map_or(T0_NS, |d| d.ts_ns);
    let last_ts_ns = datagrams.last().map_or(T0_NS, |d| d.ts_ns);
    let rec = FlowRecord {
        seq: 0,
        first_ts_ns,
        last_ts_ns,
        client_ip: [192, 0, 2, 1].into(),
        client_port: 50_000,
        server_ip: [198, 51, 100, 2].into(),
        server_port: 443,
        vlan: 0,
        client_by: ClientBy::Hello,
        encap: Encap::default(),
        payload: FlowPayload::Udp {
            transport,
            datagrams,
            facts,
        },
    };
    // A fresh claim set and validator per input: the validator's cache would otherwise
    // carry state from one input to the next (`TrustStore::mozilla` is built once).
    let source: Arc<str> = Arc::from("fuzz");
    let claims = CertClaims::new(1000);
    let validator = Validator::new(TrustStore::mozilla(), 1000);
    let _ = analyze_flow(rec, &source, &claims, &validator);
}
