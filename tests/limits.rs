//! Key and value size limits; a batch with one bad entry applies nothing.

use stratakv::{Db, WriteBatch};

#[test]
fn key_length_limits() {
    let db = Db::open_temp().unwrap();
    let max = vec![b'k'; 65_535];
    db.put(&max, b"v").unwrap();
    assert_eq!(db.get(&max).unwrap().as_deref(), Some(&b"v"[..]));
    let too_long = vec![b'k'; 65_536];
    assert!(db.put(&too_long, b"v").unwrap_err().is_invalid_argument());
    assert!(db.put(b"", b"v").unwrap_err().is_invalid_argument());
    assert!(db.delete(b"").unwrap_err().is_invalid_argument());
    assert!(db.get(&too_long).unwrap_err().is_invalid_argument());
    db.flush().unwrap();
    assert_eq!(
        db.get(&max).unwrap().as_deref(),
        Some(&b"v"[..]),
        "from a table"
    );
}

#[test]
fn value_length_limit() {
    let db = Db::open_temp().unwrap();
    // calloc'd: the pages are never touched because validation rejects it first.
    let too_big = vec![0u8; (1 << 30) + 1];
    assert!(db.put(b"k", &too_big).unwrap_err().is_invalid_argument());
    assert_eq!(db.get(b"k").unwrap(), None);
    assert_eq!(db.stats().writes, 0);
}

#[test]
fn batch_with_one_bad_entry_applies_nothing() {
    let db = Db::open_temp().unwrap();
    db.put(b"keep", b"old").unwrap();
    let mut b = WriteBatch::new();
    b.put(b"keep", b"new").put(b"a", b"1");
    b.put(vec![0u8; 70_000], b"bad");
    b.put(b"z", b"26");
    let e = db.write(b).unwrap_err();
    assert!(e.is_invalid_argument(), "{e}");
    assert!(
        !e.to_string().contains("bad"),
        "errors do not echo user bytes"
    );
    assert_eq!(db.get(b"keep").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(db.get(b"a").unwrap(), None);
    assert_eq!(db.get(b"z").unwrap(), None);
}
