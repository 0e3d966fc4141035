//! Verification and checkpoints of a live engine.

use std::path::Path;

use super::{lock, Engine};
use crate::error::{Error, Result};
use crate::filename::{
    current_path, manifest_path, parse_file_name, table_path, wal_path, FileKind,
};
use crate::fs::FileSystem;
use crate::inspect::VerifyReport;
use crate::iter::InternalIterator;
use crate::key::compare_internal;
use crate::wal::format::LogKind;
use crate::wal::read_log;

impl Engine {
    /// Reads every live file and checks every checksum; see `inspect::verify`.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.check_open()?;
        let mut r = VerifyReport::default();
        // What is live, pinned while we read (the version keeps its tables open).
        let (version, manifest_number, log_number) = {
            let st = lock(&self.state);
            (
                st.versions.current(),
                st.versions.manifest_number(),
                st.versions.log_number,
            )
        };
        let fs = &*self.fs;
        let cur = current_path(&self.dir);
        match fs.read_file(&cur) {
            Ok(b) => {
                r.files_checked += 1;
                r.bytes_checked += b.len() as u64;
            }
            Err(e) => r.record(Error::io("reading", &cur, e)),
        }
        let mp = manifest_path(&self.dir, manifest_number);
        match fs.read_file(&mp) {
            Ok(b) => {
                r.files_checked += 1;
                r.bytes_checked += b.len() as u64;
                if let Err(e) = read_log(&mp, b, LogKind::Manifest, manifest_number, true) {
                    r.record(e);
                }
            }
            Err(e) => r.record(Error::io("reading", &mp, e)),
        }
        let mut wals: Vec<u64> = fs
            .list_dir(&self.dir)
            .map_err(|e| Error::io("listing", &self.dir, e))?
            .iter()
            .filter_map(|n| match parse_file_name(n) {
                Some(FileKind::Wal(n)) if n >= log_number => Some(n),
                _ => None,
            })
            .collect();
        wals.sort_unstable();
        for (i, &n) in wals.iter().enumerate() {
            let p = wal_path(&self.dir, n);
            let Ok(b) = fs.read_file(&p) else {
                continue; // retired by a flush since the listing
            };
            r.files_checked += 1;
            r.bytes_checked += b.len() as u64;
            match read_log(&p, b, LogKind::Wal, n, i + 1 == wals.len()) {
                Ok(log) => {
                    r.wal_records_checked += log.records.len() as u64;
                    r.torn_tail_bytes += log.torn_tail_bytes;
                }
                Err(e) => r.record(e),
            }
        }
        for f in version.all_files() {
            r.files_checked += 1;
            let path = f.table.path().to_path_buf();
            match verify_table(fs, &path, f.file_crc, &f.table, &mut r) {
                Ok(()) => {}
                Err(e) => r.record(e),
            }
        }
        Ok(r)
    }
}

impl Engine {
    /// Makes a consistent, openable copy of the database in `dest` (which must not exist)
    /// while writes go on: tables are hard-linked (copied where links are impossible), the
    /// manifest and the live WAL segments are copied as they stand. The copy holds a prefix
    /// of the acknowledged writes: everything acknowledged before the call, and possibly
    /// some writes made during it (a partial last WAL record is a torn tail, dropped when
    /// the copy opens).
    pub fn checkpoint(&self, dest: &Path) -> Result<()> {
        self.check_open()?;
        let fs = &*self.fs;
        if fs
            .exists(dest)
            .map_err(|e| Error::io("checking", dest, e))?
        {
            return Err(Error::invalid(format!(
                "checkpoint directory {} already exists",
                dest.display()
            )));
        }
        fs.create_dir_all(dest)
            .map_err(|e| Error::io("creating directory", dest, e))?;
        // Under the structure lock no flush or compaction installs, no memtable is frozen
        // and no WAL segment is retired; the version pins its tables.
        let st = lock(&self.state);
        let version = st.versions.current();
        let manifest_number = st.versions.manifest_number();
        let log_number = st.versions.log_number;
        for f in version.all_files() {
            let (from, to) = (table_path(&self.dir, f.number), table_path(dest, f.number));
            fs.link_or_copy(&from, &to)
                .map_err(|e| Error::io("linking", &to, e))?;
        }
        let mut copies = vec![manifest_path(&self.dir, manifest_number)];
        for name in fs
            .list_dir(&self.dir)
            .map_err(|e| Error::io("listing", &self.dir, e))?
        {
            if let Some(FileKind::Wal(n)) = parse_file_name(&name) {
                if n >= log_number {
                    copies.push(wal_path(&self.dir, n));
                }
            }
        }
        for from in &copies {
            let data = fs
                .read_file(from)
                .map_err(|e| Error::io("reading", from, e))?;
            let to = dest.join(from.file_name().unwrap_or_default());
            let mut w = fs.create(&to).map_err(|e| Error::io("creating", &to, e))?;
            w.append(&data)
                .and_then(|()| w.sync())
                .map_err(|e| Error::io("writing", &to, e))?;
        }
        drop(st);
        crate::manifest::install_current(fs, dest, manifest_number)?;
        Ok(())
    }
}

fn verify_table(
    fs: &dyn FileSystem,
    path: &Path,
    file_crc: u32,
    table: &std::sync::Arc<crate::sstable::Table>,
    r: &mut VerifyReport,
) -> Result<()> {
    let bytes = fs
        .read_file(path)
        .map_err(|e| Error::io("reading", path, e))?;
    r.bytes_checked += bytes.len() as u64;
    if crc32c::crc32c(&bytes) != file_crc {
        r.record(Error::corruption(
            path,
            0,
            "whole-file checksum differs from the manifest's",
        ));
    }
    r.blocks_checked += table.data_block_handles()?.len() as u64;
    let mut it = table.iter_verified();
    it.seek_to_first()?;
    let mut last: Option<Vec<u8>> = None;
    while it.valid() {
        if last
            .as_deref()
            .is_some_and(|l| compare_internal(l, it.key()) != std::cmp::Ordering::Less)
        {
            return Err(Error::corruption(path, 0, "table entries out of order"));
        }
        last = Some(it.key().to_vec());
        r.entries_checked += 1;
        it.next()?;
    }
    Ok(())
}
