//! Sorted string tables: immutable files of sorted internal keys.
//!
//! `format.rs` holds the byte layout; `block.rs` the block encoding; `filter.rs` the bloom
//! filter; `builder.rs` writes a table; `reader.rs` reads one.

pub mod block;
pub mod builder;
pub mod filter;
pub mod format;
pub mod index;
pub mod props;
pub mod readahead;
pub mod reader;

pub use builder::{create_table, TableBuilder, TableInfo, TableOptions};
pub use reader::{Lookup, LookupCounters, Table, TableIter, TableLimit, TableOpenOptions};
