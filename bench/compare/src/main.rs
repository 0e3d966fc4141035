//! StrataKV side by side with RocksDB, fjall, sled and redb: the same workloads, keys, values
//! and settings, each engine in its own child process (so that peak RSS and I/O counters are
//! its own), one report.
//!
//! `cargo run --release -p stratakv-compare --features fjall,sled,redb[,rocksdb] -- --help`;
//! `scripts/bench_compare.sh` runs the published set.

mod charts;
mod engines;
mod lowmem;
#[path = "../../../cli/src/bench/zipf.rs"]
#[allow(dead_code)]
mod zipf;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Parser;
use serde::{Deserialize, Serialize};

use engines::{Engine, Settings};

#[derive(Parser, Debug, Clone)]
#[command(about = "StrataKV against RocksDB, fjall, sled and redb, one engine per process")]
struct Args {
    /// Engines, comma-separated (those built in by default).
    #[arg(long)]
    engines: Option<String>,
    /// Keys per fill; operations per workload.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Threads sharing each workload's operations.
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Fsync every write.
    #[arg(long)]
    sync: bool,
    /// Block cache, MiB, the same for every engine.
    #[arg(long, default_value_t = 64)]
    cache_mib: u64,
    /// Values at least this long go to a blob store in engines that have one.
    #[arg(long, default_value_t = 4096)]
    separate_from: usize,
    /// Store the values of blob stores uncompressed in every engine that has one (StrataKV
    /// `vlog_compression: Some(None)`, RocksDB `blob_compression_type` none, fjall's kv
    /// separation `compression(None)`); without it, blobs are LZ4 as tables are.
    #[arg(long)]
    raw_blobs: bool,
    /// Spend the cache on a key-value cache where the engine has one: StrataKV's hot-key
    /// cache (block cache off), RocksDB's row cache (with a 1 MiB block cache); the others
    /// keep a block cache of that size.
    #[arg(long)]
    row_cache: bool,
    /// Read tables through mmap where the engine offers it (StrataKV `mmap_reads`, RocksDB
    /// `allow_mmap_reads`).
    #[arg(long)]
    mmap: bool,
    /// Comma-separated workloads: fillseq, fillrandom, overwrite, readrandom, readmissing,
    /// readseq, seekrandom (seek + next 100), readwhilewriting (random reads while one more
    /// thread overwrites random keys; its rate is reported as its own row), deleterandom,
    /// ycsba .. ycsbf (Zipfian 0.99),
    /// txnrmw (a transaction per operation that reads a random key and writes it back with a
    /// counter in its first 8 bytes incremented, as StrataKV's `bench txnrmw`; it opens each
    /// engine's transactional flavour for the whole run), txncontended (the same on 16 hot
    /// keys: with --threads 2 the transactions conflict),
    /// recovery (time to reopen after a process killed with 64 MiB written and not closed),
    /// waitforcompaction (flush and wait until background compaction is idle; untimed,
    /// reported as its duration).
    #[arg(
        long,
        default_value = "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,seekrandom,readwhilewriting,deleterandom"
    )]
    workloads: String,
    /// readwhilewriting: the writer's pace in MiB/s of keys and values (db_bench's
    /// `--benchmark_write_rate_limit`); 0 writes without pause.
    #[arg(long, default_value_t = 8)]
    rww_write_mib: u64,
    /// Seed for key order and values.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run every engine this many times, interleaved (each round starts one engine later),
    /// and report each figure from the run with the median ops/s, with the range beside it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=99))]
    repeat: u64,
    /// Directory for the databases (default: a temporary one).
    #[arg(long)]
    dir: Option<String>,
    /// Also write the results as JSON to this file, and SVG charts beside it
    /// (`<stem>-throughput.svg`, `<stem>-latency.svg`).
    #[arg(long)]
    json: Option<String>,
    /// Only run the low-memory load: this many 16+16-byte records into StrataKV with
    /// `Options::low_memory()`, RSS sampled each second; writes `<--json stem>.csv` and
    /// `<stem>-rss.svg` (default stem target/lowmem).
    #[arg(long)]
    low_memory_load: Option<u64>,
    /// With --low-memory-load: keys in a scattered order instead of ascending.
    #[arg(long)]
    random_order: bool,
    /// Only draw the charts of an earlier run's JSON file (written beside it), then exit.
    #[arg(long)]
    charts_from: Option<String>,
    /// Internal: run one engine and print JSON lines.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal (with --child): write 64 MiB into a new database here, then exit without
    /// closing it, as a crash would leave it.
    #[arg(long, hide = true)]
    fill_and_die: Option<String>,
}

/// One workload's figures for one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    engine: String,
    workload: String,
    ops: u64,
    secs: f64,
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// Bytes in the directory after the workload (and, for the "close" row, after close).
    disk_bytes: u64,
    /// Bytes this process caused to be written to storage so far (/proc/self/io).
    device_write_bytes: u64,
    /// Peak resident memory so far, KiB (VmHWM).
    peak_rss_kib: u64,
    settings: String,
    /// Transactions that conflicted and were retried (`txnrmw`, `txncontended`; sled and
    /// redb never say).
    #[serde(default)]
    conflicts: u64,
    /// With `--repeat`: ops/s of every run, in the order run (this row is the median's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    runs: Vec<f64>,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key `i`: 16 zero-padded decimal digits (as `format!("{i:016}")`, without the formatting
/// machinery, which cost a tenth of a cached put: harness time, not the engine's).
fn key(i: u64) -> Vec<u8> {
    let mut k = vec![b'0'; 16];
    let mut n = i;
    for d in k.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    debug_assert_eq!(n, 0, "keys have 16 digits");
    k
}

/// Values made up front, as db_bench's `RandomGenerator` does: about 4 MiB of them, each
/// made as [`value`] makes one, so that a timed operation spends nothing on making its
/// value. Operations pick one by a hash of their seed and index.
struct Values {
    pool: Vec<u8>,
    len: usize,
    count: u64,
}

impl Values {
    fn new(seed: u64, len: usize) -> Values {
        let count = ((4 << 20) / len.max(1)).max(64) as u64;
        let mut pool = Vec::with_capacity(count as usize * len);
        for j in 0..count {
            pool.extend_from_slice(&value(seed, j, len));
        }
        Values { pool, len, count }
    }

    fn get(&self, seed: u64, i: u64) -> &[u8] {
        let j = (splitmix(seed ^ i) % self.count) as usize;
        &self.pool[j * self.len..(j + 1) * self.len]
    }
}

/// A value for key `i`: half random bytes, half repeated, as db_bench makes them (about 2x
/// compressible).
fn value(seed: u64, i: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x = splitmix(seed ^ i);
    while v.len() < len / 2 {
        x = splitmix(x);
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len / 2);
    while v.len() < len {
        v.push(b'x');
    }
    v
}

fn proc_field(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            // Blocks allocated, not apparent sizes: sparse extensions (StrataKV's WAL
            // preallocation) take no disk space, and space reserved with `fallocate` (as
            // RocksDB reserves its WAL) does.
            Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
            Err(_) => 0,
        })
        .sum()
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Runs `op(i)` for i in 0..n over `threads` threads; returns seconds and sorted latencies (ns).
fn timed(
    threads: u64,
    n: u64,
    op: &(dyn Fn(u64) -> Result<(), String> + Sync),
) -> Result<(f64, Vec<u32>), String> {
    let t = Instant::now();
    let per = n.div_ceil(threads);
    let mut lat: Vec<u32> = Vec::with_capacity(n as usize);
    let parts: Vec<Result<Vec<u32>, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|th| {
                s.spawn(move || {
                    let mut l = Vec::with_capacity(per as usize);
                    for i in th * per..((th + 1) * per).min(n) {
                        let t0 = Instant::now();
                        op(i)?;
                        l.push(t0.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
                    }
                    Ok(l)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    for p in parts {
        lat.extend(p?);
    }
    lat.sort_unstable();
    Ok((secs, lat))
}

fn child(name: &str, a: &Args) -> Result<(), String> {
    let root = match &a.dir {
        Some(d) => tempfile::Builder::new()
            .prefix(name)
            .tempdir_in(d)
            .map_err(|e| e.to_string())?,
        None => tempfile::Builder::new()
            .prefix(name)
            .tempdir()
            .map_err(|e| e.to_string())?,
    };
    let s = Settings {
        cache_bytes: a.cache_mib << 20,
        sync: a.sync,
        separate_from: a.separate_from,
        raw_blobs: a.raw_blobs,
        value_size: a.value_size,
        row_cache: a.row_cache,
        mmap: a.mmap,
        transactions: a
            .workloads
            .split(',')
            .any(|w| matches!(w.trim(), "txnrmw" | "txncontended")),
    };
    let n = a.num;
    // A random permutation of 0..n (a multiplicative step coprime with n).
    let step = {
        let mut st = (splitmix(a.seed) % n.max(2)) | 1;
        while gcd(st, n) != 1 {
            st += 2;
        }
        st
    };
    let rand_key = move |i: u64| (i.wrapping_mul(step).wrapping_add(a.seed)) % n;
    let zipf = zipf::Zipf::new(n, 0.99);
    let vals = Values::new(a.seed, a.value_size);
    let mut db: Option<Box<dyn Engine>> = None;
    let mut gen = 0;
    let mut dbdir = root.path().join("db0");
    let conflicts = AtomicU64::new(0);
    let emit = |w: &str, ops: u64, secs: f64, lat: &[u32], dir: &Path, desc: String| {
        let row = Row {
            engine: name.into(),
            workload: w.into(),
            ops,
            secs,
            ops_per_sec: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            p50_us: percentile(lat, 0.5),
            p99_us: percentile(lat, 0.99),
            p999_us: percentile(lat, 0.999),
            disk_bytes: dir_bytes(dir),
            device_write_bytes: proc_field("/proc/self/io", "write_bytes:"),
            peak_rss_kib: proc_field("/proc/self/status", "VmHWM:"),
            settings: desc,
            conflicts: conflicts.swap(0, Ordering::Relaxed),
            runs: Vec::new(),
        };
        println!("{}", serde_json::to_string(&row).expect("serializable"));
    };
    for w in a.workloads.split(',').map(str::trim) {
        if w.starts_with("fill") || db.is_none() {
            if let Some(d) = db.take() {
                d.close()?;
            }
            gen += 1;
            dbdir = root.path().join(format!("db{gen}"));
            db = Some(engines::open(name, &dbdir, &s)?);
        }
        let e = &**db.as_ref().expect("opened");
        let seed = a.seed;
        let (secs, lat) = match w {
            "fillseq" => timed(a.threads, n, &|i| e.put(&key(i), vals.get(seed, i)))?,
            "fillrandom" | "overwrite" => timed(a.threads, n, &|i| {
                let k = rand_key(i);
                e.put(&key(k), vals.get(seed ^ 1, k))
            })?,
            "readrandom" => timed(a.threads, n, &|i| {
                let k = rand_key(i.wrapping_mul(7));
                e.get(&key(k)).map(|_| ())
            })?,
            "readmissing" => timed(a.threads, n, &|i| {
                let mut k = key(rand_key(i));
                k.push(b'.');
                e.get(&k).map(|_| ())
            })?,
            "readseq" => {
                let t = Instant::now();
                let c = e.scan_all()?;
                let secs = t.elapsed().as_secs_f64();
                emit(w, c as u64, secs, &[], &dbdir, e.describe());
                continue;
            }
            "seekrandom" => timed(a.threads, n / 10, &|i| {
                e.seek_next(&key(rand_key(i)), 100).map(|_| ())
            })?,
            "deleterandom" => timed(a.threads, n, &|i| e.delete(&key(rand_key(i))))?,
            "txnrmw" | "txncontended" => {
                if a.value_size < 8 {
                    return Err(format!("{w} needs values of 8 bytes or more (a counter)"));
                }
                let hot = w == "txncontended";
                timed(a.threads, n, &|i| {
                    let k = if hot {
                        splitmix(i) % CONTENDED_KEYS
                    } else {
                        rand_key(i.wrapping_mul(7))
                    };
                    let c = e.rmw(&key(k), vals.get(seed ^ 1, k))?;
                    conflicts.fetch_add(c, Ordering::Relaxed);
                    Ok(())
                })?
            }
            "readwhilewriting" => {
                let (secs, lat, writes) = read_while_writing(e, a, &rand_key, &vals)?;
                emit(w, lat.len() as u64, secs, &lat, &dbdir, e.describe());
                // The writer's own rate, so that an engine whose readers starve its writer
                // (or the reverse) shows it.
                emit(RWW_WRITES, writes, secs, &[], &dbdir, e.describe());
                continue;
            }
            "waitforcompaction" => {
                let t = Instant::now();
                e.wait_for_compaction()?;
                let secs = t.elapsed().as_secs_f64();
                emit(w, 0, secs, &[], &dbdir, e.describe());
                continue;
            }
            y if y.starts_with("ycsb") => ycsb(e, y, a, &zipf, &vals)?,
            "recovery" => {
                let dir = root.path().join("crashed");
                let st = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
                    .args(["--child", name, "--fill-and-die"])
                    .arg(&dir)
                    .args(["--value-size", &a.value_size.to_string()])
                    .args(a.raw_blobs.then_some("--raw-blobs"))
                    .status()
                    .map_err(|e| e.to_string())?;
                if !st.success() {
                    return Err(format!("the crashing writer failed: {st}"));
                }
                let t = Instant::now();
                let re = engines::open(name, &dir, &s)?;
                let found = re.get(&key(0))?;
                let secs = t.elapsed().as_secs_f64();
                let mut desc = re.describe();
                if found.is_none() {
                    // redb with Durability::None: commits since the last durable one are
                    // not promised to survive, and did not.
                    desc.push_str("; after the kill the first key written was gone");
                }
                re.close()?;
                emit(w, 1, secs, &[(secs * 1e9) as u32], &dir, desc);
                continue;
            }
            other => return Err(format!("unknown workload {other}")),
        };
        let ops = lat.len() as u64;
        emit(w, ops, secs, &lat, &dbdir, e.describe());
    }
    if let Some(d) = db.take() {
        let desc = d.describe();
        d.close()?;
        emit("close", 0, 0.0, &[], &dbdir, desc);
    }
    Ok(())
}

/// Keys that `txncontended`'s transactions share.
const CONTENDED_KEYS: u64 = 16;

/// The row that reports the writer's rate during `readwhilewriting`.
const RWW_WRITES: &str = "readwhilewriting (writer)";

/// db_bench's `readwhilewriting`: `threads` readers share `num` random point reads while one
/// more thread overwrites random keys until they finish, paced at `--rww-write-mib` so that
/// every engine serves its reads under the same write load (unpaced, a faster engine's
/// writer would make more flush and compaction work for its own readers to share the cores
/// with). Returns the readers' seconds and latencies and how many writes the writer made
/// meanwhile.
fn read_while_writing(
    e: &dyn Engine,
    a: &Args,
    rand_key: &(dyn Fn(u64) -> u64 + Sync),
    vals: &Values,
) -> Result<(f64, Vec<u32>, u64), String> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seed = a.seed;
    std::thread::scope(|s| {
        let writer = s.spawn(|| -> Result<u64, String> {
            // Writes per second the pace allows (0: no limit), in user bytes as db_bench's
            // --benchmark_write_rate_limit counts them.
            let per_sec =
                a.rww_write_mib.saturating_mul(1 << 20) as f64 / (16 + a.value_size) as f64;
            let start = Instant::now();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if per_sec > 0.0 && i as f64 >= start.elapsed().as_secs_f64() * per_sec {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    continue;
                }
                let k = rand_key(i.wrapping_mul(13).wrapping_add(1));
                e.put(&key(k), vals.get(seed ^ 2, i))?;
                i += 1;
            }
            Ok(i)
        });
        let reads = timed(a.threads, a.num, &|i| {
            let k = rand_key(i.wrapping_mul(7));
            e.get(&key(k)).map(|_| ())
        });
        stop.store(true, Ordering::Relaxed);
        let writes = writer
            .join()
            .unwrap_or_else(|_| Err("the writer panicked".into()))?;
        let (secs, lat) = reads?;
        Ok((secs, lat, writes))
    })
}

/// YCSB core workloads A-F over the loaded keys (Zipfian 0.99, scrambled; D reads the
/// latest inserts): A 50% reads / 50% updates, B 95/5, C reads only, D 95% reads / 5%
/// inserts, E 95% short scans (1-100 entries) / 5% inserts, F 50% reads / 50%
/// read-modify-writes.
fn ycsb(
    e: &dyn Engine,
    w: &str,
    a: &Args,
    z: &zipf::Zipf,
    vals: &Values,
) -> Result<(f64, Vec<u32>), String> {
    let n = a.num;
    let inserted = AtomicU64::new(n);
    let seed = a.seed;
    timed(a.threads, n, &|i| {
        let h = splitmix(seed ^ 0xC5B1 ^ i);
        let u = zipf::unit(h);
        let pct = splitmix(h) % 100;
        let insert = || {
            let k = inserted.fetch_add(1, Ordering::Relaxed);
            e.put(&key(k), vals.get(seed, k))
        };
        match w {
            "ycsba" | "ycsbb" | "ycsbc" => {
                let k = key(z.key(u));
                let reads = match w {
                    "ycsba" => 50,
                    "ycsbb" => 95,
                    _ => 100,
                };
                if pct < reads {
                    e.get(&k).map(|_| ())
                } else {
                    e.put(&k, vals.get(seed ^ i, i))
                }
            }
            "ycsbd" => {
                if pct < 95 {
                    let last = inserted.load(Ordering::Relaxed);
                    e.get(&key(last - 1 - z.rank(u).min(last - 1))).map(|_| ())
                } else {
                    insert()
                }
            }
            "ycsbe" => {
                if pct < 95 {
                    let len = 1 + (splitmix(h ^ 7) % 100) as usize;
                    e.seek_next(&key(z.key(u)), len).map(|_| ())
                } else {
                    insert()
                }
            }
            "ycsbf" => {
                let k = key(z.key(u));
                if pct < 50 {
                    e.get(&k).map(|_| ())
                } else {
                    e.get(&k)?;
                    e.put(&k, vals.get(seed ^ i, i))
                }
            }
            other => Err(format!("unknown workload {other}")),
        }
    })
}

/// Writes 64 MiB of keys and values and exits without closing the engine: what it must
/// recover is whatever its memtable and log held at that moment.
fn fill_and_die(name: &str, dir: &Path, a: &Args) -> Result<(), String> {
    let s = Settings {
        cache_bytes: a.cache_mib << 20,
        sync: false,
        separate_from: a.separate_from,
        raw_blobs: a.raw_blobs,
        value_size: a.value_size,
        row_cache: a.row_cache,
        mmap: a.mmap,
        transactions: false,
    };
    let e = engines::open(name, dir, &s)?;
    let vals = Values::new(a.seed, a.value_size);
    let n = (64u64 << 20) / (16 + a.value_size as u64);
    for i in 0..n {
        e.put(&key(i), vals.get(a.seed, i))?;
    }
    // No close, no drop: the process ends as a kill would end it (the OS keeps what was
    // written to files).
    std::process::exit(0);
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn parent(a: &Args) -> Result<Vec<Row>, String> {
    let names: Vec<String> = match &a.engines {
        Some(e) => e.split(',').map(|s| s.trim().to_string()).collect(),
        None => engines::names().into_iter().map(String::from).collect(),
    };
    let mut rounds = Vec::new();
    for round in 0..a.repeat as usize {
        // Each round starts one engine later, so none always runs first (or right after
        // the same neighbour).
        let mut order = names.clone();
        order.rotate_left(round % names.len().max(1));
        if a.repeat > 1 {
            eprintln!("== round {} of {}", round + 1, a.repeat);
        }
        rounds.push(run_engines(&order)?);
    }
    Ok(median_rows(&names, rounds))
}

/// Runs each engine of `names` in its own child process, in order; their rows.
fn run_engines(names: &[String]) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for name in names {
        eprintln!("== {name}");
        let mut cmd = Command::new(&exe);
        cmd.args(std::env::args().skip(1))
            .arg("--child")
            .arg(name)
            .stdout(Stdio::piped());
        let mut ch = cmd.spawn().map_err(|e| e.to_string())?;
        let out = ch.stdout.take().expect("piped");
        for line in BufReader::new(out).lines() {
            let line = line.map_err(|e| e.to_string())?;
            match serde_json::from_str::<Row>(&line) {
                Ok(r) => {
                    eprintln!(
                        "   {:<13} {:>12.0} ops/s  p50 {:>7.1} us  p99 {:>8.1} us",
                        r.workload, r.ops_per_sec, r.p50_us, r.p99_us
                    );
                    rows.push(r);
                }
                Err(_) => eprintln!("   {line}"),
            }
        }
        let st = ch.wait().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("{name} failed: {st}"));
        }
    }
    Ok(rows)
}

/// One row per engine (in `names`' order) and workload from several rounds of runs: the
/// row of the run with the median ops/s (the lower middle for an even count; seconds for
/// untimed rows), with every run's ops/s in `runs`. One round is returned as it is.
fn median_rows(names: &[String], rounds: Vec<Vec<Row>>) -> Vec<Row> {
    if rounds.len() == 1 {
        return rounds.into_iter().next().unwrap_or_default();
    }
    let mut out = Vec::new();
    for name in names {
        let per_round: Vec<Vec<&Row>> = rounds
            .iter()
            .map(|rows| rows.iter().filter(|r| &r.engine == name).collect())
            .collect();
        // Every round ran the same workloads in the same order.
        let n = per_round.iter().map(Vec::len).min().unwrap_or(0);
        for i in 0..n {
            let mut runs: Vec<&Row> = per_round.iter().map(|rows| rows[i]).collect();
            let measure = |r: &Row| if r.ops > 0 { r.ops_per_sec } else { r.secs };
            let all: Vec<f64> = runs.iter().map(|r| r.ops_per_sec).collect();
            runs.sort_by(|x, y| measure(x).total_cmp(&measure(y)));
            let mut row = runs[(runs.len() - 1) / 2].clone();
            row.runs = all;
            out.push(row);
        }
    }
    out
}

fn report(a: &Args, rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut engines: Vec<&str> = Vec::new();
    let mut workloads: Vec<&str> = Vec::new();
    for r in rows {
        if !engines.contains(&r.engine.as_str()) {
            engines.push(&r.engine);
        }
        let untimed = r.workload == "close" || r.workload == "waitforcompaction";
        if !untimed && !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let find = |e: &str, w: &str| rows.iter().find(|r| r.engine == e && r.workload == w);
    let mut s = String::new();
    if workloads.contains(&"readwhilewriting") {
        let pace = match a.rww_write_mib {
            0 => "without pause".to_string(),
            m => format!("paced at {m} MiB/s of keys and values"),
        };
        let _ = writeln!(
            s,
            "readwhilewriting: the readers' rate; one more thread overwrites random keys {pace} \
             meanwhile (its achieved rate is the `{RWW_WRITES}` row).\n"
        );
    }
    let _ = writeln!(
        s,
        "{} keys, 16-byte keys, {}-byte values, {} thread(s), {}, cache {} MiB\n",
        a.num,
        a.value_size,
        a.threads,
        if a.sync {
            "fsync per write"
        } else {
            "no fsync"
        },
        a.cache_mib
    );
    if a.repeat > 1 {
        let _ = writeln!(
            s,
            "Median of {} runs per engine, interleaved (each round starts one engine later); \
             every figure is from the median run, the ops/s range of all runs in brackets.\n",
            a.repeat
        );
    }
    let _ = write!(s, "| workload |");
    for e in &engines {
        let _ = write!(s, " {e} ops/s |");
    }
    let _ = writeln!(s, " stratakv / best peer |");
    let _ = writeln!(s, "|---|{}---|", "---|".repeat(engines.len()));
    for w in &workloads {
        let _ = write!(s, "| {w} |");
        for e in &engines {
            match find(e, w) {
                Some(r) if r.runs.len() > 1 => {
                    let lo = r.runs.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = r.runs.iter().copied().fold(0.0, f64::max);
                    let _ = write!(s, " {:.0} ({lo:.0}-{hi:.0}) |", r.ops_per_sec);
                }
                Some(r) => {
                    let _ = write!(s, " {:.0} |", r.ops_per_sec);
                }
                None => {
                    let _ = write!(s, " - |");
                }
            }
        }
        let ours = find("stratakv", w).map(|r| r.ops_per_sec);
        let best = engines
            .iter()
            .filter(|e| **e != "stratakv")
            .filter_map(|e| find(e, w).map(|r| r.ops_per_sec))
            .fold(0.0f64, f64::max);
        match ours {
            Some(o) if best > 0.0 => {
                let _ = writeln!(s, " {:.2}x |", o / best);
            }
            _ => {
                let _ = writeln!(s, " - |");
            }
        }
    }
    let _ = writeln!(s, "\nLatency, us (p50 / p99 / p99.9):\n");
    let _ = write!(s, "| workload |");
    for e in &engines {
        let _ = write!(s, " {e} |");
    }
    let _ = writeln!(s, "\n|---|{}", "---|".repeat(engines.len()));
    for w in &workloads {
        let _ = write!(s, "| {w} |");
        for e in &engines {
            match find(e, w) {
                Some(r) if r.ops > 0 && r.p50_us > 0.0 => {
                    let _ = write!(s, " {:.1} / {:.1} / {:.1} |", r.p50_us, r.p99_us, r.p999_us);
                }
                _ => {
                    let _ = write!(s, " - |");
                }
            }
        }
        let _ = writeln!(s);
    }
    let user = a.num * (16 + a.value_size as u64);
    // The bar's space figure is the one right after the overwrites; close may shrink a
    // directory further (a WAL retired, background collection finished).
    let overwrites = workloads.contains(&"overwrite");
    let _ = writeln!(
        s,
        "\n| engine |{} disk after close | bytes written to the device / user bytes of one fill | peak RSS |",
        if overwrites { " disk after overwrite |" } else { "" }
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|{}",
        if overwrites { "---|" } else { "" }
    );
    for e in &engines {
        if let Some(r) = find(e, "close") {
            let after_overwrite = match (overwrites, find(e, "overwrite")) {
                (true, Some(o)) => format!(" {:.1} MiB |", o.disk_bytes as f64 / 1048576.0),
                (true, None) => " - |".to_string(),
                (false, _) => String::new(),
            };
            let _ = writeln!(
                s,
                "| {e} |{after_overwrite} {:.1} MiB | {:.2} (all workloads' writes over one fill's bytes) | {:.0} MiB |",
                r.disk_bytes as f64 / 1048576.0,
                r.device_write_bytes as f64 / user as f64,
                r.peak_rss_kib as f64 / 1024.0
            );
        }
    }
    let recoveries: Vec<&Row> = rows.iter().filter(|r| r.workload == "recovery").collect();
    if !recoveries.is_empty() {
        let _ = writeln!(
            s,
            "\nRecovery after a kill with 64 MiB written and not closed:\n"
        );
        for r in recoveries {
            let lost = if r.settings.contains("was gone") {
                ", and the first key written was gone (no durable commit)"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "- {}: {:.0} ms to reopen and read{lost}",
                r.engine,
                r.secs * 1e3
            );
        }
    }
    if workloads.contains(&"txnrmw") {
        let _ = writeln!(
            s,
            "\nRead-modify-write transactions against plain writes (txnrmw / overwrite, each \
             engine against itself):\n"
        );
        for e in &engines {
            if let (Some(t), Some(o)) = (find(e, "txnrmw"), find(e, "overwrite")) {
                let _ = writeln!(
                    s,
                    "- {e}: {:.2} ({:.0} / {:.0} ops/s), {} conflicts retried",
                    t.ops_per_sec / o.ops_per_sec.max(f64::MIN_POSITIVE),
                    t.ops_per_sec,
                    o.ops_per_sec,
                    t.conflicts
                );
            }
        }
    }
    if workloads.contains(&"txncontended") {
        let _ = writeln!(
            s,
            "\nRead-modify-write transactions on {CONTENDED_KEYS} hot keys (conflicts retried at \
             once; sled retries inside and redb serializes writers, so neither counts any):\n"
        );
        for e in &engines {
            if let Some(t) = find(e, "txncontended") {
                let _ = writeln!(
                    s,
                    "- {e}: {:.0} ops/s, {} conflicts ({:.1}% of attempts)",
                    t.ops_per_sec,
                    t.conflicts,
                    100.0 * t.conflicts as f64 / (t.conflicts + t.ops).max(1) as f64
                );
            }
        }
    }
    let waits: Vec<&Row> = rows
        .iter()
        .filter(|r| r.workload == "waitforcompaction")
        .collect();
    if !waits.is_empty() {
        let _ = writeln!(
            s,
            "\nWaiting for compaction to finish (untimed, before the workloads after it):\n"
        );
        for r in waits {
            let _ = writeln!(s, "- {}: {:.1} s", r.engine, r.secs);
        }
    }
    let _ = writeln!(s, "\nSettings:\n");
    for e in &engines {
        if let Some(r) = rows.iter().find(|r| r.engine == *e) {
            let _ = writeln!(s, "- {e}: {}", r.settings);
        }
    }
    s
}

/// Draws the charts for the JSON results at `json` (beside it, same stem).
fn charts_for(json: &str, rows: &[Row]) -> Result<(), String> {
    let p = Path::new(json);
    let stem = p.with_extension("");
    let title = stem
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = charts::draw(rows, &title, &stem).map_err(|e| format!("drawing charts: {e}"))?;
    for f in files {
        eprintln!("chart: {}", f.display());
    }
    Ok(())
}

fn main() {
    let a = Args::parse();
    if let Some(n) = a.low_memory_load {
        let stem = a.json.as_deref().map_or_else(
            || std::path::PathBuf::from("target/lowmem"),
            |j| Path::new(j).with_extension(""),
        );
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let dir = a
            .dir
            .as_deref()
            .map_or_else(|| tmp.path().join("db"), |d| Path::new(d).join("lowmem"));
        match lowmem::run(n, a.random_order, &dir, &stem) {
            Ok(summary) => {
                eprintln!();
                println!("{summary}");
                let _ = std::fs::write(stem.with_extension("txt"), summary + "\n");
            }
            Err(e) => {
                eprintln!("low-memory load: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Some(json) = &a.charts_from {
        let rows: Vec<Row> = std::fs::read_to_string(json)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| {
                eprintln!("reading {json}: {e}");
                std::process::exit(1);
            });
        if let Err(e) = charts_for(json, &rows) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    if let (Some(name), Some(dir)) = (&a.child, &a.fill_and_die) {
        if let Err(e) = fill_and_die(name, Path::new(dir), &a) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some(name) = &a.child {
        if let Err(e) = child(name, &a) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
        return;
    }
    match parent(&a) {
        Ok(rows) => {
            println!("{}", report(&a, &rows));
            if let Some(p) = &a.json {
                let j = serde_json::to_string_pretty(&rows).expect("serializable");
                if let Err(e) = std::fs::write(p, j) {
                    eprintln!("writing {p}: {e}");
                    std::process::exit(1);
                }
                if let Err(e) = charts_for(p, &rows) {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(engine: &str, workload: &str, ops_per_sec: f64) -> Row {
        Row {
            engine: engine.into(),
            workload: workload.into(),
            ops: 100,
            secs: 100.0 / ops_per_sec,
            ops_per_sec,
            p50_us: ops_per_sec, // marks which run a row came from
            p99_us: 0.0,
            p999_us: 0.0,
            disk_bytes: 0,
            device_write_bytes: 0,
            peak_rss_kib: 0,
            settings: String::new(),
            conflicts: 0,
            runs: Vec::new(),
        }
    }

    #[test]
    fn median_rows_takes_each_figure_from_the_median_run() {
        let names = vec!["a".to_string(), "b".to_string()];
        // Rounds run the engines in rotated order.
        let rounds = vec![
            vec![
                row("a", "fill", 10.0),
                row("a", "read", 50.0),
                row("b", "fill", 7.0),
            ],
            vec![
                row("b", "fill", 9.0),
                row("a", "fill", 30.0),
                row("a", "read", 40.0),
            ],
            vec![
                row("a", "fill", 20.0),
                row("a", "read", 60.0),
                row("b", "fill", 8.0),
            ],
        ];
        let m = median_rows(&names, rounds);
        let got: Vec<(&str, &str, f64, &[f64])> = m
            .iter()
            .map(|r| (&r.engine[..], &r.workload[..], r.p50_us, &r.runs[..]))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "fill", 20.0, &[10.0, 30.0, 20.0][..]),
                ("a", "read", 50.0, &[50.0, 40.0, 60.0][..]),
                ("b", "fill", 8.0, &[7.0, 9.0, 8.0][..]),
            ]
        );
        // One round is passed through untouched; two take the lower middle.
        let one = median_rows(&names, vec![vec![row("a", "fill", 5.0)]]);
        assert!(one[0].runs.is_empty());
        let two = median_rows(
            &names,
            vec![vec![row("a", "fill", 5.0)], vec![row("a", "fill", 3.0)]],
        );
        assert_eq!(two[0].p50_us, 3.0);
    }
}
