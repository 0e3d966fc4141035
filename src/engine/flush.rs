//! Background flush: frozen memtables become level-0 tables, oldest first.
//!
//! Steps, in the order RELIABILITY rule 3 requires: fsync the value log (the memtable's
//! values; its WAL segment was retired unsynced, `retired.rs`); write the table, fsync it,
//! fsync the directory; append the manifest edit (the table, and the new log number) and
//! fsync it; swap in the new version; only then let go of the WAL segment the memtable
//! came from (segments, for one replayed at open), and delete it.

use std::path::Path;
use std::sync::Arc;

use super::{lock, Engine};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::filename::wal_path;
use crate::fs::FileSystem;
use crate::iter::InternalIterator;
use crate::manifest::{FileMeta, NewFile};
use crate::memtable::Memtable;
use crate::options::Options;
use crate::sstable::{create_table, TableOptions};
use crate::stats::Counters;

/// Table-building settings from the options.
pub(crate) fn table_options(o: &Options) -> TableOptions {
    TableOptions {
        block_size: o.block_size,
        restart_interval: o.block_restart_interval,
        compression: o.compression,
        bloom_bits_per_key: o.bloom_bits_per_key,
    }
}

/// The block cache that new tables offer their blocks to, if any
/// (`prepopulate_block_cache`).
pub(crate) fn cache_to_offer<'a>(
    opts: &Options,
    cache: &'a Option<Arc<BlockCache>>,
) -> Option<&'a Arc<BlockCache>> {
    cache.as_ref().filter(|_| opts.prepopulate_block_cache)
}

/// Writes every entry of `it` into table `number` at `level`, syncs it and the directory,
/// and returns the manifest entry for it. `it` must hold at least one entry. The table's
/// blocks are offered to `cache` if given.
pub(crate) fn write_table(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    opts: &Options,
    number: u64,
    level: u32,
    it: &mut dyn InternalIterator,
    cache: Option<&Arc<BlockCache>>,
) -> Result<NewFile> {
    let mut b = create_table(fs, dir, table_options(opts), number, cache)?;
    it.seek_to_first()?;
    while it.valid() {
        b.add(it.key(), it.value())?;
        it.next()?;
    }
    let info = b.finish()?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))?;
    Ok(NewFile::from_built(level, number, info))
}

impl Engine {
    /// Body of the flush thread: flush frozen memtables, and fsync the active value-log
    /// file when asked (`State::vlog_presync`), until shutdown or a failure.
    pub fn flush_loop(&self) {
        loop {
            let imm = {
                let mut st = lock(&self.state);
                loop {
                    if st.shutting_down {
                        return;
                    }
                    if self.poison.get().is_none() {
                        if let Some(m) = st.imms.front() {
                            break Some(m.clone());
                        }
                        if std::mem::take(&mut st.vlog_presync) {
                            break None;
                        }
                    }
                    st = self.bg_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let r = match imm {
                Some(imm) => self.flush_one(&imm),
                // Ahead of need: what a writer's fsync at the next rotation or sync
                // write, or the next flush's, would otherwise write while it waits.
                None => self.sync_vlog(),
            };
            if let Err(e) = r {
                self.set_poison(&e);
            }
        }
    }

    fn flush_one(&self, imm: &Arc<Memtable>) -> Result<()> {
        // Nothing durable may point at value bytes that are not: the table will.
        self.sync_vlog()?;
        let meta = if imm.is_empty() {
            None
        } else {
            let (number, opener) = {
                let mut st = lock(&self.state);
                (st.versions.new_file_number(), st.versions.table_opener())
            };
            let cache = cache_to_offer(&self.opts, &self.block_cache);
            let nf = write_table(
                &self.fs,
                &self.dir,
                &self.opts,
                number,
                0,
                &mut imm.iter(),
                cache,
            )?;
            Counters::add(&self.counters.table_bytes_written, nf.size);
            // Opening reads the footer, index and filter: not under the structure lock.
            Some(opener.open(&nf)?)
        };
        let mut st = lock(&self.state);
        // Writes from later memtables live in later WAL segments.
        let next_log = st
            .imms
            .get(1)
            .map_or(st.mem.wal_number(), |m| m.wal_number());
        let adds: Vec<Arc<FileMeta>> = meta.into_iter().collect();
        st.versions
            .log_and_apply(adds, Vec::new(), Some(next_log), imm.largest_seq())?;
        st.imms.pop_front();
        self.release_retired(imm.wal_number());
        // A memtable replayed at open may hold the writes of older segments too.
        let older = std::mem::take(&mut st.replayed_wals);
        st.flushed_total += 1;
        self.refresh_pressure(&mut st);
        self.install_sv(&st);
        drop(st);
        Counters::add(&self.counters.flushes, 1);
        tracing::info!(
            wal = imm.wal_number(),
            entries = imm.len(),
            bytes = imm.approximate_bytes(),
            "memtable flushed to level 0"
        );
        self.bg_cv.notify_all();
        // The WAL segments are obsolete now that the manifest records the table.
        for n in older.into_iter().chain([imm.wal_number()]) {
            let _ = self.fs.remove_file(&wal_path(&self.dir, n));
        }
        Ok(())
    }
}
