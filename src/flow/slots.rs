//! A hash map sized for a million entries whose every byte is reserved in a
//! [`MemBudget`] before it is allocated: the flow table's connections.
//!
//! Entries live in fixed-size chunks that never move, so growing never copies them or
//! doubles their space (a `HashMap<K, V>` of 200-byte entries needs old and new slot
//! arrays together while it grows: three times the entries' size for a moment, and
//! still twice after). The hash index holds only a 4-byte slot number per bucket plus
//! hashbrown's control byte; a lookup compares the key in the slot it points to.
//! Growth of the index is reserved with the old and new arrays together (both exist
//! while it rehashes); a chunk is reserved whole, and a slot left by a removed entry is
//! reused (a free list threaded through the empty slots). Nothing is given back while
//! the map lives, like a `HashMap` that never shrinks.
//!
//! Iteration is in slot order, which depends on arrival and removal order only, never
//! on hash values; callers still keep it out of their output.

use std::hash::Hash;

use ahash::RandomState;
use hashbrown::HashTable;

use crate::flow::reassembly::MemBudget;

/// Bytes a chunk of slots is sized to fill: small enough that a table with a few
/// connections costs a few KB (tests give tables room for two), large enough that a
/// million connections are some 16 k allocations. A power of two, so a whole size class
/// in any allocator: mimalloc's classes are a quarter apart above 1 KiB, so a fixed 64
/// slots of 136 bytes (8704) would take a 10240-byte block, 24 bytes a slot unaccounted.
const CHUNK_TARGET: usize = 8 << 10;

/// End of the free list.
const NONE: u32 = u32::MAX;

enum Slot<K, V> {
    Used(K, V),
    /// Empty; the next empty slot.
    Free(u32),
}

/// Bytes of the index with `buckets` buckets: a `u32` slot number and a control byte per
/// bucket, plus a group of trailing control bytes and the alignment of the control
/// bytes after the numbers.
fn index_bytes(buckets: usize) -> usize {
    const GROUP: usize = 16;
    if buckets == 0 {
        return 0;
    }
    (buckets * std::mem::size_of::<u32>()).next_multiple_of(GROUP) + buckets + GROUP
}

/// Buckets behind an index of `capacity` (hashbrown keeps 1/8 free from 8 buckets up,
/// one bucket free below).
fn buckets_for_capacity(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=7 => capacity + 1,
        c => c / 7 * 8,
    }
}

/// A map from `K` to `V` whose memory is charged to a budget (see the module doc).
pub(crate) struct SlotMap<K, V> {
    /// Keyed with a random per-map seed (aHash): fast on the per-packet lookup, and an
    /// attacker cannot precompute colliding keys.
    hasher: RandomState,
    index: HashTable<u32>,
    chunks: Vec<Box<[Slot<K, V>]>>,
    free: u32,
    len: usize,
    /// Bytes reserved in the budget: the index, and the chunks.
    index_bytes: usize,
    index_buckets: usize,
    chunk_bytes: usize,
}

impl<K: Hash + Eq, V> SlotMap<K, V> {
    /// Slots per chunk: as many as fit in [`CHUNK_TARGET`] bytes (at least one).
    pub const PER_CHUNK: usize = {
        let n = CHUNK_TARGET / std::mem::size_of::<Slot<K, V>>();
        if n == 0 {
            1
        } else {
            n
        }
    };

    /// What one chunk costs: the block its slots take (the [`CHUNK_TARGET`] class they
    /// were sized to fill; the slots plus an allocator header beyond it), and its
    /// pointer in the chunk list (which grows by doubling: counted twice).
    pub const CHUNK_BYTES: usize = {
        let slots = Self::PER_CHUNK * std::mem::size_of::<Slot<K, V>>();
        let block = if slots <= CHUNK_TARGET {
            CHUNK_TARGET
        } else {
            slots + 16
        };
        block + 2 * std::mem::size_of::<usize>()
    };

    /// What the first entry of an empty map costs (a chunk, and an index of 4 buckets).
    #[cfg(test)]
    pub fn first_entry_bytes() -> usize {
        Self::CHUNK_BYTES + index_bytes(4)
    }

    pub fn new() -> Self {
        SlotMap {
            hasher: RandomState::new(),
            index: HashTable::new(),
            chunks: Vec::new(),
            free: NONE,
            len: 0,
            index_bytes: 0,
            index_buckets: 0,
            chunk_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes this map holds reserved in the budget.
    #[cfg(test)]
    pub fn reserved_bytes(&self) -> usize {
        self.index_bytes + self.chunk_bytes
    }

    /// What the index and chunks really hold (tests compare it with
    /// [`SlotMap::reserved_bytes`]).
    #[cfg(test)]
    pub fn allocated_bytes(&self) -> usize {
        self.index.allocation_size() + self.chunks.len() * Self::CHUNK_BYTES
    }

    fn slot(chunks: &[Box<[Slot<K, V>]>], i: u32) -> Option<&Slot<K, V>> {
        let i = i as usize;
        chunks.get(i / Self::PER_CHUNK)?.get(i % Self::PER_CHUNK)
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Slot<K, V>> {
        let i = i as usize;
        self.chunks
            .get_mut(i / Self::PER_CHUNK)?
            .get_mut(i % Self::PER_CHUNK)
    }

    fn hash_of(hasher: &RandomState, chunks: &[Box<[Slot<K, V>]>], i: u32) -> u64 {
        match Self::slot(chunks, i) {
            Some(Slot::Used(k, _)) => hasher.hash_one(k),
            _ => 0,
        }
    }

    fn find(&self, hash: u64, key: &K) -> Option<u32> {
        let chunks = &self.chunks;
        self.index
            .find(
                hash,
                |&i| matches!(Self::slot(chunks, i), Some(Slot::Used(k, _)) if k == key),
            )
            .copied()
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.find(self.hasher.hash_one(key), key)?;
        match self.slot_mut(i)? {
            Slot::Used(_, v) => Some(v),
            Slot::Free(_) => None,
        }
    }

    /// Make sure one more entry fits, reserving a grown index (old and new arrays
    /// together) or a new chunk in `budget` first. `false` (nothing reserved) when the
    /// budget cannot cover it.
    pub fn make_room(&mut self, budget: &mut MemBudget) -> bool {
        let grow_index = self.len >= self.index.capacity();
        let new_chunk = self.free == NONE;
        // `capacity()` is lowered by tombstones of removed entries, so the bucket count
        // is taken from the last growth (right after `reserve` there are none).
        let grown = if grow_index {
            index_bytes((self.index_buckets * 2).max(4))
        } else {
            0
        };
        let chunk = if new_chunk { Self::CHUNK_BYTES } else { 0 };
        if !budget.try_reserve_fixed(grown + chunk) {
            return false;
        }
        if grow_index {
            let (hasher, chunks) = (&self.hasher, &self.chunks);
            // Grows to twice the buckets, or (many tombstones) rehashes in place.
            self.index.reserve(1, |&i| Self::hash_of(hasher, chunks, i));
            self.index_buckets = buckets_for_capacity(self.index.capacity());
            let actual = index_bytes(self.index_buckets);
            budget.release_fixed(grown + self.index_bytes);
            // Cannot fail: `actual <= grown`, and `grown` was just reserved.
            let _ = budget.try_reserve_fixed(actual);
            self.index_bytes = actual;
        }
        if new_chunk {
            let base = self.chunks.len() * Self::PER_CHUNK;
            let Ok(top) = u32::try_from(base + Self::PER_CHUNK) else {
                budget.release_fixed(chunk);
                return false;
            };
            let next = |j: usize| {
                if j + 1 < Self::PER_CHUNK {
                    (base + j + 1) as u32
                } else {
                    NONE
                }
            };
            debug_assert!(top < NONE);
            self.chunks
                .push((0..Self::PER_CHUNK).map(|j| Slot::Free(next(j))).collect());
            self.free = base as u32;
            self.chunk_bytes += chunk;
        }
        true
    }

    /// Insert `key` (absent: the caller looked it up) after [`SlotMap::make_room`]
    /// returned `true`. `None` when there was no room.
    pub fn insert(&mut self, key: K, value: V) -> Option<&mut V> {
        let i = self.free;
        if i == NONE || self.len >= self.index.capacity() {
            return None;
        }
        let hash = self.hasher.hash_one(&key);
        let slot = self.slot_mut(i)?;
        let Slot::Free(next) = *slot else {
            return None;
        };
        *slot = Slot::Used(key, value);
        self.free = next;
        self.len += 1;
        let (hasher, chunks) = (&self.hasher, &self.chunks);
        // Room was made: this does not grow.
        self.index
            .insert_unique(hash, i, |&j| Self::hash_of(hasher, chunks, j));
        match self.slot_mut(i)? {
            Slot::Used(_, v) => Some(v),
            Slot::Free(_) => None,
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let hash = self.hasher.hash_one(key);
        let chunks = &self.chunks;
        let entry = self
            .index
            .find_entry(
                hash,
                |&i| matches!(Self::slot(chunks, i), Some(Slot::Used(k, _)) if k == key),
            )
            .ok()?;
        let (i, _) = entry.remove();
        let free = self.free;
        let slot = self.slot_mut(i)?;
        let Slot::Used(_, v) = std::mem::replace(slot, Slot::Free(free)) else {
            return None;
        };
        self.free = i;
        self.len -= 1;
        Some(v)
    }

    /// Remove the entry in slot `i` (from [`SlotMap::iter_slots`]).
    pub fn remove_slot(&mut self, i: u32) -> Option<(K, V)> {
        let Some(Slot::Used(key, _)) = Self::slot(&self.chunks, i) else {
            return None;
        };
        let hash = self.hasher.hash_one(key);
        self.index.find_entry(hash, |&j| j == i).ok()?.remove();
        let free = self.free;
        let slot = self.slot_mut(i)?;
        let Slot::Used(k, v) = std::mem::replace(slot, Slot::Free(free)) else {
            return None;
        };
        self.free = i;
        self.len -= 1;
        Some((k, v))
    }

    /// Entries with their slot numbers (4 bytes to remember one by, not a key).
    pub fn iter_slots(&self) -> impl Iterator<Item = (u32, &K, &V)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Used(k, v) => Some((i as u32, k, v)),
                Slot::Free(_) => None,
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .filter_map(|s| match s {
                Slot::Used(k, v) => Some((k, v)),
                Slot::Free(_) => None,
            })
    }

    /// Remove every entry, handing each to `f` (in slot order); the memory is kept.
    pub fn drain(&mut self, mut f: impl FnMut(K, V)) {
        self.index.clear();
        self.len = 0;
        self.free = NONE;
        // Thread the free list from the last slot back, so it hands out slot 0 first.
        for (c, chunk) in self.chunks.iter_mut().enumerate().rev() {
            for (j, slot) in chunk.iter_mut().enumerate().rev() {
                if let Slot::Used(k, v) = std::mem::replace(slot, Slot::Free(self.free)) {
                    f(k, v);
                }
                self.free = (c * Self::PER_CHUNK + j) as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_remove_reuse_and_charge() {
        let mut budget = MemBudget::new(1 << 20);
        let mut m: SlotMap<u32, u64> = SlotMap::new();
        for k in 0..1000u32 {
            assert!(m.make_room(&mut budget));
            assert_eq!(
                m.insert(k, u64::from(k) * 2).copied(),
                Some(u64::from(k) * 2)
            );
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(budget.used(), m.reserved_bytes());
        assert_eq!(m.reserved_bytes(), m.allocated_bytes());
        for k in (0..1000u32).step_by(2) {
            assert_eq!(m.remove(&k), Some(u64::from(k) * 2));
            assert_eq!(m.remove(&k), None);
        }
        assert_eq!(m.get_mut(&3).copied(), Some(6));
        assert!(m.get_mut(&4).is_none());
        let before = m.reserved_bytes();
        for k in 2000..2500u32 {
            assert!(m.make_room(&mut budget));
            m.insert(k, 1);
        }
        assert_eq!(m.reserved_bytes(), before, "freed slots are reused");
        assert_eq!(m.reserved_bytes(), m.allocated_bytes());
        assert_eq!(m.iter().count(), 1000);
        let (i, _, _) = m.iter_slots().find(|(_, k, _)| **k == 2001).unwrap();
        assert_eq!(m.remove_slot(i), Some((2001, 1)));
        assert!(m.get_mut(&2001).is_none() && m.remove_slot(i).is_none());
        m.insert(2001, 1);
        let mut n = 0;
        m.drain(|_, _| n += 1);
        assert_eq!((n, m.len(), m.iter().count()), (1000, 0, 0));
        assert!(m.make_room(&mut budget));
        assert!(m.insert(7, 7).is_some());
        assert_eq!(m.get_mut(&7).copied(), Some(7));
    }

    #[test]
    fn budget_binds() {
        let mut budget = MemBudget::new(SlotMap::<u32, u64>::first_entry_bytes());
        let mut m: SlotMap<u32, u64> = SlotMap::new();
        assert!(m.make_room(&mut budget));
        m.insert(1, 1);
        let mut k = 2;
        while m.make_room(&mut budget) {
            m.insert(k, 1);
            k += 1;
        }
        assert!(m.len() >= 3 && m.len() < SlotMap::<u32, u64>::PER_CHUNK);
        assert!(budget.used() <= budget.limit());
        assert_eq!(m.reserved_bytes(), m.allocated_bytes());
    }
}
