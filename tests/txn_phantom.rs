//! Phantom: transactions that count a prefix and insert when below a limit never exceed it,
//! because a scanned range conflicts with any key later inserted into it.

use stratakv::Db;

#[test]
fn counted_prefix_never_exceeds_its_limit() {
    let db = Db::open_temp().unwrap();
    let limit = 5;
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..30 {
                    db.update(|tx| {
                        let n = tx.prefix(b"slot/").count();
                        if n < limit {
                            tx.put(format!("slot/{t}-{i}"), b"taken")?;
                        }
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(db.prefix(b"slot/").count(), limit);
}

#[test]
fn interleaved_counters_second_commit_conflicts() {
    let db = Db::open_temp().unwrap();
    for i in 0..4 {
        db.put(format!("slot/pre{i}"), b"taken").unwrap();
    }
    let mut t1 = db.transaction();
    let mut t2 = db.transaction();
    assert_eq!(t1.prefix(b"slot/").count(), 4);
    assert_eq!(t2.prefix(b"slot/").count(), 4);
    t1.put(b"slot/t1", b"taken").unwrap();
    t2.put(b"slot/t2", b"taken").unwrap();
    t1.commit().unwrap();
    let e = t2.commit().unwrap_err();
    assert!(e.is_conflict(), "the phantom slot/t1 must be seen: {e}");
    assert_eq!(db.prefix(b"slot/").count(), 5);
}
