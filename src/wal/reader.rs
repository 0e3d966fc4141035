//! Reads framed records back, telling a torn tail from corruption.

use std::path::Path;

use bytes::Bytes;

use super::format::{
    LogKind, RecordType, FILE_HEADER_PAYLOAD_BYTES, LOG_FORMAT_VERSION, LOG_MAGIC,
    RECORD_HEADER_BYTES,
};
use crate::error::{Error, Result};

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
}

/// Parses a whole log file.
///
/// `tolerate_torn_tail` is true only for the newest file of its kind. The first record must
/// be a file header of `kind` and `number`.
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
    while pos < len {
        let rest = &data[pos..];
        let torn = |why: &str| -> Result<()> {
            if tolerate_torn_tail {
                Ok(())
            } else {
                Err(Error::corruption(path, pos as u64, why))
            }
        };
        if rest.len() < RECORD_HEADER_BYTES {
            torn("incomplete record header at the end of the file")?;
            break;
        }
        let header_crc = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if crc32c::crc32c(&rest[4..RECORD_HEADER_BYTES]) != header_crc {
            if rest.iter().all(|&b| b == 0) {
                torn("zeroed tail")?;
                break;
            }
            return Err(Error::corruption(
                path,
                pos as u64,
                "record header checksum mismatch",
            ));
        }
        let length = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let payload_crc = u32::from_le_bytes([rest[9], rest[10], rest[11], rest[12]]);
        let end = RECORD_HEADER_BYTES.saturating_add(length);
        if end > rest.len() {
            torn("last record runs past the end of the file")?;
            break;
        }
        if crc32c::crc32c(&rest[RECORD_HEADER_BYTES..end]) != payload_crc {
            return Err(Error::corruption(
                path,
                pos as u64,
                "record payload checksum mismatch",
            ));
        }
        let ty = RecordType::from_tag(rest[8]).ok_or_else(|| {
            Error::corruption(path, pos as u64, format!("unknown record type {}", rest[8]))
        })?;
        let payload = data.slice(pos + RECORD_HEADER_BYTES..pos + end);
        if first {
            check_header(path, ty, &payload, kind, number)?;
            first = false;
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
    out.torn_tail_bytes = (len as u64) - out.valid_len;
    if first && !tolerate_torn_tail {
        return Err(Error::corruption(path, 0, "missing file header"));
    }
    Ok(out)
}

fn check_header(path: &Path, ty: RecordType, p: &[u8], kind: LogKind, number: u64) -> Result<()> {
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
    if version != LOG_FORMAT_VERSION {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::wal::LogWriter;

    fn write(fs: &MemFs, recs: &[&[u8]]) -> Bytes {
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let p = dir.join("000001.wal");
        let mut w =
            LogWriter::create(Arc::new(fs.clone()), dir, p.clone(), LogKind::Wal, 1).unwrap();
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

    #[test]
    fn zeroed_tail_is_torn_but_flipped_bit_is_corruption() {
        let data = write(&MemFs::new(), &[b"one", b"two"]);
        let mut z = data.to_vec();
        z.extend_from_slice(&[0u8; 100]);
        let c = read(Bytes::from(z), true).unwrap();
        assert_eq!((c.records.len(), c.torn_tail_bytes), (2, 100));
        for i in 0..data.len() {
            let mut f = data.to_vec();
            f[i] ^= 0x01;
            let r = read(Bytes::from(f), true);
            match r {
                Err(e) => assert!(e.is_corruption(), "byte {i}: {e}"),
                Ok(_) => panic!("flipped bit at byte {i} went unnoticed"),
            }
        }
    }
}
