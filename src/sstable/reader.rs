//! Opens a table and serves point lookups and iterators.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::block::{Block, BlockIter};
use super::filter::Filter;
use super::format::{read_block, BlockHandle, Footer, FOOTER_BYTES};
use super::props::TableProperties;
use crate::error::{Error, Result};
use crate::fs::{FileSystem, RandomAccessFile};
use crate::iter::InternalIterator;
use crate::key::{compare_internal, parse_internal_key, user_key, Kind};

/// An open table: the file, its index and filter held in memory.
#[derive(Debug)]
pub struct Table {
    file: Arc<dyn RandomAccessFile>,
    path: Arc<Path>,
    size: u64,
    index: Block,
    filter: Option<Filter>,
    props: TableProperties,
    verify: bool,
}

/// The outcome of a point lookup in one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The newest visible entry is a put of this value.
    Value(Bytes),
    /// The newest visible entry is a delete.
    Deleted,
    /// No visible entry for the key here.
    Absent,
}

impl Table {
    /// Opens the table at `path`; `expected_size` (from the manifest) must match.
    ///
    /// # Errors
    ///
    /// `Io` when the file cannot be read; `Corruption` naming the file and offset for a bad
    /// size, footer, index, filter or properties block.
    pub fn open(
        fs: &dyn FileSystem,
        path: &Path,
        expected_size: Option<u64>,
        mmap: bool,
        verify: bool,
    ) -> Result<Table> {
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
        let index = Block::new(index_bytes, path, footer.index.offset)?;
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
            size,
            index,
            filter,
            props,
            verify,
        })
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

    /// True when the table has a filter.
    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }

    pub(crate) fn read_data_block(&self, h: BlockHandle, verify: bool) -> Result<Block> {
        let b = read_block(&*self.file, &self.path, h, verify)?;
        Block::new(b, &self.path, h.offset)
    }

    fn decode_handle(&self, v: &[u8]) -> Result<BlockHandle> {
        BlockHandle::decode_varint(v)
            .ok_or_else(|| Error::corruption(&*self.path, 0, "malformed index entry"))
    }

    /// Looks up the newest entry of `lookup`'s user key with a sequence number at most
    /// `lookup`'s (an internal seek key). The caller checked the filter.
    ///
    /// # Errors
    ///
    /// I/O or corruption while reading blocks.
    pub fn get(&self, lookup: &[u8]) -> Result<Lookup> {
        let mut idx = self.index.iter(compare_internal, self.path.clone(), 0);
        idx.seek(lookup)?;
        if !idx.valid() {
            return Ok(Lookup::Absent);
        }
        let h = self.decode_handle(idx.value())?;
        let block = self.read_data_block(h, self.verify)?;
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
            Kind::Delete => Lookup::Deleted,
        })
    }

    /// Data block handles in order, for verification and inspection.
    ///
    /// # Errors
    ///
    /// Corruption in the index.
    pub fn data_block_handles(&self) -> Result<Vec<BlockHandle>> {
        let mut idx = self.index.iter(compare_internal, self.path.clone(), 0);
        idx.seek_to_first()?;
        let mut out = Vec::new();
        while idx.valid() {
            out.push(self.decode_handle(idx.value())?);
            idx.next()?;
        }
        Ok(out)
    }

    /// An iterator over every entry; it keeps the table open.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter {
            index: self.index.iter(compare_internal, self.path.clone(), 0),
            data: None,
            table: self.clone(),
            verify: self.verify,
        }
    }

    /// An iterator that always verifies checksums (for `verify()`).
    pub fn iter_verified(self: &Arc<Self>) -> TableIter {
        let mut it = self.iter();
        it.verify = true;
        it
    }
}

/// Iterates a table: the index picks a data block, the block iterator walks it.
#[derive(Debug)]
pub struct TableIter {
    table: Arc<Table>,
    index: BlockIter,
    data: Option<BlockIter>,
    verify: bool,
}

impl TableIter {
    fn load_block(&mut self) -> Result<()> {
        if !self.index.valid() {
            self.data = None;
            return Ok(());
        }
        let h = self.table.decode_handle(self.index.value())?;
        let block = self.table.read_data_block(h, self.verify)?;
        self.data = Some(block.iter(compare_internal, self.table.path.clone(), h.offset));
        Ok(())
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn skip_forward(&mut self) -> Result<()> {
        while !self.data_valid() {
            if !self.index.valid() {
                self.data = None;
                return Ok(());
            }
            self.index.next()?;
            self.load_block()?;
            if let Some(d) = &mut self.data {
                d.seek_to_first()?;
            }
        }
        Ok(())
    }

    fn skip_backward(&mut self) -> Result<()> {
        while !self.data_valid() {
            if !self.index.valid() {
                self.data = None;
                return Ok(());
            }
            self.index.prev()?;
            self.load_block()?;
            if let Some(d) = &mut self.data {
                d.seek_to_last()?;
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
        self.index.seek_to_first()?;
        self.load_block()?;
        if let Some(d) = &mut self.data {
            d.seek_to_first()?;
        }
        self.skip_forward()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.index.seek_to_last()?;
        self.load_block()?;
        if let Some(d) = &mut self.data {
            d.seek_to_last()?;
        }
        self.skip_backward()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.index.seek(target)?;
        self.load_block()?;
        if let Some(d) = &mut self.data {
            d.seek(target)?;
        }
        self.skip_forward()
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.index.seek(target)?;
        if !self.index.valid() {
            return self.seek_to_last();
        }
        self.load_block()?;
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
