//! The write path: group commit, memtable rotation, stalls, fail-stop.
//!
//! Writers queue up; the one at the front becomes the leader, takes the batches queued
//! behind it (up to `GROUP_COMMIT_MAX_BYTES`), and for all of them makes room in the
//! memtable, appends one WAL record, fsyncs at most once (when any writer asked for it or
//! `SyncMode::Always`), inserts into the memtable, and publishes the new visible sequence
//! number. Then it hands each follower the shared result and wakes the next leader.
//!
//! A queued writer waits for its turn (lead, or done) by spinning on its slot for a few
//! microseconds, then yielding its core, then parking on a condition variable; at most a
//! core less than the machine has spin at once, and sync writers park at once (they wait
//! for an fsync anyway, and a group that forms meanwhile shares it). With two writer
//! threads on the 2-core VM, parking every follower cost a futex sleep and wake per write:
//! 300K-key fillrandom ran at ~310K ops/s, against ~590K with one thread; spinning ~430K.
//!
//! A queued writer that does not lead first reads, in the active memtable, what the
//! leader's inserts of its first keys will search (`Memtable::warm`), so that they find
//! those cache lines warm: the leader inserts every record of the group, and a random key's
//! search misses the cache at most levels. 2 threads, 1M x 100-byte values, 3 alternating
//! pairs on the 2-core VM: fillrandom ~250K -> ~340K ops/s, overwrite ~280K -> ~340K,
//! deleterandom ~260K -> ~310K. Every writer warming before it queues lost ~20% with one
//! thread (the search is done twice) and gained nothing more with two.
//!
//! A failed WAL write or sync poisons the write path: that group and every later write get
//! an error until the store is reopened; nothing is reported durable that was not.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{lock, Engine, State};
use crate::batch::{group_header, WriteBatch};
use crate::coding::Reader;
use crate::error::{Error, Result};
use crate::filename::wal_path;
use crate::key::Kind;
use crate::limits::{GROUP_COMMIT_MAX_BYTES, SEQNO_MAX};
use crate::memtable::Memtable;
use crate::options::SyncMode;
use crate::stats::Counters;
use crate::testing::{is_broken, Breakage};
use crate::wal::format::{LogKind, RecordType, RECORD_HEADER_BYTES};
use crate::wal::{LogWriter, WAL_PREALLOCATE_STEP};

/// What a queued writer asks for.
#[derive(Debug)]
pub(crate) enum Request {
    /// Apply a batch.
    Write { batch: WriteBatch, sync: bool },
    /// Freeze the active memtable so it gets flushed.
    Freeze,
    /// Rewrite values GC moves out of a value-log file, each only if its key still points
    /// at the old copy (checked by the leader, which orders all writes).
    Rewrite(Vec<super::vlog::RewriteEntry>),
}

/// [`Slot::turn`]: queued behind a leader.
const WAITING: u8 = 0;
/// [`Slot::turn`]: at the front of the queue; this writer leads the next group.
const LEADS: u8 = 1;
/// [`Slot::turn`]: a leader applied the request; its result is in [`Slot::result`].
const DONE: u8 = 2;

/// Records of a queued batch whose memtable search path its writer warms while it waits.
const WARM_RECORDS_MAX: usize = 16;

/// How long a queued writer spins on its slot before yielding its core between looks.
const SPIN: Duration = Duration::from_micros(10);
/// How long it yields between looks before it parks on the queue's condition variable.
const YIELD: Duration = Duration::from_micros(100);

/// A queued request and, once the leader is done, its result.
#[derive(Debug)]
pub(crate) struct Slot {
    req: Request,
    /// `WAITING`, `LEADS` or `DONE`: set by the writer before it, read by its own writer.
    turn: AtomicU8,
    result: Mutex<Option<Result<()>>>,
    /// Sequence number of the batch's last record, set by the leader.
    last_seq: AtomicU64,
    /// For a rewrite: values rewritten and their bytes, set by the leader.
    rewritten: (AtomicU64, AtomicU64),
}

/// A write queued by [`Engine::queue_write`]: its slot and whether it leads, or `None` for
/// an empty batch.
#[must_use]
pub(crate) struct QueuedWrite(Option<(Arc<Slot>, bool)>);

/// The records of an encoded batch made by this process, as `(kind, key, value)`.
pub(crate) fn records_of(records: &[u8]) -> impl Iterator<Item = (Kind, &[u8], &[u8])> {
    let mut r = Reader::new(records);
    std::iter::from_fn(move || {
        if r.is_empty() {
            return None;
        }
        let step = (|| {
            let kind = Kind::from_tag(r.u8()?)?;
            let key = r.length_prefixed()?;
            let value = match kind {
                Kind::Put | Kind::Pointer => r.length_prefixed()?,
                Kind::Delete => &[][..],
            };
            Some((kind, key, value))
        })();
        debug_assert!(step.is_some(), "a batch built in this process is malformed");
        step
    })
}

/// Calls `f(kind, key, value)` for each record of an encoded batch made by this process.
pub(crate) fn for_each_record(records: &[u8], mut f: impl FnMut(Kind, &[u8], &[u8])) {
    for (kind, key, value) in records_of(records) {
        f(kind, key, value);
    }
}

/// Bytes of separated values between the flush thread's fsyncs of the active value-log
/// file ahead of need (`State::vlog_presync`). When freezes still fsynced the value log in
/// the writer's path, these took 10K x 64 KiB overwrites from 8-10K to 13-14K ops/s; they
/// still spare a rotation's fsync (in the writer's path) and the flush's.
pub(crate) const VLOG_PRESYNC_BYTES: u64 = 16 << 20;

impl Engine {
    /// Applies a validated batch atomically.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        self.write_seq(batch, sync).map(|_| ())
    }

    /// As [`Engine::write`], returning the sequence number of the batch's last record (the
    /// visible sequence number when the batch is empty).
    pub fn write_seq(&self, batch: WriteBatch, sync: bool) -> Result<u64> {
        let queued = self.queue_write(batch, sync)?;
        self.finish_write(queued)
    }

    /// Frames `batch`'s values of at least `value_threshold` bytes as value-log records in
    /// the batch itself (`WriteBatch::separate_values`), in the caller's thread; a batch
    /// done already is left as it is.
    pub(crate) fn separate_values(&self, batch: &mut WriteBatch) {
        batch.separate_values(self.opts.value_threshold, self.vlog_compression());
    }

    /// Validates `batch` and queues it for the group commit: writes queued later get later
    /// sequence numbers. [`Engine::finish_write`] must follow (the queue waits for it).
    pub(crate) fn queue_write(&self, mut batch: WriteBatch, sync: bool) -> Result<QueuedWrite> {
        self.check_writable()?;
        batch.validate()?;
        if batch.is_empty() {
            return Ok(QueuedWrite(None));
        }
        // In this writer's thread: the leader only appends what writers framed.
        self.separate_values(&mut batch);
        let slot = self.new_slot(Request::Write { batch, sync });
        let leads = self.enqueue(&slot);
        Ok(QueuedWrite(Some((slot, leads))))
    }

    /// Applies a write queued by [`Engine::queue_write`] (leading its group or waiting for
    /// the leader); returns the sequence number of its last record.
    pub(crate) fn finish_write(&self, q: QueuedWrite) -> Result<u64> {
        match q.0 {
            None => Ok(self.visible()),
            Some((slot, leads)) => {
                self.complete(slot.clone(), leads)?;
                Ok(slot.last_seq.load(Ordering::Acquire))
            }
        }
    }

    fn new_slot(&self, req: Request) -> Arc<Slot> {
        Arc::new(Slot {
            req,
            turn: AtomicU8::new(WAITING),
            result: Mutex::new(None),
            last_seq: AtomicU64::new(0),
            rewritten: (AtomicU64::new(0), AtomicU64::new(0)),
        })
    }

    /// Hands GC's rewrites to the write path; returns the values and bytes rewritten.
    pub(crate) fn submit_rewrite(
        &self,
        entries: Vec<super::vlog::RewriteEntry>,
    ) -> Result<(u64, u64)> {
        self.check_writable()?;
        let slot = self.new_slot(Request::Rewrite(entries));
        self.submit(slot.clone())?;
        Ok((
            slot.rewritten.0.load(Ordering::Acquire),
            slot.rewritten.1.load(Ordering::Acquire),
        ))
    }

    /// Freezes the active memtable (through the queue, so it is ordered with writes).
    pub fn freeze(&self) -> Result<()> {
        self.check_writable()?;
        self.submit(self.new_slot(Request::Freeze))
    }

    fn submit(&self, slot: Arc<Slot>) -> Result<()> {
        let leads = self.enqueue(&slot);
        self.complete(slot, leads)
    }

    /// Queues `slot`; true when it is at the front (its writer leads).
    fn enqueue(&self, slot: &Arc<Slot>) -> bool {
        let mut q = lock(&self.queue);
        q.push_back(slot.clone());
        q.len() == 1
    }

    /// Waits for `slot`'s turn unless it `leads` already; leads its group when its turn
    /// comes; returns its result.
    fn complete(&self, slot: Arc<Slot>, leads: bool) -> Result<()> {
        if !leads {
            if let Request::Write { batch, .. } = &slot.req {
                self.warm_memtable(batch);
            }
            // A sync write waits for an fsync anyway: it parks at once, and a group that
            // forms while it wakes up shares the fsync.
            let spin = !(self.opts.wal_sync == SyncMode::Always
                || matches!(slot.req, Request::Write { sync: true, .. }));
            if self.await_turn(&slot, spin) == DONE {
                return lock(&slot.result)
                    .take()
                    .expect("a leader sets a slot's result before marking it done");
            }
        }
        // This writer leads: take the writes queued behind it.
        let q = lock(&self.queue);
        debug_assert!(q.front().is_some_and(|f| Arc::ptr_eq(f, &slot)));
        let mut group = vec![slot.clone()];
        if let Request::Write { batch, .. } = &slot.req {
            let mut bytes = batch.encoded_len();
            for s in q.iter().skip(1) {
                match &s.req {
                    Request::Write { batch, .. }
                        if bytes + batch.encoded_len() <= GROUP_COMMIT_MAX_BYTES =>
                    {
                        bytes += batch.encoded_len();
                        group.push(s.clone());
                    }
                    _ => break,
                }
            }
        }
        drop(q);
        // Append and apply; `Some(end)` when the group must wait for WAL position `end` to
        // be durable.
        let applied = match &slot.req {
            Request::Freeze => self.make_room(0, 0, true).map(|_| None),
            Request::Write { .. } => self.commit_group(&group),
            Request::Rewrite(entries) => self.commit_rewrite(entries, &slot),
        };
        // Hand leadership on before waiting for the fsync, so the next group can append
        // meanwhile and share the next one.
        let mut q = lock(&self.queue);
        for s in &group {
            let front = q.pop_front();
            debug_assert!(front.is_some_and(|f| Arc::ptr_eq(&f, s)));
        }
        if let Some(next) = q.front() {
            next.turn.store(LEADS, Ordering::SeqCst);
        }
        drop(q);
        self.wake_parked();
        let result = match applied {
            Ok(Some(end)) => self.wait_durable(end),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if group.len() > 1 {
            // Every follower's turn first, then one wake-up: they return together, and their
            // next writes queue up together for the next group.
            for s in group.iter().filter(|s| !Arc::ptr_eq(s, &slot)) {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                };
                *lock(&s.result) = Some(r);
                s.turn.store(DONE, Ordering::SeqCst);
            }
            self.wake_parked();
        }
        result
    }

    /// While a writer waits for the leader: reads what the leader's inserts of the first
    /// of `batch`'s keys will search in the active memtable, so that they find it cached.
    fn warm_memtable(&self, batch: &WriteBatch) {
        let sv = self.sv.load();
        let mut scratch = Vec::new();
        for (_, key, _) in records_of(batch.records()).take(WARM_RECORDS_MAX) {
            sv.mem.warm(key, &mut scratch);
        }
    }

    /// Waits until `slot` leads or is done. With `spin`, and while fewer than
    /// `max_spinners` (a core less than the machine has) do, it spins first (a leader's
    /// work takes a few microseconds, far less than a sleep and a wake-up), then yields
    /// the core between looks; then, or at once, it parks on the queue's condition
    /// variable. More spinners would take the cores the leader and the flushes need.
    fn await_turn(&self, slot: &Slot, spin: bool) -> u8 {
        if spin && self.spinners.fetch_add(1, Ordering::Relaxed) < self.max_spinners {
            let t = Self::spin_for_turn(slot);
            self.spinners.fetch_sub(1, Ordering::Relaxed);
            if t != WAITING {
                return t;
            }
        } else if spin {
            self.spinners.fetch_sub(1, Ordering::Relaxed);
        }
        let mut q = lock(&self.queue);
        self.parked.fetch_add(1, Ordering::SeqCst);
        let t = loop {
            let t = slot.turn.load(Ordering::SeqCst);
            if t != WAITING {
                break t;
            }
            q = self.queue_cv.wait(q).unwrap_or_else(|p| p.into_inner());
        };
        self.parked.fetch_sub(1, Ordering::SeqCst);
        t
    }

    /// Spins on `slot`'s turn, then yields between looks; `WAITING` when that took too long.
    fn spin_for_turn(slot: &Slot) -> u8 {
        let turn = || slot.turn.load(Ordering::Acquire);
        let start = Instant::now();
        while start.elapsed() < SPIN {
            for _ in 0..64 {
                let t = turn();
                if t != WAITING {
                    return t;
                }
                std::hint::spin_loop();
            }
        }
        while start.elapsed() < SPIN + YIELD {
            let t = turn();
            if t != WAITING {
                return t;
            }
            std::thread::yield_now();
        }
        WAITING
    }

    /// Wakes the parked writers, after turns were given. A parked writer checks its turn
    /// under the queue lock after counting itself in `parked`, and this reads `parked`
    /// after the turns were set (both sequentially consistent): one of the two sees the
    /// other, so no wake-up is lost.
    fn wake_parked(&self) {
        if self.parked.load(Ordering::SeqCst) > 0 {
            let _q = lock(&self.queue);
            self.queue_cv.notify_all();
        }
    }

    /// Appends the group to the WAL and the memtable; returns the WAL position that must be
    /// durable before the group is acknowledged, when it asked for durability.
    fn commit_group(&self, group: &[Arc<Slot>]) -> Result<Option<u64>> {
        let mut batches = Vec::with_capacity(group.len());
        let mut sync = self.opts.wal_sync == SyncMode::Always;
        for s in group {
            if let Request::Write { batch, sync: s } = &s.req {
                batches.push(batch);
                sync |= *s;
            }
        }
        self.commit_batches(&batches, group, sync)
    }

    /// Applies GC's rewrites whose keys still point at the old copies: their records are
    /// appended to the value log as they are, and the keys pointed at the new copies.
    fn commit_rewrite(
        &self,
        entries: &[super::vlog::RewriteEntry],
        slot: &Arc<Slot>,
    ) -> Result<Option<u64>> {
        let live = self.still_live(entries)?;
        if live.is_empty() {
            return Ok(None);
        }
        slot.rewritten.0.store(live.len() as u64, Ordering::Release);
        let moved: usize = live.iter().map(|e| e.moved_bytes).sum();
        slot.rewritten.1.store(moved as u64, Ordering::Release);
        let records: usize = live.iter().map(|e| e.record.len()).sum();
        // A pointer record: kind, key and handle, each handle of up to 3 varints.
        let pointers: usize = live.iter().map(|e| e.key.len() + 40).sum();
        let mem = self.make_room(pointers, records, false)?;
        let batch = match self.append_moved(&live) {
            Ok(b) => b,
            Err(e) => {
                self.set_poison(&e);
                return Err(e);
            }
        };
        let sync = self.opts.wal_sync == SyncMode::Always;
        let group = std::slice::from_ref(slot);
        self.log_and_apply(&[&batch], &|_| batch.records(), group, sync, false, &mem)
    }

    /// Appends user `batches` (one per slot of `group`) to the value log, the WAL and the
    /// memtable under consecutive sequence numbers.
    fn commit_batches(
        &self,
        batches: &[&WriteBatch],
        group: &[Arc<Slot>],
        sync: bool,
    ) -> Result<Option<u64>> {
        let bytes: usize = batches.iter().map(|b| b.records().len()).sum();
        let separated_bytes: usize = batches.iter().map(|b| b.separated_value_bytes()).sum();
        let mem = self.make_room(bytes, separated_bytes, false)?;
        let separated = match self.separate(batches) {
            Ok(s) => s,
            Err(e) => {
                self.set_poison(&e);
                return Err(e);
            }
        };
        // Each batch's records as written: with handles where values were separated.
        let records = |i: usize| -> &[u8] {
            separated
                .get(i)
                .and_then(|s| s.as_deref())
                .unwrap_or(batches[i].records())
        };
        self.log_and_apply(batches, &records, group, sync, true, &mem)
    }

    /// Appends `records(i)` for each of `batches` (its records with values already
    /// separated; one batch per slot of `group`) to the WAL and to `mem` under consecutive
    /// sequence numbers, and makes them visible; returns the WAL position to wait for when
    /// `sync`. `from_user` is false for GC's rewrites, which are not counted as user writes.
    fn log_and_apply<'a>(
        &self,
        batches: &[&WriteBatch],
        records: &dyn Fn(usize) -> &'a [u8],
        group: &[Arc<Slot>],
        sync: bool,
        from_user: bool,
        mem: &Memtable,
    ) -> Result<Option<u64>> {
        let first = self.last_seq.load(Ordering::Relaxed) + 1;
        let (header, count) = group_header(batches, first);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(batches.len() + 1);
        parts.push(&header);
        for i in 0..batches.len() {
            parts.push(records(i));
        }
        let last = first + u64::from(count) - 1;
        if last > SEQNO_MAX {
            let e = Error::invalid("sequence numbers are exhausted");
            self.set_poison(&e);
            return Err(e);
        }
        let wal_bytes = (parts.iter().map(|p| p.len()).sum::<usize>() + RECORD_HEADER_BYTES) as u64;
        let end = {
            let mut wal = lock(&self.wal);
            let w = wal.as_mut().ok_or(Error::Closed)?;
            let appended = if is_broken(Breakage::SkipWalAppend) {
                Ok(())
            } else {
                w.add_record_parts(RecordType::WalBatch, &parts)
            };
            if let Err(e) = appended {
                self.set_poison(&e);
                return Err(e);
            }
            // Changed only here, under the WAL lock: no locked add.
            let end = self.durable.written.load(Ordering::Relaxed) + wal_bytes;
            self.durable.written.store(end, Ordering::Relaxed);
            end
        };
        let mut seq = first;
        for (i, s) in group.iter().enumerate() {
            for_each_record(records(i), |kind, key, value| {
                mem.add(seq, kind, key, value);
                // Before `visible_seq` moves: see `cache::hot`.
                if let Some(hot) = &self.hot {
                    hot.invalidate(key, seq);
                }
                seq += 1;
            });
            s.last_seq.store(seq - 1, Ordering::Release);
        }
        debug_assert_eq!(seq, last + 1);
        self.last_seq.store(last, Ordering::Relaxed);
        self.visible_seq.store(last, Ordering::Release);
        let c = &self.counters;
        // Only the leader changes these.
        Counters::add_one_writer(&c.write_groups, 1);
        Counters::add_one_writer(&c.wal_bytes_written, wal_bytes);
        if from_user {
            Counters::add_one_writer(&c.writes, group.len() as u64);
            let payload: usize = batches.iter().map(|b| b.payload_bytes()).sum();
            Counters::add_one_writer(&c.user_bytes_written, payload as u64);
        }
        Ok(sync.then_some(end))
    }

    /// Returns the memtable to insert `bytes` into (and to point at `separated` bytes of
    /// values in the value log), freezing the active one when it is full (or when `force`),
    /// and waiting while too many frozen memtables await flush.
    fn make_room(&self, bytes: usize, separated: usize, force: bool) -> Result<Arc<Memtable>> {
        let mut st = lock(&self.state);
        let mut stalled: Option<Instant> = None;
        let mut delayed = false;
        let o = &self.opts;
        let out = loop {
            if st.shutting_down {
                break Err(Error::Closed);
            }
            if let Some(msg) = self.poison.get() {
                break Err(Error::WritesStopped(msg.clone()));
            }
            let p = st.pressure;
            // Stop: wait (not spin) until a flush or compaction changes the picture. The
            // flush and compaction threads never wait on writers, so this always ends.
            if !force
                && (p.l0_files >= o.level0_stop_trigger
                    || p.pending_bytes >= o.pending_compaction_bytes_stop)
            {
                if stalled.is_none() {
                    stalled = Some(Instant::now());
                    Counters::add(&self.counters.write_stalls, 1);
                    tracing::warn!(
                        l0_files = p.l0_files,
                        pending_bytes = p.pending_bytes,
                        "writes stopped until compaction catches up"
                    );
                }
                st = self.bg_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Slow down: pay for the bytes at a rate that falls as the stop trigger nears.
            // Frozen memtables count too once at least three may wait and all but one do
            // (as RocksDB: with fewer, a flush in progress is the normal state).
            let imm_pressure =
                o.max_immutable_memtables >= 3 && st.imms.len() + 1 >= o.max_immutable_memtables;
            if !force
                && !delayed
                && (p.l0_files >= o.level0_slowdown_trigger
                    || p.pending_bytes >= o.pending_compaction_bytes_slowdown
                    || imm_pressure)
            {
                delayed = true;
                let span = (o.level0_stop_trigger - o.level0_slowdown_trigger).max(1) as f64;
                let over = p.l0_files.saturating_sub(o.level0_slowdown_trigger) as f64 / span;
                let rate = o.slowdown_write_rate as f64 * (1.0 - 0.75 * over.min(1.0));
                st.delay_debt += bytes.max(1) as f64 / rate;
                if st.delay_debt >= 0.001 {
                    let d = std::time::Duration::from_secs_f64(st.delay_debt.min(0.1));
                    st.delay_debt = 0.0;
                    Counters::add(&self.counters.write_slowdowns, 1);
                    Counters::add(&self.counters.write_stall_micros, d.as_micros() as u64);
                    drop(st);
                    std::thread::sleep(d);
                    st = lock(&self.state);
                    continue;
                }
            }
            let full = !st.mem.is_empty()
                && (force
                    || st.mem.approximate_bytes() + bytes > o.memtable_size
                    || st.mem_vlog_bytes + separated as u64 > self.memtable_vlog_budget());
            if !full {
                let before = st.mem_vlog_bytes;
                st.mem_vlog_bytes += separated as u64;
                if before / VLOG_PRESYNC_BYTES != st.mem_vlog_bytes / VLOG_PRESYNC_BYTES {
                    st.vlog_presync = true;
                    self.bg_cv.notify_all();
                }
                break Ok(st.mem.clone());
            }
            if st.imms.len() >= o.max_immutable_memtables {
                if stalled.is_none() {
                    stalled = Some(Instant::now());
                    Counters::add(&self.counters.write_stalls, 1);
                }
                st = self.bg_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            if let Err(e) = self.freeze_locked(&mut st) {
                self.set_poison(&e);
                break Err(e);
            }
            if force {
                break Ok(st.mem.clone());
            }
        };
        if let Some(t) = stalled {
            Counters::add(
                &self.counters.write_stall_micros,
                t.elapsed().as_micros() as u64,
            );
        }
        out
    }

    /// Bytes of separated values after which the active memtable is frozen: the larger of
    /// `memtable_size` and `vlog_file_size`. A memtable of handles alone would hold some
    /// 300K of them (16 MiB), gigabytes of values, before a flush; until its entries are in
    /// tables, compaction cannot count the records its overwrites made garbage, and garbage
    /// collection sees nothing to collect.
    pub(crate) fn memtable_vlog_budget(&self) -> u64 {
        (self.opts.memtable_size as u64).max(self.opts.vlog_file_size)
    }

    /// Freezes the active memtable and starts a new WAL segment. The old segment is retired
    /// unsynced (`retired.rs`): no fsync waits in the writer's path, and a power loss still
    /// takes only a suffix of the unsynced writes (`wal/chain.rs`).
    fn freeze_locked(&self, st: &mut State) -> Result<()> {
        let number = st.versions.new_file_number();
        {
            let mut wal = lock(&self.wal);
            let next = LogWriter::create_preallocated(
                self.fs.clone(),
                &self.dir,
                wal_path(&self.dir, number),
                LogKind::Wal,
                number,
                WAL_PREALLOCATE_STEP,
            )?;
            if let Some(old) = wal.replace(next) {
                self.retire_segment(old);
            }
        }
        let old = std::mem::replace(
            &mut st.mem,
            Arc::new(Memtable::new(number, self.opts.memtable_size)),
        );
        st.imms.push_back(old);
        st.frozen_total += 1;
        st.mem_vlog_bytes = 0;
        self.install_sv(st);
        self.bg_cv.notify_all();
        Ok(())
    }

    /// Freezes the memtable and waits until every memtable frozen so far is flushed.
    pub fn flush(&self) -> Result<()> {
        self.freeze()?;
        let mut st = lock(&self.state);
        let target = st.frozen_total;
        while st.flushed_total < target {
            if let Some(msg) = self.poison.get() {
                return Err(Error::WritesStopped(msg.clone()));
            }
            if st.shutting_down {
                return Err(Error::Closed);
            }
            st = self.bg_cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        Ok(())
    }

    /// Makes every acknowledged write durable.
    pub fn sync(&self) -> Result<()> {
        self.check_writable()?;
        self.wait_durable(self.durable.written.load(Ordering::Acquire))
    }

    /// Body of the periodic WAL sync thread.
    pub fn periodic_sync_loop(&self, every: std::time::Duration) {
        loop {
            {
                let st = lock(&self.state);
                let (st, _) = self
                    .sync_cv
                    .wait_timeout(st, every)
                    .unwrap_or_else(|p| p.into_inner());
                if st.shutting_down {
                    return;
                }
            }
            if self.poison.get().is_some() {
                continue;
            }
            // A failure poisons the write path inside; the loop keeps waiting for shutdown.
            let _ = self.wait_durable(self.durable.written.load(Ordering::Acquire));
        }
    }
}
