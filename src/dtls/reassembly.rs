//! Handshake message reassembly from DTLS fragments (RFC 6347 4.2.3), per direction.
//!
//! Messages are keyed by `message_seq`; each pending message owns a buffer of its
//! announced length and a sorted list of covered byte ranges. Fragments may arrive out
//! of order, overlap, or repeat. **First data wins**: bytes already held are never
//! overwritten; a later fragment that disagrees sets `overlap_conflict`. A fragment that
//! adds no new bytes, or repeats a message already emitted (same seq, type and length),
//! is a retransmission: counted and dropped.
//!
//! Order: messages are emitted in `message_seq` order as they complete. The first seq
//! seen starts the order (a capture may begin mid-handshake); a missing message blocks
//! later ones until [`Reassembler::finish`], which emits whatever else completed in seq
//! order and reports the rest incomplete. A message completing with a seq *below* the
//! next expected one (late reordering) is emitted at once.
//!
//! A message with the seq, type and length of one already emitted is taken for its
//! retransmission even when its bytes differ (then `overlap_conflict` is set).
//!
//! Restart: a fragment whose (type, length) disagrees with what this handshake already
//! holds at its seq, and matches no earlier emitted message, starts a new handshake
//! (a stateless server answering HelloVerifyRequest/HelloRetryRequest with a ServerHello
//! at seq 0 again, or a client resending its ClientHello with a cookie at seq 0): the
//! completed messages of the old one are emitted, its unfinished ones reported
//! incomplete, and the order restarts at the new seq.
//!
//! Limits (each counted, each sets `capped`): one message's announced length
//! (`dtls.message_too_long`), messages pending at once (`dtls.pending_limit`), and message
//! bytes allocated per direction, emitted ones included (`dtls.bytes_limit`). A message cut
//! by a limit is never emitted and does not block later ones.

use std::collections::{BTreeMap, BTreeSet};

use super::record::Fragment;
use super::{DtlsLimits, Event};
use crate::stats::Counters;

#[derive(Debug)]
enum Body {
    /// Being collected: the message buffer and its covered ranges, sorted, disjoint,
    /// non-adjacent.
    Active { buf: Vec<u8>, have: Vec<(u32, u32)> },
    /// Dropped by a limit; kept (without data, not counted as pending) until the
    /// handshake ends so that later fragments of it are ignored.
    Skipped,
}

#[derive(Debug)]
struct Pending {
    msg_type: u8,
    length: u32,
    record_version: u16,
    body: Body,
    /// Time of the datagram whose fragment completed the message.
    complete_ts: Option<i64>,
}

/// A message already emitted: where its body is in the event list.
#[derive(Debug, Clone, Copy)]
struct Emitted {
    seq: u16,
    msg_type: u8,
    length: u32,
    event: usize,
}

/// What became of one merge.
struct Merge {
    new_bytes: usize,
    conflict: bool,
}

/// Per-direction reassembly state; see the module docs.
#[derive(Debug)]
pub struct Reassembler {
    max_message_len: usize,
    max_pending: usize,
    max_bytes: usize,
    /// Next seq to emit in the current handshake (u32: seq 65535 + 1 must not wrap).
    next_seq: Option<u32>,
    pending: BTreeMap<u16, Pending>,
    /// Seqs emitted (or skipped) in the current handshake.
    done: BTreeSet<u16>,
    /// Every message emitted, all handshakes, for recognising retransmissions.
    emitted: Vec<Emitted>,
    /// Message bytes allocated so far (pending and emitted).
    bytes: usize,
    pub retransmissions: u32,
    pub overlap_conflict: bool,
    pub capped: bool,
    pub incomplete: bool,
}

impl Reassembler {
    pub fn new(lim: &DtlsLimits) -> Self {
        Reassembler {
            max_message_len: lim.max_message_len,
            max_pending: lim.max_pending_messages,
            max_bytes: lim.max_bytes,
            next_seq: None,
            pending: BTreeMap::new(),
            done: BTreeSet::new(),
            emitted: Vec::new(),
            bytes: 0,
            retransmissions: 0,
            overlap_conflict: false,
            capped: false,
            incomplete: false,
        }
    }

    /// Take one fragment (already checked: offset + data.len() <= length).
    pub fn accept(
        &mut self,
        f: &Fragment<'_>,
        record_version: u16,
        ts_ns: i64,
        events: &mut Vec<Event>,
        counters: &mut Counters,
    ) {
        let seq = f.message_seq;
        if let Some(p) = self.pending.get(&seq) {
            if p.msg_type == f.msg_type && p.length == f.length {
                self.merge_into(seq, f, ts_ns, events, counters);
                return;
            }
        }
        if self.is_retransmission(f, events, counters) {
            return;
        }
        let clashes = self.pending.contains_key(&seq) || self.done.contains(&seq);
        if clashes {
            self.restart(seq, events);
        }
        if self.next_seq.is_none() {
            self.next_seq = Some(u32::from(seq));
        }
        let Some(p) = self.new_pending(f, record_version, counters) else {
            return;
        };
        self.pending.insert(seq, p);
        if matches!(self.pending.get(&seq).map(|p| &p.body), Some(Body::Skipped)) {
            self.advance(events);
            return;
        }
        self.merge_into(seq, f, ts_ns, events, counters);
    }

    /// Does `f` repeat a message already emitted? Counts it (and flags a conflict if its
    /// bytes differ) when it does.
    fn is_retransmission(
        &mut self,
        f: &Fragment<'_>,
        events: &[Event],
        counters: &mut Counters,
    ) -> bool {
        let hit =
            self.emitted.iter().rev().find(|e| {
                e.seq == f.message_seq && e.msg_type == f.msg_type && e.length == f.length
            });
        let Some(e) = hit else {
            return false;
        };
        if let Some(Event::Message { body, .. }) = events.get(e.event) {
            let start = f.offset as usize;
            if body.get(start..start + f.data.len()) != Some(f.data) {
                self.conflict(counters);
            }
        }
        self.retransmissions += 1;
        counters.bump("dtls.retransmission");
        true
    }

    fn conflict(&mut self, counters: &mut Counters) {
        self.overlap_conflict = true;
        counters.bump("dtls.fragment_overlap_conflict");
    }

    /// A new pending message, or `None` when the pending limit refuses it. A message
    /// over the length or byte limit comes back `Skipped`.
    fn new_pending(
        &mut self,
        f: &Fragment<'_>,
        record_version: u16,
        counters: &mut Counters,
    ) -> Option<Pending> {
        let active = self
            .pending
            .values()
            .filter(|p| matches!(p.body, Body::Active { .. }));
        if active.count() >= self.max_pending {
            counters.bump("dtls.pending_limit");
            self.capped = true;
            return None;
        }
        let len = f.length as usize;
        let body = if len > self.max_message_len {
            counters.bump("dtls.message_too_long");
            self.capped = true;
            Body::Skipped
        } else if self.bytes.saturating_add(len) > self.max_bytes {
            counters.bump("dtls.bytes_limit");
            self.capped = true;
            Body::Skipped
        } else {
            self.bytes += len;
            Body::Active {
                buf: vec![0; len],
                have: Vec::new(),
            }
        };
        Some(Pending {
            msg_type: f.msg_type,
            length: f.length,
            record_version,
            body,
            complete_ts: None,
        })
    }

    fn merge_into(
        &mut self,
        seq: u16,
        f: &Fragment<'_>,
        ts_ns: i64,
        events: &mut Vec<Event>,
        counters: &mut Counters,
    ) {
        let Some(p) = self.pending.get_mut(&seq) else {
            return;
        };
        let was_complete = p.complete_ts.is_some();
        let Body::Active { buf, have } = &mut p.body else {
            return;
        };
        let m = merge(buf, have, f.offset, f.data);
        let complete = p.length == 0 || have.as_slice() == [(0, p.length)];
        if complete && !was_complete {
            p.complete_ts = Some(ts_ns);
        }
        if m.conflict {
            self.conflict(counters);
        }
        if m.new_bytes == 0 && (!f.data.is_empty() || was_complete) {
            self.retransmissions += 1;
            counters.bump("dtls.retransmission");
        }
        if complete && !was_complete {
            if self.next_seq.is_some_and(|n| u32::from(seq) < n) {
                self.emit(seq, events);
            }
            self.advance(events);
        }
    }

    /// Emit messages from `next_seq` on while they are complete (or skipped / already done).
    fn advance(&mut self, events: &mut Vec<Event>) {
        while let Some(n) = self.next_seq {
            let Ok(seq) = u16::try_from(n) else {
                return;
            };
            if !self.done.contains(&seq) {
                match self.pending.get(&seq) {
                    Some(Pending {
                        body: Body::Skipped,
                        ..
                    }) => {
                        // Kept in `pending` so its later fragments are recognised.
                        self.done.insert(seq);
                    }
                    Some(p) if p.complete_ts.is_some() => self.emit(seq, events),
                    _ => return,
                }
            }
            self.next_seq = Some(n + 1);
        }
    }

    /// Move the complete pending message `seq` to the event list.
    fn emit(&mut self, seq: u16, events: &mut Vec<Event>) {
        let Some(p) = self.pending.remove(&seq) else {
            return;
        };
        self.done.insert(seq);
        let (Body::Active { buf, .. }, Some(ts_ns)) = (p.body, p.complete_ts) else {
            return;
        };
        self.emitted.push(Emitted {
            seq,
            msg_type: p.msg_type,
            length: p.length,
            event: events.len(),
        });
        events.push(Event::Message {
            msg_type: p.msg_type,
            message_seq: seq,
            body: buf,
            record_version: p.record_version,
            ts_ns,
        });
    }

    /// Close the current handshake: emit what completed (seq order), note what did not.
    fn flush(&mut self, events: &mut Vec<Event>) {
        let seqs: Vec<u16> = self.pending.keys().copied().collect();
        for seq in seqs {
            match self.pending.get(&seq) {
                Some(Pending {
                    body: Body::Active { .. },
                    complete_ts: Some(_),
                    ..
                }) => self.emit(seq, events),
                Some(Pending {
                    body: Body::Active { buf, .. },
                    ..
                }) => {
                    self.incomplete = true;
                    self.bytes = self.bytes.saturating_sub(buf.len());
                    self.pending.remove(&seq);
                }
                _ => {
                    self.pending.remove(&seq);
                }
            }
        }
    }

    fn restart(&mut self, seq: u16, events: &mut Vec<Event>) {
        self.flush(events);
        self.done.clear();
        self.next_seq = Some(u32::from(seq));
    }

    /// End of the direction: emit every complete message still held, in seq order.
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        self.flush(events);
    }
}

/// Copy the bytes of `data` (at `offset`) that `have` does not cover yet into `buf`,
/// compare the ones it does, and add the range to `have`.
fn merge(buf: &mut [u8], have: &mut Vec<(u32, u32)>, offset: u32, data: &[u8]) -> Merge {
    let start = offset as usize;
    let end = start + data.len();
    let mut m = Merge {
        new_bytes: 0,
        conflict: false,
    };
    if data.is_empty() || end > buf.len() {
        return m;
    }
    let mut copy = |from: usize, to: usize, m: &mut Merge| {
        if let (Some(dst), Some(src)) = (buf.get_mut(from..to), data.get(from - start..to - start))
        {
            dst.copy_from_slice(src);
            m.new_bytes += to - from;
        }
    };
    let mut pos = start;
    let mut overlaps = Vec::new();
    for &(a, b) in have.iter() {
        let (a, b) = (a as usize, b as usize);
        if b <= pos {
            continue;
        }
        if a >= end {
            break;
        }
        if a > pos {
            copy(pos, a, &mut m);
        }
        let (oa, ob) = (a.max(pos), b.min(end));
        overlaps.push((oa, ob));
        pos = ob;
    }
    if pos < end {
        copy(pos, end, &mut m);
    }
    for (oa, ob) in overlaps {
        if buf.get(oa..ob) != data.get(oa - start..ob - start) {
            m.conflict = true;
        }
    }
    have.push((offset, end as u32));
    have.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(have.len());
    for &(a, b) in have.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *have = merged;
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(ty: u8, len: u32, seq: u16, off: u32, data: &[u8]) -> Fragment<'_> {
        Fragment {
            msg_type: ty,
            length: len,
            message_seq: seq,
            offset: off,
            data,
        }
    }

    fn run(frags: &[Fragment<'_>], lim: &DtlsLimits) -> (Vec<Event>, Reassembler, Counters) {
        let mut r = Reassembler::new(lim);
        let mut ev = Vec::new();
        let mut c = Counters::new();
        for (i, fr) in frags.iter().enumerate() {
            r.accept(fr, 0xfefd, i as i64, &mut ev, &mut c);
        }
        r.finish(&mut ev);
        (ev, r, c)
    }

    fn msgs(ev: &[Event]) -> Vec<(u8, u16, Vec<u8>)> {
        ev.iter()
            .filter_map(|e| match e {
                Event::Message {
                    msg_type,
                    message_seq,
                    body,
                    ..
                } => Some((*msg_type, *message_seq, body.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn merge_first_data_wins_and_flags_conflict() {
        let mut buf = vec![0; 6];
        let mut have = Vec::new();
        assert_eq!(merge(&mut buf, &mut have, 2, b"cd").new_bytes, 2);
        let m = merge(&mut buf, &mut have, 0, b"abXYef");
        assert_eq!((m.new_bytes, m.conflict), (4, true));
        assert_eq!(
            (buf.as_slice(), have.as_slice()),
            (&b"abcdef"[..], &[(0, 6)][..])
        );
        let m = merge(&mut buf, &mut have, 1, b"bcd");
        assert_eq!((m.new_bytes, m.conflict), (0, false));
    }

    #[test]
    fn out_of_order_fragments_and_timestamp_of_completion() {
        let fr = [f(1, 6, 0, 3, b"def"), f(1, 6, 0, 0, b"abc")];
        let (ev, r, _) = run(&fr, &DtlsLimits::default());
        assert_eq!(msgs(&ev), vec![(1, 0, b"abcdef".to_vec())]);
        assert!(matches!(ev[0], Event::Message { ts_ns: 1, .. }));
        assert!(!r.incomplete);
    }

    #[test]
    fn missing_middle_fragment_is_incomplete_and_not_emitted() {
        let fr = [
            f(11, 9, 2, 0, b"abc"),
            f(11, 9, 2, 6, b"ghi"),
            f(14, 0, 3, 0, b""),
        ];
        let (ev, r, _) = run(&fr, &DtlsLimits::default());
        // seq 3 is complete; it is emitted at the end although seq 2 never completed.
        assert_eq!(msgs(&ev), vec![(14, 3, vec![])]);
        assert!(r.incomplete);
    }

    #[test]
    fn whole_message_retransmission_counted_and_dropped() {
        let fr = [
            f(1, 3, 0, 0, b"abc"),
            f(1, 3, 0, 0, b"abc"),
            f(1, 3, 0, 0, b"abX"),
        ];
        let (ev, r, c) = run(&fr, &DtlsLimits::default());
        assert_eq!(msgs(&ev).len(), 1);
        assert_eq!(r.retransmissions, 2);
        assert_eq!(c.get("dtls.retransmission"), 2);
        assert!(r.overlap_conflict);
        assert_eq!(c.get("dtls.fragment_overlap_conflict"), 1);
    }

    #[test]
    fn seq_order_blocks_on_a_gap_then_releases() {
        let fr = [
            f(2, 1, 1, 0, b"s"),
            f(11, 1, 3, 0, b"c"),
            f(12, 1, 2, 0, b"k"),
        ];
        let (ev, _, _) = run(&fr, &DtlsLimits::default());
        let seqs: Vec<u16> = msgs(&ev).iter().map(|m| m.1).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
    }

    #[test]
    fn stateless_server_restarts_at_seq_zero() {
        // HVR seq 0, then ServerHello seq 0 again, then Certificate seq 1.
        let fr = [
            f(3, 2, 0, 0, b"hv"),
            f(2, 3, 0, 0, b"shl"),
            f(11, 1, 1, 0, b"c"),
        ];
        let (ev, r, _) = run(&fr, &DtlsLimits::default());
        let got: Vec<(u8, u16)> = msgs(&ev).iter().map(|m| (m.0, m.1)).collect();
        assert_eq!(got, vec![(3, 0), (2, 0), (11, 1)]);
        assert_eq!(r.retransmissions, 0);
        // a late copy of the HVR is a retransmission, not a third handshake
        let fr = [
            f(3, 2, 0, 0, b"hv"),
            f(2, 3, 0, 0, b"shl"),
            f(3, 2, 0, 0, b"hv"),
        ];
        let (ev, r, _) = run(&fr, &DtlsLimits::default());
        assert_eq!(msgs(&ev).len(), 2);
        assert_eq!(r.retransmissions, 1);
    }

    #[test]
    fn limits_bind() {
        let lim = DtlsLimits {
            max_message_len: 4,
            ..DtlsLimits::default()
        };
        let fr = [
            f(11, 5, 0, 0, b"abcde"),
            f(11, 5, 0, 0, b"abcde"),
            f(14, 0, 1, 0, b""),
        ];
        let (ev, r, c) = run(&fr, &lim);
        assert_eq!(msgs(&ev), vec![(14, 1, vec![])]);
        assert!(r.capped && !r.incomplete);
        assert_eq!(c.get("dtls.message_too_long"), 1);

        let lim = DtlsLimits {
            max_pending_messages: 2,
            ..DtlsLimits::default()
        };
        let fr = [
            f(1, 2, 5, 0, b"a"),
            f(1, 2, 6, 0, b"a"),
            f(1, 2, 7, 0, b"a"),
        ];
        let (_, r, c) = run(&fr, &lim);
        assert!(r.capped);
        assert_eq!(c.get("dtls.pending_limit"), 1);

        let lim = DtlsLimits {
            max_bytes: 5,
            ..DtlsLimits::default()
        };
        let fr = [
            f(1, 3, 0, 0, b"abc"),
            f(2, 3, 1, 0, b"def"),
            f(14, 0, 2, 0, b""),
        ];
        let (ev, r, c) = run(&fr, &lim);
        assert_eq!(
            msgs(&ev).iter().map(|m| m.1).collect::<Vec<_>>(),
            vec![0, 2]
        );
        assert!(r.capped);
        assert_eq!(c.get("dtls.bytes_limit"), 1);
    }

    /// Messages of a handshake: seq i, type and body from the strategy.
    fn messages() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        prop::collection::vec((1u8..=20, prop::collection::vec(any::<u8>(), 0..40)), 1..6)
    }

    proptest! {
        /// Random fragmentations, permutations, duplicates and consistent overlaps of a
        /// handshake come out whole and in seq order, with nothing flagged.
        #[test]
        fn reassembles_any_fragmentation(
            msgs_in in messages(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
            overlaps in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..10),
            perm_seed in any::<prop::sample::Index>(),
            shuffle in any::<bool>(),
        ) {
            // fragment list: (seq, offset, end)
            let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
            for (i, (_, body)) in msgs_in.iter().enumerate() {
                let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
                points.push(0);
                points.push(body.len());
                points.sort_unstable();
                points.dedup();
                if body.is_empty() {
                    pieces.push((i, 0, 0));
                }
                for w in points.windows(2) {
                    pieces.push((i, w[0], w[1]));
                }
            }
            for (m, a, b) in &overlaps {
                let i = m.index(msgs_in.len());
                let len = msgs_in[i].1.len();
                let (x, y) = (a.index(len + 1), b.index(len + 1));
                pieces.push((i, x.min(y), x.max(y)));
            }
            if shuffle {
                // deterministic permutation from the seed: rotate then reverse halves
                let k = perm_seed.index(pieces.len());
                pieces.rotate_left(k);
                let half = pieces.len() / 2;
                pieces[..half].reverse();
            }
            let frs: Vec<Fragment<'_>> = pieces.iter().map(|&(i, a, b)| {
                let (ty, body) = &msgs_in[i];
                f(*ty, body.len() as u32, i as u16, a as u32, &body[a..b])
            }).collect();
            let (ev, r, _) = run(&frs, &DtlsLimits::default());
            let want: Vec<(u8, u16, Vec<u8>)> = msgs_in.iter().enumerate()
                .map(|(i, (ty, b))| (*ty, i as u16, b.clone())).collect();
            let mut got = msgs(&ev);
            // a permutation may put a later seq first, which then starts the order and
            // lets earlier seqs be emitted late: content must match, order by seq.
            if !shuffle {
                prop_assert_eq!(&got, &want);
            }
            got.sort_by_key(|m| m.1);
            prop_assert_eq!(got, want);
            prop_assert!(!r.incomplete && !r.overlap_conflict && !r.capped);
        }

        /// A differing overlap never replaces the first data, and is flagged.
        #[test]
        fn first_data_wins(body in prop::collection::vec(any::<u8>(), 2..40), at in any::<prop::sample::Index>()) {
            let i = at.index(body.len());
            let mut other = body.clone();
            other[i] ^= 0xff;
            let fr = [f(1, body.len() as u32, 0, 0, &body), f(1, body.len() as u32, 0, 0, &other)];
            let (ev, r, _) = run(&fr, &DtlsLimits::default());
            prop_assert_eq!(msgs(&ev), vec![(1, 0, body.clone())]);
            prop_assert!(r.overlap_conflict);
        }
    }
}
