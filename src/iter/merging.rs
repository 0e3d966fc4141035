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
    /// Which of heap positions 1 and 2 holds the next entry after the top, while known.
    /// Only the top moves on most steps (a scan mostly walks one source), so the order of
    /// the two below it holds until the heap is reshaped: keeping it makes such a step one
    /// comparison instead of two.
    runner_up: Option<usize>,
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
            runner_up: None,
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

    /// Restores the heap after the top's source moved on (and is still valid).
    fn sift_top(&mut self) {
        let c = match self.heap.len() {
            0 | 1 => return,
            2 => 1,
            _ => match self.runner_up {
                Some(c) => c,
                None => {
                    let c = if self.before(self.heap[2], self.heap[1]) {
                        2
                    } else {
                        1
                    };
                    self.runner_up = Some(c);
                    c
                }
            },
        };
        if self.before(self.heap[c], self.heap[0]) {
            self.heap.swap(0, c);
            self.runner_up = None;
            self.sift_down(c);
        }
    }

    fn rebuild(&mut self) {
        self.runner_up = None;
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

    /// The index (into the children, newest first) of the source the current entry is
    /// from.
    pub fn source(&self) -> usize {
        self.heap[0]
    }

    /// The current value.
    pub fn value_bytes(&self) -> Bytes {
        self.children[self.heap[0]].value_bytes()
    }

    /// The current value, borrowed.
    pub fn value(&self) -> &[u8] {
        self.children[self.heap[0]].value()
    }

    /// Replaces every source that ran out with an empty one, so that what it holds (a
    /// table kept open, and so not yet deleted) goes now. For one-pass merges (a
    /// compaction): a source dropped this way is not read again if the merge is positioned
    /// anew.
    pub fn release_exhausted(&mut self) {
        for c in &mut self.children {
            if !c.valid() {
                *c = Box::new(Exhausted);
            }
        }
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
        if self.children[top].valid() {
            self.sift_top();
        } else {
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
            self.runner_up = None;
            self.sift_down(0);
        }
        Ok(())
    }
}

/// A source with no entries (what [`MergingIter::release_exhausted`] leaves).
struct Exhausted;

impl InternalIterator for Exhausted {
    fn valid(&self) -> bool {
        false
    }
    fn key(&self) -> &[u8] {
        &[]
    }
    fn value(&self) -> &[u8] {
        &[]
    }
    fn seek_to_first(&mut self) -> Result<()> {
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        Ok(())
    }
    fn seek(&mut self, _target: &[u8]) -> Result<()> {
        Ok(())
    }
    fn seek_for_prev(&mut self, _target: &[u8]) -> Result<()> {
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::key::{make_internal_key, user_key, Kind};
    use crate::memtable::Memtable;

    /// Sources of random sizes and overlaps (keys shared across sources at different
    /// sequence numbers included), merged both ways from the ends and from random targets,
    /// against a sort of everything. The seed is in every failure message.
    #[test]
    fn random_sources_merge_in_order() {
        for seed in 1..=40u64 {
            let mut rnd = crate::testing::seeded_rng(seed);
            let sources = 1 + rnd(5) as usize;
            let mut all = Vec::new();
            let mems: Vec<Arc<Memtable>> = (0..sources)
                .map(|i| Arc::new(Memtable::new(i as u64, 1 << 20)))
                .collect();
            let mut seq = 0;
            for m in &mems {
                // Sources of very different sizes, as levels are.
                for _ in 0..rnd(200) * rnd(4) {
                    seq += 1;
                    let k = format!("k{:04}", rnd(300));
                    m.add(seq, Kind::Put, k.as_bytes(), b"v");
                    all.push(make_internal_key(k.as_bytes(), seq, Kind::Put as u8));
                }
            }
            all.sort_by(|a, b| compare_internal(a, b));
            let kids = || -> Vec<Box<dyn InternalIterator>> {
                mems.iter()
                    .map(|m| Box::new(m.iter()) as Box<dyn InternalIterator>)
                    .collect()
            };
            let walk = |dir: Direction, target: Option<&[u8]>| {
                let mut it = MergingIter::new(kids(), dir);
                it.position(target).unwrap();
                let mut out = Vec::new();
                while it.valid() {
                    out.push(it.key().to_vec());
                    it.advance().unwrap();
                }
                out
            };
            assert_eq!(walk(Direction::Forward, None), all, "seed {seed}");
            let mut rev = all.clone();
            rev.reverse();
            assert_eq!(walk(Direction::Backward, None), rev, "seed {seed}");
            for _ in 0..5 {
                let t = make_internal_key(format!("k{:04}", rnd(310)).as_bytes(), rnd(seq + 2), 1);
                let from = all.partition_point(|k| compare_internal(k, &t).is_lt());
                assert_eq!(
                    walk(Direction::Forward, Some(&t)),
                    all[from..],
                    "seed {seed}"
                );
                let upto = all.partition_point(|k| compare_internal(k, &t).is_le());
                let mut back = all[..upto].to_vec();
                back.reverse();
                assert_eq!(walk(Direction::Backward, Some(&t)), back, "seed {seed}");
            }
        }
    }

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
