//! The reassembled bytes of one direction of a TCP connection, as handed from the
//! capture thread to the parser pool.
//!
//! Offsets are relative to the first byte of the direction's stream (the byte after the
//! SYN's sequence number, or the first payload byte seen when the capture starts
//! mid-connection). `data` holds only the bytes that were actually captured: a gap is
//! recorded in `gaps` and the bytes after it follow directly in `data`, so
//! `data` index != stream offset after a gap; use [`StreamData::segments`] to map.

/// One contiguous piece of captured stream bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Stream offset of the first byte of this piece.
    pub stream_offset: u64,
    /// Index in `StreamData::data` of the first byte of this piece.
    pub data_offset: usize,
    /// Packet time (ns since the Unix epoch) of the packet that delivered the byte.
    pub ts_ns: i64,
}

/// Why a direction stopped collecting bytes (recorded so rows can say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamEnd {
    /// Still open when shipped (end of capture, idle timeout, or peer finished).
    #[default]
    Open,
    /// The handshake part ended: ChangeCipherSpec or application data seen.
    HandshakeDone,
    /// FIN seen.
    Fin,
    /// RST seen.
    Rst,
    /// A buffer limit was hit: bytes after it were not kept.
    Truncated,
}

/// Captured bytes of one direction, plus where each piece came from.
#[derive(Debug, Clone, Default)]
pub struct StreamData {
    /// Captured bytes in stream order, gaps squeezed out.
    pub data: Vec<u8>,
    /// One entry per contiguous run of bytes delivered by one packet (sorted by
    /// `data_offset`); a gap is where `stream_offset` jumps by more than the previous
    /// piece's length.
    pub pieces: Vec<Piece>,
    /// Stream offsets where bytes are missing, with the number of missing bytes.
    pub gaps: Vec<(u64, u64)>,
    /// A differing retransmission overlapped already-captured bytes.
    pub overlap_conflict: bool,
    pub end: StreamEnd,
}

impl StreamData {
    /// Packet time of the packet that carried `data[idx]`, if any.
    pub fn ts_at(&self, idx: usize) -> Option<i64> {
        let i = self.pieces.partition_point(|p| p.data_offset <= idx);
        if i == 0 {
            return None;
        }
        Some(self.pieces[i - 1].ts_ns)
    }

    /// Index into `data` where the first gap begins (bytes before it are contiguous
    /// from the start of the stream), or `None` when the data has no gap.
    pub fn first_gap_data_index(&self) -> Option<usize> {
        let first = self.gaps.first()?;
        // Bytes before the gap are exactly the pieces that start before it.
        let mut idx = 0usize;
        for p in &self.pieces {
            if p.stream_offset >= first.0 {
                return Some(p.data_offset);
            }
            idx = self.data.len();
        }
        Some(idx)
    }

    /// Data-index ranges of the runs of contiguous bytes, split at gaps.
    pub fn contiguous_runs(&self) -> Vec<std::ops::Range<usize>> {
        let mut runs = Vec::new();
        let mut start = 0usize;
        let mut expect: Option<u64> = None;
        for (i, p) in self.pieces.iter().enumerate() {
            if let Some(e) = expect {
                if p.stream_offset != e {
                    runs.push(start..p.data_offset);
                    start = p.data_offset;
                }
            }
            let end = self
                .pieces
                .get(i + 1)
                .map(|n| n.data_offset)
                .unwrap_or(self.data.len());
            expect = Some(p.stream_offset + (end - p.data_offset) as u64);
        }
        if start < self.data.len() {
            runs.push(start..self.data.len());
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StreamData {
        // 0..4 from packet t=1, 4..6 from t=2, gap of 10 bytes, then 6..9 at stream 16.
        StreamData {
            data: (0u8..9).collect(),
            pieces: vec![
                Piece {
                    stream_offset: 0,
                    data_offset: 0,
                    ts_ns: 1,
                },
                Piece {
                    stream_offset: 4,
                    data_offset: 4,
                    ts_ns: 2,
                },
                Piece {
                    stream_offset: 16,
                    data_offset: 6,
                    ts_ns: 3,
                },
            ],
            gaps: vec![(6, 10)],
            ..Default::default()
        }
    }

    #[test]
    fn ts_lookup() {
        let s = sample();
        assert_eq!(s.ts_at(0), Some(1));
        assert_eq!(s.ts_at(3), Some(1));
        assert_eq!(s.ts_at(4), Some(2));
        assert_eq!(s.ts_at(8), Some(3));
        assert_eq!(StreamData::default().ts_at(0), None);
    }

    #[test]
    fn runs_split_at_gaps() {
        let s = sample();
        assert_eq!(s.contiguous_runs(), vec![0..6, 6..9]);
        assert_eq!(s.first_gap_data_index(), Some(6));
        let mut no_gap = sample();
        no_gap.pieces.pop();
        no_gap.data.truncate(6);
        no_gap.gaps.clear();
        assert_eq!(no_gap.contiguous_runs(), vec![0..6]);
        assert_eq!(no_gap.first_gap_data_index(), None);
    }
}
