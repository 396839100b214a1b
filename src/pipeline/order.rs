//! Reorder buffer: items (the parser pool's batches) arrive in any order and leave in
//! (file index, number) order. A file is complete once its capture thread reported how
//! many items it numbered and that many have left.

use std::collections::BTreeMap;

pub struct Reorder<T> {
    next_file: usize,
    next_seq: u64,
    totals: Vec<Option<u64>>,
    pending: BTreeMap<(usize, u64), T>,
}

impl<T> Reorder<T> {
    pub fn new(files: usize) -> Self {
        Reorder {
            next_file: 0,
            next_seq: 0,
            totals: vec![None; files],
            pending: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, file: usize, seq: u64, item: T) {
        self.pending.insert((file, seq), item);
    }

    pub fn file_done(&mut self, file: usize, total: u64) {
        if let Some(t) = self.totals.get_mut(file) {
            *t = Some(total);
        }
    }

    /// Hand every item that is next in order to `sink`.
    pub fn drain<E>(&mut self, mut sink: impl FnMut(T) -> Result<(), E>) -> Result<(), E> {
        while self.next_file < self.totals.len() {
            if self.totals[self.next_file] == Some(self.next_seq) {
                self.next_file += 1;
                self.next_seq = 0;
                continue;
            }
            match self.pending.remove(&(self.next_file, self.next_seq)) {
                Some(item) => {
                    self.next_seq += 1;
                    sink(item)?;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// Items still held (non-zero only if a producer broke its numbering).
    pub fn leftover(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_all(r: &mut Reorder<&'static str>) -> Vec<&'static str> {
        let mut v = Vec::new();
        r.drain(|x| -> Result<(), ()> {
            v.push(x);
            Ok(())
        })
        .unwrap();
        v
    }

    #[test]
    fn emits_in_file_then_seq_order() {
        let mut r = Reorder::new(2);
        r.push(1, 0, "b0");
        r.push(0, 1, "a1");
        assert!(drain_all(&mut r).is_empty());
        r.push(0, 0, "a0");
        assert_eq!(drain_all(&mut r), vec!["a0", "a1"]);
        // File 1 waits until file 0 is known to be complete.
        assert!(drain_all(&mut r).is_empty());
        r.file_done(0, 2);
        assert_eq!(drain_all(&mut r), vec!["b0"]);
        r.file_done(1, 1);
        assert!(drain_all(&mut r).is_empty());
        assert_eq!(r.leftover(), 0);
    }

    #[test]
    fn empty_files_are_skipped() {
        let mut r = Reorder::new(3);
        r.push(2, 0, "c0");
        r.file_done(1, 0);
        r.file_done(0, 0);
        assert_eq!(drain_all(&mut r), vec!["c0"]);
    }
}
