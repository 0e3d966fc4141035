//! Transaction semantics: read-your-own-writes, merged iteration both ways, conflicts as
//! `is_conflict()` with nothing applied, rollback, read-only transactions, size limit.

use stratakv::{Db, Options};

fn kv(
    it: impl Iterator<Item = stratakv::Result<(stratakv::Bytes, stratakv::Bytes)>>,
) -> Vec<(String, String)> {
    it.map(|r| {
        let (k, v) = r.unwrap();
        (
            String::from_utf8(k.to_vec()).unwrap(),
            String::from_utf8(v.to_vec()).unwrap(),
        )
    })
    .collect()
}

#[test]
fn reads_see_own_writes_merged_in_both_directions() {
    let db = Db::open_temp().unwrap();
    for k in ["a", "c", "e", "g"] {
        db.put(k, format!("db-{k}")).unwrap();
    }
    db.flush().unwrap();
    let mut tx = db.transaction();
    tx.put("b", "tx-b").unwrap();
    tx.put("c", "tx-c").unwrap();
    tx.delete("e").unwrap();
    tx.put("h", "tx-h").unwrap();
    assert_eq!(tx.get("c").unwrap().as_deref(), Some(&b"tx-c"[..]));
    assert_eq!(tx.get("e").unwrap(), None);
    let want = vec![
        ("a", "db-a"),
        ("b", "tx-b"),
        ("c", "tx-c"),
        ("g", "db-g"),
        ("h", "tx-h"),
    ];
    let want: Vec<(String, String)> = want
        .into_iter()
        .map(|(a, b)| (a.into(), b.into()))
        .collect();
    assert_eq!(kv(tx.iter()), want);
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(kv(tx.iter().rev()), rev);
    // Interleaved ends meet without loss or duplicates.
    let mut it = tx.iter();
    let mut got = vec![
        it.next(),
        it.next_back(),
        it.next_back(),
        it.next(),
        it.next(),
        it.next_back(),
    ];
    got.retain(Option::is_some);
    assert_eq!(got.len(), 5);
    assert_eq!(kv(tx.range("b".."g")), want[1..3].to_vec());
    assert_eq!(kv(tx.prefix("h")), want[4..].to_vec());
    // Outside, nothing is visible before commit.
    assert_eq!(db.get("b").unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(kv(db.iter()), want);
}

#[test]
fn conflict_applies_nothing_and_rollback_discards() {
    let db = Db::open_temp().unwrap();
    db.put("x", "0").unwrap();
    let mut t1 = db.transaction();
    t1.get("x").unwrap();
    t1.put("x", "t1").unwrap();
    t1.put("other", "t1").unwrap();
    let mut t2 = db.transaction();
    t2.put("x", "t2").unwrap();
    t2.commit().unwrap();
    let e = t1.commit().unwrap_err();
    assert!(e.is_conflict(), "{e}");
    assert_eq!(db.get("x").unwrap().as_deref(), Some(&b"t2"[..]));
    assert_eq!(
        db.get("other").unwrap(),
        None,
        "a failed commit applies nothing"
    );

    let mut t3 = db.transaction();
    t3.put("y", "1").unwrap();
    t3.rollback();
    let mut t4 = db.transaction();
    t4.put("z", "1").unwrap();
    drop(t4);
    assert_eq!(db.get("y").unwrap(), None);
    assert_eq!(db.get("z").unwrap(), None);
}

#[test]
fn blind_writes_do_not_conflict_and_reads_of_misses_do() {
    let db = Db::open_temp().unwrap();
    let mut t1 = db.transaction();
    t1.put("k", "1").unwrap();
    let mut t2 = db.transaction();
    t2.put("k", "2").unwrap();
    t1.commit().unwrap();
    t2.commit().unwrap();
    assert_eq!(db.get("k").unwrap().as_deref(), Some(&b"2"[..]));
    let mut t3 = db.transaction();
    assert_eq!(t3.get("absent").unwrap(), None);
    t3.put("flag", "1").unwrap();
    db.update(|tx| tx.put("absent", "now")).unwrap();
    assert!(
        t3.commit().unwrap_err().is_conflict(),
        "a miss is a read too"
    );
}

#[test]
fn read_only_transactions_never_conflict_and_refuse_writes() {
    let db = Db::open_temp().unwrap();
    db.put("a", "1").unwrap();
    let mut ro = db.read_transaction();
    assert_eq!(ro.get("a").unwrap().as_deref(), Some(&b"1"[..]));
    db.put("a", "2").unwrap();
    assert_eq!(
        ro.get("a").unwrap().as_deref(),
        Some(&b"1"[..]),
        "a stable view"
    );
    assert!(ro.put("a", "3").unwrap_err().is_invalid_argument());
    ro.commit().unwrap();
}

#[test]
fn oversized_transaction_fails_with_nothing_applied() {
    let db = Db::open_with(
        tempfile::tempdir().unwrap().keep(),
        Options {
            txn_max_bytes: 4096,
            ..Options::default()
        },
    )
    .unwrap();
    let mut tx = db.transaction();
    tx.put("small", "v").unwrap();
    let e = tx.put("big", vec![0u8; 8192]).unwrap_err();
    assert!(e.is_invalid_argument(), "{e}");
    assert!(tx.commit().unwrap_err().is_invalid_argument());
    assert_eq!(db.get("small").unwrap(), None);
    assert!(db
        .transaction()
        .put("", "v")
        .unwrap_err()
        .is_invalid_argument());
}
