//! Value readahead for forward scans over separated values.
//!
//! A scan over values kept in the value log spends most of its time resolving handles:
//! reading each record, checking its checksum and decompressing it (about 90% of a scan
//! over 64 KiB values). Once the front of an [`Iter`](super::db_iter::Iter) has resolved
//! [`AHEAD_AFTER`] handles, it steps its merge ahead of the caller by a window of
//! entries, and hands the window's handles to the database's readahead worker (the thread
//! of `sstable/readahead.rs`) as one batch. The caller then takes the window's entries in
//! order: a value the worker has resolved is taken as is; one it has not reached is
//! resolved here; and while the worker resolves one, the caller resolves the next
//! ([`Batch::take`]), so both cores resolve values.
//!
//! Windows start at [`FIRST_WINDOW`] entries and double up to [`MAX_WINDOW`], and stop
//! early once the records they point at pass [`MAX_WINDOW_BYTES`]: a short scan loads
//! little it will not use, and the values held ready stay bounded. What the worker has not
//! started when the iterator is dropped is cancelled. An error met while stepping ahead is
//! kept in its place and yielded after the entries before it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;

use super::db_iter::SourceFactory;
use crate::error::{Error, Result};
use crate::sstable::readahead::{Batch, Readahead};
use crate::vlog::format::Handle;

/// Handles a scan resolves itself before it reads values ahead: a point lookup through an
/// iterator, or a scan of a few entries, never wakes the worker.
pub(crate) const AHEAD_AFTER: usize = 4;

/// Entries in the first window.
const FIRST_WINDOW: usize = 4;

/// Entries in a window at most.
const MAX_WINDOW: usize = 128;

/// A window ends once its handles point at this many bytes of records.
const MAX_WINDOW_BYTES: u64 = 2 << 20;

/// A live entry stepped over ahead of the caller.
pub(crate) enum Found {
    /// A value stored in the tree.
    Value(Bytes),
    /// A value-log handle, not yet resolved.
    Pointer(Bytes),
}

/// An entry of the window: its value, or a handle whose value the batch resolves.
enum Slot {
    Value(Bytes),
    Pointer,
}

/// Values asked of the worker, one per handle of a window.
type ValueBatch = Batch<Result<Bytes>>;

/// The values a forward cursor resolves ahead of its caller.
pub(crate) struct ValueAhead {
    /// Entries stepped over and not yet taken; an error ends it.
    window: VecDeque<Result<(Bytes, Slot)>>,
    /// The batch resolving the window's handles, and the handles, in order.
    batch: Option<(ValueBatch, Arc<Vec<Bytes>>)>,
    /// Values the worker is resolving for this iterator (made with the first window: an
    /// iterator that never reads ahead allocates nothing here).
    in_flight: Option<Arc<InFlight>>,
    /// Handles the caller has resolved, up to [`AHEAD_AFTER`].
    resolved: usize,
    /// Entries in the next window.
    next_window: usize,
}

impl ValueAhead {
    pub(crate) fn new() -> ValueAhead {
        ValueAhead {
            window: VecDeque::new(),
            batch: None,
            in_flight: None,
            resolved: 0,
            next_window: FIRST_WINDOW,
        }
    }

    /// The window's next entry with its value, resolving it if need be; `None` once the
    /// window is empty.
    pub(crate) fn pop(
        &mut self,
        factory: &dyn SourceFactory,
    ) -> Option<Result<Option<(Bytes, Bytes)>>> {
        let (key, slot) = match self.window.pop_front()? {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        let value = match slot {
            Slot::Value(v) => Ok(v),
            Slot::Pointer => match self.batch.as_mut() {
                Some((b, handles)) => b.take(|i| factory.resolve(&handles[i])),
                None => unreachable!("a window with handles has a batch"),
            },
        };
        Some(value.map(|v| Some((key, v))))
    }

    /// Counts a handle the caller resolves; the size of the window to read ahead now, if
    /// it is time to.
    pub(crate) fn window_after_pointer(&mut self) -> Option<usize> {
        if self.resolved < AHEAD_AFTER {
            self.resolved += 1;
            return None;
        }
        let n = self.next_window;
        self.next_window = (n * 2).min(MAX_WINDOW);
        Some(n)
    }

    /// Reads ahead: takes up to `n` entries from `step` (fewer once their records pass
    /// [`MAX_WINDOW_BYTES`], `step` ends or fails) and queues their handles on `ra`.
    pub(crate) fn fill(
        &mut self,
        n: usize,
        ra: &Readahead,
        factory: &Arc<dyn SourceFactory>,
        mut step: impl FnMut() -> Result<Option<(Bytes, Found)>>,
    ) {
        debug_assert!(self.window.is_empty());
        let mut handles = Vec::new();
        let mut bytes = 0u64;
        while self.window.len() < n && bytes < MAX_WINDOW_BYTES {
            match step() {
                Ok(Some((k, Found::Value(v)))) => self.window.push_back(Ok((k, Slot::Value(v)))),
                Ok(Some((k, Found::Pointer(h)))) => {
                    // A malformed handle fails when it is resolved.
                    bytes += Handle::decode(&h).map_or(0, |h| h.len);
                    handles.push(h);
                    self.window.push_back(Ok((k, Slot::Pointer)));
                }
                Ok(None) => break,
                Err(e) => {
                    self.window.push_back(Err(e));
                    break;
                }
            }
        }
        let handles = Arc::new(handles);
        // The worker holds the sources weakly, and strongly only while it resolves a value
        // (counted in `in_flight`): a dropped iterator's queued loads pin no value-log file.
        let in_flight = self.in_flight.get_or_insert_with(Arc::default).clone();
        let (f, h) = (Arc::downgrade(factory), handles.clone());
        let load = move |i: usize| {
            let _counted = in_flight.enter();
            let sources = f.upgrade();
            match &sources {
                Some(f) => f.resolve(&h[i]),
                None => Err(Error::Closed),
            }
        };
        // (A replaced batch has had every load taken: dropping it cancels nothing.)
        self.batch = Some((ra.submit(handles.len(), load), handles));
    }
}

impl Drop for ValueAhead {
    /// Cancels what the worker has not started, and waits for the value it is resolving,
    /// if any: once an iterator is dropped, the worker holds none of its sources, so a
    /// value-log file that only it could read is deleted as it goes. (The wait is for one
    /// value at most, and only when the iterator is dropped mid-window.)
    fn drop(&mut self) {
        self.batch = None;
        if let Some(f) = &self.in_flight {
            f.wait_idle();
        }
    }
}

/// Values the worker is resolving for one iterator: each holds the iterator's sources.
#[derive(Default)]
struct InFlight {
    /// Values being resolved, and whether a drop waits for them to end.
    count: Mutex<(usize, bool)>,
    idle: Condvar,
}

/// One value being resolved; ends (and wakes a waiting drop) when dropped.
struct Counted<'a>(&'a InFlight);

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, (usize, bool)> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter(&self) -> Counted<'_> {
        self.lock().0 += 1;
        Counted(self)
    }

    /// Returns once no value is being resolved.
    fn wait_idle(&self) {
        let mut n = self.lock();
        while n.0 > 0 {
            n.1 = true;
            n = self.idle.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        let mut n = self.0.lock();
        n.0 -= 1;
        // Only a waiting drop needs the wake-up (a notify is a system call).
        if n.0 == 0 && n.1 {
            self.0.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::iter::db_iter::Iter;
    use crate::iter::InternalIterator;
    use crate::key::Kind;
    use crate::limits::SEQNO_MAX;
    use crate::memtable::Memtable;

    /// A memtable of `n` keys: every seventh a value in the tree, every eleventh deleted,
    /// the rest handles, resolved with a little work (as a decompression would), failing
    /// at `fail_at`.
    struct Fake {
        mem: Arc<Memtable>,
        ra: Option<Arc<Readahead>>,
        fail_at: Option<u64>,
        /// Handles resolved on the readahead worker.
        by_worker: AtomicUsize,
    }

    fn key(i: u64) -> Vec<u8> {
        format!("k{i:05}").into_bytes()
    }

    fn fake(n: u64, ahead: bool, fail_at: Option<u64>) -> Arc<Fake> {
        let mem = Arc::new(Memtable::new(1, 1 << 20));
        for i in 0..n {
            let (kind, v) = match i {
                _ if i % 11 == 0 => (Kind::Delete, Vec::new()),
                _ if i % 7 == 0 => (Kind::Put, format!("inline{i}").into_bytes()),
                _ => {
                    let h = Handle {
                        file: 1,
                        offset: i,
                        len: 100,
                    };
                    (Kind::Pointer, h.encode())
                }
            };
            mem.add(i + 1, kind, &key(i), &v);
        }
        Arc::new(Fake {
            mem,
            ra: ahead.then(|| Readahead::start().unwrap()),
            fail_at,
            by_worker: AtomicUsize::new(0),
        })
    }

    impl SourceFactory for Fake {
        fn sources(&self, _: Bound<&[u8]>, _: Bound<&[u8]>) -> Vec<Box<dyn InternalIterator>> {
            vec![Box::new(self.mem.iter())]
        }

        fn resolve(&self, handle: &[u8]) -> Result<Bytes> {
            let h = Handle::decode(handle).expect("a handle");
            if Some(h.offset) == self.fail_at {
                return Err(crate::Error::corruption("1.vlog", h.offset, "damaged"));
            }
            if std::thread::current().name() == Some("stratakv-readahead") {
                self.by_worker.fetch_add(1, Ordering::Relaxed);
            }
            let t = std::time::Instant::now();
            while t.elapsed() < std::time::Duration::from_micros(20) {
                std::hint::spin_loop();
            }
            Ok(Bytes::from(format!("value{}", h.offset)))
        }

        fn readahead(&self) -> Option<&Arc<Readahead>> {
            self.ra.as_ref()
        }
    }

    fn expected(n: u64) -> Vec<(Bytes, Bytes)> {
        (0..n)
            .filter(|i| i % 11 != 0)
            .map(|i| {
                let v = if i % 7 == 0 {
                    format!("inline{i}")
                } else {
                    format!("value{i}")
                };
                (Bytes::from(key(i)), Bytes::from(v))
            })
            .collect()
    }

    fn iter(f: &Arc<Fake>) -> Iter {
        let factory: Arc<dyn SourceFactory> = f.clone();
        Iter::new(factory, SEQNO_MAX, Bound::Unbounded, Bound::Unbounded)
    }

    #[test]
    fn a_scan_read_ahead_yields_every_entry_in_order_and_the_worker_resolves_some() {
        for ahead in [false, true] {
            let f = fake(2000, ahead, None);
            let got: Vec<_> = iter(&f).map(|r| r.unwrap()).collect();
            assert_eq!(got, expected(2000), "readahead {ahead}");
            let by_worker = f.by_worker.load(Ordering::Relaxed);
            assert_eq!(
                by_worker > 0,
                ahead,
                "values resolved by the worker: {by_worker}"
            );
        }
    }

    #[test]
    fn ends_meet_while_the_front_has_read_ahead() {
        let f = fake(500, true, None);
        let mut it = iter(&f);
        let mut front: Vec<_> = (&mut it).take(100).map(|r| r.unwrap()).collect();
        // The front has stepped its merge past what it returned; the back must still
        // yield everything after it, once.
        let mut back: Vec<_> = std::iter::from_fn(|| it.next_back())
            .map(|r| r.unwrap())
            .collect();
        assert!(it.next().is_none(), "the ends met");
        back.reverse();
        front.extend(back);
        assert_eq!(front, expected(500));
    }

    #[test]
    fn an_error_read_ahead_comes_after_the_entries_before_it_and_ends_the_scan() {
        for fail_at in [5, 40, 333] {
            let f = fake(500, true, Some(fail_at));
            let mut it = iter(&f);
            let before: Vec<_> = expected(500)
                .into_iter()
                .take_while(|(k, _)| k[..] < key(fail_at)[..])
                .collect();
            for want in &before {
                assert_eq!(&it.next().unwrap().unwrap(), want, "fail at {fail_at}");
            }
            let e = it.next().unwrap().unwrap_err();
            assert_eq!(e.corruption_location().map(|l| l.1), Some(fail_at));
            assert!(it.next().is_none(), "the scan ends after its error");
        }
    }

    #[test]
    fn a_dropped_iterator_leaves_the_worker_holding_none_of_its_sources() {
        let f = fake(3000, true, None);
        for stop in [6, 20, 100, 1000] {
            let mut it = iter(&f);
            for _ in 0..stop {
                it.next().unwrap().unwrap();
            }
            drop(it);
            assert_eq!(Arc::strong_count(&f), 1, "after {stop} entries");
        }
    }

    #[test]
    fn windows_grow_to_the_cap_after_the_first_handles() {
        let mut a = ValueAhead::new();
        let sizes: Vec<_> = (0..12).map(|_| a.window_after_pointer()).collect();
        let mut want = vec![None; AHEAD_AFTER];
        let mut n = FIRST_WINDOW;
        while want.len() < 12 {
            want.push(Some(n));
            n = (n * 2).min(MAX_WINDOW);
        }
        assert_eq!(sizes, want);
        assert_eq!(want.last(), Some(&Some(MAX_WINDOW)), "reaches the cap");
    }
}
