//! The library side of the `stratakv` tool: verification, and readable dumps of tables,
//! WAL segments and manifests, tested on golden output.

pub mod dump;
pub mod verify;
pub mod vlog;

pub use dump::{dump_manifest, dump_sst, dump_wal, stats_prometheus};
pub use verify::{Damage, VerifyReport};
pub use vlog::{dump_vlog, VlogDump, VlogListing};
