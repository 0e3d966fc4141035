//! A lock-free bloom filter over a memtable's user keys, so that point reads for keys that
//! live in tables skip the skiplist walk (its cache misses were the largest cost of a read).
//!
//! Bits are set with `fetch_or` before the entry is inserted and published; a reader that
//! observed the published sequence number (an `Acquire` load) sees them. Each key's probes
//! stay inside one 64-byte line, as in the table filters, with the same frozen key hash.

use std::sync::atomic::{AtomicU64, Ordering};

const LINE_WORDS: usize = 8;
const PROBES: u32 = 6;

/// The filter.
#[derive(Debug)]
pub struct MemBloom {
    words: Box<[AtomicU64]>,
    lines: usize,
}

impl MemBloom {
    /// A filter of about `bytes` bytes (at least one line).
    pub fn new(bytes: usize) -> Self {
        let lines = (bytes / (LINE_WORDS * 8)).max(1);
        MemBloom {
            words: (0..lines * LINE_WORDS).map(|_| AtomicU64::new(0)).collect(),
            lines,
        }
    }

    fn probes(&self, h: u64) -> (usize, impl Iterator<Item = u32>) {
        let line = (((h >> 32) * self.lines as u64) >> 32) as usize;
        let mut a = h as u32;
        let b = ((h >> 17) as u32) | 1;
        (
            line * LINE_WORDS,
            (0..PROBES).map(move |_| {
                let bit = a % 512;
                a = a.wrapping_add(b);
                bit
            }),
        )
    }

    /// Records a key hash.
    pub fn insert(&self, h: u64) {
        let (base, bits) = self.probes(h);
        for bit in bits {
            self.words[base + (bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// False when no key with this hash was inserted.
    pub fn may_contain(&self, h: u64) -> bool {
        let (base, mut bits) = self.probes(h);
        bits.all(|bit| {
            self.words[base + (bit / 64) as usize].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::filter::key_hash;

    #[test]
    fn no_false_negatives() {
        let b = MemBloom::new(64 << 10);
        for i in 0..20_000u32 {
            b.insert(key_hash(&i.to_le_bytes()));
        }
        for i in 0..20_000u32 {
            assert!(b.may_contain(key_hash(&i.to_le_bytes())));
        }
        let fp = (20_000..120_000u32)
            .filter(|i| b.may_contain(key_hash(&i.to_le_bytes())))
            .count();
        assert!(fp < 5_000, "{fp} false positives in 100000");
    }
}
