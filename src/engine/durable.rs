//! Pipelined WAL durability: which WAL bytes are known durable, and one fsync at a time
//! that covers everything appended when it starts.
//!
//! Every byte appended to any WAL segment since open has a position in one cumulative count
//! (`written`). A writer that needs durability waits until `synced` passes the end of its
//! record. If no fsync is running it runs one itself: under the WAL lock it reads `written`
//! and takes a sync handle of the current segment, then fsyncs outside the lock (the value
//! log, then the older segments a freeze retired unsynced, then this one: `retired.rs`),
//! so that the next group can append meanwhile and share the next fsync. A failed fsync
//! poisons the write path; `synced` never moves past it (RELIABILITY rule 4).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use super::{lock, Engine};
use crate::error::{Error, Result};
use crate::stats::Counters;
use crate::testing::{is_broken, Breakage};

/// How many times a writer about to fsync yields to queued writers first. (Measured on the
/// 2-core VM with 8 sync writers: no wait 38K writes/s; yielding while writers are queued
/// 42-43K; holding the fsync up to 50 us for all in-flight writers 41K with yields and 34K
/// with a condition variable: on two cores the wakeups cost more than the sharing saves.)
const MAX_YIELDS_BEFORE_FSYNC: u32 = 8;

#[derive(Debug, Default)]
struct State {
    synced: u64,
    syncing: bool,
}

/// Durability bookkeeping of the WAL.
#[derive(Debug, Default)]
pub(crate) struct Durability {
    state: Mutex<State>,
    cv: Condvar,
    /// Cumulative bytes appended to the WAL since open; changed under the WAL lock.
    pub written: AtomicU64,
}

impl Engine {
    /// Waits until WAL position `end` is durable, running fsyncs as needed.
    pub(crate) fn wait_durable(&self, end: u64) -> Result<()> {
        let d = &self.durable;
        let mut st = lock(&d.state);
        let mut yields = 0;
        loop {
            if st.synced >= end {
                return Ok(());
            }
            if let Some(msg) = self.poison.get() {
                return Err(Error::WritesStopped(msg.clone()));
            }
            if st.syncing {
                st = d.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Writers still queued to append would need the next fsync: let them append
            // first and share this one (as PostgreSQL's commit_delay). Bounded.
            if yields < MAX_YIELDS_BEFORE_FSYNC {
                // The queue is looked at without holding our state (lock order: queue
                // before durable.state).
                drop(st);
                let queued = !lock(&self.queue).is_empty();
                if queued {
                    yields += 1;
                    std::thread::yield_now();
                } else {
                    yields = MAX_YIELDS_BEFORE_FSYNC;
                }
                st = lock(&d.state);
                continue;
            }
            st.syncing = true;
            drop(st);
            let r = self.sync_current_segment();
            st = lock(&d.state);
            st.syncing = false;
            match r {
                Ok(target) => st.synced = st.synced.max(target),
                Err(e) => {
                    self.set_poison(&e);
                    drop(st);
                    d.cv.notify_all();
                    return Err(e);
                }
            }
            d.cv.notify_all();
        }
    }

    /// Fsyncs the current segment, the active value-log file and the retired segments
    /// first; returns the cumulative WAL position it covers. Every value the covered records
    /// point at was appended to the value log before them, so the value-log fsync covers it;
    /// a sync mark later framed in this segment declares the older ones whole.
    fn sync_current_segment(&self) -> Result<u64> {
        if is_broken(Breakage::SkipWalSync) {
            return Ok(self.durable.written.load(Ordering::Relaxed));
        }
        match self.sync_segment_now() {
            Err(_) if is_broken(Breakage::IgnoreSyncErrors) => {
                Ok(self.durable.written.load(Ordering::Relaxed))
            }
            r => r,
        }
    }

    fn sync_segment_now(&self) -> Result<u64> {
        let mut wal = lock(&self.wal);
        let w = wal.as_mut().ok_or(Error::Closed)?;
        let target = self.durable.written.load(Ordering::Relaxed);
        let number = w.number();
        Counters::add(&self.counters.wal_syncs, 1);
        match w.sync_point() {
            Some(h) => {
                drop(wal);
                self.sync_vlog()?;
                self.sync_retired(number)?;
                h.sync()
                    .map_err(|e| Error::io("syncing", "(WAL segment)", e))?;
            }
            None => {
                self.sync_vlog()?;
                self.sync_retired(number)?;
                w.sync()?;
            }
        }
        Ok(target)
    }
}
