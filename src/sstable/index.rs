//! The table index, parsed once at open into flat arrays: a binary search then compares
//! keys in place instead of decoding block entries at every probe.
//!
//! Most probes compare integers: the user keys' common prefix is stored once, and for each
//! entry the next 8 bytes after it (zero-padded, big-endian) sit in one contiguous array of
//! `u64` *heads*. Zero padding keeps the order of distinct heads the order of the keys, so
//! only equal heads fall back to a full key comparison.

use std::cmp::Ordering;
use std::path::Path;

use super::block::Block;
use super::format::BlockHandle;
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, user_key};
use crate::prefetch::prefetch;

/// Below this many candidates the search's probes share cache lines: no prefetch.
const PREFETCH_SPAN_MIN: usize = 16;
/// Block handles in a 64-byte cache line.
const HANDLES_PER_LINE: usize = crate::prefetch::LINE / std::mem::size_of::<BlockHandle>();

/// Index entries: the last key of each data block and the block's handle, in order.
#[derive(Debug, Clone, Default)]
pub struct Index {
    keys: Vec<u8>,
    ends: Vec<u32>,
    handles: Vec<BlockHandle>,
    /// The common prefix of every entry's user key.
    prefix: Vec<u8>,
    /// Per entry: 8 user-key bytes after the prefix (see the module docs).
    heads: Vec<u64>,
}

/// The 8 bytes of `uk` after `p`, zero-padded, as a big-endian integer.
fn head(uk: &[u8], p: usize) -> u64 {
    let rest = &uk[p.min(uk.len())..];
    let mut b = [0u8; 8];
    let n = rest.len().min(8);
    b[..n].copy_from_slice(&rest[..n]);
    u64::from_be_bytes(b)
}

impl Index {
    /// Parses an index block, checking that handles decode and keys increase.
    ///
    /// # Errors
    ///
    /// `Corruption` naming `path` and the index block's `offset`.
    pub fn parse(block: &Block, path: &Path, offset: u64) -> Result<Index> {
        let mut it = block.iter(compare_internal, std::sync::Arc::from(path), offset);
        let mut idx = Index::default();
        it.seek_to_first()?;
        while it.valid() {
            let h = BlockHandle::decode_varint(it.value())
                .ok_or_else(|| Error::corruption(path, offset, "malformed index entry"))?;
            if let Some(last) = idx.handles.last() {
                if compare_internal(idx.key(idx.len() - 1), it.key()) != Ordering::Less
                    || h.offset <= last.offset
                {
                    return Err(Error::corruption(
                        path,
                        offset,
                        "index entries out of order",
                    ));
                }
            }
            idx.keys.extend_from_slice(it.key());
            idx.ends.push(idx.keys.len() as u32);
            idx.handles.push(h);
            it.next()?;
        }
        if idx.handles.is_empty() {
            return Err(Error::corruption(path, offset, "empty index"));
        }
        let mut prefix = user_key(idx.key(0)).to_vec();
        for i in 1..idx.len() {
            let uk = user_key(idx.key(i));
            let common = prefix.iter().zip(uk).take_while(|(a, b)| a == b).count();
            prefix.truncate(common);
        }
        idx.heads = (0..idx.len())
            .map(|i| head(user_key(idx.key(i)), prefix.len()))
            .collect();
        idx.prefix = prefix;
        Ok(idx)
    }

    /// Number of data blocks.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// True when there are no blocks (never, for a parsed index).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The last key of block `i`.
    pub fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.keys[start..self.ends[i] as usize]
    }

    /// The handle of block `i`.
    pub fn handle(&self, i: usize) -> BlockHandle {
        self.handles[i]
    }

    /// All handles, in order.
    pub fn handles(&self) -> &[BlockHandle] {
        &self.handles
    }

    /// The first block whose last key is >= `target` (the only block that can hold the
    /// first entry >= `target`), or `len()` when none.
    pub fn seek(&self, target: &[u8]) -> usize {
        let uk = user_key(target);
        let p = self.prefix.len();
        let n = p.min(uk.len());
        match uk[..n].cmp(&self.prefix[..n]) {
            Ordering::Less => return 0,
            Ordering::Greater => return self.len(),
            // A proper prefix of the common prefix sorts before every entry.
            Ordering::Equal if uk.len() < p => return 0,
            Ordering::Equal => {}
        }
        let th = head(uk, p);
        let (mut lo, mut hi) = (0, self.len());
        let mut handles_loading = false;
        while lo < hi {
            let mid = (lo + hi) / 2;
            // Whichever way this step goes, start loading the next step's probe: a large
            // index's last steps are each a cache miss, and this overlaps them in pairs.
            if hi - lo > PREFETCH_SPAN_MIN {
                prefetch(&self.heads[(lo + mid) / 2]);
                prefetch(&self.heads[(mid + 1 + hi) / 2]);
            } else if !handles_loading {
                // The answer's handle, the caller's next load, is in a separate array: a
                // miss of its own after a search that missed on the heads. The few
                // candidates left span a few lines: load them alongside the last steps.
                handles_loading = true;
                for h in self.handles[lo..hi].iter().step_by(HANDLES_PER_LINE) {
                    prefetch(h);
                }
                prefetch(&self.handles[hi - 1]);
            }
            let h = self.heads[mid];
            let less = if h != th {
                h < th
            } else {
                compare_internal(self.key(mid), target) == Ordering::Less
            };
            if less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.keys.len() + self.ends.len() * 4 + self.handles.len() * 16 + self.heads.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::key::make_internal_key;
    use crate::sstable::block::BlockBuilder;

    /// Keys drawn from a small alphabet with zero bytes, shared prefixes and all lengths.
    fn random_key(x: &mut u64) -> Vec<u8> {
        let mut next = || {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x
        };
        let mut k = b"pre".to_vec();
        let len = (next() % 14) as usize;
        for _ in 0..len {
            k.push([0u8, 1, b'a', b'b', 0xff][(next() % 5) as usize]);
        }
        k
    }

    #[test]
    fn seek_matches_a_linear_search() {
        for seed in 1..=20u64 {
            let mut x = seed * 0x9E37_79B9_7F4A_7C15;
            let mut keys: Vec<Vec<u8>> = (0..200)
                .map(|_| make_internal_key(&random_key(&mut x), 7, 1))
                .collect();
            keys.sort_by(|a, b| compare_internal(a, b));
            keys.dedup_by(|a, b| compare_internal(a, b) == Ordering::Equal);
            let mut b = BlockBuilder::new(16);
            for (i, k) in keys.iter().enumerate() {
                let mut h = Vec::new();
                BlockHandle {
                    offset: i as u64 * 100,
                    size: 90,
                }
                .encode_varint(&mut h);
                b.add(k, &h);
            }
            let block = Block::new(Bytes::from(b.finish()), Path::new("t"), 0).unwrap();
            let idx = Index::parse(&block, Path::new("t"), 0).unwrap();
            for _ in 0..500 {
                let mut t = random_key(&mut x);
                if x % 7 == 0 {
                    t = t[..(x % 3) as usize].to_vec(); // shorter than the common prefix
                }
                let target = make_internal_key(&t, x % 10, 1);
                let want = keys
                    .iter()
                    .position(|k| compare_internal(k, &target) != Ordering::Less)
                    .unwrap_or(keys.len());
                assert_eq!(idx.seek(&target), want, "seed {seed}, target {t:?}");
            }
        }
    }
}
