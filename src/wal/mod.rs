//! The write-ahead log: record framing (shared with the manifest), writer and reader.

pub mod chain;
pub mod format;
pub mod reader;
pub mod writer;

/// A WAL segment grows in preallocated steps of this many bytes (see
/// [`LogWriter::create_preallocated`]): with sync writes, an fsync that commits no new file
/// size costs less (ext4 on this project's VM: about 62 -> 40 us for a 130-byte write).
pub const WAL_PREALLOCATE_STEP: u64 = 1 << 20;

pub use chain::LossFrom;
pub use reader::{read_log, LogContents, LogRecord};
pub use writer::{LogWriter, SyncPoint};
