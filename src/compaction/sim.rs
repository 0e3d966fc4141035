//! A compaction simulator: replays a stream of random writes as flushed L0 tables, runs the
//! picker's tasks with modelled outputs (no disk), and reports per-level sizes and write
//! amplification. Run: `cargo test --lib compaction::sim -- --nocapture`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::picker::tests::{file, opts};
use super::picker::{pick, PickerOptions};
use crate::key::user_key;
use crate::manifest::{FileMeta, Version};

/// A modelled table: its key range as numbers and its distinct keys.
struct Sim {
    version: Version,
    keys: BTreeMap<u64, BTreeMap<u64, u64>>, // file -> (key -> size)
    next: u64,
    seq: u64,
    user_bytes: u64,
    written: u64,
}

fn name(k: u64) -> String {
    format!("{k:08}")
}

impl Sim {
    fn add_file(&mut self, level: usize, keys: BTreeMap<u64, u64>) {
        if keys.is_empty() {
            return;
        }
        let (lo, hi) = (
            *keys.keys().next().unwrap_or(&0),
            *keys.keys().last().unwrap_or(&0),
        );
        let size: u64 = keys.values().sum();
        self.written += size;
        self.seq += 1;
        let f = file(
            self.next,
            level as u32,
            &name(lo),
            &name(hi),
            size,
            self.seq,
        );
        self.keys.insert(self.next, keys);
        self.next += 1;
        self.version.levels[level].push(f);
        if level == 0 {
            self.version.levels[0].sort_by_key(|f| std::cmp::Reverse(f.largest_seq));
        } else {
            self.version.levels[level].sort_by(|a, b| a.smallest.cmp(&b.smallest));
        }
    }

    fn compact_until_quiet(&mut self, o: &PickerOptions, target_file: u64) {
        while let Some(t) = pick(&self.version, o, &HashSet::new()) {
            let gone: HashSet<u64> = t.file_numbers().collect();
            if t.trivial_move {
                for f in &t.inputs {
                    let keys = self.keys.remove(&f.number).unwrap_or_default();
                    self.version.levels[t.level].retain(|x| x.number != f.number);
                    let written = self.written;
                    self.add_file(t.output_level, keys);
                    self.written = written; // a move writes nothing
                }
                continue;
            }
            // Newer inputs win: next-level tables are older than the level's.
            let mut merged: BTreeMap<u64, u64> = BTreeMap::new();
            let order: Vec<&Arc<FileMeta>> =
                t.next_inputs.iter().chain(t.inputs.iter().rev()).collect();
            for f in order {
                if let Some(k) = self.keys.remove(&f.number) {
                    merged.extend(k);
                }
            }
            for l in &mut self.version.levels {
                l.retain(|f| !gone.contains(&f.number));
            }
            let mut out = BTreeMap::new();
            let mut size = 0;
            for (k, s) in merged {
                out.insert(k, s);
                size += s;
                if size >= target_file {
                    self.add_file(t.output_level, std::mem::take(&mut out));
                    size = 0;
                }
            }
            self.add_file(t.output_level, out);
        }
    }
}

#[test]
fn simulate_random_writes() {
    let o = PickerOptions {
        max_levels: 5,
        ..opts()
    };
    let mut sim = Sim {
        version: Version::new(5),
        keys: BTreeMap::new(),
        next: 1,
        seq: 0,
        user_bytes: 0,
        written: 0,
    };
    let mut rng: u64 = 7;
    let key_space = 20_000;
    for _flush in 0..400 {
        let mut mem = BTreeMap::new();
        for _ in 0..50 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            mem.insert((rng >> 33) % key_space, 10u64);
            sim.user_bytes += 10;
        }
        sim.add_file(0, mem);
        sim.compact_until_quiet(&o, 500);
    }
    let wa = sim.written as f64 / sim.user_bytes as f64;
    println!("level  tables  bytes   target");
    for (i, l) in sim.version.levels.iter().enumerate() {
        let bytes: u64 = l.iter().map(|f| f.size).sum();
        let target = if i == 0 { 0 } else { o.target(i) };
        println!("L{i}     {:>6}  {bytes:>6}  {target:>6}", l.len());
    }
    println!(
        "write amplification {wa:.2} (user {} bytes, written {} bytes)",
        sim.user_bytes, sim.written
    );
    // Shape checks: L0 below its trigger, levels 1.. within their targets, disjoint ranges.
    assert!(sim.version.levels[0].len() < o.level0_compaction_trigger);
    for (i, l) in sim
        .version
        .levels
        .iter()
        .enumerate()
        .skip(1)
        .take(o.max_levels - 2)
    {
        assert!(
            l.iter().map(|f| f.size).sum::<u64>() <= o.target(i),
            "L{i} over target"
        );
        for w in l.windows(2) {
            assert!(
                user_key(&w[0].largest) < user_key(&w[1].smallest),
                "L{i} overlaps"
            );
        }
    }
    let live: u64 = sim.keys.values().map(|k| k.len() as u64 * 10).sum();
    assert!(live <= key_space * 10 * 2, "space stays near live data");
    assert!(wa > 1.0 && wa < 30.0, "write amplification {wa}");
}
