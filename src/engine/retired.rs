//! WAL segments retired by a memtable freeze and not yet durable.
//!
//! A freeze starts a new WAL segment without fsyncing the old one, so that no fsync waits
//! in the writer's path (RocksDB moves these fsyncs to its flush job, `SyncClosedLogs`;
//! here the flush needs none, its table making the segment obsolete). A retired
//! segment becomes durable only when something needs it to be:
//! - before any fsync of a newer segment (a sync write, `sync()`, the periodic sync, a
//!   clean close), every older segment still here is trimmed to its records and fsynced,
//!   after the value log: a sync mark in a segment then declares every older one whole
//!   (`wal/chain.rs`, the rule recovery reads by);
//! - or never: the flush of its memtable fsyncs the value log, writes the table and
//!   records it in the manifest, which makes the segment obsolete, and releases it here.
//!
//! Until then a power loss may take its unsynced tail, and recovery keeps the writes before
//! the loss. Lock order: after `wal` (a freeze retires a segment while holding it);
//! nothing else is taken while this lock is held.

use std::path::PathBuf;

use super::{lock, Engine};
use crate::error::Result;
use crate::wal::LogWriter;

impl Engine {
    /// Takes over the segment a freeze just replaced. Called with the WAL lock held.
    pub(crate) fn retire_segment(&self, seg: LogWriter) {
        lock(&self.retired).push_back(seg);
    }

    /// Trims every retired segment numbered below `before` to its records and fsyncs it,
    /// oldest first. The caller fsynced the value log after they were retired (values
    /// before the records that point at them).
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub(crate) fn sync_retired(&self, before: u64) -> Result<()> {
        let mut segs = lock(&self.retired);
        while let Some(s) = segs.front_mut().filter(|s| s.number() < before) {
            s.trim()?;
            s.sync()?;
            segs.pop_front();
        }
        Ok(())
    }

    /// Lets go of retired segments numbered `upto` or below: their memtables are in tables
    /// the manifest records. Called with the state lock held, with the manifest edit.
    pub(crate) fn release_retired(&self, upto: u64) {
        let mut segs = lock(&self.retired);
        while segs.front().is_some_and(|s| s.number() <= upto) {
            segs.pop_front();
        }
    }

    /// The WAL segments this process may still append to or trim (the current one, then
    /// the retired ones), with the bytes written to each: beyond them a segment holds
    /// preallocated zeros, or bytes being appended.
    pub(crate) fn segments_written(&self) -> Vec<(PathBuf, u64)> {
        let wal = lock(&self.wal);
        let current = wal.as_ref().map(|w| (w.path().to_path_buf(), w.len()));
        let retired = lock(&self.retired);
        current
            .into_iter()
            .chain(retired.iter().map(|s| (s.path().to_path_buf(), s.len())))
            .collect()
    }
}
