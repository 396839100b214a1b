//! Bench-corpus generator: builds large captures from real template captures.
//!
//! Templates are the TCP connections and the QUIC / DTLS UDP flows (IPv4) found in the
//! given captures: `testdata/` (real OpenSSL, GnuTLS, curl, Python, browser and server
//! handshakes with full certificate chains; aioquic and quinn QUIC, OpenSSL and GnuTLS
//! DTLS) and every capture under `../shared/corpus` (the JA4, Zeek, Arkime and s2n-tls
//! test suites). Frames of other link types (BSD loopback, raw IP, Linux cooked v1/v2,
//! one 802.1Q tag) get a plain Ethernet header. A TCP connection is a template when
//! both its ClientHello and ServerHello are in plaintext records we can parse; a UDP
//! flow when its client sends a QUIC long header of a version with TLS inside (or a
//! DTLS record) and the server answers.
//!
//! Each generated flow replays one template with its own client address and ephemeral
//! port, and (inside the TCP templates' hello messages) its own client and server
//! random, legacy session id and key-share values: pseudo-random bytes of the same
//! length, so every handshake is distinct where real ones are and identical where real
//! ones repeat (cipher lists, extensions, certificate chains), and the parser pool's
//! memo hits as often as on real traffic. A session id the server echoes gets the same
//! replacement as the client's (the replacement is a function of the original bytes
//! within a flow); a HelloRetryRequest's fixed random, the RFC 8446 downgrade sentinel
//! and the 0x04 prefix of uncompressed EC points are kept. QUIC Initials are protected
//! and DTLS is left as recorded: only their addresses and ports change. IPv4, TCP and
//! UDP checksums are recomputed. Flows are shifted to their own start times, so they
//! interleave by time as on a real link; optionally every n-th flow is wrapped in
//! VXLAN, Geneve or GRE (with key). For a tap-like capture every TCP flow also carries
//! bulk application data after its handshake (TLS application_data records in
//! full-size segments), then closes with FINs.
//!
//! Everything is a function of the templates, the spec and a fixed seed (no clock,
//! no OS randomness): the same inputs give a byte-identical capture. Bump
//! [`GENERATOR_VERSION`] with any change to what is written.
//!
//! Output is a classic little-endian pcap with nanosecond timestamps.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tlstap::quic::version::{support, Support};
use tlstap::source::{CaptureFile, PacketSource};

#[path = "../tests/support/pcap.rs"]
mod pcap;

/// Version of what this file writes; the bench regenerates a corpus whose stamp names
/// another one (or other templates, or another spec).
pub const GENERATOR_VERSION: u32 = 2;

/// Seed of every per-flow pseudo-random choice (ports, randoms, session ids, key
/// shares).
const SEED: u64 = 0x1f2e_3d4c_5b6a_7988;

/// Replace `len` bytes at frame offset `at` with bytes `key_off..` of the flow's
/// pseudo-random string named `key`.
#[derive(Clone, Debug)]
struct Patch {
    at: u32,
    len: u32,
    key: u64,
    key_off: u32,
}

#[derive(Clone)]
struct TPacket {
    rel_ns: i64,
    frame: Vec<u8>,
    /// Sent by the client (the side that sent the ClientHello / first QUIC or DTLS
    /// handshake datagram).
    from_client: bool,
    /// Per-flow variation of this frame's TLS bytes (TCP templates only).
    patches: Vec<Patch>,
}

/// How a template's handshake travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Tcp,
    Quic,
    Dtls,
}

#[derive(Clone)]
pub struct Template {
    packets: Vec<TPacket>,
    /// Next sequence numbers after the template (client, server).
    next_seq: [u32; 2],
    duration_ns: i64,
    /// TCP gets bulk data and FINs added; QUIC and DTLS are replayed as they are.
    pub kind: Kind,
}

impl Template {
    /// Bytes varied per generated flow (randoms, session ids, key shares).
    pub fn varied_bytes(&self) -> usize {
        self.packets
            .iter()
            .flat_map(|p| &p.patches)
            .map(|p| p.len as usize)
            .sum()
    }
}

const ETH: usize = 14;
/// Template connections larger than this are not used.
const MAX_TEMPLATE_BYTES: usize = 40_000;
/// RFC 8446 4.1.3: ServerHello.random of a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// RFC 8446 4.1.3: the downgrade sentinel's first 7 bytes (then 0x01 or 0x00), in the
/// last 8 bytes of a ServerHello random.
const DOWNGRADE_SENTINEL: &[u8; 7] = b"DOWNGRD";
/// RFC 8446 4.2.8: key_share extension.
const EXT_KEY_SHARE: u16 = 0x0033;
/// RFC 8446 5.1: a record's fragment is at most 2^14 bytes (+2048 for ciphertext).
const MAX_RECORD: usize = 16_384 + 2_048;

/// TCP header offset, payload start and end of an Ethernet/IPv4/TCP frame (not an IP
/// fragment).
fn ipv4_tcp(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(frame[ETH] & 0x0f) * 4;
    let fragment = u16::from_be_bytes([frame[ETH + 6], frame[ETH + 7]]) & 0x3fff != 0;
    if frame[ETH] >> 4 != 4
        || frame[ETH + 9] != 6
        || fragment
        || ihl < 20
        || frame.len() < ETH + ihl + 20
    {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let tcp = ETH + ihl;
    let doff = usize::from(frame[tcp + 12] >> 4) * 4;
    let end = (ETH + total).min(frame.len());
    if doff < 20 || tcp + doff > end {
        return None;
    }
    Some((tcp, tcp + doff, end))
}

/// UDP header offset and payload range of an Ethernet/IPv4/UDP frame (not an IP
/// fragment).
fn ipv4_udp(frame: &[u8]) -> Option<(usize, usize, usize)> {
    if frame.len() < ETH + 28 || frame[12..14] != [0x08, 0x00] || frame[ETH + 9] != 17 {
        return None;
    }
    let ihl = usize::from(frame[ETH] & 0x0f) * 4;
    let fragment = u16::from_be_bytes([frame[ETH + 6], frame[ETH + 7]]) & 0x3fff != 0;
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let udp = ETH + ihl;
    let end = (ETH + total).min(frame.len());
    (frame[ETH] >> 4 == 4 && ihl >= 20 && !fragment && udp + 8 <= end).then_some((
        udp,
        udp + 8,
        end,
    ))
}

/// Transport header offset (TCP or UDP) of an Ethernet/IPv4 frame.
fn l4(frame: &[u8]) -> Option<usize> {
    ipv4_tcp(frame)
        .or_else(|| ipv4_udp(frame))
        .map(|(at, _, _)| at)
}

/// QUIC (a long header of a version whose Initials carry TLS) or DTLS (a handshake
/// record) at the start of this UDP payload.
fn udp_kind(payload: &[u8]) -> Option<Kind> {
    match payload {
        [b, v0, v1, v2, v3, dcid_len, ..] if b & 0xc0 == 0xc0 => {
            let version = u32::from_be_bytes([*v0, *v1, *v2, *v3]);
            (matches!(support(version), Support::Tls(_)) && *dcid_len <= 20).then_some(Kind::Quic)
        }
        [22, 0xfe, 0xff | 0xfd | 0xfc, ..] => Some(Kind::Dtls),
        _ => None,
    }
}

/// The frame with an Ethernet header, if it carries IPv4: BSD loopback (0, 108), raw
/// IP (101, 228), Linux cooked v1 (113) and v2 (276) get a synthetic one; one 802.1Q
/// tag is removed. The flow rewrite replaces addresses anyway, so the MACs are dummies.
fn to_ethernet(linktype: u32, data: &[u8]) -> Option<Vec<u8>> {
    const MACS: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    let ip: &[u8] = match linktype {
        1 => match data.get(12..14)? {
            [0x08, 0x00] => return Some(data.to_vec()),
            [0x81, 0x00] if data.get(16..18)? == [0x08, 0x00] => {
                let mut f = data[..12].to_vec();
                f.extend_from_slice(&data[16..]);
                return Some(f);
            }
            _ => return None,
        },
        0 | 108 => match data.get(..4)? {
            [2, 0, 0, 0] | [0, 0, 0, 2] => &data[4..],
            _ => return None,
        },
        101 | 228 => data,
        113 if data.get(14..16)? == [0x08, 0x00] => &data[16..],
        276 if data.get(..2)? == [0x08, 0x00] => data.get(20..)?,
        _ => return None,
    };
    if ip.first()? >> 4 != 4 {
        return None;
    }
    let mut f = MACS.to_vec();
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    Some(f)
}

/// FNV-1a 64: stable across Rust versions, for file identity and corpus stamps.
fn fnv1a(data: &[u8], mut h: u64) -> u64 {
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Bytes `off..off + out.len()` of flow `flow`'s pseudo-random string named `key`.
/// Counter-based, so a value split over two segments is filled piece by piece alike.
fn fill(flow: u64, key: u64, off: usize, out: &mut [u8]) {
    let s = splitmix(splitmix(SEED ^ flow) ^ key);
    for (i, b) in out.iter_mut().enumerate() {
        let j = off + i;
        let w = splitmix(s.wrapping_add(j as u64 / 8));
        *b = (w >> (8 * (j % 8))) as u8;
    }
}

/// A byte range to vary, named by its original content (so equal values, such as a
/// session id and its echo, get equal replacements); `key_off` is where the range
/// starts within that value (non-zero for the second piece of a value split over two
/// records or segments).
struct Region {
    off: usize,
    len: usize,
    key: u64,
    key_off: usize,
}

fn region(off: usize, bytes: &[u8]) -> Region {
    Region {
        off,
        len: bytes.len(),
        key: fnv1a(bytes, FNV_OFFSET),
        key_off: 0,
    }
}

/// The pieces of `regions` (in a coordinate system) that fall into the chunks
/// `(from, to, len)`, moved to the chunks' other coordinate system.
fn remap(
    regions: &[Region],
    chunks: impl Iterator<Item = (usize, usize, usize)> + Clone,
) -> Vec<(Region, usize)> {
    let mut out = Vec::new();
    for r in regions {
        for (i, (from, to, n)) in chunks.clone().enumerate() {
            let (a, b) = (r.off.max(from), (r.off + r.len).min(from + n));
            if a < b {
                out.push((
                    Region {
                        off: to + (a - from),
                        len: b - a,
                        key: r.key,
                        key_off: r.key_off + (a - r.off),
                    },
                    i,
                ));
            }
        }
    }
    out
}

/// A key_share value: all of it, except the 0x04 of an uncompressed EC point (P-256,
/// P-384, P-521), which a parser may check.
fn key_exchange_region(off: usize, kx: &[u8]) -> Option<Region> {
    match kx {
        [] => None,
        [4, rest @ ..] if matches!(kx.len(), 65 | 97 | 133) => Some(region(off + 1, rest)),
        _ => Some(region(off, kx)),
    }
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// Walks a hello's extensions (`b[at..]`, the two length bytes first); the key_share
/// values found by `key_share`. `None` unless the block ends exactly with `b`.
fn key_share_regions(
    b: &[u8],
    at: usize,
    key_share: impl Fn(&[u8], usize) -> Option<Vec<Region>>,
) -> Option<Vec<Region>> {
    if at == b.len() {
        return Some(Vec::new());
    }
    let total = be16(b, at)?;
    let mut p = at + 2;
    if p + total != b.len() {
        return None;
    }
    let mut out = Vec::new();
    while p < b.len() {
        let (typ, len) = (be16(b, p)?, be16(b, p + 2)?);
        let data = b.get(p + 4..p + 4 + len)?;
        if typ == usize::from(EXT_KEY_SHARE) {
            out.extend(key_share(data, p + 4)?);
        }
        p += 4 + len;
    }
    Some(out)
}

/// A hello's regions in handshake-message coordinates (`base`: where its body starts):
/// the random's (`out`), then the session id's (always at 35) and the key shares' when
/// the extensions parsed (`shares` is `Some`).
fn finish_hello(
    mut out: Vec<Region>,
    sid: &[u8],
    shares: Option<Vec<Region>>,
    base: usize,
) -> Vec<Region> {
    if let Some(shares) = shares {
        if !sid.is_empty() {
            out.push(region(35, sid));
        }
        out.extend(shares);
    }
    for r in &mut out {
        r.off += base;
    }
    out
}

/// Regions of a ClientHello body (`b`, at `base` in the handshake bytes): random,
/// session id, each key_share value. `None` if its fixed part does not parse. The
/// random is at a fixed place; the session id and key shares are varied only when the
/// whole body parses (extensions ending exactly with it), so bytes of a layout we do
/// not know are never touched.
fn client_hello(b: &[u8], base: usize) -> Option<Vec<Region>> {
    let random = b.get(2..34)?;
    let sid_len = usize::from(*b.get(34)?);
    if sid_len > 32 {
        return None;
    }
    let sid = b.get(35..35 + sid_len)?;
    let mut p = 35 + sid_len;
    p += 2 + be16(b, p)?;
    p += 1 + usize::from(*b.get(p)?);
    if p > b.len() {
        return None;
    }
    let out = vec![region(2, random)];
    // RFC 8446 4.2.8: client_shares<0..2^16-1>, each group(2) key_exchange<1..2^16-1>.
    let shares = key_share_regions(b, p, |d, at| {
        let list = be16(d, 0)?;
        if list + 2 != d.len() {
            return None;
        }
        let mut q = 2;
        let mut v = Vec::new();
        while q < d.len() {
            let n = be16(d, q + 2)?;
            let kx = d.get(q + 4..q + 4 + n)?;
            v.extend(key_exchange_region(at + q + 4, kx));
            q += 4 + n;
        }
        Some(v)
    });
    Some(finish_hello(out, sid, shares, base))
}

/// TLS 1.3 drafts before 22 sent ServerHello without session id and compression.
fn is_pre22_draft(version: &[u8]) -> bool {
    matches!(version, [0x7f, d] if *d < 22)
}

/// Regions of a ServerHello body: random (not a HelloRetryRequest's; a downgrade
/// sentinel kept), session id, the key_share value; as for [`client_hello`], the
/// last two only when the whole body parses.
fn server_hello(b: &[u8], base: usize) -> Option<Vec<Region>> {
    let random = b.get(2..34)?;
    let (sid, p) = if is_pre22_draft(b.get(..2)?) {
        (&[][..], 34 + 2)
    } else {
        let sid_len = usize::from(*b.get(34)?);
        if sid_len > 32 {
            return None;
        }
        (b.get(35..35 + sid_len)?, 35 + sid_len + 3)
    };
    if p > b.len() {
        return None;
    }
    let mut out = Vec::new();
    if random != HRR_RANDOM {
        let keep_tail = &random[24..31] == DOWNGRADE_SENTINEL;
        out.push(region(2, if keep_tail { &random[..24] } else { random }));
    }
    // RFC 8446 4.2.8: server_share group(2) key_exchange<1..2^16-1>; a
    // HelloRetryRequest's is the group alone.
    let share = key_share_regions(b, p, |d, at| {
        if d.len() == 2 {
            return Some(Vec::new());
        }
        let n = be16(d, 2)?;
        if 4 + n != d.len() {
            return None;
        }
        Some(key_exchange_region(at + 4, &d[4..]).into_iter().collect())
    });
    Some(finish_hello(out, sid, share, base))
}

/// Where one TCP segment's payload lies.
#[derive(Clone, Copy)]
struct Seg {
    /// Index of its packet in the template.
    packet: usize,
    /// Offset in its direction's stream.
    off: usize,
    /// Offset of the payload in the frame.
    at: usize,
    len: usize,
}

/// One direction's TCP payload in sequence order, up to the first gap, and its
/// segments in stream order.
fn side_stream(pkts: &[TPacket], client: bool) -> (Vec<u8>, Vec<Seg>) {
    let mut isn = None;
    let mut segs = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        if p.from_client != client {
            continue;
        }
        let Some((tcp, pl, end)) = ipv4_tcp(&p.frame) else {
            continue;
        };
        let seq = u32::from_be_bytes(p.frame[tcp + 4..tcp + 8].try_into().expect("4"));
        if p.frame[tcp + 13] & 0x02 != 0 {
            isn.get_or_insert(seq.wrapping_add(1));
        }
        if end > pl {
            segs.push((i, seq, pl, end - pl));
        }
    }
    // Without a SYN, the lowest sequence number (wrap-safe around the first one seen).
    let base = isn.or_else(|| {
        let first = segs.first()?.1;
        let low = segs.iter().map(|s| s.1.wrapping_sub(first) as i32).min()?;
        Some(first.wrapping_add(low as u32))
    });
    let Some(base) = base else {
        return (Vec::new(), Vec::new());
    };
    let mut out: Vec<Seg> = segs
        .into_iter()
        .filter_map(|(packet, seq, at, len)| {
            let off = seq.wrapping_sub(base) as usize;
            (off < 1 << 24).then_some(Seg {
                packet,
                off,
                at,
                len,
            })
        })
        .collect();
    out.sort_by_key(|s| (s.off, s.packet));
    let mut stream = Vec::new();
    for s in &out {
        if s.off > stream.len() {
            break;
        }
        if s.off + s.len > stream.len() {
            let from = s.at + (stream.len() - s.off);
            stream.extend_from_slice(&pkts[s.packet].frame[from..s.at + s.len]);
        }
    }
    (stream, out)
}

/// Regions (stream offsets) of the ClientHellos and ServerHellos in one direction's
/// stream, and whether a ClientHello / ServerHello parsed. Records are followed from
/// the first segment that starts a TLS handshake record (after any STARTTLS dialogue)
/// until one that is neither handshake nor change_cipher_spec.
fn hello_regions(stream: &[u8], segs: &[Seg]) -> (Vec<Region>, bool, bool) {
    let none = (Vec::new(), false, false);
    let start = segs
        .iter()
        .map(|s| s.off)
        .find(|&o| matches!(stream.get(o..o + 6), Some([22, 3, 0..=4, _, _, 1 | 2])));
    let Some(mut o) = start else {
        return none;
    };
    // Handshake bytes and where each record's share of them lies in the stream.
    let mut hs = Vec::new();
    let mut map = Vec::new();
    while o + 5 <= stream.len() {
        let (typ, major, len) = (stream[o], stream[o + 1], be16(stream, o + 3).unwrap_or(0));
        if major != 3 || len > MAX_RECORD {
            break;
        }
        let body = o + 5;
        let n = len.min(stream.len() - body);
        match typ {
            22 => {
                map.push((hs.len(), body, n));
                hs.extend_from_slice(&stream[body..body + n]);
            }
            20 => {}
            _ => break,
        }
        o = body + len;
    }
    let (mut out, mut ch, mut sh) = (Vec::new(), false, false);
    let mut p = 0;
    while p + 4 <= hs.len() {
        let len =
            usize::from(hs[p + 1]) << 16 | usize::from(hs[p + 2]) << 8 | usize::from(hs[p + 3]);
        let Some(body) = hs.get(p + 4..p + 4 + len) else {
            break;
        };
        let found = match hs[p] {
            1 => client_hello(body, p + 4).inspect(|_| ch = true),
            2 => server_hello(body, p + 4).inspect(|_| sh = true),
            _ => None,
        };
        out.extend(found.unwrap_or_default());
        p += 4 + len;
    }
    // Handshake offsets to stream offsets, split where a region crosses records.
    let mapped = remap(&out, map.iter().copied());
    (mapped.into_iter().map(|(r, _)| r).collect(), ch, sh)
}

/// The TLS bytes of a TCP connection to vary per flow, as patches on its packets.
/// `Some(client_is_first)` tells which side sent the ClientHello (the other sent the
/// ServerHello); `None` if the connection has no plaintext ClientHello and
/// ServerHello in opposite directions.
fn patch_tcp(pkts: &mut [TPacket]) -> Option<bool> {
    let mut found = Vec::new();
    for side in [true, false] {
        let (stream, segs) = side_stream(pkts, side);
        let (regions, ch, sh) = hello_regions(&stream, &segs);
        found.push((side, segs, regions, ch, sh));
    }
    let client_is_first = match (&found[0], &found[1]) {
        ((_, _, _, true, _), (_, _, _, _, true)) => true,
        ((_, _, _, _, true), (_, _, _, true, _)) => false,
        _ => return None,
    };
    for (_, segs, regions, _, _) in found {
        let chunks = segs.iter().map(|s| (s.off, s.at, s.len));
        for (r, i) in remap(&regions, chunks) {
            pkts[segs[i].packet].patches.push(Patch {
                at: r.off as u32,
                len: r.len as u32,
                key: r.key,
                key_off: r.key_off as u32,
            });
        }
    }
    Some(client_is_first)
}

/// Capture files under `dir` (every file; those that are not captures are skipped
/// when opened), sorted, optionally walking sub-folders.
pub fn capture_files(dir: &Path, recursive: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() && recursive => todo.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Templates from a set of files, and what was left out and why.
#[derive(Default)]
pub struct Loaded {
    pub templates: Vec<Template>,
    /// Files that opened as captures (not counting duplicates).
    pub captures: usize,
    /// Captures skipped because a byte-identical one was already read.
    pub duplicates: usize,
    /// Connections and flows not used, by reason.
    pub rejected: BTreeMap<&'static str, usize>,
}

impl Loaded {
    pub fn count(&self, kind: Kind) -> usize {
        self.templates.iter().filter(|t| t.kind == kind).count()
    }
}

/// TCP connections and QUIC/DTLS flows that carry TLS, from the IPv4 captures among
/// `files`. `seen` holds the content hashes of captures already read (by an earlier
/// call too): a byte-identical copy is read once.
pub fn load_templates(files: &[PathBuf], seen: &mut HashSet<(u64, u64)>) -> Loaded {
    let mut loaded = Loaded::default();
    for f in files {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        let Ok(mut cap) = CaptureFile::from_reader(Box::new(std::io::Cursor::new(bytes.clone())))
        else {
            continue;
        };
        if !seen.insert((fnv1a(&bytes, FNV_OFFSET), bytes.len() as u64)) {
            loaded.duplicates += 1;
            continue;
        }
        loaded.captures += 1;
        for (tcp, pkts) in connections(&mut cap) {
            match template(tcp, pkts) {
                Ok(t) => loaded.templates.push(t),
                Err(why) => *loaded.rejected.entry(why).or_default() += 1,
            }
        }
    }
    loaded
}

/// The capture's IPv4 TCP connections (`true`) and UDP flows, in order of their first
/// packet; `from_client` is "sent by the first sender" for now. A SYN on a 4-tuple that already
/// carried data or a FIN/RST starts a new connection (port reuse).
fn connections(cap: &mut CaptureFile) -> Vec<(bool, Vec<TPacket>)> {
    type Endpoint = [u8; 6];
    struct Conn {
        tcp: bool,
        packets: Vec<TPacket>,
        first: Endpoint,
        used: bool,
    }
    let mut conns: Vec<Conn> = Vec::new();
    let mut open: HashMap<(Endpoint, Endpoint), usize> = HashMap::new();
    let mut t0 = None;
    while let Some(Ok(p)) = cap.next_packet() {
        if p.data.len() != p.orig_len as usize {
            continue;
        }
        let Some(frame) = to_ethernet(p.linktype, p.data) else {
            continue;
        };
        let Some(l4at) = l4(&frame) else {
            continue;
        };
        let tcp = ipv4_tcp(&frame);
        let mut a = [0u8; 6];
        a[..4].copy_from_slice(&frame[ETH + 12..ETH + 16]);
        a[4..].copy_from_slice(&frame[l4at..l4at + 2]);
        let mut b = [0u8; 6];
        b[..4].copy_from_slice(&frame[ETH + 16..ETH + 20]);
        b[4..].copy_from_slice(&frame[l4at + 2..l4at + 4]);
        let key = if a < b { (a, b) } else { (b, a) };
        let start = *t0.get_or_insert(p.ts_ns);
        let (syn, used) = match tcp {
            Some((t, pl, end)) => (
                frame[t + 13] & 0x12 == 0x02,
                end > pl || frame[t + 13] & 0x05 != 0,
            ),
            None => (false, true),
        };
        let i = match open.get(&key) {
            Some(&i) if !(syn && conns[i].used) => i,
            _ => {
                conns.push(Conn {
                    tcp: tcp.is_some(),
                    packets: Vec::new(),
                    first: a,
                    used: false,
                });
                open.insert(key, conns.len() - 1);
                conns.len() - 1
            }
        };
        let c = &mut conns[i];
        c.used |= used;
        c.packets.push(TPacket {
            rel_ns: p.ts_ns - start,
            from_client: a == c.first,
            frame,
            patches: Vec::new(),
        });
    }
    conns.into_iter().map(|c| (c.tcp, c.packets)).collect()
}

/// One TCP connection or UDP flow as a template, or why not.
fn template(tcp: bool, mut pkts: Vec<TPacket>) -> Result<Template, &'static str> {
    if !tcp {
        // The client is whoever sent the first QUIC/DTLS handshake datagram.
        let first = pkts.iter().find_map(|p| {
            let (_, pl, end) = ipv4_udp(&p.frame)?;
            Some((udp_kind(&p.frame[pl..end])?, p.from_client))
        });
        let Some((kind, first_is_client)) = first else {
            return Err("UDP: neither QUIC with TLS nor DTLS");
        };
        for p in &mut pkts {
            p.from_client = p.from_client == first_is_client;
        }
        if !pkts.iter().any(|p| !p.from_client) {
            return Err("UDP: no answer from the server");
        }
        // Later 1-RTT traffic is of no interest to the analyzer; keep the first 40 kB.
        let mut bytes = 0;
        pkts.retain(|p| {
            bytes += p.frame.len();
            bytes <= MAX_TEMPLATE_BYTES
        });
        let base = pkts[0].rel_ns;
        for p in &mut pkts {
            p.rel_ns -= base;
        }
        return Ok(Template {
            duration_ns: pkts.last().map_or(0, |p| p.rel_ns),
            packets: pkts,
            next_seq: [0; 2],
            kind,
        });
    }
    let tls = pkts.iter().any(|p| {
        ipv4_tcp(&p.frame)
            .is_some_and(|(_, pl, end)| end > pl + 5 && p.frame[pl] == 0x16 && p.frame[pl + 1] == 3)
    });
    if !tls {
        return Err("TCP: no TLS handshake record");
    }
    let Some(client_is_first) = patch_tcp(&mut pkts) else {
        return Err("TCP: no plaintext ClientHello and ServerHello");
    };
    if !client_is_first {
        for p in &mut pkts {
            p.from_client = !p.from_client;
        }
    }
    let base = pkts[0].rel_ns;
    let mut next_seq = [0u32; 2];
    pkts.retain(|p| {
        let (tcp, pl, end) = ipv4_tcp(&p.frame).expect("TCP connection");
        // FIN/RST are added back after the bulk data.
        let flags = p.frame[tcp + 13];
        let seq = u32::from_be_bytes(p.frame[tcp + 4..tcp + 8].try_into().expect("4"));
        let len = (end - pl) as u32 + u32::from(flags & 0x02 != 0);
        let side = usize::from(!p.from_client);
        next_seq[side] = next_seq[side].max(seq.wrapping_add(len));
        flags & 0x05 == 0
    });
    if !pkts.iter().any(|p| p.from_client) {
        return Err("TCP: no client packet besides FIN/RST");
    }
    for p in &mut pkts {
        p.rel_ns -= base;
    }
    // Long bulk transfers in the templates would dominate the dense corpus; the tap
    // corpus adds its own bulk data.
    let bytes: usize = pkts.iter().map(|p| p.frame.len()).sum();
    if bytes > MAX_TEMPLATE_BYTES {
        return Err("TCP: over 40 kB");
    }
    Ok(Template {
        duration_ns: pkts.last().map_or(0, |p| p.rel_ns),
        packets: pkts,
        next_seq,
        kind: Kind::Tcp,
    })
}

/// Identity of a template set: every frame byte and every varied range. Part of a
/// corpus's stamp, so new templates regenerate it.
pub fn fingerprint(templates: &[Template]) -> u64 {
    let mut h = FNV_OFFSET;
    for t in templates {
        h = fnv1a(&[t.kind as u8], h);
        for p in &t.packets {
            h = fnv1a(&p.rel_ns.to_le_bytes(), h);
            h = fnv1a(&[u8::from(p.from_client)], h);
            h = fnv1a(&p.frame, h);
            for x in &p.patches {
                h = fnv1a(&x.at.to_le_bytes(), h);
                h = fnv1a(&x.len.to_le_bytes(), h);
                h = fnv1a(&x.key.to_le_bytes(), h);
                h = fnv1a(&x.key_off.to_le_bytes(), h);
            }
        }
    }
    h
}

/// Encapsulations some flows are wrapped in (the decoder peels each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tunnel {
    /// RFC 7348, UDP 4789, inner Ethernet.
    Vxlan,
    /// RFC 8926, UDP 6081, inner Ethernet (protocol 0x6558).
    Geneve,
    /// RFC 2890 GRE with a key, inner IPv4.
    GreKey,
}

/// What to generate.
#[derive(Debug)]
pub struct GenSpec {
    pub flows: usize,
    /// New flows per second of capture time.
    pub flows_per_sec: f64,
    /// Bulk application-data bytes per TCP flow after the handshake (0: none).
    pub bulk_bytes_per_flow: usize,
    /// Payload bytes per bulk segment (at most 1448, a full Ethernet segment).
    pub bulk_segment: usize,
    /// Template flows are stretched to at most this long (keeps concurrency realistic).
    pub max_flow_ns: i64,
    /// Every n-th flow is tunnelled, cycling through [`TUNNELS`] (0: none).
    pub tunnel_every: usize,
    /// Vary randoms, session ids and key shares per flow (false: replay the templates'
    /// TLS bytes as recorded, to check that varying them changes nothing else).
    pub vary_hellos: bool,
}

/// The encapsulations `tunnel_every` cycles through.
pub const TUNNELS: [Tunnel; 3] = [Tunnel::Vxlan, Tunnel::Geneve, Tunnel::GreKey];

impl GenSpec {
    /// The tunnel flow `f` is wrapped in, if any.
    fn tunnel(&self, f: usize) -> Option<Tunnel> {
        let n = self.tunnel_every;
        (n > 0 && f % n == n - 1).then(|| TUNNELS[(f / n) % TUNNELS.len()])
    }
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

/// The IPv4 header checksum of the frame at `ip` (header length from IHL).
fn fix_ip_checksum(frame: &mut [u8], ip: usize) {
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    frame[ip + 10] = 0;
    frame[ip + 11] = 0;
    let c = checksum(&frame[ip..ip + ihl], 0);
    frame[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
}

fn fix_checksums(frame: &mut [u8]) {
    if let Some((udp, _, _)) = ipv4_udp(frame) {
        fix_ip_checksum(frame, ETH);
        // RFC 768: a zero UDP checksum over IPv4 means "not computed".
        frame[udp + 6] = 0;
        frame[udp + 7] = 0;
        return;
    }
    let Some((tcp, _, end)) = ipv4_tcp(frame) else {
        return;
    };
    fix_ip_checksum(frame, ETH);
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

/// `frame` wrapped in `how` between two tunnel endpoints (198.18.0.1 on the client's
/// side, 198.18.0.2 on the server's); the virtual network id and the outer UDP source
/// port vary by flow, as an endpoint's flow hashing makes them.
fn encapsulate(frame: &[u8], how: Tunnel, flow: usize, from_client: bool) -> Vec<u8> {
    let (c, s) = ([198, 18, 0, 1], [198, 18, 0, 2]);
    let (src, dst) = if from_client { (c, s) } else { (s, c) };
    let vni = (100 + (flow % 16) as u32).to_be_bytes();
    let outer_sport = 49_152 + (splitmix(SEED ^ flow as u64) % 16_384) as u16;
    let udp = |dport: u16| {
        let mut h = outer_sport.to_be_bytes().to_vec();
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&[0; 4]); // length below; checksum 0 (RFC 768)
        h
    };
    let (proto, mut hdr, inner) = match how {
        Tunnel::Vxlan => {
            let mut h = udp(4789);
            h.extend_from_slice(&[0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0]);
            (17u8, h, frame)
        }
        Tunnel::Geneve => {
            let mut h = udp(6081);
            h.extend_from_slice(&[0, 0, 0x65, 0x58, vni[1], vni[2], vni[3], 0]);
            (17, h, frame)
        }
        Tunnel::GreKey => {
            let mut h = vec![0x20, 0, 0x08, 0x00];
            h.extend_from_slice(&vni);
            (47, h, &frame[ETH..])
        }
    };
    if proto == 17 {
        let len = (hdr.len() + inner.len()) as u16;
        hdr[4..6].copy_from_slice(&len.to_be_bytes());
    }
    let total = (20 + hdr.len() + inner.len()) as u16;
    let mut out = Vec::with_capacity(ETH + usize::from(total));
    out.extend_from_slice(&frame[..12]);
    out.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    fix_ip_checksum(&mut out, ETH);
    out.extend_from_slice(&hdr);
    out.extend_from_slice(inner);
    out
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
    f
}

/// Flow `f`'s client: a 10.0.0.0/8 address (a bijection of `f` below 2^24, so no two
/// flows share one) and an ephemeral port in Linux's default range 32768-60999.
fn client_of(f: usize) -> ([u8; 4], u16) {
    let x = (f as u32).wrapping_mul(0x005b_d1e9) & 0x00ff_ffff;
    let port = 32_768 + (splitmix(SEED ^ 0x706f_7274 ^ f as u64) % 28_232) as u16;
    ([10, (x >> 16) as u8, (x >> 8) as u8, x as u8], port)
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
        let extra = if t.kind == Kind::Tcp {
            bulk_pkts + 2
        } else {
            0
        };
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
    pcap::write_header(&mut w, pcap::NANOS, 262_144, pcap::ETHERNET)?;
    let mut bulk = vec![0u8; bulk_seg];
    for (i, b) in bulk.iter_mut().enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    let (mut packets, mut bytes) = (0u64, 0u64);
    for p in &plan {
        let f = p.flow as usize;
        let t = &templates[f % templates.len()];
        let (client, cport) = client_of(f);
        let server = [172, 16, (f % 251) as u8, (f % 241 + 1) as u8];
        let sport = 443;
        let idx = p.idx as usize;
        let (mut frame, from_client) = if let Some(tp) = t.packets.get(idx) {
            let mut frame = tp.frame.clone();
            let patches = if spec.vary_hellos {
                &tp.patches[..]
            } else {
                &[]
            };
            for x in patches {
                let at = x.at as usize;
                fill(
                    f as u64,
                    x.key,
                    x.key_off as usize,
                    &mut frame[at..at + x.len as usize],
                );
            }
            (frame, tp.from_client)
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
        if let Some(how) = spec.tunnel(f) {
            frame = encapsulate(&frame, how, f, from_client);
        }
        pcap::write_record_ns(&mut w, p.ts, &frame)?;
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
    pcap::write_header(&mut w, pcap::NANOS, 262_144, pcap::ETHERNET)?;
    let mut hello = vec![0x16, 3, 1, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    hello.resize(100, 0x41);
    // Addresses and ports are set per connection below.
    let syn = pcap::eth_ipv4_tcp([0; 4], [0; 4], 0, 0, 1000, 0x02, &[]);
    let data = pcap::eth_ipv4_tcp([0; 4], [0; 4], 0, 0, 1001, 0x18, &hello);
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
            pcap::write_record_ns(&mut w, ts + k as i64 * 1000, &f)?;
        }
    }
    w.flush()
}
