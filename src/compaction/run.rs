//! Running a compaction task: merge, drop what no reader can see, write outputs, install.
//!
//! Which versions survive, for each user key (newest first): snapshots cut the sequence
//! space into stripes (`seq <= s1`, `s1 < seq <= s2`, ..., after the newest snapshot); only
//! the newest version of each stripe can be read by anyone, so older versions in the same
//! stripe are dropped. A tombstone in the oldest stripe of a bottommost compaction hides
//! nothing any reader needs and is dropped too. Iterators pin the tables they read, so they
//! need no stripe: input files are deleted only when the last reader releases them.
//!
//! A dropped entry that points into the value log adds its record's length to that file's
//! discard count, which garbage collection reads to choose files worth rewriting.
//!
//! Inputs are read around the block cache (a compaction reads each block once; caching
//! them would evict what readers use), with every checksum verified.
//!
//! Outputs are cut at `target_file_size`, but never between two versions of one user key,
//! so user-key ranges of one level never share a key. The task is installed by one manifest
//! edit (outputs added, inputs removed) after every output is synced and the directory too
//! (RELIABILITY rule 3).

use std::path::Path;
use std::sync::Arc;

use super::picker::Task;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::iter::merging::{Direction, MergingIter};
use crate::iter::InternalIterator;
use crate::key::{parse_internal_key, Kind};
use crate::manifest::NewFile;
use crate::sstable::{create_table, TableBuilder, TableOptions};
use crate::vlog::format::Handle;

/// What a compaction produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// New tables for the output level.
    pub outputs: Vec<NewFile>,
    /// Bytes read from input tables.
    pub bytes_read: u64,
    /// Bytes written to output tables.
    pub bytes_written: u64,
    /// Entries dropped (shadowed versions and tombstones).
    pub dropped: u64,
    /// Value-log bytes no longer referenced, by file number.
    pub vlog_discard: std::collections::BTreeMap<u64, u64>,
}

/// The stripe of `seq` among ascending snapshot sequence numbers.
fn stripe(snapshots: &[u64], seq: u64) -> usize {
    snapshots.partition_point(|&s| s < seq)
}

/// Where and how a compaction writes its output tables.
pub struct OutputSpec<'a> {
    /// The filesystem and directory of the tables.
    pub fs: &'a Arc<dyn FileSystem>,
    /// The database directory.
    pub dir: &'a Path,
    /// Table-building settings.
    pub table: TableOptions,
    /// An output is cut between user keys once it reaches this size.
    pub target_file_size: u64,
    /// The block cache the outputs' blocks are offered to, if any.
    pub cache: Option<&'a Arc<BlockCache>>,
}

/// Writes the merged, filtered inputs of `task` into new tables numbered by `next_number`.
///
/// `snapshots` are the live snapshot sequence numbers, ascending.
///
/// # Errors
///
/// I/O or corruption reading inputs or writing outputs; partial outputs are left as orphans
/// for the next open to delete (they are not in the manifest).
pub fn run(
    task: &Task,
    spec: &OutputSpec<'_>,
    snapshots: &[u64],
    next_number: &mut dyn FnMut() -> u64,
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let children: Vec<Box<dyn InternalIterator>> = task
        .inputs
        .iter()
        .chain(&task.next_inputs)
        .map(|f| Box::new(f.table.iter_verified()) as Box<dyn InternalIterator>)
        .collect();
    out.bytes_read = task.input_bytes();
    let mut merge = MergingIter::new(children, Direction::Forward);
    merge.position(None)?;
    let mut builder: Option<(TableBuilder, u64)> = None;
    let mut current_key: Vec<u8> = Vec::new();
    let mut last_stripe: Option<usize> = None;
    while merge.valid() {
        let ikey = merge.key();
        let (uk, seq, kind) = parse_internal_key(ikey)
            .ok_or_else(|| Error::corruption("(compaction input)", 0, "malformed internal key"))?;
        let new_key = uk != current_key.as_slice();
        if new_key {
            current_key.clear();
            current_key.extend_from_slice(uk);
            last_stripe = None;
            // Cut the output between user keys once it is large enough.
            if builder
                .as_ref()
                .is_some_and(|(b, _)| b.estimated_size() >= spec.target_file_size)
            {
                if let Some((b, number)) = builder.take() {
                    out.outputs.push(finish(b, number, task.output_level)?);
                }
            }
        }
        let st = stripe(snapshots, seq);
        let drop = if last_stripe == Some(st) {
            true // shadowed by a newer version in the same stripe
        } else {
            last_stripe = Some(st);
            kind == Kind::Delete && task.bottommost && st == 0
        };
        if drop {
            out.dropped += 1;
            if kind == Kind::Pointer {
                let h = Handle::decode(merge.value()).ok_or_else(|| {
                    Error::corruption("(compaction input)", 0, "malformed value-log handle")
                })?;
                *out.vlog_discard.entry(h.file).or_insert(0) += h.len;
            }
        } else {
            if builder.is_none() {
                let number = next_number();
                let b = create_table(spec.fs, spec.dir, spec.table, number, spec.cache)?;
                builder = Some((b, number));
            }
            if let Some((b, _)) = builder.as_mut() {
                b.add(ikey, merge.value())?;
            }
        }
        merge.advance()?;
    }
    if let Some((b, number)) = builder.take() {
        out.outputs.push(finish(b, number, task.output_level)?);
    }
    if !out.outputs.is_empty() {
        spec.fs
            .sync_dir(spec.dir)
            .map_err(|e| Error::io("syncing directory", spec.dir, e))?;
    }
    out.bytes_written = out.outputs.iter().map(|f| f.size).sum();
    Ok(out)
}

fn finish(b: TableBuilder, number: u64, level: usize) -> Result<NewFile> {
    Ok(NewFile::from_built(level as u32, number, b.finish()?))
}

#[cfg(test)]
mod tests {
    use super::stripe;

    #[test]
    fn stripes() {
        let snaps = [10, 20];
        assert_eq!(stripe(&snaps, 5), 0);
        assert_eq!(stripe(&snaps, 10), 0);
        assert_eq!(stripe(&snaps, 11), 1);
        assert_eq!(stripe(&snaps, 25), 2);
        assert_eq!(stripe(&[], 25), 0);
    }
}
