//! `stratakv bench`: db_bench-style workloads with a progress bar and a results table.
//!
//! Workloads: `fillseq` and `fillrandom` (each into a fresh database), `overwrite`,
//! `readrandom`, `readmissing` and `readseq` (on the database the last fill made; a
//! `fillseq` is run untimed first when there is none), and `txnrmw` / `txncontended`:
//! read-modify-write transactions over all keys, or over 8 hot keys (with abort rates).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use stratakv::{Db, Options, WriteOptions};

use crate::hist::Histogram;
use crate::Failure;

mod workloads;
mod zipf;

/// Arguments of `stratakv bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Number of keys.
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Bytes per key (zero-padded decimal numbers).
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Threads sharing each workload's operations.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Fsync every write (`WriteOptions { sync: true }`).
    #[arg(long)]
    pub sync: bool,
    /// Comma-separated workloads to run, in order: fillseq, fillrandom, overwrite,
    /// readrandom, readmissing, readseq, seekrandom, readwhilewriting, deleterandom,
    /// ycsba .. ycsbf (Zipfian 0.99), txnrmw, txncontended; `waitforcompaction` (as in
    /// db_bench) is not timed: it flushes and waits until compaction has caught up, so the
    /// next workload does not share the CPU with the previous one's compaction debt;
    /// `compact` (as in db_bench, not timed either) compacts every level down.
    #[arg(long, default_value = "fillseq,fillrandom,readrandom,readseq")]
    pub workloads: String,
    /// Options preset: default, low-memory or high-performance (before --config).
    #[arg(long, default_value = "default")]
    pub preset: String,
    /// Seed for key order and values.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Values at least this long go to the value log: bytes, a size such as "4KiB", or
    /// "never" (default: the options' value_threshold).
    #[arg(long)]
    pub value_threshold: Option<String>,
    /// Before the final figures, wait until flushes and compactions have caught up, so
    /// write amplification includes the compaction debt the workloads left.
    #[arg(long)]
    pub settle: bool,
    /// Entries read after each seek in `seekrandom` (the comparison crate reads 100).
    #[arg(long, default_value_t = 10)]
    pub seek_nexts: usize,
}

const ALL_WORKLOADS: &str = "fillseq, fillrandom, overwrite, readrandom, readmissing, readseq, \
     seekrandom, readwhilewriting, deleterandom, ycsba, ycsbb, ycsbc, ycsbd, ycsbe, ycsbf, \
     txnrmw, txncontended, waitforcompaction, compact";

struct Row {
    name: String,
    ops: u64,
    secs: f64,
    bytes: u64,
    hist: Histogram,
    note: String,
}

impl Row {
    /// The row of a timed run of `--num` operations, each moving one key and value.
    fn timed(ctx: &Ctx, name: &str, t: Timing, note: String) -> Row {
        let n = ctx.args.num;
        Row {
            name: name.into(),
            ops: n,
            secs: t.secs,
            bytes: n * (ctx.args.key_size + ctx.args.value_size) as u64,
            hist: t.hist,
            note,
        }
    }
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `i` in decimal, zero-padded to `width` bytes (as `format!("{i:0width$}")`, without the
/// formatting machinery, which cost a few percent of a cached read).
fn decimal_key(i: u64, width: usize) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let (mut n, mut p) = (i, digits.len());
    loop {
        p -= 1;
        digits[p] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[p..];
    let mut k = Vec::with_capacity(width.max(d.len()));
    k.resize(width.saturating_sub(d.len()), b'0');
    k.extend_from_slice(d);
    k
}

/// Values: pieces of 100 bytes, 50 random ones then the same 50 again, as db_bench's (its
/// `CompressibleString` with a fraction of 0.5): LZ4 compresses them 1.8x, each repeat one
/// long match. The earlier pool, 8 random bytes then one of them 8 times, was a short match
/// every 16 bytes: LZ4 compressed it only 1.35x, at 330 MB/s against 540, and decompressed
/// it at 2.6 GB/s against 5 (liblz4 on this project's VM, 4 KiB and 64 KiB values).
fn value_pool(seed: u64) -> Vec<u8> {
    const PIECE: usize = 100;
    let mut s = seed;
    let mut pool = Vec::with_capacity((1 << 20) + PIECE);
    while pool.len() < 1 << 20 {
        let start = pool.len();
        while pool.len() < start + PIECE / 2 {
            pool.extend_from_slice(&splitmix(&mut s).to_le_bytes());
        }
        pool.truncate(start + PIECE / 2);
        pool.extend_from_within(start..start + PIECE / 2);
    }
    pool.truncate(1 << 20);
    pool
}

struct Ctx {
    args: BenchArgs,
    base: Options,
    root: PathBuf,
    pool: Arc<Vec<u8>>,
    db: Option<Db>,
    order: Option<Arc<Vec<u64>>>,
    _temp: Option<tempfile::TempDir>,
}

impl Ctx {
    fn key(&self, i: u64) -> Vec<u8> {
        decimal_key(i, self.args.key_size)
    }

    fn fresh_db(&mut self, name: &str) -> Result<Db, Failure> {
        if let Some(db) = self.db.take() {
            db.close()?;
        }
        let dir = self.root.join(format!("bench-{name}"));
        if dir.exists() {
            if self._temp.is_some() {
                std::fs::remove_dir_all(&dir).map_err(|e| crate::usage(e.to_string()))?;
            } else {
                return Err(crate::usage(format!(
                    "{} exists; remove it or pick another --db",
                    dir.display()
                )));
            }
        }
        Ok(Db::open_with(&dir, self.base.clone())?)
    }

    fn random_order(&mut self) -> Arc<Vec<u64>> {
        if let Some(o) = &self.order {
            return o.clone();
        }
        let mut v: Vec<u64> = (0..self.args.num).collect();
        let mut s = self.args.seed;
        for i in (1..v.len()).rev() {
            let j = (splitmix(&mut s) % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        let v = Arc::new(v);
        self.order = Some(v.clone());
        v
    }
}

fn progress(name: &str, total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(name.to_string());
    pb
}

/// Runs `op(i)` for i in 0..n across threads, timing each call.
/// What a timed run measured.
struct Timing {
    secs: f64,
    hist: Histogram,
    /// Ops/s of each tenth of the run, in order (to see whether throughput holds up).
    deciles: Vec<f64>,
}

/// Records when the shared count of finished operations crosses each tenth of `n`.
struct Deciles {
    done: AtomicU64,
    marks: Mutex<Vec<f64>>,
    n: u64,
    start: Instant,
}

impl Deciles {
    fn add(&self, k: u64) {
        let before = self.done.fetch_add(k, Ordering::Relaxed);
        let step = (self.n / 10).max(1);
        if (before + k) / step > before / step {
            let t = self.start.elapsed().as_secs_f64();
            let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
            for _ in before / step..((before + k) / step).min(10) {
                m.push(t);
            }
        }
    }

    fn rates(&self) -> Vec<f64> {
        let m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        let step = (self.n / 10).max(1) as f64;
        let mut prev = 0.0;
        m.iter()
            .map(|&t| {
                let r = step / (t - prev).max(1e-9);
                prev = t;
                r
            })
            .collect()
    }
}

fn timed<F>(name: &str, n: u64, threads: usize, op: F) -> Result<Timing, Failure>
where
    F: Fn(u64) -> stratakv::Result<()> + Send + Sync,
{
    let pb = progress(name, n);
    let start = Instant::now();
    let deciles = Deciles {
        done: AtomicU64::new(0),
        marks: Mutex::new(Vec::with_capacity(10)),
        n,
        start,
    };
    let dec = &deciles;
    let op = &op;
    let pb_ref = &pb;
    let results: Vec<Result<Histogram, stratakv::Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                s.spawn(move || {
                    let mut h = Histogram::default();
                    let mut i = t;
                    let mut since = 0;
                    while i < n {
                        let t0 = Instant::now();
                        op(i)?;
                        h.record(t0.elapsed().as_nanos() as u64);
                        i += threads as u64;
                        since += 1;
                        if since == 1024 {
                            pb_ref.inc(since);
                            dec.add(since);
                            since = 0;
                        }
                    }
                    pb_ref.inc(since);
                    dec.add(since);
                    Ok(h)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(stratakv::Error::Closed)))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let mut all = Histogram::default();
    for r in results {
        all.merge(&r?);
    }
    Ok(Timing {
        secs,
        hist: all,
        deciles: deciles.rates(),
    })
}

/// "first 10% X/s, slowest 10% Y/s" for long runs.
fn decile_note(d: &[f64]) -> String {
    match (d.first(), d.iter().copied().reduce(f64::min)) {
        (Some(first), Some(min)) if d.len() == 10 => {
            format!(", first 10% {first:.0}/s, slowest 10% {min:.0}/s")
        }
        _ => String::new(),
    }
}

fn fill(ctx: &mut Ctx, name: &str, random: bool, fresh: bool) -> Result<Row, Failure> {
    let db = if fresh || ctx.db.is_none() {
        ctx.fresh_db(name)?
    } else {
        ctx.db.take().ok_or_else(|| crate::usage("no database"))?
    };
    let order = random.then(|| ctx.random_order());
    let n = ctx.args.num;
    let (vs, pool) = (ctx.args.value_size, ctx.pool.clone());
    let wo = WriteOptions {
        sync: ctx.args.sync,
    };
    let before = db.stats();
    let keyf = |i: u64| ctx.key(i);
    let t = timed(name, n, ctx.args.threads, |i| {
        let k = match &order {
            Some(o) => o[i as usize],
            None => i,
        };
        let off = (k as usize * 97) % (pool.len() - vs.min(pool.len()));
        db.put_with(keyf(k), &pool[off..off + vs], wo)
    })?;
    let s = db.stats();
    let user = s.user_bytes_written - before.user_bytes_written;
    let disk = s.disk_bytes_written - before.disk_bytes_written;
    let note = format!(
        "write-amp {:.2}, {} groups, {} fsyncs, {} stops, {} slowdowns{}",
        disk as f64 / user.max(1) as f64,
        s.write_groups - before.write_groups,
        s.wal_syncs - before.wal_syncs,
        s.write_stalls - before.write_stalls,
        s.write_slowdowns - before.write_slowdowns,
        decile_note(&t.deciles)
    );
    ctx.db = Some(db);
    Ok(Row::timed(ctx, name, t, note))
}

fn ensure_db(ctx: &mut Ctx) -> Result<(), Failure> {
    if ctx.db.is_none() {
        eprintln!("(no database yet: running an untimed fillseq first)");
        fill(ctx, "fillseq", false, true)?;
    }
    Ok(())
}

fn read_random(ctx: &mut Ctx, name: &str, missing: bool) -> Result<Row, Failure> {
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let n = ctx.args.num;
    let mut s = ctx.args.seed ^ 0xABCD;
    let keys: Vec<u64> = (0..n).map(|_| splitmix(&mut s) % n).collect();
    let found = std::sync::atomic::AtomicU64::new(0);
    let keyf = |i: u64| ctx.key(i);
    let t = timed(name, n, ctx.args.threads, |i| {
        let mut k = keyf(keys[i as usize]);
        if missing {
            k.push(b'.');
        }
        if db.get(&k)?.is_some() {
            found.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    })?;
    // The deciles show when the tree's shape changed under the reads (the idle drain).
    let note = format!(
        "{} of {} found{}",
        found.into_inner(),
        n,
        decile_note(&t.deciles)
    );
    Ok(Row::timed(ctx, name, t, note))
}

/// Read-modify-write transactions through `db.update`: `hot` = 0 spreads them over every
/// key (uncontended); otherwise they hit `hot` keys (contended), and aborts are reported.
fn txn_rmw(ctx: &mut Ctx, name: &str, hot: u64) -> Result<Row, Failure> {
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let n = ctx.args.num;
    let before = db.stats();
    let keyf = |i: u64| ctx.key(i);
    let (vs, pool) = (ctx.args.value_size.max(8), ctx.pool.clone());
    let t = timed(name, n, ctx.args.threads, |i| {
        // Hashed, so that threads (which take interleaved indexes) share the hot keys.
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8;
        let k = if hot == 0 { keyf(h % n) } else { keyf(h % hot) };
        db.update(|tx| {
            // The record's first 8 bytes are a counter: it is read, incremented and written
            // back in a record of the size (and the bytes) the fills write, so the write is
            // the same as `overwrite`'s and the two compare.
            let mut v = match tx.get(&k)? {
                Some(v) if v.len() == vs => v.to_vec(),
                _ => pool[..vs.min(pool.len())].to_vec(),
            };
            let count = u64::from_le_bytes(v[..8].try_into().expect("8 bytes"));
            v[..8].copy_from_slice(&(count + 1).to_le_bytes());
            tx.put(&k, v)
        })
    })?;
    let s = db.stats();
    let commits = s.txn_commits - before.txn_commits;
    let conflicts = s.txn_conflicts - before.txn_conflicts;
    Ok(Row {
        name: name.into(),
        ops: n,
        secs: t.secs,
        bytes: n * (ctx.args.key_size + vs) as u64,
        hist: t.hist,
        note: format!(
            "{commits} commits, {conflicts} conflicts ({:.1}% of attempts aborted){}",
            100.0 * conflicts as f64 / (commits + conflicts).max(1) as f64,
            if hot > 0 {
                format!(", {hot} hot keys")
            } else {
                String::new()
            }
        ),
    })
}

fn read_seq(ctx: &mut Ctx) -> Result<Row, Failure> {
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let pb = progress("readseq", ctx.args.num);
    let mut hist = Histogram::default();
    let start = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut it = db.iter();
    // A step costs about as much as reading the clock, so steps are timed in batches and
    // each batch records its mean per step: timing every step measured mostly the clock.
    let mut t0 = start;
    // The lending step: the scan only measures the entries, so it borrows them (the
    // comparison crate's RocksDB and redb adapters read borrowed entries too).
    while let Some(item) = it.next_ref() {
        let (k, v) = item?;
        n += 1;
        bytes += (k.len() + v.len()) as u64;
        if n.is_multiple_of(READSEQ_BATCH) {
            let now = Instant::now();
            hist.record_n((now - t0).as_nanos() as u64 / READSEQ_BATCH, READSEQ_BATCH);
            t0 = now;
            if n.is_multiple_of(4096) {
                pb.set_position(n);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let tail = n % READSEQ_BATCH;
    if let Some(per) = (t0.elapsed().as_nanos() as u64).checked_div(tail) {
        hist.record_n(per, tail);
    }
    pb.finish_and_clear();
    Ok(Row {
        name: "readseq".into(),
        ops: n,
        secs,
        bytes,
        hist,
        note: format!("latency: mean per step over batches of {READSEQ_BATCH} steps"),
    })
}

/// Steps of `readseq` timed together.
const READSEQ_BATCH: u64 = 256;

fn preset(name: &str) -> Result<Options, Failure> {
    match name {
        "default" => Ok(Options::default()),
        "low-memory" => Ok(Options::low_memory()),
        "high-performance" => Ok(Options::high_performance()),
        other => Err(crate::usage(format!(
            "unknown preset {other:?} (default, low-memory, high-performance)"
        ))),
    }
}

/// Flushes, then waits until no compaction is owed (L0 below its trigger, no debt).
fn settle(db: &Db) -> Result<(), Failure> {
    let t = std::time::Instant::now();
    db.wait_for_compaction()?;
    eprintln!("settled in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn us(ns: u64) -> String {
    format!("{:.1}", Duration::from_nanos(ns).as_secs_f64() * 1e6)
}

/// Runs the workloads and prints the table.
pub fn run(args: &BenchArgs, db_dir: Option<&Path>, config: Options) -> Result<(), Failure> {
    if args.threads == 0 || args.num == 0 {
        return Err(crate::usage("--threads and --num must be at least 1"));
    }
    let mut base = if args.preset == "default" {
        config
    } else {
        preset(&args.preset)?
    };
    if let Some(t) = &args.value_threshold {
        base.value_threshold = if t == "never" {
            usize::MAX
        } else {
            stratakv::options::parse_size(t)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| crate::usage(format!("--value-threshold {t:?}: a size or never")))?
        };
    }
    let (root, temp) = match db_dir {
        Some(d) => (d.to_path_buf(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("stratakv-bench-")
                .tempdir()
                .map_err(|e| crate::usage(e.to_string()))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mut ctx = Ctx {
        args: args.clone(),
        base,
        root,
        pool: Arc::new(value_pool(args.seed)),
        db: None,
        order: None,
        _temp: temp,
    };
    outln!(
        "stratakv bench: {} keys, {}-byte keys, {}-byte values, {} thread(s), sync {}, preset {}, compression {:?}, bloom {} bits/key, value log from {}",
        args.num,
        args.key_size,
        args.value_size,
        args.threads,
        args.sync,
        args.preset,
        ctx.base.compression,
        ctx.base.bloom_bits_per_key,
        if ctx.base.value_threshold == usize::MAX {
            "never".to_string()
        } else {
            format!("{} B", ctx.base.value_threshold)
        }
    )?;
    outln!("directory: {}", ctx.root.display())?;
    let mut rows = Vec::new();
    for w in args
        .workloads
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        if w == "waitforcompaction" || w == "compact" {
            if let Some(db) = &ctx.db {
                let t = Instant::now();
                if w == "compact" {
                    db.compact()?;
                } else {
                    settle(db)?;
                }
                eprintln!("{w:>12} done in {:.2} s", t.elapsed().as_secs_f64());
            }
            continue;
        }
        let row = match w {
            "fillseq" => fill(&mut ctx, w, false, true)?,
            "fillrandom" => fill(&mut ctx, w, true, true)?,
            "overwrite" => fill(&mut ctx, w, true, false)?,
            "readrandom" => read_random(&mut ctx, w, false)?,
            "readmissing" => read_random(&mut ctx, w, true)?,
            "readseq" => read_seq(&mut ctx)?,
            "seekrandom" => workloads::seek_random(&mut ctx, w)?,
            "readwhilewriting" => workloads::read_while_writing(&mut ctx, w)?,
            "deleterandom" => workloads::delete_random(&mut ctx, w)?,
            "txnrmw" => txn_rmw(&mut ctx, w, 0)?,
            "txncontended" => txn_rmw(&mut ctx, w, 8)?,
            y if y.len() == 5 && y.starts_with("ycsb") => {
                let c = y.chars().nth(4).unwrap_or('?');
                workloads::ycsb(&mut ctx, w, c)?
            }
            other => {
                return Err(crate::usage(format!(
                    "unknown workload {other:?} ({ALL_WORKLOADS})"
                )))
            }
        };
        eprintln!(
            "{:>12} done: {:.0} ops/s",
            row.name,
            row.ops as f64 / row.secs
        );
        rows.push(row);
    }
    outln!(
        "\n{:<12} {:>10} {:>8} {:>12} {:>8} {:>9} {:>9} {:>10}  notes",
        "workload",
        "ops",
        "secs",
        "ops/s",
        "MB/s",
        "p50 us",
        "p99 us",
        "p99.9 us"
    )?;
    for r in &rows {
        outln!(
            "{:<12} {:>10} {:>8.2} {:>12.0} {:>8.1} {:>9} {:>9} {:>10}  {}",
            r.name,
            r.ops,
            r.secs,
            r.ops as f64 / r.secs,
            r.bytes as f64 / r.secs / 1e6,
            us(r.hist.quantile(0.50)),
            us(r.hist.quantile(0.99)),
            us(r.hist.quantile(0.999)),
            r.note
        )?;
    }
    if let Some(db) = ctx.db.take() {
        if args.settle {
            settle(&db)?;
        }
        let s = db.stats();
        outln!(
            "\nfinal: tables per level {:?}, {} flushes, {} compactions, write amplification {:.2}, bloom {} checks / {} useful, block cache {} hits / {} misses, hot-key cache {} hits / {} misses, tables open {} ({} opens)",
            s.levels.iter().map(|l| l.tables).collect::<Vec<_>>(),
            s.flushes,
            s.compactions,
            s.write_amplification,
            s.bloom_checks,
            s.bloom_useful,
            s.block_cache_hits,
            s.block_cache_misses,
            s.hot_cache_hits,
            s.hot_cache_misses,
            s.table_cache_open,
            s.table_cache_opens
        )?;
        outln!(
            "user bytes {}, disk bytes {} (value log {}), value-log files {} ({} B, {} B discardable), GC collected {} files",
            s.user_bytes_written,
            s.disk_bytes_written,
            s.vlog_bytes_written,
            s.vlog_files,
            s.vlog_bytes,
            s.vlog_discardable_bytes,
            s.vlog_gc_files
        )?;
        db.close()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{decimal_key, value_pool};
    use stratakv::options::Compression;
    use stratakv::sstable::format::compress_into;

    #[test]
    fn values_compress_about_half() {
        let pool = value_pool(42);
        assert_eq!(pool.len(), 1 << 20);
        // A 100-byte value pays LZ4's token, literal run and match code on its own.
        for (len, lowest) in [(100, 1.5), (4096, 1.8), (65536, 1.8)] {
            let mut out = Vec::new();
            compress_into(&pool[..len], Compression::Lz4, &mut out);
            let ratio = len as f64 / out.len() as f64;
            assert!(
                (lowest..2.1).contains(&ratio),
                "{len}-byte value: ratio {ratio:.2}"
            );
        }
    }

    #[test]
    fn decimal_keys_match_format() {
        for i in [0, 7, 10, 99_999, 1 << 40, u64::MAX] {
            for width in [0, 1, 5, 16, 24] {
                assert_eq!(
                    decimal_key(i, width),
                    format!("{i:0width$}").into_bytes(),
                    "{i} {width}"
                );
            }
        }
    }
}
