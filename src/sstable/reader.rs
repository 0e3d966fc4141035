//! Opens a table and serves point lookups and iterators.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::block::{Block, BlockIter};
use super::filter::Filter;
use super::format::{read_block, BlockHandle, Footer, FOOTER_BYTES};
use super::index::Index;
use super::props::TableProperties;
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
}

/// An open table: the file, its index and filter held in memory.
#[derive(Debug)]
pub struct Table {
    file: Arc<dyn RandomAccessFile>,
    path: Arc<Path>,
    id: u64,
    cache: Option<Arc<BlockCache>>,
    size: u64,
    index: Index,
    filter: Option<Filter>,
    props: TableProperties,
    verify: bool,
    /// Set when the table left the live version: the file is deleted when the last reader
    /// drops the table.
    obsolete: std::sync::OnceLock<Arc<dyn FileSystem>>,
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Some(fs) = self.obsolete.get() {
            // A failure leaves an orphan, which the next open deletes.
            let _ = fs.remove_file(&self.path);
        }
    }
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

impl Table {
    /// Opens the table at `path` with file number `id`; `expected_size` (from the manifest)
    /// must match.
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
    ) -> Result<Table> {
        let file = fs.open(path, opts.mmap).map_err(|e| {
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
        let props_bytes = read_block(&*file, path, footer.properties, true)?;
        let props = TableProperties::decode(&props_bytes).ok_or_else(|| {
            Error::corruption(path, footer.properties.offset, "malformed properties")
        })?;
        let filter =
            if footer.filter.size > 0 {
                let fb = read_block(&*file, path, footer.filter, true)?;
                Some(Filter::new(fb).ok_or_else(|| {
                    Error::corruption(path, footer.filter.offset, "malformed filter")
                })?)
            } else {
                None
            };
        Ok(Table {
            file,
            path: Arc::from(path),
            id,
            cache: opts.cache.clone(),
            size,
            index,
            filter,
            props,
            verify: opts.verify,
            obsolete: std::sync::OnceLock::new(),
        })
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

    /// True when the bloom filter rules the user key (by its hash) out.
    pub fn filter_excludes(&self, hash: u64) -> bool {
        self.filter
            .as_ref()
            .is_some_and(|f| !f.may_contain_hash(hash))
    }

    /// Bytes of the filter (0 when none).
    pub fn filter_size(&self) -> usize {
        self.filter.as_ref().map_or(0, Filter::size)
    }

    /// True when the table has a filter.
    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }

    /// Reads a data block through the cache; `verify_uncached` reads the file and checks
    /// the checksum whatever the options say, bypassing the cache (for `verify()`).
    pub(crate) fn read_data_block(&self, h: BlockHandle, verify_uncached: bool) -> Result<Block> {
        let load = || {
            let b = read_block(&*self.file, &self.path, h, self.verify || verify_uncached)?;
            Block::new(b, &self.path, h.offset)
        };
        match (&self.cache, verify_uncached) {
            (Some(c), false) => c.get_or_load(self.id, h.offset, load),
            _ => load(),
        }
    }

    /// Looks up the newest entry of `lookup`'s user key with a sequence number at most
    /// `lookup`'s (an internal seek key). The caller checked the filter.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading blocks.
    pub fn get(&self, lookup: &[u8]) -> Result<Lookup> {
        let i = self.index.seek(lookup);
        if i == self.index.len() {
            return Ok(Lookup::Absent);
        }
        let h = self.index.handle(i);
        let block = self.read_data_block(h, false)?;
        let mut it = block.iter(compare_internal, self.path.clone(), h.offset);
        it.seek(lookup)?;
        if !it.valid() {
            return Ok(Lookup::Absent);
        }
        let (uk, _, kind) = parse_internal_key(it.key())
            .ok_or_else(|| Error::corruption(&*self.path, h.offset, "malformed internal key"))?;
        if uk != user_key(lookup) {
            return Ok(Lookup::Absent);
        }
        Ok(match kind {
            Kind::Put => Lookup::Value(it.value_bytes()),
            Kind::Pointer => Lookup::Pointer(it.value_bytes()),
            Kind::Delete => Lookup::Deleted,
        })
    }

    /// Data block handles in order, for verification and inspection.
    ///
    /// # Errors
    ///
    /// Corruption in the index.
    pub fn data_block_handles(&self) -> Result<Vec<BlockHandle>> {
        Ok(self.index.handles().to_vec())
    }

    /// An iterator over every entry; it keeps the table open.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter {
            pos: None,
            data: None,
            table: self.clone(),
            verify_uncached: false,
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
    /// The current block's position in the index.
    pos: Option<usize>,
    data: Option<BlockIter>,
    verify_uncached: bool,
}

impl TableIter {
    fn load_block(&mut self, pos: Option<usize>) -> Result<()> {
        self.pos = pos;
        self.data = None;
        if let Some(i) = pos {
            let h = self.table.index.handle(i);
            let block = self.table.read_data_block(h, self.verify_uncached)?;
            self.data = Some(block.iter(compare_internal, self.table.path.clone(), h.offset));
        }
        Ok(())
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn skip_forward(&mut self) -> Result<()> {
        while !self.data_valid() {
            let next = self
                .pos
                .map(|p| p + 1)
                .filter(|&p| p < self.table.index.len());
            self.load_block(next)?;
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
        self.load_block(self.table.index.len().checked_sub(1))?;
        if let Some(d) = &mut self.data {
            d.seek_to_last()?;
        }
        self.skip_backward()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let i = self.table.index.seek(target);
        self.load_block((i < self.table.index.len()).then_some(i))?;
        if let Some(d) = &mut self.data {
            d.seek(target)?;
        }
        self.skip_forward()
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let i = self.table.index.seek(target);
        if i == self.table.index.len() {
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
