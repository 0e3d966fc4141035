//! A locked directory cannot be opened twice in one process.
//! (Another process: `lock_cross_process.rs`, a separate binary, because a child spawned
//! from a concurrently running test briefly holds a copy of every descriptor between fork
//! and exec, and so of a LOCK that another test is releasing.)

use stratakv::Db;

#[test]
fn second_open_in_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let e = Db::open(dir.path()).unwrap_err();
    assert!(e.is_locked(), "{e}");
    let clone = db.clone();
    drop(db);
    assert!(
        Db::open(dir.path()).unwrap_err().is_locked(),
        "a clone keeps it open"
    );
    drop(clone);
    Db::open(dir.path()).unwrap();
}
