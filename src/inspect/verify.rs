//! `db.verify()`: read every live file and check every checksum.
//!
//! Checks `CURRENT`, the live manifest, every live WAL segment (records and framing; a
//! torn tail of the newest is reported as such, not as damage), every value-log file (each
//! record's checksums, up to its sealed length), and every table: each block's CRC, the
//! decoded entries' order, that each value-log handle names a record of a live file exactly
//! (or a file GC deleted), and the CRC32C of the whole file against the one the manifest
//! recorded; and that the manifest's levels past 0 are sorted with disjoint key ranges, as
//! reads assume (an overlap is reported against the manifest, at offset 0). Damage is
//! listed with file and offset; `verify` itself fails only
//! when it cannot read the directory.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Error;

/// One damaged spot.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Damage {
    /// The file.
    pub file: PathBuf,
    /// Byte offset of the damage.
    pub offset: u64,
    /// What check failed.
    pub reason: String,
}

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Files read.
    pub files_checked: u64,
    /// Bytes read.
    pub bytes_checked: u64,
    /// Table blocks whose checksum was verified.
    pub blocks_checked: u64,
    /// Entries read back from tables.
    pub entries_checked: u64,
    /// WAL records verified.
    pub wal_records_checked: u64,
    /// Value-log records verified.
    pub vlog_records_checked: u64,
    /// Value-log handles in tables checked against the records they name.
    pub vlog_handles_checked: u64,
    /// Bytes of torn tail at the end of the newest WAL (not damage).
    pub torn_tail_bytes: u64,
    /// Every damaged spot found.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// True when nothing is damaged.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }

    pub(crate) fn record(&mut self, e: Error) {
        let damage = match e {
            Error::Corruption {
                file,
                offset,
                reason,
            } => Damage {
                file,
                offset,
                reason,
            },
            other => Damage {
                file: PathBuf::new(),
                offset: 0,
                reason: other.to_string(),
            },
        };
        self.damage.push(damage);
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checked {} files, {} bytes: {} table blocks, {} entries, {} WAL records, \
             {} value-log records, {} value handles",
            self.files_checked,
            self.bytes_checked,
            self.blocks_checked,
            self.entries_checked,
            self.wal_records_checked,
            self.vlog_records_checked,
            self.vlog_handles_checked
        )?;
        if self.torn_tail_bytes > 0 {
            writeln!(
                f,
                "newest WAL ends in a torn tail of {} bytes (not damage)",
                self.torn_tail_bytes
            )?;
        }
        if self.damage.is_empty() {
            writeln!(f, "no damage found")
        } else {
            writeln!(f, "{} damaged:", self.damage.len())?;
            for d in &self.damage {
                writeln!(
                    f,
                    "  {} at offset {}: {}",
                    d.file.display(),
                    d.offset,
                    d.reason
                )?;
            }
            Ok(())
        }
    }
}
