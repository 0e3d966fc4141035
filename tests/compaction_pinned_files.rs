//! An iterator keeps reading the tables it started with while compactions replace them, and
//! the replaced files are deleted once no reader holds them.

use std::collections::BTreeSet;

use stratakv::{Db, Options};

fn tables(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sst"))
        .collect()
}

#[test]
fn iterator_pins_compacted_tables_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // No automatic compaction: only `compact()` below replaces tables, so the file list
    // taken before it is exactly what the iterator pins.
    let opts = Options {
        memtable_size: 64 << 10,
        level0_compaction_trigger: 100,
        level0_slowdown_trigger: 200,
        level0_stop_trigger: 300,
        ..Options::default()
    };
    let db = Db::open_with(dir.path(), opts).unwrap();
    for i in 0..5_000u32 {
        db.put(format!("k{i:05}"), format!("v{i}")).unwrap();
    }
    db.flush().unwrap();
    let before = tables(dir.path());
    let mut it = db.iter();
    let first = it.next().unwrap().unwrap();
    assert_eq!(&first.0[..], b"k00000");
    // Overwrite everything and compact: the iterator's tables leave the version.
    for i in 0..5_000u32 {
        db.put(format!("k{i:05}"), b"new").unwrap();
    }
    db.compact().unwrap();
    let during = tables(dir.path());
    assert!(
        before.iter().all(|t| during.contains(t)),
        "files a live iterator reads are not deleted"
    );
    let mut n = 1;
    for item in it.by_ref() {
        let (k, v) = item.unwrap();
        assert_ne!(
            &v[..],
            b"new",
            "the iterator sees the store as of its creation"
        );
        assert!(k.starts_with(b"k"));
        n += 1;
    }
    assert_eq!(n, 5_000);
    drop(it);
    let after = tables(dir.path());
    assert!(
        before.iter().all(|t| !after.contains(t)),
        "replaced files are deleted once unpinned: {before:?} vs {after:?}"
    );
    assert_eq!(db.get(b"k00042").unwrap().as_deref(), Some(&b"new"[..]));
}
