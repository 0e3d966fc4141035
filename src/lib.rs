//! # StrataKV
//!
//! An embedded, persistent, sorted key-value store built on a log-structured merge tree.
//!
//! ```no_run
//! # fn main() -> stratakv::Result<()> {
//! let db = stratakv::Db::open("path/to/dir")?;
//! db.put(b"user:1", b"ada")?;
//! assert_eq!(db.get(b"user:1")?.as_deref(), Some(&b"ada"[..]));
//! for item in db.prefix(b"user:") {
//!     let (key, value) = item?;
//!     println!("{key:?} = {value:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! ## What it is
//!
//! - Writes go to a write-ahead log (CRC32C-framed, group-committed: concurrent writers
//!   share one append and fsyncs) and then to an in-memory skiplist. Full memtables are
//!   flushed in the background to immutable sorted tables (blocks with prefix compression,
//!   bloom filters, LZ4/Snappy/Zstd compression), recorded in a manifest, and compacted in
//!   levels L0..L6 by background threads, with writers slowed and then stopped when
//!   compaction falls behind.
//! - Every acknowledged write survives a process crash; writes with `sync: true` (or before
//!   a successful `db.sync()`, or under `SyncMode::Always`) survive power loss. After any
//!   crash the store holds a prefix of the acknowledged writes.
//! - Every byte read from disk is checksummed; damage is an error naming the file and
//!   offset, never a wrong value.
//! - Reads never block on writes; iterators and snapshots see a fixed point in time.
//! - Optimistic, serializable transactions ([`Db::transaction`], [`Db::update`]).
//! - Key-value separation: values of at least `Options::value_threshold` bytes go to an
//!   append-only value log at write time, so compaction moves small handles, and
//!   [`Db::vlog_gc`] (and a background thread) rewrites the live values of files that are
//!   mostly garbage.
//!
//! One process owns a directory at a time.
//!
//! ## Limits
//!
//! Keys are 1 to 65,535 bytes; values up to 1 GiB; see [`limits`].

#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]

pub mod batch;
pub mod cache;
pub mod coding;
pub mod compaction;
mod crc;
mod db;
mod engine;
pub mod error;
pub mod filename;
pub mod fs;
pub mod inspect;
pub mod iter;
pub mod key;
pub mod limits;
pub mod manifest;
pub mod memtable;
pub mod options;
mod prefetch;
pub mod sstable;
mod stats;
#[doc(hidden)]
pub mod testing;
pub mod txn;
pub mod value;
pub mod vlog;
pub mod wal;

pub use batch::WriteBatch;
pub use bytes::Bytes;
pub use db::{Db, Snapshot};
pub use engine::{VlogFileInfo, VlogGcReport};
pub use error::{Error, Result};
pub use inspect::VerifyReport;
pub use iter::db_iter::Iter;
pub use options::{Compression, Options, SyncMode, WriteOptions};
pub use stats::{LevelStats, RecoveryStats, Stats};
pub use txn::{Transaction, TxnIter, TxnOptions};
pub use value::Value;
