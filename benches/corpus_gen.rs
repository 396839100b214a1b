//! Bench-corpus generator: builds large captures from real template captures.
//!
//! Templates are the TCP connections and the QUIC / DTLS UDP flows (Ethernet + IPv4)
//! found in the given captures (`testdata/`: real OpenSSL, GnuTLS, curl, Python,
//! browser and server handshakes with full certificate chains; aioquic and quinn QUIC,
//! OpenSSL and GnuTLS DTLS). Each generated flow replays one template connection with
//! rewritten addresses and ports (and fixed IPv4/TCP checksums), shifted to its own start
//! time, so flows interleave by time as on a real link. For a tap-like capture every
//! flow also carries bulk application data after its handshake (TLS application_data
//! records in full-size segments), then closes with FINs.
//!
//! Output is a classic little-endian pcap with nanosecond timestamps.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use tlstap::source::{CaptureFile, PacketSource};

#[derive(Clone)]
struct TPacket {
    rel_ns: i64,
    frame: Vec<u8>,
    /// Sent by the side that sent the first packet (the client).
    from_client: bool,
}

#[derive(Clone)]
pub struct Template {
    packets: Vec<TPacket>,
    /// Next sequence numbers after the template (client, server) and the last ack.
    next_seq: [u32; 2],
    duration_ns: i64,
    /// A QUIC or DTLS flow (UDP): replayed as is, no bulk data or FINs added.
    pub udp: bool,
}

const ETH: usize = 14;
/// Template connections larger than this are not used.
const MAX_TEMPLATE_BYTES: usize = 40_000;

fn ipv4_tcp(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(frame[ETH] & 0x0f) * 4;
    if frame[ETH] >> 4 != 4 || frame[ETH + 9] != 6 || frame.len() < ETH + ihl + 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let tcp = ETH + ihl;
    let doff = usize::from(frame[tcp + 12] >> 4) * 4;
    let end = (ETH + total).min(frame.len());
    if tcp + doff > end {
        return None;
    }
    Some((tcp, tcp + doff, end))
}

/// UDP header offset and payload range of an Ethernet/IPv4/UDP frame.
fn ipv4_udp(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < ETH + 28 || frame[12..14] != [0x08, 0x00] || frame[ETH + 9] != 17 {
        return None;
    }
    let ihl = usize::from(frame[ETH] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let udp = ETH + ihl;
    let end = (ETH + total).min(frame.len());
    (frame[ETH] >> 4 == 4 && udp + 8 <= end).then_some((udp, udp + 8, end))
}

/// Transport header offset (TCP or UDP) of an Ethernet/IPv4 frame.
fn l4(frame: &[u8]) -> Option<usize> {
    ipv4_tcp(frame)
        .or_else(|| ipv4_udp(frame))
        .map(|(at, _, _)| at)
}

/// A QUIC long header or a DTLS handshake record starts this UDP payload.
fn quic_or_dtls(payload: &[u8]) -> bool {
    match payload {
        [b, ..] if b & 0xc0 == 0xc0 => true,
        [22, 0xfe, ..] => true,
        _ => false,
    }
}

/// TCP connections and QUIC/DTLS flows of the Ethernet/IPv4 captures under `dirs` that
/// carry TLS.
pub fn load_templates(dirs: &[&Path]) -> Vec<Template> {
    let mut files = Vec::new();
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(mut cap) = CaptureFile::open(&f) else {
            continue;
        };
        // Connection (lower, higher endpoint) -> its packets and its first sender.
        type Endpoint = [u8; 6];
        let mut conns: HashMap<(Endpoint, Endpoint), (Vec<TPacket>, Endpoint)> = HashMap::new();
        let mut order = Vec::new();
        let mut t0 = None;
        while let Some(Ok(p)) = cap.next_packet() {
            if p.linktype != 1 || p.data.len() != p.orig_len as usize {
                continue;
            }
            let Some(tcp) = l4(p.data) else {
                continue;
            };
            let mut a = [0u8; 6];
            a[..4].copy_from_slice(&p.data[ETH + 12..ETH + 16]);
            a[4..].copy_from_slice(&p.data[tcp..tcp + 2]);
            let mut b = [0u8; 6];
            b[..4].copy_from_slice(&p.data[ETH + 16..ETH + 20]);
            b[4..].copy_from_slice(&p.data[tcp + 2..tcp + 4]);
            let key = if a < b { (a, b) } else { (b, a) };
            let start = *t0.get_or_insert(p.ts_ns);
            let entry = conns.entry(key).or_insert_with(|| {
                order.push(key);
                (Vec::new(), a)
            });
            let from_client = a == entry.1;
            entry.0.push(TPacket {
                rel_ns: p.ts_ns - start,
                frame: p.data.to_vec(),
                from_client,
            });
        }
        for key in order {
            let (mut pkts, _) = conns.remove(&key).expect("key from order");
            if ipv4_udp(&pkts[0].frame).is_some() {
                let udp_tls = pkts.iter().any(|p| {
                    ipv4_udp(&p.frame).is_some_and(|(_, pl, end)| quic_or_dtls(&p.frame[pl..end]))
                });
                if udp_tls {
                    let base = pkts[0].rel_ns;
                    for p in &mut pkts {
                        p.rel_ns -= base;
                    }
                    out.push(Template {
                        duration_ns: pkts.last().map_or(0, |p| p.rel_ns),
                        packets: pkts,
                        next_seq: [0; 2],
                        udp: true,
                    });
                }
                continue;
            }
            let tls = pkts.iter().any(|p| {
                ipv4_tcp(&p.frame).is_some_and(|(_, pl, end)| {
                    end > pl + 5 && p.frame[pl] == 0x16 && p.frame[pl + 1] == 3
                })
            });
            if !tls {
                continue;
            }
            let base = pkts[0].rel_ns;
            let mut next_seq = [0u32; 2];
            pkts.retain(|p| {
                let (tcp, pl, end) = ipv4_tcp(&p.frame).expect("filtered above");
                // FIN/RST are added back after the bulk data.
                let flags = p.frame[tcp + 13];
                let seq = u32::from_be_bytes(p.frame[tcp + 4..tcp + 8].try_into().expect("4"));
                let len = (end - pl) as u32 + u32::from(flags & 0x02 != 0);
                let side = usize::from(!p.from_client);
                next_seq[side] = next_seq[side].max(seq.wrapping_add(len));
                flags & 0x05 == 0
            });
            for p in &mut pkts {
                p.rel_ns -= base;
            }
            let duration_ns = pkts.last().map_or(0, |p| p.rel_ns);
            // Long bulk transfers in the templates would dominate the dense corpus; the
            // tap corpus adds its own bulk data.
            let bytes: usize = pkts.iter().map(|p| p.frame.len()).sum();
            if bytes > MAX_TEMPLATE_BYTES {
                continue;
            }
            out.push(Template {
                packets: pkts,
                next_seq,
                duration_ns,
                udp: false,
            });
        }
    }
    out
}

/// What to generate.
pub struct GenSpec {
    pub flows: usize,
    /// New flows per second of capture time.
    pub flows_per_sec: f64,
    /// Bulk application-data bytes per flow after the handshake (0: none).
    pub bulk_bytes_per_flow: usize,
    /// Payload bytes per bulk segment (at most 1448, a full Ethernet segment).
    pub bulk_segment: usize,
    /// Template flows are stretched to at most this long (keeps concurrency realistic).
    pub max_flow_ns: i64,
}

fn checksum(data: &[u8], init: u32) -> u16 {
    let mut sum = init;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn fix_checksums(frame: &mut [u8]) {
    if let Some((udp, _, _)) = ipv4_udp(frame) {
        frame[ETH + 10] = 0;
        frame[ETH + 11] = 0;
        let c = checksum(&frame[ETH..udp], 0);
        frame[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
        // RFC 768: a zero UDP checksum over IPv4 means "not computed".
        frame[udp + 6] = 0;
        frame[udp + 7] = 0;
        return;
    }
    let Some((tcp, _, end)) = ipv4_tcp(frame) else {
        return;
    };
    frame[ETH + 10] = 0;
    frame[ETH + 11] = 0;
    let c = checksum(&frame[ETH..tcp], 0);
    frame[ETH + 10..ETH + 12].copy_from_slice(&c.to_be_bytes());
    frame[tcp + 16] = 0;
    frame[tcp + 17] = 0;
    let mut pseudo = 0u32;
    for i in (ETH + 12..ETH + 20).step_by(2) {
        pseudo += u32::from(u16::from_be_bytes([frame[i], frame[i + 1]]));
    }
    pseudo += 6 + (end - tcp) as u32;
    let c = checksum(&frame[tcp..end], pseudo);
    frame[tcp + 16..tcp + 18].copy_from_slice(&c.to_be_bytes());
}

fn rewrite(
    frame: &mut [u8],
    from_client: bool,
    client: [u8; 4],
    server: [u8; 4],
    cport: u16,
    sport: u16,
) {
    let Some(tcp) = l4(frame) else {
        return;
    };
    let (src, dst, sp, dp) = if from_client {
        (client, server, cport, sport)
    } else {
        (server, client, sport, cport)
    };
    frame[ETH + 12..ETH + 16].copy_from_slice(&src);
    frame[ETH + 16..ETH + 20].copy_from_slice(&dst);
    frame[tcp..tcp + 2].copy_from_slice(&sp.to_be_bytes());
    frame[tcp + 2..tcp + 4].copy_from_slice(&dp.to_be_bytes());
    fix_checksums(frame);
}

/// A data segment from the server (bulk) or a FIN, built on a template frame.
fn synth(template: &[u8], seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (tcp, pl, _) = ipv4_tcp(template).expect("template frames are IPv4/TCP");
    let mut f = template[..pl].to_vec();
    f.extend_from_slice(payload);
    let total = (f.len() - ETH) as u16;
    f[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
    f[tcp + 4..tcp + 8].copy_from_slice(&seq.to_be_bytes());
    f[tcp + 13] = flags;
    let _ = tcp;
    f
}

/// Classic pcap header: little-endian, nanosecond timestamps, Ethernet.
fn write_header(w: &mut impl Write) -> std::io::Result<()> {
    w.write_all(&0xa1b23c4du32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&[0; 8])?;
    w.write_all(&262_144u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())
}

/// One record with a nanosecond timestamp.
fn write_record(w: &mut impl Write, ts: i64, frame: &[u8]) -> std::io::Result<()> {
    w.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())?;
    w.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())?;
    w.write_all(&(frame.len() as u32).to_le_bytes())?;
    w.write_all(&(frame.len() as u32).to_le_bytes())?;
    w.write_all(frame)
}

/// Write the capture; returns (packets, bytes, flows).
pub fn generate(
    templates: &[Template],
    spec: &GenSpec,
    out: &Path,
) -> std::io::Result<(u64, u64, usize)> {
    assert!(!templates.is_empty(), "no template connections found");
    // (time, flow, packet index) for every packet, then sorted by time.
    struct Planned {
        ts: i64,
        flow: u32,
        idx: u32,
    }
    let bulk_seg = spec.bulk_segment.clamp(64, 1448);
    let t0: i64 = 1_700_000_000_000_000_000;
    let interval = (1e9 / spec.flows_per_sec) as i64;
    let bulk_pkts = spec.bulk_bytes_per_flow.div_ceil(bulk_seg);
    let mut plan = Vec::new();
    for f in 0..spec.flows {
        let t = &templates[f % templates.len()];
        let start = t0 + f as i64 * interval;
        let scale = if t.duration_ns > spec.max_flow_ns && t.duration_ns > 0 {
            spec.max_flow_ns as f64 / t.duration_ns as f64
        } else {
            1.0
        };
        let mut last = start;
        for (i, p) in t.packets.iter().enumerate() {
            last = start + (p.rel_ns as f64 * scale) as i64;
            plan.push(Planned {
                ts: last,
                flow: f as u32,
                idx: i as u32,
            });
        }
        // Bulk data then a FIN from each side, 100 µs apart (TCP only).
        let extra = if t.udp { 0 } else { bulk_pkts + 2 };
        for k in 0..extra {
            plan.push(Planned {
                ts: last + (k as i64 + 1) * 100_000,
                flow: f as u32,
                idx: (t.packets.len() + k) as u32,
            });
        }
    }
    plan.sort_by_key(|p| (p.ts, p.flow, p.idx));

    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    write_header(&mut w)?;
    let mut bulk = vec![0u8; bulk_seg];
    for (i, b) in bulk.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    let (mut packets, mut bytes) = (0u64, 0u64);
    for p in &plan {
        let f = p.flow as usize;
        let t = &templates[f % templates.len()];
        let client = [10, (f >> 16) as u8, (f >> 8) as u8, f as u8];
        let server = [172, 16, (f % 251) as u8, (f % 241 + 1) as u8];
        let cport = 1024 + (f % 60000) as u16;
        let sport = 443;
        let idx = p.idx as usize;
        let (mut frame, from_client) = if let Some(tp) = t.packets.get(idx) {
            (tp.frame.clone(), tp.from_client)
        } else {
            let k = idx - t.packets.len();
            let base_s = t
                .packets
                .iter()
                .find(|p| !p.from_client)
                .or(t.packets.first())
                .expect("non-empty");
            let base_c = t
                .packets
                .iter()
                .find(|p| p.from_client)
                .expect("client packet");
            if k < bulk_pkts {
                let n = bulk_seg.min(spec.bulk_bytes_per_flow - k * bulk_seg);
                let mut payload = Vec::with_capacity(n);
                payload.extend_from_slice(&[0x17, 3, 3]);
                payload.extend_from_slice(&((n - 5) as u16).to_be_bytes());
                payload.extend_from_slice(&bulk[..n - 5]);
                let seq = t.next_seq[1].wrapping_add((k * bulk_seg) as u32);
                (
                    synth(&base_s.frame, seq, 0x18, &payload),
                    base_s.from_client,
                )
            } else if k == bulk_pkts {
                (synth(&base_c.frame, t.next_seq[0], 0x11, &[]), true)
            } else {
                let seq = t.next_seq[1].wrapping_add(spec.bulk_bytes_per_flow as u32);
                (synth(&base_s.frame, seq, 0x11, &[]), base_s.from_client)
            }
        };
        rewrite(&mut frame, from_client, client, server, cport, sport);
        write_record(&mut w, p.ts, &frame)?;
        packets += 1;
        bytes += 16 + frame.len() as u64;
    }
    w.flush()?;
    Ok((packets, bytes + 24, spec.flows))
}

/// `n` connections that open and send the first 100 bytes of a ClientHello, then
/// nothing: a half-open / never-finishing flood.
pub fn generate_attack(out: &Path, n: usize) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    write_header(&mut w)?;
    let mut hello = vec![0x16, 3, 1, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    hello.resize(100, 0x41);
    let frame = |payload: &[u8], seq: u32, flags: u8| -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 40 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&0u32.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    };
    let syn = frame(&[], 1000, 0x02);
    let data = frame(&hello, 1001, 0x18);
    let t0: i64 = 1_700_000_000_000_000_000;
    for i in 0..n {
        let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let server = [172, 16, 0, 1];
        let cport = 1024 + (i % 60000) as u16;
        // Every connection starts within a minute: all are concurrent (idle timeout 120 s).
        let ts = t0 + i as i64 * 50_000;
        for (k, f) in [&syn, &data].into_iter().enumerate() {
            let mut f = f.clone();
            rewrite(&mut f, true, client, server, cport, 443);
            write_record(&mut w, ts + k as i64 * 1000, &f)?;
        }
    }
    w.flush()
}
