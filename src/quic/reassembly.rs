//! Per-direction CRYPTO stream reassembly for the Initial encryption level.
//!
//! CRYPTO frames arrive out of order, split, duplicated and overlapping (Chrome splits
//! and reorders the ClientHello inside one packet; post-quantum key shares and ECH
//! spread it over 2-3 packets). Bytes are written at their stream offset into one
//! buffer; a sorted list of filled ranges says which bytes are held. First data wins:
//! a later frame never overwrites held bytes, and if it disagrees with them
//! `overlap_conflict` is set.
//!
//! Limits: the buffer never grows past `max_bytes` (default 64 KiB per direction);
//! data beyond it is dropped and `capped` set. The range list holds at most
//! [`MAX_RANGES`] holes-and-islands; a frame that would need more is dropped and
//! counted, so a flood of tiny disjoint frames costs bounded work.

use super::CryptoStream;

/// Most disjoint filled ranges held per direction.
pub const MAX_RANGES: usize = 256;

#[derive(Debug, Default, Clone)]
pub(crate) struct Reassembler {
    buf: Vec<u8>,
    /// Sorted, non-overlapping, non-adjacent `[start, end)` ranges of held bytes.
    filled: Vec<(usize, usize)>,
    max_bytes: usize,
    capped: bool,
    conflict: bool,
    /// Frames dropped because [`MAX_RANGES`] was reached.
    pub dropped_frames: u32,
    first_ts_ns: Option<i64>,
}

impl Reassembler {
    pub fn new(max_bytes: usize) -> Self {
        Reassembler {
            max_bytes,
            ..Default::default()
        }
    }

    /// Add one CRYPTO frame's data at stream `offset`, from a packet at `ts_ns`.
    pub fn insert(&mut self, offset: u64, data: &[u8], ts_ns: i64) {
        if data.is_empty() {
            return;
        }
        let Ok(start) = usize::try_from(offset) else {
            self.capped = true;
            return;
        };
        if start >= self.max_bytes {
            self.capped = true;
            return;
        }
        let mut end = start.saturating_add(data.len());
        if end > self.max_bytes {
            self.capped = true;
            end = self.max_bytes;
        }
        let Some(data) = data.get(..end - start) else {
            return;
        };
        // Index of the first range that ends at or after `start` (touching counts, so
        // adjacent ranges merge) and one past the last that starts at or before `end`.
        let lo = self.filled.partition_point(|&(_, e)| e < start);
        let hi = self.filled.partition_point(|&(s, _)| s <= end);
        if lo == hi && self.filled.len() >= MAX_RANGES {
            self.dropped_frames += 1;
            return;
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        // Compare against held bytes, fill the holes between them.
        let mut cursor = start;
        for i in lo..hi {
            let Some(&(s, e)) = self.filled.get(i) else {
                break;
            };
            let (os, oe) = (s.max(start), e.min(end));
            if os < oe && self.buf.get(os..oe) != data.get(os - start..oe - start) {
                self.conflict = true;
            }
            if cursor < os {
                self.copy(cursor, os, start, data);
            }
            cursor = cursor.max(oe);
        }
        if cursor < end {
            self.copy(cursor, end, start, data);
        }
        let new_start = self.filled.get(lo).map_or(start, |&(s, _)| s.min(start));
        let new_end = if hi > lo {
            self.filled.get(hi - 1).map_or(end, |&(_, e)| e.max(end))
        } else {
            end
        };
        self.filled
            .splice(lo..hi, std::iter::once((new_start, new_end)));
        if start == 0 && self.first_ts_ns.is_none() {
            self.first_ts_ns = Some(ts_ns);
        }
    }

    fn copy(&mut self, from: usize, to: usize, start: usize, data: &[u8]) {
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(from..to),
            data.get(from - start..to - start),
        ) {
            dst.copy_from_slice(src);
        }
    }

    /// Forget everything (a Retry made the client start its CRYPTO stream over).
    pub fn reset(&mut self) {
        *self = Reassembler::new(self.max_bytes);
    }

    pub fn finish(mut self) -> CryptoStream {
        let contiguous = match self.filled.first() {
            Some(&(0, e)) => e,
            _ => 0,
        };
        let gap = match self.filled.len() {
            0 => false,
            1 => contiguous == 0,
            _ => true,
        };
        self.buf.truncate(contiguous);
        CryptoStream {
            data: self.buf,
            gap,
            capped: self.capped,
            overlap_conflict: self.conflict,
            first_ts_ns: if contiguous > 0 {
                self.first_ts_ns
            } else {
                None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_out_of_order_gap() {
        let mut r = Reassembler::new(1024);
        r.insert(5, b"world", 2);
        r.insert(0, b"hello", 1);
        let s = r.finish();
        assert_eq!(s.data, b"helloworld");
        assert!(!s.gap && !s.capped && !s.overlap_conflict);
        assert_eq!(s.first_ts_ns, Some(1));

        let mut r = Reassembler::new(1024);
        r.insert(0, b"ab", 1);
        r.insert(4, b"ef", 1);
        let s = r.finish();
        assert_eq!(s.data, b"ab");
        assert!(s.gap);

        let mut r = Reassembler::new(1024);
        r.insert(3, b"x", 1);
        let s = r.finish();
        assert!(s.data.is_empty() && s.gap && s.first_ts_ns.is_none());
    }

    #[test]
    fn overlap_first_wins() {
        let mut r = Reassembler::new(1024);
        r.insert(0, b"abcdef", 1);
        r.insert(2, b"cdXYgh", 2);
        let s = r.finish();
        assert_eq!(s.data, b"abcdefgh");
        assert!(s.overlap_conflict);
        let mut r = Reassembler::new(1024);
        r.insert(2, b"cd", 1);
        r.insert(0, b"abcdef", 2);
        r.insert(0, b"abcdef", 3);
        let s = r.finish();
        assert_eq!(s.data, b"abcdef");
        assert!(!s.overlap_conflict);
        assert_eq!(s.first_ts_ns, Some(2));
    }

    #[test]
    fn cap_binds() {
        let mut r = Reassembler::new(4);
        r.insert(0, b"abcdef", 1);
        r.insert(u64::MAX, b"z", 1);
        let s = r.finish();
        assert_eq!(s.data, b"abcd");
        assert!(s.capped);
    }

    #[test]
    fn range_limit_binds() {
        let mut r = Reassembler::new(1 << 16);
        for i in 0..(MAX_RANGES as u64 + 10) {
            r.insert(1 + 2 * i, b"x", 1);
        }
        assert_eq!(r.dropped_frames, 10);
        assert_eq!(r.filled.len(), MAX_RANGES);
        // Filling a hole still works at the limit (it merges instead of adding).
        r.insert(2, b"y", 1);
        assert_eq!(r.filled.len(), MAX_RANGES - 1);
    }

    proptest! {
        /// Random splits, permutation and duplicates of a byte string come out whole.
        #[test]
        fn model(data in proptest::collection::vec(any::<u8>(), 1..3000),
                 cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
                 dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
                 seed in any::<u64>()) {
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len())).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            points.dedup();
            let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            for d in &dups {
                let p = pieces[d.index(pieces.len())];
                // Duplicate, sometimes widened to overlap the neighbour.
                pieces.push((p.0.saturating_sub(3), (p.1 + 3).min(data.len())));
            }
            // Deterministic shuffle.
            let mut x = seed | 1;
            for i in (1..pieces.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                pieces.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut r = Reassembler::new(1 << 16);
            for (s, e) in pieces {
                r.insert(s as u64, &data[s..e], 0);
            }
            let out = r.finish();
            prop_assert_eq!(&out.data, &data);
            prop_assert!(!out.gap && !out.capped && !out.overlap_conflict);
        }

        #[test]
        fn never_panics(ops in proptest::collection::vec((any::<u64>(), proptest::collection::vec(any::<u8>(), 0..50)), 0..100)) {
            let mut r = Reassembler::new(4096);
            for (o, d) in &ops {
                r.insert(o % 5000, d, 0);
                r.insert(*o, d, 0);
            }
            let s = r.finish();
            prop_assert!(s.data.len() <= 4096);
        }
    }
}
