//! The QUIC Initial path: one connection's datagrams through `quic::connection` (packet
//! walk, Initial keys, header protection, AEAD, frames, CRYPTO reassembly) and through
//! `row::analyze_flow` as a QUIC flow (TLS parsing, fingerprints, certificates).
//!
//! Input: byte 0 picks the mode, the rest is datagram records (`datagrams.rs`).
//! - mode bit 0 clear, "raw": each record is one UDP payload as captured.
//! - mode bit 0 set, "sealed": random bytes almost never pass the AEAD tag, so each
//!   record is the *plaintext frames* of one Initial packet, sealed here with the real
//!   Initial keys (RFC 9001 5) for a fixed 8-byte DCID. Mode bits 1-2 pick the base
//!   version (v1, v2, draft-29, T051); bits 3-7 the first packet number (`<< 27`, so
//!   some runs cross the 32-bit line and truncated numbers must be decoded).
//!
//! Sealed record flags (bit 0 is the direction, as everywhere):
//! - `0x02` send in QUIC v2 instead of the base version (RFC 9368 compatible answer);
//! - `0x04` coalesce into the previous datagram if it went the same way;
//! - `0x18` packet number length - 1;
//! - `0x20` pad the plaintext to 1162 bytes (a 1200-byte client Initial);
//! - `0x40` raw: append the bytes unprotected (Handshake, 1-RTT, junk, ...);
//! - `0x80` after Retry: client DCID and both directions' keys use `RETRY_DCID`, the
//!   client sends a token; with `0x40` on a server record, a Retry packet that hands out
//!   `RETRY_DCID`, its bytes being the token and integrity tag.
//!
//! Key material and the sealing (AEAD seal + header protection, RFC 9001 5.3-5.4) are
//! the library's own (`keys::InitialKeys`, the doc-hidden `DirKeys::seal`).
#![no_main]

mod datagrams;

use std::sync::OnceLock;

use datagrams::{analyze_udp_flow, records, FROM_CLIENT};
use libfuzzer_sys::fuzz_target;
use tlstap::flow::record::{Transport, UdpFacts, UdpPayload};
use tlstap::quic::keys::{InitialKeys, TAG_LEN};
use tlstap::quic::version::{self, Support};
use tlstap::quic::{self, Datagram, QuicLimits};
use tlstap::stats::Counters;

const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
const RETRY_DCID: [u8; 8] = [0x52, 0x45, 0x54, 0x52, 0x59, 0x44, 0x43, 0x49];
const CLIENT_SCID: [u8; 8] = [0xc1, 0x1e, 0x47, 0x5c, 0x1d, 0x00, 0x00, 0x01];
const SERVER_SCID: [u8; 8] = [0x5e, 0x7e, 0x75, 0xc1, 0xd0, 0x00, 0x00, 0x02];
const TOKEN: [u8; 16] = *b"fuzz-retry-token";
const VERSIONS: [u32; 4] = [version::V1, version::V2, 0xff00_001d, version::T051];
/// Payload of a 1200-byte client Initial with these CIDs, no token and a 4-byte PN.
const PAD_TO: usize = 1162;

const V2_FLAG: u8 = 0x02;
const COALESCE: u8 = 0x04;
const PN_LEN: u8 = 0x18;
const PAD: u8 = 0x20;
const RAW: u8 = 0x40;
const RETRY: u8 = 0x80;

/// Client and server keys per (version, after-Retry), derived once per process.
struct VersionKeys {
    version: u32,
    v2: bool,
    /// `[before Retry, after Retry]`.
    keys: [InitialKeys; 2],
}

fn all_keys() -> &'static [VersionKeys] {
    static KEYS: OnceLock<Vec<VersionKeys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        VERSIONS
            .iter()
            .map(|&version| {
                let Support::Tls(params) = version::support(version) else {
                    unreachable!("{version:#x} is a TLS version")
                };
                let pair = |dcid: &[u8]| InitialKeys::derive(params, dcid).unwrap();
                VersionKeys {
                    version,
                    v2: params.v2,
                    keys: [pair(&DCID), pair(&RETRY_DCID)],
                }
            })
            .collect()
    })
}

fn put_varint(out: &mut Vec<u8>, v: usize) {
    if v < 1 << 14 {
        out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes());
    }
}

fn put_cid(out: &mut Vec<u8>, cid: &[u8]) {
    out.push(cid.len() as u8);
    out.extend_from_slice(cid);
}

/// A protected Initial carrying `frames` (RFC 9000 17.2.2).
fn sealed_initial(vk: &VersionKeys, flags: u8, pn: u64, frames: &[u8]) -> Vec<u8> {
    let from_client = flags & FROM_CLIENT != 0;
    let retry = flags & RETRY != 0;
    let pn_len = usize::from((flags & PN_LEN) >> 3) + 1;
    let type_bits = if vk.v2 { 0x10 } else { 0x00 };
    let mut p = vec![0xc0 | type_bits | (pn_len as u8 - 1)];
    p.extend_from_slice(&vk.version.to_be_bytes());
    if from_client {
        put_cid(&mut p, if retry { &RETRY_DCID } else { &DCID });
        put_cid(&mut p, &CLIENT_SCID);
        let token: &[u8] = if retry { &TOKEN } else { &[] };
        p.push(token.len() as u8);
        p.extend_from_slice(token);
    } else {
        put_cid(&mut p, &CLIENT_SCID);
        put_cid(&mut p, &SERVER_SCID);
        p.push(0);
    }
    let mut payload = frames.to_vec();
    // The header-protection sample needs 4 bytes after the PN start (RFC 9001 5.4.2).
    let min = if flags & PAD != 0 { PAD_TO } else { 4 - pn_len };
    if payload.len() < min {
        payload.resize(min, 0);
    }
    put_varint(&mut p, pn_len + payload.len() + TAG_LEN);
    let pn_offset = p.len();
    p.extend_from_slice(&pn.to_be_bytes()[8 - pn_len..]);
    p.extend_from_slice(&payload);
    let keys = &vk.keys[usize::from(retry)];
    let dir = if from_client { &keys.client } else { &keys.server };
    dir.seal(&mut p, pn_offset, pn)
        .expect("a padded Initial always has room for the sample");
    p
}

/// A server's Retry to `RETRY_DCID`; `rest` stands for the token and integrity tag.
fn retry_packet(vk: &VersionKeys, rest: &[u8]) -> Vec<u8> {
    let type_bits = if vk.v2 { 0x00 } else { 0x30 };
    let mut p = vec![0xc0 | type_bits];
    p.extend_from_slice(&vk.version.to_be_bytes());
    put_cid(&mut p, &CLIENT_SCID);
    put_cid(&mut p, &RETRY_DCID);
    p.extend_from_slice(rest);
    p
}

/// Sealed mode: records to datagrams, each `(from_client, ts_ns, bytes)`.
fn seal_records(mode: u8, data: &[u8]) -> Vec<(bool, i64, Vec<u8>)> {
    let keys = all_keys();
    let base = &keys[usize::from(mode >> 1) % VERSIONS.len()];
    let v2 = &keys[1];
    let mut pn = [u64::from(mode >> 3) << 27; 2];
    let mut out: Vec<(bool, i64, Vec<u8>)> = Vec::new();
    for r in records(data) {
        let client = r.from_client();
        let vk = if r.flags & V2_FLAG != 0 { v2 } else { base };
        let bytes = match (r.flags & RAW != 0, r.flags & RETRY != 0 && !client) {
            (true, true) => retry_packet(vk, r.bytes),
            (true, false) => r.bytes.to_vec(),
            (false, _) => {
                let dir = usize::from(!client);
                let p = sealed_initial(vk, r.flags, pn[dir], r.bytes);
                pn[dir] += 1;
                p
            }
        };
        match out.last_mut() {
            Some(last) if r.flags & COALESCE != 0 && last.0 == client => {
                last.2.extend_from_slice(&bytes)
            }
            _ => out.push((client, r.ts_ns, bytes)),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let dgrams: Vec<(bool, i64, Vec<u8>)> = if mode & 1 == 0 {
        records(rest)
            .into_iter()
            .map(|r| (r.from_client(), r.ts_ns, r.bytes.to_vec()))
            .collect()
    } else {
        seal_records(mode, rest)
    };

    let mut facts = UdpFacts::default();
    for (client, _, d) in &dgrams {
        // What the flow table asks of every datagram before keeping it.
        let _ = quic::sniff_client_initial(d);
        let short = quic::packet_kinds(d).short;
        if *client {
            facts.client_datagrams += 1;
            facts.client_short |= short;
        } else {
            facts.server_datagrams += 1;
            facts.server_short |= short;
        }
    }

    let views: Vec<Datagram<'_>> = dgrams
        .iter()
        .map(|(from_client, ts_ns, d)| Datagram {
            from_client: *from_client,
            ts_ns: *ts_ns,
            data: d,
        })
        .collect();
    let _ = quic::connection(&views, &QuicLimits::default(), &mut Counters::new());

    let payloads = dgrams
        .into_iter()
        .map(|(from_client, ts_ns, data)| UdpPayload {
            from_client,
            ts_ns,
            data,
        })
        .collect();
    analyze_udp_flow(Transport::Quic, payloads, facts);
});
