//! The table index, parsed once at open into flat arrays: a binary search then compares
//! keys in place instead of decoding block entries at every probe.

use std::cmp::Ordering;
use std::path::Path;

use super::block::Block;
use super::format::BlockHandle;
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::key::compare_internal;

/// Index entries: the last key of each data block and the block's handle, in order.
#[derive(Debug, Clone, Default)]
pub struct Index {
    keys: Vec<u8>,
    ends: Vec<u32>,
    handles: Vec<BlockHandle>,
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
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if compare_internal(self.key(mid), target) == Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.keys.len() + self.ends.len() * 4 + self.handles.len() * 16
    }
}
