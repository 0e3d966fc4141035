//! The engine's shared state, behind the thin `Db` handle.
//!
//! Lock order (take them in this order, never the reverse): `queue` (the group-commit
//! queue; never held across I/O) → `state` (the structure lock: versions, memtable list)
//! → `wal` → `retired`. Readers take no lock: they load the current [`SuperVersion`] (an
//! `Arc` of the memtables and version) from an `ArcSwap`, which writers replace under
//! `state`.
//!
//! - `write.rs`: group commit, memtable rotation, write stalls, fail-stop.
//! - `flush.rs`: the background flush of frozen memtables into level-0 tables.
//! - `recovery.rs`: open: manifest, WAL replay, orphan cleanup.
//! - `retired.rs`: WAL segments a freeze retired, made durable only when needed.
//! - `vlog.rs`: the value log: separation in the write path, rotation, handles, GC.
//!
//! The value-log writer has its own lock, taken after `state` and `wal` when they are held.

mod compact;
mod durable;
mod flush;
mod maintain;
mod recovery;
mod retired;
mod vlog;
mod write;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};

use arc_swap::ArcSwap;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::iter::db_iter::{as_slices, Iter, SourceFactory};
use crate::iter::level::{overlaps, tables_within, LevelIter};
use crate::iter::InternalIterator;
use crate::key::user_key;
use crate::limits::{KEY_LEN_MAX_BYTES, KEY_LEN_MIN_BYTES};
use crate::manifest::version::{table_for_key, ITER_SOURCE_UNITS};
use crate::manifest::{Version, VersionSet};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::sstable::readahead::Readahead;
use crate::sstable::Lookup;
use crate::stats::{Counters, LevelStats, RecoveryStats, Stats};
use crate::wal::LogWriter;

pub(crate) use recovery::open;
pub use vlog::{VlogFileInfo, VlogGcReport};
pub(crate) use write::for_each_record;

/// What readers pin: the memtables and the version, consistent with each other.
#[derive(Debug)]
pub(crate) struct SuperVersion {
    pub mem: Arc<Memtable>,
    /// Frozen memtables, newest first.
    pub imms: Vec<Arc<Memtable>>,
    pub version: Arc<Version>,
}

impl SuperVersion {
    /// The table sources of an iterator over `[lower, upper]`, newest first: each level-0
    /// table that overlaps the bounds on its own, and per deeper level the run of its
    /// tables that do, as (level, indices into the level).
    fn table_sources<'a>(
        &'a self,
        lower: Bound<&'a [u8]>,
        upper: Bound<&'a [u8]>,
    ) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + 'a {
        let levels = &self.version.levels;
        let l0 = levels.first().into_iter().flatten().enumerate();
        let l0 = l0
            .filter(move |(_, f)| {
                overlaps(user_key(&f.smallest), user_key(&f.largest), lower, upper)
            })
            .map(|(i, _)| (0, i..i + 1));
        let deeper = levels
            .iter()
            .enumerate()
            .skip(1)
            .map(move |(level, files)| (level, tables_within(files, lower, upper)))
            .filter(|(_, run)| !run.is_empty());
        l0.chain(deeper)
    }

    /// Charges the first table an iterator over `[lower, upper]` reads with the other
    /// tables it merges; the table whose budget this exhausts, if any.
    fn charge_range(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Option<(usize, u64)> {
        let mut sources = self.table_sources(lower, upper);
        let (level, run) = sources.next()?;
        let others = sources.count() as u64;
        let f = &self.version.levels[level][run.start];
        (others > 0 && f.read_budget.spend(others * ITER_SOURCE_UNITS)).then_some((level, f.number))
    }

    /// The index of the first table source among [`SourceFactory::sources`]' (after the
    /// memtables).
    fn first_table_source(&self) -> usize {
        1 + self.imms.len()
    }

    /// Charges `units` to the table of table source `source` (of the sources for
    /// `[lower, upper]`) that holds user key `key`; the table whose budget this exhausts, if
    /// any.
    fn charge_stale(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        source: usize,
        key: &[u8],
        units: u64,
    ) -> Option<(usize, u64)> {
        let nth = source.checked_sub(self.first_table_source())?;
        let (level, run) = self.table_sources(lower, upper).nth(nth)?;
        // Level 0's sources hold one table each; a deeper level's run is sorted and
        // disjoint.
        let f = table_for_key(&self.version.levels[level][run], key)?;
        f.read_budget.spend(units).then_some((level, f.number))
    }
}

/// An iterator's sources: the pinned [`SuperVersion`], and the engine that stale versions
/// stepped over are reported to (weakly: an iterator does not keep a closed engine alive).
struct ScanSources {
    sv: Arc<SuperVersion>,
    engine: Weak<Engine>,
    readahead: Option<Arc<Readahead>>,
}

impl SourceFactory for ScanSources {
    fn sources(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Vec<Box<dyn InternalIterator>> {
        self.sv.sources(lower, upper)
    }

    fn resolve(&self, handle: &[u8]) -> Result<Bytes> {
        SuperVersion::resolve(&self.sv, handle)
    }

    fn first_table_source(&self) -> usize {
        self.sv.first_table_source()
    }

    fn readahead(&self) -> Option<&Arc<Readahead>> {
        self.readahead.as_ref()
    }

    fn charge_stale(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        source: usize,
        user_key: &[u8],
        units: u64,
    ) {
        let wanted = self.sv.charge_stale(lower, upper, source, user_key, units);
        if let (Some(wanted), Some(engine)) = (wanted, self.engine.upgrade()) {
            engine.want_read_compaction(wanted);
        }
    }
}

impl SourceFactory for SuperVersion {
    /// The memtables, each level-0 table that overlaps the bounds, and one
    /// [`LevelIter`] per deeper level over its tables that do.
    fn sources(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Vec<Box<dyn InternalIterator>> {
        let mut v: Vec<Box<dyn InternalIterator>> = Vec::new();
        v.push(Box::new(self.mem.iter()));
        for m in &self.imms {
            v.push(Box::new(m.iter()));
        }
        for (level, run) in self.table_sources(lower, upper) {
            if level == 0 {
                v.push(Box::new(self.version.levels[0][run.start].table.iter()));
            } else {
                v.push(Box::new(LevelIter::new(self.version.clone(), level, run)));
            }
        }
        v
    }

    fn resolve(&self, handle: &[u8]) -> Result<Bytes> {
        SuperVersion::resolve(self, handle)
    }
}

/// State changed under the structure lock.
pub(crate) struct State {
    pub versions: VersionSet,
    pub mem: Arc<Memtable>,
    /// Frozen memtables, oldest first.
    pub imms: VecDeque<Arc<Memtable>>,
    pub shutting_down: bool,
    /// Memtables frozen so far, and flushed so far (for `flush()` to wait on).
    pub frozen_total: u64,
    pub flushed_total: u64,
    /// WAL segments replayed at open into the oldest frozen memtable, other than the one it
    /// is numbered by: its flush deletes them too (`recovery.rs`).
    pub replayed_wals: Vec<u64>,
    /// Bytes of values the active memtable's writes moved to the value log: it is frozen
    /// once they pass [`Engine::memtable_vlog_budget`], so that compaction learns of the
    /// value-log records those writes made garbage.
    pub mem_vlog_bytes: u64,
    /// The flush thread is asked to fsync the active value-log file ahead of need (every
    /// `write::VLOG_PRESYNC_BYTES` separated), so that the fsync a rotation must do in a
    /// writer's path, or a sync write, finds little left to write.
    pub vlog_presync: bool,
    /// Tables held by running compactions.
    pub busy: std::collections::HashSet<u64>,
    /// Compactions running.
    pub running: usize,
    /// A manual compaction is running: automatic ones wait.
    pub manual: bool,
    /// A table (level, file number) whose read budget ran out: compacted when no
    /// size-triggered compaction is due.
    pub read_wanted: Option<(usize, u64)>,
    pub pressure: compact::Pressure,
    /// Seconds of write delay owed while writes are slowed.
    pub delay_debt: f64,
}

/// The engine.
pub(crate) struct Engine {
    pub dir: PathBuf,
    pub opts: Options,
    pub fs: Arc<dyn FileSystem>,
    pub sv: ArcSwap<SuperVersion>,
    pub state: Mutex<State>,
    /// Signalled when a flush finishes, a memtable is frozen, or shutdown starts.
    pub bg_cv: Condvar,
    /// Signalled at shutdown, for the periodic WAL sync thread.
    pub sync_cv: Condvar,
    pub wal: Mutex<Option<LogWriter>>,
    /// WAL segments retired by a freeze and not yet durable, oldest first (`retired.rs`).
    pub retired: Mutex<VecDeque<LogWriter>>,
    pub durable: durable::Durability,
    pub queue: Mutex<VecDeque<Arc<write::Slot>>>,
    /// Where queued writers park once they have spun and yielded for a while.
    pub queue_cv: Condvar,
    /// Writers parked on `queue_cv`; a turn given while it is zero needs no wake-up.
    pub parked: std::sync::atomic::AtomicUsize,
    /// Queued writers spinning for their turn, and how many may (a core less than the
    /// machine has, at least one).
    pub spinners: std::sync::atomic::AtomicUsize,
    pub max_spinners: usize,
    /// Last sequence number handed out (the group-commit leader only).
    pub last_seq: AtomicU64,
    /// Last sequence number whose writes are all in the memtable: what reads see.
    pub visible_seq: AtomicU64,
    /// Set once by the first write-path failure; writes are refused afterwards.
    pub poison: OnceLock<String>,
    /// The logs a clean shutdown sealed, for the manifest.
    pub sealed_logs: Mutex<crate::manifest::ClosedLogs>,
    pub closed: AtomicBool,
    pub counters: Counters,
    pub recovery: RecoveryStats,
    pub block_cache: Option<Arc<crate::cache::BlockCache>>,
    /// The readahead worker (also given to every table), when scans read ahead.
    pub readahead: Option<Arc<Readahead>>,
    /// The bound on open tables (the table cache).
    pub open_tables: Arc<crate::cache::tables::OpenTables<crate::sstable::Table>>,
    /// The hot-key cache, when `hot_key_cache_size` is set.
    pub hot: Option<crate::cache::hot::HotKeys>,
    pub oracle: crate::txn::oracle::Oracle,
    /// Live snapshots: sequence number -> count.
    pub snapshots: Mutex<BTreeMap<u64, usize>>,
    /// The active value-log file (appended by the group-commit leader).
    pub vlog: Mutex<Option<vlog::VlogWriter>>,
    /// Held by the one garbage collection running.
    pub gc_lock: Mutex<()>,
    /// Set when close begins: a collection in progress ends after the file it is on.
    pub gc_stop: AtomicBool,
    /// A collected value-log file waits for deletion (changed under `state`).
    pub vlog_deletes_waiting: AtomicBool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("dir", &self.dir).finish()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the engine's own
/// invariants are guarded by fail-stop, not by lock poisoning).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn check_key(key: &[u8]) -> Result<()> {
    if key.len() < KEY_LEN_MIN_BYTES || key.len() > KEY_LEN_MAX_BYTES {
        return Err(Error::invalid(format!(
            "key of {} bytes: keys must be {KEY_LEN_MIN_BYTES} to {KEY_LEN_MAX_BYTES} bytes",
            key.len()
        )));
    }
    Ok(())
}

impl Engine {
    pub fn install_sv(&self, st: &State) {
        self.sv.store(Arc::new(SuperVersion {
            mem: st.mem.clone(),
            imms: st.imms.iter().rev().cloned().collect(),
            version: st.versions.current(),
        }));
    }

    /// Stops the write path after a failure (RELIABILITY rule 4).
    pub fn set_poison(&self, e: &Error) {
        if self.poison.set(e.to_string()).is_ok() {
            tracing::error!(error = %e, "write path stopped until reopen");
        }
        // Wake writers stalled on a flush so they see the error.
        self.bg_cv.notify_all();
    }

    pub fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if let Some(msg) = self.poison.get() {
            return Err(Error::WritesStopped(msg.clone()));
        }
        Ok(())
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The newest visible value of `key` at sequence `seq`.
    pub fn get(&self, key: &[u8], seq: u64) -> Result<Option<Bytes>> {
        self.check_open()?;
        check_key(key)?;
        self.counters.reads.add(1, 0, 0);
        let sv = self.sv.load();
        match self.lookup(&sv, key, seq)? {
            Lookup::Value(v) => Ok(Some(v)),
            Lookup::Pointer(h) => sv.resolve(&h).map(Some),
            Lookup::Deleted | Lookup::Absent => Ok(None),
        }
    }

    /// The newest value of `key` at the visible sequence number, through the hot-key cache
    /// when there is one.
    pub fn get_latest(&self, key: &[u8]) -> Result<Option<Bytes>> {
        let Some(hot) = &self.hot else {
            return self.get(key, self.visible());
        };
        self.check_open()?;
        check_key(key)?;
        if let Some(v) = hot.get(key) {
            self.counters.reads.add(1, 0, 0);
            return Ok(Some(v));
        }
        let seq = self.visible();
        let v = self.get(key, seq)?;
        if let Some(v) = &v {
            hot.insert(key, v, seq);
        }
        Ok(v)
    }

    /// The pinned sources for an iterator.
    pub fn pinned(&self) -> Arc<SuperVersion> {
        self.sv.load_full()
    }

    /// An iterator over `[lower, upper]` as of `seq`. One that will merge more than one
    /// table charges the first one's read budget, and as it runs it charges the older
    /// versions it steps over in tables to the table that held the newer one.
    pub fn iter(self: &Arc<Self>, seq: u64, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> Iter {
        let sv = self.pinned();
        if let Some(wanted) = sv.charge_range(as_slices(&lower), as_slices(&upper)) {
            self.want_read_compaction(wanted);
        }
        let sources = ScanSources {
            sv,
            engine: Arc::downgrade(self),
            readahead: self.readahead.clone(),
        };
        Iter::new(Arc::new(sources), seq, lower, upper)
    }

    pub fn visible(&self) -> u64 {
        self.visible_seq.load(Ordering::Acquire)
    }

    /// Registers a snapshot at the visible sequence number and returns it. The number is
    /// read under the snapshot lock, so whoever reads the snapshot list (compaction, value
    /// log GC) either sees this snapshot or saw a visible sequence number no newer.
    pub fn acquire_snapshot(&self) -> u64 {
        let mut s = lock(&self.snapshots);
        let seq = self.visible();
        *s.entry(seq).or_insert(0) += 1;
        seq
    }

    pub fn release_snapshot(&self, seq: u64) {
        let mut s = lock(&self.snapshots);
        if let Some(n) = s.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                s.remove(&seq);
            }
        }
        drop(s);
        // A collected value-log file may have waited for this reader. (Only then: every
        // transaction ends here, and waking the background threads each time is not free.)
        if self.vlog_deletes_waiting.load(Ordering::Relaxed) {
            self.bg_cv.notify_all();
        }
    }

    pub fn stats(&self) -> Stats {
        let sv = self.pinned();
        let levels = sv
            .version
            .levels
            .iter()
            .enumerate()
            .map(|(level, files)| LevelStats {
                level,
                tables: files.len(),
                bytes: files.iter().map(|f| f.size).sum(),
                keys: files.iter().map(|f| f.num_entries).sum(),
            })
            .collect();
        let c = &self.counters;
        let (manifest_bytes, pending_bytes, vlogs) = {
            let st = lock(&self.state);
            (
                st.versions.bytes_written,
                st.pressure.pending_bytes,
                self.vlog_files_locked(&st),
            )
        };
        let wal_bytes = lock(&self.wal).as_ref().map_or(0, |w| w.len());
        let block = self
            .block_cache
            .as_ref()
            .map(|b| b.counters())
            .unwrap_or_default();
        let hot = self.hot.as_ref().map(|h| h.counters()).unwrap_or_default();
        let tables = self.open_tables.counters();
        let (gets, bloom_checks, bloom_useful) = c.reads.totals();
        let user = Counters::get(&c.user_bytes_written);
        let disk = Counters::get(&c.wal_bytes_written)
            + Counters::get(&c.table_bytes_written)
            + Counters::get(&c.vlog_bytes_written)
            + manifest_bytes;
        Stats {
            levels,
            memtable_bytes: sv.mem.approximate_bytes() as u64,
            memtable_entries: sv.mem.len() as u64,
            immutable_memtables: sv.imms.len() as u64,
            block_cache_hits: block.hits,
            block_cache_misses: block.misses,
            block_cache_bytes: block.bytes,
            block_cache_evictions: block.evictions,
            table_cache_open: tables.open,
            table_cache_opens: tables.opens,
            table_cache_evictions: tables.evictions,
            hot_cache_hits: hot.hits,
            hot_cache_misses: hot.misses,
            hot_cache_bytes: hot.bytes,
            hot_cache_evictions: hot.evictions,
            bloom_checks,
            bloom_useful,
            wal_bytes,
            vlog_files: vlogs.len() as u64,
            vlog_bytes: vlogs.iter().map(|f| f.size).sum(),
            vlog_discardable_bytes: vlogs.iter().map(|f| f.discard_bytes.min(f.size)).sum(),
            vlog_bytes_written: Counters::get(&c.vlog_bytes_written),
            vlog_gc_runs: Counters::get(&c.vlog_gc_runs),
            vlog_gc_files: Counters::get(&c.vlog_gc_files),
            vlog_gc_bytes_moved: Counters::get(&c.vlog_gc_bytes_moved),
            flushes: Counters::get(&c.flushes),
            compactions: Counters::get(&c.compactions),
            trivial_moves: Counters::get(&c.trivial_moves),
            compaction_steps: Counters::get(&c.compaction_steps),
            read_compactions: Counters::get(&c.read_compactions),
            idle_compactions: Counters::get(&c.idle_compactions),
            compaction_bytes_read: Counters::get(&c.compaction_bytes_read),
            compaction_bytes_written: Counters::get(&c.compaction_bytes_written),
            pending_compaction_bytes: pending_bytes,
            write_stalls: Counters::get(&c.write_stalls),
            write_slowdowns: Counters::get(&c.write_slowdowns),
            write_stall_micros: Counters::get(&c.write_stall_micros),
            writes: Counters::get(&c.writes),
            write_groups: Counters::get(&c.write_groups),
            wal_syncs: Counters::get(&c.wal_syncs),
            user_bytes_written: user,
            disk_bytes_written: disk,
            write_amplification: if user == 0 {
                0.0
            } else {
                disk as f64 / user as f64
            },
            gets,
            txn_commits: self
                .oracle
                .commits
                .load(std::sync::atomic::Ordering::Relaxed),
            txn_conflicts: self
                .oracle
                .conflicts
                .load(std::sync::atomic::Ordering::Relaxed),
            sequence: self.visible(),
            recovery: self.recovery.clone(),
        }
    }

    /// Records the logs sealed by [`Engine::shutdown`] in the manifest, fsyncs it and
    /// writes its length into `CURRENT`; call once background work has stopped.
    ///
    /// After a failure stopped the write path nothing is recorded: the logs may end in a
    /// torn record, and recovery must treat them as after a crash.
    pub fn close_manifest(&self) -> Result<()> {
        if self.poison.get().is_some() {
            return Ok(());
        }
        let sealed = std::mem::take(&mut *lock(&self.sealed_logs));
        lock(&self.state).versions.close_manifest(&sealed)
    }

    /// Stops background work and makes the log durable. Idempotent.
    pub fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        {
            let mut st = lock(&self.state);
            st.shutting_down = true;
        }
        self.bg_cv.notify_all();
        self.sync_cv.notify_all();
        // Wait out a group commit in progress: take the queue, then the WAL.
        let _q = lock(&self.queue);
        let mut wal = lock(&self.wal);
        let r = match (wal.as_mut(), self.poison.get()) {
            // Sync marks at the ends tell any later damage from a torn tail; the retired
            // segments are made whole before the seal's mark declares them so.
            (Some(w), None) => self.seal_vlog().and_then(|vlog| {
                self.sync_retired(w.number())?;
                w.seal()?;
                *lock(&self.sealed_logs) = crate::manifest::ClosedLogs {
                    wal: Some((w.number(), w.len())),
                    vlog,
                };
                Ok(())
            }),
            _ => Ok(()),
        };
        *wal = None;
        r
    }
}
