//! Internal iterators over internal keys, and the user-facing iterator built on them.
//!
//! Every source (memtable, block, table, level) implements [`InternalIterator`] in both
//! directions. The user [`crate::Iter`] runs two independent one-directional merges (one
//! from the front, one from the back, the second made lazily) and stops where they meet, so
//! no merge ever has to switch direction.

mod ahead;
pub mod db_iter;
pub mod level;
pub mod merging;

use bytes::Bytes;

use crate::error::Result;

/// A cursor over entries sorted by internal key.
///
/// After any movement that returns `Ok`, `valid()` tells whether it is on an entry; `key`
/// and `value` may be called only while valid.
pub trait InternalIterator: Send {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// The current internal key.
    fn key(&self) -> &[u8];
    /// The current value.
    fn value(&self) -> &[u8];
    /// The current value as `Bytes` (zero-copy where the source allows).
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }
    /// Moves to the first entry.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Moves to the last entry.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Moves to the first entry with key >= `target`.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading.
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the last entry with key <= `target`.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading.
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the next entry.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading.
    fn prev(&mut self) -> Result<()>;
}

/// `seek_for_prev` written in terms of `seek`, `prev` and `seek_to_last`, for sources with
/// no cheaper way.
///
/// # Errors
///
/// Whatever the movements return.
pub fn seek_for_prev_by_seek<I: InternalIterator + ?Sized>(
    it: &mut I,
    target: &[u8],
    cmp: fn(&[u8], &[u8]) -> std::cmp::Ordering,
) -> Result<()> {
    it.seek(target)?;
    if it.valid() {
        if cmp(it.key(), target) != std::cmp::Ordering::Equal {
            it.prev()?;
        }
        Ok(())
    } else {
        it.seek_to_last()
    }
}
