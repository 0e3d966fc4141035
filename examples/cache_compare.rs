//! Block-cache policies side by side: StrataKV's W-TinyLFU against `quick_cache` and `moka`.
//!
//! Zipf(0.99) (scrambled, as YCSB) over 1M blocks of 4 KiB with room for 10% of them by
//! bytes; a miss inserts. Prints the hit rate after warm-up, the hit rate when a full scan of
//! all 1M blocks runs in the middle, and get-or-insert throughput with 1 and 2 threads.
//!
//! `cargo run --release --example cache_compare [-- OPS_MILLIONS]`

#[path = "../cli/src/bench/zipf.rs"]
#[allow(dead_code)]
mod zipf;

use std::sync::Arc;
use std::time::Instant;

use stratakv::cache::tinylfu::TinyLfu;
use zipf::{scramble, unit, Zipf};

const BLOCKS: u64 = 1_000_000;
const BLOCK_WEIGHT: u64 = 4096 + 64;
const CAPACITY: u64 = BLOCKS / 10 * BLOCK_WEIGHT;

/// A block stand-in: cloning costs one atomic increment, as a cached block's does.
type Val = Arc<u64>;

trait Policy: Sync {
    fn name(&self) -> &'static str;
    fn get(&self, k: u64) -> Option<Val>;
    fn insert(&self, k: u64, v: Val);
}

struct Ours(TinyLfu<u64, Val>);
impl Policy for Ours {
    fn name(&self) -> &'static str {
        "stratakv W-TinyLFU"
    }
    fn get(&self, k: u64) -> Option<Val> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: Val) {
        self.0.insert(k, v, BLOCK_WEIGHT);
    }
}

#[derive(Clone)]
struct W;
impl quick_cache::Weighter<u64, Val> for W {
    fn weight(&self, _: &u64, _: &Val) -> u64 {
        BLOCK_WEIGHT
    }
}
struct Quick(quick_cache::sync::Cache<u64, Val, W>);
impl Policy for Quick {
    fn name(&self) -> &'static str {
        "quick_cache 0.7"
    }
    fn get(&self, k: u64) -> Option<Val> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: Val) {
        self.0.insert(k, v);
    }
}

struct Moka(moka::sync::Cache<u64, Val>);
impl Policy for Moka {
    fn name(&self) -> &'static str {
        "moka 0.12 (W-TinyLFU)"
    }
    fn get(&self, k: u64) -> Option<Val> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: Val) {
        self.0.insert(k, v);
    }
}

fn make(which: usize) -> Box<dyn Policy> {
    match which {
        0 => Box::new(Ours(TinyLfu::new(CAPACITY, BLOCK_WEIGHT))),
        1 => Box::new(Quick(quick_cache::sync::Cache::with_weighter(
            (BLOCKS / 10) as usize,
            CAPACITY,
            W,
        ))),
        _ => Box::new(Moka(
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .weigher(|_, _| BLOCK_WEIGHT as u32)
                .build(),
        )),
    }
}

/// Runs `ops` Zipf accesses from stream `seed`; returns hits.
fn zipf_run(p: &dyn Policy, z: &Zipf, seed: u64, ops: u64) -> u64 {
    let mut hits = 0;
    for i in 0..ops {
        let k = z.key(unit(scramble(seed ^ i.wrapping_mul(0x9E37_79B9))));
        if p.get(k).is_some() {
            hits += 1;
        } else {
            p.insert(k, Arc::new(k));
        }
    }
    hits
}

fn scan(p: &dyn Policy) {
    for k in 0..BLOCKS {
        if p.get(k).is_none() {
            p.insert(k, Arc::new(k));
        }
    }
}

fn main() {
    let ops: u64 = std::env::args()
        .nth(1)
        .map_or(4, |s| s.parse().expect("OPS_MILLIONS"))
        * 1_000_000;
    let z = Zipf::new(BLOCKS, 0.99);
    let zeta = |n: u64| (1..=n).map(|i| 1.0 / (i as f64).powf(0.99)).sum::<f64>();
    println!(
        "Zipf 0.99 over {BLOCKS} blocks, capacity 10% by bytes, {} M ops; best possible hit rate {:.1}%\n",
        ops / 1_000_000,
        100.0 * zeta(BLOCKS / 10) / zeta(BLOCKS)
    );
    println!(
        "| cache | hit % | hit % after a full scan | get-or-insert Mops/s, 1 thread | 2 threads |"
    );
    println!("|---|---|---|---|---|");
    for which in 0..3 {
        // Hit rate: warm up with a quarter, measure the rest.
        let p = make(which);
        zipf_run(&*p, &z, 1, ops / 4);
        let hits = zipf_run(&*p, &z, 2, ops);
        let hit = 100.0 * hits as f64 / ops as f64;
        // The same, with a full scan between warm-up and measurement.
        let p = make(which);
        zipf_run(&*p, &z, 1, ops / 4);
        scan(&*p);
        let hits = zipf_run(&*p, &z, 2, ops);
        let hit_scan = 100.0 * hits as f64 / ops as f64;
        // Throughput, warm, 1 and 2 threads.
        let mut rates = Vec::new();
        for threads in [1u64, 2] {
            let p = make(which);
            zipf_run(&*p, &z, 1, ops / 4);
            let t = Instant::now();
            std::thread::scope(|s| {
                for th in 0..threads {
                    let (p, z) = (&*p, &z);
                    s.spawn(move || zipf_run(p, z, 10 + th, ops / threads));
                }
            });
            rates.push(ops as f64 / t.elapsed().as_secs_f64() / 1e6);
        }
        println!(
            "| {} | {hit:.1} | {hit_scan:.1} | {:.1} | {:.1} |",
            make(which).name(),
            rates[0],
            rates[1]
        );
    }
}
