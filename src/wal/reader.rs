//! Reads framed records back, telling a torn tail from corruption.

use std::path::Path;

use bytes::Bytes;

use super::format::{
    LogKind, RecordType, FILE_HEADER_PAYLOAD_BYTES, LOG_FORMAT_VERSION, LOG_FORMAT_VERSION_MIN,
    LOG_MAGIC, RECORD_HEADER_BYTES, SYNC_MARK_PAYLOAD_BYTES,
};
use crate::crc;
use crate::error::{Error, Result};
use crate::testing::crc_differs;

/// One record read back.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Offset of the record's header in the file.
    pub offset: u64,
    /// Its type.
    pub ty: RecordType,
    /// Its payload (a slice of the file's bytes).
    pub payload: Bytes,
}

/// Everything read from one log file.
#[derive(Debug, Clone, Default)]
pub struct LogContents {
    /// The records after the file header, in order.
    pub records: Vec<LogRecord>,
    /// Bytes at the end that formed an incomplete last record, dropped.
    pub torn_tail_bytes: u64,
    /// Offset where the torn tail begins (the end of the last good record).
    pub valid_len: u64,
    /// The largest durable length named by a sync mark read (0 when none).
    pub synced_mark: u64,
    /// The file's format version (from its header; 0 when no header was read).
    pub version: u32,
    /// Zeros from a record boundary to the end of the file, dropped and not counted in
    /// `torn_tail_bytes`: in a preallocated WAL segment, space not yet written (or whose
    /// writes a power loss took); callers reading files that are never preallocated count
    /// them as torn.
    pub zeroed_tail_bytes: u64,
}

/// Parses a whole log file.
///
/// `tolerate_torn_tail` is true only for a file that may end early after a crash: the
/// newest manifest or value-log file, a WAL segment no later sync mark declares whole
/// (`wal/chain.rs`). The first record must be a file header of `kind` and `number`.
///
/// # Errors
///
/// `Corruption` naming `path` and the offset of the first bad record; with
/// `tolerate_torn_tail` false, a torn tail is corruption too.
pub fn read_log(
    path: &Path,
    data: Bytes,
    kind: LogKind,
    number: u64,
    tolerate_torn_tail: bool,
) -> Result<LogContents> {
    let mut out = LogContents::default();
    let mut pos = 0usize;
    let len = data.len();
    let mut first = true;
    let mut version = LOG_FORMAT_VERSION;
    while pos < len {
        let rest = &data[pos..];
        let torn = |why: &str| -> Result<()> {
            if tolerate_torn_tail {
                Ok(())
            } else {
                Err(Error::corruption(path, pos as u64, why))
            }
        };
        if rest.iter().all(|&b| b == 0) {
            if !tolerate_torn_tail {
                return Err(Error::corruption(path, pos as u64, "zeroed tail"));
            }
            out.zeroed_tail_bytes = rest.len() as u64;
            break;
        }
        if rest.len() < RECORD_HEADER_BYTES {
            torn("incomplete record header at the end of the file")?;
            break;
        }
        let header_crc = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        // A record failing its checksum is an unsynced write garbled by a power loss only
        // when nothing intact after it says its bytes were durable (RELIABILITY rule 2).
        let damaged = |why: &str| -> Result<()> {
            if declared_durable(&data, pos, version) {
                Err(Error::corruption(path, pos as u64, why))
            } else {
                torn(why)
            }
        };
        if crc_differs(header_crc, crc::crc32c(&rest[4..RECORD_HEADER_BYTES])) {
            damaged("record header checksum mismatch")?;
            break;
        }
        let length = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let payload_crc = u32::from_le_bytes([rest[9], rest[10], rest[11], rest[12]]);
        let end = RECORD_HEADER_BYTES.saturating_add(length);
        if end > rest.len() {
            torn("last record runs past the end of the file")?;
            break;
        }
        if crc_differs(payload_crc, crc::crc32c(&rest[RECORD_HEADER_BYTES..end])) {
            damaged("record payload checksum mismatch")?;
            break;
        }
        let ty = RecordType::from_tag(rest[8]).ok_or_else(|| {
            Error::corruption(path, pos as u64, format!("unknown record type {}", rest[8]))
        })?;
        let payload = data.slice(pos + RECORD_HEADER_BYTES..pos + end);
        if first {
            version = check_header(path, ty, &payload, kind, number)?;
            out.version = version;
            first = false;
        } else if ty == RecordType::SyncMark {
            let mark = sync_mark(&payload)
                .filter(|&m| m <= pos as u64 && version >= 2)
                .ok_or_else(|| Error::corruption(path, pos as u64, "malformed sync mark"))?;
            out.synced_mark = out.synced_mark.max(mark);
        } else {
            if ty == RecordType::FileHeader {
                return Err(Error::corruption(path, pos as u64, "second file header"));
            }
            out.records.push(LogRecord {
                offset: pos as u64,
                ty,
                payload,
            });
        }
        pos += end;
        out.valid_len = pos as u64;
    }
    if first && tolerate_torn_tail {
        // A file created but never written completely: nothing was acknowledged in it.
        out.valid_len = 0;
    }
    out.torn_tail_bytes = (len as u64) - out.valid_len - out.zeroed_tail_bytes;
    if first && !tolerate_torn_tail {
        return Err(Error::corruption(path, 0, "missing file header"));
    }
    Ok(out)
}

/// The payload of a sync mark: the durable length it names.
fn sync_mark(payload: &[u8]) -> Option<u64> {
    let b: [u8; SYNC_MARK_PAYLOAD_BYTES] = payload.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// The type and payload of an intact record (both checksums good) at `at`, if one is there.
fn intact_record_at(data: &[u8], at: usize) -> Option<(u8, &[u8])> {
    let h = data.get(at..at.checked_add(RECORD_HEADER_BYTES)?)?;
    let header_crc = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    if header_crc != crc::crc32c(&h[4..]) {
        return None;
    }
    let length = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let payload_crc = u32::from_le_bytes([h[9], h[10], h[11], h[12]]);
    let start = at + RECORD_HEADER_BYTES;
    let p = data.get(start..start.checked_add(length)?)?;
    (crc::crc32c(p) == payload_crc).then_some((h[8], p))
}

/// Whether the bytes at `damage` are known to have been durable: an intact sync mark after
/// them names a durable length past them (format version 2). Version 1 files have no
/// marks; there, any intact record after the damage counts (it was written later). The
/// search goes byte by byte until it finds an intact record, then record by record.
fn declared_durable(data: &[u8], damage: usize, version: u32) -> bool {
    // No record starts in the zeros that end a preallocated file (a header of zeros fails
    // its checksum): the search stops where they begin.
    let end = data.len() - data.iter().rev().take_while(|&&b| b == 0).count();
    let mut at = damage + 1;
    while at < end && at + RECORD_HEADER_BYTES <= data.len() {
        match intact_record_at(data, at) {
            Some((ty, payload)) => {
                if version < 2 {
                    return true;
                }
                if ty == RecordType::SyncMark as u8
                    && sync_mark(payload).is_some_and(|m| m > damage as u64)
                {
                    return true;
                }
                at += RECORD_HEADER_BYTES + payload.len();
            }
            None => at += 1,
        }
    }
    false
}

/// Checks the file header record; returns the file's format version.
fn check_header(path: &Path, ty: RecordType, p: &[u8], kind: LogKind, number: u64) -> Result<u32> {
    let bad = |why: &str| Err(Error::corruption(path, 0, why));
    if ty != RecordType::FileHeader || p.len() != FILE_HEADER_PAYLOAD_BYTES {
        return bad("missing file header");
    }
    let magic = u64::from_le_bytes(p[..8].try_into().unwrap_or_default());
    let version = u32::from_le_bytes(p[8..12].try_into().unwrap_or_default());
    let num = u64::from_le_bytes(p[13..21].try_into().unwrap_or_default());
    if magic != LOG_MAGIC {
        return bad("bad log magic");
    }
    if !(LOG_FORMAT_VERSION_MIN..=LOG_FORMAT_VERSION).contains(&version) {
        return Err(Error::corruption(
            path,
            0,
            format!("unsupported log format version {version}"),
        ));
    }
    if p[12] != kind as u8 {
        return bad("log file of the wrong kind");
    }
    if num != number {
        return bad("file number in header does not match the file name");
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::wal::LogWriter;

    /// A new WAL file `/d/000001.wal` and its writer.
    fn new_wal(fs: &MemFs) -> (LogWriter, std::path::PathBuf) {
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let p = dir.join("000001.wal");
        let w = LogWriter::create(Arc::new(fs.clone()), dir, p.clone(), LogKind::Wal, 1).unwrap();
        (w, p)
    }

    fn write(fs: &MemFs, recs: &[&[u8]]) -> Bytes {
        let (mut w, p) = new_wal(fs);
        for r in recs {
            w.add_record(RecordType::WalBatch, r).unwrap();
        }
        fs.read_file(&p).unwrap()
    }

    fn read(data: Bytes, tolerate: bool) -> Result<LogContents> {
        read_log(Path::new("/d/000001.wal"), data, LogKind::Wal, 1, tolerate)
    }

    #[test]
    fn roundtrip() {
        let data = write(&MemFs::new(), &[b"one", b"", b"three"]);
        let c = read(data.clone(), false).unwrap();
        assert_eq!(c.records.len(), 3);
        assert_eq!(&c.records[2].payload[..], b"three");
        assert_eq!(c.torn_tail_bytes, 0);
        assert_eq!(c.valid_len, data.len() as u64);
    }

    #[test]
    fn every_truncation_is_a_torn_tail_only_when_tolerated() {
        let data = write(&MemFs::new(), &[b"one", b"two-two"]);
        for cut in 1..data.len() {
            let c = read(data.slice(..cut), true).unwrap();
            assert!(c.records.len() <= 2);
            assert_eq!(c.valid_len + c.torn_tail_bytes, cut as u64);
            if c.torn_tail_bytes > 0 {
                assert!(read(data.slice(..cut), false).unwrap_err().is_corruption());
            }
        }
    }

    /// Writes "one", syncs, then writes "two" (after a sync mark) and "three", unsynced.
    fn write_synced_then_not(fs: &MemFs) -> (Bytes, usize) {
        let (mut w, p) = new_wal(fs);
        w.add_record(RecordType::WalBatch, b"one").unwrap();
        w.sync().unwrap();
        let synced = w.len() as usize;
        w.add_record(RecordType::WalBatch, b"two").unwrap();
        w.add_record(RecordType::WalBatch, b"three").unwrap();
        (fs.read_file(&p).unwrap(), synced)
    }

    #[test]
    fn damage_to_durable_bytes_is_corruption_but_garbled_unsynced_writes_are_torn() {
        let (data, synced) = write_synced_then_not(&MemFs::new());
        let c = read(data.clone(), true).unwrap();
        assert_eq!(c.records.len(), 3);
        assert_eq!(c.synced_mark, synced as u64);
        for i in 0..data.len() {
            let mut f = data.to_vec();
            f[i] ^= 0x01;
            match read(Bytes::from(f), true) {
                // Durable bytes, named by the mark after them: damage.
                Err(e) if i < synced => assert!(e.is_corruption(), "byte {i}: {e}"),
                Ok(_) if i < synced => panic!("flipped bit at durable byte {i} went unnoticed"),
                // Unsynced: dropped from the garbled record on, a prefix kept.
                Ok(c) => {
                    assert!(
                        c.valid_len <= i as u64 && c.valid_len >= synced as u64,
                        "{i}"
                    );
                    assert_eq!(c.valid_len + c.torn_tail_bytes, data.len() as u64);
                }
                Err(e) => panic!("unsynced byte {i}: {e}"),
            }
        }
        let mut z = data.to_vec();
        z.extend_from_slice(&[0u8; 100]);
        let c = read(Bytes::from(z), true).unwrap();
        assert_eq!(
            (c.records.len(), c.torn_tail_bytes, c.zeroed_tail_bytes),
            (3, 0, 100)
        );
    }

    #[test]
    fn a_sealed_file_reports_damage_anywhere() {
        let fs = MemFs::new();
        let (mut w, p) = new_wal(&fs);
        w.add_record(RecordType::WalBatch, b"one").unwrap();
        w.add_record(RecordType::WalBatch, b"two").unwrap();
        w.seal().unwrap();
        let data = fs.read_file(&p).unwrap();
        let mark_at = data.len() - RECORD_HEADER_BYTES - SYNC_MARK_PAYLOAD_BYTES;
        for i in 0..mark_at {
            let mut f = data.to_vec();
            f[i] ^= 0x40;
            assert!(
                read(Bytes::from(f), true).unwrap_err().is_corruption(),
                "{i}"
            );
        }
    }

    #[test]
    fn a_preallocated_file_ends_in_zeros_until_sealed() {
        let fs = MemFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let p = dir.join("000001.wal");
        let mut w = LogWriter::create_preallocated(
            Arc::new(fs.clone()),
            dir,
            p.clone(),
            LogKind::Wal,
            1,
            4096,
        )
        .unwrap();
        w.add_record(RecordType::WalBatch, b"one").unwrap();
        w.sync().unwrap();
        w.add_record(RecordType::WalBatch, &[7u8; 5000]).unwrap();
        let written = w.len();
        let data = fs.read_file(&p).unwrap();
        assert!(data.len() as u64 >= written + 4096, "{}", data.len());
        let c = read(data.clone(), true).unwrap();
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.valid_len, written);
        assert_eq!(c.torn_tail_bytes, 0);
        assert_eq!(c.zeroed_tail_bytes, data.len() as u64 - written);
        // A file that must be whole may not end in zeros.
        assert!(read(data, false).unwrap_err().is_corruption());
        // A power loss keeps the synced size: the unsynced record reads as zeros.
        let crashed = fs.crash_clone().read_file(&p).unwrap();
        let c = read(crashed.clone(), true).unwrap();
        assert_eq!((c.records.len(), c.torn_tail_bytes), (1, 0));
        assert!(c.zeroed_tail_bytes > 0);
        w.seal().unwrap();
        let sealed = fs.read_file(&p).unwrap();
        assert_eq!(sealed.len() as u64, w.len());
        let c = read(sealed, false).unwrap();
        assert_eq!((c.records.len(), c.zeroed_tail_bytes), (2, 0));
        let after = fs.crash_clone().read_file(&p).unwrap();
        assert_eq!(after.len() as u64, w.len());
    }

    #[test]
    fn garbled_last_record_is_corruption_in_an_older_file() {
        let data = write(&MemFs::new(), &[b"one", b"two"]);
        let mut f = data.to_vec();
        let n = f.len();
        f[n - 1] ^= 0x10;
        assert!(read(Bytes::from(f), false).unwrap_err().is_corruption());
    }
}
