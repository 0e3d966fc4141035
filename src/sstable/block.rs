//! Blocks: sorted entries with prefix compression and restart points.
//!
//! ```text
//! block   = entry* restart: u32 LE * num_restarts | num_restarts: u32 LE
//! entry   = shared: varint32 | unshared: varint32 | value_len: varint32
//!           | key_delta[unshared] | value[value_len]
//! ```
//!
//! An entry's key is the first `shared` bytes of the previous key followed by `key_delta`.
//! At a restart point `shared` is 0 and the key is whole; restart offsets let a seek binary
//! search the block and then scan at most `restart_interval` entries. Worked example, two
//! keys "apple" and "apply" (values "1", "2") with interval 16:
//! `00 05 01 'apple' '1' | 04 01 01 'y' '2' | 00 00 00 00 | 01 00 00 00`.

use std::cmp::Ordering;
use std::ops::Range;
use std::path::Path;

use bytes::Bytes;

use crate::coding::{get_varint32, put_varint32};
use crate::error::{Error, Result};
use crate::iter::InternalIterator;
use crate::prefetch::{prefetch, prefetch_bytes};

/// At most this much of a restart interval is prefetched for a seek.
const PREFETCH_MAX_BYTES: usize = 4096;
/// A block with at most this many restart points has them all prefetched for a seek.
const PREFETCH_RESTARTS_MAX: usize = 8;

/// Builds one block.
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    interval: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    /// A builder with a restart point every `interval` entries.
    pub fn new(interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::with_capacity(4096),
            restarts: vec![0],
            counter: 0,
            interval: interval.max(1),
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry; keys must be added in increasing order.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, (key.len() - shared) as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.counter += 1;
        self.entries += 1;
    }

    /// Size the finished block would have.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + self.restarts.len() * 4 + 4
    }

    /// True when no entry was added.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key added.
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Finishes the block, returns its bytes and resets the builder.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
        out
    }
}

/// A parsed block; cheap to clone (shares the bytes).
#[derive(Debug, Clone)]
pub struct Block {
    data: Bytes,
    restarts_offset: usize,
    num_restarts: usize,
}

impl Block {
    /// Checks the restart array and wraps the bytes. `file` and `offset` name the block in
    /// errors.
    ///
    /// # Errors
    ///
    /// `Corruption` when the restart array is malformed.
    pub fn new(data: Bytes, file: &Path, offset: u64) -> Result<Block> {
        let bad = || Error::corruption(file, offset, "malformed block restart array");
        if data.len() < 4 {
            return Err(bad());
        }
        let n = u32::from_le_bytes(data[data.len() - 4..].try_into().map_err(|_| bad())?) as usize;
        let max = (data.len() - 4) / 4;
        if n == 0 || n > max {
            return Err(bad());
        }
        let restarts_offset = data.len() - 4 - n * 4;
        let block = Block {
            data,
            restarts_offset,
            num_restarts: n,
        };
        let mut prev = 0;
        for i in 0..n {
            let r = block.restart(i);
            let ok = if i == 0 {
                r == 0
            } else {
                r > prev && r < restarts_offset
            };
            if !ok {
                return Err(bad());
            }
            prev = r;
        }
        Ok(block)
    }

    fn restart(&self, i: usize) -> usize {
        let p = self.restarts_offset + i * 4;
        u32::from_le_bytes([
            self.data[p],
            self.data[p + 1],
            self.data[p + 2],
            self.data[p + 3],
        ]) as usize
    }

    /// Decodes the header of the entry at `off`; `None` when it is malformed or runs past
    /// the entries.
    #[inline]
    fn entry_at(&self, off: usize) -> Option<Entry> {
        let d = &self.data[..self.restarts_offset];
        let mut p = off;
        let mut field = || -> Option<usize> {
            let (v, n) = get_varint32(d.get(p..)?)?;
            p += n;
            Some(v as usize)
        };
        let (shared, unshared, vlen) = (field()?, field()?, field()?);
        let key_end = p.checked_add(unshared)?;
        let value_end = key_end.checked_add(vlen)?;
        (value_end <= d.len()).then_some(Entry {
            shared,
            key: p..key_end,
            value: key_end..value_end,
        })
    }

    /// The key stored whole at restart point `i`, or the offset of a malformed entry.
    fn restart_key(&self, i: usize) -> std::result::Result<&[u8], usize> {
        let off = self.restart(i);
        match self.entry_at(off) {
            Some(e) if e.shared == 0 => Ok(&self.data[e.key]),
            _ => Err(off),
        }
    }

    /// The last restart point whose key is less than `target` (0 when none is), or the
    /// offset of a malformed entry.
    fn restart_before(
        &self,
        target: &[u8],
        cmp: fn(&[u8], &[u8]) -> Ordering,
    ) -> std::result::Result<usize, usize> {
        let (mut lo, mut hi) = (0usize, self.num_restarts - 1);
        // A search over a few restart points touches most of them: load them together.
        if self.num_restarts <= PREFETCH_RESTARTS_MAX {
            for i in 1..self.num_restarts {
                if let Some(b) = self.data.get(self.restart(i)) {
                    prefetch(b);
                }
            }
        }
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if cmp(self.restart_key(mid)?, target) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// Bytes of the block.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// An iterator over the block's entries.
    pub fn iter(
        &self,
        cmp: fn(&[u8], &[u8]) -> Ordering,
        file: std::sync::Arc<Path>,
        offset: u64,
    ) -> BlockIter {
        BlockIter {
            block: self.clone(),
            cmp,
            file,
            block_offset: offset,
            cur: self.restarts_offset,
            next: self.restarts_offset,
            key: Vec::new(),
            value: (0, 0),
        }
    }
}

/// A decoded entry header: the shared prefix length and where the rest of the key and the
/// value lie in the block.
struct Entry {
    shared: usize,
    key: Range<usize>,
    value: Range<usize>,
}

/// A cursor over a block's entries.
#[derive(Debug)]
pub struct BlockIter {
    block: Block,
    cmp: fn(&[u8], &[u8]) -> Ordering,
    file: std::sync::Arc<Path>,
    block_offset: u64,
    /// Offset of the current entry; `restarts_offset` when not valid.
    cur: usize,
    /// Offset of the entry after the current one.
    next: usize,
    key: Vec<u8>,
    value: (usize, usize),
}

impl BlockIter {
    fn corrupt(&self, at: usize) -> Error {
        Error::corruption(
            &*self.file,
            self.block_offset + at as u64,
            "malformed block entry",
        )
    }

    fn invalidate(&mut self) {
        self.cur = self.block.restarts_offset;
        self.next = self.block.restarts_offset;
    }

    /// Decodes the entry at `self.next` into the current position.
    fn parse_next(&mut self) -> Result<bool> {
        let off = self.next;
        if off >= self.block.restarts_offset {
            self.invalidate();
            return Ok(false);
        }
        let e = match self.block.entry_at(off) {
            Some(e) if e.shared <= self.key.len() => e,
            _ => return Err(self.corrupt(off)),
        };
        self.key.truncate(e.shared);
        self.key.extend_from_slice(&self.block.data[e.key]);
        self.value = (e.value.start, e.value.len());
        self.cur = off;
        self.next = e.value.end;
        Ok(true)
    }

    fn seek_to_restart(&mut self, i: usize) {
        self.key.clear();
        self.next = self.block.restart(i);
    }
}

impl InternalIterator for BlockIter {
    fn valid(&self) -> bool {
        self.cur < self.block.restarts_offset
    }
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn value(&self) -> &[u8] {
        &self.block.data[self.value.0..self.value.0 + self.value.1]
    }
    fn value_bytes(&self) -> Bytes {
        self.block
            .data
            .slice(self.value.0..self.value.0 + self.value.1)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.seek_to_restart(0);
        self.parse_next().map(|_| ())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.seek_to_restart(self.block.num_restarts - 1);
        while self.parse_next()? && self.next < self.block.restarts_offset {}
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let lo = self
            .block
            .restart_before(target, self.cmp)
            .map_err(|off| self.corrupt(off))?;
        self.seek_to_restart(lo);
        // The scan below is a chain of dependent loads (each entry's header gives the next
        // one's offset), a cache miss each in a block not read lately: start loading the
        // whole restart interval at once.
        let end = if lo + 1 < self.block.num_restarts {
            self.block.restart(lo + 1)
        } else {
            self.block.restarts_offset
        };
        if let Some(run) = self.block.data.get(self.next..end) {
            prefetch_bytes(&run[..run.len().min(PREFETCH_MAX_BYTES)]);
        }
        while self.parse_next()? {
            if (self.cmp)(&self.key, target) != Ordering::Less {
                return Ok(());
            }
        }
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        crate::iter::seek_for_prev_by_seek(self, target, self.cmp)
    }
    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        self.parse_next().map(|_| ())
    }
    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        let original = self.cur;
        // The last restart point before the current entry (binary search: restart offsets
        // rise), then forward from it to the entry just before.
        let (mut lo, mut hi) = (0, self.block.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.block.restart(mid) < original {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(r) = lo.checked_sub(1) else {
            self.invalidate();
            return Ok(());
        };
        self.seek_to_restart(r);
        while self.parse_next()? && self.next < original {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn build(n: usize, interval: usize) -> Block {
        let mut b = BlockBuilder::new(interval);
        for i in 0..n {
            b.add(
                format!("key{:04}", i * 2).as_bytes(),
                format!("v{i}").as_bytes(),
            );
        }
        Block::new(Bytes::from(b.finish()), Path::new("t"), 0).unwrap()
    }

    fn it(b: &Block) -> BlockIter {
        b.iter(|a, b| a.cmp(b), Arc::from(Path::new("t")), 0)
    }

    #[test]
    fn forward_backward_seek() {
        for interval in [1, 3, 16] {
            let b = build(100, interval);
            let mut i = it(&b);
            i.seek_to_first().unwrap();
            let mut n = 0;
            while i.valid() {
                assert_eq!(i.key(), format!("key{:04}", n * 2).as_bytes());
                n += 1;
                i.next().unwrap();
            }
            assert_eq!(n, 100);
            i.seek_to_last().unwrap();
            let mut n = 100;
            while i.valid() {
                n -= 1;
                assert_eq!(i.key(), format!("key{:04}", n * 2).as_bytes());
                assert_eq!(&i.value_bytes()[..], format!("v{n}").as_bytes());
                i.prev().unwrap();
            }
            assert_eq!(n, 0);
            i.seek(b"key0051").unwrap();
            assert_eq!(i.key(), b"key0052");
            i.seek(b"key0000").unwrap();
            assert_eq!(i.key(), b"key0000");
            i.seek(b"zzz").unwrap();
            assert!(!i.valid());
            i.seek_for_prev(b"key0051").unwrap();
            assert_eq!(i.key(), b"key0050");
            i.seek_for_prev(b"a").unwrap();
            assert!(!i.valid());
            i.seek_for_prev(b"zzz").unwrap();
            assert_eq!(i.key(), b"key0198");
        }
    }

    #[test]
    fn bad_blocks_are_errors_not_panics() {
        let b = build(20, 4);
        let raw = b.data.to_vec();
        for cut in 0..raw.len() {
            if let Ok(blk) = Block::new(Bytes::copy_from_slice(&raw[..cut]), Path::new("t"), 0) {
                let mut i = it(&blk);
                let _ = i.seek_to_first();
                let _ = i.seek(b"key0010");
                let _ = i.seek_to_last();
            }
        }
        for pos in 0..raw.len() {
            let mut r = raw.clone();
            r[pos] ^= 0xff;
            if let Ok(blk) = Block::new(Bytes::from(r), Path::new("t"), 0) {
                let mut i = it(&blk);
                if i.seek_to_first().is_ok() {
                    while i.valid() && i.next().is_ok() {}
                }
            }
        }
    }
}
