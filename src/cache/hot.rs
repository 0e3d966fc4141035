//! The hot-key cache: recently read key/value pairs served to point reads at the latest
//! state before any memtable or table is consulted (NoKV's "hot ring", with W-TinyLFU
//! admission so that only keys read again and again stay).
//!
//! Correctness rests on one order and one mark:
//! - the write path calls [`HotKeys::invalidate`] for every key it writes *before* the
//!   write's sequence number becomes visible, so once a reader can see a write, the old value
//!   is gone from the cache;
//! - a reader that read a value at sequence `r` may only cache it while no write at a sequence
//!   above `r` has invalidated that key (a mark per hash bucket, kept under the key's shard
//!   lock), so a reader that lost a race with a writer cannot put the old value back.
//!
//! Reads through a snapshot never use this cache. Values are copied in, so a cached value
//! never pins a whole table block.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::tinylfu::{CacheCounters, TinyLfu};

/// Per-entry charge on top of key and value bytes: the slab node, the map slot and two
/// allocations' headers.
const ENTRY_OVERHEAD_BYTES: u64 = 160;
/// Invalidation marks; keys sharing a mark only make each other's insertions fail more often.
const MARKS: usize = 1 << 14;

/// A cache of recently read key/value pairs.
pub struct HotKeys {
    cache: TinyLfu<Bytes, Bytes>,
    /// Highest sequence number that invalidated a key of this bucket.
    marks: Box<[AtomicU64]>,
}

impl std::fmt::Debug for HotKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotKeys")
            .field("counters", &self.cache.counters())
            .finish()
    }
}

impl HotKeys {
    /// A cache of at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        HotKeys {
            cache: TinyLfu::new(capacity as u64, 256),
            marks: (0..MARKS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn mark(&self, hash: u64) -> &AtomicU64 {
        &self.marks[hash as usize & (MARKS - 1)]
    }

    /// The latest value of `key`, if cached.
    pub fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.cache.get(key)
    }

    /// Caches `value` for `key`, read at sequence number `read_seq`, unless a write after
    /// `read_seq` invalidated the key meanwhile.
    pub fn insert(&self, key: &[u8], value: &[u8], read_seq: u64) {
        self.cache.with_shard_of(key, |shard| {
            // Relaxed: the shard lock orders this against `invalidate` of the same key.
            if self.mark(shard.hash()).load(Ordering::Relaxed) <= read_seq {
                let weight = (key.len() + value.len()) as u64 + ENTRY_OVERHEAD_BYTES;
                shard.insert(
                    Bytes::copy_from_slice(key),
                    Bytes::copy_from_slice(value),
                    weight,
                );
            }
        });
    }

    /// Drops `key` and refuses values read before `seq` from now on. Call before the write
    /// at `seq` becomes visible.
    pub fn invalidate(&self, key: &[u8], seq: u64) {
        self.cache.with_shard_of(key, |shard| {
            self.mark(shard.hash()).fetch_max(seq, Ordering::Relaxed);
            shard.remove(key);
        });
    }

    /// Hits, misses, evictions and bytes so far.
    pub fn counters(&self) -> CacheCounters {
        self.cache.counters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_invalidates_and_a_stale_reader_cannot_refill() {
        let h = HotKeys::new(1 << 20);
        h.insert(b"k", b"v1", 5);
        assert_eq!(h.get(b"k").as_deref(), Some(&b"v1"[..]));
        // A write at 7 invalidates; a reader that read at 6 (before it) tries to cache.
        h.invalidate(b"k", 7);
        assert_eq!(h.get(b"k"), None);
        h.insert(b"k", b"v1", 6);
        assert_eq!(h.get(b"k"), None, "a value older than the write came back");
        // A reader at 7 saw the write: its value may be cached.
        h.insert(b"k", b"v2", 7);
        assert_eq!(h.get(b"k").as_deref(), Some(&b"v2"[..]));
        let c = h.counters();
        assert_eq!((c.hits, c.entries), (2, 1));
    }
}
