//! Iterators over a key with many versions (a hot counter) return, in both directions and
//! at every snapshot, exactly the newest version each snapshot sees: the cursors that seek
//! past long runs of versions instead of stepping over them agree with the history.

mod common;

use common::tiny_mem_options;
use stratakv::fs::MemFs;
use stratakv::{Bytes, Db, Options};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn collect(it: impl Iterator<Item = stratakv::Result<(Bytes, Bytes)>>) -> Entries {
    it.map(|r| {
        let (k, v) = r.unwrap();
        (k.to_vec(), v.to_vec())
    })
    .collect()
}

/// Version `i` of the hot key: long ones go to the value log (its threshold is 64 bytes).
fn version(i: usize) -> Vec<u8> {
    let v = format!("v{i}");
    if i.is_multiple_of(3) {
        format!("{v:>100}").into_bytes()
    } else {
        v.into_bytes()
    }
}

fn expected(hot: Option<Vec<u8>>) -> Entries {
    let mut e = vec![(b"a".to_vec(), b"1".to_vec())];
    if let Some(v) = hot {
        e.push((b"h".to_vec(), v));
    }
    e.push((b"z".to_vec(), b"1".to_vec()));
    e
}

#[test]
fn scans_across_a_key_with_thousands_of_versions() {
    let fs = MemFs::new();
    let opts = Options {
        value_threshold: 64,
        ..tiny_mem_options(&fs)
    };
    let db = Db::open_with(
        "/db",
        Options {
            memtable_size: 8 << 20,
            ..opts
        },
    )
    .unwrap();
    db.put("a", "1").unwrap();
    db.put("z", "1").unwrap();
    let mut snaps = Vec::new();
    let mut hot: Option<Vec<u8>> = None;
    for i in 0..3000 {
        if i % 700 == 699 {
            db.delete("h").unwrap();
            hot = None;
        } else {
            db.put("h", version(i)).unwrap();
            hot = Some(version(i));
        }
        if i % 500 == 250 || i % 700 == 699 {
            snaps.push((db.snapshot(), hot.clone()));
        }
        if i == 1500 {
            // Half of the versions (those the snapshots keep) move into a table.
            db.flush().unwrap();
        }
    }
    let check = |what: &str, fwd: Entries, back: Entries, want: &Entries| {
        assert_eq!(&fwd, want, "{what}: forward");
        let mut back = back;
        back.reverse();
        assert_eq!(&back, want, "{what}: backward");
    };
    for (n, (snap, hot)) in snaps.iter().enumerate() {
        let want = expected(hot.clone());
        check(
            &format!("snapshot {n}"),
            collect(snap.iter()),
            collect(snap.iter().rev()),
            &want,
        );
        let from_h: Entries = want
            .iter()
            .filter(|(k, _)| k.as_slice() >= &b"h"[..])
            .cloned()
            .collect();
        check(
            &format!("snapshot {n}, from h"),
            collect(snap.range("h".."zz")),
            collect(snap.range("h".."zz").rev()),
            &from_h,
        );
        let to_h: Entries = want
            .iter()
            .filter(|(k, _)| k.as_slice() <= &b"h"[..])
            .cloned()
            .collect();
        check(
            &format!("snapshot {n}, up to h"),
            collect(snap.range(.."i")),
            collect(snap.range(.."i").rev()),
            &to_h,
        );
    }
    let want = expected(hot);
    check(
        "latest",
        collect(db.iter()),
        collect(db.iter().rev()),
        &want,
    );
    // Versions written after an iterator began are stepped (and sought) past too.
    let it = db.iter();
    for i in 0..100 {
        db.put("h", version(10_000 + i)).unwrap();
    }
    assert_eq!(collect(it), want, "an iterator older than 100 new versions");
}
