//! Counters for everything that is dropped, truncated, capped or malformed.
//!
//! Every layer reports exceptional events by a short stable reason name
//! (`"decode.ipv4_bad_header"`, `"reasm.depth_limit"`, ...). The hot path only
//! touches the plain `u64` fields; reason counters are bumped on the rare paths, so a
//! `BTreeMap` keyed by `&'static str` is cheap enough and keeps the summary sorted.
//! Counters are owned by one thread and merged at the end, never shared.

use std::collections::BTreeMap;

/// Event counters keyed by a stable reason name (`layer.reason`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    map: BTreeMap<&'static str, u64>,
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Count one occurrence of `reason`.
    #[inline]
    pub fn bump(&mut self, reason: &'static str) {
        self.add(reason, 1);
    }

    #[inline]
    pub fn add(&mut self, reason: &'static str, n: u64) {
        if n != 0 {
            *self.map.entry(reason).or_insert(0) += n;
        }
    }

    pub fn get(&self, reason: &str) -> u64 {
        self.map.get(reason).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.map {
            self.add(k, *v);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.map.iter().map(|(k, v)| (*k, *v))
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_merge_and_iterate_sorted() {
        let mut a = Counters::new();
        a.bump("b.x");
        a.add("a.y", 3);
        a.add("zero", 0);
        let mut b = Counters::new();
        b.bump("b.x");
        a.merge(&b);
        assert_eq!(a.get("b.x"), 2);
        assert_eq!(a.get("zero"), 0);
        let v: Vec<_> = a.iter().collect();
        assert_eq!(v, vec![("a.y", 3), ("b.x", 2)]);
    }
}
