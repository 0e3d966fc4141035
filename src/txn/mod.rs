//! Optimistic, serializable transactions.
//!
//! A transaction reads at a snapshot taken when it begins, sees its own pending writes, and
//! records what it read (keys, and whole scanned ranges). `commit` validates that read set
//! against every transaction that committed after this one began (see `oracle.rs`); on a
//! conflict it fails with [`crate::Error::is_conflict`] and applies nothing. Otherwise its
//! writes go through the group-commit WAL path as one atomic batch. The result is
//! serializable: no lost update, no write skew, no phantom.
//!
//! With conflict detection switched off ([`TxnOptions::detect_conflicts`] or
//! `Options::txn_detect_conflicts`), transactions run under snapshot isolation instead:
//! faster, never a conflict, but write skew becomes possible (two transactions that each
//! read what the other writes can both commit). Read-only transactions
//! ([`crate::Db::read_transaction`]) never conflict.
//!
//! A transaction is used from one thread at a time (`Send`, not `Sync`).

pub mod conflict;
pub mod oracle;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::db::to_owned_bound;
use crate::engine::{check_key, Engine};
use crate::error::{Error, Result};
use crate::iter::db_iter::{range_is_empty, Iter};
use crate::limits::VALUE_LEN_MAX_BYTES;
use conflict::{ReadSet, WriteSet};

/// Per-transaction options.
#[derive(Debug, Clone, Copy)]
pub struct TxnOptions {
    /// Validate reads at commit (serializable). Off: snapshot isolation, never a conflict.
    pub detect_conflicts: bool,
    /// Fsync the commit before returning (as `WriteOptions::sync`).
    pub sync: bool,
}

/// A transaction. Dropping it without `commit` rolls it back.
pub struct Transaction {
    engine: Arc<Engine>,
    read_seq: u64,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    reads: RefCell<ReadSet>,
    bytes: usize,
    max_bytes: usize,
    opts: TxnOptions,
    read_only: bool,
    failed: Option<String>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("read_seq", &self.read_seq)
            .field("writes", &self.writes.len())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.engine.oracle.end(self.read_seq);
        self.engine.release_snapshot(self.read_seq);
    }
}

impl Transaction {
    pub(crate) fn begin(engine: Arc<Engine>, opts: TxnOptions, read_only: bool) -> Self {
        let e = engine.clone();
        // The read timestamp and the snapshot are taken under the oracle's lock, so a
        // commit that this transaction cannot see is never pruned before it can check it.
        let read_seq = engine.oracle.begin(move || e.acquire_snapshot());
        let max_bytes = engine.opts.txn_max_bytes;
        Transaction {
            engine,
            read_seq,
            writes: BTreeMap::new(),
            reads: RefCell::new(ReadSet::default()),
            bytes: 0,
            max_bytes,
            opts,
            read_only,
            failed: None,
        }
    }

    /// The sequence number this transaction reads at.
    pub fn read_sequence(&self) -> u64 {
        self.read_seq
    }

    /// The value of `key`: this transaction's own pending write, else the value as of the
    /// transaction's start. Recorded in the read set (a miss too).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a key outside 1..=65,535 bytes; I/O or corruption.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        let key = key.as_ref();
        check_key(key)?;
        if let Some(v) = self.writes.get(key) {
            return Ok(v.as_deref().map(Bytes::copy_from_slice));
        }
        self.reads.borrow_mut().add_key(key);
        self.engine.get(key, self.read_seq)
    }

    fn stage(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if self.read_only {
            return Err(Error::invalid("a read-only transaction cannot write"));
        }
        check_key(key)?;
        if value.is_some_and(|v| v.len() > VALUE_LEN_MAX_BYTES) {
            return Err(Error::invalid(format!(
                "value of {} bytes: values must be at most {VALUE_LEN_MAX_BYTES} bytes",
                value.map_or(0, <[u8]>::len)
            )));
        }
        let added = key.len() + value.map_or(0, <[u8]>::len) + 16;
        if self.bytes + added > self.max_bytes {
            let msg = format!(
                "transaction larger than txn_max_bytes ({} bytes); nothing will be applied",
                self.max_bytes
            );
            self.failed = Some(msg.clone());
            return Err(Error::InvalidArgument(msg));
        }
        self.bytes += added;
        self.writes.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        Ok(())
    }

    /// Stages a put, applied at commit.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a bad key or value, in a read-only transaction, or when the
    /// transaction grows past `Options::txn_max_bytes` (then the whole transaction fails at
    /// commit and nothing of it is applied).
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.stage(key.as_ref(), Some(value.as_ref()))
    }

    /// Stages a delete, applied at commit.
    ///
    /// # Errors
    ///
    /// As [`Transaction::put`].
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        self.stage(key.as_ref(), None)
    }

    /// Entries in `range` as of the transaction's start, merged with its own writes; the
    /// whole range joins the read set.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> TxnIter {
        self.scan(
            to_owned_bound(range.start_bound()),
            to_owned_bound(range.end_bound()),
        )
    }

    /// Entries whose keys start with `prefix`, merged with the transaction's own writes.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> TxnIter {
        let p = prefix.as_ref();
        self.scan(Bound::Included(p.to_vec()), crate::db::prefix_end(p))
    }

    /// Every entry, merged with the transaction's own writes.
    pub fn iter(&self) -> TxnIter {
        self.scan(Bound::Unbounded, Bound::Unbounded)
    }

    fn scan(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> TxnIter {
        self.reads.borrow_mut().add_range(lo.clone(), hi.clone());
        let pending: Vec<(Vec<u8>, Option<Vec<u8>>)> = if range_is_empty(&lo, &hi) {
            Vec::new()
        } else {
            self.writes
                .range::<Vec<u8>, _>((lo.as_ref(), hi.as_ref()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let db = self.engine.iter(self.read_seq, lo, hi);
        TxnIter {
            db,
            pb: pending.len(),
            pending,
            pf: 0,
            db_front: None,
            db_back: None,
            db_done: false,
            last_front: None,
            last_back: None,
            finished: false,
        }
    }

    /// Validates and applies the transaction atomically (as one batch through the
    /// group-commit WAL path).
    ///
    /// # Errors
    ///
    /// `Conflict` (`e.is_conflict()`) when a key it read or a range it scanned was changed
    /// by a transaction that committed after it began: nothing is applied, retry it. It
    /// returns once that commit's write is visible, so a retry begun then reads it.
    /// `InvalidArgument` when it grew past `txn_max_bytes`. Otherwise as `Db::write`.
    pub fn commit(self) -> Result<()> {
        if let Some(msg) = &self.failed {
            return Err(Error::InvalidArgument(msg.clone()));
        }
        if self.writes.is_empty() || self.read_only {
            return Ok(());
        }
        let mut batch = WriteBatch::with_capacity(self.bytes);
        for (k, v) in &self.writes {
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            };
        }
        // Large values compressed before the commit guard, not under it.
        self.engine.separate_values(&mut batch);
        let oracle = &self.engine.oracle;
        let serial = oracle.commit_guard();
        if self.opts.detect_conflicts {
            if let Some(c) = oracle.has_conflict(self.read_seq, &self.reads.borrow()) {
                drop(serial);
                // A retry that began now, while the conflicting commit is still writing,
                // would read what it overwrites and conflict again: wait for that write.
                oracle.wait_settled(&c);
                return Err(Error::Conflict(
                    "a key read or range scanned was changed by a later commit".into(),
                ));
            }
        }
        let write_set = || WriteSet::new(self.writes.keys());
        // Validated, entered in the window and queued under the guard: sequence numbers
        // follow validation order. The write itself, and the wait for it, come after, so
        // concurrent commits share group commits.
        let ticket = oracle.queue(self.read_seq, write_set);
        let queued = match self.engine.queue_write(batch, self.opts.sync) {
            Ok(q) => q,
            Err(e) => {
                oracle.settle(ticket, None, self.read_seq, write_set);
                return Err(e);
            }
        };
        drop(serial);
        let r = self.engine.finish_write(queued);
        oracle.settle(ticket, r.as_ref().ok().copied(), self.read_seq, write_set);
        r.map(|_| ())
    }

    /// Discards the transaction (as dropping it does).
    pub fn rollback(self) {}
}

/// Iterates a transaction's view: the snapshot merged with its own pending writes (which
/// win; a pending delete hides the key). Double-ended.
pub struct TxnIter {
    db: Iter,
    pending: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pf: usize,
    pb: usize,
    db_front: Option<(Bytes, Bytes)>,
    db_back: Option<(Bytes, Bytes)>,
    db_done: bool,
    last_front: Option<Bytes>,
    last_back: Option<Bytes>,
    finished: bool,
}

impl std::fmt::Debug for TxnIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnIter")
            .field("pending", &(self.pb - self.pf))
            .finish()
    }
}

impl TxnIter {
    fn fail(&mut self, e: Error) -> Option<Result<(Bytes, Bytes)>> {
        self.finished = true;
        Some(Err(e))
    }
}

impl Iterator for TxnIter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            if self.db_front.is_none() && !self.db_done {
                match self.db.next() {
                    Some(Ok(kv)) => self.db_front = Some(kv),
                    Some(Err(e)) => return self.fail(e),
                    None => self.db_done = true,
                }
            }
            // The snapshot's ends met: what the back side peeked is all that is left.
            if self.db_front.is_none() && self.db_done {
                self.db_front = self.db_back.take();
            }
            let pend = (self.pf < self.pb).then(|| &self.pending[self.pf]);
            let take_pending = match (&self.db_front, pend) {
                (None, None) => {
                    self.finished = true;
                    return None;
                }
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((dk, _)), Some((pk, _))) => pk.as_slice() <= &dk[..],
            };
            let (k, v) = if take_pending {
                let (pk, pv) = self.pending[self.pf].clone();
                self.pf += 1;
                if self
                    .db_front
                    .as_ref()
                    .is_some_and(|(dk, _)| dk[..] == pk[..])
                {
                    self.db_front = None;
                }
                match pv {
                    Some(v) => (Bytes::from(pk), Bytes::from(v)),
                    None => continue,
                }
            } else {
                match self.db_front.take() {
                    Some(kv) => kv,
                    None => continue,
                }
            };
            if self.last_back.as_ref().is_some_and(|b| k >= *b) {
                self.finished = true;
                return None;
            }
            self.last_front = Some(k.clone());
            return Some(Ok((k, v)));
        }
        None
    }
}

impl DoubleEndedIterator for TxnIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        while !self.finished {
            if self.db_back.is_none() && !self.db_done {
                match self.db.next_back() {
                    Some(Ok(kv)) => self.db_back = Some(kv),
                    Some(Err(e)) => return self.fail(e),
                    None => self.db_done = true,
                }
            }
            if self.db_back.is_none() && self.db_done {
                self.db_back = self.db_front.take();
            }
            let pend = (self.pf < self.pb).then(|| &self.pending[self.pb - 1]);
            let take_pending = match (&self.db_back, pend) {
                (None, None) => {
                    self.finished = true;
                    return None;
                }
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((dk, _)), Some((pk, _))) => pk.as_slice() >= &dk[..],
            };
            let (k, v) = if take_pending {
                self.pb -= 1;
                let (pk, pv) = self.pending[self.pb].clone();
                if self
                    .db_back
                    .as_ref()
                    .is_some_and(|(dk, _)| dk[..] == pk[..])
                {
                    self.db_back = None;
                }
                match pv {
                    Some(v) => (Bytes::from(pk), Bytes::from(v)),
                    None => continue,
                }
            } else {
                match self.db_back.take() {
                    Some(kv) => kv,
                    None => continue,
                }
            };
            if self.last_front.as_ref().is_some_and(|f| k <= *f) {
                self.finished = true;
                return None;
            }
            self.last_back = Some(k.clone());
            return Some(Ok((k, v)));
        }
        None
    }
}
