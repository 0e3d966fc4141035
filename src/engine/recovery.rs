//! Opening a database: lock, manifest, WAL replay, a fresh manifest, orphan cleanup.
//!
//! Replayed WAL data is written to level-0 tables, and the segments replayed made obsolete
//! in a fresh manifest, before the new WAL segment is created: a loss found now never
//! meets writes made after this open. Or, when replay dropped nothing and its writes fit in
//! one memtable, they are left to the background flush and their segments kept as retired
//! ones ([`keep_segments`]; `retired.rs` makes them whole before any newer segment is
//! synced). The sequence numbers in the WAL must continue
//! exactly from the manifest's last sequence and from each other: a gap means a segment
//! went missing, which is corruption, not data to skip, unless it lies where no sync mark
//! reaches (`wal/chain.rs`): there, unsynced writes were lost in a power loss (an older
//! segment's tail, or a whole segment whose directory entry was never synced), and
//! recovery keeps the prefix of the writes before the loss, dropping the rest.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use arc_swap::ArcSwap;

use super::flush::{cache_to_offer, write_table};
use super::{Engine, State, SuperVersion};
use crate::batch::{decode_batch, BatchRecord};
use crate::cache::hot::HotKeys;
use crate::cache::tables::OpenTables;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::filename::{current_path, lock_path, parse_file_name, wal_path, FileKind};
use crate::fs::FileLock;
use crate::key::Kind;
use crate::manifest::VersionSet;
use crate::memtable::Memtable;
use crate::options::Options;
use crate::sstable::readahead::Readahead;
use crate::sstable::{TableLimit, TableOpenOptions};
use crate::stats::{Counters, RecoveryStats};
use crate::vlog::format::Handle;
use crate::wal::format::{LogKind, RecordType};
use crate::wal::{read_log, LogContents, LogWriter, LossFrom, WAL_PREALLOCATE_STEP};

/// Why a replayed record's value-log handle cannot be followed, if it cannot, and whether
/// that is because it points past the file's valid length (a lost unsynced write, where no
/// sync mark reaches) rather than being malformed or naming a file the manifest does not
/// list.
/// Collected files are listed until replay ends: a collected file is deleted only once
/// everything up to its collection is in tables, so a log naming it was not yet retired.
fn dangling_pointer(
    r: &BatchRecord<'_>,
    vlog_lens: &BTreeMap<u64, u64>,
) -> Option<(&'static str, bool)> {
    if r.kind != Kind::Pointer {
        return None;
    }
    let Some(h) = Handle::decode(r.value) else {
        return Some(("malformed value-log handle", false));
    };
    match vlog_lens.get(&h.file) {
        None => Some((
            "a value-log handle names a file the manifest does not list",
            false,
        )),
        Some(&len) if h.offset + h.len > len => Some((
            "a value-log handle points past the file's valid length",
            true,
        )),
        Some(_) => None,
    }
}

/// At most this many replayed WAL segments are kept for the background flush: each open
/// that finds the last one's memtable unflushed (a crash, or a close, soon after the
/// previous open) adds one, and beyond this the replay is written to a table at once.
const MAX_KEPT_SEGMENTS: usize = 4;

/// Whether the replayed writes in `mem` are left to the background flush, their segments
/// kept, rather than written to a table before the open returns (as RocksDB's
/// `avoid_flush_during_recovery`): when they fit in the one memtable (no table was written
/// during replay, so `mem` is still the one numbered by the newest segment), replay dropped
/// nothing (no record, no torn tail: every kept segment is whole up to its records), and
/// no collected value-log file waits (the WAL may point into it until everything is in
/// tables).
fn keep_segments(
    rec: &RecoveryStats,
    adds: &[Arc<crate::manifest::FileMeta>],
    mem: &Memtable,
    versions: &VersionSet,
    segs: &[(u64, std::path::PathBuf)],
) -> bool {
    !mem.is_empty()
        && adds.is_empty()
        && rec.wal_records_dropped == 0
        && rec.torn_tail_bytes == 0
        && segs.len() <= MAX_KEPT_SEGMENTS
        && !versions.vlog_meta().values().any(|m| m.collected.is_some())
}

/// Opens (or creates) the database in `dir`. Returns the engine and the held lock.
pub(crate) fn open(dir: &Path, opts: Options) -> Result<(Arc<Engine>, Box<dyn FileLock>)> {
    opts.validate()?;
    let fs = opts.fs.clone();
    let exists = fs.exists(dir).map_err(|e| Error::io("checking", dir, e))?;
    if !exists && !opts.create_if_missing {
        return Err(Error::invalid(format!(
            "{} does not exist and create_if_missing is off",
            dir.display()
        )));
    }
    fs.create_dir_all(dir)
        .map_err(|e| Error::io("creating directory", dir, e))?;
    let lp = lock_path(dir);
    let lock = fs.lock(&lp).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            Error::Locked(dir.to_path_buf())
        } else {
            Error::io("locking", &lp, e)
        }
    })?;

    let names = fs.list_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    let kinds: Vec<FileKind> = names.iter().filter_map(|n| parse_file_name(n)).collect();
    let block_cache =
        (opts.block_cache_size > 0).then(|| Arc::new(BlockCache::new(opts.block_cache_size)));
    let open_tables = Arc::new(OpenTables::new(opts.max_open_files));
    let table_opts = TableOpenOptions {
        mmap: opts.mmap_reads,
        verify: opts.verify_checksums,
        cache: block_cache.clone(),
        cache_values: opts.cache_values,
        limit: Some(TableLimit {
            fs: fs.clone(),
            open: open_tables.clone(),
        }),
        readahead: if opts.readahead_blocks > 0 {
            Some(Readahead::start().map_err(|e| Error::io("starting a thread for", dir, e))?)
        } else {
            None
        },
        readahead_blocks: opts.readahead_blocks,
    };
    let readahead = table_opts.readahead.clone();
    let offer = cache_to_offer(&opts, &block_cache);
    let has_current = kinds.contains(&FileKind::Current);
    let mut versions = if has_current {
        if opts.error_if_exists {
            return Err(Error::invalid(format!(
                "{} already holds a database and error_if_exists is on",
                dir.display()
            )));
        }
        VersionSet::recover(dir, fs.clone(), opts.max_levels, table_opts.clone())?
    } else {
        let data_files = kinds.iter().any(|k| {
            matches!(
                k,
                FileKind::Manifest(_) | FileKind::Table(_) | FileKind::Wal(_) | FileKind::Vlog(_)
            )
        });
        if data_files {
            return Err(Error::corruption(
                current_path(dir),
                0,
                "CURRENT is missing but the directory holds database files",
            ));
        }
        VersionSet::create(dir, fs.clone(), opts.max_levels, table_opts)
    };
    // File numbers in use (a WAL made since the last manifest edit) must never be reused.
    let max_number = kinds
        .iter()
        .filter_map(|k| match k {
            FileKind::Manifest(n) | FileKind::Wal(n) | FileKind::Table(n) | FileKind::Vlog(n) => {
                Some(*n)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    while versions.next_file_number() <= max_number {
        versions.new_file_number();
    }

    let mut rec = RecoveryStats::default();
    let mut wals: Vec<u64> = kinds
        .iter()
        .filter_map(|k| match k {
            FileKind::Wal(n) if *n >= versions.log_number => Some(*n),
            _ => None,
        })
        .collect();
    wals.sort_unstable();
    let mut last_seq = versions.last_sequence;
    let mut adds = Vec::new();
    // Numbered by the newest segment: if it is left to the background flush, that flush
    // lets go of every segment up to this one.
    let mut mem = Arc::new(Memtable::new(
        wals.last().copied().unwrap_or(0),
        opts.memtable_size,
    ));
    let mut table_bytes = 0u64;
    rec.vlog_torn_tail_bytes = versions.vlog_torn_tail_bytes;
    rec.manifest_torn_tail_bytes = versions.manifest_torn_tail_bytes;
    let vlog_lens: BTreeMap<u64, u64> = versions
        .vlog_meta()
        .iter()
        .map(|(&n, m)| (n, m.sealed_len.unwrap_or(0)))
        .collect();
    // The segment the last clean close sealed must be there, whole.
    let sealed = versions
        .wal_sealed
        .filter(|&(n, _)| n >= versions.log_number);
    if let Some((n, _)) = sealed.filter(|(n, _)| !wals.contains(n)) {
        return Err(Error::corruption(
            wal_path(dir, n),
            0,
            "the WAL segment sealed at the last clean close is missing",
        ));
    }
    // Every segment is read before any is replayed: whether an older one may end early
    // depends on the sync marks of the newer ones (`wal/chain.rs`).
    let mut segs = Vec::with_capacity(wals.len());
    let mut logs = Vec::with_capacity(wals.len());
    let mut sealed_at = None;
    for (i, &n) in wals.iter().enumerate() {
        let path = wal_path(dir, n);
        // Read, never mapped: a segment a kill left open can end in a hole (a sparse
        // extension), and on a full filesystem that allocates on a read fault (tmpfs) a
        // mapped read of it is a SIGBUS, as a device error would be; `pread` answers both
        // with an error or zeros (tests/recovery_reads_wal_holes_on_a_full_disk.rs).
        let data = fs
            .open(&path, false)
            .and_then(|f| f.read_at(0, usize::try_from(f.len()).map_err(io::Error::other)?))
            .map_err(|e| Error::io("reading", &path, e))?;
        let sealed_len = sealed.and_then(|(s, len)| (s == n).then_some(len));
        if let Some(len) = sealed_len.filter(|&len| len != data.len() as u64) {
            return Err(Error::corruption(
                &path,
                len.min(data.len() as u64),
                format!(
                    "WAL segment is {} bytes, sealed at {len} at the last clean close",
                    data.len()
                ),
            ));
        }
        if sealed_len.is_some() {
            sealed_at = Some(i);
        }
        logs.push(read_log(
            &path,
            data,
            LogKind::Wal,
            n,
            sealed_len.is_none(),
        )?);
        segs.push((n, path));
    }
    let loss = LossFrom::of(&logs, sealed_at);
    if let Some(i) =
        (0..logs.len()).find(|&i| loss.must_be_whole(i) && LossFrom::ends_early(&logs[i]))
    {
        return Err(Error::corruption(
            &segs[i].1,
            logs[i].valid_len,
            "WAL segment ends early, though a later segment's sync mark (or the format \
             version it was written in) says it was made durable whole",
        ));
    }
    // Everything from record `j` of segment `i` on is dropped: an unsynced write before it
    // was lost, and recovery keeps the prefix before the loss.
    let drop_from = |rec: &mut RecoveryStats, i: usize, j: usize| {
        let log: &LogContents = &logs[i];
        let at = log.records.get(j).map_or(log.valid_len, |r| r.offset);
        rec.torn_tail_bytes += log.valid_len - at;
        rec.wal_records_dropped += (log.records.len() - j) as u64;
        for later in &logs[i + 1..] {
            rec.torn_tail_bytes += later.valid_len;
            rec.wal_records_dropped += later.records.len() as u64;
        }
    };
    'segments: for (i, ((n, path), log)) in segs.iter().zip(&logs).enumerate() {
        let (n, path) = (*n, path.as_path());
        rec.wal_files += 1;
        rec.torn_tail_bytes += log.torn_tail_bytes;
        for (j, r) in log.records.iter().enumerate() {
            if r.ty != RecordType::WalBatch {
                return Err(Error::corruption(path, r.offset, "unexpected record type"));
            }
            let (seq, records) = decode_batch(&r.payload)
                .ok_or_else(|| Error::corruption(path, r.offset, "malformed write batch"))?;
            if records.is_empty() {
                return Err(Error::corruption(path, r.offset, "empty write batch"));
            }
            if seq != last_seq + 1 {
                // Writes missing before a segment's first record were lost unsynced when
                // no sync mark covers them: the tail of an older segment, or a segment
                // whose directory entry was never synced.
                if j == 0 && seq > last_seq + 1 && loss.tolerates_gap_before(i) {
                    tracing::warn!(
                        wal = n,
                        expected = last_seq + 1,
                        found = seq,
                        "unsynced WAL writes were lost; later segments dropped"
                    );
                    drop_from(&mut rec, i, 0);
                    break 'segments;
                }
                return Err(Error::corruption(
                    path,
                    r.offset,
                    format!(
                        "sequence gap: expected {}, found {seq} (a WAL segment is missing or damaged)",
                        last_seq + 1
                    ),
                ));
            }
            if let Some((why, past_end)) =
                records.iter().find_map(|r| dangling_pointer(r, &vlog_lens))
            {
                // Values are fsynced before the WAL records pointing at them, so only
                // unsynced records can point past the end of the value log: from there on
                // it is a loss. Before a sync mark's reach, or a handle to a file the
                // manifest does not list, is damage.
                if !(past_end && loss.tolerates(i, r.offset)) {
                    return Err(Error::corruption(path, r.offset, why));
                }
                tracing::warn!(
                    wal = n,
                    offset = r.offset,
                    why,
                    "WAL tail points past the value log"
                );
                drop_from(&mut rec, i, j);
                break 'segments;
            }
            mem.apply(&records);
            last_seq = seq + records.len() as u64 - 1;
            rec.wal_records += 1;
            if mem.approximate_bytes() >= opts.memtable_size {
                let number = versions.new_file_number();
                let nf = write_table(&fs, dir, &opts, number, 0, &mut mem.iter(), offer)?;
                table_bytes += nf.size;
                adds.push(versions.open_table(&nf)?);
                mem = Arc::new(Memtable::new(0, opts.memtable_size));
            }
        }
    }
    let kept = keep_segments(&rec, &adds, &mem, &versions, &segs);
    let mut replayed = None;
    if kept {
        // Left to the background flush, as a frozen memtable; its segments stay, taken
        // over as retired ones (`retired.rs`): each is trimmed to its records and fsynced
        // before any fsync of a newer segment, whose sync mark declares it whole.
        let mut writers = Vec::with_capacity(segs.len());
        for ((n, path), log) in segs.iter().zip(&logs) {
            writers.push(LogWriter::reopen(
                fs.clone(),
                dir,
                path.clone(),
                *n,
                log.valid_len,
            )?);
        }
        rec.wal_files_kept = writers.len() as u64;
        replayed = Some((mem, writers));
    } else if !mem.is_empty() {
        let number = versions.new_file_number();
        let nf = write_table(&fs, dir, &opts, number, 0, &mut mem.iter(), offer)?;
        table_bytes += nf.size;
        adds.push(versions.open_table(&nf)?);
    }
    rec.tables_written = adds.len() as u64;

    // A fresh manifest: the recovered tables and the new WAL number, or, when the replayed
    // segments are kept, the log number and last sequence as they were.
    let new_wal = versions.new_file_number();
    if !kept {
        versions.log_number = new_wal;
        versions.last_sequence = last_seq;
        versions.add_unlogged(adds);
        // The replayed WAL is in tables now: no log can point into a collected file any
        // more.
        versions.forget_collected_vlogs();
    }
    versions.write_new_manifest()?;

    // Only now are old WALs, unreferenced tables and old manifests garbage.
    let live: HashSet<u64> = versions.current().all_files().map(|f| f.number).collect();
    let live_vlogs = versions.current().vlogs.clone();
    for name in &names {
        let orphan = match parse_file_name(name) {
            Some(FileKind::Wal(n)) => n < versions.log_number,
            Some(FileKind::Table(n)) => !live.contains(&n),
            Some(FileKind::Vlog(n)) => !live_vlogs.contains_key(&n),
            Some(FileKind::Manifest(n)) => n != versions.manifest_number(),
            Some(FileKind::CurrentTmp) => true,
            _ => false,
        };
        if orphan {
            let p = dir.join(name);
            match fs.remove_file(&p) {
                Ok(()) => rec.orphans_deleted += 1,
                // The previous manifest is already gone: write_new_manifest removed it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", &p, e)),
            }
        }
    }

    let mut wal = LogWriter::create_preallocated(
        fs.clone(),
        dir,
        wal_path(dir, new_wal),
        LogKind::Wal,
        new_wal,
        WAL_PREALLOCATE_STEP,
    )?;
    if !kept {
        wal.sync()?;
    }
    // Else not synced now: its next record would carry a sync mark declaring the kept
    // segments whole. Its first sync goes through `sync_retired`, as any segment's does.
    let mem = Arc::new(Memtable::new(new_wal, opts.memtable_size));
    let (imms, retired, replayed_wals) = match replayed {
        Some((imm, writers)) => {
            let older = writers[..writers.len() - 1]
                .iter()
                .map(LogWriter::number)
                .collect();
            (VecDeque::from([imm]), VecDeque::from(writers), older)
        }
        None => Default::default(),
    };
    let state = State {
        mem: mem.clone(),
        frozen_total: imms.len() as u64,
        imms,
        shutting_down: false,
        flushed_total: 0,
        replayed_wals,
        mem_vlog_bytes: 0,
        vlog_presync: false,
        busy: HashSet::new(),
        running: 0,
        manual: false,
        read_wanted: None,
        pressure: Default::default(),
        delay_debt: 0.0,
        versions,
    };
    let sv = SuperVersion {
        mem,
        imms: state.imms.iter().cloned().collect(),
        version: state.versions.current(),
    };
    let engine = Engine {
        dir: dir.to_path_buf(),
        fs,
        sv: ArcSwap::from_pointee(sv),
        state: Mutex::new(state),
        bg_cv: Condvar::new(),
        sync_cv: Condvar::new(),
        wal: Mutex::new(Some(wal)),
        retired: Mutex::new(retired),
        durable: Default::default(),
        queue: Mutex::new(VecDeque::new()),
        queue_cv: Condvar::new(),
        parked: std::sync::atomic::AtomicUsize::new(0),
        spinners: std::sync::atomic::AtomicUsize::new(0),
        max_spinners: std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1),
        last_seq: AtomicU64::new(last_seq),
        visible_seq: AtomicU64::new(last_seq),
        poison: OnceLock::new(),
        sealed_logs: Mutex::new(Default::default()),
        closed: AtomicBool::new(false),
        counters: Counters::default(),
        recovery: rec,
        block_cache,
        readahead,
        open_tables,
        hot: (opts.hot_key_cache_size > 0).then(|| HotKeys::new(opts.hot_key_cache_size)),
        oracle: Default::default(),
        snapshots: Mutex::new(BTreeMap::new()),
        vlog: Mutex::new(None),
        gc_lock: Mutex::new(()),
        gc_stop: AtomicBool::new(false),
        vlog_deletes_waiting: AtomicBool::new(false),
        opts,
    };
    Counters::add(&engine.counters.table_bytes_written, table_bytes);
    tracing::info!(
        dir = %dir.display(),
        wal_files = engine.recovery.wal_files,
        wal_records = engine.recovery.wal_records,
        torn_tail_bytes = engine.recovery.torn_tail_bytes,
        tables_written = engine.recovery.tables_written,
        orphans_deleted = engine.recovery.orphans_deleted,
        "database opened"
    );
    {
        let mut st = super::lock(&engine.state);
        engine.refresh_pressure(&mut st);
    }
    Ok((Arc::new(engine), lock))
}
