//! The write path: group commit, memtable rotation, stalls, fail-stop.
//!
//! Writers queue up; the one at the front becomes the leader, takes the batches queued
//! behind it (up to `GROUP_COMMIT_MAX_BYTES`), and for all of them makes room in the
//! memtable, appends one WAL record, fsyncs at most once (when any writer asked for it or
//! `SyncMode::Always`), inserts into the memtable, and publishes the new visible sequence
//! number. Then it hands each follower the shared result and wakes the next leader.
//!
//! A failed WAL write or sync poisons the write path: that group and every later write get
//! an error until the store is reopened; nothing is reported durable that was not.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
use crate::wal::format::{LogKind, RecordType, RECORD_HEADER_BYTES};
use crate::wal::LogWriter;

/// What a queued writer asks for.
#[derive(Debug)]
pub(crate) enum Request {
    /// Apply a batch.
    Write { batch: WriteBatch, sync: bool },
    /// Freeze the active memtable so it gets flushed.
    Freeze,
}

/// A queued request and, once the leader is done, its result.
#[derive(Debug)]
pub(crate) struct Slot {
    req: Request,
    result: Mutex<Option<Result<()>>>,
}

/// Calls `f(kind, key, value)` for each record of an encoded batch made by this process.
fn for_each_record(records: &[u8], mut f: impl FnMut(Kind, &[u8], &[u8])) {
    let mut r = Reader::new(records);
    while !r.is_empty() {
        let step = (|| {
            let kind = Kind::from_tag(r.u8()?)?;
            let key = r.length_prefixed()?;
            let value = match kind {
                Kind::Put => r.length_prefixed()?,
                Kind::Delete => &[][..],
            };
            Some((kind, key, value))
        })();
        match step {
            Some((kind, key, value)) => f(kind, key, value),
            None => {
                debug_assert!(false, "a batch built in this process is malformed");
                return;
            }
        }
    }
}

impl Engine {
    /// Applies a validated batch atomically.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        self.check_writable()?;
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        self.submit(Request::Write { batch, sync })
    }

    /// Freezes the active memtable (through the queue, so it is ordered with writes).
    pub fn freeze(&self) -> Result<()> {
        self.check_writable()?;
        self.submit(Request::Freeze)
    }

    fn submit(&self, req: Request) -> Result<()> {
        let slot = Arc::new(Slot {
            req,
            result: Mutex::new(None),
        });
        let mut q = lock(&self.queue);
        q.push_back(slot.clone());
        loop {
            if let Some(r) = lock(&slot.result).take() {
                return r;
            }
            if q.front().is_some_and(|f| Arc::ptr_eq(f, &slot)) {
                break;
            }
            q = self.queue_cv.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        // This writer leads: take the writes queued behind it.
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
        let result = match &slot.req {
            Request::Freeze => self.make_room(0, true).map(|_| ()),
            Request::Write { .. } => self.commit_group(&group),
        };
        let mut q = lock(&self.queue);
        for s in &group {
            let front = q.pop_front();
            debug_assert!(front.is_some_and(|f| Arc::ptr_eq(&f, s)));
            if !Arc::ptr_eq(s, &slot) {
                let r = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.duplicate()),
                };
                *lock(&s.result) = Some(r);
            }
        }
        // Wake followers for their results and the next leader; skip the futex wake (a
        // syscall) when nobody waits.
        if group.len() > 1 || !q.is_empty() {
            self.queue_cv.notify_all();
        }
        result
    }

    fn commit_group(&self, group: &[Arc<Slot>]) -> Result<()> {
        let mut batches = Vec::with_capacity(group.len());
        let mut sync = self.opts.wal_sync == SyncMode::Always;
        for s in group {
            if let Request::Write { batch, sync: s } = &s.req {
                batches.push(batch);
                sync |= *s;
            }
        }
        let bytes: usize = batches.iter().map(|b| b.encoded_len()).sum();
        let mem = self.make_room(bytes, false)?;
        let first = self.last_seq.load(Ordering::Relaxed) + 1;
        let (header, count) = group_header(&batches, first);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(batches.len() + 1);
        parts.push(&header);
        parts.extend(batches.iter().map(|b| b.records()));
        let last = first + u64::from(count) - 1;
        if last > SEQNO_MAX {
            let e = Error::invalid("sequence numbers are exhausted");
            self.set_poison(&e);
            return Err(e);
        }
        {
            let mut wal = lock(&self.wal);
            let w = wal.as_mut().ok_or(Error::Closed)?;
            let r = w
                .add_record_parts(RecordType::WalBatch, &parts)
                .and_then(|()| {
                    if sync {
                        Counters::add(&self.counters.wal_syncs, 1);
                        w.sync()
                    } else {
                        Ok(())
                    }
                });
            if let Err(e) = r {
                self.set_poison(&e);
                return Err(e);
            }
        }
        let mut seq = first;
        for b in &batches {
            for_each_record(b.records(), |kind, key, value| {
                mem.add(seq, kind, key, value);
                seq += 1;
            });
        }
        debug_assert_eq!(seq, last + 1);
        self.last_seq.store(last, Ordering::Relaxed);
        self.visible_seq.store(last, Ordering::Release);
        let c = &self.counters;
        Counters::add(&c.writes, group.len() as u64);
        Counters::add(&c.write_groups, 1);
        let wal_bytes: usize = parts.iter().map(|p| p.len()).sum::<usize>() + RECORD_HEADER_BYTES;
        Counters::add(&c.wal_bytes_written, wal_bytes as u64);
        let payload: usize = batches.iter().map(|b| b.payload_bytes()).sum();
        Counters::add(&c.user_bytes_written, payload as u64);
        Ok(())
    }

    /// Returns the memtable to insert `bytes` into, freezing the active one when it is full
    /// (or when `force`), and waiting while too many frozen memtables await flush.
    fn make_room(&self, bytes: usize, force: bool) -> Result<Arc<Memtable>> {
        let mut st = lock(&self.state);
        let mut stalled: Option<Instant> = None;
        let out = loop {
            if st.shutting_down {
                break Err(Error::Closed);
            }
            if let Some(msg) = self.poison.get() {
                break Err(Error::WritesStopped(msg.clone()));
            }
            let full = !st.mem.is_empty()
                && (force || st.mem.approximate_bytes() + bytes > self.opts.memtable_size);
            if !full {
                break Ok(st.mem.clone());
            }
            if st.imms.len() >= self.opts.max_immutable_memtables {
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

    /// Freezes the active memtable and starts a new WAL segment. The old segment is synced
    /// first, so a power loss can only ever lose a suffix of the writes.
    fn freeze_locked(&self, st: &mut State) -> Result<()> {
        let number = st.versions.new_file_number();
        let w = LogWriter::create(
            self.fs.clone(),
            &self.dir,
            wal_path(&self.dir, number),
            LogKind::Wal,
            number,
        )?;
        {
            let mut wal = lock(&self.wal);
            if let Some(old) = wal.as_mut() {
                old.sync()?;
            }
            *wal = Some(w);
        }
        let old = std::mem::replace(&mut st.mem, Arc::new(Memtable::new(number, self.opts.memtable_size)));
        st.imms.push_back(old);
        st.frozen_total += 1;
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
        let mut wal = lock(&self.wal);
        let w = wal.as_mut().ok_or(Error::Closed)?;
        Counters::add(&self.counters.wal_syncs, 1);
        w.sync().inspect_err(|e| self.set_poison(e))
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
            let mut wal = lock(&self.wal);
            if let Some(w) = wal.as_mut() {
                Counters::add(&self.counters.wal_syncs, 1);
                if let Err(e) = w.sync() {
                    self.set_poison(&e);
                }
            }
        }
    }
}
