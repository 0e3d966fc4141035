//! Golden output of the `sst`, `wal`, `manifest` and `vlog` dumps on a small fixed store.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test --test inspect_golden` and review the diff.

use std::path::Path;
use std::sync::Arc;

use stratakv::fs::{FileSystem, MemFs};
use stratakv::inspect::{dump_manifest, dump_sst, dump_vlog, dump_wal, VlogListing};
use stratakv::{Compression, Db, Options, WriteBatch};

fn store() -> MemFs {
    let fs = MemFs::new();
    let opts = Options {
        fs: Arc::new(fs.clone()),
        compression: Compression::None,
        block_size: 256,
        value_threshold: 64,
        vlog_gc_background: false,
        ..Options::default()
    };
    let db = Db::open_with("/g", opts).unwrap();
    db.put("large/1", "L".repeat(100)).unwrap();
    db.put("large/2", "M".repeat(200)).unwrap();
    db.put("large/1", "N".repeat(64)).unwrap();
    for (k, v) in [
        ("apple", "red"),
        ("banana", "yellow"),
        ("cherry", "dark red"),
    ] {
        db.put(k, v).unwrap();
    }
    for i in 0..20 {
        db.put(format!("fruit/{i:02}"), "x".repeat(i)).unwrap();
    }
    db.delete("banana").unwrap();
    db.flush().unwrap();
    let mut b = WriteBatch::new();
    b.put("date", "brown")
        .delete("apple")
        .put(b"bin\xff", b"\x00\x01");
    db.write(b).unwrap();
    db.close().unwrap();
    fs
}

fn check(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got, want,
        "golden {name} differs (UPDATE_GOLDEN=1 to regenerate)"
    );
}

#[test]
fn sst_wal_manifest_dumps_match_golden() {
    let fs = store();
    let names = fs.list_dir(Path::new("/g")).unwrap();
    let sst = names.iter().find(|n| n.ends_with(".sst")).unwrap();
    let wal = names.iter().find(|n| n.ends_with(".wal")).unwrap();
    let dir = Path::new("/g");
    check(
        "sst.txt",
        &dump_sst(&fs, &dir.join(sst), true).unwrap().to_string(),
    );
    check(
        "wal.txt",
        &dump_wal(&fs, &dir.join(wal)).unwrap().to_string(),
    );
    check(
        "manifest.txt",
        &dump_manifest(&fs, dir).unwrap().to_string(),
    );
    let vlog = names.iter().find(|n| n.ends_with(".vlog")).unwrap();
    check(
        "vlog.txt",
        &dump_vlog(&fs, &dir.join(vlog)).unwrap().to_string(),
    );
    let opts = Options {
        fs: Arc::new(fs.clone()),
        vlog_gc_background: false,
        ..Options::default()
    };
    let db = Db::open_with(dir, opts).unwrap();
    db.compact().unwrap();
    check(
        "vlog_list.txt",
        &VlogListing {
            files: db.vlog_files(),
        }
        .to_string(),
    );
}
