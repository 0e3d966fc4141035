//! `Db`: the public handle. Thin: every operation delegates to the engine.

use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;

use crate::batch::WriteBatch;
use crate::engine::{self, lock, Engine, VlogFileInfo, VlogGcReport};
use crate::error::{Error, Result};
use crate::fs::FileLock;
use crate::iter::db_iter::Iter;
use crate::options::{Options, SyncMode, WriteOptions};
use crate::stats::Stats;
use crate::txn::{Transaction, TxnOptions};

/// How often the background value-log GC looks for work when nothing wakes it.
const VLOG_GC_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// An open database. Cheap to clone; clones share one engine, which shuts down when the
/// last handle is dropped (or at [`Db::close`]).
///
/// Thread safety: every method takes `&self` and may be called from many threads at once.
#[derive(Clone, Debug)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    engine: Arc<Engine>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lock: Mutex<Option<Box<dyn FileLock>>>,
    path: PathBuf,
    temp: Mutex<Option<tempfile::TempDir>>,
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl DbInner {
    fn shutdown(&self) -> Result<()> {
        // While the background threads still run: the flush it may need is theirs.
        let settled = self.engine.settle_vlog_gc();
        let r = self.engine.shutdown().and(settled);
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
        // No background work is left to append to the manifest.
        let r = r.and_then(|()| self.engine.close_manifest());
        lock(&self.lock).take();
        r
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        let _ = self.shutdown();
        if let Some(t) = lock(&self.temp).take() {
            let _ = t.close();
        }
    }
}

pub(crate) fn to_owned_bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`, if any.
pub(crate) fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

impl Db {
    /// Opens (creating if needed) the database in `path` with default options.
    ///
    /// # Errors
    ///
    /// `Locked` when another handle or process holds it; `Corruption` naming the file and
    /// offset when a check fails; `Io` for file errors.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path, Options::default())
    }

    /// Opens the database in `path` with `options`.
    ///
    /// # Errors
    ///
    /// As [`Db::open`], and `InvalidArgument` for options that fail `validate()`.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        Db::open_inner(path.as_ref(), options, None)
    }

    /// Opens a database in a new temporary directory, removed when the last handle drops.
    ///
    /// # Errors
    ///
    /// `Io` when the directory cannot be made.
    pub fn open_temp() -> Result<Db> {
        Db::open_temp_with(Options::default())
    }

    /// [`Db::open_temp`] with options.
    ///
    /// # Errors
    ///
    /// As [`Db::open_temp`].
    pub fn open_temp_with(options: Options) -> Result<Db> {
        let t = tempfile::Builder::new()
            .prefix("stratakv-")
            .tempdir()
            .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
        let p = t.path().to_path_buf();
        Db::open_inner(&p, options, Some(t))
    }

    fn open_inner(path: &Path, options: Options, temp: Option<tempfile::TempDir>) -> Result<Db> {
        // One thread always flushes; the rest (at least one) compact.
        let compaction_threads = options.background_threads.saturating_sub(1).max(1);
        let sync_every = match options.wal_sync {
            SyncMode::Periodic(d) => Some(d),
            _ => None,
        };
        let (engine, file_lock) = engine::open(path, options)?;
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(f)
                .map_err(|e| Error::io("starting a thread for", path, e))
        };
        let e = engine.clone();
        threads.push(spawn("stratakv-flush", Box::new(move || e.flush_loop()))?);
        for i in 0..compaction_threads {
            let e = engine.clone();
            threads.push(spawn(
                &format!("stratakv-compact-{i}"),
                Box::new(move || e.compaction_loop()),
            )?);
        }
        if engine.opts.vlog_gc_background {
            let e = engine.clone();
            threads.push(spawn(
                "stratakv-vlog-gc",
                Box::new(move || e.vlog_gc_loop(VLOG_GC_INTERVAL)),
            )?);
        }
        if let Some(every) = sync_every {
            let e = engine.clone();
            threads.push(spawn(
                "stratakv-wal-sync",
                Box::new(move || e.periodic_sync_loop(every)),
            )?);
        }
        Ok(Db {
            inner: Arc::new(DbInner {
                engine,
                threads: Mutex::new(threads),
                lock: Mutex::new(Some(file_lock)),
                path: path.to_path_buf(),
                temp: Mutex::new(temp),
            }),
        })
    }

    fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a key outside 1..=65,535 bytes or a value over 1 GiB (nothing is
    /// applied); `WritesStopped` after an earlier I/O failure; `Closed`; `Io`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.put_with(key, value, WriteOptions::default())
    }

    /// [`Db::put`] with write options.
    ///
    /// # Errors
    ///
    /// As [`Db::put`].
    pub fn put_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: WriteOptions,
    ) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        let b = if value.len() >= self.engine().opts.value_threshold {
            // Framed for the value log straight from `value`, never copied into the batch.
            let mut b = WriteBatch::with_capacity(11 + key.len() + 30);
            b.put_separated(key, value, self.engine().vlog_compression());
            b
        } else {
            // Exact size: kind byte, two varints of at most 5 bytes, key and value.
            let mut b = WriteBatch::with_capacity(11 + key.len() + value.len());
            b.put(key, value);
            b
        };
        self.write_with(b, opts)
    }

    /// Stores a typed value (a one-byte type tag before the payload; see [`crate::value`]).
    ///
    /// # Errors
    ///
    /// As [`Db::put`].
    pub fn put_value(&self, key: impl AsRef<[u8]>, value: &crate::Value) -> Result<()> {
        self.put(key, value.encode())
    }

    /// Reads a typed value written by [`Db::put_value`].
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when the stored bytes are not a typed value (e.g. written with
    /// `put`); otherwise as [`Db::get`].
    pub fn get_value(&self, key: impl AsRef<[u8]>) -> Result<Option<crate::Value>> {
        self.get(key)?.map(|b| crate::Value::decode(&b)).transpose()
    }

    /// Reads a typed value as `T`; a value stored as another type is an error, never a
    /// conversion.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` on a type mismatch; otherwise as [`Db::get_value`].
    pub fn get_as<T: TryFrom<crate::Value, Error = Error>>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        self.get_value(key)?.map(T::try_from).transpose()
    }

    /// Stores any `Serialize` value (as JSON behind a type tag).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when serialization fails; otherwise as [`Db::put`].
    #[cfg(feature = "serde")]
    pub fn put_serde<T: serde::Serialize + ?Sized>(
        &self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<()> {
        self.put(key, crate::value::encode_serde(value)?)
    }

    /// Reads a value stored by [`Db::put_serde`].
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when the bytes are not a serde value of type `T`; otherwise as
    /// [`Db::get`].
    #[cfg(feature = "serde")]
    pub fn get_serde<T: serde::de::DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>> {
        self.get(key)?
            .map(|b| crate::value::decode_serde(&b))
            .transpose()
    }

    /// Deletes `key` (a no-op when absent).
    ///
    /// # Errors
    ///
    /// As [`Db::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.delete_with(key, WriteOptions::default())
    }

    /// [`Db::delete`] with write options.
    ///
    /// # Errors
    ///
    /// As [`Db::put`].
    pub fn delete_with(&self, key: impl AsRef<[u8]>, opts: WriteOptions) -> Result<()> {
        let key = key.as_ref();
        // Exact size: kind byte, a varint of at most 5 bytes, key.
        let mut b = WriteBatch::with_capacity(6 + key.len());
        b.delete(key);
        self.write_with(b, opts)
    }

    /// Applies a batch atomically: all of it or none, also across a crash.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when any entry is bad (nothing is applied); otherwise as
    /// [`Db::put`].
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.write_with(batch, WriteOptions::default())
    }

    /// [`Db::write`] with write options; `sync: true` makes it survive power loss.
    ///
    /// # Errors
    ///
    /// As [`Db::write`].
    pub fn write_with(&self, batch: WriteBatch, opts: WriteOptions) -> Result<()> {
        self.engine().write(batch, opts.sync)
    }

    /// The value of `key`, or `None`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a key outside 1..=65,535 bytes; `Corruption` naming the file
    /// and offset; `Io`; `Closed`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.engine().get_latest(key.as_ref())
    }

    /// Entries with keys in `range`, in byte order; double-ended.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let e = &self.inner.engine;
        // The sequence number first: the pinned state is then at least as new, so it holds
        // every value-log file a visible entry can point into.
        let seq = e.visible();
        e.iter(
            seq,
            to_owned_bound(range.start_bound()),
            to_owned_bound(range.end_bound()),
        )
    }

    /// Entries whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let p = prefix.as_ref();
        let e = &self.inner.engine;
        let seq = e.visible();
        e.iter(seq, Bound::Included(p.to_vec()), prefix_end(p))
    }

    /// Every entry.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }

    /// A consistent view as of now; reads through it never see later writes.
    pub fn snapshot(&self) -> Snapshot {
        let e = self.inner.engine.clone();
        let seq = e.acquire_snapshot();
        Snapshot {
            inner: Arc::new(SnapshotInner { engine: e, seq }),
        }
    }

    /// Writes every memtable to level-0 tables and waits for it.
    ///
    /// # Errors
    ///
    /// `WritesStopped` when a flush failed; `Closed`.
    pub fn flush(&self) -> Result<()> {
        self.engine().flush()
    }

    /// Rewrites the live values of every value-log file whose discarded share is at least
    /// `Options::vlog_gc_discard_ratio`, then deletes the collected files that no snapshot,
    /// transaction or iterator can still read (others are deleted later, when the last
    /// such reader is gone). A background thread does the same on its own.
    ///
    /// A value written while GC runs always wins over GC's copy of the old one.
    ///
    /// # Errors
    ///
    /// `Corruption` naming the value-log file and offset of a damaged record (nothing of
    /// that file is deleted); I/O errors (a failed write stops writes until reopen);
    /// `WritesStopped`; `Closed`.
    pub fn vlog_gc(&self) -> Result<VlogGcReport> {
        self.engine().vlog_gc()
    }

    /// The value-log files: size, discarded bytes and ratio, active or collected.
    pub fn vlog_files(&self) -> Vec<VlogFileInfo> {
        self.engine().vlog_files()
    }

    /// Flushes the memtables, then compacts every level down to the deepest one holding
    /// data, dropping overwritten versions and (where no snapshot needs them) deletes.
    /// Automatic compactions pause meanwhile.
    ///
    /// # Errors
    ///
    /// I/O or corruption while compacting (writes then stop until reopen); `Closed`.
    pub fn compact(&self) -> Result<()> {
        self.engine()
            .compact_range(Bound::Unbounded, Bound::Unbounded)
    }

    /// Flushes the memtables, then waits until background compaction has caught up (level 0
    /// below its trigger, no compaction debt), as db_bench's `waitforcompaction`: so that
    /// reads measured next do not share the CPU with the load's compactions.
    ///
    /// # Errors
    ///
    /// As [`Db::flush`]; `WritesStopped` if a background flush or compaction failed while
    /// waiting; `Closed`.
    pub fn wait_for_compaction(&self) -> Result<()> {
        self.engine().wait_for_compaction()
    }

    /// As [`Db::compact`], for the tables overlapping `range` (all of level 0 takes part,
    /// since its tables overlap one another).
    ///
    /// # Errors
    ///
    /// As [`Db::compact`].
    pub fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        self.engine().compact_range(
            to_owned_bound(range.start_bound()),
            to_owned_bound(range.end_bound()),
        )
    }

    /// Begins an optimistic, serializable transaction (conflict detection per
    /// `Options::txn_detect_conflicts`).
    pub fn transaction(&self) -> Transaction {
        self.transaction_with(TxnOptions {
            detect_conflicts: self.engine().opts.txn_detect_conflicts,
            sync: false,
        })
    }

    /// Begins a transaction with explicit options.
    pub fn transaction_with(&self, opts: TxnOptions) -> Transaction {
        Transaction::begin(self.inner.engine.clone(), opts, false)
    }

    /// Begins a read-only transaction: a consistent view that never conflicts; writes
    /// through it are refused.
    pub fn read_transaction(&self) -> Transaction {
        Transaction::begin(
            self.inner.engine.clone(),
            TxnOptions {
                detect_conflicts: false,
                sync: false,
            },
            true,
        )
    }

    /// Runs `f` in a transaction and commits it, retrying the whole closure on a conflict
    /// (with a randomized backoff doubling from 50 us to at most 10 ms) up to 10,000 times.
    /// Returns what `f` returned.
    ///
    /// # Errors
    ///
    /// `f`'s own error (the transaction is rolled back, not retried); the last conflict
    /// after 10,000 attempts; otherwise as [`Transaction::commit`].
    pub fn update<T>(&self, mut f: impl FnMut(&mut Transaction) -> Result<T>) -> Result<T> {
        const ATTEMPTS_MAX: u32 = 10_000;
        let mut backoff = std::time::Duration::from_micros(50);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tx = self.transaction();
            let out = f(&mut tx)?;
            match tx.commit() {
                Ok(()) => return Ok(out),
                Err(e) if e.is_conflict() && attempt < ATTEMPTS_MAX => {
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos()) as u64;
                    let us = backoff.as_micros() as u64;
                    std::thread::sleep(std::time::Duration::from_micros(
                        us / 2 + jitter % us.max(1),
                    ));
                    backoff = (backoff * 2).min(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads every live file and checks every checksum (CURRENT, the manifest, the WAL
    /// segments, every table block and each table's whole-file CRC), checks that every level
    /// past 0 is sorted and disjoint by key, and reports each damaged file and offset.
    /// Damage is in the report, not an `Err`.
    ///
    /// # Errors
    ///
    /// `Io` when the directory cannot be listed; `Closed`.
    pub fn verify(&self) -> Result<crate::inspect::VerifyReport> {
        self.engine().verify()
    }

    /// Makes a consistent, openable copy of the database in `dir` (which must not exist)
    /// while writes go on: hard links for tables, copies for the manifest and WAL. The copy
    /// holds every write acknowledged before the call (and a prefix of those during it).
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when `dir` exists; `Io`; `Closed`.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.engine().checkpoint(dir.as_ref())
    }

    /// Makes every acknowledged write durable (survives power loss).
    ///
    /// # Errors
    ///
    /// `Io` when the fsync fails (writes then stop until reopen); `Closed`.
    pub fn sync(&self) -> Result<()> {
        self.engine().sync()
    }

    /// Figures about the engine.
    pub fn stats(&self) -> Stats {
        self.engine().stats()
    }

    /// Shuts the engine down for every handle, makes the log durable and releases the
    /// directory lock.
    ///
    /// # Errors
    ///
    /// `Io` when the final fsync fails.
    pub fn close(self) -> Result<()> {
        self.inner.shutdown()
    }
}

struct SnapshotInner {
    engine: Arc<Engine>,
    seq: u64,
}

impl Drop for SnapshotInner {
    fn drop(&mut self) {
        self.engine.release_snapshot(self.seq);
    }
}

/// A consistent read-only view at one moment. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<SnapshotInner>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("seq", &self.inner.seq)
            .finish()
    }
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.inner.seq
    }

    /// The value of `key` as of the snapshot.
    ///
    /// # Errors
    ///
    /// As [`Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.engine.get(key.as_ref(), self.inner.seq)
    }

    /// Entries in `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        self.inner.engine.iter(
            self.inner.seq,
            to_owned_bound(range.start_bound()),
            to_owned_bound(range.end_bound()),
        )
    }

    /// Entries starting with `prefix` as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let p = prefix.as_ref();
        self.inner
            .engine
            .iter(self.inner.seq, Bound::Included(p.to_vec()), prefix_end(p))
    }

    /// Every entry as of the snapshot.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_cases() {
        assert_eq!(prefix_end(b"ab"), Bound::Excluded(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Bound::Excluded(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), Bound::Unbounded);
    }
}
