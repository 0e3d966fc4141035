//! The library side of the `stratakv` tool: verification, and readable dumps of tables,
//! WAL segments and manifests, tested on golden output.

pub mod verify;

pub use verify::{Damage, VerifyReport};
