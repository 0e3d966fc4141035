//! `WriteBatch` and its encoding: one format for the WAL and the memtable.
//!
//! A batch is encoded once, when the caller fills it; the WAL stores those exact bytes as a
//! record's payload, and memtable insertion walks the same bytes.
//!
//! ```text
//! batch   = header record*
//! header  = sequence: u64 LE (of the first record) | count: u32 LE     (12 bytes)
//! record  = kind: u8 | key_len: varint | key | [value_len: varint | value]
//!           (a value for Put, and for Pointer, whose value is a value-log handle)
//! ```
//!
//! Callers only ever add Put and Delete records. The write path turns a Put whose value is
//! at least `Options::value_threshold` long into a Pointer record after appending the value
//! to the value log, so the WAL and the memtable hold the handle, not the value.
//!
//! Record `i` (0-based) gets sequence number `sequence + i`, so within a batch a later
//! operation on a key wins. Kinds are the frozen tags of [`crate::key::Kind`]. Group commit
//! joins several batches into one by concatenating their records and summing the counts.

use crate::coding::{put_varint64, Reader};
use crate::error::{Error, Result};
use crate::key::Kind;
use crate::limits::{
    BATCH_LEN_MAX_BYTES, KEY_LEN_MAX_BYTES, KEY_LEN_MIN_BYTES, VALUE_LEN_MAX_BYTES,
};

/// Size of the batch header.
pub const HEADER_BYTES: usize = 12;

/// An atomic group of writes: all of it is applied, or none, also across a crash.
///
/// Bad input (an empty or too-long key, a too-long value) is remembered and reported by
/// `Db::write`, which then applies nothing of the batch.
#[derive(Clone, Debug)]
pub struct WriteBatch {
    rep: Vec<u8>,
    count: u32,
    error: Option<String>,
    /// Length of the longest value put, to skip value-log separation cheaply.
    max_value_len: usize,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch {
            rep: vec![0; HEADER_BYTES],
            count: 0,
            error: None,
            max_value_len: 0,
        }
    }

    /// An empty batch with room for `bytes` of keys and values without reallocating.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut rep = Vec::with_capacity(HEADER_BYTES + bytes);
        rep.resize(HEADER_BYTES, 0);
        WriteBatch {
            rep,
            count: 0,
            error: None,
            max_value_len: 0,
        }
    }

    /// Adds a put of `value` at `key`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        if self.check(key, Some(value)) {
            encode_record(&mut self.rep, Kind::Put, key, value);
            self.max_value_len = self.max_value_len.max(value.len());
            self.count += 1;
        }
        self
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = key.as_ref();
        if self.check(key, None) {
            encode_record(&mut self.rep, Kind::Delete, key, &[]);
            self.count += 1;
        }
        self
    }

    /// Adds a record pointing `key` at the value-log `handle` (value-log GC's moves; the
    /// write path separates user values itself).
    pub(crate) fn push_pointer(&mut self, key: &[u8], handle: &[u8]) {
        encode_record(&mut self.rep, Kind::Pointer, key, handle);
        self.count += 1;
    }

    fn check(&mut self, key: &[u8], value: Option<&[u8]>) -> bool {
        if self.error.is_some() {
            return false;
        }
        let err = if key.len() < KEY_LEN_MIN_BYTES || key.len() > KEY_LEN_MAX_BYTES {
            Some(format!(
                "key of {} bytes (record {}): keys must be {KEY_LEN_MIN_BYTES} to {KEY_LEN_MAX_BYTES} bytes",
                key.len(),
                self.count
            ))
        } else if value.is_some_and(|v| v.len() > VALUE_LEN_MAX_BYTES) {
            Some(format!(
                "value of {} bytes (record {}): values must be at most {VALUE_LEN_MAX_BYTES} bytes",
                value.map_or(0, <[u8]>::len),
                self.count
            ))
        } else if self.rep.len() + key.len() + value.map_or(0, <[u8]>::len) + 21
            > BATCH_LEN_MAX_BYTES
        {
            Some(format!("batch larger than {BATCH_LEN_MAX_BYTES} bytes"))
        } else {
            None
        };
        match err {
            Some(e) => {
                self.error = Some(e);
                false
            }
            None => true,
        }
    }

    /// Number of operations in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every operation and any remembered error.
    pub fn clear(&mut self) {
        self.rep.truncate(HEADER_BYTES);
        self.rep[..HEADER_BYTES].fill(0);
        self.count = 0;
        self.error = None;
        self.max_value_len = 0;
    }

    /// Length of the longest value put into the batch.
    pub(crate) fn max_value_len(&self) -> usize {
        self.max_value_len
    }

    /// Bytes of the values put into the batch that are at least `threshold` long (those
    /// the write moves to the value log).
    pub(crate) fn bytes_of_values_from(&self, threshold: usize) -> usize {
        if self.max_value_len < threshold {
            return 0;
        }
        let mut sum = 0;
        crate::engine::for_each_record(self.records(), |kind, _, value| {
            if kind == crate::key::Kind::Put && value.len() >= threshold {
                sum += value.len();
            }
        });
        sum
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.rep.len()
    }

    /// The first bad input given to this batch.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` describing the first rejected operation.
    pub fn validate(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(Error::InvalidArgument(e.clone())),
            None => Ok(()),
        }
    }

    /// The records' bytes, without the header.
    pub(crate) fn records(&self) -> &[u8] {
        &self.rep[HEADER_BYTES..]
    }

    /// Sum of user key and value bytes (for write-amplification accounting).
    pub(crate) fn payload_bytes(&self) -> usize {
        self.rep.len() - HEADER_BYTES
    }
}

/// Appends one record (the value is written for Put and Pointer only).
pub(crate) fn encode_record(out: &mut Vec<u8>, kind: Kind, key: &[u8], value: &[u8]) {
    out.push(kind as u8);
    put_varint64(out, key.len() as u64);
    out.extend_from_slice(key);
    if kind != Kind::Delete {
        put_varint64(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// The header of a group of batches joined under one sequence number; the group's encoding
/// is this header followed by each batch's `records()`.
pub(crate) fn group_header(batches: &[&WriteBatch], first_seq: u64) -> ([u8; HEADER_BYTES], u32) {
    let count: u32 = batches.iter().map(|b| b.count).sum();
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(&first_seq.to_le_bytes());
    h[8..].copy_from_slice(&count.to_le_bytes());
    (h, count)
}

/// Builds the encoded form of one or more batches joined under one sequence number.
#[cfg(test)]
pub(crate) fn encode_group(batches: &[&WriteBatch], first_seq: u64) -> (Vec<u8>, u32) {
    let len: usize = HEADER_BYTES + batches.iter().map(|b| b.records().len()).sum::<usize>();
    let count: u32 = batches.iter().map(|b| b.count).sum();
    let mut rep = Vec::with_capacity(len);
    rep.extend_from_slice(&first_seq.to_le_bytes());
    rep.extend_from_slice(&count.to_le_bytes());
    for b in batches {
        rep.extend_from_slice(b.records());
    }
    (rep, count)
}

/// One decoded batch record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// Put, delete or value-log pointer.
    pub kind: Kind,
    /// The user key.
    pub key: &'a [u8],
    /// The value (empty for a delete; a value-log handle for a pointer).
    pub value: &'a [u8],
}

/// Decodes an encoded batch fully, checking every record and the count.
///
/// Returns the first sequence number and the records. `None` when the bytes are not a
/// well-formed batch; the caller reports the file and offset.
pub fn decode_batch(rep: &[u8]) -> Option<(u64, Vec<BatchRecord<'_>>)> {
    let mut r = Reader::new(rep);
    let seq = r.u64()?;
    let count = r.u32()?;
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    for i in 0..count {
        let kind = Kind::from_tag(r.u8()?)?;
        let key = r.length_prefixed()?;
        if key.is_empty() || key.len() > KEY_LEN_MAX_BYTES {
            return None;
        }
        let value = match kind {
            Kind::Put | Kind::Pointer => {
                let v = r.length_prefixed()?;
                if v.len() > VALUE_LEN_MAX_BYTES {
                    return None;
                }
                v
            }
            Kind::Delete => &[][..],
        };
        out.push(BatchRecord {
            seq: seq.checked_add(u64::from(i))?,
            kind,
            key,
            value,
        });
    }
    if !r.is_empty() {
        return None;
    }
    Some((seq, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_group() {
        let mut a = WriteBatch::new();
        a.put(b"k1", b"v1").delete(b"k2");
        let mut b = WriteBatch::new();
        b.put(b"k3", b"");
        let (rep, count) = encode_group(&[&a, &b], 100);
        assert_eq!(count, 3);
        let (seq, recs) = decode_batch(&rep).unwrap();
        assert_eq!(seq, 100);
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].kind, Kind::Delete);
        assert_eq!(recs[2].seq, 102);
        assert_eq!(recs[2].key, b"k3");
    }

    #[test]
    fn bad_entry_poisons_batch() {
        let mut b = WriteBatch::new();
        b.put(b"ok", b"v").put(b"", b"v").put(b"later", b"v");
        assert!(b.validate().unwrap_err().is_invalid_argument());
        let long = vec![b'k'; KEY_LEN_MAX_BYTES + 1];
        let mut c = WriteBatch::new();
        c.delete(&long);
        assert!(c.validate().is_err());
        c.clear();
        assert!(c.validate().is_ok() && c.is_empty());
    }

    #[test]
    fn decode_rejects_garbage() {
        let (mut rep, _) = encode_group(&[WriteBatch::new().put(b"a", b"b")], 1);
        rep.push(0);
        assert!(decode_batch(&rep).is_none(), "trailing byte");
        assert!(decode_batch(&rep[..5]).is_none(), "short header");
        rep.pop();
        rep[12] = 7;
        assert!(decode_batch(&rep).is_none(), "unknown kind");
        rep[12] = Kind::Pointer as u8;
        assert_eq!(decode_batch(&rep).unwrap().1[0].kind, Kind::Pointer);
    }
}
