//! `db.verify()` reads every live file, passes a healthy store, and names the file and
//! offset of every damaged table block or WAL record.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::tiny_mem_options;
use stratakv::fs::{FileSystem, MemFs};
use stratakv::{Db, Options};

fn build(fs: &MemFs) -> Options {
    let opts = tiny_mem_options(fs);
    let db = Db::open_with("/v", opts.clone()).unwrap();
    for i in 0..3_000u32 {
        db.put(format!("key{i:05}"), format!("value{i}")).unwrap();
    }
    db.flush().unwrap();
    for i in 0..50u32 {
        db.put(format!("wal{i:03}"), b"x").unwrap();
    }
    db.close().unwrap();
    opts
}

#[test]
fn healthy_store_verifies_clean() {
    let fs = MemFs::new();
    let opts = build(&fs);
    let db = Db::open_with("/v", opts).unwrap();
    db.put(b"more", b"1").unwrap();
    let r = db.verify().unwrap();
    println!("{r}");
    assert!(r.is_ok(), "{r}");
    assert!(r.blocks_checked > 10 && r.entries_checked >= 3_000);
    assert!(r.files_checked >= 4);
}

#[test]
fn damaged_table_block_is_reported_with_file_and_offset() {
    let fs = MemFs::new();
    let opts = build(&fs);
    let db = Db::open_with(
        "/v",
        Options {
            fs: Arc::new(fs.clone()),
            ..opts
        },
    )
    .unwrap();
    let names = fs.list_dir(Path::new("/v")).unwrap();
    let sst = names.iter().find(|n| n.ends_with(".sst")).unwrap();
    let path = Path::new("/v").join(sst);
    // Flip a byte in the first data block (after the table was opened: reads see it).
    fs.corrupt(&path, 10, &[0xee]).unwrap();
    let db2 = {
        // Reopen so the damaged bytes are what the table reads.
        drop(db);
        Db::open_with("/v", tiny_mem_options(&fs)).unwrap()
    };
    let r = db2.verify().unwrap();
    println!("{r}");
    assert!(!r.is_ok());
    assert!(r.damage.iter().any(|d| d.file == path), "{r}");
    assert!(r.to_string().contains(sst.as_str()));
}

#[test]
fn damaged_wal_record_is_reported() {
    let fs = MemFs::new();
    let opts = build(&fs);
    let db = Db::open_with("/v", opts).unwrap();
    for i in 0..20u32 {
        db.put(format!("late{i}"), b"v").unwrap();
    }
    let names = fs.list_dir(Path::new("/v")).unwrap();
    let wal = names.iter().find(|n| n.ends_with(".wal")).unwrap();
    let path = Path::new("/v").join(wal);
    fs.corrupt(&path, 60, &[0xff]).unwrap();
    let r = db.verify().unwrap();
    assert!(r.damage.iter().any(|d| d.file == path), "{r}");
}
