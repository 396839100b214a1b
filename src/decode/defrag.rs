//! IPv4 and IPv6 fragment reassembly.
//!
//! Fragments are pooled by [`FragKey`] (addresses, identification, IPv4 protocol, VLAN,
//! tunnel id) until the datagram is covered from offset 0 to the end given by the last
//! fragment; the reassembled upper-layer payload is then moved into one output buffer
//! that the decoder lends out until the next call.
//!
//! Invariants: first data wins on overlap (later bytes for a covered range are ignored
//! and counted as `defrag.overlap`); covered ranges are kept sorted and merged; a
//! datagram never exceeds [`MAX_DATAGRAM_LEN`]. Expiry is driven by packet time only.
//!
//! Limits (see [`DefragLimits`]): datagrams pending (`defrag.pending_limit`), bytes
//! pending (`defrag.bytes_limit`), fragments per datagram (`defrag.fragment_limit`),
//! age (`defrag.timeout`). A fragment that would exceed a limit is dropped, the
//! datagrams already pending are kept: a flood cannot evict them, only time can.

use std::collections::HashMap;
use std::net::IpAddr;

use super::DecodeError;
use crate::stats::Counters;

/// Largest reassembled payload: the IPv4 offset field reaches 65528 and the total
/// length 65535 (IPv6 without jumbograms has the same bound).
pub const MAX_DATAGRAM_LEN: usize = 65_535;

/// Bounds of the reassembly pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes buffered over all pending datagrams.
    pub max_bytes: usize,
    /// Fragments accepted per datagram (bounds the work per datagram).
    pub max_fragments: usize,
    /// A datagram older than this (packet time, ns since its first fragment) is dropped.
    pub timeout_ns: i64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 1024,
            max_bytes: 8 << 20,
            max_fragments: 128,
            // Linux's ipfrag_time.
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Identifies one datagram being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    /// IPv4 protocol; 0 for IPv6 (its key has no protocol, RFC 8200 section 4.5).
    pub proto: u8,
    pub vlan: u32,
    /// The tunnel id the fragments came through (0 when none), so identical inner
    /// datagrams of two virtual networks are not mixed.
    pub tunnel: u32,
}

/// One fragment as seen on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// Byte offset of `data` in the datagram's fragmentable part.
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
    /// IPv6: the fragment header's next header (only that of offset 0 is used).
    pub next_header: u8,
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Covered byte ranges `[start, end)`, sorted, merged.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    first_ts_ns: i64,
    fragments: usize,
    next_header: u8,
}

/// The reassembly pool.
#[derive(Debug, Default)]
pub struct Defrag {
    limits: DefragLimits,
    pending: HashMap<FragKey, Pending>,
    bytes: usize,
    /// Packet time at which the oldest pending datagram expires.
    next_expiry_ns: i64,
    out: Vec<u8>,
}

impl Defrag {
    pub fn new(limits: DefragLimits) -> Self {
        Defrag {
            limits,
            next_expiry_ns: i64::MAX,
            ..Default::default()
        }
    }

    /// Datagrams currently pending.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes currently buffered.
    pub fn pending_bytes(&self) -> usize {
        self.bytes
    }

    /// The last reassembled payload.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Drops datagrams older than the timeout at packet time `now`.
    fn expire(&mut self, now: i64, counters: &mut Counters) {
        if now < self.next_expiry_ns {
            return;
        }
        let timeout = self.limits.timeout_ns;
        let mut expired = 0u64;
        let mut freed = 0usize;
        let mut next = i64::MAX;
        self.pending.retain(|_, p| {
            let expiry = p.first_ts_ns.saturating_add(timeout);
            if now >= expiry {
                expired += 1;
                freed += p.data.len();
                false
            } else {
                next = next.min(expiry);
                true
            }
        });
        self.bytes = self.bytes.saturating_sub(freed);
        self.next_expiry_ns = next;
        counters.add("defrag.timeout", expired);
    }

    /// Adds a fragment. `Ok(next_header)` when it completed the datagram (the payload is
    /// then in [`Defrag::output`]); `Err(FragmentQueued)` while more is needed; other
    /// errors when the fragment was dropped.
    pub fn insert(
        &mut self,
        key: FragKey,
        frag: Fragment<'_>,
        ts_ns: i64,
        counters: &mut Counters,
    ) -> Result<u8, DecodeError> {
        self.expire(ts_ns, counters);
        let start = frag.offset;
        let end = start
            .checked_add(frag.data.len())
            .filter(|&e| e <= MAX_DATAGRAM_LEN)
            .ok_or(DecodeError::DefragOversize)?;
        let existing = self.pending.get(&key);
        if existing.is_none() && self.pending.len() >= self.limits.max_datagrams {
            return Err(DecodeError::DefragPendingLimit);
        }
        let cur_len = existing.map_or(0, |p| p.data.len());
        let growth = end.saturating_sub(cur_len);
        if self.bytes.saturating_add(growth) > self.limits.max_bytes {
            return Err(DecodeError::DefragBytesLimit);
        }
        if let Some(p) = existing {
            if p.fragments >= self.limits.max_fragments {
                return Err(DecodeError::DefragFragmentLimit);
            }
            let beyond_end = p.total.is_some_and(|t| end > t);
            let other_end = !frag.more && p.total.is_some_and(|t| t != end);
            let past_covered = !frag.more && p.ranges.last().is_some_and(|r| r.1 > end);
            if beyond_end || other_end || past_covered {
                return Err(DecodeError::DefragBadFragment);
            }
        }
        if self.limits.max_fragments == 0 {
            return Err(DecodeError::DefragFragmentLimit);
        }
        let timeout = self.limits.timeout_ns;
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            data: Vec::new(),
            ranges: Vec::new(),
            total: None,
            first_ts_ns: ts_ns,
            fragments: 0,
            next_header: 0,
        });
        self.next_expiry_ns = self
            .next_expiry_ns
            .min(p.first_ts_ns.saturating_add(timeout));
        p.fragments += 1;
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        self.bytes += growth;
        if !frag.more {
            p.total = Some(end);
        }
        if start == 0 {
            p.next_header = frag.next_header;
        }
        if copy_uncovered(&mut p.data, &mut p.ranges, start, frag.data) {
            counters.bump("defrag.overlap");
        }
        let complete = p.total.is_some_and(|t| p.ranges == [(0, t)]);
        if !complete {
            return Err(DecodeError::FragmentQueued);
        }
        let done = self.pending.remove(&key);
        let Some(done) = done else {
            return Err(DecodeError::FragmentQueued);
        };
        self.bytes = self.bytes.saturating_sub(done.data.len());
        self.out = done.data;
        // Empty fragments may have grown the buffer past the end.
        self.out.truncate(done.total.unwrap_or(0));
        counters.bump("defrag.reassembled");
        Ok(done.next_header)
    }
}

/// Copies the bytes of `src` (at `start`) that no range covers yet, then records the
/// range. `data` is at least `start + src.len()` long. Returns whether anything overlapped.
fn copy_uncovered(
    data: &mut [u8],
    ranges: &mut Vec<(usize, usize)>,
    start: usize,
    src: &[u8],
) -> bool {
    let end = start + src.len();
    if start == end {
        return false;
    }
    let mut overlap = false;
    let mut pos = start;
    for &(rs, re) in ranges.iter() {
        if re <= pos {
            continue;
        }
        if rs >= end {
            break;
        }
        if rs > pos {
            copy_range(data, src, start, pos, rs);
        }
        overlap = true;
        pos = pos.max(re);
        if pos >= end {
            break;
        }
    }
    if pos < end {
        copy_range(data, src, start, pos, end);
    }
    // Merge [start, end) into the sorted list.
    let idx = ranges.partition_point(|r| r.1 < start);
    let mut new = (start, end);
    let mut stop = idx;
    while let Some(&(rs, re)) = ranges.get(stop) {
        if rs > new.1 {
            break;
        }
        new = (new.0.min(rs), new.1.max(re));
        stop += 1;
    }
    ranges.splice(idx..stop, std::iter::once(new));
    overlap
}

/// `data[from..to] = src[from - start..to - start]`, when in range.
fn copy_range(data: &mut [u8], src: &[u8], start: usize, from: usize, to: usize) {
    let s = src.get(from.saturating_sub(start)..to.saturating_sub(start));
    if let (Some(dst), Some(s)) = (data.get_mut(from..to), s) {
        dst.copy_from_slice(s);
    }
}
