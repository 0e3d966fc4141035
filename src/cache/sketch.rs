//! The frequency sketch behind TinyLFU admission: how often has a key been asked for lately?
//!
//! A Count-Min sketch of 4-bit counters, four rows, laid out so that one key's four counters
//! share a 64-byte block (one cache miss per increment or estimate). In front of it sits a
//! *doorkeeper*, a bloom filter that absorbs the first occurrence of each key, so one-time
//! keys (most of a scan) never reach the counters. After `sample` increments every counter is
//! halved and the doorkeeper cleared (*aging*), so the sketch follows a changing workload.
//!
//! Estimates never undercount the increments since the last aging (before halving), and
//! collisions only overcount: the standard Count-Min guarantee.

/// Counters saturate here.
const MAX_COUNT: u64 = 15;
/// Each word holds sixteen 4-bit counters.
const HALVE_MASK: u64 = 0x7777_7777_7777_7777;
/// Words per block: a 64-byte cache line.
const BLOCK_WORDS: usize = 8;

/// A Count-Min sketch with a doorkeeper and periodic aging.
#[derive(Debug)]
pub struct FrequencySketch {
    table: Vec<u64>,
    block_mask: usize,
    door: Vec<u64>,
    door_mask: u64,
    additions: u32,
    sample: u32,
}

impl FrequencySketch {
    /// A sketch sized for a cache of about `entries` entries.
    pub fn new(entries: usize) -> Self {
        let entries = entries.clamp(16, 1 << 26);
        // Four counters per key in one block of 128 counters: one block per 32 entries.
        let blocks = (entries / 32).next_power_of_two().max(1);
        let door_bits = (entries * 8).next_power_of_two().max(64);
        FrequencySketch {
            table: vec![0; blocks * BLOCK_WORDS],
            block_mask: blocks - 1,
            door: vec![0; door_bits / 64],
            door_mask: door_bits as u64 - 1,
            additions: 0,
            sample: (entries * 10).min(u32::MAX as usize) as u32,
        }
    }

    /// The (word, shift) of each of `hash`'s four counters.
    fn slots(&self, hash: u64) -> [(usize, u32); 4] {
        let block = (hash as usize & self.block_mask) * BLOCK_WORDS;
        let h = hash.rotate_right(32);
        let mut out = [(0, 0); 4];
        for (row, slot) in out.iter_mut().enumerate() {
            let bits = h >> (row * 8);
            // Row `row` owns words 2*row and 2*row+1 of the block.
            let word = block + row * 2 + (bits & 1) as usize;
            let shift = ((bits >> 1) & 15) as u32 * 4;
            *slot = (word, shift);
        }
        out
    }

    fn door_bits(&self, hash: u64) -> [u64; 2] {
        let h = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        [h & self.door_mask, (h >> 32) & self.door_mask]
    }

    fn door_contains(&self, hash: u64) -> bool {
        self.door_bits(hash)
            .iter()
            .all(|&b| self.door[(b / 64) as usize] & (1 << (b % 64)) != 0)
    }

    /// Starts loading the cache lines an [`increment`](Self::increment) or
    /// [`estimate`](Self::estimate) of `hash` reads: the doorkeeper's two words and the
    /// counters' block (a hint, for a caller with other misses to overlap them with).
    pub fn prefetch(&self, hash: u64) {
        for b in self.door_bits(hash) {
            crate::prefetch::prefetch(&self.door[(b / 64) as usize]);
        }
        crate::prefetch::prefetch(&self.table[self.slots(hash)[0].0]);
    }

    /// Records one occurrence of `hash`.
    pub fn increment(&mut self, hash: u64) {
        if !self.door_contains(hash) {
            for b in self.door_bits(hash) {
                self.door[(b / 64) as usize] |= 1 << (b % 64);
            }
        } else {
            for (word, shift) in self.slots(hash) {
                let w = &mut self.table[word];
                if (*w >> shift) & MAX_COUNT < MAX_COUNT {
                    *w += 1 << shift;
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.age();
        }
    }

    /// The estimated recent frequency of `hash` (0..=16).
    pub fn estimate(&self, hash: u64) -> u32 {
        let counted = self
            .slots(hash)
            .iter()
            .map(|&(word, shift)| (self.table[word] >> shift) & MAX_COUNT)
            .min()
            .unwrap_or(0) as u32;
        counted + u32::from(self.door_contains(hash))
    }

    /// Halves every counter and clears the doorkeeper.
    fn age(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & HALVE_MASK;
        }
        self.door.fill(0);
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> u64 {
        super::super::tinylfu::mix(i)
    }

    #[test]
    fn counts_grow_and_saturate() {
        let mut s = FrequencySketch::new(1024);
        assert_eq!(s.estimate(h(1)), 0);
        s.increment(h(1));
        assert_eq!(
            s.estimate(h(1)),
            1,
            "the doorkeeper holds the first occurrence"
        );
        for _ in 0..5 {
            s.increment(h(1));
        }
        assert_eq!(s.estimate(h(1)), 6);
        for _ in 0..100 {
            s.increment(h(1));
        }
        assert_eq!(
            s.estimate(h(1)),
            16,
            "15 in the counters plus the doorkeeper"
        );
    }

    #[test]
    fn one_time_keys_barely_register() {
        let mut s = FrequencySketch::new(4096);
        for _ in 0..8 {
            s.increment(h(7));
        }
        for i in 1000..3000 {
            s.increment(h(i));
        }
        assert!(s.estimate(h(7)) >= 8);
        let high = (1000..3000).filter(|&i| s.estimate(h(i)) > 2).count();
        assert!(high < 20, "{high} one-time keys look frequent");
    }

    #[test]
    fn aging_halves_and_clears_the_doorkeeper() {
        let mut s = FrequencySketch::new(1024);
        for _ in 0..9 {
            s.increment(h(3));
        }
        assert_eq!(s.estimate(h(3)), 9);
        s.age();
        assert_eq!(s.estimate(h(3)), 4);
    }

    #[test]
    fn aging_runs_after_the_sample() {
        let mut s = FrequencySketch::new(16);
        for i in 0..u64::from(s.sample) {
            s.increment(h(i));
        }
        assert_eq!(s.additions, s.sample / 2);
    }
}
