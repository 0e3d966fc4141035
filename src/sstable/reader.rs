//! Opens a table and serves point lookups and iterators.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwapOption;

use bytes::Bytes;

use super::block::{Block, BlockIter};
use super::filter::Filter;
use super::format::{read_block, BlockHandle, Footer, FOOTER_BYTES};
use super::index::Index;
use super::props::TableProperties;
use super::readahead::{Batch, Readahead, READAHEAD_AFTER_LOADS};
use crate::cache::tables::{Evictable, OpenTables};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::fs::{FileSystem, RandomAccessFile};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, parse_internal_key, user_key, Kind};

/// How tables are opened and read.
#[derive(Debug, Clone, Default)]
pub struct TableOpenOptions {
    /// Read through `mmap` instead of `pread`.
    pub mmap: bool,
    /// Verify data block checksums on every read (index, filter and properties always are).
    pub verify: bool,
    /// The shared block cache, if any.
    pub cache: Option<Arc<BlockCache>>,
    /// Value-log files cache the values read in `cache` too (`Options::cache_values`).
    pub cache_values: bool,
    /// The bound on open tables, if any; without one a table stays open while it lives.
    pub limit: Option<TableLimit>,
    /// The worker that reads ahead for long forward scans, if any.
    pub readahead: Option<Arc<Readahead>>,
    /// The most blocks a scan has read ahead of it (see `Options::readahead_blocks`).
    pub readahead_blocks: usize,
}

/// Bounds how many tables hold their readers (see [`crate::cache::tables`]).
#[derive(Debug, Clone)]
pub struct TableLimit {
    /// Reopens evicted tables.
    pub fs: Arc<dyn FileSystem>,
    /// The clock over open tables.
    pub open: Arc<OpenTables<Table>>,
}

/// What an open table holds: the file, its parsed index and its filter.
#[derive(Debug)]
struct Readers {
    file: Arc<dyn RandomAccessFile>,
    index: Index,
    filter: Option<Filter>,
}

/// A table: always its identity, size and properties; its readers while the table cache
/// keeps it open.
#[derive(Debug)]
pub struct Table {
    path: Arc<Path>,
    id: u64,
    cache: Option<Arc<BlockCache>>,
    size: u64,
    props: TableProperties,
    filter_size: usize,
    mmap: bool,
    verify: bool,
    readers: ArcSwapOption<Readers>,
    referenced: AtomicBool,
    /// Serializes reopening.
    reopen: Mutex<()>,
    limit: Option<TableLimit>,
    /// The readahead worker, when scans read ahead, and how many blocks at most.
    readahead: Option<(Arc<Readahead>, usize)>,
    me: Weak<Table>,
    /// Set when the table left the live version: the file is deleted when the last reader
    /// drops the table.
    obsolete: std::sync::OnceLock<Arc<dyn FileSystem>>,
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Some(fs) = self.obsolete.get() {
            // A failure leaves an orphan, which the next open deletes.
            let _ = fs.remove_file(&self.path);
            if let Some(c) = &self.cache {
                // By the index's offsets while the readers are open (nearly always); a
                // scan of the whole cache otherwise.
                match &*self.readers.load() {
                    Some(r) => {
                        for h in r.index.handles() {
                            c.forget_block(self.id, h.offset);
                        }
                    }
                    None => c.forget_table(self.id),
                }
            }
        }
    }
}

impl Evictable for Table {
    fn take_referenced(&self) -> bool {
        self.referenced.swap(false, Ordering::Relaxed)
    }
    fn is_open(&self) -> bool {
        self.readers.load().is_some()
    }
    fn close(&self) {
        self.readers.store(None);
    }
}

/// Counters a lookup reports back for stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct LookupCounters {
    /// Filters consulted.
    pub bloom_checks: u64,
    /// Filters that ruled a table out.
    pub bloom_negatives: u64,
    /// A table (level, file number) whose read budget this lookup exhausted: it asks to
    /// be compacted.
    pub wants_compaction: Option<(usize, u64)>,
}

/// The outcome of a point lookup in one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The newest visible entry is a put of this value.
    Value(Bytes),
    /// The newest visible entry is a value in the value log, at this encoded handle.
    Pointer(Bytes),
    /// The newest visible entry is a delete.
    Deleted,
    /// No visible entry for the key here.
    Absent,
}

impl Readers {
    /// Opens the file and reads footer, index and filter. Returns the footer and the file
    /// size too: the first open reads the properties through them (a reopen after
    /// eviction already has them).
    fn open(
        fs: &dyn FileSystem,
        path: &Path,
        expected_size: Option<u64>,
        mmap: bool,
    ) -> Result<(Readers, Footer, u64)> {
        let file = fs.open(path, mmap).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::corruption(path, 0, "table file is missing")
            } else {
                Error::io("opening", path, e)
            }
        })?;
        let size = file.len();
        if let Some(exp) = expected_size {
            if exp != size {
                return Err(Error::corruption(
                    path,
                    size,
                    format!("table is {size} bytes, the manifest says {exp}"),
                ));
            }
        }
        if size < FOOTER_BYTES as u64 {
            return Err(Error::corruption(path, 0, "table shorter than a footer"));
        }
        let fbytes = file
            .read_at(size - FOOTER_BYTES as u64, FOOTER_BYTES)
            .map_err(|e| Error::io("reading", path, e))?;
        let footer = Footer::decode(path, &fbytes, size)?;
        let index_bytes = read_block(&*file, path, footer.index, true)?;
        let index_block = Block::new(index_bytes, path, footer.index.offset)?;
        let index = Index::parse(&index_block, path, footer.index.offset)?;
        let filter =
            if footer.filter.size > 0 {
                let fb = read_block(&*file, path, footer.filter, true)?;
                Some(Filter::new(fb).ok_or_else(|| {
                    Error::corruption(path, footer.filter.offset, "malformed filter")
                })?)
            } else {
                None
            };
        Ok((
            Readers {
                file,
                index,
                filter,
            },
            footer,
            size,
        ))
    }
}

impl Table {
    /// Opens the table at `path` with file number `id`; `expected_size` (from the manifest)
    /// must match. With a [`TableLimit`] the table joins the table cache.
    ///
    /// # Errors
    ///
    /// `Io` when the file cannot be read; `Corruption` naming the file and offset for a bad
    /// size, footer, index, filter or properties block.
    pub fn open(
        fs: &dyn FileSystem,
        path: &Path,
        id: u64,
        expected_size: Option<u64>,
        opts: &TableOpenOptions,
    ) -> Result<Arc<Table>> {
        let (readers, footer, size) = Readers::open(fs, path, expected_size, opts.mmap)?;
        let props_bytes = read_block(&*readers.file, path, footer.properties, true)?;
        let props = TableProperties::decode(&props_bytes).ok_or_else(|| {
            Error::corruption(path, footer.properties.offset, "malformed properties")
        })?;
        let table = Arc::new_cyclic(|me| Table {
            path: Arc::from(path),
            id,
            cache: opts.cache.clone(),
            size,
            props,
            filter_size: readers.filter.as_ref().map_or(0, Filter::size),
            mmap: opts.mmap,
            verify: opts.verify,
            readers: ArcSwapOption::from_pointee(readers),
            referenced: AtomicBool::new(true),
            reopen: Mutex::new(()),
            limit: opts.limit.clone(),
            readahead: opts
                .readahead
                .clone()
                .filter(|_| opts.readahead_blocks > 0)
                .map(|r| (r, opts.readahead_blocks)),
            me: me.clone(),
            obsolete: std::sync::OnceLock::new(),
        });
        if let Some(l) = &table.limit {
            l.open.opened(Arc::downgrade(&table));
        }
        Ok(table)
    }

    /// Runs `f` on the open readers, reopening the table first if the cache closed it.
    fn with_readers<R>(&self, f: impl FnOnce(&Readers) -> Result<R>) -> Result<R> {
        self.touch();
        if let Some(r) = self.readers.load().as_ref() {
            return f(r);
        }
        f(&*self.reopen()?)
    }

    /// Sets the referenced bit for the table cache's CLOCK, writing only when it is clear
    /// (readers on other cores keep the cache line shared).
    fn touch(&self) {
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }

    /// The readers, reopened if needed, for a holder that outlives one call (an iterator).
    fn readers(&self) -> Result<Arc<Readers>> {
        self.touch();
        match self.readers.load_full() {
            Some(r) => Ok(r),
            None => self.reopen(),
        }
    }

    fn reopen(&self) -> Result<Arc<Readers>> {
        let _one = self.reopen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = self.readers.load_full() {
            return Ok(r);
        }
        let limit = self
            .limit
            .as_ref()
            .expect("only tables with a limit are ever closed");
        let (readers, _, _) = Readers::open(&*limit.fs, &self.path, Some(self.size), self.mmap)?;
        let readers = Arc::new(readers);
        self.readers.store(Some(readers.clone()));
        limit.open.opened(self.me.clone());
        Ok(readers)
    }

    /// Marks the table's file for deletion once no reader holds the table. Call only after
    /// a manifest edit that removes the table is durable.
    pub fn mark_obsolete(&self, fs: Arc<dyn FileSystem>) {
        let _ = self.obsolete.set(fs);
    }

    /// The table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Properties recorded at build time.
    pub fn properties(&self) -> &TableProperties {
        &self.props
    }

    /// Bytes of the filter (0 when none).
    pub fn filter_size(&self) -> usize {
        self.filter_size
    }

    /// Reads a data block through the cache; `verify_uncached` reads the file and checks
    /// the checksum whatever the options say, bypassing the cache (for `verify()`).
    fn read_data_block(
        &self,
        file: &dyn RandomAccessFile,
        h: BlockHandle,
        verify_uncached: bool,
    ) -> Result<Block> {
        let load = || {
            let b = read_block(file, &self.path, h, self.verify || verify_uncached)?;
            Block::new(b, &self.path, h.offset)
        };
        match (&self.cache, verify_uncached) {
            (Some(c), false) => c.get_or_load(self.id, h.offset, load),
            _ => load(),
        }
    }

    /// Looks up the newest entry of `lookup`'s user key with a sequence number at most
    /// `lookup`'s (an internal seek key), unless the filter rules `hash` (of the user key)
    /// out; `c` counts the filter's work.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading blocks (or reopening the table).
    pub fn get(&self, lookup: &[u8], hash: u64, c: &mut LookupCounters) -> Result<Lookup> {
        self.with_readers(|r| {
            if let Some(f) = &r.filter {
                c.bloom_checks += 1;
                if !f.may_contain_hash(hash) {
                    c.bloom_negatives += 1;
                    return Ok(Lookup::Absent);
                }
            }
            let i = r.index.seek(lookup);
            if i == r.index.len() {
                return Ok(Lookup::Absent);
            }
            let h = r.index.handle(i);
            let block = self.read_data_block(&*r.file, h, false)?;
            let mut it = block.iter(compare_internal, self.path.clone(), h.offset);
            it.seek(lookup)?;
            if !it.valid() {
                return Ok(Lookup::Absent);
            }
            let (uk, _, kind) = parse_internal_key(it.key()).ok_or_else(|| {
                Error::corruption(&*self.path, h.offset, "malformed internal key")
            })?;
            if uk != user_key(lookup) {
                return Ok(Lookup::Absent);
            }
            Ok(match kind {
                Kind::Put => Lookup::Value(it.value_bytes()),
                Kind::Pointer => Lookup::Pointer(it.value_bytes()),
                Kind::Delete => Lookup::Deleted,
            })
        })
    }

    /// Starts loading the filter line a [`Table::get`] of `hash` would check first, when
    /// the table is open (a hint: a closed table is left alone, and nothing counts as an
    /// access).
    pub fn prefetch_filter(&self, hash: u64) {
        if let Some(f) = self.readers.load().as_ref().and_then(|r| r.filter.as_ref()) {
            f.prefetch_hash(hash);
        }
    }

    /// Bytes of data blocks from the one that holds the first entry at or after `key` (an
    /// internal key) to the end of the data: an estimate, to a block, of the file bytes a
    /// scan from `key` reads. 0 when `key` is past the last entry.
    ///
    /// # Errors
    ///
    /// I/O or corruption reopening the table.
    pub fn data_bytes_from(&self, key: &[u8]) -> Result<u64> {
        self.with_readers(|r| {
            let handles = r.index.handles();
            let (Some(first), Some(last)) = (handles.get(r.index.seek(key)), handles.last()) else {
                return Ok(0);
            };
            Ok((last.offset + last.size).saturating_sub(first.offset))
        })
    }

    /// Data block handles in order, for verification and inspection.
    ///
    /// # Errors
    ///
    /// Corruption in the index.
    pub fn data_block_handles(&self) -> Result<Vec<BlockHandle>> {
        self.with_readers(|r| Ok(r.index.handles().to_vec()))
    }

    /// An iterator over every entry; it keeps the table open.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter {
            pos: None,
            data: None,
            table: self.clone(),
            readers: None,
            verify_uncached: false,
            run: 0,
            ahead: VecDeque::new(),
        }
    }

    /// An iterator that reads every block from the file and checks its checksum, without
    /// touching the block cache: for compaction (whose one-time reads would evict what
    /// readers use) and verification.
    pub fn iter_verified(self: &Arc<Self>) -> TableIter {
        let mut it = self.iter();
        it.verify_uncached = true;
        it
    }
}

/// Iterates a table: the index picks a data block, the block iterator walks it.
#[derive(Debug)]
pub struct TableIter {
    table: Arc<Table>,
    /// Taken on the first positioning call: the iterator keeps the file open.
    readers: Option<Arc<Readers>>,
    /// The current block's position in the index.
    pos: Option<usize>,
    data: Option<BlockIter>,
    verify_uncached: bool,
    /// Blocks loaded in a row going forward, the current one included.
    run: usize,
    /// Batches of blocks asked of the readahead worker, each with the index position of
    /// its first block, ascending and consecutive.
    ahead: VecDeque<(usize, Batch<Result<Block>>)>,
}

impl TableIter {
    /// The readers, opened (or reopened) on first use.
    fn r(&mut self) -> Result<&Arc<Readers>> {
        if self.readers.is_none() {
            self.readers = Some(self.table.readers()?);
        }
        Ok(self.readers.as_ref().expect("just set"))
    }

    /// Index entries; only called once positioned (the readers are held).
    fn index(&self) -> &Index {
        &self.readers.as_ref().expect("positioned").index
    }

    /// Loads the block at `pos` (none: not valid), as a jump: what was read ahead is
    /// dropped and the run starts over.
    fn load_block(&mut self, pos: Option<usize>) -> Result<()> {
        self.ahead.clear();
        self.run = 0;
        self.pos = pos;
        self.data = None;
        if let Some(i) = pos {
            let r = self.r()?.clone();
            let h = r.index.handle(i);
            let block = self
                .table
                .read_data_block(&*r.file, h, self.verify_uncached)?;
            self.enter(&block, h);
            self.run = 1;
        }
        Ok(())
    }

    /// Makes `block` (at `h`) the current one, unpositioned.
    fn enter(&mut self, block: &Block, h: BlockHandle) {
        self.data = Some(block.iter(compare_internal, self.table.path.clone(), h.offset));
    }

    /// Loads the block after the current one (going forward): from what was read ahead
    /// when the worker has it, then reads further ahead.
    fn load_next_block(&mut self) -> Result<()> {
        let next = self.pos.map(|p| p + 1).filter(|&p| p < self.index().len());
        let Some(i) = next else {
            return self.load_block(None);
        };
        if self.table.readahead.is_none() || self.verify_uncached {
            return self.load_block(next);
        }
        let run = self.run + 1;
        self.pos = next;
        self.data = None;
        let r = self.r()?.clone();
        let h = r.index.handle(i);
        let table = &self.table;
        let block = match self.ahead.front_mut() {
            Some((first, b)) => {
                // Runs are consecutive: the next block asked for is this one.
                let first = *first;
                debug_assert_eq!(first + b.next_index(), i);
                let block =
                    b.take(|k| table.read_data_block(&*r.file, r.index.handle(first + k), false));
                if b.left() == 0 {
                    self.ahead.pop_front();
                }
                block?
            }
            // Not asked for (the run is short), so nothing after it was either.
            None => table.read_data_block(&*r.file, h, false)?,
        };
        self.enter(&block, h);
        self.run = run;
        self.read_ahead(i, &r);
        Ok(())
    }

    /// Asks the worker for the blocks after `i` once the run is long enough: the table's
    /// window of blocks, refilled in batches when half of it is left.
    fn read_ahead(&mut self, i: usize, r: &Arc<Readers>) {
        let Some((ra, depth)) = &self.table.readahead else {
            return;
        };
        let asked: usize = self.ahead.iter().map(|(_, b)| b.left()).sum();
        if self.run < READAHEAD_AFTER_LOADS || asked > depth / 2 {
            return;
        }
        let from = i + 1 + asked;
        let to = (i + *depth).min(r.index.len() - 1);
        if from > to {
            return;
        }
        // The batch holds the table weakly: one cancelled, or taken back, waits in the
        // queue without keeping the table (and so its file, once obsolete) alive.
        let (table, readers) = (self.table.me.clone(), r.clone());
        let batch = ra.submit(to + 1 - from, move |k| {
            let h = readers.index.handle(from + k);
            match table.upgrade() {
                Some(t) => t.read_data_block(&*readers.file, h, false),
                // Only the iterator (which holds the table) takes the result: never seen.
                None => Err(Error::corruption("(readahead)", h.offset, "table dropped")),
            }
        });
        self.ahead.push_back((from, batch));
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn skip_forward(&mut self) -> Result<()> {
        while !self.data_valid() {
            self.load_next_block()?;
            match &mut self.data {
                Some(d) => d.seek_to_first()?,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    fn skip_backward(&mut self) -> Result<()> {
        while !self.data_valid() {
            let prev = self.pos.and_then(|p| p.checked_sub(1));
            self.load_block(prev)?;
            match &mut self.data {
                Some(d) => d.seek_to_last()?,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    fn data(&self) -> &BlockIter {
        self.data.as_ref().expect("TableIter used while not valid")
    }
}

impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        self.data_valid()
    }
    fn key(&self) -> &[u8] {
        self.data().key()
    }
    fn value(&self) -> &[u8] {
        self.data().value()
    }
    fn value_bytes(&self) -> Bytes {
        self.data().value_bytes()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.load_block(Some(0))?;
        if let Some(d) = &mut self.data {
            d.seek_to_first()?;
        }
        self.skip_forward()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        let last = self.r()?.index.len().checked_sub(1);
        self.load_block(last)?;
        if let Some(d) = &mut self.data {
            d.seek_to_last()?;
        }
        self.skip_backward()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let index = &self.r()?.index;
        let i = index.seek(target);
        let pos = (i < index.len()).then_some(i);
        self.load_block(pos)?;
        if let Some(d) = &mut self.data {
            d.seek(target)?;
        }
        self.skip_forward()
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let index = &self.r()?.index;
        let i = index.seek(target);
        if i == index.len() {
            return self.seek_to_last();
        }
        self.load_block(Some(i))?;
        if let Some(d) = &mut self.data {
            d.seek_for_prev(target)?;
        }
        self.skip_backward()
    }
    fn next(&mut self) -> Result<()> {
        if let Some(d) = &mut self.data {
            d.next()?;
        }
        self.skip_forward()
    }
    fn prev(&mut self) -> Result<()> {
        if let Some(d) = &mut self.data {
            d.prev()?;
        }
        self.skip_backward()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::fs::MemFs;
    use crate::key::make_internal_key;
    use crate::options::Compression;
    use crate::sstable::{TableBuilder, TableOptions};

    const ENTRIES: u32 = 3000;

    fn ikey(i: u32) -> Vec<u8> {
        make_internal_key(format!("key{i:06}").as_bytes(), 9, Kind::Put as u8)
    }

    /// A table of `ENTRIES` entries in ~300 small LZ4 blocks, opened twice: with a block
    /// cache and readahead of up to 4 blocks, and with neither.
    fn tables(fs: &MemFs) -> (Arc<Table>, Arc<Table>) {
        let path = Path::new("/ra/000001.sst");
        fs.create_dir_all(Path::new("/ra")).unwrap();
        let mut b = TableBuilder::new(
            fs.create(path).unwrap(),
            path,
            TableOptions {
                block_size: 256,
                restart_interval: 4,
                compression: Compression::Lz4,
                bloom_bits_per_key: 0,
            },
        );
        for i in 0..ENTRIES {
            b.add(
                &ikey(i),
                format!("value-{i}-{}", "x".repeat(i as usize % 20)).as_bytes(),
            )
            .unwrap();
        }
        b.finish().unwrap();
        let with = TableOpenOptions {
            verify: true,
            cache: Some(Arc::new(BlockCache::new(1 << 20))),
            readahead: Some(Readahead::start().unwrap()),
            readahead_blocks: 4,
            ..TableOpenOptions::default()
        };
        let without = TableOpenOptions {
            verify: true,
            ..TableOpenOptions::default()
        };
        (
            Table::open(fs, path, 1, None, &with).unwrap(),
            Table::open(fs, path, 1, None, &without).unwrap(),
        )
    }

    fn at(it: &TableIter) -> Option<(Vec<u8>, Vec<u8>)> {
        it.valid().then(|| (it.key().to_vec(), it.value().to_vec()))
    }

    fn scan(it: &mut TableIter) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        it.seek_to_first()?;
        while let Some(kv) = at(it) {
            out.push(kv);
            it.next()?;
        }
        Ok(out)
    }

    /// `data_bytes_from` counts from the block that holds the key to the end of the data:
    /// all of it from the first key, none past the last, and less the further on.
    #[test]
    fn data_bytes_from_counts_the_blocks_left() {
        let fs = MemFs::new();
        let (t, _) = tables(&fs);
        let handles = t.data_block_handles().unwrap();
        let last = handles.last().unwrap();
        let all = last.offset + last.size - handles[0].offset;
        assert_eq!(t.data_bytes_from(&ikey(0)).unwrap(), all);
        assert_eq!(t.data_bytes_from(&ikey(ENTRIES)).unwrap(), 0);
        assert_eq!(t.data_bytes_from(&ikey(ENTRIES - 1)).unwrap(), last.size);
        let mut before = all;
        for i in (0..ENTRIES).step_by(97) {
            let rest = t.data_bytes_from(&ikey(i)).unwrap();
            assert!(rest <= before && rest > 0, "key {i}: {rest} after {before}");
            before = rest;
        }
        assert!(t.data_bytes_from(&ikey(ENTRIES / 2)).unwrap() < all * 2 / 3);
    }

    #[test]
    fn a_long_scan_reads_ahead_and_sees_every_entry() {
        let fs = MemFs::new();
        let (ra, plain) = tables(&fs);
        let mut it = ra.iter();
        it.seek_to_first().unwrap();
        let mut got = Vec::new();
        let mut asked = false;
        while let Some(kv) = at(&it) {
            got.push(kv);
            if let Some((_, b)) = it.ahead.front() {
                asked = true;
                // Once, let the worker finish what it was asked, so that the scan goes on
                // through blocks the worker loaded.
                if got.len() == ENTRIES as usize / 2 {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !b.next_is_done() {
                        assert!(Instant::now() < deadline, "the worker never loaded a block");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            it.next().unwrap();
        }
        assert!(
            asked,
            "a scan over {} blocks never read ahead",
            it.index().len()
        );
        assert_eq!(got, scan(&mut plain.iter()).unwrap());
        assert_eq!(got.len(), ENTRIES as usize);
    }

    /// Random moves (steps both ways, seeks, jumps to the ends), each followed by a run of
    /// steps forward long enough to read ahead, against the same moves without readahead.
    #[test]
    fn moves_after_reading_ahead_match_a_table_without_it() {
        let fs = MemFs::new();
        let (ra, plain) = tables(&fs);
        for seed in 1..=20u64 {
            let mut rnd = crate::testing::seeded_rng(seed);
            let (mut a, mut b) = (ra.iter(), plain.iter());
            for step in 0..60 {
                let op = rnd(6);
                let target = ikey(rnd(ENTRIES as u64 + 10) as u32);
                for it in [&mut a, &mut b] {
                    match op {
                        0 => it.seek_to_first().unwrap(),
                        1 => it.seek_to_last().unwrap(),
                        2 | 3 => it.seek(&target).unwrap(),
                        4 if it.valid() => it.prev().unwrap(),
                        _ => {}
                    }
                }
                let run = rnd(200);
                for _ in 0..run {
                    if !a.valid() {
                        break;
                    }
                    a.next().unwrap();
                    b.next().unwrap();
                    assert_eq!(at(&a), at(&b), "seed {seed}, step {step}");
                }
                assert_eq!(at(&a), at(&b), "seed {seed}, step {step}");
            }
        }
    }

    #[test]
    fn a_corrupt_block_read_ahead_fails_the_scan_where_it_lies() {
        let fs = MemFs::new();
        let (ra, plain) = tables(&fs);
        let handles = plain.data_block_handles().unwrap();
        let mid = handles.len() / 2;
        let bad = handles[mid];
        // The entries in the blocks before the bad one.
        let mut before = 0u32;
        let mut it = plain.iter();
        it.seek_to_first().unwrap();
        while it.pos < Some(mid) {
            before += 1;
            it.next().unwrap();
        }
        fs.corrupt(
            Path::new("/ra/000001.sst"),
            bad.offset as usize + 3,
            &[0xA5, 0x5A],
        )
        .unwrap();
        // A table opened afresh, so nothing of the bad block is cached.
        let (ra2, plain2) = tables_reopened(&fs, &ra);
        for t in [&ra2, &plain2] {
            let mut it = t.iter();
            let mut n = 0u32;
            let mut walk = || -> Result<()> {
                it.seek_to_first()?;
                while it.valid() {
                    n += 1;
                    it.next()?;
                }
                Ok(())
            };
            let err = walk().expect_err("the scan never met the corrupt block");
            assert!(err.is_corruption(), "{err}");
            // Every entry before the bad block was returned first.
            assert_eq!(n, before);
        }
    }

    /// The same file opened again, with and without readahead.
    fn tables_reopened(fs: &MemFs, like: &Arc<Table>) -> (Arc<Table>, Arc<Table>) {
        let with = TableOpenOptions {
            verify: true,
            readahead: like.readahead.as_ref().map(|r| r.0.clone()),
            readahead_blocks: 4,
            ..TableOpenOptions::default()
        };
        let path = like.path().to_path_buf();
        (
            Table::open(fs, &path, 2, None, &with).unwrap(),
            Table::open(fs, &path, 3, None, &TableOpenOptions::default()).unwrap(),
        )
    }
}
