//! The workloads beyond fills and reads: seekrandom, readwhilewriting, deleterandom and
//! YCSB A-F with Zipfian (0.99) keys.
//!
//! YCSB mixes (Cooper et al., SoCC 2010; the core workloads' defaults): A 50% read / 50%
//! update; B 95/5; C 100% read; D 95% read of recently inserted keys / 5% insert; E 95% scan
//! (1 to 100 entries) / 5% insert; F 50% read / 50% read-modify-write. Keys are chosen by a
//! scrambled Zipfian over the loaded keys; inserts append new keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::zipf::{scramble, unit, Zipf};
use super::{ensure_db, timed, Ctx, Row};
use crate::Failure;

/// A value of `vs` bytes from the shared pool, chosen by `k`.
fn value_for(pool: &[u8], vs: usize, k: u64) -> &[u8] {
    let off = (k as usize * 97) % (pool.len() - vs.min(pool.len())).max(1);
    &pool[off..off + vs.min(pool.len())]
}

pub(super) fn seek_random(ctx: &mut Ctx, name: &str) -> Result<Row, Failure> {
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let n = ctx.args.num;
    let seed = ctx.args.seed;
    let read = AtomicU64::new(0);
    let nexts = ctx.args.seek_nexts;
    let keyf = |i: u64| ctx.key(i);
    let t = timed(name, n, ctx.args.threads, |i| {
        let k = keyf(scramble(seed ^ i) % n);
        let mut got = 0;
        let mut it = db.range(k..);
        while got < nexts as u64 {
            // Borrowed entries, as in `readseq`.
            let Some(item) = it.next_ref() else { break };
            item?;
            got += 1;
        }
        read.fetch_add(got, Ordering::Relaxed);
        Ok(())
    })?;
    let read = read.into_inner();
    let mut row = Row::timed(
        ctx,
        name,
        t,
        format!("seek + {nexts} next; {read} entries read"),
    );
    row.bytes = read * (ctx.args.key_size + ctx.args.value_size) as u64;
    Ok(row)
}

pub(super) fn delete_random(ctx: &mut Ctx, name: &str) -> Result<Row, Failure> {
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let order = ctx.random_order();
    let n = ctx.args.num;
    let wo = stratakv::WriteOptions {
        sync: ctx.args.sync,
    };
    let keyf = |i: u64| ctx.key(i);
    let t = timed(name, n, ctx.args.threads, |i| {
        db.delete_with(keyf(order[i as usize]), wo)
    })?;
    let mut row = Row::timed(ctx, name, t, "every key deleted in random order".into());
    row.bytes = n * ctx.args.key_size as u64;
    Ok(row)
}

/// `--threads` readers run readrandom while one more thread overwrites random keys until
/// they finish; the row is the readers', the writer's rate is in the note.
pub(super) fn read_while_writing(ctx: &mut Ctx, name: &str) -> Result<Row, Failure> {
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let n = ctx.args.num;
    let (seed, vs, pool) = (ctx.args.seed, ctx.args.value_size, ctx.pool.clone());
    let stop = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let found = AtomicU64::new(0);
    let keyf = |i: u64| ctx.key(i);
    let t = std::thread::scope(|s| {
        let writer = s.spawn(|| -> stratakv::Result<()> {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = scramble(seed ^ 0x5EED ^ i) % n;
                db.put(keyf(k), value_for(&pool, vs, k))?;
                writes.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok(())
        });
        let r = timed(name, n, ctx.args.threads, |i| {
            if db.get(keyf(scramble(seed ^ i) % n))?.is_some() {
                found.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        stop.store(true, Ordering::Relaxed);
        let w = writer.join().unwrap_or(Err(stratakv::Error::Closed));
        r.and_then(|t| w.map(|()| t).map_err(Failure::from))
    })?;
    let w = writes.into_inner();
    let note = format!(
        "{} of {n} found; 1 writer: {w} writes, {:.0}/s",
        found.into_inner(),
        w as f64 / t.secs
    );
    Ok(Row::timed(ctx, name, t, note))
}

/// The operation mix of a YCSB core workload, in percent.
#[derive(Debug, Clone, Copy)]
struct Mix {
    read: u64,
    update: u64,
    insert: u64,
    scan: u64,
    rmw: u64,
    /// Reads favour the most recently inserted keys (workload D).
    latest: bool,
}

fn mix(w: char) -> Option<Mix> {
    let m = |read, update, insert, scan, rmw, latest| Mix {
        read,
        update,
        insert,
        scan,
        rmw,
        latest,
    };
    Some(match w {
        'a' => m(50, 50, 0, 0, 0, false),
        'b' => m(95, 5, 0, 0, 0, false),
        'c' => m(100, 0, 0, 0, 0, false),
        'd' => m(95, 0, 5, 0, 0, true),
        'e' => m(0, 0, 5, 95, 0, false),
        'f' => m(50, 0, 0, 0, 50, false),
        _ => return None,
    })
}

/// Runs YCSB workload `w` (`a` to `f`) over the loaded keys.
pub(super) fn ycsb(ctx: &mut Ctx, name: &str, w: char) -> Result<Row, Failure> {
    let m = mix(w).ok_or_else(|| crate::usage(format!("no YCSB workload {w:?}")))?;
    debug_assert_eq!(m.read + m.update + m.insert + m.scan + m.rmw, 100);
    ensure_db(ctx)?;
    let db = ctx.db.clone().ok_or_else(|| crate::usage("no database"))?;
    let n = ctx.args.num;
    let zipf = Zipf::new(n, 0.99);
    let (seed, vs, pool) = (ctx.args.seed, ctx.args.value_size, ctx.pool.clone());
    let inserted = AtomicU64::new(n);
    let counts: [AtomicU64; 5] = Default::default();
    let keyf = |i: u64| ctx.key(i);
    let t = timed(name, n, ctx.args.threads, |i| {
        let h = scramble(seed ^ (u64::from(w as u8) << 56) ^ i);
        let u = unit(scramble(h));
        let pick = h % 100;
        let key = || {
            if m.latest {
                let top = inserted.load(Ordering::Relaxed);
                top - 1 - zipf.rank(u).min(top - 1)
            } else {
                zipf.key(u)
            }
        };
        let (slot, r) = if pick < m.read {
            (0, db.get(keyf(key())).map(|_| ()))
        } else if pick < m.read + m.update {
            let k = key();
            (1, db.put(keyf(k), value_for(&pool, vs, k ^ i)))
        } else if pick < m.read + m.update + m.insert {
            let k = inserted.fetch_add(1, Ordering::Relaxed);
            (2, db.put(keyf(k), value_for(&pool, vs, k)))
        } else if pick < m.read + m.update + m.insert + m.scan {
            let len = 1 + (h >> 32) as usize % 100;
            let mut r = Ok(());
            for item in db.range(keyf(key())..).take(len) {
                if let Err(e) = item {
                    r = Err(e);
                    break;
                }
            }
            (3, r)
        } else {
            let k = keyf(key());
            let r = db.get(&k).and_then(|v| {
                let mut next = v.map(|v| v.to_vec()).unwrap_or_default();
                next.resize(vs, 0);
                next[0] = next[0].wrapping_add(1);
                db.put(&k, next)
            });
            (4, r)
        };
        counts[slot].fetch_add(1, Ordering::Relaxed);
        r
    })?;
    let c: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let note = format!(
        "zipfian 0.99; {} reads, {} updates, {} inserts, {} scans, {} read-modify-writes",
        c[0], c[1], c[2], c[3], c[4]
    );
    Ok(Row::timed(ctx, name, t, note))
}
