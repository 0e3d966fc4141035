//! Merges sorted sources in one direction with a binary heap.
//!
//! Forward merges yield the smallest internal key first; backward merges the largest. Ties
//! (which well-formed sources do not produce) go to the lower-numbered, newer source.

use std::cmp::Ordering;

use bytes::Bytes;

use super::InternalIterator;
use crate::error::Result;
use crate::key::compare_internal;

/// Which way a merge moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Backward,
}

/// A one-directional merge of sources ordered newest first.
pub struct MergingIter {
    children: Vec<Box<dyn InternalIterator>>,
    heap: Vec<usize>,
    dir: Direction,
}

impl std::fmt::Debug for MergingIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergingIter")
            .field("children", &self.children.len())
            .field("dir", &self.dir)
            .finish()
    }
}

impl MergingIter {
    /// A merge over `children` (newest first).
    pub fn new(children: Vec<Box<dyn InternalIterator>>, dir: Direction) -> Self {
        MergingIter {
            heap: Vec::with_capacity(children.len()),
            children,
            dir,
        }
    }

    /// True when `a` should come out before `b`.
    fn before(&self, a: usize, b: usize) -> bool {
        let o = compare_internal(self.children[a].key(), self.children[b].key());
        let o = match self.dir {
            Direction::Forward => o,
            Direction::Backward => o.reverse(),
        };
        o == Ordering::Less || (o == Ordering::Equal && a < b)
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let c = if r < n && self.before(self.heap[r], self.heap[l]) {
                r
            } else {
                l
            };
            if self.before(self.heap[c], self.heap[i]) {
                self.heap.swap(c, i);
                i = c;
            } else {
                return;
            }
        }
    }

    fn rebuild(&mut self) {
        self.heap.clear();
        self.heap
            .extend((0..self.children.len()).filter(|&i| self.children[i].valid()));
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    /// Positions every source: forward at the first key >= `target` (or the first key),
    /// backward at the last key <= `target` (or the last key).
    ///
    /// # Errors
    ///
    /// The first source error.
    pub fn position(&mut self, target: Option<&[u8]>) -> Result<()> {
        for c in &mut self.children {
            match (self.dir, target) {
                (Direction::Forward, Some(t)) => c.seek(t)?,
                (Direction::Forward, None) => c.seek_to_first()?,
                (Direction::Backward, Some(t)) => c.seek_for_prev(t)?,
                (Direction::Backward, None) => c.seek_to_last()?,
            }
        }
        self.rebuild();
        Ok(())
    }

    /// True when on an entry.
    pub fn valid(&self) -> bool {
        !self.heap.is_empty()
    }

    /// The current internal key.
    pub fn key(&self) -> &[u8] {
        self.children[self.heap[0]].key()
    }

    /// The current value.
    pub fn value_bytes(&self) -> Bytes {
        self.children[self.heap[0]].value_bytes()
    }

    /// The current value, borrowed.
    pub fn value(&self) -> &[u8] {
        self.children[self.heap[0]].value()
    }

    /// Moves one entry on in this merge's direction.
    ///
    /// # Errors
    ///
    /// The source's error.
    pub fn advance(&mut self) -> Result<()> {
        let top = self.heap[0];
        match self.dir {
            Direction::Forward => self.children[top].next()?,
            Direction::Backward => self.children[top].prev()?,
        }
        if !self.children[top].valid() {
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
        }
        self.sift_down(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::key::{make_internal_key, user_key, Kind};
    use crate::memtable::Memtable;

    #[test]
    fn merges_both_ways() {
        let a = Arc::new(Memtable::new(1, 1 << 20));
        let b = Arc::new(Memtable::new(2, 1 << 20));
        for i in 0..50u32 {
            let m = if i % 3 == 0 { &a } else { &b };
            m.add(
                u64::from(i) + 1,
                Kind::Put,
                format!("k{i:03}").as_bytes(),
                b"v",
            );
        }
        let kids =
            || -> Vec<Box<dyn InternalIterator>> { vec![Box::new(a.iter()), Box::new(b.iter())] };
        let mut f = MergingIter::new(kids(), Direction::Forward);
        f.position(None).unwrap();
        let mut n = 0;
        while f.valid() {
            assert_eq!(user_key(f.key()), format!("k{n:03}").as_bytes());
            n += 1;
            f.advance().unwrap();
        }
        assert_eq!(n, 50);
        let mut r = MergingIter::new(kids(), Direction::Backward);
        r.position(Some(&make_internal_key(b"k025", 0, 0))).unwrap();
        assert_eq!(user_key(r.key()), b"k025");
        r.advance().unwrap();
        assert_eq!(user_key(r.key()), b"k024");
    }
}
