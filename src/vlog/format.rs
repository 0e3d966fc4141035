//! The value-log file format and value handles.
//!
//! A value-log file uses the record framing of `wal/format.rs`: every record has a
//! CRC32C over its header and one over its payload, and the file starts with a header
//! record (magic, format version 2, file kind 3 = value log, the file's number), and sync
//! marks (type 4) between value records tell damage from a torn tail (see there).
//!
//! ```text
//! file    = header_record (sync_mark | value_record)*
//! value_record = record of type 3 (VlogValue) whose payload is
//!           compression: u8          frozen tags of sstable/format.rs:
//!                                    0 none, 1 Snappy, 2 LZ4, 3 Zstd
//!           key_len: varint | key    the user key (garbage collection looks it up)
//!           value                    the rest of the payload: the value as is (tag 0), or
//!                                    uncompressed_len: varint ++ compressed bytes
//! handle  = file_number: varint | offset: varint | length: varint
//!           offset: of the record's header in the file; length: header (13) + payload
//! ```
//!
//! A handle is the value of a [`Kind::Pointer`](crate::key::Kind::Pointer) entry in WAL
//! batches, memtables and tables. Records never span files, and files are append-only:
//! a handle stays valid until garbage collection deletes its file.
//!
//! Worked example: key `k`, value `vv` uncompressed, in file 7 at offset 34:
//! payload = `00 | 01 6b | 76 76` (5 bytes), record = 13-byte header + payload = 18 bytes,
//! handle = `07 22 12`.

use std::path::Path;

use bytes::Bytes;

use crate::coding::{get_varint64, put_varint64, Reader};
use crate::crc;
use crate::error::{Error, Result};
use crate::options::Compression;
use crate::sstable::format::{compress_into, compression_tag, decompress};
use crate::testing::crc_differs;
use crate::wal::format::{begin_record, end_record, RecordType, RECORD_HEADER_BYTES};

/// Where a separated value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    /// The value-log file's number.
    pub file: u64,
    /// Offset of the record's header.
    pub offset: u64,
    /// Bytes of the whole record (header and payload).
    pub len: u64,
}

impl Handle {
    /// Appends the encoded handle to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.file);
        put_varint64(out, self.offset);
        put_varint64(out, self.len);
    }

    /// The encoded handle.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12);
        self.encode_to(&mut v);
        v
    }

    /// Decodes a handle; `None` unless `src` is exactly one well-formed handle.
    pub fn decode(src: &[u8]) -> Option<Handle> {
        let mut r = Reader::new(src);
        let h = Handle {
            file: r.varint64()?,
            offset: r.varint64()?,
            len: r.varint64()?,
        };
        (r.is_empty()
            && h.len > RECORD_HEADER_BYTES as u64
            && h.offset.checked_add(h.len).is_some())
        .then_some(h)
    }
}

/// Frames one value record onto `out` and returns its length (header and payload). The
/// value is compressed straight into `out`.
pub fn encode_value_record(out: &mut Vec<u8>, key: &[u8], value: &[u8], c: Compression) -> u64 {
    let at = begin_record(out);
    let tag_at = out.len();
    out.push(0);
    put_varint64(out, key.len() as u64);
    out.extend_from_slice(key);
    out[tag_at] = compress_into(value, c, out);
    end_record(out, at, RecordType::VlogValue);
    (out.len() - at) as u64
}

/// A value record's payload, parsed.
#[derive(Debug, Clone)]
pub struct ValueRecord {
    /// The user key it was written for.
    pub key: Bytes,
    /// The value, decompressed.
    pub value: Bytes,
    /// Bytes the value took on disk (compressed).
    pub stored_len: usize,
}

/// A value record's payload parsed up to its value, which is left as stored.
#[derive(Debug, Clone)]
pub struct StoredValue {
    /// The compression tag the value is stored under.
    pub tag: u8,
    /// The user key it was written for.
    pub key: Bytes,
    /// The value as stored: as is (tag 0), or its uncompressed length and compressed bytes.
    pub stored: Bytes,
}

impl StoredValue {
    /// Length of the value once decompressed, read from the stored bytes; `None` when they
    /// do not start with one.
    pub fn value_len(&self) -> Option<usize> {
        if self.tag == compression_tag::NONE {
            return Some(self.stored.len());
        }
        get_varint64(&self.stored).and_then(|(n, _)| usize::try_from(n).ok())
    }
}

/// Parses a value record's payload (already checked by its CRC) without decompressing it.
///
/// # Errors
///
/// `Corruption` naming `path` and `offset` when it is malformed.
pub fn parse_payload(path: &Path, offset: u64, payload: &Bytes) -> Result<StoredValue> {
    let bad = |why: &str| Error::corruption(path, offset, why);
    let mut r = Reader::new(payload);
    let tag = r.u8().ok_or_else(|| bad("empty value record"))?;
    let key = r
        .length_prefixed()
        .ok_or_else(|| bad("value record key runs past its end"))?;
    let key = payload.slice_ref(key);
    let stored = payload.slice(r.pos()..);
    let s = StoredValue { tag, key, stored };
    match s.value_len() {
        Some(_) => Ok(s),
        None => Err(bad("value record's value length is malformed")),
    }
}

/// Parses a value record's payload (already checked by its CRC).
///
/// # Errors
///
/// `Corruption` naming `path` and `offset` when it is malformed or does not decompress.
pub fn decode_payload(path: &Path, offset: u64, payload: &Bytes) -> Result<ValueRecord> {
    let StoredValue { tag, key, stored } = parse_payload(path, offset, payload)?;
    let stored_len = stored.len();
    let value = decompress(stored, tag)
        .map_err(|why| Error::corruption(path, offset, format!("value record: {why}")))?;
    Ok(ValueRecord {
        key,
        value,
        stored_len,
    })
}

/// Checks one framed record read from `path` at `offset` (header checksum, type, length,
/// payload checksum) and returns its payload.
///
/// # Errors
///
/// `Corruption` naming `path` and `offset` when any check fails.
pub fn check_framed(path: &Path, offset: u64, rec: &Bytes) -> Result<Bytes> {
    let bad = |why: &str| Error::corruption(path, offset, why);
    if rec.len() < RECORD_HEADER_BYTES {
        return Err(bad("value record shorter than its header"));
    }
    let header_crc = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
    if crc_differs(header_crc, crc::crc32c(&rec[4..RECORD_HEADER_BYTES])) {
        return Err(bad("value record header checksum mismatch"));
    }
    let length = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]) as usize;
    if RECORD_HEADER_BYTES + length != rec.len() {
        return Err(bad("value record length differs from its handle"));
    }
    if rec[8] != RecordType::VlogValue as u8 {
        return Err(bad("not a value record"));
    }
    let payload_crc = u32::from_le_bytes([rec[9], rec[10], rec[11], rec[12]]);
    if crc_differs(payload_crc, crc::crc32c(&rec[RECORD_HEADER_BYTES..])) {
        return Err(bad("value record payload checksum mismatch"));
    }
    Ok(rec.slice(RECORD_HEADER_BYTES..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example() {
        let mut out = Vec::new();
        let n = encode_value_record(&mut out, b"k", b"vv", Compression::None);
        assert_eq!(n, 18);
        assert_eq!(&out[13..], &[0, 1, b'k', b'v', b'v']);
        let h = Handle {
            file: 7,
            offset: 34,
            len: 18,
        };
        assert_eq!(h.encode(), vec![0x07, 0x22, 0x12]);
        assert_eq!(Handle::decode(&h.encode()), Some(h));
        let p = Path::new("7.vlog");
        let payload = check_framed(p, 34, &Bytes::from(out)).unwrap();
        let r = decode_payload(p, 34, &payload).unwrap();
        assert_eq!((&r.key[..], &r.value[..]), (&b"k"[..], &b"vv"[..]));
    }

    #[test]
    fn parse_payload_leaves_the_value_as_stored() {
        let p = Path::new("1.vlog");
        for (c, tag) in [
            (Compression::None, compression_tag::NONE),
            (Compression::Lz4, compression_tag::LZ4),
        ] {
            let mut out = Vec::new();
            encode_value_record(&mut out, b"key", &[b'x'; 5000], c);
            let payload = check_framed(p, 0, &Bytes::from(out)).unwrap();
            let s = parse_payload(p, 0, &payload).unwrap();
            assert_eq!(
                (s.tag, &s.key[..], s.value_len()),
                (tag, &b"key"[..], Some(5000))
            );
            assert_eq!(s.stored.len() + 5, payload.len(), "{c:?}");
        }
        // A compressed value whose declared length is cut off.
        let bad = Bytes::from_static(&[compression_tag::LZ4, 1, b'k', 0x80]);
        assert!(parse_payload(p, 0, &bad).unwrap_err().is_corruption());
    }

    #[test]
    fn compressed_roundtrip_and_every_flip_detected() {
        let value = vec![b'x'; 5000];
        let mut out = Vec::new();
        encode_value_record(&mut out, b"key", &value, Compression::Lz4);
        assert!(out.len() < 1000, "compressible value compressed");
        let p = Path::new("1.vlog");
        let rec = Bytes::from(out.clone());
        let r = decode_payload(p, 0, &check_framed(p, 0, &rec).unwrap()).unwrap();
        assert_eq!(r.value, value);
        for i in 0..out.len() {
            let mut f = out.clone();
            f[i] ^= 0x10;
            let got = check_framed(p, 0, &Bytes::from(f)).and_then(|pl| decode_payload(p, 0, &pl));
            assert!(
                got.unwrap_err().is_corruption(),
                "flip at byte {i} unnoticed"
            );
        }
    }

    #[test]
    fn handle_rejects_garbage() {
        assert_eq!(Handle::decode(&[]), None);
        assert_eq!(Handle::decode(&[1, 2]), None);
        assert_eq!(Handle::decode(&[1, 2, 3]), None, "shorter than a header");
        assert_eq!(Handle::decode(&[1, 2, 20, 0]), None, "trailing byte");
    }
}
