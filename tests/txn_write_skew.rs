//! Write skew: the on-call doctors. Each transaction takes its doctor off call only when
//! both are on call. Whichever commits second must fail, in both orders, so that someone is
//! always on call. With conflict detection off (snapshot isolation) both commit: the
//! documented trade-off.

use stratakv::{Db, TxnOptions};

fn both_on(db: &Db) {
    db.put(b"alice", b"on").unwrap();
    db.put(b"bob", b"on").unwrap();
}

fn go_off(tx: &mut stratakv::Transaction, me: &[u8]) -> stratakv::Result<()> {
    let a = tx.get(b"alice")?;
    let b = tx.get(b"bob")?;
    if a.as_deref() == Some(b"on") && b.as_deref() == Some(b"on") {
        tx.put(me, b"off")?;
    }
    Ok(())
}

#[test]
fn second_committer_conflicts_in_both_orders() {
    let db = Db::open_temp().unwrap();
    for round in 0..200 {
        both_on(&db);
        let mut t1 = db.transaction();
        let mut t2 = db.transaction();
        go_off(&mut t1, b"alice").unwrap();
        go_off(&mut t2, b"bob").unwrap();
        let (first, second) = if round % 2 == 0 { (t1, t2) } else { (t2, t1) };
        first.commit().unwrap();
        let e = second.commit().unwrap_err();
        assert!(e.is_conflict(), "round {round}: {e}");
        let on = [b"alice".as_slice(), b"bob"]
            .iter()
            .filter(|k| db.get(k).unwrap().as_deref() == Some(b"on"))
            .count();
        assert_eq!(on, 1, "round {round}: exactly one doctor left on call");
    }
}

#[test]
fn concurrent_doctors_never_both_leave() {
    let db = Db::open_temp().unwrap();
    for _round in 0..100 {
        both_on(&db);
        let ts: Vec<_> = [b"alice".to_vec(), b"bob".to_vec()]
            .into_iter()
            .map(|me| {
                let db = db.clone();
                std::thread::spawn(move || db.update(|tx| go_off(tx, &me)).unwrap())
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        let on = [b"alice".as_slice(), b"bob"]
            .iter()
            .filter(|k| db.get(k).unwrap().as_deref() == Some(b"on"))
            .count();
        assert!(on >= 1, "both doctors went off call");
    }
}

#[test]
fn snapshot_isolation_allows_write_skew_when_asked() {
    let db = Db::open_temp().unwrap();
    both_on(&db);
    let si = TxnOptions {
        detect_conflicts: false,
        sync: false,
    };
    let mut t1 = db.transaction_with(si);
    let mut t2 = db.transaction_with(si);
    go_off(&mut t1, b"alice").unwrap();
    go_off(&mut t2, b"bob").unwrap();
    t1.commit().unwrap();
    t2.commit().unwrap();
    assert_eq!(db.get(b"alice").unwrap().as_deref(), Some(&b"off"[..]));
    assert_eq!(db.get(b"bob").unwrap().as_deref(), Some(&b"off"[..]));
}
