//! Writes a table from entries added in increasing internal-key order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::block::{Block, BlockBuilder};
use super::filter::FilterBuilder;
use super::format::{block_trailer, compress_into, BlockHandle, Footer};
use super::props::TableProperties;
use crate::cache::BlockCache;
use crate::crc;
use crate::error::{Error, Result};
use crate::filename::table_path;
use crate::fs::{FileSystem, WritableFile};
use crate::key::{parse_internal_key, Kind};
use crate::options::Compression;

/// Settings a table is built with.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Target uncompressed data block size.
    pub block_size: usize,
    /// Entries between restart points.
    pub restart_interval: usize,
    /// Block compression.
    pub compression: Compression,
    /// Bloom bits per key (0: none).
    pub bloom_bits_per_key: u32,
}

/// What a finished table holds; recorded in the manifest.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// File size in bytes.
    pub size: u64,
    /// CRC32C of the whole file.
    pub file_crc: u32,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Properties.
    pub props: TableProperties,
}

/// Starts table `number` in a new file in `dir`, offering its blocks to `cache` if given.
///
/// # Errors
///
/// An I/O error creating the file.
pub fn create_table(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    opts: TableOptions,
    number: u64,
    cache: Option<&Arc<BlockCache>>,
) -> Result<TableBuilder> {
    let path = table_path(dir, number);
    let file = fs
        .create(&path)
        .map_err(|e| Error::io("creating", &path, e))?;
    let b = TableBuilder::new(file, &path, opts);
    Ok(match cache {
        Some(c) => b.offering_blocks_to(c.clone(), number),
        None => b,
    })
}

/// Builds one table file.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    opts: TableOptions,
    data: BlockBuilder,
    index: BlockBuilder,
    filter: FilterBuilder,
    last_user_key: Vec<u8>,
    smallest: Vec<u8>,
    offset: u64,
    file_crc: u32,
    props: TableProperties,
    handle_buf: Vec<u8>,
    /// Each block's payload, compressed into it (kept: one allocation per table).
    payload_buf: Vec<u8>,
    /// Where written data blocks are offered, under this table's number.
    cache: Option<(Arc<BlockCache>, u64)>,
    /// Offsets of the blocks offered so far: withdrawn if the table is never finished.
    offered: Vec<u64>,
    finished: bool,
}

impl Drop for TableBuilder {
    /// An abandoned table (an error, or a compaction given up) takes its offered blocks out
    /// of the cache: nothing will ever read them.
    fn drop(&mut self) {
        if let (false, Some((cache, number))) = (self.finished, &self.cache) {
            for &off in &self.offered {
                cache.forget_block(*number, off);
            }
        }
    }
}

impl TableBuilder {
    /// Starts a table in `file` (already created at `path`).
    pub fn new(file: Box<dyn WritableFile>, path: &Path, opts: TableOptions) -> Self {
        TableBuilder {
            file,
            path: path.to_path_buf(),
            opts,
            data: BlockBuilder::new(opts.restart_interval),
            index: BlockBuilder::new(1),
            filter: FilterBuilder::new(opts.bloom_bits_per_key),
            last_user_key: Vec::new(),
            smallest: Vec::new(),
            offset: 0,
            file_crc: 0,
            props: TableProperties {
                smallest_seq: u64::MAX,
                compression: compression_tag_of(opts.compression),
                bloom_bits_per_key: u64::from(opts.bloom_bits_per_key),
                ..Default::default()
            },
            handle_buf: Vec::new(),
            payload_buf: Vec::new(),
            cache: None,
            offered: Vec::new(),
            finished: false,
        }
    }

    /// Offers each data block, once written, to `cache` as block of table `number` (see
    /// [`BlockCache::offer_block`]).
    #[must_use]
    pub fn offering_blocks_to(mut self, cache: Arc<BlockCache>, number: u64) -> Self {
        self.cache = Some((cache, number));
        self
    }

    /// Adds an entry. Keys must be valid internal keys in strictly increasing order.
    ///
    /// # Errors
    ///
    /// An I/O error writing a finished block.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        let (uk, seq, kind) = parse_internal_key(ikey)
            .ok_or_else(|| Error::invalid("table builder given a malformed internal key"))?;
        #[cfg(feature = "invariants")]
        if self.props.num_entries > 0 {
            assert_eq!(
                crate::key::compare_internal(self.data_last_or_index_last(), ikey),
                std::cmp::Ordering::Less,
                "table keys must increase"
            );
        }
        if self.props.num_entries == 0 {
            self.smallest = ikey.to_vec();
        }
        if self.props.num_entries == 0 || uk != self.last_user_key.as_slice() {
            self.filter.add(uk);
            self.last_user_key.clear();
            self.last_user_key.extend_from_slice(uk);
        }
        self.data.add(ikey, value);
        self.props.num_entries += 1;
        if kind == Kind::Delete {
            self.props.num_deletions += 1;
        }
        self.props.raw_key_bytes += ikey.len() as u64;
        self.props.raw_value_bytes += value.len() as u64;
        self.props.smallest_seq = self.props.smallest_seq.min(seq);
        self.props.largest_seq = self.props.largest_seq.max(seq);
        if self.data.estimated_size() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    #[cfg(feature = "invariants")]
    fn data_last_or_index_last(&self) -> &[u8] {
        if self.data.is_empty() {
            self.index.last_key()
        } else {
            self.data.last_key()
        }
    }

    /// Entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// Bytes written so far plus the pending block.
    pub fn estimated_size(&self) -> u64 {
        self.offset + self.data.estimated_size() as u64
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .append(bytes)
            .map_err(|e| Error::io("writing", &self.path, e))?;
        self.file_crc = crc::crc32c_append(self.file_crc, bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn write_block(&mut self, raw: &[u8], compression: Compression) -> Result<BlockHandle> {
        let mut payload = std::mem::take(&mut self.payload_buf);
        payload.clear();
        let tag = compress_into(raw, compression, &mut payload);
        let handle = BlockHandle {
            offset: self.offset,
            size: payload.len() as u64,
        };
        let trailer = block_trailer(&payload, tag);
        let written = self
            .write_raw(&payload)
            .and_then(|()| self.write_raw(&trailer));
        self.payload_buf = payload;
        written.map(|()| handle)
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let last = self.data.last_key().to_vec();
        let raw = self.data.finish();
        let h = self.write_block(&raw, self.opts.compression)?;
        if let Some((cache, number)) = &self.cache {
            // A copy of exactly the block's size: `raw` grew by doubling, and the cache
            // charges a block by its length.
            let block = Block::new(Bytes::copy_from_slice(&raw), &self.path, h.offset)?;
            cache.offer_block(*number, h.offset, block);
            self.offered.push(h.offset);
        }
        self.props.data_blocks += 1;
        self.handle_buf.clear();
        h.encode_varint(&mut self.handle_buf);
        let hb = std::mem::take(&mut self.handle_buf);
        self.index.add(&last, &hb);
        self.handle_buf = hb;
        Ok(())
    }

    /// Writes the remaining blocks and the footer, and syncs the file. The caller syncs the
    /// directory before recording the table in the manifest.
    ///
    /// # Errors
    ///
    /// An I/O error, or `InvalidArgument` for a table with no entries.
    pub fn finish(mut self) -> Result<TableInfo> {
        if self.props.num_entries == 0 {
            return Err(Error::invalid("a table needs at least one entry"));
        }
        let largest = if self.data.is_empty() {
            self.index.last_key().to_vec()
        } else {
            self.data.last_key().to_vec()
        };
        self.flush_data_block()?;
        let filter = match self.filter.finish() {
            Some(f) => self.write_block(&f, Compression::None)?,
            None => BlockHandle::default(),
        };
        let props_raw = self.props.encode();
        let properties = self.write_block(&props_raw, Compression::None)?;
        let index_raw = self.index.finish();
        let index = self.write_block(&index_raw, Compression::None)?;
        let footer = Footer {
            filter,
            properties,
            index,
        }
        .encode();
        self.write_raw(&footer)?;
        self.file
            .sync()
            .map_err(|e| Error::io("syncing", &self.path, e))?;
        self.finished = true;
        Ok(TableInfo {
            size: self.offset,
            file_crc: self.file_crc,
            smallest: std::mem::take(&mut self.smallest),
            largest,
            props: std::mem::take(&mut self.props),
        })
    }
}

fn compression_tag_of(c: Compression) -> u64 {
    use super::format::compression_tag as t;
    u64::from(match c {
        Compression::None => t::NONE,
        Compression::Snappy => t::SNAPPY,
        Compression::Lz4 => t::LZ4,
        Compression::Zstd { .. } => t::ZSTD,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::key::make_internal_key;

    fn build(cache: &Arc<BlockCache>, number: u64, finish: bool) -> Vec<u64> {
        let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
        fs.create_dir_all(Path::new("/t")).unwrap();
        let opts = TableOptions {
            block_size: 512,
            restart_interval: 16,
            compression: Compression::Lz4,
            bloom_bits_per_key: 10,
        };
        let mut b = create_table(&fs, Path::new("/t"), opts, number, Some(cache)).unwrap();
        for i in 0..200u32 {
            let k = make_internal_key(format!("key{i:05}").as_bytes(), 1, Kind::Put as u8);
            b.add(&k, &[7u8; 40]).unwrap();
        }
        let offered = b.offered.clone();
        assert!(offered.len() > 5, "{} blocks", offered.len());
        if finish {
            b.finish().unwrap();
        }
        offered
    }

    #[test]
    fn written_blocks_are_offered_and_withdrawn_when_the_table_is_abandoned() {
        let cache = Arc::new(BlockCache::new(1 << 20));
        let kept = build(&cache, 7, true);
        assert!(kept.iter().all(|&off| cache.contains_block(7, off)));
        let abandoned = build(&cache, 8, false);
        assert!(abandoned.iter().all(|&off| !cache.contains_block(8, off)));
        assert!(kept.iter().all(|&off| cache.contains_block(7, off)));
    }
}
