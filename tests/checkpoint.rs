//! A checkpoint taken during concurrent writes opens, and holds exactly a prefix of the
//! writes that includes everything acknowledged before it was taken.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::Rng;
use stratakv::filename::{parse_file_name, FileKind};
use stratakv::wal::format::LogKind;
use stratakv::wal::read_log;
use stratakv::{Db, Options, WriteBatch};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[test]
fn checkpoint_during_writes_is_a_consistent_prefix() {
    run(Options::default());
}

#[test]
fn checkpoint_with_values_in_the_value_log() {
    // Every value separated, small files: sealed files are linked, the active one copied.
    run(Options {
        value_threshold: 32,
        vlog_file_size: 64 << 10,
        ..Options::default()
    });
}

fn run(base: Options) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        memtable_size: 64 << 10,
        ..common::tiny_levels(base)
    };
    let db = Db::open_with(dir.path().join("db"), opts.clone()).unwrap();
    let states: Arc<Mutex<Vec<Model>>> = Arc::new(Mutex::new(vec![Model::new()]));
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, states, acked, stop) = (db.clone(), states.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = Rng::new(99);
            let mut model = Model::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                i += 1;
                let mut b = WriteBatch::new();
                b.put(b"seq", i.to_le_bytes());
                model.insert(b"seq".to_vec(), i.to_le_bytes().to_vec());
                for _ in 0..3 {
                    let k = format!("k{:04}", rng.below(500)).into_bytes();
                    let v = rng.bytes(40);
                    b.put(&k, &v);
                    model.insert(k, v);
                }
                db.write(b).unwrap();
                states.lock().unwrap().push(model.clone());
                acked.store(i as usize, Ordering::Release);
            }
        })
    };
    while acked.load(Ordering::Acquire) < 2_000 {
        std::thread::yield_now();
    }
    let before = acked.load(Ordering::Acquire);
    let cp = dir.path().join("checkpoint");
    db.checkpoint(&cp).unwrap();
    assert!(
        db.checkpoint(&cp).unwrap_err().is_invalid_argument(),
        "must not exist"
    );
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // The logs being appended to were copied up to their last whole record: no torn
    // tail, and no preallocated zeros after the WAL's records.
    for name in std::fs::read_dir(&cp).unwrap() {
        let name = name.unwrap().file_name().into_string().unwrap();
        let (kind, number) = match parse_file_name(&name) {
            Some(FileKind::Wal(n)) => (LogKind::Wal, n),
            Some(FileKind::Vlog(n)) => (LogKind::Vlog, n),
            _ => continue,
        };
        let path = cp.join(&name);
        let data = std::fs::read(&path).unwrap();
        let log = read_log(&path, data.into(), kind, number, true).unwrap();
        assert_eq!(
            (log.torn_tail_bytes, log.zeroed_tail_bytes),
            (0, 0),
            "{name} ends at a whole record"
        );
    }
    let copy = Db::open_with(&cp, opts).unwrap();
    let seq =
        u64::from_le_bytes(copy.get(b"seq").unwrap().unwrap()[..].try_into().unwrap()) as usize;
    assert!(
        seq >= before,
        "acknowledged before the checkpoint: {before}, copy has {seq}"
    );
    let got: Model = common::scan_all(&copy);
    assert!(
        got == states.lock().unwrap()[seq],
        "exactly the state after batch {seq}"
    );
    assert!(copy.verify().unwrap().is_ok());
    // The original goes on independently.
    db.put(b"after", b"1").unwrap();
    assert_eq!(copy.get(b"after").unwrap(), None);
}
