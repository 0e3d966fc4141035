//! Caches: the block cache (decompressed, checksum-verified data blocks and value-log values,
//! charged by bytes), built on this module's own W-TinyLFU ([`tinylfu`]); the table cache
//! ([`tables`]) bounding open table files; and the hot-key cache ([`hot`]) of recently read
//! key/value pairs.
//!
//! Block-cache keys are (file number, offset) of a table block or a value-log record: file
//! numbers are never reused within a database, so the two never collide. Why our own
//! W-TinyLFU and not `quick_cache` or `moka` is measured in `docs/ARCHITECTURE.md`
//! ("Choices and measurements") with `examples/cache_compare.rs`.

pub mod hot;
pub mod sketch;
pub mod tables;
pub mod tinylfu;

use bytes::Bytes;

use crate::error::Result;
use crate::sstable::block::Block;
use tinylfu::{CacheCounters, TinyLfu};

/// Fixed per-entry charge on top of the block's bytes (key, node, map slot).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

/// What the cache holds.
#[derive(Clone)]
enum Entry {
    Block(Block),
    Value(Bytes),
}

impl Entry {
    /// Bytes charged for the entry.
    fn weight(&self) -> u64 {
        let bytes = match self {
            Entry::Block(b) => b.size(),
            Entry::Value(v) => v.len(),
        };
        bytes as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// A byte-bounded cache of blocks and value-log values.
pub struct BlockCache {
    cache: TinyLfu<(u64, u64), Entry>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("counters", &self.counters())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding at most about `capacity_bytes` of blocks.
    pub fn new(capacity_bytes: usize) -> Self {
        BlockCache {
            cache: TinyLfu::new(capacity_bytes as u64, 4096),
        }
    }

    /// The cached block, or `load()`'s, which is then cached.
    ///
    /// # Errors
    ///
    /// `load`'s error; nothing is cached then.
    pub fn get_or_load(
        &self,
        table: u64,
        offset: u64,
        load: impl FnOnce() -> Result<Block>,
    ) -> Result<Block> {
        self.entry((table, offset), load, Entry::Block, |e| match e {
            Entry::Block(b) => Some(b),
            Entry::Value(_) => None,
        })
    }

    /// Drops every block of table `table` (once it is deleted nothing can read them, and
    /// they would hold their place, frequency and all, until evicted). This scans the whole
    /// cache: [`BlockCache::forget_block`] per block is cheaper when the offsets are known.
    pub fn forget_table(&self, table: u64) {
        self.cache.retain(|&(file, _)| file != table);
    }

    /// Offers the block a table builder just wrote at `offset` of table `table` (RocksDB's
    /// `prepopulate_block_cache`): recent writes are often read soon, and a flush or a
    /// compaction otherwise leaves every block of its outputs to miss once. The block
    /// enters like any newcomer, unread: while the cache has room it stays; once the cache
    /// is full it loses the admission contest against any block read since the frequency
    /// sketch last aged (unless a sketch collision overcounts it), so it displaces what
    /// readers use only in that rare case.
    pub fn offer_block(&self, table: u64, offset: u64, block: Block) {
        let entry = Entry::Block(block);
        let weight = entry.weight();
        self.cache.insert((table, offset), entry, weight);
    }

    /// True when the block of table `table` at `offset` is cached (counts as no access).
    pub fn contains_block(&self, table: u64, offset: u64) -> bool {
        self.cache.contains(&(table, offset))
    }

    /// Drops the block of table `table` at `offset`, if cached.
    pub fn forget_block(&self, table: u64, offset: u64) {
        self.cache.remove(&(table, offset));
    }

    /// The cached value of the value-log record at `offset` in file `file`, or `load()`'s,
    /// which is then cached.
    ///
    /// # Errors
    ///
    /// `load`'s error; nothing is cached then.
    pub fn get_or_load_value(
        &self,
        file: u64,
        offset: u64,
        load: impl FnOnce() -> Result<Bytes>,
    ) -> Result<Bytes> {
        self.entry((file, offset), load, Entry::Value, |e| match e {
            Entry::Value(v) => Some(v),
            Entry::Block(_) => None,
        })
    }

    /// Looks `key` up as a `T` (`unwrap` picks it out of an entry), else loads, wraps and
    /// caches it.
    fn entry<T: Clone>(
        &self,
        key: (u64, u64),
        load: impl FnOnce() -> Result<T>,
        wrap: impl FnOnce(T) -> Entry,
        unwrap: impl FnOnce(Entry) -> Option<T>,
    ) -> Result<T> {
        if let Some(v) = self.cache.get(&key).and_then(unwrap) {
            return Ok(v);
        }
        let v = load()?;
        let entry = wrap(v.clone());
        let weight = entry.weight();
        self.cache.insert(key, entry, weight);
        Ok(v)
    }

    /// Hits, misses, evictions and bytes so far.
    pub fn counters(&self) -> CacheCounters {
        self.cache.counters()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sstable::block::BlockBuilder;

    fn block(n: usize) -> Block {
        let mut b = BlockBuilder::new(16);
        b.add(b"k", &vec![0u8; n]);
        Block::new(Bytes::from(b.finish()), Path::new("t"), 0).unwrap()
    }

    #[test]
    fn a_forgotten_table_leaves_no_block_behind() {
        let c = BlockCache::new(1 << 20);
        for table in [1, 2, 3] {
            for off in 0..10 {
                c.get_or_load(table, off, || Ok(block(100))).unwrap();
            }
        }
        assert_eq!(c.counters().entries, 30);
        c.forget_table(2);
        assert_eq!(c.counters().entries, 20);
        c.forget_block(3, 9);
        assert_eq!(c.counters().entries, 19);
        c.get_or_load(3, 9, || Ok(block(100))).unwrap();
        let mut loads = 0;
        for table in [1, 2, 3] {
            for off in 0..10 {
                c.get_or_load(table, off, || {
                    loads += 1;
                    Ok(block(100))
                })
                .unwrap();
            }
        }
        assert_eq!(loads, 10, "only table 2's blocks were gone");
    }

    #[test]
    fn offered_blocks_fill_room_but_displace_read_ones_only_by_sketch_collisions() {
        // Blocks of the size the cache's frequency sketch is dimensioned for.
        let c = BlockCache::new(2 << 20);
        for off in 0..100 {
            c.offer_block(1, off, block(4000));
        }
        assert!(
            (0..100).all(|off| c.contains_block(1, off)),
            "kept while there is room"
        );
        assert_eq!(c.counters().hits + c.counters().misses, 0, "no access");
        // Fill the cache with blocks read twice, past its capacity.
        for off in 0..700 {
            for _ in 0..2 {
                c.get_or_load(2, off, || Ok(block(4000))).unwrap();
            }
        }
        let read: Vec<u64> = (0..700).filter(|&o| c.contains_block(2, o)).collect();
        assert!(read.len() > 400, "{} read blocks cached", read.len());
        for off in 0..700 {
            c.offer_block(3, off, block(4000));
        }
        // An offered block wins a contest only when the sketch overcounts it.
        let kept = read.iter().filter(|&&o| c.contains_block(2, o)).count();
        assert!(
            kept * 10 >= read.len() * 9,
            "{kept} of {} read blocks kept",
            read.len()
        );
        let offered = (0..700).filter(|&o| c.contains_block(3, o)).count();
        assert!(
            offered * 10 <= 700,
            "{offered} of 700 offered blocks cached"
        );
    }

    #[test]
    fn hits_misses_and_byte_bound() {
        let c = BlockCache::new(64 << 10);
        let mut loads = 0;
        for _ in 0..3 {
            c.get_or_load(1, 0, || {
                loads += 1;
                Ok(block(1000))
            })
            .unwrap();
        }
        let cs = c.counters();
        assert_eq!((loads, cs.hits, cs.misses), (1, 2, 1));
        for i in 0..200 {
            c.get_or_load(2, i, || Ok(block(1000))).unwrap();
        }
        let bytes = c.counters().bytes;
        assert!(bytes <= 64 << 10, "bounded by bytes: {bytes}");
        assert!(c.get_or_load(9, 9, || Err(crate::Error::Closed)).is_err());
        let v = c
            .get_or_load_value(10, 0, || Ok(Bytes::from_static(b"value")))
            .unwrap();
        let again = c.get_or_load_value(10, 0, || panic!("cached")).unwrap();
        assert_eq!(v, again);
    }
}
