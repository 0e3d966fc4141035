//! Every hard limit and format constant in one place, with the reason for each.
//!
//! Units are last in names. Relations between limits are checked at compile time below.

/// Longest user key: keys are length-prefixed with a `u16` in places, and RocksDB-like
/// engines cap keys similarly. API.md: keys are 1 to 65,535 bytes.
pub const KEY_LEN_MAX_BYTES: usize = 65_535;
/// Shortest user key (an empty key has no successor semantics we want to support).
pub const KEY_LEN_MIN_BYTES: usize = 1;
/// Longest value: API.md fixes 1 GiB.
pub const VALUE_LEN_MAX_BYTES: usize = 1 << 30;
/// Largest encoded write batch: a WAL record length is a `u32`, so a batch must fit in it
/// with room for its header.
pub const BATCH_LEN_MAX_BYTES: usize = (u32::MAX as usize) - 4096;
/// Sequence numbers take the high 56 bits of an internal key's trailer.
pub const SEQNO_MAX: u64 = (1 << 56) - 1;
/// Bytes of an internal key's trailer (sequence number and kind).
pub const TRAILER_BYTES: usize = 8;
/// Tallest skiplist tower; with branching 1/4 this indexes 4^12 = 16M entries well.
pub const SKIPLIST_HEIGHT_MAX: usize = 12;
/// Size of one memtable arena chunk.
pub const ARENA_CHUNK_BYTES: usize = 1 << 20;
/// Entries per restart point in data blocks.
pub const DATA_BLOCK_RESTART_INTERVAL: usize = 16;
/// A manifest is rewritten as a fresh snapshot once it grows past this size.
pub const MANIFEST_ROLLOVER_BYTES: u64 = 8 << 20;
/// How many writers' batches one group commit may coalesce, in bytes.
pub const GROUP_COMMIT_MAX_BYTES: usize = 4 << 20;

const _: () = assert!(KEY_LEN_MAX_BYTES <= u16::MAX as usize);
const _: () = assert!(KEY_LEN_MIN_BYTES >= 1);
const _: () = assert!(VALUE_LEN_MAX_BYTES + KEY_LEN_MAX_BYTES + 64 < BATCH_LEN_MAX_BYTES);
const _: () = assert!(SEQNO_MAX < u64::MAX >> 8 << 8);
const _: () = assert!(GROUP_COMMIT_MAX_BYTES < BATCH_LEN_MAX_BYTES);
