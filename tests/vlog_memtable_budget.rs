//! A memtable whose writes moved many values to the value log is frozen before its own
//! size says so: a memtable of handles alone would hold gigabytes of overwritten values
//! before compaction could count them as garbage. Overwriting large values again and again,
//! with no flush or compaction asked for, leaves garbage collection something to collect,
//! and the value log stays near the live data.

mod common;

use stratakv::{Db, Options};

const KEYS: u32 = 200;
const VALUE_LEN: usize = 16 << 10;
const ROUNDS: u32 = 6;

#[test]
fn overwritten_large_values_are_collected_without_a_manual_flush() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        // Handles of every write below fit in one memtable many times over.
        memtable_size: 1 << 20,
        vlog_file_size: 256 << 10,
        value_threshold: 1024,
        vlog_gc_background: false,
        ..Options::default()
    };
    let db = Db::open_with(dir.path(), opts).unwrap();
    let mut rng = common::Rng::new(7);
    let mut live = Vec::new();
    for _ in 0..ROUNDS {
        live.clear();
        for i in 0..KEYS {
            let v = rng.bytes(VALUE_LEN); // random: LZ4 stores it as is
            db.put(format!("k{i:04}"), &v).unwrap();
            live.push(v);
        }
    }
    let written = u64::from(KEYS * ROUNDS) * VALUE_LEN as u64;
    let frozen = db.stats().flushes;
    assert!(
        frozen >= 3,
        "memtables frozen for their values: {frozen} flushes"
    );
    db.wait_for_compaction().unwrap();
    let mut collected = 0;
    for _ in 0..ROUNDS {
        collected += db.vlog_gc().unwrap().files_collected;
    }
    assert!(collected > 0, "GC found garbage to collect");
    db.flush().unwrap(); // collected files go once what was written before is in tables
    db.vlog_gc().unwrap();
    let on_disk: u64 = db.vlog_files().iter().map(|f| f.size).sum();
    let live_bytes = u64::from(KEYS) * VALUE_LEN as u64;
    assert!(
        on_disk < written / 2,
        "value log holds {on_disk} bytes of {written} written ({live_bytes} live)"
    );
    for (i, v) in live.iter().enumerate() {
        assert_eq!(db.get(format!("k{i:04}")).unwrap().as_deref(), Some(&v[..]));
    }
}
