//! Version edits: the records of a MANIFEST.
//!
//! ```text
//! edit   = field*
//! field  = tag: varint | body            tags frozen, never renumber:
//!   1 log_number: varint             WAL segments below this number are obsolete
//!   2 next_file_number: varint
//!   3 last_sequence: varint
//!   4 new_file: level varint | number varint | size varint | file_crc varint
//!              | smallest_seq varint | largest_seq varint | num_entries varint
//!              | smallest (varint len + internal key) | largest (varint len + internal key)
//!   5 deleted_file: level varint | number varint
//!   6 vlog_added: number varint          a value-log file was created (empty)
//!   7 vlog_sealed: number varint | length varint
//!                                       the file is complete: no more appends; its length
//!   8 vlog_discard: number varint | bytes varint
//!                                       add to the bytes of the file no longer referenced
//!   9 vlog_collected: number varint | sequence varint
//!                                       GC rewrote every live value of the file with
//!                                       sequence numbers up to this one; the file is
//!                                       deleted once no reader is older than that
//!  10 vlog_deleted: number varint
//!  11 wal_sealed: number varint | length varint
//!                                       a clean close sealed this WAL segment at this
//!                                       length; recovery requires it present and whole
//! ```
//! A manifest starts with one edit that describes the whole state (a snapshot); each later
//! edit changes it. An unknown tag is corruption: the manifest cannot be understood safely.

use crate::coding::{put_length_prefixed, put_varint64, Reader};

/// A table as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Level, 0 to `max_levels - 1`.
    pub level: u32,
    /// File number (`<number>.sst`).
    pub number: u64,
    /// Exact file size.
    pub size: u64,
    /// CRC32C of the whole file.
    pub file_crc: u32,
    /// Smallest sequence number in the table.
    pub smallest_seq: u64,
    /// Largest sequence number in the table.
    pub largest_seq: u64,
    /// Entries in the table.
    pub num_entries: u64,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
}

impl NewFile {
    /// The manifest entry for a table just built.
    pub fn from_built(level: u32, number: u64, info: crate::sstable::TableInfo) -> NewFile {
        NewFile {
            level,
            number,
            size: info.size,
            file_crc: info.file_crc,
            smallest_seq: info.props.smallest_seq,
            largest_seq: info.props.largest_seq,
            num_entries: info.props.num_entries,
            smallest: info.smallest,
            largest: info.largest,
        }
    }
}

/// One change to the set of live files and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// New log number.
    pub log_number: Option<u64>,
    /// New next-file number.
    pub next_file_number: Option<u64>,
    /// New last sequence number.
    pub last_sequence: Option<u64>,
    /// Tables added.
    pub new_files: Vec<NewFile>,
    /// Tables removed: (level, number).
    pub deleted_files: Vec<(u32, u64)>,
    /// Value-log files created.
    pub vlog_added: Vec<u64>,
    /// Value-log files sealed: (number, length).
    pub vlog_sealed: Vec<(u64, u64)>,
    /// Discarded bytes to add: (number, bytes).
    pub vlog_discard: Vec<(u64, u64)>,
    /// Value-log files collected: (number, sequence of the last rewrite).
    pub vlog_collected: Vec<(u64, u64)>,
    /// Value-log files deleted.
    pub vlog_deleted: Vec<u64>,
    /// A WAL segment closed cleanly: (number, length). Recovery then requires it whole.
    pub wal_sealed: Option<(u64, u64)>,
}

mod tag {
    pub const LOG_NUMBER: u64 = 1;
    pub const NEXT_FILE_NUMBER: u64 = 2;
    pub const LAST_SEQUENCE: u64 = 3;
    pub const NEW_FILE: u64 = 4;
    pub const DELETED_FILE: u64 = 5;
    pub const VLOG_ADDED: u64 = 6;
    pub const VLOG_SEALED: u64 = 7;
    pub const VLOG_DISCARD: u64 = 8;
    pub const VLOG_COLLECTED: u64 = 9;
    pub const VLOG_DELETED: u64 = 10;
    pub const WAL_SEALED: u64 = 11;
}

impl VersionEdit {
    /// Encodes the edit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(v) = self.log_number {
            put_varint64(&mut out, tag::LOG_NUMBER);
            put_varint64(&mut out, v);
        }
        if let Some(v) = self.next_file_number {
            put_varint64(&mut out, tag::NEXT_FILE_NUMBER);
            put_varint64(&mut out, v);
        }
        if let Some(v) = self.last_sequence {
            put_varint64(&mut out, tag::LAST_SEQUENCE);
            put_varint64(&mut out, v);
        }
        for (level, number) in &self.deleted_files {
            put_varint64(&mut out, tag::DELETED_FILE);
            put_varint64(&mut out, u64::from(*level));
            put_varint64(&mut out, *number);
        }
        for f in &self.new_files {
            put_varint64(&mut out, tag::NEW_FILE);
            put_varint64(&mut out, u64::from(f.level));
            put_varint64(&mut out, f.number);
            put_varint64(&mut out, f.size);
            put_varint64(&mut out, u64::from(f.file_crc));
            put_varint64(&mut out, f.smallest_seq);
            put_varint64(&mut out, f.largest_seq);
            put_varint64(&mut out, f.num_entries);
            put_length_prefixed(&mut out, &f.smallest);
            put_length_prefixed(&mut out, &f.largest);
        }
        for n in &self.vlog_added {
            put_varint64(&mut out, tag::VLOG_ADDED);
            put_varint64(&mut out, *n);
        }
        let pairs = [
            (tag::VLOG_SEALED, &self.vlog_sealed),
            (tag::VLOG_DISCARD, &self.vlog_discard),
            (tag::VLOG_COLLECTED, &self.vlog_collected),
        ];
        for (t, list) in pairs {
            for (a, b) in list {
                put_varint64(&mut out, t);
                put_varint64(&mut out, *a);
                put_varint64(&mut out, *b);
            }
        }
        for n in &self.vlog_deleted {
            put_varint64(&mut out, tag::VLOG_DELETED);
            put_varint64(&mut out, *n);
        }
        if let Some((n, len)) = self.wal_sealed {
            put_varint64(&mut out, tag::WAL_SEALED);
            put_varint64(&mut out, n);
            put_varint64(&mut out, len);
        }
        out
    }

    /// Decodes an edit; `Err` with a reason when malformed.
    ///
    /// # Errors
    ///
    /// A description of the first malformed field.
    pub fn decode(src: &[u8]) -> Result<VersionEdit, String> {
        let mut e = VersionEdit::default();
        let mut r = Reader::new(src);
        let short = || "truncated field".to_string();
        while !r.is_empty() {
            match r.varint64().ok_or_else(short)? {
                tag::LOG_NUMBER => e.log_number = Some(r.varint64().ok_or_else(short)?),
                tag::NEXT_FILE_NUMBER => e.next_file_number = Some(r.varint64().ok_or_else(short)?),
                tag::LAST_SEQUENCE => e.last_sequence = Some(r.varint64().ok_or_else(short)?),
                tag::DELETED_FILE => {
                    let level = r.varint32().ok_or_else(short)?;
                    let number = r.varint64().ok_or_else(short)?;
                    e.deleted_files.push((level, number));
                }
                tag::NEW_FILE => {
                    let level = r.varint32().ok_or_else(short)?;
                    let number = r.varint64().ok_or_else(short)?;
                    let size = r.varint64().ok_or_else(short)?;
                    let file_crc = r.varint32().ok_or_else(short)?;
                    let smallest_seq = r.varint64().ok_or_else(short)?;
                    let largest_seq = r.varint64().ok_or_else(short)?;
                    let num_entries = r.varint64().ok_or_else(short)?;
                    let smallest = r.length_prefixed().ok_or_else(short)?.to_vec();
                    let largest = r.length_prefixed().ok_or_else(short)?.to_vec();
                    e.new_files.push(NewFile {
                        level,
                        number,
                        size,
                        file_crc,
                        smallest_seq,
                        largest_seq,
                        num_entries,
                        smallest,
                        largest,
                    });
                }
                tag::VLOG_ADDED => e.vlog_added.push(r.varint64().ok_or_else(short)?),
                tag::VLOG_DELETED => e.vlog_deleted.push(r.varint64().ok_or_else(short)?),
                t @ (tag::VLOG_SEALED | tag::VLOG_DISCARD | tag::VLOG_COLLECTED) => {
                    let pair = (
                        r.varint64().ok_or_else(short)?,
                        r.varint64().ok_or_else(short)?,
                    );
                    match t {
                        tag::VLOG_SEALED => e.vlog_sealed.push(pair),
                        tag::VLOG_DISCARD => e.vlog_discard.push(pair),
                        _ => e.vlog_collected.push(pair),
                    }
                }
                tag::WAL_SEALED => {
                    e.wal_sealed = Some((
                        r.varint64().ok_or_else(short)?,
                        r.varint64().ok_or_else(short)?,
                    ));
                }
                t => return Err(format!("unknown edit tag {t}")),
            }
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_garbage() {
        let e = VersionEdit {
            log_number: Some(7),
            next_file_number: Some(9),
            last_sequence: Some(1000),
            new_files: vec![NewFile {
                level: 0,
                number: 8,
                size: 4096,
                file_crc: 0xdead_beef,
                smallest_seq: 1,
                largest_seq: 1000,
                num_entries: 10,
                smallest: b"a\x00\x00\x00\x00\x00\x00\x00\x01".to_vec(),
                largest: b"z\x00\x00\x00\x00\x00\x00\x00\x01".to_vec(),
            }],
            deleted_files: vec![(1, 3)],
            vlog_added: vec![12],
            vlog_sealed: vec![(11, 4096)],
            vlog_discard: vec![(11, 100), (10, 7)],
            vlog_collected: vec![(9, 900)],
            vlog_deleted: vec![8],
            wal_sealed: Some((12, 4096)),
        };
        assert_eq!(VersionEdit::decode(&e.encode()).unwrap(), e);
        let enc = e.encode();
        for cut in 0..enc.len() {
            let _ = VersionEdit::decode(&enc[..cut]);
        }
        assert!(VersionEdit::decode(&[99, 1]).is_err());
    }
}
