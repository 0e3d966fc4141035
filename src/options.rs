//! `Options`, `WriteOptions`, `SyncMode`, `Compression`: plain structs with public fields,
//! presets, TOML loading and validation.
//!
//! Options never change the readability of files: a store written under one preset opens
//! under any other; new settings apply to new files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fs::{default_fs, FileSystem};

/// Block compression. The on-disk tags are frozen in `sstable/format.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Store blocks as they are.
    None,
    /// Snappy: fast, moderate ratio.
    Snappy,
    /// LZ4: fast, moderate ratio (the default).
    Lz4,
    /// Zstandard at a level from 1 to 22.
    Zstd {
        /// Compression level, 1 (fast) to 22 (small).
        level: i32,
    },
}

/// When the write-ahead log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Every write group is fsynced before it is acknowledged (survives power loss).
    Always,
    /// A background thread fsyncs the log at this interval; a power loss loses at most about
    /// that much, always as a suffix.
    Periodic(Duration),
    /// Never fsync except on `sync: true` writes, `db.sync()`, flushes and close; every
    /// acknowledged write still reaches the OS before the ack and survives a process crash.
    Never,
}

/// Per-write options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Fsync the log before acknowledging this write (survives power loss).
    pub sync: bool,
}

/// Engine options. Construct with `Default`, a preset, or TOML, then adjust fields.
#[derive(Debug, Clone)]
pub struct Options {
    /// Create the directory when it does not exist (default true).
    pub create_if_missing: bool,
    /// Fail when the directory already holds a database (default false).
    pub error_if_exists: bool,
    /// Bytes of entries a memtable holds before it is frozen and flushed (default 16 MiB:
    /// a skiplist insert costs more the more entries it holds; on the 2-core VM, 1M random
    /// 100-byte puts ran at ~450K ops/s with 16 MiB, ~390K with 32 MiB, ~270K with 64 MiB).
    pub memtable_size: usize,
    /// Frozen memtables waiting for flush before writers wait (default 2).
    pub max_immutable_memtables: usize,
    /// Target uncompressed size of a table data block (default 4 KiB).
    pub block_size: usize,
    /// Entries between restart points in data blocks (default 16).
    pub block_restart_interval: usize,
    /// Bytes of decompressed blocks cached in memory; 0 turns the cache off (default 64 MiB).
    pub block_cache_size: usize,
    /// Flushes and compactions offer the data blocks they write to the block cache, so that
    /// reads of fresh tables need not miss once per block (RocksDB's
    /// `prepopulate_block_cache`). An offered block displaces nothing recently read: once
    /// the cache is full it loses the admission contest to such blocks. Default false: with
    /// glibc's malloc the blocks, allocated by the background threads and freed by others,
    /// fragment the per-thread arenas (1M keys, 2 threads: peak RSS 145 MiB -> 288 MiB, and
    /// 145 MiB again with `MALLOC_ARENA_MAX=1`) for a gain within the noise (txnrmw +2-3%).
    pub prepopulate_block_cache: bool,
    /// Separated values (those in the value log) read are cached in the block cache too.
    /// Default false, as RocksDB caches blob values only in a blob cache of their own when
    /// one is given: over data larger than the cache, values of 4 KiB and more evicted the
    /// table blocks that lead to them, and every read paid the cache's insert and eviction
    /// as well (100K x 4 KiB values, 64 MiB cache: readrandom 138-200K -> 220-277K ops/s and
    /// readseq 140-250K -> 364-426K without them). Hot values are better served by the
    /// hot-key cache (`hot_key_cache_size`), which holds them as key/value pairs.
    pub cache_values: bool,
    /// Tables that keep an open file, parsed index and filter at once; others close and
    /// reopen on their next read (default 1000, at least 16).
    pub max_open_files: usize,
    /// Bytes of recently read key/value pairs cached for point reads at the latest state,
    /// ahead of the memtables and tables; 0 turns it off (default 0). Writes invalidate
    /// their keys before they become visible.
    pub hot_key_cache_size: usize,
    /// Compression of table blocks (default LZ4).
    pub compression: Compression,
    /// Compression of values written to the value log; `None` (the default) uses
    /// `compression`. `Some(Compression::None)` stores large values as they are, as RocksDB's
    /// blob files do by default: more disk, and no decompression on reads (with
    /// `mmap_reads`, a read of a sealed file's value is then a checksum and no copy).
    /// Each record carries its own tag, so changing it never affects values already written.
    pub vlog_compression: Option<Compression>,
    /// Bloom filter bits per key; 0 builds no filters (default 10).
    pub bloom_bits_per_key: u32,
    /// Values at least this long go to the value log and the tree keeps a small handle
    /// (default 4 KiB); `usize::MAX` means never. Changing it never affects values already
    /// written.
    pub value_threshold: usize,
    /// A value-log file is sealed and a new one started once it reaches this size
    /// (default 128 MiB): the unit garbage collection rewrites and frees. The active
    /// memtable is also frozen once its writes moved more than this (or `memtable_size`, if
    /// larger) to the value log, so that compaction soon counts what overwrites made garbage.
    pub vlog_file_size: u64,
    /// When the WAL is fsynced (default `Never`: acknowledged writes survive a process
    /// crash; use `Always` or `sync: true` writes to survive power loss).
    pub wal_sync: SyncMode,
    /// Read tables, and value-log files once sealed, through `mmap` instead of `pread`
    /// (default false): no copy out of the page cache, but a device read error is a SIGBUS
    /// instead of an `Err`. The active value-log file is always read through `pread`.
    pub mmap_reads: bool,
    /// Verify block checksums on every read (default true; `verify()` always checks).
    pub verify_checksums: bool,
    /// Data blocks a long forward scan reads ahead of itself, on a background thread that
    /// reads, checks and decompresses them while the scan works (default 16; 0: no
    /// readahead, and no thread). A scan reads ahead once it has loaded 8 blocks of a table
    /// in a row. The same thread resolves the value-log values a forward scan is about to
    /// reach, once it has resolved 4 itself (windows of 4 to 128 entries, at most 2 MiB of
    /// records); with 0, scans resolve every value themselves.
    pub readahead_blocks: usize,
    /// Number of levels, L0 included (default 7).
    pub max_levels: usize,
    /// Growth factor between level targets (default 10).
    pub level_size_multiplier: usize,
    /// Target size of L1 in bytes (default 256 MiB).
    pub base_level_size: u64,
    /// Target size of a compaction output table (default 16 MiB). Smaller tables let a
    /// running compaction install its outputs and delete its inputs in smaller steps, so the
    /// space it needs on top of the store is smaller (see `compaction::run`); larger ones
    /// mean fewer files.
    pub target_file_size: u64,
    /// L0 file count that triggers a compaction (default 4).
    pub level0_compaction_trigger: usize,
    /// L0 file count at which writes are slowed (default 20).
    pub level0_slowdown_trigger: usize,
    /// Compact a table that reads keep paying for (default true): each get that probes
    /// tables past the first, and each iterator over more than one table, charges the
    /// first table it consults, and a scan charges each older version it steps over (in a
    /// deeper table) to the table whose newer version hid it; once the charges add up to
    /// the cost of the compaction (one needless probe counted as 16 bytes compacted), the
    /// table is compacted into the next level when no size-triggered compaction is due
    /// (LevelDB's seek compaction).
    /// Off: only sizes and file counts trigger compactions.
    pub read_triggered_compaction: bool,
    /// Milliseconds without a write after which, while reads are paying for level-0 tables
    /// (a get probed past one, or a scan merged one with others), compaction threads merge
    /// level 0 into level 1 (default 500; 0: never; TOML takes a number or "2s", "500ms").
    /// Reads after a burst of writes then consult one table per level instead of every
    /// level-0 table, and the stale versions the burst left, which dilute the block cache,
    /// are gone. The drain runs only when it rewrites at most `level_size_multiplier` bytes
    /// of level 1 per level-0 byte (what a leveled compaction pays per level), and only with
    /// `read_triggered_compaction` on.
    pub idle_compaction_ms: u64,
    /// L0 file count at which writes stop until compaction catches up (default 36).
    pub level0_stop_trigger: usize,
    /// Estimated compaction debt (bytes past the level targets) at which writes are slowed
    /// (default 64 GiB).
    pub pending_compaction_bytes_slowdown: u64,
    /// Compaction debt at which writes stop until compaction catches up (default 256 GiB).
    pub pending_compaction_bytes_stop: u64,
    /// Write rate allowed while slowed, in bytes per second, lowered further as the stop
    /// trigger nears (default 16 MiB/s).
    pub slowdown_write_rate: u64,
    /// Transactions validate their reads at commit (serializable; default true). Off:
    /// snapshot isolation, never a conflict, write skew possible.
    pub txn_detect_conflicts: bool,
    /// Largest transaction, in bytes of pending keys and values (default 64 MiB); past it a
    /// write fails and the transaction cannot commit.
    pub txn_max_bytes: usize,
    /// Background threads: one always flushes; the others (at least one) compact
    /// (default 2).
    pub background_threads: usize,
    /// A value-log file is collected once this share of it is garbage (default 0.5).
    pub vlog_gc_discard_ratio: f64,
    /// A background thread collects value-log files past the ratio (default true); off,
    /// only `Db::vlog_gc` does.
    pub vlog_gc_background: bool,
    /// The filesystem every file goes through (default: the operating system's).
    pub fs: Arc<dyn FileSystem>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            memtable_size: 16 << 20,
            max_immutable_memtables: 2,
            block_size: 4 << 10,
            block_restart_interval: 16,
            block_cache_size: 64 << 20,
            prepopulate_block_cache: false,
            cache_values: false,
            max_open_files: 1000,
            hot_key_cache_size: 0,
            compression: Compression::Lz4,
            vlog_compression: None,
            bloom_bits_per_key: 10,
            value_threshold: 4 << 10,
            vlog_file_size: 128 << 20,
            wal_sync: SyncMode::Never,
            mmap_reads: false,
            verify_checksums: true,
            readahead_blocks: 16,
            max_levels: 7,
            level_size_multiplier: 10,
            base_level_size: 256 << 20,
            target_file_size: 16 << 20,
            level0_compaction_trigger: 4,
            level0_slowdown_trigger: 20,
            read_triggered_compaction: true,
            idle_compaction_ms: 500,
            level0_stop_trigger: 36,
            pending_compaction_bytes_slowdown: 64 << 30,
            pending_compaction_bytes_stop: 256 << 30,
            slowdown_write_rate: 16 << 20,
            txn_detect_conflicts: true,
            txn_max_bytes: 64 << 20,
            background_threads: 2,
            vlog_gc_discard_ratio: 0.5,
            vlog_gc_background: true,
            fs: default_fs(),
        }
    }
}

impl PartialEq for Options {
    /// Compares every field but `fs`.
    fn eq(&self, o: &Self) -> bool {
        self.create_if_missing == o.create_if_missing
            && self.error_if_exists == o.error_if_exists
            && self.memtable_size == o.memtable_size
            && self.max_immutable_memtables == o.max_immutable_memtables
            && self.block_size == o.block_size
            && self.block_restart_interval == o.block_restart_interval
            && self.block_cache_size == o.block_cache_size
            && self.prepopulate_block_cache == o.prepopulate_block_cache
            && self.cache_values == o.cache_values
            && self.max_open_files == o.max_open_files
            && self.hot_key_cache_size == o.hot_key_cache_size
            && self.compression == o.compression
            && self.vlog_compression == o.vlog_compression
            && self.bloom_bits_per_key == o.bloom_bits_per_key
            && self.value_threshold == o.value_threshold
            && self.vlog_file_size == o.vlog_file_size
            && self.wal_sync == o.wal_sync
            && self.mmap_reads == o.mmap_reads
            && self.verify_checksums == o.verify_checksums
            && self.readahead_blocks == o.readahead_blocks
            && self.max_levels == o.max_levels
            && self.level_size_multiplier == o.level_size_multiplier
            && self.base_level_size == o.base_level_size
            && self.target_file_size == o.target_file_size
            && self.level0_compaction_trigger == o.level0_compaction_trigger
            && self.level0_slowdown_trigger == o.level0_slowdown_trigger
            && self.read_triggered_compaction == o.read_triggered_compaction
            && self.idle_compaction_ms == o.idle_compaction_ms
            && self.level0_stop_trigger == o.level0_stop_trigger
            && self.pending_compaction_bytes_slowdown == o.pending_compaction_bytes_slowdown
            && self.pending_compaction_bytes_stop == o.pending_compaction_bytes_stop
            && self.slowdown_write_rate == o.slowdown_write_rate
            && self.txn_detect_conflicts == o.txn_detect_conflicts
            && self.txn_max_bytes == o.txn_max_bytes
            && self.background_threads == o.background_threads
            && self.vlog_gc_discard_ratio == o.vlog_gc_discard_ratio
            && self.vlog_gc_background == o.vlog_gc_background
    }
}

impl Options {
    /// A preset for small memory: 4 MiB memtable, one frozen memtable, no block cache, no
    /// bloom filters, at most 64 open tables (each holds its index), zstd compression, no
    /// readahead.
    pub fn low_memory() -> Self {
        Options {
            readahead_blocks: 0,
            memtable_size: 4 << 20,
            max_immutable_memtables: 1,
            block_cache_size: 0,
            max_open_files: 64,
            bloom_bits_per_key: 0,
            compression: Compression::Zstd { level: 3 },
            background_threads: 1,
            ..Options::default()
        }
    }

    /// A preset for throughput: 32 MiB memtables (four may wait for flush), 512 MiB block
    /// cache, a 64 MiB hot-key cache (on 5M keys under Zipf 0.99 reads it took 2 threads
    /// from ~263K to ~410-480K ops/s), 10,000 open tables, mmap reads.
    pub fn high_performance() -> Self {
        Options {
            memtable_size: 32 << 20,
            max_immutable_memtables: 4,
            block_cache_size: 512 << 20,
            hot_key_cache_size: 64 << 20,
            max_open_files: 10_000,
            bloom_bits_per_key: 10,
            compression: Compression::Lz4,
            mmap_reads: true,
            background_threads: 2,
            ..Options::default()
        }
    }

    /// Parses TOML with flat keys named as the fields, on top of the defaults. Sizes are
    /// numbers or strings such as `"64MiB"`; `wal_sync` is `"always"`, `"never"` or a
    /// duration such as `"100ms"` (periodic); `compression` is `"none"`, `"snappy"`,
    /// `"lz4"`, `"zstd"` or `"zstd:5"`; `vlog_compression` is one of those or `"same"`
    /// (`None`: as `compression`).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` naming the key for an unknown key, a value of the wrong type, or a
    /// combination that [`Options::validate`] rejects.
    pub fn from_toml_str(s: &str) -> Result<Options> {
        let table: toml::Table =
            toml::from_str(s).map_err(|e| Error::invalid(format!("options TOML: {e}")))?;
        let mut o = Options::default();
        for (k, v) in &table {
            o.set(k, v)?;
        }
        o.validate()?;
        Ok(o)
    }

    /// Reads [`Options::from_toml_str`] from a file.
    ///
    /// # Errors
    ///
    /// `Io` when the file cannot be read, else as `from_toml_str`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Options> {
        let p = path.as_ref();
        let s = std::fs::read_to_string(p).map_err(|e| Error::io("reading", p, e))?;
        Options::from_toml_str(&s)
    }

    fn set(&mut self, key: &str, v: &toml::Value) -> Result<()> {
        match key {
            "create_if_missing" => self.create_if_missing = boolean(key, v)?,
            "error_if_exists" => self.error_if_exists = boolean(key, v)?,
            "memtable_size" => self.memtable_size = size(key, v)?,
            "max_immutable_memtables" => self.max_immutable_memtables = size(key, v)?,
            "block_size" => self.block_size = size(key, v)?,
            "block_restart_interval" => self.block_restart_interval = size(key, v)?,
            "block_cache_size" => self.block_cache_size = size(key, v)?,
            "prepopulate_block_cache" => self.prepopulate_block_cache = boolean(key, v)?,
            "cache_values" => self.cache_values = boolean(key, v)?,
            "max_open_files" => self.max_open_files = size(key, v)?,
            "hot_key_cache_size" => self.hot_key_cache_size = size(key, v)?,
            "compression" => self.compression = compression(key, v)?,
            "vlog_compression" => {
                self.vlog_compression = match v.as_str() {
                    Some("same") => None,
                    _ => Some(compression(key, v).map_err(|_| {
                        Error::invalid(format!(
                            "{key}: expected \"same\", \"none\", \"snappy\", \"lz4\", \"zstd\" or \"zstd:<level>\""
                        ))
                    })?),
                }
            }
            "bloom_bits_per_key" => {
                self.bloom_bits_per_key = u32::try_from(size(key, v)?)
                    .map_err(|_| Error::invalid(format!("{key}: too large")))?
            }
            "value_threshold" => self.value_threshold = size(key, v)?,
            "vlog_file_size" => self.vlog_file_size = size(key, v)? as u64,
            "wal_sync" => self.wal_sync = sync_mode(key, v)?,
            "mmap_reads" => self.mmap_reads = boolean(key, v)?,
            "verify_checksums" => self.verify_checksums = boolean(key, v)?,
            "readahead_blocks" => self.readahead_blocks = size(key, v)?,
            "max_levels" => self.max_levels = size(key, v)?,
            "level_size_multiplier" => self.level_size_multiplier = size(key, v)?,
            "base_level_size" => self.base_level_size = size(key, v)? as u64,
            "target_file_size" => self.target_file_size = size(key, v)? as u64,
            "level0_compaction_trigger" => self.level0_compaction_trigger = size(key, v)?,
            "level0_slowdown_trigger" => self.level0_slowdown_trigger = size(key, v)?,
            "read_triggered_compaction" => self.read_triggered_compaction = boolean(key, v)?,
            "idle_compaction_ms" => self.idle_compaction_ms = millis(key, v)?,
            "level0_stop_trigger" => self.level0_stop_trigger = size(key, v)?,
            "pending_compaction_bytes_slowdown" => {
                self.pending_compaction_bytes_slowdown = size(key, v)? as u64
            }
            "pending_compaction_bytes_stop" => {
                self.pending_compaction_bytes_stop = size(key, v)? as u64
            }
            "slowdown_write_rate" => self.slowdown_write_rate = size(key, v)? as u64,
            "txn_detect_conflicts" => self.txn_detect_conflicts = boolean(key, v)?,
            "txn_max_bytes" => self.txn_max_bytes = size(key, v)?,
            "background_threads" => self.background_threads = size(key, v)?,
            "vlog_gc_discard_ratio" => {
                self.vlog_gc_discard_ratio = match v {
                    toml::Value::Float(f) => *f,
                    toml::Value::Integer(i) => *i as f64,
                    _ => return Err(Error::invalid(format!("{key}: expected a number"))),
                }
            }
            "vlog_gc_background" => self.vlog_gc_background = boolean(key, v)?,
            _ => return Err(Error::invalid(format!("unknown option key `{key}`"))),
        }
        Ok(())
    }

    /// Rejects impossible settings with a message naming the field.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: &str| Err(Error::invalid(format!("{field}: {why}")));
        if self.memtable_size < 64 << 10 {
            return bad("memtable_size", "must be at least 64 KiB");
        }
        if self.max_immutable_memtables == 0 {
            return bad("max_immutable_memtables", "must be at least 1");
        }
        if !(256..=(64 << 20)).contains(&self.block_size) {
            return bad("block_size", "must be 256 bytes to 64 MiB");
        }
        if !(1..=1024).contains(&self.block_restart_interval) {
            return bad("block_restart_interval", "must be 1 to 1024");
        }
        for (field, c) in [
            ("compression", Some(self.compression)),
            ("vlog_compression", self.vlog_compression),
        ] {
            if let Some(Compression::Zstd { level }) = c {
                if !(1..=22).contains(&level) {
                    return bad(field, "zstd level must be 1 to 22");
                }
            }
        }
        if self.max_open_files < 16 {
            return bad("max_open_files", "must be at least 16");
        }
        if self.readahead_blocks > 1024 {
            return bad("readahead_blocks", "must be 0 to 1024");
        }
        if self.bloom_bits_per_key > 64 {
            return bad("bloom_bits_per_key", "must be 0 to 64");
        }
        if self.value_threshold == 0 {
            return bad("value_threshold", "must be at least 1 (usize::MAX = never)");
        }
        if let SyncMode::Periodic(d) = self.wal_sync {
            if d.is_zero() {
                return bad("wal_sync", "a periodic interval must be above zero");
            }
        }
        if !(2..=16).contains(&self.max_levels) {
            return bad("max_levels", "must be 2 to 16");
        }
        if self.level_size_multiplier < 2 {
            return bad("level_size_multiplier", "must be at least 2");
        }
        if self.base_level_size < 64 << 10 {
            return bad("base_level_size", "must be at least 64 KiB");
        }
        if self.target_file_size < 64 << 10 {
            return bad("target_file_size", "must be at least 64 KiB");
        }
        if self.level0_compaction_trigger == 0 {
            return bad("level0_compaction_trigger", "must be at least 1");
        }
        if self.level0_slowdown_trigger < self.level0_compaction_trigger {
            return bad(
                "level0_slowdown_trigger",
                "must be at least level0_compaction_trigger",
            );
        }
        if self.level0_stop_trigger < self.level0_slowdown_trigger {
            return bad(
                "level0_stop_trigger",
                "must be at least level0_slowdown_trigger",
            );
        }
        if self.pending_compaction_bytes_stop < self.pending_compaction_bytes_slowdown {
            return bad(
                "pending_compaction_bytes_stop",
                "must be at least pending_compaction_bytes_slowdown",
            );
        }
        if self.slowdown_write_rate < 1 << 10 {
            return bad("slowdown_write_rate", "must be at least 1 KiB/s");
        }
        if self.txn_max_bytes < 1024 {
            return bad("txn_max_bytes", "must be at least 1 KiB");
        }
        if !(1..=64).contains(&self.background_threads) {
            return bad("background_threads", "must be 1 to 64");
        }
        if self.vlog_file_size < 64 << 10 {
            return bad("vlog_file_size", "must be at least 64 KiB");
        }
        if !(self.vlog_gc_discard_ratio > 0.0 && self.vlog_gc_discard_ratio <= 1.0) {
            return bad("vlog_gc_discard_ratio", "must be in (0, 1]");
        }
        Ok(())
    }
}

/// Milliseconds: a non-negative integer, or a duration string like "500ms" or "2s".
fn millis(key: &str, v: &toml::Value) -> Result<u64> {
    let d = match v {
        toml::Value::Integer(i) if *i >= 0 => Some(Duration::from_millis(*i as u64)),
        toml::Value::String(s) => parse_duration(s),
        _ => None,
    };
    d.and_then(|d| u64::try_from(d.as_millis()).ok())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{key}: expected milliseconds (a number or a string like \"500ms\")"
            ))
        })
}

fn boolean(key: &str, v: &toml::Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| Error::invalid(format!("{key}: expected true or false")))
}

/// Parses a size: a non-negative integer, or a string like "64MiB", "4 KiB", "1GB", "512".
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// Parses a duration like "100ms", "2s", "1m", "500us".
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "us" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

fn size(key: &str, v: &toml::Value) -> Result<usize> {
    let n = match v {
        toml::Value::Integer(i) if *i >= 0 => Some(*i as u64),
        toml::Value::String(s) if s == "max" || s == "never" => Some(usize::MAX as u64),
        toml::Value::String(s) => parse_size(s),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
        Error::invalid(format!(
            "{key}: expected a size (a number or a string like \"64MiB\")"
        ))
    })
}

fn compression(key: &str, v: &toml::Value) -> Result<Compression> {
    let s = v.as_str().unwrap_or_default().to_ascii_lowercase();
    let c = match s.as_str() {
        "none" => Some(Compression::None),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd { level: 3 }),
        other => other
            .strip_prefix("zstd:")
            .and_then(|l| l.parse().ok())
            .map(|level| Compression::Zstd { level }),
    };
    c.ok_or_else(|| {
        Error::invalid(format!(
            "{key}: expected \"none\", \"snappy\", \"lz4\", \"zstd\" or \"zstd:<level>\""
        ))
    })
}

fn sync_mode(key: &str, v: &toml::Value) -> Result<SyncMode> {
    let s = v.as_str().unwrap_or_default();
    match s {
        "always" => Ok(SyncMode::Always),
        "never" => Ok(SyncMode::Never),
        other => parse_duration(other.strip_prefix("periodic:").unwrap_or(other))
            .map(SyncMode::Periodic)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{key}: expected \"always\", \"never\" or a duration like \"100ms\""
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        Options::default().validate().unwrap();
        Options::low_memory().validate().unwrap();
        Options::high_performance().validate().unwrap();
    }

    #[test]
    fn toml_sizes_durations_and_unknown_keys() {
        let o = Options::from_toml_str(
            r#"
            memtable_size = "8MiB"
            block_size = 8192
            compression = "zstd:7"
            wal_sync = "100ms"
            bloom_bits_per_key = 0
            value_threshold = "never"
            "#,
        )
        .unwrap();
        assert_eq!(o.memtable_size, 8 << 20);
        assert_eq!(o.block_size, 8192);
        assert_eq!(o.compression, Compression::Zstd { level: 7 });
        assert_eq!(o.wal_sync, SyncMode::Periodic(Duration::from_millis(100)));
        assert_eq!(o.value_threshold, usize::MAX);
        let e = Options::from_toml_str("memtabel_size = 1").unwrap_err();
        assert!(e.to_string().contains("memtabel_size"), "{e}");
        let e = Options::from_toml_str("block_size = \"lots\"").unwrap_err();
        assert!(e.to_string().contains("block_size"), "{e}");
        let e = Options::from_toml_str("level0_stop_trigger = 1").unwrap_err();
        assert!(e.to_string().contains("level0_stop_trigger"), "{e}");
        let e = Options::from_toml_str("readahead_blocks = 5000").unwrap_err();
        assert!(e.to_string().contains("readahead_blocks"), "{e}");
        assert_eq!(
            Options::from_toml_str("readahead_blocks = 0")
                .unwrap()
                .readahead_blocks,
            0
        );
        assert_eq!(Options::from_toml_str("").unwrap(), Options::default());
        for (text, c) in [
            ("\"same\"", None),
            ("\"none\"", Some(Compression::None)),
            ("\"zstd:2\"", Some(Compression::Zstd { level: 2 })),
        ] {
            let o = Options::from_toml_str(&format!("vlog_compression = {text}")).unwrap();
            assert_eq!(o.vlog_compression, c, "{text}");
        }
        for bad in ["\"zstd:40\"", "\"brotli\"", "1"] {
            let e = Options::from_toml_str(&format!("vlog_compression = {bad}")).unwrap_err();
            assert!(e.to_string().contains("vlog_compression"), "{bad}: {e}");
        }
        for (text, ms) in [("250", 250), ("\"2s\"", 2000), ("\"100ms\"", 100), ("0", 0)] {
            let o = Options::from_toml_str(&format!("idle_compaction_ms = {text}")).unwrap();
            assert_eq!(o.idle_compaction_ms, ms, "{text}");
        }
        for bad in ["\"1KiB\"", "-1", "true"] {
            let e = Options::from_toml_str(&format!("idle_compaction_ms = {bad}")).unwrap_err();
            assert!(e.to_string().contains("idle_compaction_ms"), "{bad}: {e}");
        }
    }

    #[test]
    fn size_and_duration_parsing() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("4 KiB"), Some(4096));
        assert_eq!(parse_size("1GB"), Some(1_000_000_000));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("10"), None);
    }
}
