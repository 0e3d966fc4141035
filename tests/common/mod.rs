//! Helpers shared by the integration tests: a seeded RNG, seed reporting, option presets.
#![allow(dead_code)]

use std::sync::Arc;

use stratakv::fs::MemFs;
use stratakv::{Compression, Options};

/// SplitMix64: small, fast, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Prints the seed (and how to rerun) if the test panics while this guard lives.
pub struct SeedGuard {
    pub name: &'static str,
    pub seed: u64,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n*** {} failed with seed {} — rerun with STRATAKV_SEED={} ***\n",
                self.name, self.seed, self.seed
            );
        }
    }
}

/// Runs `f`; if it panics, saves the in-memory store `fs` to a temporary directory, says
/// where, and lets the panic go on (every randomized failure keeps its directory).
pub fn keep_on_panic<R>(fs: &MemFs, what: &str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) if !keep_failures() => std::panic::resume_unwind(p),
        Err(p) => {
            let n = KEPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("stratakv-kept-{what}-{}-{n}", std::process::id()));
            match fs.save_to(&dir) {
                Ok(()) => eprintln!("*** {what}: the store is kept at {} ***", dir.display()),
                Err(e) => eprintln!("*** {what}: could not keep the store: {e} ***"),
            }
            std::panic::resume_unwind(p)
        }
    }
}

/// False when `STRATAKV_KEEP_FAILURES=0` (set by tests whose failures are expected).
pub fn keep_failures() -> bool {
    std::env::var_os("STRATAKV_KEEP_FAILURES").is_none_or(|v| v != "0")
}

static KEPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Seeds to run: `STRATAKV_SEED` alone when set, else `defaults`.
pub fn seeds(defaults: &[u64]) -> Vec<u64> {
    match std::env::var("STRATAKV_SEED") {
        Ok(s) => vec![s.parse().expect("STRATAKV_SEED must be a number")],
        Err(_) => defaults.to_vec(),
    }
}

/// Options on an in-memory filesystem with a tiny memtable and tiny levels, so flushes and
/// compactions (into several levels) happen all the time.
pub fn tiny_mem_options(fs: &MemFs) -> Options {
    Options {
        memtable_size: 64 << 10,
        block_size: 512,
        fs: Arc::new(fs.clone()),
        ..tiny_levels(Options::default())
    }
}

/// `o` with tiny level targets and output files.
pub fn tiny_levels(o: Options) -> Options {
    Options {
        base_level_size: 128 << 10,
        target_file_size: 64 << 10,
        level_size_multiplier: 4,
        level0_compaction_trigger: 2,
        level0_slowdown_trigger: 6,
        level0_stop_trigger: 10,
        ..o
    }
}

/// The option presets the model test runs across.
pub fn presets(fs: &MemFs) -> Vec<(&'static str, Options)> {
    let base = tiny_mem_options(fs);
    vec![
        ("tiny-lz4-bloom", base.clone()),
        (
            "tiny-none-nobloom",
            Options {
                compression: Compression::None,
                bloom_bits_per_key: 0,
                ..base.clone()
            },
        ),
        (
            "tiny-snappy-restart1",
            Options {
                compression: Compression::Snappy,
                block_restart_interval: 1,
                ..base.clone()
            },
        ),
        (
            "tiny-zstd",
            Options {
                compression: Compression::Zstd { level: 3 },
                bloom_bits_per_key: 4,
                ..base.clone()
            },
        ),
        (
            "low-memory",
            Options {
                fs: Arc::new(fs.clone()),
                memtable_size: 64 << 10,
                ..tiny_levels(Options::low_memory())
            },
        ),
        (
            "high-performance",
            Options {
                fs: Arc::new(fs.clone()),
                memtable_size: 128 << 10,
                ..tiny_levels(Options::high_performance())
            },
        ),
        (
            // Most values in the value log, small files, GC at a low ratio: separation,
            // rotation and collection all the time.
            "vlog-threshold-64",
            Options {
                value_threshold: 64,
                vlog_file_size: 64 << 10,
                vlog_gc_discard_ratio: 0.2,
                ..base.clone()
            },
        ),
        (
            "no-value-log",
            Options {
                value_threshold: usize::MAX,
                ..base.clone()
            },
        ),
        (
            // Caches far smaller than the data: block-cache eviction on nearly every read,
            // tables closed and reopened, hot keys cached and invalidated by writes.
            "tiny-caches",
            Options {
                block_cache_size: 16 << 10,
                max_open_files: 16,
                hot_key_cache_size: 8 << 10,
                ..base.clone()
            },
        ),
        (
            "no-compaction-pressure",
            Options {
                level0_compaction_trigger: 8,
                level0_slowdown_trigger: 16,
                level0_stop_trigger: 24,
                ..base.clone()
            },
        ),
    ]
}

/// Disk space taken by the files in directory `p` (allocated blocks).
pub fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        // Blocks allocated, not the apparent size: a WAL segment is extended sparsely
        // ahead of its records (`WAL_PREALLOCATE_STEP`), which takes no disk space.
        .map(|e| std::os::unix::fs::MetadataExt::blocks(&e.unwrap().metadata().unwrap()) * 512)
        .sum()
}

/// The WAL segments of the store in `dir` of `fs`, oldest first.
pub fn wal_segments(fs: &MemFs, dir: &str) -> Vec<std::path::PathBuf> {
    files_ending(fs, dir, ".wal")
}

/// The files of `dir` in `fs` whose names end with `suffix`, in name order (for numbered
/// files, oldest first).
pub fn files_ending(fs: &MemFs, dir: &str, suffix: &str) -> Vec<std::path::PathBuf> {
    use stratakv::fs::FileSystem;
    let dir = std::path::Path::new(dir);
    let mut v: Vec<std::path::PathBuf> = fs
        .list_dir(dir)
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(suffix))
        .map(|n| dir.join(n))
        .collect();
    v.sort();
    v
}

/// Every entry of `db`, read by a forward scan (panics on an error).
pub fn scan_all(db: &stratakv::Db) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// Three overlapping loads of keys `0..n`: every key (generation 1), then the even ones
/// (2), then the multiples of three (3), as the read-triggered and idle compaction tests
/// write them.
pub mod three_loads {
    use stratakv::Db;

    /// Key `i`.
    pub fn key(i: u32) -> String {
        format!("k{i:05}")
    }

    /// The value generation `gen` writes for key `i`.
    pub fn value(gen: u32, i: u32) -> String {
        format!("v{gen}-{i}")
    }

    /// The value the last of the three loads wrote for key `i`.
    pub fn newest(i: u32) -> String {
        let gen = if i.is_multiple_of(3) {
            3
        } else if i.is_multiple_of(2) {
            2
        } else {
            1
        };
        value(gen, i)
    }

    /// Writes load `gen` (1, 2 or 3) of keys `0..n`.
    pub fn load(db: &Db, gen: u32, n: u32) {
        for i in (0..n).step_by(gen as usize) {
            db.put(key(i), value(gen, i)).unwrap();
        }
    }

    /// Checks that every key holds its newest value, by gets and by a scan.
    pub fn check_newest(db: &Db, n: u32) {
        for i in 0..n {
            let v = db.get(key(i)).unwrap().expect("every key was written");
            assert_eq!(v, newest(i).as_bytes(), "key {i}");
        }
        assert_eq!(db.iter().count(), n as usize);
    }
}

/// Value-log GC driven by hand: options, values, and a first file made half garbage.
pub mod gc_by_hand {
    use super::*;
    use stratakv::Db;

    /// Values from 100 bytes separated into 64 KiB files, collected past a 0.4 discard
    /// ratio, and only when the test calls `vlog_gc` (so a file is collected while a reader
    /// or snapshot holds it, and nothing deletes in the background).
    pub fn options(fs: &MemFs) -> Options {
        Options {
            value_threshold: 100,
            vlog_file_size: 64 << 10,
            vlog_gc_discard_ratio: 0.4,
            vlog_gc_background: false,
            fs: Arc::new(fs.clone()),
            ..Options::default()
        }
    }

    /// 2000 incompressible bytes naming `tag` and `i`.
    pub fn val(tag: &str, i: u32) -> Vec<u8> {
        let mut v = format!("{tag}-{i}-").into_bytes();
        let mut rng = Rng::new(u64::from(i) << 8 | u64::from(tag.as_bytes()[0]));
        while v.len() < 2000 {
            v.push(rng.next_u64() as u8);
        }
        v
    }

    /// Writes keys `a000..a199` and `b000..b199` alternately (values `A1`, `B1`) into
    /// value-log files, overwrites the a keys (`A2`, into later files) and compacts, so the
    /// first file is half garbage. Returns its number.
    pub fn half_garbage_file(db: &Db) -> u64 {
        half_garbage_file_with(db, val)
    }

    /// [`half_garbage_file`] with values made by `val(tag, i)`.
    pub fn half_garbage_file_with(db: &Db, val: fn(&str, u32) -> Vec<u8>) -> u64 {
        for i in 0..200 {
            db.put(format!("a{i:03}"), val("A1", i)).unwrap();
            db.put(format!("b{i:03}"), val("B1", i)).unwrap();
        }
        let first = db.vlog_files()[0].number;
        for i in 0..200 {
            db.put(format!("a{i:03}"), val("A2", i)).unwrap();
        }
        db.compact().unwrap();
        let f = db
            .vlog_files()
            .into_iter()
            .find(|f| f.number == first)
            .unwrap();
        assert!(
            !f.active && f.discard_ratio >= 0.4,
            "A1 values discarded: {f:?}"
        );
        first
    }

    /// Whether value-log file `n` of the database in `dir` is on `fs`.
    pub fn vlog_file_exists(fs: &MemFs, dir: &str, n: u64) -> bool {
        use stratakv::fs::FileSystem;
        fs.exists(&stratakv::filename::vlog_path(std::path::Path::new(dir), n))
            .unwrap()
    }
}
