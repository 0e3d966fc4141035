//! `Stats`: what the engine holds and has done, as a readable table and as serde data.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters the engine bumps as it works.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub user_bytes_written: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub table_bytes_written: AtomicU64,
    pub writes: AtomicU64,
    pub write_groups: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub write_stalls: AtomicU64,
    pub write_slowdowns: AtomicU64,
    pub write_stall_micros: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub read_compactions: AtomicU64,
    pub idle_compactions: AtomicU64,
    pub compaction_steps: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    /// Point-read counters, striped per thread.
    pub reads: ReadCounters,
    pub vlog_bytes_written: AtomicU64,
    pub vlog_gc_files: AtomicU64,
    pub vlog_gc_bytes_moved: AtomicU64,
    pub vlog_gc_runs: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    /// [`Counters::add`] for a counter that one thread at a time changes (the write
    /// path's leader): a load and a store. A locked add waits for the stores before it
    /// (into the WAL's map and the memtable's fresh arena lines) to leave the core.
    pub fn add_one_writer(c: &AtomicU64, n: u64) {
        c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One stripe of read counters, on its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct ReadStripe {
    gets: AtomicU64,
    bloom_checks: AtomicU64,
    bloom_negatives: AtomicU64,
}

const READ_STRIPES: usize = 16;

/// Point-read counters bumped on every read: striped by thread, so that readers on
/// different cores never write to a shared cache line (measured: shared counters cost
/// 2-thread reads their scaling).
#[derive(Debug, Default)]
pub(crate) struct ReadCounters {
    stripes: [ReadStripe; READ_STRIPES],
}

fn read_stripe() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % READ_STRIPES;
    }
    STRIPE.with(|s| *s)
}

impl ReadCounters {
    /// Counts one point read and its filter work.
    pub fn add(&self, gets: u64, bloom_checks: u64, bloom_negatives: u64) {
        let s = &self.stripes[read_stripe()];
        if gets > 0 {
            s.gets.fetch_add(gets, Ordering::Relaxed);
        }
        if bloom_checks > 0 {
            s.bloom_checks.fetch_add(bloom_checks, Ordering::Relaxed);
        }
        if bloom_negatives > 0 {
            s.bloom_negatives
                .fetch_add(bloom_negatives, Ordering::Relaxed);
        }
    }

    /// (gets, bloom checks, bloom negatives) summed over the stripes.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.stripes.iter().fold((0, 0, 0), |t, s| {
            (
                t.0 + s.gets.load(Ordering::Relaxed),
                t.1 + s.bloom_checks.load(Ordering::Relaxed),
                t.2 + s.bloom_negatives.load(Ordering::Relaxed),
            )
        })
    }
}

/// One level's tables.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LevelStats {
    /// Level number.
    pub level: usize,
    /// Tables on it.
    pub tables: usize,
    /// Their total size.
    pub bytes: u64,
    /// Their total entries.
    pub keys: u64,
}

/// What the last open recovered.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RecoveryStats {
    /// WAL segments replayed.
    pub wal_files: u64,
    /// WAL records (write groups) replayed.
    pub wal_records: u64,
    /// Bytes of unsynced WAL writes dropped: a torn tail, and every record after the first
    /// write lost (in a segment no later sync mark declares whole).
    pub torn_tail_bytes: u64,
    /// WAL records (write groups) dropped because an unsynced write before them was lost:
    /// what was recovered is the prefix of the writes before the loss.
    pub wal_records_dropped: u64,
    /// Bytes of torn tail dropped from the value-log file active at the crash.
    pub vlog_torn_tail_bytes: u64,
    /// Bytes of torn tail dropped from the manifest (an edit whose sync never completed).
    pub manifest_torn_tail_bytes: u64,
    /// Tables written from replayed WAL data.
    pub tables_written: u64,
    /// WAL segments whose replayed writes were left in a memtable for the background flush
    /// (the segments stay until it lands), rather than written to a table before the open
    /// returned.
    pub wal_files_kept: u64,
    /// Orphaned files deleted.
    pub orphans_deleted: u64,
}

/// A snapshot of the engine's figures. `Display` prints a table; `Serialize` gives data.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Per level: tables, bytes, keys.
    pub levels: Vec<LevelStats>,
    /// Bytes in the active memtable.
    pub memtable_bytes: u64,
    /// Entries in the active memtable.
    pub memtable_entries: u64,
    /// Frozen memtables waiting for flush.
    pub immutable_memtables: u64,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses.
    pub block_cache_misses: u64,
    /// Bytes held by the block cache.
    pub block_cache_bytes: u64,
    /// Block cache entries evicted (or refused admission) for room.
    pub block_cache_evictions: u64,
    /// Tables holding an open file, index and filter now.
    pub table_cache_open: u64,
    /// Table opens since the database opened (first opens and reopens after eviction).
    pub table_cache_opens: u64,
    /// Tables closed to respect `max_open_files`.
    pub table_cache_evictions: u64,
    /// Hot-key cache hits.
    pub hot_cache_hits: u64,
    /// Hot-key cache misses.
    pub hot_cache_misses: u64,
    /// Bytes held by the hot-key cache.
    pub hot_cache_bytes: u64,
    /// Hot-key cache entries evicted (or refused admission) for room.
    pub hot_cache_evictions: u64,
    /// Bloom filters consulted by point reads.
    pub bloom_checks: u64,
    /// Bloom checks that ruled a table out (useful negatives).
    pub bloom_useful: u64,
    /// Value-log files.
    pub vlog_files: u64,
    /// Value-log bytes.
    pub vlog_bytes: u64,
    /// Value-log bytes no longer referenced.
    pub vlog_discardable_bytes: u64,
    /// Bytes written to value-log files since open.
    pub vlog_bytes_written: u64,
    /// Value-log garbage collections (background or `vlog_gc()`) that collected at least
    /// one file since open.
    pub vlog_gc_runs: u64,
    /// Value-log files collected by GC since open.
    pub vlog_gc_files: u64,
    /// Bytes of live values GC rewrote since open.
    pub vlog_gc_bytes_moved: u64,
    /// Bytes in live WAL segments.
    pub wal_bytes: u64,
    /// Compactions run (trivial moves included).
    pub compactions: u64,
    /// Compactions that moved a table down without rewriting it.
    pub trivial_moves: u64,
    /// Compactions asked for by reads (see `Options::read_triggered_compaction`).
    pub read_compactions: u64,
    /// Level-0 drains run while writes were quiet (see `Options::idle_compaction_ms`).
    pub idle_compactions: u64,
    /// Edits that installed part of a running compaction's outputs (and removed the
    /// inputs they replace) before its end.
    pub compaction_steps: u64,
    /// Bytes compactions read.
    pub compaction_bytes_read: u64,
    /// Bytes compactions wrote.
    pub compaction_bytes_written: u64,
    /// Estimated compaction debt: bytes past the level targets.
    pub pending_compaction_bytes: u64,
    /// Memtable flushes run.
    pub flushes: u64,
    /// Times a writer stopped to wait for a flush or compaction.
    pub write_stalls: u64,
    /// Times a writer was delayed because compaction is behind.
    pub write_slowdowns: u64,
    /// Microseconds writers spent waiting.
    pub write_stall_micros: u64,
    /// Write operations acknowledged.
    pub writes: u64,
    /// Group commits (WAL appends); `writes / write_groups` is the coalescing factor.
    pub write_groups: u64,
    /// WAL fsyncs.
    pub wal_syncs: u64,
    /// Bytes of keys and values written by users.
    pub user_bytes_written: u64,
    /// Bytes written to disk (WAL, tables, value log, manifest).
    pub disk_bytes_written: u64,
    /// `disk_bytes_written / user_bytes_written`.
    pub write_amplification: f64,
    /// Point reads served.
    pub gets: u64,
    /// Transactions committed with writes.
    pub txn_commits: u64,
    /// Transaction commits rejected with a conflict.
    pub txn_conflicts: u64,
    /// The last visible sequence number.
    pub sequence: u64,
    /// What the last open recovered.
    pub recovery: RecoveryStats,
}

fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut f = n as f64;
    let mut i = 0;
    while f >= 1024.0 && i < U.len() - 1 {
        f /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{f:.1} {}", U[i])
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<7} {:>7} {:>12} {:>12}",
            "level", "tables", "bytes", "keys"
        )?;
        for l in &self.levels {
            writeln!(
                f,
                "{:<7} {:>7} {:>12} {:>12}",
                format!("L{}", l.level),
                l.tables,
                human(l.bytes),
                l.keys
            )?;
        }
        let rows: [(&str, String); 22] = [
            (
                "memtable",
                format!(
                    "{} in {} entries, {} frozen",
                    human(self.memtable_bytes),
                    self.memtable_entries,
                    self.immutable_memtables
                ),
            ),
            (
                "block cache",
                format!(
                    "{} hits, {} misses, {}, {} evictions",
                    self.block_cache_hits,
                    self.block_cache_misses,
                    human(self.block_cache_bytes),
                    self.block_cache_evictions
                ),
            ),
            (
                "table cache",
                format!(
                    "{} open, {} opens, {} evictions",
                    self.table_cache_open, self.table_cache_opens, self.table_cache_evictions
                ),
            ),
            (
                "hot-key cache",
                format!(
                    "{} hits, {} misses, {}, {} evictions",
                    self.hot_cache_hits,
                    self.hot_cache_misses,
                    human(self.hot_cache_bytes),
                    self.hot_cache_evictions
                ),
            ),
            (
                "bloom",
                format!("{} checks, {} useful", self.bloom_checks, self.bloom_useful),
            ),
            (
                "value log",
                format!(
                    "{} files, {}, {} discardable; GC: {} runs, {} files, {} moved",
                    self.vlog_files,
                    human(self.vlog_bytes),
                    human(self.vlog_discardable_bytes),
                    self.vlog_gc_runs,
                    self.vlog_gc_files,
                    human(self.vlog_gc_bytes_moved)
                ),
            ),
            ("wal", human(self.wal_bytes)),
            ("writes", self.writes.to_string()),
            ("write groups", self.write_groups.to_string()),
            ("wal syncs", self.wal_syncs.to_string()),
            ("gets", self.gets.to_string()),
            (
                "transactions",
                format!(
                    "{} committed, {} conflicts",
                    self.txn_commits, self.txn_conflicts
                ),
            ),
            ("flushes", self.flushes.to_string()),
            (
                "compactions",
                format!(
                    "{} ({} trivial moves, {} read-triggered, {} idle, {} steps), {} read, {} written, {} pending",
                    self.compactions,
                    self.trivial_moves,
                    self.read_compactions,
                    self.idle_compactions,
                    self.compaction_steps,
                    human(self.compaction_bytes_read),
                    human(self.compaction_bytes_written),
                    human(self.pending_compaction_bytes)
                ),
            ),
            (
                "write stalls",
                format!(
                    "{} stops, {} slowdowns, {} us waited",
                    self.write_stalls, self.write_slowdowns, self.write_stall_micros
                ),
            ),
            ("user bytes written", human(self.user_bytes_written)),
            ("disk bytes written", human(self.disk_bytes_written)),
            (
                "write amplification",
                format!("{:.2}", self.write_amplification),
            ),
            ("sequence", self.sequence.to_string()),
            (
                "recovered wal",
                format!(
                    "{} files, {} records ({} dropped after a lost write)",
                    self.recovery.wal_files,
                    self.recovery.wal_records,
                    self.recovery.wal_records_dropped
                ),
            ),
            (
                "recovered torn tail",
                format!(
                    "WAL {}, value log {}, manifest {}",
                    human(self.recovery.torn_tail_bytes),
                    human(self.recovery.vlog_torn_tail_bytes),
                    human(self.recovery.manifest_torn_tail_bytes)
                ),
            ),
            (
                "recovery cleanup",
                format!(
                    "{} tables written, {} WAL segments left to the flush, {} orphans deleted",
                    self.recovery.tables_written,
                    self.recovery.wal_files_kept,
                    self.recovery.orphans_deleted
                ),
            ),
        ];
        for (k, v) in rows {
            writeln!(f, "{k:<22} {v}")?;
        }
        Ok(())
    }
}
