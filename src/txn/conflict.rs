//! Read and write sets, and the exact conflict check between them.
//!
//! A read set holds the exact keys a transaction read (a get that found nothing included)
//! and every range it scanned (range, prefix and full scans: the whole requested range,
//! however far the iteration went). A committed write set holds the keys written, sorted,
//! and their hashes. Hashes only filter: a hash match is confirmed against the key itself,
//! and ranges are answered by a sorted lookup, so there are no false conflicts from
//! collisions and no missed phantoms (RELIABILITY rule 9; Badger keeps hashes only).

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;

use crate::iter::db_iter::range_is_empty;
use crate::sstable::filter::key_hash;

/// A scanned key range.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// What a transaction read.
#[derive(Debug, Default, Clone)]
pub struct ReadSet {
    keys: BTreeSet<Vec<u8>>,
    ranges: Vec<KeyRange>,
}

impl ReadSet {
    /// Records a point read.
    pub fn add_key(&mut self, key: &[u8]) {
        if !self.keys.contains(key) {
            self.keys.insert(key.to_vec());
        }
    }

    /// Records a scanned range.
    pub fn add_range(&mut self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) {
        self.ranges.push((lo, hi));
    }

    /// True when nothing was read.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ranges.is_empty()
    }
}

/// What a committed transaction wrote.
#[derive(Debug, Default, Clone)]
pub struct WriteSet {
    keys: BTreeSet<Vec<u8>>,
    hashes: HashSet<u64>,
}

impl WriteSet {
    /// A write set of `keys`.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a Vec<u8>>) -> Self {
        let mut w = WriteSet::default();
        for k in keys {
            w.hashes.insert(key_hash(k));
            w.keys.insert(k.clone());
        }
        w
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// True when `write` changed anything `read` depends on.
pub fn conflicts(read: &ReadSet, write: &WriteSet) -> bool {
    let key_hit = read
        .keys
        .iter()
        .any(|k| write.hashes.contains(&key_hash(k)) && write.keys.contains(k));
    key_hit
        || read.ranges.iter().any(|(lo, hi)| {
            !range_is_empty(lo, hi)
                && write
                    .keys
                    .range::<Vec<u8>, _>((lo.as_ref(), hi.as_ref()))
                    .next()
                    .is_some()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(keys: &[&str]) -> WriteSet {
        let v: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
        WriteSet::new(&v)
    }

    #[test]
    fn keys_and_ranges() {
        let mut r = ReadSet::default();
        r.add_key(b"a");
        assert!(conflicts(&r, &ws(&["a"])));
        assert!(!conflicts(&r, &ws(&["b"])));
        r.add_range(
            Bound::Included(b"m".to_vec()),
            Bound::Excluded(b"p".to_vec()),
        );
        assert!(conflicts(&r, &ws(&["n"])), "a phantom in a scanned range");
        assert!(!conflicts(&r, &ws(&["p"])), "excluded end");
        assert!(conflicts(&r, &ws(&["m"])), "included start");
        let mut e = ReadSet::default();
        e.add_range(
            Bound::Included(b"z".to_vec()),
            Bound::Excluded(b"a".to_vec()),
        );
        assert!(
            !conflicts(&e, &ws(&["m"])),
            "an empty range conflicts with nothing"
        );
        let mut all = ReadSet::default();
        all.add_range(Bound::Unbounded, Bound::Unbounded);
        assert!(conflicts(&all, &ws(&["anything"])));
        assert!(!conflicts(&all, &ws(&[])));
    }
}
