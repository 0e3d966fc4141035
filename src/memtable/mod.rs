//! The memtable: recent writes in a skiplist keyed by internal key.
//!
//! One memtable is active (taking writes); full ones become immutable and wait in a queue
//! for the background flush. Each memtable remembers the WAL segment holding its writes.

pub mod skiplist;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::BatchRecord;
use crate::error::Result;
use crate::iter::InternalIterator;
use crate::key::{
    compare_internal, pack_trailer, parse_internal_key, set_internal_key, user_key, Kind,
};
use crate::limits::SEQNO_MAX;
use crate::sstable::filter::key_hash;
use crate::sstable::Lookup;
use skiplist::{Cursor, Indexed, KeyOrder, SkipList};

/// Memtable capacity per point-index slot.
const POINT_INDEX_BYTES_PER_SLOT: usize = 48;

/// Internal-key order (user key ascending, then newest first) for the skiplist.
#[derive(Debug)]
pub struct InternalOrder;

impl KeyOrder for InternalOrder {
    #[inline]
    fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        compare_internal(a, b)
    }

    #[inline]
    fn group(key: &[u8]) -> &[u8] {
        user_key(key)
    }
}

/// A memtable.
#[derive(Debug)]
pub struct Memtable {
    list: SkipList<InternalOrder>,
    wal_number: u64,
    largest_seq: AtomicU64,
}

impl Memtable {
    /// An empty memtable whose writes are logged in WAL segment `wal_number`, sized for
    /// about `capacity_bytes` of entries (its point index adds 1/6 of that: one 8-byte slot
    /// per 48 bytes, enough for every distinct key of 16-byte keys and 8-byte values).
    pub fn new(wal_number: u64, capacity_bytes: usize) -> Self {
        Memtable {
            list: SkipList::new(capacity_bytes / POINT_INDEX_BYTES_PER_SLOT),
            wal_number,
            largest_seq: AtomicU64::new(0),
        }
    }

    /// The WAL segment holding this memtable's writes.
    pub fn wal_number(&self) -> u64 {
        self.wal_number
    }

    /// Inserts one entry. Only the write path's leader calls this (one writer at a time).
    pub fn add(&self, seq: u64, kind: Kind, key: &[u8], value: &[u8]) {
        let trailer = pack_trailer(seq, kind as u8).to_le_bytes();
        let hash = key_hash(key);
        self.list.insert(&[key, &trailer], value, hash);
        // One writer at a time: a load and a store, not a locked `fetch_max` (see
        // `SkipList::insert` on locked adds after stores into fresh arena lines).
        if seq > self.largest_seq.load(Ordering::Relaxed) {
            self.largest_seq.store(seq, Ordering::Relaxed);
        }
    }

    /// Brings into the cache what an insert of `key` (a user key) will read; see
    /// `SkipList::warm`. `scratch` holds the seek key (one buffer for a batch's keys).
    pub fn warm(&self, key: &[u8], scratch: &mut Vec<u8>) {
        set_internal_key(scratch, key, SEQNO_MAX, Kind::Put as u8);
        self.list.warm(scratch, key_hash(key));
    }

    /// Inserts decoded batch records.
    pub fn apply(&self, records: &[BatchRecord<'_>]) {
        for r in records {
            self.add(r.seq, r.kind, r.key, r.value);
        }
    }

    /// The newest entry for `lookup`'s user key with a sequence number at most `lookup`'s;
    /// `hash` is [`key_hash`] of the user key.
    pub fn get(&self, lookup: &[u8], hash: u64) -> Lookup {
        let c = match self.list.find_group(user_key(lookup), hash) {
            Indexed::Absent => return Lookup::Absent,
            // The newest version is visible to the lookup: it is the answer.
            Indexed::Newest(c) if compare_internal(c.key(&self.list), lookup).is_ge() => c,
            // Versions newer than the lookup's sequence number (search past them), or a
            // full index that does not know the key.
            Indexed::Newest(_) | Indexed::Unknown => self.seek(lookup),
        };
        if !c.valid() {
            return Lookup::Absent;
        }
        let k = c.key(&self.list);
        match parse_internal_key(k) {
            Some((uk, _, kind)) if uk == user_key(lookup) => match kind {
                Kind::Put => Lookup::Value(Bytes::copy_from_slice(c.value(&self.list))),
                Kind::Pointer => Lookup::Pointer(Bytes::copy_from_slice(c.value(&self.list))),
                Kind::Delete => Lookup::Deleted,
            },
            _ => Lookup::Absent,
        }
    }

    fn seek(&self, lookup: &[u8]) -> Cursor {
        let mut c = Cursor::default();
        c.seek(&self.list, lookup);
        c
    }

    /// Bytes of entries held.
    pub fn approximate_bytes(&self) -> usize {
        self.list.memory_bytes()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Largest sequence number inserted.
    pub fn largest_seq(&self) -> u64 {
        self.largest_seq.load(Ordering::Relaxed)
    }

    /// An iterator over all entries; it keeps the memtable alive.
    pub fn iter(self: &Arc<Self>) -> MemIter {
        MemIter {
            mem: self.clone(),
            cursor: Cursor::default(),
        }
    }
}

/// Iterates a memtable.
#[derive(Debug)]
pub struct MemIter {
    mem: Arc<Memtable>,
    cursor: Cursor,
}

impl InternalIterator for MemIter {
    fn valid(&self) -> bool {
        self.cursor.valid()
    }
    fn key(&self) -> &[u8] {
        self.cursor.key(&self.mem.list)
    }
    fn value(&self) -> &[u8] {
        self.cursor.value(&self.mem.list)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.cursor.seek_to_first(&self.mem.list);
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.cursor.seek_to_last(&self.mem.list);
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.cursor.seek(&self.mem.list, target);
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.cursor.seek_for_prev(&self.mem.list, target);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.cursor.next(&self.mem.list);
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.cursor.prev(&self.mem.list);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{make_internal_key, KIND_FOR_SEEK};
    use crate::limits::SEQNO_MAX;

    /// Every key inserted stays readable at every sequence number, whether the point index
    /// holds it or has filled up (a 64 KiB memtable indexes ~1,365 keys; 5,000 go in).
    #[test]
    fn get_through_a_full_point_index() {
        let m = Memtable::new(1, 64 << 10);
        let key = |i: u32| format!("key{i:06}").into_bytes();
        for i in 0..5000u32 {
            m.add(u64::from(i) * 2 + 1, Kind::Put, &key(i), &i.to_le_bytes());
            if i % 3 == 0 {
                m.add(u64::from(i) * 2 + 2, Kind::Delete, &key(i), b"");
            }
        }
        let get = |i: u32, seq: u64| {
            let k = key(i);
            m.get(&make_internal_key(&k, seq, KIND_FOR_SEEK), key_hash(&k))
        };
        for i in 0..5000u32 {
            let put = u64::from(i) * 2 + 1;
            assert_eq!(get(i, put - 1), Lookup::Absent, "key {i} before its put");
            let v = Lookup::Value(Bytes::copy_from_slice(&i.to_le_bytes()));
            assert_eq!(get(i, put), v, "key {i} at its put");
            let latest = if i % 3 == 0 { Lookup::Deleted } else { v };
            assert_eq!(get(i, SEQNO_MAX), latest, "key {i} latest");
        }
        assert_eq!(get(5000, SEQNO_MAX), Lookup::Absent);
        // Keys the index took before it filled are written again: their slots must move to
        // the new versions, or reads would answer with the old ones.
        let base = 20_000u64;
        for i in 0..5000u32 {
            m.add(base + u64::from(i), Kind::Put, &key(i), b"again");
        }
        for i in 0..5000u32 {
            let again = Lookup::Value(Bytes::from_static(b"again"));
            assert_eq!(get(i, SEQNO_MAX), again, "key {i} rewritten");
            let before = if i % 3 == 0 {
                Lookup::Deleted
            } else {
                Lookup::Value(Bytes::copy_from_slice(&i.to_le_bytes()))
            };
            assert_eq!(
                get(i, base + u64::from(i) - 1),
                before,
                "key {i} before the rewrite"
            );
        }
    }

    #[test]
    fn get_respects_sequence_numbers() {
        let m = Memtable::new(1, 1 << 20);
        m.add(1, Kind::Put, b"k", b"v1");
        m.add(2, Kind::Put, b"k", b"v2");
        m.add(3, Kind::Delete, b"k", b"");
        m.add(4, Kind::Put, b"ka", b"x");
        let at = |s| m.get(&make_internal_key(b"k", s, KIND_FOR_SEEK), key_hash(b"k"));
        assert_eq!(at(0), Lookup::Absent);
        assert_eq!(at(1), Lookup::Value(Bytes::from_static(b"v1")));
        assert_eq!(at(2), Lookup::Value(Bytes::from_static(b"v2")));
        assert_eq!(at(3), Lookup::Deleted);
        assert_eq!(at(100), Lookup::Deleted);
        assert_eq!(m.largest_seq(), 4);
    }
}
