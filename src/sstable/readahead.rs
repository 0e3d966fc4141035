//! Readahead for sequential scans: a background thread reads and decompresses the data
//! blocks a table iterator will reach next, so that a long scan on one thread has its
//! block loads (`pread`, checksum, decompression: about a third of a scan over uncached
//! tables) done on another core while it works on the blocks it has.
//!
//! A table iterator that has loaded [`READAHEAD_AFTER_LOADS`] blocks in a row going
//! forward asks for the next `Options::readahead_blocks` blocks here, and for the next
//! half of that window each time half of it has been read (one wake-up of the worker per
//! batch), as RocksDB's auto-readahead does for scans that keep going.
//! A batch is a [`Batch`]: the worker loads its blocks in order, except those the iterator
//! got to first. An iterator that reaches a block still queued loads it itself, and one
//! that reaches the block the worker is loading loads the next queued one meanwhile, or,
//! with none left, that block too ([`Batch::take`]): a busy or descheduled worker never
//! makes a scan wait. An iterator that seeks elsewhere, turns back or is dropped cancels
//! what it queued; a load already running finishes and is dropped.
//!
//! Forward scans over value-log values use the same worker for the values they are about
//! to reach (`iter/ahead.rs`).
//!
//! The worker is one thread per database; it ends when the database and every table that
//! could queue work on it are gone.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

/// Blocks an iterator loads in a row, going forward, before it reads ahead: a seek
/// followed by a short scan (up to a few hundred small entries per table) never wakes the
/// worker for blocks it would drop. Measured: at 3, `seekrandom` with 100 nexts lost
/// 20-40% to the wake-ups and to loads of blocks the scan never reached.
pub const READAHEAD_AFTER_LOADS: usize = 8;

type Job = Box<dyn FnOnce() + Send>;

/// The readahead worker of one database.
#[derive(Debug)]
pub struct Readahead {
    tx: mpsc::Sender<Job>,
}

impl Readahead {
    /// Starts the worker thread.
    ///
    /// # Errors
    ///
    /// The thread could not be spawned.
    pub fn start() -> std::io::Result<Arc<Readahead>> {
        Readahead::start_with(|| {})
    }

    /// As [`Readahead::start`]; the worker calls `on_exit` as it ends.
    fn start_with(on_exit: impl FnOnce() + Send + 'static) -> std::io::Result<Arc<Readahead>> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("stratakv-readahead".into())
            .spawn(move || {
                // Ends when the sender (in the `Readahead`) is dropped. That may happen in
                // this very thread, when a job held the last table holding the readahead.
                while let Ok(job) = rx.recv() {
                    job();
                }
                on_exit();
            })?;
        Ok(Arc::new(Readahead { tx }))
    }

    /// Queues `n` loads for the worker as one batch (one wake-up): the worker calls
    /// `load(i)` for `i` in `0..n`, in order, skipping those taken back. A worker that is
    /// gone leaves them queued forever: the iterator loads them itself.
    pub fn submit<T, F>(&self, n: usize, load: F) -> Batch<T>
    where
        T: Send + 'static,
        F: Fn(usize) -> T + Send + 'static,
    {
        let shared = Arc::new(Shared {
            slots: Mutex::new((0..n).map(|_| State::Queued).collect()),
            len: n,
        });
        let s = shared.clone();
        let job: Job = Box::new(move || {
            for i in 0..n {
                s.run(i, || load(i));
            }
        });
        if n > 0 {
            let _ = self.tx.send(job);
        }
        Batch {
            shared,
            next: 0,
            held: Vec::new(),
        }
    }
}

enum State<T> {
    /// In the worker's queue.
    Queued,
    /// The worker is loading it; `wanted` unless the iterator loaded it itself meanwhile
    /// (the result is then dropped).
    Running { wanted: bool },
    /// Loaded, not yet taken.
    Done(T),
    /// Taken, cancelled, or loaded by the iterator itself.
    Gone,
}

/// What a batch's iterator and the worker share: a slot per load, under one lock.
struct Shared<T> {
    slots: Mutex<Box<[State<T>]>>,
    len: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Box<[State<T>]>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The worker's side: loads slot `i` unless the iterator took it back.
    fn run(&self, i: usize, load: impl FnOnce() -> T) {
        {
            let mut s = self.lock();
            if !matches!(s[i], State::Queued) {
                return;
            }
            s[i] = State::Running { wanted: true };
        }
        let v = load();
        let mut s = self.lock();
        // A load the iterator did meanwhile is not wanted: the result is dropped.
        if matches!(s[i], State::Running { wanted: true }) {
            s[i] = State::Done(v);
        } else {
            s[i] = State::Gone;
        }
    }

    /// Cancels the loads from `from` on that the worker has not started; drops results.
    fn cancel(&self, from: usize) {
        let mut s = self.lock();
        for st in s.iter_mut().skip(from) {
            if matches!(st, State::Queued | State::Done(_)) {
                *st = State::Gone;
            }
        }
    }
}

/// Loads asked of the worker in one batch, held by the iterator that asked, and taken in
/// order. Dropping it cancels those the worker has not started.
pub struct Batch<T> {
    shared: Arc<Shared<T>>,
    /// The next load to take.
    next: usize,
    /// Later loads done here while the worker was on an earlier one
    /// ([`Batch::take`]), with their indexes.
    held: Vec<(usize, T)>,
}

impl<T> std::fmt::Debug for Batch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("loads", &self.shared.len)
            .field("next", &self.next)
            .finish()
    }
}

impl<T> Batch<T> {
    /// Which load comes next (0 for the batch's first).
    pub fn next_index(&self) -> usize {
        self.next
    }

    /// Loads not yet taken.
    pub fn left(&self) -> usize {
        self.shared.len - self.next
    }

    /// True once the worker has done the next load.
    #[cfg(test)]
    pub(crate) fn next_is_done(&self) -> bool {
        matches!(self.shared.lock()[self.next], State::Done(_))
    }

    /// The next load's result: the worker's when it has done it; when the worker has not
    /// started on it, `load(i)`'s for its index `i` (and the worker skips it). It never
    /// waits for the worker: when the worker is on the next load, the iterator does the
    /// first load still queued after it (`load(j)` for its index `j`) and keeps the result
    /// for when it is taken; when none is left, it does the next load itself too, and the
    /// worker's result is dropped. Both cores then load, the worker the loads it reaches
    /// first and the iterator the others, and a worker that is slow or not scheduled never
    /// holds the iterator up: on two cores a wait for a preempted worker lasted up to a
    /// scheduler tick, and made scans over separated values 2-3x slower than loading
    /// everything in the iterator.
    ///
    /// # Panics
    ///
    /// When no load is left.
    pub fn take(&mut self, mut load: impl FnMut(usize) -> T) -> T {
        let i = self.next;
        assert!(i < self.shared.len, "no load left in the batch");
        self.next += 1;
        if let Some(p) = self.held.iter().position(|(j, _)| *j == i) {
            return self.held.swap_remove(p).1;
        }
        loop {
            let mut s = self.shared.lock();
            match std::mem::replace(&mut s[i], State::Gone) {
                State::Done(v) => return v,
                State::Queued | State::Gone => {
                    drop(s);
                    return load(i);
                }
                State::Running { .. } => {
                    let Some(j) = (i + 1..self.shared.len).find(|&j| matches!(s[j], State::Queued))
                    else {
                        s[i] = State::Running { wanted: false };
                        drop(s);
                        return load(i);
                    };
                    s[j] = State::Gone;
                    s[i] = State::Running { wanted: true };
                    drop(s);
                    let v = load(j);
                    self.held.push((j, v));
                }
            }
        }
    }
}

impl<T> Drop for Batch<T> {
    /// Cancels the loads the worker has not started; drops results not taken.
    fn drop(&mut self) {
        if self.next < self.shared.len {
            self.shared.cancel(self.next);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::channel;
    use std::time::{Duration, Instant};

    use super::*;

    /// A batch of one load that blocks the worker until the returned sender sends (or is
    /// dropped); returns once the worker is in it.
    fn block_worker(ra: &Readahead) -> (mpsc::Sender<()>, Batch<()>) {
        let (g, go, is_started) = gate();
        let b = ra.submit(1, move |_| g.stop());
        is_started.recv().unwrap();
        (go, b)
    }

    /// A place a load stops at: [`Gate::stop`] tells the test the load got there, then
    /// blocks until the test sends on the gate's sender (or drops it).
    struct Gate {
        started: Mutex<mpsc::Sender<()>>,
        wait: Mutex<mpsc::Receiver<()>>,
    }

    impl Gate {
        fn stop(&self) {
            self.started.lock().unwrap().send(()).unwrap();
            let _ = self.wait.lock().unwrap().recv();
        }
    }

    /// A gate, the sender that opens it, and the receiver told when a load reaches it.
    fn gate() -> (Gate, mpsc::Sender<()>, mpsc::Receiver<()>) {
        let (go, wait) = channel::<()>();
        let (started, is_started) = channel::<()>();
        let g = Gate {
            started: Mutex::new(started),
            wait: Mutex::new(wait),
        };
        (g, go, is_started)
    }

    /// Returns once the worker has run everything queued before this call.
    fn worker_past_earlier_batches(ra: &Readahead) {
        let (marked, is_marked) = channel::<()>();
        let marked = Mutex::new(marked);
        let _marker = ra.submit(1, move |_| marked.lock().unwrap().send(()).unwrap());
        is_marked.recv().unwrap();
    }

    fn wait_done<T>(b: &Batch<T>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !b.next_is_done() {
            assert!(Instant::now() < deadline, "the worker never ran");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_worker_loads_in_order_and_the_iterator_takes_its_results() {
        let ra = Readahead::start().unwrap();
        let mut b = ra.submit(3, |i| i * 10);
        for want in [0, 10, 20] {
            wait_done(&b);
            assert_eq!(
                b.take(|_| panic!("loaded here although the worker had")),
                want
            );
        }
        assert_eq!(b.left(), 0);
    }

    #[test]
    fn queued_loads_are_taken_back_or_cancelled_and_never_run_by_the_worker() {
        let ra = Readahead::start().unwrap();
        let (go, _busy) = block_worker(&ra);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let mut b = ra.submit(3, move |i| {
            r.fetch_add(1, Ordering::SeqCst);
            i
        });
        assert_eq!(b.take(|_| 100), 100, "a queued load is loaded here");
        drop(b); // cancels the other two
        go.send(()).unwrap();
        worker_past_earlier_batches(&ra);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_iterator_that_would_wait_does_the_queued_loads_and_then_the_running_one_itself() {
        let ra = Readahead::start().unwrap();
        let (g, go, is_started) = gate();
        let worker_ran = Arc::new(Mutex::new(Vec::new()));
        let ran = worker_ran.clone();
        let mut b = ra.submit(4, move |i| {
            ran.lock().unwrap().push(i);
            if i == 0 {
                g.stop();
            }
            (i, "worker")
        });
        is_started.recv().unwrap();
        // The worker is stuck in load 0: taking it does 1, 2 and 3 here, then 0.
        let here = std::cell::RefCell::new(Vec::new());
        let load_here = |j: usize| {
            here.borrow_mut().push(j);
            (j, "here")
        };
        assert_eq!(b.take(load_here), (0, "here"));
        assert_eq!(*here.borrow(), vec![1, 2, 3, 0]);
        go.send(()).unwrap();
        for want in 1..4 {
            assert_eq!(b.take(|_| panic!("loaded twice")), (want, "here"));
        }
        assert_eq!(b.left(), 0);
        worker_past_earlier_batches(&ra);
        assert_eq!(
            *worker_ran.lock().unwrap(),
            vec![0],
            "the worker did loads taken from it"
        );
    }

    #[test]
    fn an_iterator_takes_what_the_worker_did_and_helps_while_it_runs() {
        let ra = Readahead::start().unwrap();
        let (g, go, is_started) = gate();
        let mut b = ra.submit(3, move |i| {
            if i == 1 {
                g.stop();
            }
            (i, "worker")
        });
        // The worker did 0 and is stuck in 1.
        is_started.recv().unwrap();
        assert_eq!(b.take(|_| panic!("done by the worker")), (0, "worker"));
        let mut here = Vec::new();
        assert_eq!(
            b.take(|j| {
                here.push(j);
                (j, "here")
            }),
            (1, "here")
        );
        assert_eq!(here, vec![2, 1]);
        go.send(()).unwrap();
        assert_eq!(b.take(|_| panic!("loaded twice")), (2, "here"));
    }

    #[test]
    fn the_worker_ends_when_the_readahead_is_dropped() {
        let (exited, has_exited) = channel::<()>();
        let ra = Readahead::start_with(move || exited.send(()).unwrap()).unwrap();
        let mut b = ra.submit(1, |_| 3);
        assert_eq!(b.take(|_| 3), 3);
        assert!(
            has_exited.try_recv().is_err(),
            "the worker ended while in use"
        );
        drop(ra);
        has_exited
            .recv_timeout(Duration::from_secs(60))
            .expect("the worker outlived its readahead");
    }
}
