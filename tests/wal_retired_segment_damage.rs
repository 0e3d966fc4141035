//! Before any fsync of a WAL segment, the segments retired before it are trimmed and
//! fsynced whole, so a sync mark in a newer segment declares them durable: damage to one is
//! then corruption, reported with its file and offset, never taken for a lost unsynced
//! write. Without such a mark, the same damage reads as a power loss's torn write, and
//! recovery keeps the writes before it.

mod common;
#[path = "support/held_flush.rs"]
mod held;

use held::{dump, options, prefix, reopen, Held, DIR};
use stratakv::{Db, Error};

const IN_WAL: usize = 1 << 20;

/// A store with two segments; when `sync`, a synced write in the newer one and a write
/// after it (which frames the sync mark). Returns the image with the oldest segment's last
/// record damaged, how many writes came before that record, and the segment's path.
fn damaged_image(sync: bool) -> (stratakv::fs::MemFs, u32, std::path::PathBuf, Held) {
    let mut h = Held::open(IN_WAL);
    h.write_until_segments(2);
    if sync {
        h.write(true);
        h.write(false);
    }
    let image = h.mem.written_back_clone();
    let seg = h.segments()[0].clone();
    let d = dump(&image, &seg);
    let last = d.records.last().expect("records");
    // A byte in the middle of the record's payload.
    image
        .corrupt(&seg, last.offset as usize + 200, &[0x5a])
        .unwrap();
    (image, d.records.len() as u32 - 1, seg, h)
}

#[test]
fn damage_a_later_sync_mark_covers_is_corruption() {
    let (image, _, seg, h) = damaged_image(true);
    // The sync trimmed the retired segment to its records.
    assert_eq!(dump(&h.mem, &seg).preallocated_bytes, 0);
    match Db::open_with(DIR, options(std::sync::Arc::new(image), IN_WAL)) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, seg),
        Err(e) => panic!("expected corruption in {}, got {e}", seg.display()),
        Ok(_) => panic!("damage to a synced segment was not reported"),
    }
}

#[test]
fn the_same_damage_without_a_later_mark_is_a_lost_write() {
    let (image, kept, _, h) = damaged_image(false);
    let dropped = reopen(&image, IN_WAL, &prefix(kept));
    assert_eq!(dropped, u64::from(h.written - kept - 1));
}
