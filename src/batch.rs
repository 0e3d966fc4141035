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
//! Callers only ever add Put and Delete records. A Put whose value is at least
//! `Options::value_threshold` long is separated in the writer's own thread, before the batch
//! is queued (`WriteBatch::separate_values`, or `WriteBatch::put_separated` straight from
//! `Db::put`): its value is compressed and framed as a value-log record into the batch's
//! side buffer (`vlog/format.rs`), and the record becomes a Pointer whose handle is local,
//! file 0 and an offset into that buffer. The group-commit leader appends the side buffers
//! to the value log as they are and rewrites the local handles to the real ones, so the WAL
//! and the memtable hold the handle, not the value, and a local handle never leaves the
//! process.
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
use crate::options::Compression;
use crate::vlog::format::{encode_value_record, Handle};

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
    /// Length of the longest value put and not separated, to skip separation cheaply.
    max_value_len: usize,
    /// Value-log records framed for separated values, which the records point at with
    /// local handles ([`LOCAL_VLOG_FILE`]).
    framed: Vec<u8>,
    /// Bytes of the values in `framed`, as put (uncompressed).
    framed_value_bytes: usize,
}

/// The file number of a local handle: the record is at that offset of its batch's side
/// buffer. Real value-log files are numbered from 1.
pub(crate) const LOCAL_VLOG_FILE: u64 = 0;

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
            framed: Vec::new(),
            framed_value_bytes: 0,
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
            framed: Vec::new(),
            framed_value_bytes: 0,
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

    /// Adds a put of `value` at `key` separated at once: the value is compressed with `c`
    /// and framed as a value-log record in the side buffer, and the record points at it
    /// with a local handle. For values at least `Options::value_threshold` long only.
    pub(crate) fn put_separated(&mut self, key: &[u8], value: &[u8], c: Compression) {
        if self.check(key, Some(value)) {
            self.push_separated(key, value, c);
        }
    }

    /// Frames `value` into the side buffer and adds the Pointer record for it.
    fn push_separated(&mut self, key: &[u8], value: &[u8], c: Compression) {
        let offset = self.framed.len() as u64;
        let len = encode_value_record(&mut self.framed, key, value, c);
        let local = Handle {
            file: LOCAL_VLOG_FILE,
            offset,
            len,
        };
        self.push_pointer(key, &local);
        self.framed_value_bytes += value.len();
    }

    /// Separates every Put whose value is at least `threshold` long, as
    /// [`WriteBatch::put_separated`] would have; the writer calls this before queueing, so
    /// that compression runs in its own thread, not in the group-commit leader's.
    pub(crate) fn separate_values(&mut self, threshold: usize, c: Compression) {
        if self.max_value_len < threshold || self.error.is_some() {
            return;
        }
        let keep = self.rep.len() / 4;
        let old = std::mem::replace(&mut self.rep, Vec::with_capacity(keep));
        self.rep.extend_from_slice(&old[..HEADER_BYTES]);
        self.count = 0;
        self.max_value_len = 0;
        crate::engine::for_each_record(&old[HEADER_BYTES..], |kind, key, value| {
            if kind == Kind::Put && value.len() >= threshold {
                self.push_separated(key, value, c);
            } else {
                encode_record(&mut self.rep, kind, key, value);
                if kind == Kind::Put {
                    self.max_value_len = self.max_value_len.max(value.len());
                }
                self.count += 1;
            }
        });
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

    /// Adds a record pointing `key` at the value-log `handle` (value-log GC's moves, and
    /// the local handles of values this batch separated).
    pub(crate) fn push_pointer(&mut self, key: &[u8], handle: &Handle) {
        encode_pointer_record(&mut self.rep, key, handle);
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
        self.framed.clear();
        self.framed_value_bytes = 0;
    }

    /// The value-log records of the separated values, which the Pointer records with local
    /// handles point into.
    pub(crate) fn framed_values(&self) -> &[u8] {
        &self.framed
    }

    /// Bytes of the separated values, as put.
    pub(crate) fn separated_value_bytes(&self) -> usize {
        self.framed_value_bytes
    }

    /// Encoded size in bytes (with the value-log records of separated values).
    pub fn encoded_len(&self) -> usize {
        self.rep.len() + self.framed.len()
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

    /// Sum of user key and value bytes (for write-amplification accounting; a separated
    /// value counts as put, its local handle too).
    pub(crate) fn payload_bytes(&self) -> usize {
        self.rep.len() - HEADER_BYTES + self.framed_value_bytes
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

/// Appends a Pointer record for `handle` without building the handle apart.
pub(crate) fn encode_pointer_record(out: &mut Vec<u8>, key: &[u8], handle: &Handle) {
    out.push(Kind::Pointer as u8);
    put_varint64(out, key.len() as u64);
    out.extend_from_slice(key);
    let len_at = out.len();
    out.push(0);
    handle.encode_to(out);
    // Three varints of at most 10 bytes: the length fits the one-byte varint reserved.
    out[len_at] = (out.len() - len_at - 1) as u8;
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
    use bytes::Bytes;

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

    /// Local handles of a batch's Pointer records, in order.
    fn local_handles(b: &WriteBatch) -> Vec<(Vec<u8>, Handle)> {
        let mut out = Vec::new();
        crate::engine::for_each_record(b.records(), |kind, key, value| {
            if kind == Kind::Pointer {
                out.push((key.to_vec(), Handle::decode(value).unwrap()));
            }
        });
        out
    }

    #[test]
    fn separate_values_frames_only_large_puts_in_order() {
        let big = |c: u8| vec![c; 5000];
        let mut b = WriteBatch::new();
        b.put(b"a", big(b'a'))
            .put(b"b", b"small")
            .delete(b"c")
            .put(b"d", big(b'd'));
        let before = b.payload_bytes();
        b.separate_values(4096, Compression::Lz4);
        assert_eq!(b.len(), 4);
        assert_eq!(b.separated_value_bytes(), 10_000);
        // A 5000-byte put record is 5005 bytes; its pointer record, 7 (local handle 0 0 len).
        assert_eq!(b.records().len(), 7 + 9 + 3 + 7);
        assert_eq!(
            b.payload_bytes(),
            before - 2 * 5005 + 2 * 7 + 10_000,
            "values as put"
        );
        let (rep, _) = encode_group(&[&b], 1);
        let (_, recs) = decode_batch(&rep).unwrap();
        let kinds: Vec<Kind> = recs.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Pointer, Kind::Put, Kind::Delete, Kind::Pointer]
        );
        assert_eq!(recs[1].value, b"small");
        // Each local handle frames its own key and value in the side buffer, back to back.
        let handles = local_handles(&b);
        let mut at = 0;
        for ((key, h), fill) in handles.iter().zip([b'a', b'd']) {
            assert_eq!((h.file, h.offset), (LOCAL_VLOG_FILE, at));
            let rec = Bytes::copy_from_slice(
                &b.framed_values()[h.offset as usize..(h.offset + h.len) as usize],
            );
            let path = std::path::Path::new("batch");
            let payload = crate::vlog::format::check_framed(path, 0, &rec).unwrap();
            let v = crate::vlog::format::decode_payload(path, 0, &payload).unwrap();
            assert_eq!((&v.key[..], &v.value[..]), (&key[..], &big(fill)[..]));
            at += h.len;
        }
        assert_eq!(at, b.framed_values().len() as u64);
        // A second call finds nothing left to separate.
        let framed = b.framed_values().to_vec();
        b.separate_values(4096, Compression::Lz4);
        assert_eq!((b.framed_values(), b.len()), (&framed[..], 4));
        b.clear();
        assert!(b.is_empty() && b.framed_values().is_empty());
        assert_eq!(b.separated_value_bytes(), 0);
    }

    #[test]
    fn put_separated_matches_separate_values() {
        let v = vec![7u8; 9000];
        let mut direct = WriteBatch::new();
        direct.put_separated(b"k", &v, Compression::None);
        let mut later = WriteBatch::new();
        later.put(b"k", &v);
        later.separate_values(4096, Compression::None);
        assert_eq!(direct.records(), later.records());
        assert_eq!(direct.framed_values(), later.framed_values());
        assert_eq!(direct.encoded_len(), later.encoded_len());
        let mut bad = WriteBatch::new();
        bad.put_separated(b"", &v, Compression::None);
        assert!(bad.validate().is_err() && bad.framed_values().is_empty());
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
