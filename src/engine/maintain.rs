//! Verification and checkpoints of a live engine.

use std::collections::HashMap;
use std::path::Path;

use super::{lock, Engine};
use bytes::Bytes;

use crate::crc;
use crate::error::{Error, Result};
use crate::filename::{
    current_path, manifest_path, parse_file_name, table_path, vlog_path, wal_path, FileKind,
};
use crate::fs::FileSystem;
use crate::inspect::VerifyReport;
use crate::iter::InternalIterator;
use crate::key::{compare_internal, parse_internal_key, user_key, Kind};
use crate::manifest::Version;
use crate::testing::crc_differs;
use crate::vlog::format::{decode_payload, Handle};
use crate::wal::format::{LogKind, RecordType, RECORD_HEADER_BYTES};
use crate::wal::read_log;

impl Engine {
    /// Reads every live file and checks every checksum; see `inspect::verify`.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.check_open()?;
        let mut r = VerifyReport::default();
        // What is live, pinned while we read (the version keeps its tables open).
        // What this process has written to the WAL segments it appends to or retired: every
        // byte of it must check out (only bytes being appended while we read may be
        // incomplete). Taken with the log number, which a flush moves as it lets go of a
        // retired segment.
        let (version, manifest_number, log_number, manifest_len, wal_written) = {
            let st = lock(&self.state);
            (
                st.versions.current(),
                st.versions.manifest_number(),
                st.versions.log_number,
                st.versions.manifest_len(),
                self.segments_written(),
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
                let (b, strict) = written_part(b, manifest_len);
                if let Err(e) = read_log(&mp, b, LogKind::Manifest, manifest_number, !strict) {
                    r.record(e);
                }
            }
            Err(e) => r.record(Error::io("reading", &mp, e)),
        }
        verify_levels(&version, &mp, &mut r);
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
            let written = wal_written
                .iter()
                .find_map(|(w, len)| (*w == p).then_some(*len));
            let (b, strict) = written_part(b, written);
            match read_log(&p, b, LogKind::Wal, n, !strict && i + 1 == wals.len()) {
                Ok(log) => {
                    r.wal_records_checked += log.records.len() as u64;
                    r.torn_tail_bytes += log.torn_tail_bytes;
                }
                Err(e) => r.record(e),
            }
        }
        let records = self.verify_vlogs(&version, &mut r);
        for f in version.all_files() {
            r.files_checked += 1;
            let path = f.table.path().to_path_buf();
            match verify_table(fs, &path, f.file_crc, &f.table, &records, &mut r) {
                Ok(()) => {}
                Err(e) => r.record(e),
            }
        }
        Ok(r)
    }
}

/// Checks that every level past 0 is sorted and disjoint by user key, as reads and the
/// compaction picker assume (`manifest` names the file recording it).
fn verify_levels(version: &Version, manifest: &Path, r: &mut VerifyReport) {
    for (level, files) in version.levels.iter().enumerate().skip(1) {
        for w in files.windows(2) {
            if user_key(&w[0].largest) >= user_key(&w[1].smallest) {
                r.record(Error::corruption(
                    manifest,
                    0,
                    format!(
                        "level {level}: tables {} and {} overlap",
                        w[0].number, w[1].number
                    ),
                ));
            }
        }
    }
}

/// The first `written` bytes of a log file this process appends to, to be checked strictly
/// (`true`), or the whole file when there is no such length (`false`).
fn written_part(data: Bytes, written: Option<u64>) -> (Bytes, bool) {
    match written {
        Some(len) if data.len() as u64 >= len => (data.slice(..len as usize), true),
        _ => (data, false),
    }
}

/// Records of each verified value-log file: offset -> length.
type VlogRecords = HashMap<u64, HashMap<u64, u64>>;

impl Engine {
    /// Checks every record of every live value-log file up to its sealed length (the
    /// active file up to what is written, a partial last append tolerated).
    fn verify_vlogs(&self, version: &Version, r: &mut VerifyReport) -> VlogRecords {
        let sizes: HashMap<u64, Option<u64>> = lock(&self.state)
            .versions
            .vlog_meta()
            .iter()
            .map(|(&n, m)| (n, m.sealed_len))
            .collect();
        let active = lock(&self.vlog).as_ref().map(|w| (w.number, w.log.len()));
        let mut out = VlogRecords::new();
        for (&n, f) in version.vlogs.iter() {
            r.files_checked += 1;
            let path = f.path().to_path_buf();
            let data = match self.fs.read_file(&path) {
                Ok(d) => d,
                Err(e) => {
                    r.record(Error::io("reading", &path, e));
                    continue;
                }
            };
            let sealed = sizes.get(&n).copied().flatten();
            let data = match sealed {
                Some(len) if (data.len() as u64) < len => {
                    r.record(Error::corruption(
                        &path,
                        data.len() as u64,
                        "value-log file is short",
                    ));
                    continue;
                }
                Some(len) => data.slice(..len as usize),
                None => data,
            };
            r.bytes_checked += data.len() as u64;
            let written = active.and_then(|(a, len)| (a == n).then_some(len));
            let (data, strict) = match sealed {
                Some(_) => (data, true),
                None => written_part(data, written),
            };
            match read_log(&path, data, LogKind::Vlog, n, !strict) {
                Ok(log) => {
                    let mut offsets = HashMap::with_capacity(log.records.len());
                    for rec in &log.records {
                        let checked = if rec.ty == RecordType::VlogValue {
                            decode_payload(&path, rec.offset, &rec.payload).map(|_| ())
                        } else {
                            Err(Error::corruption(&path, rec.offset, "not a value record"))
                        };
                        match checked {
                            Ok(()) => {
                                let len = (RECORD_HEADER_BYTES + rec.payload.len()) as u64;
                                offsets.insert(rec.offset, len);
                                r.vlog_records_checked += 1;
                            }
                            Err(e) => r.record(e),
                        }
                    }
                    out.insert(n, offsets);
                }
                Err(e) => r.record(e),
            }
        }
        out
    }

    /// Makes a consistent, openable copy of the database in `dest` (which must not exist)
    /// while writes go on: tables are hard-linked (copied where links are impossible), the
    /// manifest and the live WAL segments are copied, the one being appended to up to its
    /// last whole record. The copy holds a prefix of the acknowledged writes: everything
    /// acknowledged before the call, and possibly some writes made during it.
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
        // The WAL segments and the value-log file being appended to (or retired unsynced)
        // are copied up to their last whole record, as their writers last left them: bytes
        // appended while a copy reads them could leave a record half read in front of a
        // whole one, which no torn tail explains (and the copies lose their preallocated
        // zeros, so each ends whole).
        let mut appending = self.segments_written();
        appending.extend(
            lock(&self.vlog)
                .as_ref()
                .map(|w| (w.log.path().to_path_buf(), w.log.len())),
        );
        let mut copies = vec![manifest_path(&self.dir, manifest_number)];
        // Sealed value-log files never change: linked. The active one is copied as it
        // stands (the copy's manifest has it unsealed, so its open seals it where its
        // valid records end).
        for (&n, m) in st.versions.vlog_meta() {
            let from = vlog_path(&self.dir, n);
            if m.sealed_len.is_some() {
                let to = vlog_path(dest, n);
                fs.link_or_copy(&from, &to)
                    .map_err(|e| Error::io("linking", &to, e))?;
            } else {
                copies.push(from);
            }
        }
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
            let mut data = fs
                .read_file(from)
                .map_err(|e| Error::io("reading", from, e))?;
            if let Some((_, len)) = appending.iter().find(|(p, _)| p == from) {
                data.truncate(usize::try_from(*len).unwrap_or(usize::MAX));
            }
            let to = dest.join(from.file_name().unwrap_or_default());
            let mut w = fs.create(&to).map_err(|e| Error::io("creating", &to, e))?;
            w.append(&data)
                .and_then(|()| w.sync())
                .map_err(|e| Error::io("writing", &to, e))?;
        }
        drop(st);
        crate::manifest::install_current(fs, dest, manifest_number, None)?;
        Ok(())
    }
}

fn verify_table(
    fs: &dyn FileSystem,
    path: &Path,
    file_crc: u32,
    table: &std::sync::Arc<crate::sstable::Table>,
    vlogs: &VlogRecords,
    r: &mut VerifyReport,
) -> Result<()> {
    let bytes = fs
        .read_file(path)
        .map_err(|e| Error::io("reading", path, e))?;
    r.bytes_checked += bytes.len() as u64;
    if crc_differs(file_crc, crc::crc32c(&bytes)) {
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
        if parse_internal_key(it.key()).is_some_and(|(_, _, k)| k == Kind::Pointer) {
            let h = Handle::decode(it.value())
                .ok_or_else(|| Error::corruption(path, 0, "malformed value-log handle"))?;
            // A handle into a file GC deleted belongs to a version no reader can see.
            if let Some(offsets) = vlogs.get(&h.file) {
                r.vlog_handles_checked += 1;
                if offsets.get(&h.offset) != Some(&h.len) {
                    r.record(Error::corruption(
                        crate::filename::vlog_path(path.parent().unwrap_or(Path::new("")), h.file),
                        h.offset,
                        "a table's value handle names no record here",
                    ));
                }
            }
        }
        r.entries_checked += 1;
        it.next()?;
    }
    Ok(())
}
