//! One adapter per engine, each configured as `Settings` says and described by `describe()`
//! so that the report prints what every engine ran with.

use std::path::Path;

pub type R<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Counts the entries of an iterator of results, stopping at the first error.
#[cfg(any(feature = "fjall", feature = "sled", feature = "redb"))]
fn count<T, E: std::fmt::Display>(it: impl Iterator<Item = Result<T, E>>) -> R<usize> {
    let mut c = 0;
    for r in it {
        r.map_err(err)?;
        c += 1;
    }
    Ok(c)
}

/// What every engine is asked to match.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cache_bytes: u64,
    pub sync: bool,
    /// Values at least this long go to the engine's blob store where it has one.
    pub separate_from: usize,
    /// Blob-store values are stored uncompressed (else LZ4, as tables).
    pub raw_blobs: bool,
    pub value_size: usize,
    /// The cache is a key-value (row) cache where the engine has one.
    pub row_cache: bool,
    /// Tables are read through mmap where the engine offers it.
    pub mmap: bool,
    /// Open the engine's transactional flavour where that is a different type (RocksDB's
    /// `OptimisticTransactionDB`, fjall's `OptimisticTxDatabase`), for `txnrmw`. Plain
    /// reads and writes still go straight to the underlying tree.
    pub transactions: bool,
}

/// How blob-store values are stored, for the engines' descriptions.
fn blob_codec(s: &Settings) -> &'static str {
    if s.raw_blobs {
        "values uncompressed"
    } else {
        "values lz4"
    }
}

/// The value `rmw` writes: `old` (or `fresh` when there is none of `fresh`'s length) with
/// the little-endian counter in its first 8 bytes incremented.
fn bumped(old: Option<&[u8]>, fresh: &[u8]) -> Vec<u8> {
    let mut v = match old {
        Some(o) if o.len() == fresh.len() => o.to_vec(),
        _ => fresh.to_vec(),
    };
    let count = u64::from_le_bytes(v[..8].try_into().expect("values of 8 bytes or more"));
    v[..8].copy_from_slice(&(count + 1).to_le_bytes());
    v
}

/// The operations the workloads need.
pub trait Engine: Send + Sync {
    /// The engine's settings, in words, for the report.
    fn describe(&self) -> String;
    fn put(&self, k: &[u8], v: &[u8]) -> R<()>;
    /// Bytes of the value, when found.
    fn get(&self, k: &[u8]) -> R<Option<usize>>;
    fn delete(&self, k: &[u8]) -> R<()>;
    /// Seeks to `k` and reads up to `n` entries; returns how many were read.
    fn seek_next(&self, k: &[u8], n: usize) -> R<usize>;
    /// Reads every entry in order; returns how many.
    fn scan_all(&self) -> R<usize>;
    /// One read-modify-write transaction on `k` with the engine's serializable (or
    /// conflict-checked) transactions: reads the value, increments the counter in its first
    /// 8 bytes (`bumped`), writes it back and commits, retrying at once on a conflict.
    /// Returns how many attempts conflicted. `fresh` is at least 8 bytes long.
    fn rmw(&self, k: &[u8], fresh: &[u8]) -> R<u64>;
    /// Flushes and waits until background compaction is idle. Engines that offer no way to
    /// wait for it (fjall, sled, redb) return at once; the report shows each wait's length.
    fn wait_for_compaction(&self) -> R<()> {
        Ok(())
    }
    /// Closes, making everything durable.
    fn close(self: Box<Self>) -> R<()>;
}

pub fn names() -> Vec<&'static str> {
    let mut v = vec!["stratakv"];
    if cfg!(feature = "rocksdb") {
        v.push("rocksdb");
    }
    if cfg!(feature = "fjall") {
        v.push("fjall");
    }
    if cfg!(feature = "sled") {
        v.push("sled");
    }
    if cfg!(feature = "redb") {
        v.push("redb");
    }
    v
}

pub fn open(name: &str, dir: &Path, s: &Settings) -> R<Box<dyn Engine>> {
    match name {
        "stratakv" => strata::open(dir, s),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => rocks::open(dir, s),
        #[cfg(feature = "fjall")]
        "fjall" => fj::open(dir, s),
        #[cfg(feature = "sled")]
        "sled" => sl::open(dir, s),
        #[cfg(feature = "redb")]
        "redb" => rd::open(dir, s),
        other => Err(format!(
            "engine {other} is not built in (features: rocksdb, fjall, sled, redb)"
        )),
    }
}

mod strata {
    use super::*;
    use stratakv::{Compression, Db, Options, TxnOptions, WriteOptions};

    pub struct E {
        db: Db,
        wo: WriteOptions,
        desc: String,
    }

    pub fn open(dir: &Path, s: &Settings) -> R<Box<dyn Engine>> {
        let cache = s.cache_bytes as usize;
        let (block_cache_size, hot_key_cache_size) =
            if s.row_cache { (0, cache) } else { (cache, 0) };
        let opts = Options {
            block_cache_size,
            hot_key_cache_size,
            mmap_reads: s.mmap,
            value_threshold: s.separate_from,
            vlog_compression: s.raw_blobs.then_some(Compression::None),
            ..Options::default()
        };
        let desc = format!(
            "lz4, {} {} MiB, {}, bloom {} bits/key, WAL on, {}, value log {}, memtable {} MiB{}",
            if s.row_cache {
                "hot-key cache (block cache off)"
            } else {
                "block cache"
            },
            s.cache_bytes >> 20,
            if s.mmap { "mmap reads" } else { "pread" },
            opts.bloom_bits_per_key,
            if s.sync {
                "fsync per write"
            } else {
                "no fsync per write"
            },
            if s.value_size >= s.separate_from {
                format!("on from {} B, {}", s.separate_from, blob_codec(s))
            } else {
                "off (values are shorter than its threshold)".into()
            },
            opts.memtable_size >> 20,
            if s.transactions {
                ", transactions with conflict detection (serializable)"
            } else {
                ""
            }
        );
        let db = Db::open_with(dir, opts).map_err(err)?;
        Ok(Box::new(E {
            db,
            wo: WriteOptions { sync: s.sync },
            desc,
        }))
    }

    /// Counts up to `n` entries through the lending step, which borrows each entry as
    /// the RocksDB adapter's raw iterator and redb's guards do, stopping at the first
    /// error.
    fn count_lent(mut it: stratakv::Iter, n: usize) -> R<usize> {
        let mut c = 0;
        while c < n {
            match it.next_ref() {
                Some(r) => {
                    r.map_err(err)?;
                    c += 1;
                }
                None => break,
            }
        }
        Ok(c)
    }

    impl Engine for E {
        fn describe(&self) -> String {
            self.desc.clone()
        }
        fn put(&self, k: &[u8], v: &[u8]) -> R<()> {
            self.db.put_with(k, v, self.wo).map_err(err)
        }
        fn get(&self, k: &[u8]) -> R<Option<usize>> {
            Ok(self.db.get(k).map_err(err)?.map(|v| v.len()))
        }
        fn delete(&self, k: &[u8]) -> R<()> {
            self.db.delete_with(k, self.wo).map_err(err)
        }
        fn seek_next(&self, k: &[u8], n: usize) -> R<usize> {
            count_lent(self.db.range(k.to_vec()..), n)
        }
        fn scan_all(&self) -> R<usize> {
            count_lent(self.db.iter(), usize::MAX)
        }
        fn rmw(&self, k: &[u8], fresh: &[u8]) -> R<u64> {
            let opts = TxnOptions {
                detect_conflicts: true,
                sync: self.wo.sync,
            };
            let mut conflicts = 0;
            loop {
                let mut tx = self.db.transaction_with(opts);
                let v = bumped(tx.get(k).map_err(err)?.as_deref(), fresh);
                tx.put(k, v).map_err(err)?;
                match tx.commit() {
                    Ok(()) => return Ok(conflicts),
                    Err(e) if e.is_conflict() => conflicts += 1,
                    Err(e) => return Err(err(e)),
                }
            }
        }
        fn wait_for_compaction(&self) -> R<()> {
            self.db.wait_for_compaction().map_err(err)
        }
        fn close(self: Box<Self>) -> R<()> {
            self.db.close().map_err(err)
        }
    }
}

#[cfg(feature = "rocksdb")]
mod rocks {
    use super::*;
    use rocksdb::{
        BlockBasedOptions, Cache, DBCompressionType, ErrorKind, OptimisticTransactionDB,
        OptimisticTransactionOptions, Options, WaitForCompactOptions, WriteOptions, DB,
    };

    /// The plain DB, or the optimistic transaction DB over it (whose plain reads and writes
    /// go to the same base DB).
    enum Handle {
        Plain(DB),
        Txn(OptimisticTransactionDB),
    }

    /// Runs `$body` with `$d` bound to whichever DB the handle holds.
    macro_rules! on_db {
        ($h:expr, $d:ident => $body:expr) => {
            match $h {
                Handle::Plain($d) => $body,
                Handle::Txn($d) => $body,
            }
        };
    }

    pub struct E {
        db: Handle,
        sync: bool,
        desc: String,
    }

    pub fn open(dir: &Path, s: &Settings) -> R<Box<dyn Engine>> {
        let mut o = Options::default();
        o.create_if_missing(true);
        o.set_compression_type(DBCompressionType::Lz4);
        o.increase_parallelism(2);
        let mut t = BlockBasedOptions::default();
        t.set_bloom_filter(10.0, false);
        if s.row_cache {
            t.set_block_cache(&Cache::new_lru_cache(1 << 20));
            o.set_row_cache(&Cache::new_lru_cache(s.cache_bytes as usize));
        } else {
            t.set_block_cache(&Cache::new_lru_cache(s.cache_bytes as usize));
        }
        o.set_block_based_table_factory(&t);
        o.set_allow_mmap_reads(s.mmap);
        let blobs = s.value_size >= s.separate_from;
        if blobs {
            o.set_enable_blob_files(true);
            o.set_min_blob_size(s.separate_from as u64);
            o.set_enable_blob_gc(true);
            o.set_blob_compression_type(if s.raw_blobs {
                DBCompressionType::None
            } else {
                DBCompressionType::Lz4
            });
        }
        let db = if s.transactions {
            Handle::Txn(OptimisticTransactionDB::open(&o, dir).map_err(err)?)
        } else {
            Handle::Plain(DB::open(&o, dir).map_err(err)?)
        };
        Ok(Box::new(E {
            db,
            sync: s.sync,
            desc: format!(
                "lz4, {} {} MiB, {}, bloom 10 bits/key, WAL on, {}, blob files {}, memtable 64 MiB (default), 2 background threads{}",
                if s.row_cache { "row cache (block cache 1 MiB)" } else { "LRU block cache" },
                s.cache_bytes >> 20,
                if s.mmap { "mmap reads" } else { "pread" },
                if s.sync { "sync=true per write" } else { "sync=false" },
                if blobs { format!("on from {} B, {}", s.separate_from, blob_codec(s)) } else { "off".into() },
                if s.transactions {
                    ", OptimisticTransactionDB (transactions with a snapshot at begin, GetForUpdate)"
                } else {
                    ""
                }
            ),
        }))
    }

    impl E {
        fn wo(&self) -> WriteOptions {
            let mut w = WriteOptions::default();
            w.set_sync(self.sync);
            w
        }
    }

    impl Engine for E {
        fn describe(&self) -> String {
            self.desc.clone()
        }
        fn put(&self, k: &[u8], v: &[u8]) -> R<()> {
            on_db!(&self.db, d => d.put_opt(k, v, &self.wo()).map_err(err))
        }
        fn get(&self, k: &[u8]) -> R<Option<usize>> {
            on_db!(&self.db, d => Ok(d.get_pinned(k).map_err(err)?.map(|v| v.len())))
        }
        fn delete(&self, k: &[u8]) -> R<()> {
            on_db!(&self.db, d => d.delete_opt(k, &self.wo()).map_err(err))
        }
        fn seek_next(&self, k: &[u8], n: usize) -> R<usize> {
            on_db!(&self.db, d => {
                let mut it = d.raw_iterator();
                it.seek(k);
                let mut c = 0;
                while it.valid() && c < n {
                    c += 1;
                    it.next();
                }
                it.status().map_err(err)?;
                Ok(c)
            })
        }
        fn scan_all(&self) -> R<usize> {
            on_db!(&self.db, d => {
                let mut it = d.raw_iterator();
                it.seek_to_first();
                let mut c = 0;
                while it.valid() {
                    c += 1;
                    it.next();
                }
                it.status().map_err(err)?;
                Ok(c)
            })
        }
        fn rmw(&self, k: &[u8], fresh: &[u8]) -> R<u64> {
            let Handle::Txn(db) = &self.db else {
                return Err("rocksdb was opened without transactions".into());
            };
            let mut to = OptimisticTransactionOptions::default();
            to.set_snapshot(true);
            let mut conflicts = 0;
            loop {
                let tx = db.transaction_opt(&self.wo(), &to);
                let old = tx.get_pinned_for_update(k, true).map_err(err)?;
                let v = bumped(old.as_deref(), fresh);
                drop(old);
                tx.put(k, v).map_err(err)?;
                match tx.commit() {
                    Ok(()) => return Ok(conflicts),
                    Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::TryAgain) => {
                        conflicts += 1
                    }
                    Err(e) => return Err(err(e)),
                }
            }
        }
        fn wait_for_compaction(&self) -> R<()> {
            let mut w = WaitForCompactOptions::default();
            w.set_flush(true);
            on_db!(&self.db, d => d.wait_for_compact(&w).map_err(err))
        }
        fn close(self: Box<Self>) -> R<()> {
            on_db!(&self.db, d => d.flush_wal(true).map_err(err))
        }
    }
}

#[cfg(feature = "fjall")]
mod fj {
    use super::*;
    use fjall::{
        CompressionType, Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions,
        OptimisticTxDatabase, PersistMode, Readable,
    };

    pub struct E {
        db: Database,
        ks: Keyspace,
        /// Set when opened for transactions: `db` and `ks` are then its inner database and
        /// keyspace (fjall's own escape hatch), so plain writes stay plain.
        tx_db: Option<OptimisticTxDatabase>,
        sync: bool,
        desc: String,
    }

    pub fn open(dir: &Path, s: &Settings) -> R<Box<dyn Engine>> {
        let blobs = s.value_size >= s.separate_from;
        let ks_opts = || {
            let o = KeyspaceCreateOptions::default();
            if blobs {
                let codec = if s.raw_blobs {
                    CompressionType::None
                } else {
                    CompressionType::Lz4
                };
                o.with_kv_separation(Some(KvSeparationOptions::default().compression(codec)))
            } else {
                o
            }
        };
        let (db, ks, tx_db) = if s.transactions {
            let tx_db = OptimisticTxDatabase::builder(dir)
                .cache_size(s.cache_bytes)
                .open()
                .map_err(err)?;
            let ks = tx_db.keyspace("bench", ks_opts).map_err(err)?;
            (tx_db.inner().clone(), ks.inner().clone(), Some(tx_db))
        } else {
            let db = Database::builder(dir)
                .cache_size(s.cache_bytes)
                .open()
                .map_err(err)?;
            let ks = db.keyspace("bench", ks_opts).map_err(err)?;
            (db, ks, None)
        };
        Ok(Box::new(E {
            db,
            ks,
            sync: s.sync,
            desc: format!(
                "defaults (lz4, bloom filters), cache {} MiB, journal on, {}, kv separation {}{}",
                s.cache_bytes >> 20,
                if s.sync {
                    "persist(SyncAll) after each write"
                } else {
                    "no persist per write"
                },
                if blobs {
                    format!("on (default options but {})", blob_codec(s))
                } else {
                    "off".into()
                },
                if tx_db.is_some() {
                    ", OptimisticTxDatabase (plain writes through its inner keyspace)"
                } else {
                    ""
                }
            ),
            tx_db,
        }))
    }

    impl E {
        fn after_write(&self) -> R<()> {
            if self.sync {
                self.db.persist(PersistMode::SyncAll).map_err(err)?;
            }
            Ok(())
        }
    }

    impl Engine for E {
        fn describe(&self) -> String {
            self.desc.clone()
        }
        fn put(&self, k: &[u8], v: &[u8]) -> R<()> {
            self.ks.insert(k, v).map_err(err)?;
            self.after_write()
        }
        fn get(&self, k: &[u8]) -> R<Option<usize>> {
            Ok(self.ks.get(k).map_err(err)?.map(|v| v.len()))
        }
        fn delete(&self, k: &[u8]) -> R<()> {
            self.ks.remove(k).map_err(err)?;
            self.after_write()
        }
        fn seek_next(&self, k: &[u8], n: usize) -> R<usize> {
            count(self.ks.range(k..).take(n).map(|g| g.into_inner()))
        }
        fn scan_all(&self) -> R<usize> {
            count(self.ks.iter().map(|g| g.into_inner()))
        }
        fn rmw(&self, k: &[u8], fresh: &[u8]) -> R<u64> {
            let Some(tx_db) = &self.tx_db else {
                return Err("fjall was opened without transactions".into());
            };
            let mut conflicts = 0;
            loop {
                let mut tx = tx_db.write_tx().map_err(err)?;
                let v = bumped(tx.get(&self.ks, k).map_err(err)?.as_deref(), fresh);
                tx.insert(&self.ks, k, v);
                match tx.commit().map_err(err)? {
                    Ok(()) => {
                        self.after_write()?;
                        return Ok(conflicts);
                    }
                    Err(_) => conflicts += 1,
                }
            }
        }
        fn close(self: Box<Self>) -> R<()> {
            self.db.persist(PersistMode::SyncAll).map_err(err)
        }
    }
}

#[cfg(feature = "sled")]
mod sl {
    use super::*;

    pub struct E {
        db: sled::Db,
        sync: bool,
        desc: String,
    }

    pub fn open(dir: &Path, s: &Settings) -> R<Box<dyn Engine>> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(s.cache_bytes)
            .open()
            .map_err(err)?;
        Ok(Box::new(E {
            db,
            sync: s.sync,
            desc: format!(
                "cache {} MiB, default flush every 500 ms, {}, no compression (sled's is off by default), no bloom filters (a B-tree), no kv separation",
                s.cache_bytes >> 20,
                if s.sync { "flush() after each write" } else { "no flush per write" }
            ),
        }))
    }

    impl E {
        fn after_write(&self) -> R<()> {
            if self.sync {
                self.db.flush().map_err(err)?;
            }
            Ok(())
        }
    }

    impl Engine for E {
        fn describe(&self) -> String {
            self.desc.clone()
        }
        fn put(&self, k: &[u8], v: &[u8]) -> R<()> {
            self.db.insert(k, v).map_err(err)?;
            self.after_write()
        }
        fn get(&self, k: &[u8]) -> R<Option<usize>> {
            Ok(self.db.get(k).map_err(err)?.map(|v| v.len()))
        }
        fn delete(&self, k: &[u8]) -> R<()> {
            self.db.remove(k).map_err(err)?;
            self.after_write()
        }
        fn seek_next(&self, k: &[u8], n: usize) -> R<usize> {
            count(self.db.range(k..).take(n))
        }
        fn scan_all(&self) -> R<usize> {
            count(self.db.iter())
        }
        fn rmw(&self, k: &[u8], fresh: &[u8]) -> R<u64> {
            // sled retries a conflicting transaction itself and does not say how often.
            self.db
                .transaction(|tx| {
                    let v = bumped(tx.get(k)?.as_deref(), fresh);
                    tx.insert(k, v)?;
                    Ok::<_, sled::transaction::ConflictableTransactionError>(())
                })
                .map_err(|e: sled::transaction::TransactionError| err(e))?;
            self.after_write()?;
            Ok(0)
        }
        fn close(self: Box<Self>) -> R<()> {
            self.db.flush().map(|_| ()).map_err(err)
        }
    }
}

#[cfg(feature = "redb")]
mod rd {
    use super::*;
    use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

    pub struct E {
        db: Database,
        sync: bool,
        desc: String,
    }

    pub fn open(dir: &Path, s: &Settings) -> R<Box<dyn Engine>> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let db = Database::builder()
            .set_cache_size(s.cache_bytes as usize)
            .create(dir.join("redb"))
            .map_err(err)?;
        let w = db.begin_write().map_err(err)?;
        w.open_table(T).map_err(err)?;
        w.commit().map_err(err)?;
        Ok(Box::new(E {
            db,
            sync: s.sync,
            desc: format!(
                "cache {} MiB, one write transaction per operation with Durability::{}, a B-tree (no compression, no bloom filters, no kv separation)",
                s.cache_bytes >> 20,
                if s.sync { "Immediate" } else { "None" }
            ),
        }))
    }

    impl E {
        fn write(&self, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> R<()>) -> R<()> {
            let mut w = self.db.begin_write().map_err(err)?;
            w.set_durability(if self.sync {
                Durability::Immediate
            } else {
                Durability::None
            })
            .map_err(err)?;
            {
                let mut t = w.open_table(T).map_err(err)?;
                f(&mut t)?;
            }
            w.commit().map_err(err)
        }
    }

    impl Engine for E {
        fn describe(&self) -> String {
            self.desc.clone()
        }
        fn put(&self, k: &[u8], v: &[u8]) -> R<()> {
            self.write(|t| t.insert(k, v).map(|_| ()).map_err(err))
        }
        fn get(&self, k: &[u8]) -> R<Option<usize>> {
            let r = self.db.begin_read().map_err(err)?;
            let t = r.open_table(T).map_err(err)?;
            Ok(t.get(k).map_err(err)?.map(|v| v.value().len()))
        }
        fn delete(&self, k: &[u8]) -> R<()> {
            self.write(|t| t.remove(k).map(|_| ()).map_err(err))
        }
        fn seek_next(&self, k: &[u8], n: usize) -> R<usize> {
            let r = self.db.begin_read().map_err(err)?;
            let t = r.open_table(T).map_err(err)?;
            count(t.range(k..).map_err(err)?.take(n))
        }
        fn scan_all(&self) -> R<usize> {
            let r = self.db.begin_read().map_err(err)?;
            let t = r.open_table(T).map_err(err)?;
            count(t.iter().map_err(err)?)
        }
        fn rmw(&self, k: &[u8], fresh: &[u8]) -> R<u64> {
            // One writer at a time: a write transaction never conflicts.
            self.write(|t| {
                let v = bumped(t.get(k).map_err(err)?.as_ref().map(|g| g.value()), fresh);
                t.insert(k, v.as_slice()).map(|_| ()).map_err(err)
            })?;
            Ok(0)
        }
        fn close(self: Box<Self>) -> R<()> {
            // A last durable commit makes the Durability::None ones persistent.
            let mut w = self.db.begin_write().map_err(err)?;
            w.set_durability(Durability::Immediate).map_err(err)?;
            w.commit().map_err(err)
        }
    }
}
