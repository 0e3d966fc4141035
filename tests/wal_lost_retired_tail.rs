//! A memtable freeze retires its WAL segment unsynced. A power loss may then take that
//! segment's unsynced tail (or the whole segment, its directory entry never synced) while
//! newer segments survive: recovery keeps exactly the writes before the loss and drops the
//! later ones, and the next open finds that prefix in place. Zeros a retired segment still
//! has past its records (never trimmed) lose nothing.

mod common;
#[path = "support/held_flush.rs"]
mod held;

use held::{dump, prefix, reopen, writes_before, Held};

/// Values stay in the WAL.
const IN_WAL: usize = 1 << 20;

#[test]
fn untrimmed_retired_segments_lose_nothing() {
    let mut h = Held::open(IN_WAL);
    let (image, segs) = h.three_segments();
    // The retired segments were never trimmed: they end in preallocated zeros.
    assert!(dump(&image, &segs[0]).preallocated_bytes > 0);
    assert_eq!(reopen(&image, IN_WAL, &prefix(h.written)), 0);
}

#[test]
fn a_torn_retired_segment_keeps_the_writes_before_the_tear() {
    let mut h = Held::open(IN_WAL);
    let (image, segs) = h.three_segments();
    // Cut the oldest segment inside its last record; the newer two survive whole.
    let first = dump(&image, &segs[0]);
    let last = first.records.last().expect("records");
    image.truncate(&segs[0], last.offset as usize + 20).unwrap();
    let kept = first.records.len() as u32 - 1;
    let dropped = reopen(&image, IN_WAL, &prefix(kept));
    assert_eq!(dropped, u64::from(h.written - kept - 1));
}

#[test]
fn a_retired_segment_lost_whole_drops_the_later_ones() {
    let mut h = Held::open(IN_WAL);
    let (image, segs) = h.three_segments();
    let kept = writes_before(&image, &segs, 1);
    let lost = dump(&image, &segs[1]).records.len() as u32;
    stratakv::fs::FileSystem::remove_file(&image, &segs[1]).unwrap();
    let dropped = reopen(&image, IN_WAL, &prefix(kept));
    assert_eq!(dropped, u64::from(h.written - kept - lost));
}

#[test]
fn a_lost_value_log_tail_under_a_retired_segment_keeps_a_prefix() {
    let in_vlog = 512;
    let mut h = Held::open(in_vlog);
    let (image, segs) = h.three_segments();
    // The value log loses the values of the second segment's records and after: the
    // oldest segment's records still point at whole values, the rest point past the end.
    let kept = writes_before(&image, &segs, 1);
    let vlog = common::files_ending(&image, held::DIR, ".vlog")
        .pop()
        .expect("a value-log file");
    let listing = stratakv::inspect::dump_vlog(&image, &vlog).unwrap();
    let cut = listing.records[kept as usize].offset;
    image.truncate(&vlog, cut as usize + 10).unwrap();
    let dropped = reopen(&image, in_vlog, &prefix(kept));
    assert_eq!(dropped, u64::from(h.written - kept));
}
