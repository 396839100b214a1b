//! Arbitrary bytes behind every tunnel entry of the decoder: the first byte picks the
//! entry (a UDP tunnel port, GRE or IP-in-IP over IPv4 or IPv6, NSH or SGT by
//! ethertype, a UDP listener's payload link type, 802.11), the rest is what follows
//! the outer headers. Several packets per input (split on 0xff) so fragments and
//! the decoder's state get exercised too. Checks: no panic, and the `Encap` record
//! never holds more than `MAX_TUNNEL_DEPTH` layers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlstap::decode::encap::{LINKTYPE_TLSTAP_GENEVE, LINKTYPE_TLSTAP_TZSP, LINKTYPE_TLSTAP_VXLAN};
use tlstap::decode::{Decoder, DecoderLimits, Packet, MAX_TUNNEL_DEPTH};
use tlstap::source::RawPacket;

const UDP_PORTS: [u16; 9] = [4789, 4790, 6081, 4754, 2152, 3544, 5072, 5247, 37008];

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x45, 0];
    v.extend(((20 + payload.len()) as u16).to_be_bytes());
    v.extend([0, 1, 0x40, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    v.extend_from_slice(payload);
    v
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend([next, 64]);
    v.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.extend_from_slice(payload);
    v
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    v.extend(ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// (link type, frame) for entry `sel` with `body` behind the outer headers.
fn frame(sel: u8, body: &[u8]) -> (u32, Vec<u8>) {
    let n = UDP_PORTS.len() as u8;
    if sel % 24 < n {
        let port = UDP_PORTS[usize::from(sel % 24)];
        let mut u = vec![0xc0, 0x00];
        u.extend(port.to_be_bytes());
        u.extend(((8 + body.len()) as u16).to_be_bytes());
        u.extend([0, 0]);
        u.extend_from_slice(body);
        return (1, eth(0x0800, &ipv4(17, &u)));
    }
    match sel % 24 - n {
        0 => (1, eth(0x0800, &ipv4(47, body))),
        1 => (1, eth(0x86dd, &ipv6(47, body))),
        2 => (101, ipv4(4, body)),
        3 => (101, ipv4(41, body)),
        4 => (101, ipv6(4, body)),
        5 => (101, ipv6(41, body)),
        6 => (1, eth(0x894f, body)),
        7 => (1, eth(0x8909, body)),
        8 => (LINKTYPE_TLSTAP_VXLAN, body.to_vec()),
        9 => (LINKTYPE_TLSTAP_GENEVE, body.to_vec()),
        10 => (LINKTYPE_TLSTAP_TZSP, body.to_vec()),
        11 => (105, body.to_vec()),
        _ => (1, body.to_vec()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(DecoderLimits::default());
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let Some((&sel, body)) = chunk.split_first() else {
            continue;
        };
        let (linktype, f) = frame(sel, body);
        let pkt = RawPacket {
            ts_ns: i as i64,
            linktype,
            orig_len: f.len() as u32,
            data: &f,
        };
        let depth = match dec.decode(&pkt) {
            Some(Packet::Tcp(s)) => s.encap.layers().len(),
            Some(Packet::Udp(u)) => u.encap.layers().len(),
            None => 0,
        };
        assert!(depth <= MAX_TUNNEL_DEPTH);
    }
});
