//! The write-ahead log: record framing (shared with the manifest), writer and reader.

pub mod format;
pub mod reader;
pub mod writer;

pub use reader::{read_log, LogContents, LogRecord};
pub use writer::{LogWriter, SyncPoint};
