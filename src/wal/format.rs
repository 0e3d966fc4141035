//! Record framing for log files (the WAL, the MANIFEST and value-log files).
//!
//! ```text
//! file    = header_record record*
//! record  = header_crc: u32 LE | length: u32 LE | type: u8 | payload_crc: u32 LE | payload
//!           payload_crc = CRC32C(payload)
//!           header_crc  = CRC32C(bytes 4..13: length, type, payload_crc)
//! header_record (type 0) payload, 21 bytes:
//!           magic: u64 LE = 0x4C_4F_47_4B_56_53_54_53 ("STSVKGOL" as bytes, "STSVK" log)
//!           format_version: u32 LE = 3 (2: WAL segments retired synced, 1: the same
//!           without sync marks; both still read)
//!           file_kind: u8 (1 = WAL, 2 = MANIFEST, 3 = value log)
//!           file_number: u64 LE (must match the file's name)
//! ```
//!
//! Record types are frozen, never renumber: 0 = file header, 1 = WAL write batch
//! (payload: the batch encoding of `batch.rs`), 2 = manifest version edit (payload:
//! `manifest/edit.rs`), 3 = value-log value (payload: `vlog/format.rs`), 4 = sync mark
//! (payload: u64 LE, a length of this file known to be durable when the mark was framed;
//! version 2). The writer puts a sync mark before the first record it appends after an
//! fsync, and one at a clean close; readers consume marks and hand out only the others.
//!
//! Worked example: a WAL record holding a batch with one put of key `k`, value `v`,
//! sequence 7: payload = `07 00 00 00 00 00 00 00 | 01 00 00 00 | 01 01 6b 01 76` (17 bytes),
//! record = `crc32c(11 00 00 00 | 01 | pc) | 11 00 00 00 | 01 | pc | payload` with
//! `pc = crc32c(payload)`: 13 + 17 = 30 bytes.
//!
//! The header has its own checksum so that a damaged length is never mistaken for a torn
//! tail. A WAL segment is preallocated ahead of its records (zeros; see
//! `LogWriter::create_preallocated`) and cut back to its last record when fsynced after it
//! was retired, or at a clean close. Which segments may end early after a crash is the rule
//! of `wal/chain.rs` (version 3: a freeze retires a segment unsynced, and a sync mark in a
//! segment declares every older one whole); `read_log` is told whether a file may. In such
//! a file, zeros from a record boundary to the end are unwritten space (dropped, not
//! counted as torn); an incomplete last record (a header cut short, or a header that checks
//! out but whose payload runs past the end of the file), a zeroed region from inside a
//! record to the end of the file, or a record failing a checksum where no intact sync mark
//! after it claims its bytes were durable (the unsynced last writes, garbled by the power
//! loss) is a torn tail: dropped from there on, counted, and never appended after (the
//! engine starts a new file). Anything else that fails a check is corruption: in
//! particular damage to bytes that a later sync mark declares durable.

use crate::crc;

/// Bytes of a record header: header crc, length, type, payload crc.
pub const RECORD_HEADER_BYTES: usize = 13;
/// Log file magic number.
pub const LOG_MAGIC: u64 = 0x4C4F_474B_5653_5453;
/// Version of this framing format written now.
pub const LOG_FORMAT_VERSION: u32 = 3;
/// The first version whose WAL segments are retired unsynced (see `wal/chain.rs`).
pub const LOG_VERSION_LAZY_RETIRE: u32 = 3;
/// The oldest version still read (version 1 has no sync marks).
pub const LOG_FORMAT_VERSION_MIN: u32 = 1;
/// Bytes of a sync mark's payload.
pub const SYNC_MARK_PAYLOAD_BYTES: usize = 8;
/// Bytes of the header record's payload.
pub const FILE_HEADER_PAYLOAD_BYTES: usize = 21;

/// Frozen record types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// The first record of every log file.
    FileHeader = 0,
    /// A WAL write batch.
    WalBatch = 1,
    /// A manifest version edit.
    ManifestEdit = 2,
    /// A value in a value-log file.
    VlogValue = 3,
    /// How much of the file was durable when the record was framed (format version 2).
    SyncMark = 4,
}

impl RecordType {
    /// Decodes a frozen tag.
    pub fn from_tag(t: u8) -> Option<Self> {
        match t {
            0 => Some(RecordType::FileHeader),
            1 => Some(RecordType::WalBatch),
            2 => Some(RecordType::ManifestEdit),
            3 => Some(RecordType::VlogValue),
            4 => Some(RecordType::SyncMark),
            _ => None,
        }
    }
}

/// Frozen kinds of log file named in the header record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LogKind {
    /// A write-ahead log segment, `<n>.wal`.
    Wal = 1,
    /// A manifest, `MANIFEST-<n>`.
    Manifest = 2,
    /// A value-log file, `<n>.vlog`.
    Vlog = 3,
}

/// Builds a record header for `payload`.
pub fn record_header(ty: RecordType, payload: &[u8]) -> [u8; RECORD_HEADER_BYTES] {
    record_header_parts(ty, &[payload])
}

/// Builds a record header for a payload given as consecutive parts.
pub fn record_header_parts(ty: RecordType, parts: &[&[u8]]) -> [u8; RECORD_HEADER_BYTES] {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let crc = parts.iter().fold(0, |c, p| crc::crc32c_append(c, p));
    let mut h = [0u8; RECORD_HEADER_BYTES];
    h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    h[8] = ty as u8;
    h[9..13].copy_from_slice(&crc.to_le_bytes());
    let crc = crc::crc32c(&h[4..13]);
    h[..4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Starts a record at the end of `out` whose payload the caller appends next, in place;
/// returns where it starts, for [`end_record`].
pub fn begin_record(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
    at
}

/// Fills in the header of the record [`begin_record`] started at `at`: its payload is
/// everything in `out` after the header.
pub fn end_record(out: &mut [u8], at: usize, ty: RecordType) {
    let (head, payload) = out[at..].split_at_mut(RECORD_HEADER_BYTES);
    head.copy_from_slice(&record_header(ty, payload));
}

/// Appends a whole framed record (header and payload parts) to `out`.
pub fn frame_record(out: &mut Vec<u8>, ty: RecordType, parts: &[&[u8]]) {
    out.extend_from_slice(&record_header_parts(ty, parts));
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// The header record's payload.
pub fn file_header_payload(kind: LogKind, number: u64) -> [u8; FILE_HEADER_PAYLOAD_BYTES] {
    let mut p = [0u8; FILE_HEADER_PAYLOAD_BYTES];
    p[..8].copy_from_slice(&LOG_MAGIC.to_le_bytes());
    p[8..12].copy_from_slice(&LOG_FORMAT_VERSION.to_le_bytes());
    p[12] = kind as u8;
    p[13..21].copy_from_slice(&number.to_le_bytes());
    p
}
