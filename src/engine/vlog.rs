//! The engine's value-log paths: separating large values in the write path, rotating
//! files, resolving handles, and garbage collection.
//!
//! **Write.** Writers frame their large values as value-log records themselves, before
//! they queue (`batch.rs`: compression runs in each writer's thread); the group-commit
//! leader appends the group's records to the active file as they are (one write), points
//! the records' local handles at where they landed, then writes the WAL record holding
//! the handles. Before every WAL fsync the active value-log file is fsynced (`durable.rs`,
//! shutdown), as before a flush records a table in the manifest (`flush.rs`), and a full
//! file is fsynced whole before the next one is created, so a durable WAL record or table
//! never points at value bytes that are not durable.
//!
//! **Rotate.** A new file is created with its header, fsynced with its directory entry, and
//! recorded in the manifest (the old one sealed at its length in the same edit) before any
//! value goes into it.
//!
//! **Collect.** GC picks the sealed file with the highest discard ratio past
//! `vlog_gc_discard_ratio` (`vlog/gc.rs`), walks its record headers (`vlog/walk.rs`, each
//! header's checksum checked), and for each record whose key still points at it, reads the
//! record whole, checks it, and hands the key, the expected handle and the record to the
//! write path: the record as read when its value is stored under the current compression
//! setting, else encoded again in the GC thread (never in the leader, whose queue waits).
//! The group-commit leader, which orders all writes, checks each key again and appends
//! the records of those still pointing at the old one, so a newer write that raced with GC
//! always wins. The rewrites are made durable, the file is recorded as
//! collected at the sequence number of the last rewrite, and it is deleted (manifest first)
//! once no snapshot or transaction older than that sequence number remains and everything
//! up to it is flushed (until then a WAL replay after a crash may meet handles into it:
//! superseded versions, which recovery must tell from damage); an iterator still reading it
//! keeps the file open until it is dropped. A crash before the collected record leaves the
//! file live (its values are rewritten again later); after it, the next open replays the
//! WAL with the file still listed, writes the result to tables, then deletes it.
//!
//! **Close.** Close lets a collection in progress finish its file (it starts no other) and,
//! when collected files wait, flushes so that they are deleted before close returns
//! (`settle_vlog_gc`): a collection cut short would leave both copies of what it moved.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::write::for_each_record;
use super::{lock, Engine, State, SuperVersion};
use crate::batch::{encode_pointer_record, encode_record, WriteBatch, LOCAL_VLOG_FILE};
use crate::error::{Error, Result};
use crate::filename::vlog_path;
use crate::key::Kind;
use crate::manifest::VlogChange;
use crate::sstable::format::compression_tag_of;
use crate::sstable::Lookup;
use crate::stats::Counters;
use crate::vlog::format::{
    check_framed, decode_payload, encode_value_record, parse_payload, Handle,
};
use crate::vlog::gc;
use crate::vlog::walk::{read_sealed, walk_value_records};
use crate::wal::format::LogKind;
use crate::wal::LogWriter;

/// Bytes of values handed to the write path per rewrite request.
const GC_REWRITE_CHUNK_BYTES: usize = 4 << 20;

/// The active value-log file being appended to (the group-commit leader owns it).
pub(crate) struct VlogWriter {
    pub log: LogWriter,
    pub number: u64,
}

/// A value GC wants to move: rewritten only if `key` still points at `handle`.
#[derive(Debug)]
pub(crate) struct RewriteEntry {
    pub key: Bytes,
    pub handle: Bytes,
    /// The framed value record to append as it is: the one read (checked) when it is
    /// stored under the current compression, else one GC encoded again.
    pub record: Bytes,
    /// Bytes of key and value (decompressed), for the report.
    pub moved_bytes: usize,
}

/// What a garbage collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VlogGcReport {
    /// Value-log files collected (every live value moved; each is deleted once no older
    /// reader remains).
    pub files_collected: u64,
    /// Value-log files deleted from disk during this call.
    pub files_deleted: u64,
    /// Live values rewritten.
    pub values_moved: u64,
    /// Bytes of live values rewritten.
    pub bytes_moved: u64,
    /// Bytes of the collected files (freed once they are deleted).
    pub bytes_freed: u64,
}

impl std::fmt::Display for VlogGcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files collected ({} bytes), {} deleted; {} values ({} bytes) moved",
            self.files_collected,
            self.bytes_freed,
            self.files_deleted,
            self.values_moved,
            self.bytes_moved
        )
    }
}

/// One value-log file as `Db::vlog_files` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VlogFileInfo {
    /// File number (`<number>.vlog`).
    pub number: u64,
    /// Bytes in the file (its sealed length, or what is written so far when active).
    pub size: u64,
    /// Bytes no longer referenced.
    pub discard_bytes: u64,
    /// `discard_bytes / size`.
    pub discard_ratio: f64,
    /// True for the file being appended to.
    pub active: bool,
    /// True once GC has moved its values (it is deleted when no older reader remains).
    pub collected: bool,
}

impl SuperVersion {
    /// The value a handle points at.
    pub(crate) fn resolve(&self, handle: &[u8]) -> Result<Bytes> {
        crate::vlog::resolve(&self.version.vlogs, handle)
    }
}

impl Engine {
    /// Appends the value-log records the writers framed for `batches` (their separated
    /// values) to the value log, as they are, in one write. Returns, per batch, its records
    /// with the local handles made real, or `None` to use the batch as it is; empty when no
    /// batch has a separated value.
    pub(crate) fn separate(&self, batches: &[&WriteBatch]) -> Result<Vec<Option<Vec<u8>>>> {
        if batches.iter().all(|b| b.framed_values().is_empty()) {
            return Ok(Vec::new());
        }
        let parts: Vec<&[u8]> = batches.iter().map(|b| b.framed_values()).collect();
        let (file, mut at) = self.append_to_vlog(&parts)?;
        let mut out = Vec::with_capacity(batches.len());
        for b in batches {
            if b.framed_values().is_empty() {
                out.push(None);
                continue;
            }
            let mut recs = Vec::with_capacity(b.records().len() + 16);
            for_each_record(b.records(), |kind, key, value| {
                // A user batch's only Pointer records are its local handles.
                let local = (kind == Kind::Pointer).then(|| Handle::decode(value));
                match local.flatten() {
                    Some(local) if local.file == LOCAL_VLOG_FILE => {
                        let real = Handle {
                            file,
                            offset: at + local.offset,
                            len: local.len,
                        };
                        encode_pointer_record(&mut recs, key, &real);
                    }
                    _ => encode_record(&mut recs, kind, key, value),
                }
            });
            at += b.framed_values().len() as u64;
            out.push(Some(recs));
        }
        Ok(out)
    }

    /// How values go into the value log: `vlog_compression`, else the tables' setting.
    pub(crate) fn vlog_compression(&self) -> crate::options::Compression {
        self.opts.vlog_compression.unwrap_or(self.opts.compression)
    }

    /// Appends the records GC moves (`live`, whose keys still point at the old copies) to
    /// the value log as they are; returns the batch pointing the keys at the new copies.
    pub(crate) fn append_moved(&self, live: &[&RewriteEntry]) -> Result<WriteBatch> {
        let parts: Vec<&[u8]> = live.iter().map(|e| &e.record[..]).collect();
        let (file, mut offset) = self.append_to_vlog(&parts)?;
        let mut batch = WriteBatch::new();
        for e in live {
            let len = e.record.len() as u64;
            batch.push_pointer(&e.key, &Handle { file, offset, len });
            offset += len;
        }
        Ok(batch)
    }

    /// Appends `parts`, whole framed value records, to the active value-log file (sealing
    /// a full one first) in one write; returns the file's number and the offset at which
    /// `parts[0]` landed (the others follow it). Only the group-commit leader appends.
    fn append_to_vlog(&self, parts: &[&[u8]]) -> Result<(u64, u64)> {
        let full = lock(&self.vlog)
            .as_ref()
            .is_none_or(|w| w.log.len() >= self.opts.vlog_file_size);
        if full {
            self.rotate_vlog()?;
        }
        let mut guard = lock(&self.vlog);
        let w = guard.as_mut().ok_or(Error::Closed)?;
        let mut mark = Vec::new();
        w.log.frame_sync_mark(&mut mark); // before the records
        let at = w.log.len() + mark.len() as u64;
        w.log.append_framed_parts(&mark, parts)?;
        let bytes = mark.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        Counters::add(&self.counters.vlog_bytes_written, bytes as u64);
        Ok((w.number, at))
    }

    /// Seals the active value-log file (if any) and starts a new one, recorded in the
    /// manifest before anything is written to it.
    fn rotate_vlog(&self) -> Result<()> {
        let mut st = lock(&self.state);
        let number = st.versions.new_file_number();
        let path = vlog_path(&self.dir, number);
        let mut log = LogWriter::create(self.fs.clone(), &self.dir, path, LogKind::Vlog, number)?;
        log.sync()?; // the header and the directory entry
        let file = Arc::new(st.versions.open_vlog_file(number)?);
        let mut vc = VlogChange {
            added: vec![file],
            ..VlogChange::default()
        };
        let mut guard = lock(&self.vlog);
        if let Some(old) = guard.as_mut() {
            old.log.sync()?;
            vc.sealed.push((old.number, old.log.len()));
        }
        st.versions
            .log_and_apply_with(Vec::new(), Vec::new(), None, 0, vc)?;
        *guard = Some(VlogWriter { log, number });
        drop(guard);
        self.install_sv(&st);
        Ok(())
    }

    /// Syncs the active value-log file and ends it with a sync mark (at close); returns
    /// its number and length for the manifest.
    pub(crate) fn seal_vlog(&self) -> Result<Option<(u64, u64)>> {
        match lock(&self.vlog).as_mut() {
            Some(w) => {
                w.log.seal()?;
                Ok(Some((w.number, w.log.len())))
            }
            None => Ok(None),
        }
    }

    /// Fsyncs the active value-log file (before a WAL fsync). Call without the vlog lock.
    pub(crate) fn sync_vlog(&self) -> Result<()> {
        let mut guard = lock(&self.vlog);
        let Some(w) = guard.as_mut() else {
            return Ok(());
        };
        match w.log.sync_point() {
            Some(h) => {
                drop(guard);
                h.sync()
                    .map_err(|e| Error::io("syncing", "(value-log file)", e))
            }
            None => w.log.sync(),
        }
    }

    /// The newest entry for `key` visible at `seq`, without following value handles.
    pub(crate) fn lookup(&self, sv: &SuperVersion, key: &[u8], seq: u64) -> Result<Lookup> {
        let lookup = crate::key::make_internal_key(key, seq, crate::key::KIND_FOR_SEEK);
        let hash = crate::sstable::filter::key_hash(key);
        sv.version.prefetch_filters(key, hash);
        let r = sv.mem.get(&lookup, hash);
        if r != Lookup::Absent {
            return Ok(r);
        }
        for m in &sv.imms {
            let r = m.get(&lookup, hash);
            if r != Lookup::Absent {
                return Ok(r);
            }
        }
        let mut c = crate::sstable::LookupCounters::default();
        let r = sv.version.get(&lookup, hash, &mut c);
        self.counters
            .reads
            .add(0, c.bloom_checks, c.bloom_negatives);
        if let Some(wanted) = c.wants_compaction {
            self.want_read_compaction(wanted);
        }
        r
    }

    /// In the group-commit leader: the `entries` whose keys still point at the handle GC
    /// read (every earlier write is applied, none can come between).
    pub(crate) fn still_live<'a>(
        &self,
        entries: &'a [RewriteEntry],
    ) -> Result<Vec<&'a RewriteEntry>> {
        let seq = self.last_seq.load(Ordering::Relaxed);
        let sv = self.sv.load();
        let mut live = Vec::with_capacity(entries.len());
        for e in entries {
            if let Lookup::Pointer(h) = self.lookup(&sv, &e.key, seq)? {
                if h == e.handle {
                    live.push(e);
                }
            }
        }
        Ok(live)
    }

    /// Collects every value-log file past the discard ratio, then deletes the collected
    /// files no reader can reach any more.
    pub fn vlog_gc(&self) -> Result<VlogGcReport> {
        self.check_writable()?;
        let _one = lock(&self.gc_lock);
        let mut report = VlogGcReport::default();
        let mut tried = HashSet::new();
        while !self.gc_stop.load(Ordering::Acquire) {
            let pick = {
                let st = lock(&self.state);
                let usage: Vec<gc::FileUsage> = st
                    .versions
                    .vlog_usage()
                    .into_iter()
                    .filter(|u| !tried.contains(&u.number))
                    .collect();
                gc::pick(&usage, self.opts.vlog_gc_discard_ratio)
            };
            let Some(n) = pick else { break };
            tried.insert(n);
            self.collect_file(n, &mut report)?;
        }
        if report.files_collected > 0 {
            // Put the rewrites (and everything before them) in tables, so that the
            // collected files can go now rather than after the next flush.
            self.flush()?;
        }
        report.files_deleted += self.delete_collected_vlogs()?;
        if report.files_collected > 0 {
            Counters::add(&self.counters.vlog_gc_runs, 1);
            tracing::info!(
                files = report.files_collected,
                moved = report.bytes_moved,
                deleted = report.files_deleted,
                "value-log GC finished"
            );
        }
        Ok(report)
    }

    /// Before close: lets a collection in progress finish the file it is on (it starts no
    /// other), then, if collected files wait for deletion, flushes so that they go now
    /// rather than at the next open. A collection cut short by close would leave both
    /// copies of the values it had moved; a collected file left behind holds disk space
    /// nothing reads. Does nothing once writes have stopped or the database is closed.
    ///
    /// # Errors
    ///
    /// As [`Engine::flush`]: a failed flush stops writes.
    pub(crate) fn settle_vlog_gc(&self) -> Result<()> {
        self.gc_stop.store(true, Ordering::Release);
        let _one = lock(&self.gc_lock);
        if self.check_writable().is_err() || !self.vlog_deletes_waiting.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.flush()?;
        let deleted = self.delete_collected_vlogs()?;
        tracing::debug!(
            files = deleted,
            "collected value-log files deleted at close"
        );
        Ok(())
    }

    /// True when a file passes the discard ratio or a collected file waits for deletion.
    pub(crate) fn vlog_gc_wanted(&self) -> bool {
        let st = lock(&self.state);
        st.versions
            .vlog_meta()
            .values()
            .any(|m| m.collected.is_some())
            || gc::pick(&st.versions.vlog_usage(), self.opts.vlog_gc_discard_ratio).is_some()
    }

    /// Rewrites the live values of file `n` and records it as collected.
    fn collect_file(&self, n: u64, report: &mut VlogGcReport) -> Result<()> {
        let (len, path) = {
            let st = lock(&self.state);
            let len = st
                .versions
                .vlog_meta()
                .get(&n)
                .and_then(|m| m.sealed_len)
                .ok_or_else(|| Error::invalid("value-log file is not sealed"))?;
            (len, vlog_path(&self.dir, n))
        };
        let file = self
            .fs
            .open(&path, false)
            .map_err(|e| Error::io("opening", &path, e))?;
        let mut pending: Vec<RewriteEntry> = Vec::new();
        let mut pending_bytes = 0usize;
        // Only records the tree still points at are read whole (and checked) and rewritten.
        walk_value_records(&*file, &path, n, len, |head| {
            let h = Handle {
                file: n,
                offset: head.offset,
                len: head.len,
            };
            let sv = self.sv.load();
            let handle = match self.lookup(&sv, &head.key, self.visible())? {
                Lookup::Pointer(p) if Handle::decode(&p) == Some(h) => p,
                _ => return Ok(()),
            };
            let rec = read_sealed(&*file, &path, h.offset, h.len)?;
            let payload = check_framed(&path, h.offset, &rec)?;
            let entry = self.rewrite_entry(&path, h.offset, rec, &payload, handle)?;
            pending_bytes += entry.record.len();
            pending.push(entry);
            if pending_bytes >= GC_REWRITE_CHUNK_BYTES {
                self.rewrite(std::mem::take(&mut pending), report)?;
                pending_bytes = 0;
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            self.rewrite(pending, report)?;
        }
        // The rewrites must be durable before the old copies may go.
        self.sync()?;
        let seq = self.visible();
        self.log_vlog_change(
            &mut lock(&self.state),
            VlogChange {
                collected: vec![(n, seq)],
                ..VlogChange::default()
            },
        )?;
        report.files_collected += 1;
        report.bytes_freed += len;
        Counters::add(&self.counters.vlog_gc_files, 1);
        tracing::info!(
            file = n,
            bytes = len,
            moved = report.bytes_moved,
            "value-log file collected"
        );
        Ok(())
    }

    /// What GC hands the write path for the checked record `rec` (read from `path` at
    /// `offset`, its payload `payload`): the record as it is when its value is stored under
    /// the current compression setting, so that the move copies bytes; else the value
    /// decompressed and encoded again under the setting (in this thread, not the leader's).
    fn rewrite_entry(
        &self,
        path: &Path,
        offset: u64,
        rec: Bytes,
        payload: &Bytes,
        handle: Bytes,
    ) -> Result<RewriteEntry> {
        let compression = self.vlog_compression();
        let stored = parse_payload(path, offset, payload)?;
        if stored.tag == compression_tag_of(compression) {
            let moved_bytes = stored.key.len() + stored.value_len().unwrap_or(0);
            return Ok(RewriteEntry {
                key: stored.key,
                handle,
                record: rec,
                moved_bytes,
            });
        }
        let vr = decode_payload(path, offset, payload)?;
        let mut record = Vec::with_capacity(rec.len());
        encode_value_record(&mut record, &vr.key, &vr.value, compression);
        Ok(RewriteEntry {
            moved_bytes: vr.key.len() + vr.value.len(),
            key: vr.key,
            handle,
            record: record.into(),
        })
    }

    fn rewrite(&self, entries: Vec<RewriteEntry>, report: &mut VlogGcReport) -> Result<()> {
        let (count, bytes) = self.submit_rewrite(entries)?;
        report.values_moved += count;
        report.bytes_moved += bytes;
        Counters::add(&self.counters.vlog_gc_bytes_moved, bytes);
        Ok(())
    }

    /// Records a value-log change in the manifest; a failure stops writes (the manifest
    /// may hold a torn edit).
    fn log_vlog_change(&self, st: &mut State, vc: VlogChange) -> Result<()> {
        let r = st
            .versions
            .log_and_apply_with(Vec::new(), Vec::new(), None, 0, vc);
        if let Err(e) = &r {
            self.set_poison(e);
        }
        let waiting = st
            .versions
            .vlog_meta()
            .values()
            .any(|m| m.collected.is_some());
        self.vlog_deletes_waiting.store(waiting, Ordering::Relaxed);
        r
    }

    /// Deletes collected files once no snapshot or transaction older than their collection
    /// remains and everything written up to it is in tables: WAL records still to be
    /// replayed after a crash may point into the file until then (superseded versions, but
    /// recovery must tell them from damage). Returns how many were deleted.
    pub(crate) fn delete_collected_vlogs(&self) -> Result<u64> {
        let oldest = lock(&self.snapshots).keys().next().copied();
        let mut st = lock(&self.state);
        let flushed = st.versions.last_sequence;
        let ready: Vec<u64> = st
            .versions
            .vlog_meta()
            .iter()
            .filter(|(_, m)| {
                m.collected
                    .is_some_and(|s| s <= flushed && oldest.is_none_or(|o| o >= s))
            })
            .map(|(&n, _)| n)
            .collect();
        if ready.is_empty() {
            return Ok(0);
        }
        let count = ready.len() as u64;
        self.log_vlog_change(
            &mut st,
            VlogChange {
                deleted: ready,
                ..VlogChange::default()
            },
        )?;
        self.install_sv(&st);
        Ok(count)
    }

    /// The value-log files with their sizes and discard ratios.
    pub fn vlog_files(&self) -> Vec<VlogFileInfo> {
        self.vlog_files_locked(&lock(&self.state))
    }

    /// [`Engine::vlog_files`] under the structure lock (the vlog lock comes after it).
    pub(crate) fn vlog_files_locked(&self, st: &State) -> Vec<VlogFileInfo> {
        let active = lock(&self.vlog).as_ref().map(|w| (w.number, w.log.len()));
        st.versions
            .vlog_meta()
            .iter()
            .map(|(&number, m)| {
                let size = match (m.sealed_len, active) {
                    (Some(l), _) => l,
                    (None, Some((a, len))) if a == number => len,
                    (None, _) => 0,
                };
                VlogFileInfo {
                    number,
                    size,
                    discard_bytes: m.discard,
                    discard_ratio: gc::FileUsage {
                        number,
                        size,
                        discard: m.discard,
                    }
                    .discard_ratio(),
                    active: m.sealed_len.is_none(),
                    collected: m.collected.is_some(),
                }
            })
            .collect()
    }

    /// Body of the background GC thread: collects when a file passes the discard ratio,
    /// looking again after every flush or compaction and at least every `every`.
    pub fn vlog_gc_loop(&self, every: std::time::Duration) {
        loop {
            {
                let st = lock(&self.state);
                if st.shutting_down {
                    return;
                }
                let (st, _) = self
                    .bg_cv
                    .wait_timeout(st, every)
                    .unwrap_or_else(|p| p.into_inner());
                if st.shutting_down {
                    return;
                }
            }
            if self.poison.get().is_some() || !self.vlog_gc_wanted() {
                continue;
            }
            if let Err(e) = self.vlog_gc() {
                tracing::warn!(error = %e, "background value-log GC failed");
            }
        }
    }
}
