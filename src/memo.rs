//! A small bounded memo for pure functions of a byte string, one per parser thread.
//!
//! The parser pool sees the same inputs again and again: one site's certificate chain
//! on every connection to it, one client build's ClientHello parameters on every
//! connection it makes. [`ByteMemo`] keeps recent results keyed by the exact input
//! bytes: a fast hash picks the slot and the stored key is compared byte for byte
//! before a result is reused, so a hash collision can never hand out a wrong value.
//! Its size is bounded ([`ByteMemo::new`]'s `limit`, in key plus value bytes); when
//! full it starts over. Nothing is lost either way: an input not found is computed.

use std::collections::HashMap;
use std::hash::BuildHasher;

/// Approximate heap bytes of a memoized value, for the memo's bound.
pub trait MemoSize {
    fn memo_bytes(&self) -> usize;
}

impl MemoSize for String {
    fn memo_bytes(&self) -> usize {
        self.len()
    }
}

/// Recent `input bytes → value` results, at most `limit` bytes of keys and values.
pub struct ByteMemo<V, S = ahash::RandomState> {
    map: HashMap<u64, (Box<[u8]>, V)>,
    bytes: usize,
    limit: usize,
    state: S,
    starts_over: u64,
}

impl<V: Clone + MemoSize> ByteMemo<V> {
    pub fn new(limit: usize) -> Self {
        Self::with_hasher(limit, ahash::RandomState::new())
    }
}

impl<V: Clone + MemoSize, S: BuildHasher> ByteMemo<V, S> {
    /// A memo whose slots are picked by `state` (tests force collisions with it).
    pub fn with_hasher(limit: usize, state: S) -> Self {
        ByteMemo {
            map: HashMap::new(),
            bytes: 0,
            limit,
            state,
            starts_over: 0,
        }
    }

    /// The value for `key`: the stored one if `key` was seen (byte for byte), else
    /// `compute()`, stored when it fits the bound.
    pub fn get_or_insert_with(&mut self, key: &[u8], compute: impl FnOnce() -> V) -> V {
        let slot = self.state.hash_one(key);
        if let Some((seen, value)) = self.map.get(&slot) {
            if **seen == *key {
                return value.clone();
            }
        }
        let value = compute();
        let cost = key.len() + value.memo_bytes();
        if cost <= self.limit {
            if self.bytes + cost > self.limit {
                self.map.clear();
                self.bytes = 0;
                self.starts_over += 1;
            }
            if let Some((old_key, old)) = self.map.insert(slot, (key.into(), value.clone())) {
                self.bytes -= old_key.len() + old.memo_bytes();
            }
            self.bytes += cost;
        }
        value
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Key and value bytes held (at most the limit).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Times the memo was full and started over.
    pub fn starts_over(&self) -> u64 {
        self.starts_over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_only_exact_keys_and_stays_bounded() {
        let mut m: ByteMemo<String> = ByteMemo::new(64);
        let mut calls = 0;
        for k in [&b"abcd"[..], b"abcd", b"abce"] {
            let v = m.get_or_insert_with(k, || {
                calls += 1;
                format!("v{}", k.len())
            });
            assert_eq!(v, "v4");
        }
        assert_eq!(calls, 2, "the second lookup of the same key is a hit");
        assert_eq!(m.len(), 2);
        assert_eq!(m.bytes(), 2 * (4 + 2));

        // Filling past the limit starts over instead of growing.
        for i in 0..100u8 {
            m.get_or_insert_with(&[i; 10], || "x".repeat(10));
            assert!(m.bytes() <= 64);
        }
        assert!(m.starts_over() > 0);
        // A value larger than the whole limit is computed but never stored.
        let big = [7u8; 100];
        assert_eq!(m.get_or_insert_with(&big, || "big".into()), "big");
        assert!(m.bytes() <= 64);
    }

    /// Every key in one slot: a different key is computed, never answered with the
    /// value stored for another.
    #[test]
    fn a_colliding_key_is_never_answered_from_the_memo() {
        #[derive(Default)]
        struct OneSlot;
        impl std::hash::Hasher for OneSlot {
            fn finish(&self) -> u64 {
                7
            }
            fn write(&mut self, _: &[u8]) {}
        }
        let mut m: ByteMemo<String, _> =
            ByteMemo::with_hasher(1 << 10, std::hash::BuildHasherDefault::<OneSlot>::default());
        for i in 0..50u16 {
            let k = i.to_be_bytes();
            assert_eq!(m.get_or_insert_with(&k, || i.to_string()), i.to_string());
            // The slot now holds key i: asking again is a hit, asking for i+1 is not.
            assert_eq!(
                m.get_or_insert_with(&k, || "recomputed".into()),
                i.to_string()
            );
            assert_eq!(m.len(), 1);
        }
    }
}
