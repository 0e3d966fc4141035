//! The manifest: the durable record of which tables are live, and the version set that
//! applies its edits.
//!
//! `CURRENT` names the live manifest in one line: `MANIFEST-<n> <crc32c of the name, 8 hex>`.
//! A new manifest is made by writing it (a snapshot edit first), syncing it and the
//! directory, writing `CURRENT.tmp`, syncing it, renaming it over `CURRENT` and syncing the
//! directory; only then is the old manifest deleted (RELIABILITY rule 3).

pub mod edit;
pub mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crc;
use crate::error::{Error, Result};
use crate::filename::{
    current_path, current_tmp_path, manifest_name, manifest_path, table_path, vlog_path,
};
use crate::fs::FileSystem;
use crate::key::{compare_internal, user_key};
use crate::limits::MANIFEST_ROLLOVER_BYTES;
use crate::sstable::{Table, TableOpenOptions};
use crate::testing::crc_differs;
use crate::vlog::gc::FileUsage;
use crate::vlog::VlogFile;
use crate::wal::format::{LogKind, RecordType};
use crate::wal::{read_log, LogWriter};
pub use edit::{NewFile, VersionEdit};
pub use version::{FileMeta, ReadBudget, Version};

/// The live version and the manifest it is recorded in.
pub struct VersionSet {
    dir: PathBuf,
    fs: Arc<dyn FileSystem>,
    manifest: Option<LogWriter>,
    manifest_number: u64,
    current: Arc<Version>,
    next_file_number: u64,
    /// Largest sequence number recorded as durable in a table or the manifest.
    pub last_sequence: u64,
    /// WAL segments below this number hold nothing that is not in a table.
    pub log_number: u64,
    table_opts: TableOpenOptions,
    /// Bytes written to manifests (for write amplification).
    pub bytes_written: u64,
    /// What the manifest records of each live value-log file.
    vlog: BTreeMap<u64, VlogMeta>,
    /// Bytes of torn tail found in the value-log file that was active at the last crash.
    pub vlog_torn_tail_bytes: u64,
    /// Bytes of torn tail found at the end of the manifest.
    pub manifest_torn_tail_bytes: u64,
    /// The WAL segment the last clean close sealed, and its length (from recovery).
    pub wal_sealed: Option<(u64, u64)>,
}

/// What the manifest records of one value-log file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct VlogMeta {
    /// Final length once sealed; `None` while it is the active file.
    pub sealed_len: Option<u64>,
    /// Bytes of records no longer referenced.
    pub discard: u64,
    /// Set by garbage collection: the sequence number of its last rewrite.
    pub collected: Option<u64>,
}

/// Applies the value-log part of edit `e` to `files` (the metadata of live value-log
/// files by number).
pub fn apply_vlog_edit(files: &mut BTreeMap<u64, VlogMeta>, e: &VersionEdit) {
    for n in &e.vlog_added {
        files.insert(*n, VlogMeta::default());
    }
    for (n, len) in &e.vlog_sealed {
        if let Some(m) = files.get_mut(n) {
            m.sealed_len = Some(*len);
        }
    }
    for (n, bytes) in &e.vlog_discard {
        if let Some(m) = files.get_mut(n) {
            m.discard += bytes;
        }
    }
    for (n, seq) in &e.vlog_collected {
        if let Some(m) = files.get_mut(n) {
            m.collected = Some(*seq);
        }
    }
    for n in &e.vlog_deleted {
        files.remove(n);
    }
}

/// The logs a clean close sealed: (number, length) of the WAL segment and of the active
/// value-log file.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClosedLogs {
    /// The WAL segment.
    pub wal: Option<(u64, u64)>,
    /// The active value-log file.
    pub vlog: Option<(u64, u64)>,
}

/// Value-log changes made together with a version edit.
#[derive(Debug, Default)]
pub struct VlogChange {
    /// Files created (empty, open for reads).
    pub added: Vec<Arc<VlogFile>>,
    /// Files sealed: (number, length).
    pub sealed: Vec<(u64, u64)>,
    /// Discarded bytes to add: (number, bytes). Unknown files are ignored.
    pub discard: Vec<(u64, u64)>,
    /// Files collected: (number, sequence of the last rewrite).
    pub collected: Vec<(u64, u64)>,
    /// Files deleted (marked obsolete: removed from disk when the last reader drops them).
    pub deleted: Vec<u64>,
}

impl std::fmt::Debug for VersionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionSet")
            .field("manifest_number", &self.manifest_number)
            .field("next_file_number", &self.next_file_number)
            .field("log_number", &self.log_number)
            .finish()
    }
}

/// `MANIFEST-<number> <crc>\n`, or at a clean close `MANIFEST-<number>@<length> <crc>\n`
/// (the manifest is complete at that length); `crc` is the CRC32C of what precedes the space.
fn current_line(number: u64, closed_len: Option<u64>) -> String {
    let mut name = manifest_name(number);
    if let Some(len) = closed_len {
        name = format!("{name}@{len}");
    }
    format!("{name} {:08x}\n", crc::crc32c(name.as_bytes()))
}

/// Points `<dir>/CURRENT` at `MANIFEST-<number>` atomically: write `CURRENT.tmp`, fsync it,
/// rename it over `CURRENT`, fsync the directory. Returns the bytes written. `closed_len`,
/// at a clean close, records the manifest's complete length.
///
/// # Errors
///
/// An I/O error at any step; `CURRENT` then still names the previous manifest.
pub fn install_current(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    closed_len: Option<u64>,
) -> Result<u64> {
    let tmp = current_tmp_path(dir);
    let mut f = fs
        .create(&tmp)
        .map_err(|e| Error::io("creating", &tmp, e))?;
    let line = current_line(number, closed_len);
    f.append(line.as_bytes())
        .and_then(|()| f.sync())
        .map_err(|e| Error::io("writing", &tmp, e))?;
    drop(f);
    let cur = current_path(dir);
    fs.rename(&tmp, &cur)
        .map_err(|e| Error::io("renaming", &cur, e))?;
    fs.sync_dir(dir)
        .map_err(|e| Error::io("syncing directory", dir, e))?;
    Ok(line.len() as u64)
}

/// The manifest number `CURRENT` names, and the manifest's length if it was closed cleanly.
fn parse_current(path: &Path, data: &[u8]) -> Result<(u64, Option<u64>)> {
    let bad = || Error::corruption(path, 0, "CURRENT is malformed");
    let s = std::str::from_utf8(data).map_err(|_| bad())?;
    let line = s.strip_suffix('\n').ok_or_else(bad)?;
    let (name, crc) = line.split_once(' ').ok_or_else(bad)?;
    // Exactly eight lowercase hex digits: any other spelling is damage.
    if crc.len() != 8
        || !crc
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad());
    }
    let crc = u32::from_str_radix(crc, 16).map_err(|_| bad())?;
    if crc_differs(crc, crc::crc32c(name.as_bytes())) {
        return Err(Error::corruption(path, 0, "CURRENT checksum mismatch"));
    }
    let (name, closed_len) = match name.split_once('@') {
        Some((name, len)) => (name, Some(len.parse::<u64>().map_err(|_| bad())?)),
        None => (name, None),
    };
    match crate::filename::parse_file_name(name) {
        Some(crate::filename::FileKind::Manifest(n)) => Ok((n, closed_len)),
        _ => Err(bad()),
    }
}

impl VersionSet {
    /// An empty version set for a new database (no manifest written yet).
    pub fn create(
        dir: &Path,
        fs: Arc<dyn FileSystem>,
        levels: usize,
        table_opts: TableOpenOptions,
    ) -> VersionSet {
        VersionSet {
            dir: dir.to_path_buf(),
            fs,
            manifest: None,
            manifest_number: 0,
            current: Arc::new(Version::new(levels)),
            next_file_number: 1,
            last_sequence: 0,
            log_number: 0,
            table_opts,
            bytes_written: 0,
            vlog: BTreeMap::new(),
            vlog_torn_tail_bytes: 0,
            manifest_torn_tail_bytes: 0,
            wal_sealed: None,
        }
    }

    /// Parses the contents of a `CURRENT` file into the manifest number it names.
    ///
    /// # Errors
    ///
    /// `Corruption` naming `path` when it is malformed or its checksum fails.
    pub fn parse_current_file(path: &Path, data: &[u8]) -> Result<u64> {
        parse_current(path, data).map(|(n, _)| n)
    }

    /// Reads `CURRENT` and the manifest it names, and opens every live table.
    ///
    /// # Errors
    ///
    /// `Corruption` naming the damaged file (CURRENT, the manifest, or a table) and offset.
    pub fn recover(
        dir: &Path,
        fs: Arc<dyn FileSystem>,
        levels: usize,
        table_opts: TableOpenOptions,
    ) -> Result<VersionSet> {
        let cur = current_path(dir);
        let data = fs
            .read_file(&cur)
            .map_err(|e| Error::io("reading", &cur, e))?;
        let (number, closed_len) = parse_current(&cur, &data)?;
        let mpath = manifest_path(dir, number);
        let mdata = fs.read_file(&mpath).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::corruption(&mpath, 0, "the manifest named by CURRENT is missing")
            } else {
                Error::io("reading", &mpath, e)
            }
        })?;
        // The last edit may be torn if the process died while appending it; it was never
        // acknowledged (its sync did not complete), and a new manifest is written on open.
        // After a clean close, CURRENT holds the length: then the manifest must be whole.
        if let Some(len) = closed_len.filter(|&len| len != mdata.len() as u64) {
            return Err(Error::corruption(
                &mpath,
                len.min(mdata.len() as u64),
                format!(
                    "the manifest is {} bytes, CURRENT says it was closed at {len}",
                    mdata.len()
                ),
            ));
        }
        let log = read_log(
            &mpath,
            mdata,
            LogKind::Manifest,
            number,
            closed_len.is_none(),
        )?;
        let mut files: BTreeMap<u64, NewFile> = BTreeMap::new();
        let mut vs = VersionSet::create(dir, fs, levels, table_opts);
        vs.manifest_number = number;
        // Manifests are not preallocated: zeros at the end are lost writes, counted as torn.
        vs.manifest_torn_tail_bytes = log.torn_tail_bytes + log.zeroed_tail_bytes;
        let mut saw_next = false;
        for rec in &log.records {
            if rec.ty != RecordType::ManifestEdit {
                return Err(Error::corruption(
                    &mpath,
                    rec.offset,
                    "unexpected record type",
                ));
            }
            let e = VersionEdit::decode(&rec.payload)
                .map_err(|why| Error::corruption(&mpath, rec.offset, why))?;
            if let Some(v) = e.log_number {
                vs.log_number = v;
            }
            if let Some(v) = e.next_file_number {
                vs.next_file_number = v;
                saw_next = true;
            }
            if let Some(v) = e.last_sequence {
                vs.last_sequence = v;
            }
            if e.wal_sealed.is_some() {
                vs.wal_sealed = e.wal_sealed;
            }
            vs.apply_vlog_meta(&e);
            for (_, n) in &e.deleted_files {
                files.remove(n);
            }
            for f in e.new_files {
                files.insert(f.number, f);
            }
        }
        if !saw_next {
            return Err(Error::corruption(
                &mpath,
                0,
                "manifest has no next-file number",
            ));
        }
        let top = files
            .values()
            .map(|f| f.level as usize + 1)
            .max()
            .unwrap_or(0);
        let mut version = Version::new(levels.max(top));
        for f in files.into_values() {
            if f.number >= vs.next_file_number {
                return Err(Error::corruption(
                    &mpath,
                    0,
                    "a table's number is not below the next-file number",
                ));
            }
            vs.last_sequence = vs.last_sequence.max(f.largest_seq);
            let meta = vs.open_table(&f)?;
            version.levels[f.level as usize].push(meta);
        }
        sort_levels(&mut version);
        if let Some(why) = level_disorder(&version) {
            return Err(Error::corruption(&mpath, 0, why));
        }
        version.vlogs = Arc::new(vs.open_vlogs()?);
        vs.current = Arc::new(version);
        Ok(vs)
    }

    /// Applies the value-log part of a recovered edit to the metadata.
    fn apply_vlog_meta(&mut self, e: &VersionEdit) {
        apply_vlog_edit(&mut self.vlog, e);
    }

    /// Opens the recovered value-log files. Collected files are not opened (no reader can
    /// reach them after a restart) but stay listed until [`VersionSet::forget_collected_vlogs`]:
    /// WAL records being replayed may still point into them (versions GC superseded). The
    /// file that was active at the crash is read whole: its valid records end at the first
    /// torn one, and it is sealed there (a torn tail, counted, never appended after).
    /// Opens value-log file `n` for reading, with the store's read settings (mmap, and the
    /// block cache only when values are cached).
    ///
    /// # Errors
    ///
    /// The I/O error opening it.
    pub fn open_vlog_file(&self, n: u64) -> Result<VlogFile> {
        let cache = self.table_opts.cache.clone();
        VlogFile::open(
            self.fs.clone(),
            &self.dir,
            n,
            cache.filter(|_| self.table_opts.cache_values),
            self.table_opts.mmap,
        )
    }

    fn open_vlogs(&mut self) -> Result<BTreeMap<u64, Arc<VlogFile>>> {
        let mut open = BTreeMap::new();
        let numbers: Vec<u64> = self
            .vlog
            .iter()
            .filter(|(_, m)| m.collected.is_none())
            .map(|(&n, _)| n)
            .collect();
        for n in numbers {
            // Opened first: a missing file is corruption, named as such.
            let f = self.open_vlog_file(n)?;
            // No file found at open is ever written again (read through a map, if any,
            // only from the next read on: after the trim below).
            f.seal();
            let path = vlog_path(&self.dir, n);
            let meta = self
                .vlog
                .get_mut(&n)
                .ok_or_else(|| Error::invalid("vlog meta"))?;
            match meta.sealed_len {
                Some(len) => {
                    let actual = self
                        .fs
                        .open(&path, false)
                        .map_err(|e| Error::io("opening", &path, e))?
                        .len();
                    if actual < len {
                        return Err(Error::corruption(
                            &path,
                            actual,
                            format!("value-log file is {actual} bytes, the manifest says {len}"),
                        ));
                    }
                }
                None => {
                    let data = self
                        .fs
                        .read_file(&path)
                        .map_err(|e| Error::io("reading", &path, e))?;
                    let log = read_log(&path, data, LogKind::Vlog, n, true)?;
                    // Not preallocated either: zeros at the end are lost writes.
                    self.vlog_torn_tail_bytes += log.torn_tail_bytes + log.zeroed_tail_bytes;
                    // The file being appended to when the process died: its records may
                    // be in the OS's cache only. Cut at the last whole one and made
                    // durable before anything durable (a table, the sealed length the next
                    // manifest records) depends on them.
                    let mut w = LogWriter::reopen(
                        self.fs.clone(),
                        &self.dir,
                        path.clone(),
                        n,
                        log.valid_len,
                    )?;
                    w.trim()?;
                    w.sync()?;
                    meta.sealed_len = Some(log.valid_len);
                }
            }
            open.insert(n, Arc::new(f));
        }
        Ok(open)
    }

    /// Drops collected value-log files from the record (at open, once the replayed WAL is
    /// in tables, so no log can point into them; the caller deletes them as orphans).
    pub fn forget_collected_vlogs(&mut self) {
        self.vlog.retain(|_, m| m.collected.is_none());
    }

    /// The manifest's record of each live value-log file.
    pub fn vlog_meta(&self) -> &BTreeMap<u64, VlogMeta> {
        &self.vlog
    }

    /// Sealed, uncollected value-log files with their discard counts (GC candidates).
    pub fn vlog_usage(&self) -> Vec<FileUsage> {
        self.vlog
            .iter()
            .filter(|(_, m)| m.collected.is_none())
            .filter_map(|(&number, m)| {
                m.sealed_len.map(|size| FileUsage {
                    number,
                    size,
                    discard: m.discard,
                })
            })
            .collect()
    }

    /// Opens the table a manifest entry describes.
    ///
    /// # Errors
    ///
    /// As [`Table::open`].
    pub fn open_table(&self, f: &NewFile) -> Result<Arc<FileMeta>> {
        self.table_opener().open(f)
    }

    /// What opening tables needs, to open them without holding the version set.
    pub fn table_opener(&self) -> TableOpener {
        TableOpener {
            fs: self.fs.clone(),
            dir: self.dir.clone(),
            opts: self.table_opts.clone(),
        }
    }
}

/// Opens tables described by manifest entries.
#[derive(Debug, Clone)]
pub struct TableOpener {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    opts: TableOpenOptions,
}

impl TableOpener {
    /// Opens the table `f` describes.
    ///
    /// # Errors
    ///
    /// As [`Table::open`].
    pub fn open(&self, f: &NewFile) -> Result<Arc<FileMeta>> {
        let path = table_path(&self.dir, f.number);
        let table = Table::open(&*self.fs, &path, f.number, Some(f.size), &self.opts)?;
        Ok(Arc::new(FileMeta {
            number: f.number,
            level: f.level,
            size: f.size,
            file_crc: f.file_crc,
            smallest: f.smallest.clone(),
            largest: f.largest.clone(),
            smallest_seq: f.smallest_seq,
            largest_seq: f.largest_seq,
            num_entries: f.num_entries,
            table,
            read_budget: ReadBudget::for_size(f.size),
        }))
    }
}

impl VersionSet {
    /// The live version.
    pub fn current(&self) -> Arc<Version> {
        self.current.clone()
    }

    /// The live manifest's number.
    pub fn manifest_number(&self) -> u64 {
        self.manifest_number
    }

    /// Bytes written to the open manifest (`None` when none is open).
    pub fn manifest_len(&self) -> Option<u64> {
        self.manifest.as_ref().map(LogWriter::len)
    }

    /// At a clean close: records that the WAL segment and the value-log file in `sealed`
    /// end, sealed, at the given (number, length) (so that recovery finds them truncated or
    /// missing), or, with nothing sealed, only fsyncs the manifest's last sync mark.
    ///
    /// # Errors
    ///
    /// An I/O error.
    pub fn close_manifest(&mut self, sealed: &ClosedLogs) -> Result<()> {
        let Some(w) = self.manifest.as_mut() else {
            return Ok(());
        };
        if sealed.wal.is_some() || sealed.vlog.is_some() {
            let edit = VersionEdit {
                wal_sealed: sealed.wal,
                vlog_sealed: sealed.vlog.into_iter().collect(),
                ..VersionEdit::default()
            };
            apply_vlog_edit(&mut self.vlog, &edit);
            let before = w.len();
            w.add_record(RecordType::ManifestEdit, &edit.encode())?;
            w.sync_and_mark()?;
            self.bytes_written += w.len() - before;
        }
        w.sync()?;
        let len = w.len();
        self.bytes_written +=
            install_current(&*self.fs, &self.dir, self.manifest_number, Some(len))?;
        Ok(())
    }

    /// Takes a new file number.
    pub fn new_file_number(&mut self) -> u64 {
        let n = self.next_file_number;
        self.next_file_number += 1;
        n
    }

    /// The next file number that would be handed out.
    pub fn next_file_number(&self) -> u64 {
        self.next_file_number
    }

    fn snapshot_edit(&self) -> VersionEdit {
        let v = &self.vlog;
        VersionEdit {
            log_number: Some(self.log_number),
            next_file_number: Some(self.next_file_number),
            last_sequence: Some(self.last_sequence),
            new_files: self.current.all_files().map(|f| to_new_file(f)).collect(),
            vlog_added: v.keys().copied().collect(),
            vlog_sealed: v
                .iter()
                .filter_map(|(&n, m)| m.sealed_len.map(|l| (n, l)))
                .collect(),
            vlog_discard: v
                .iter()
                .filter(|(_, m)| m.discard > 0)
                .map(|(&n, m)| (n, m.discard))
                .collect(),
            vlog_collected: v
                .iter()
                .filter_map(|(&n, m)| m.collected.map(|s| (n, s)))
                .collect(),
            ..VersionEdit::default()
        }
    }

    /// Writes a fresh manifest holding the whole state and points `CURRENT` at it, then
    /// deletes the previous manifest.
    ///
    /// # Errors
    ///
    /// An I/O error at any step; `CURRENT` then still names a complete manifest.
    pub fn write_new_manifest(&mut self) -> Result<()> {
        let number = self.new_file_number();
        let path = manifest_path(&self.dir, number);
        let mut w = LogWriter::create(
            self.fs.clone(),
            &self.dir,
            path.clone(),
            LogKind::Manifest,
            number,
        )?;
        let snap = self.snapshot_edit().encode();
        w.add_record(RecordType::ManifestEdit, &snap)?;
        w.sync_and_mark()?; // the file and its directory entry
        let fs = &self.fs;
        let line_len = install_current(&**fs, &self.dir, number, None)?;
        self.bytes_written += w.len() + line_len;
        let old = self.manifest_number;
        self.manifest = Some(w);
        self.manifest_number = number;
        if old != 0 {
            let _ = fs.remove_file(&manifest_path(&self.dir, old));
        }
        Ok(())
    }

    /// Adds tables to the live version without logging them; the caller writes a new
    /// manifest (a snapshot) before anything depends on them.
    pub fn add_unlogged(&mut self, adds: Vec<Arc<FileMeta>>) {
        let mut v = (*self.current).clone();
        for f in adds {
            self.last_sequence = self.last_sequence.max(f.largest_seq);
            let l = f.level as usize;
            if v.levels.len() <= l {
                v.levels.resize(l + 1, Vec::new());
            }
            v.levels[l].push(f);
        }
        sort_levels(&mut v);
        self.current = Arc::new(v);
    }

    /// Records an edit durably, then installs the version it produces.
    ///
    /// `adds` are opened tables to add; `deletes` are (level, number) to remove.
    ///
    /// # Errors
    ///
    /// An I/O error writing or syncing the manifest; the version is then unchanged and the
    /// caller must stop writes (the manifest may hold a torn edit).
    pub fn log_and_apply(
        &mut self,
        adds: Vec<Arc<FileMeta>>,
        deletes: Vec<(u32, u64)>,
        log_number: Option<u64>,
        last_sequence: u64,
    ) -> Result<()> {
        self.log_and_apply_with(
            adds,
            deletes,
            log_number,
            last_sequence,
            VlogChange::default(),
        )
    }

    /// As [`VersionSet::log_and_apply`], with value-log changes in the same edit.
    ///
    /// # Errors
    ///
    /// As [`VersionSet::log_and_apply`].
    pub fn log_and_apply_with(
        &mut self,
        adds: Vec<Arc<FileMeta>>,
        deletes: Vec<(u32, u64)>,
        log_number: Option<u64>,
        last_sequence: u64,
        mut vc: VlogChange,
    ) -> Result<()> {
        vc.discard
            .retain(|(n, b)| *b > 0 && self.vlog.contains_key(n));
        let edit = VersionEdit {
            log_number,
            next_file_number: Some(self.next_file_number),
            last_sequence: Some(last_sequence.max(self.last_sequence)),
            new_files: adds.iter().map(|f| to_new_file(f)).collect(),
            deleted_files: deletes.clone(),
            vlog_added: vc.added.iter().map(|f| f.number()).collect(),
            vlog_sealed: vc.sealed.clone(),
            vlog_discard: vc.discard.clone(),
            vlog_collected: vc.collected.clone(),
            vlog_deleted: vc.deleted.clone(),
            wal_sealed: None,
        };
        let mut v = (*self.current).clone();
        for (level, number) in &deletes {
            if let Some(files) = v.levels.get_mut(*level as usize) {
                files.retain(|f| f.number != *number);
            }
        }
        for f in adds {
            let l = f.level as usize;
            if v.levels.len() <= l {
                v.levels.resize(l + 1, Vec::new());
            }
            v.levels[l].push(f);
        }
        sort_levels(&mut v);
        // An edit that would break a level's order is a bug: refuse it before it is
        // durable, as RocksDB's `force_consistency_checks` does (the engine then stops
        // writing), rather than persist a version that reads wrong.
        if let Some(why) = level_disorder(&v) {
            let path = manifest_path(&self.dir, self.manifest_number);
            return Err(Error::corruption(&path, 0, format!("edit refused: {why}")));
        }
        let enc = edit.encode();
        let w = self
            .manifest
            .as_mut()
            .ok_or_else(|| Error::invalid("no manifest is open"))?;
        let before = w.len();
        w.add_record(RecordType::ManifestEdit, &enc)?;
        // The mark after the edit makes damage to it corruption, never a torn tail.
        w.sync_and_mark()?;
        self.bytes_written += w.len() - before;
        if let Some(l) = log_number {
            self.log_number = l;
        }
        self.last_sequence = last_sequence.max(self.last_sequence);
        self.apply_vlog_meta(&edit);
        for (n, _) in &vc.sealed {
            if let Some(f) = v.vlogs.get(n) {
                f.seal();
            }
        }
        if !vc.added.is_empty() || !vc.deleted.is_empty() {
            let mut files = (*v.vlogs).clone();
            for f in vc.added {
                files.insert(f.number(), f);
            }
            for n in &vc.deleted {
                if let Some(f) = files.remove(n) {
                    f.mark_obsolete();
                }
            }
            v.vlogs = Arc::new(files);
        }
        self.current = Arc::new(v);
        if self
            .manifest
            .as_ref()
            .is_some_and(|m| m.len() > MANIFEST_ROLLOVER_BYTES)
        {
            self.write_new_manifest()?;
        }
        Ok(())
    }
}

fn to_new_file(f: &FileMeta) -> NewFile {
    NewFile {
        level: f.level,
        number: f.number,
        size: f.size,
        file_crc: f.file_crc,
        smallest_seq: f.smallest_seq,
        largest_seq: f.largest_seq,
        num_entries: f.num_entries,
        smallest: f.smallest.clone(),
        largest: f.largest.clone(),
    }
}

/// Why the levels past 0 of `v` (sorted by [`sort_levels`]) are not in key order, if they
/// are not: a table whose smallest key sorts after its largest, or two neighbours sharing a
/// user key. Reads of those levels find a key in the one table whose range holds it.
fn level_disorder(v: &Version) -> Option<String> {
    for (level, files) in v.levels.iter().enumerate().skip(1) {
        if let Some(f) = files
            .iter()
            .find(|f| compare_internal(&f.smallest, &f.largest) == std::cmp::Ordering::Greater)
        {
            return Some(format!(
                "level {level}: table {} has its smallest key after its largest",
                f.number
            ));
        }
        if let Some(w) = files
            .windows(2)
            .find(|w| user_key(&w[0].largest) >= user_key(&w[1].smallest))
        {
            return Some(format!(
                "level {level}: tables {} and {} overlap",
                w[0].number, w[1].number
            ));
        }
    }
    None
}

fn sort_levels(v: &mut Version) {
    if let Some(l0) = v.levels.first_mut() {
        l0.sort_by(|a, b| {
            b.largest_seq
                .cmp(&a.largest_seq)
                .then(b.number.cmp(&a.number))
        });
    }
    for files in v.levels.iter_mut().skip(1) {
        files.sort_by(|a, b| compare_internal(&a.smallest, &b.smallest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_line_checks() {
        let p = Path::new("/d/CURRENT");
        assert_eq!(
            parse_current(p, current_line(12, None).as_bytes()).unwrap(),
            (12, None)
        );
        assert_eq!(
            parse_current(p, current_line(12, Some(4096)).as_bytes()).unwrap(),
            (12, Some(4096))
        );
        for closed in [None, Some(4096)] {
            let line = current_line(12, closed).into_bytes();
            for i in 0..line.len() {
                let mut bad = line.clone();
                bad[i] ^= 0x01;
                assert!(parse_current(p, &bad).unwrap_err().is_corruption(), "{i}");
            }
        }
        assert!(parse_current(p, b"garbage").unwrap_err().is_corruption());
    }

    /// A level-1 table holding user keys `lo..=hi`, written to `fs` under `dir`.
    fn level1_table(vs: &VersionSet, number: u64, lo: &str, hi: &str) -> Arc<FileMeta> {
        use crate::key::make_internal_key;
        use crate::sstable::{create_table, TableOptions};
        let opts = TableOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: crate::options::Compression::None,
            bloom_bits_per_key: 0,
        };
        let mut b = create_table(&vs.fs, &vs.dir, opts, number, None).unwrap();
        for k in [lo, hi] {
            b.add(&make_internal_key(k.as_bytes(), number, 1), b"v")
                .unwrap();
        }
        vs.open_table(&NewFile::from_built(1, number, b.finish().unwrap()))
            .unwrap()
    }

    /// An edit that would make two tables of a level overlap is refused before it is
    /// written, and a manifest that holds one anyway (written past the check) fails to open
    /// as corruption.
    #[test]
    fn levels_out_of_order_are_refused_and_detected() {
        let mem = crate::fs::MemFs::new();
        let dir = Path::new("/m");
        mem.create_dir_all(dir).unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(mem);
        let mut vs = VersionSet::create(dir, fs.clone(), 7, TableOpenOptions::default());
        vs.write_new_manifest().unwrap();
        let (a, b, c) = (
            vs.new_file_number(),
            vs.new_file_number(),
            vs.new_file_number(),
        );
        let a = level1_table(&vs, a, "a", "c");
        let overlapping = level1_table(&vs, b, "c", "e");
        let after = level1_table(&vs, c, "d", "f");
        vs.log_and_apply(vec![a.clone()], Vec::new(), None, 0)
            .unwrap();
        let before = vs.manifest.as_ref().unwrap().len();
        let e = vs
            .log_and_apply(vec![overlapping.clone()], Vec::new(), None, 0)
            .unwrap_err();
        assert!(
            e.is_corruption() && e.to_string().contains("overlap"),
            "{e}"
        );
        assert_eq!(
            vs.manifest.as_ref().unwrap().len(),
            before,
            "nothing written"
        );
        assert_eq!(vs.current().levels[1].len(), 1);
        vs.log_and_apply(vec![after], Vec::new(), None, 0).unwrap();

        // Past the check: the same edit written straight into the manifest.
        let edit = VersionEdit {
            new_files: vec![to_new_file(&overlapping)],
            ..VersionEdit::default()
        };
        let w = vs.manifest.as_mut().unwrap();
        w.add_record(RecordType::ManifestEdit, &edit.encode())
            .unwrap();
        w.sync().unwrap();
        let e = VersionSet::recover(dir, fs, 7, TableOpenOptions::default()).unwrap_err();
        assert!(
            e.is_corruption() && e.to_string().contains("overlap"),
            "{e}"
        );
    }
}
