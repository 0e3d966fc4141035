//! Put, get, delete, batches, overwrite and reopen on the real filesystem.

use stratakv::{Db, WriteBatch};

#[test]
fn put_get_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        db.put(b"a", b"1").unwrap();
        db.put(b"b", b"2").unwrap();
        db.put(b"a", b"3").unwrap();
        db.delete(b"b").unwrap();
        db.delete(b"never-existed").unwrap();
        let mut batch = WriteBatch::new();
        batch
            .put(b"c", b"x")
            .put(b"c", b"y")
            .delete(b"a")
            .put(b"d", b"");
        db.write(batch).unwrap();
        assert_eq!(db.get(b"a").unwrap(), None);
        assert_eq!(db.get(b"b").unwrap(), None);
        assert_eq!(
            db.get(b"c").unwrap().as_deref(),
            Some(&b"y"[..]),
            "later op wins"
        );
        assert_eq!(
            db.get(b"d").unwrap().as_deref(),
            Some(&b""[..]),
            "empty value"
        );
        db.close().unwrap();
    }
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.get(b"c").unwrap().as_deref(), Some(&b"y"[..]));
    assert_eq!(db.get(b"d").unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(db.get(b"a").unwrap(), None);
    let s = db.stats();
    assert_eq!(s.recovery.wal_records, 6);
    assert_eq!(
        s.recovery.wal_files_kept, 1,
        "replayed WAL data is left to the background flush"
    );
    db.flush().unwrap();
    assert_eq!(db.stats().levels[0].tables, 1, "the flush writes it to L0");
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    let all: Vec<_> = db.iter().map(|r| r.unwrap()).collect();
    assert_eq!(all.len(), 2);
}

#[test]
fn flush_then_read_from_tables() {
    let db = Db::open_temp().unwrap();
    for i in 0..5_000u32 {
        db.put(format!("key{i:06}"), format!("value{i}")).unwrap();
    }
    db.flush().unwrap();
    let s = db.stats();
    assert_eq!(s.memtable_entries, 0);
    assert_eq!(s.levels[0].tables, 1);
    assert_eq!(s.levels[0].keys, 5_000);
    for i in (0..5_000u32).step_by(7) {
        assert_eq!(
            db.get(format!("key{i:06}")).unwrap().as_deref(),
            Some(format!("value{i}").as_bytes())
        );
    }
    assert_eq!(db.get(b"key999999").unwrap(), None);
    assert!(db.stats().bloom_useful > 0 || db.stats().bloom_checks > 0);
    db.put(b"key000001", b"new").unwrap();
    assert_eq!(db.get(b"key000001").unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn operations_after_close_fail() {
    let db = Db::open_temp().unwrap();
    let other = db.clone();
    db.put(b"k", b"v").unwrap();
    db.close().unwrap();
    assert!(other.put(b"k", b"v").unwrap_err().is_closed());
    assert!(other.get(b"k").unwrap_err().is_closed());
}
