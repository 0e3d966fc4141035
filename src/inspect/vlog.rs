//! Printing value-log files and the list of a store's value-log files (`stratakv vlog`).

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::dump::show_bytes;
use crate::engine::VlogFileInfo;
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, FileKind};
use crate::fs::FileSystem;
use crate::vlog::format::decode_payload;
use crate::wal::format::{LogKind, RecordType, RECORD_HEADER_BYTES};
use crate::wal::read_log;

/// One value record.
#[derive(Debug, Clone, Serialize)]
pub struct VlogRecordDump {
    /// Offset of the record's header (the handle's offset).
    pub offset: u64,
    /// Bytes of the whole record (the handle's length).
    pub len: u64,
    /// The key, printed safely.
    pub key: String,
    /// Bytes of the value.
    pub value_len: usize,
    /// Bytes the value takes in the file (compressed).
    pub stored_len: usize,
}

/// A value-log file's records.
#[derive(Debug, Clone, Serialize)]
pub struct VlogDump {
    /// File number from the name.
    pub number: u64,
    /// Records in order.
    pub records: Vec<VlogRecordDump>,
    /// Bytes at the end that form no complete record.
    pub torn_tail_bytes: u64,
}

/// Reads a value-log file, checking every record (a torn tail is reported, not an error).
///
/// # Errors
///
/// `InvalidArgument` for a name that is not `<n>.vlog`; `Corruption` naming the file and
/// offset; `Io`.
pub fn dump_vlog(fs: &dyn FileSystem, path: &Path) -> Result<VlogDump> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Some(FileKind::Vlog(number)) = parse_file_name(name) else {
        return Err(Error::invalid("a value-log file is named <number>.vlog"));
    };
    let data = fs
        .read_file(path)
        .map_err(|e| Error::io("reading", path, e))?;
    let log = read_log(path, data, LogKind::Vlog, number, true)?;
    let mut records = Vec::with_capacity(log.records.len());
    for r in &log.records {
        if r.ty != RecordType::VlogValue {
            return Err(Error::corruption(path, r.offset, "not a value record"));
        }
        let v = decode_payload(path, r.offset, &r.payload)?;
        records.push(VlogRecordDump {
            offset: r.offset,
            len: (RECORD_HEADER_BYTES + r.payload.len()) as u64,
            key: show_bytes(&v.key),
            value_len: v.value.len(),
            stored_len: v.stored_len,
        });
    }
    Ok(VlogDump {
        number,
        records,
        torn_tail_bytes: log.torn_tail_bytes,
    })
}

impl fmt::Display for VlogDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "value-log file {}: {} records",
            self.number,
            self.records.len()
        )?;
        for r in &self.records {
            writeln!(
                f,
                "  offset {} ({} bytes): {} = {} bytes ({} stored)",
                r.offset, r.len, r.key, r.value_len, r.stored_len
            )?;
        }
        if self.torn_tail_bytes > 0 {
            writeln!(f, "torn tail: {} bytes", self.torn_tail_bytes)?;
        }
        Ok(())
    }
}

/// The value-log files of a store, as `Db::vlog_files` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct VlogListing {
    /// The files, oldest first.
    pub files: Vec<VlogFileInfo>,
}

impl fmt::Display for VlogListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<10} {:>14} {:>14} {:>8}  state",
            "file", "bytes", "discardable", "ratio"
        )?;
        for v in &self.files {
            let state = match (v.active, v.collected) {
                (true, _) => "active",
                (_, true) => "collected",
                _ => "sealed",
            };
            writeln!(
                f,
                "{:<10} {:>14} {:>14} {:>7.1}%  {state}",
                format!("{:06}.vlog", v.number),
                v.size,
                v.discard_bytes,
                v.discard_ratio * 100.0
            )?;
        }
        let total: u64 = self.files.iter().map(|v| v.size).sum();
        let garbage: u64 = self.files.iter().map(|v| v.discard_bytes.min(v.size)).sum();
        writeln!(
            f,
            "{} files, {total} bytes, {garbage} discardable",
            self.files.len()
        )
    }
}
