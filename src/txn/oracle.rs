//! The oracle: read timestamps, the window of recently committed write sets, and the
//! serial point where a commit is validated and queued for writing.
//!
//! A transaction begins at the visible sequence number (its read timestamp), registered
//! under the oracle's lock together with a snapshot, so that compaction keeps every version
//! it can read (the watermark is the oldest registered snapshot).
//!
//! A commit takes the commit lock only to validate its read set against every write set
//! committed (or queued) after its read timestamp, to enter its write set in the window as
//! *pending*, and to queue its batch on the group-commit path; it writes, and waits for the
//! write, after releasing the lock, so commits of several threads share WAL appends. The
//! write path gives sequence numbers in queue order, so the order of sequence numbers is the
//! order of validation: each commit was validated against every commit ordered before it.
//! A pending entry counts as later than every read timestamp until its write finishes and
//! its sequence number is known; a failed write removes it.
//!
//! A validation that fails on a pending entry returns only once that entry settles: a
//! retry begun earlier would read what the pending commit overwrites and fail again.
//!
//! A pending entry carries its write set only when another transaction was open when it was
//! queued. One that begins later, while the entry is still pending, needs the write set too:
//! the committing transaction builds it when it finishes (it knows then which open
//! transactions began before its sequence number), and a validation that meets a pending
//! entry without a write set waits for that. Write sets are kept only while an open
//! transaction began before them; older ones are pruned.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::conflict::{conflicts, ReadSet, WriteSet};

/// The sequence number of a commit whose write has not finished.
const PENDING: u64 = u64::MAX;

#[derive(Debug)]
struct Commit {
    /// Sequence number of the commit's batch, or `PENDING`.
    seq: u64,
    /// Identifies the entry while pending.
    id: u64,
    /// `None` only while pending and not (yet) needed by anyone.
    writes: Option<Arc<WriteSet>>,
}

#[derive(Debug, Default)]
struct State {
    /// Commits in queue order, which is ascending sequence-number order.
    committed: VecDeque<Commit>,
    /// Read timestamps of open transactions -> count.
    open: BTreeMap<u64, usize>,
    next_id: u64,
    /// Validations waiting for a pending commit's write set (a notify is a syscall).
    waiting: usize,
}

/// A validation's conflict: the id of the latest conflicting commit still pending, if any.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct Conflicting(Option<u64>);

/// A commit queued by [`Oracle::queue`], to be settled by [`Oracle::settle`].
#[derive(Debug)]
#[must_use]
pub struct Ticket(u64);

/// The transaction oracle of one engine.
#[derive(Debug, Default)]
pub struct Oracle {
    state: Mutex<State>,
    /// Signalled when a pending commit settles.
    settled: Condvar,
    commit: Mutex<()>,
    /// Commits rejected with a conflict.
    pub conflicts: AtomicU64,
    /// Transactions committed with writes.
    pub commits: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when a transaction other than the one registered at `own_ts` began before `seq`.
fn others_before(st: &State, seq: u64, own_ts: u64) -> bool {
    st.open
        .range(..seq)
        .map(|(&ts, &n)| if ts == own_ts { n - 1 } else { n })
        .any(|n| n > 0)
}

impl Oracle {
    /// Registers a transaction; `read_ts` is called under the oracle lock and returns the
    /// read timestamp (and registers the snapshot).
    pub fn begin(&self, read_ts: impl FnOnce() -> u64) -> u64 {
        let mut st = lock(&self.state);
        let ts = read_ts();
        *st.open.entry(ts).or_insert(0) += 1;
        ts
    }

    /// Unregisters a transaction that began at `ts`.
    pub fn end(&self, ts: u64) {
        let mut st = lock(&self.state);
        if let Some(n) = st.open.get_mut(&ts) {
            *n -= 1;
            if *n == 0 {
                st.open.remove(&ts);
            }
        }
        Self::prune(&mut st);
    }

    fn prune(st: &mut State) {
        let oldest = st.open.keys().next().copied();
        while let Some(c) = st.committed.front() {
            // A pending commit stays: its sequence number is not known yet.
            if c.seq != PENDING && oldest.is_none_or(|o| c.seq <= o) {
                st.committed.pop_front();
            } else {
                break;
            }
        }
    }

    /// Serializes validation and queueing: take it, call [`Oracle::has_conflict`], then
    /// [`Oracle::queue`] and queue the batch, then release it before waiting for the write.
    pub fn commit_guard(&self) -> MutexGuard<'_, ()> {
        lock(&self.commit)
    }

    /// Whether a transaction that read `read` at `ts` conflicts with a later commit, pending
    /// ones included: `Some` when it does. Call under the commit guard.
    pub fn has_conflict(&self, ts: u64, read: &ReadSet) -> Option<Conflicting> {
        let mut st = lock(&self.state);
        // A pending commit queued while nobody else was open has no write set yet: its
        // transaction builds it when its write finishes, and this one is open now.
        while st.committed.iter().any(|c| c.writes.is_none()) {
            st.waiting += 1;
            st = self.settled.wait(st).unwrap_or_else(|p| p.into_inner());
            st.waiting -= 1;
        }
        let (mut hit, mut pending) = (false, None);
        for c in st.committed.iter().filter(|c| c.seq > ts) {
            if c.writes.as_ref().is_some_and(|w| conflicts(read, w)) {
                hit = true;
                // The latest pending one is the one a retry must wait for.
                if c.seq == PENDING {
                    pending = Some(c.id);
                }
            }
        }
        if hit {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        hit.then_some(Conflicting(pending))
    }

    /// Waits until the pending commit that `c` conflicted with (if it was pending) has
    /// finished its write, so that a retry begun after this reads what it wrote instead of
    /// conflicting with it again. Call without the commit guard.
    pub fn wait_settled(&self, c: &Conflicting) {
        let Some(id) = c.0 else { return };
        let mut st = lock(&self.state);
        // Settling either gives the entry its sequence number or removes it (a failed
        // write); either ends the wait.
        while st.committed.iter().any(|e| e.id == id && e.seq == PENDING) {
            st.waiting += 1;
            st = self.settled.wait(st).unwrap_or_else(|p| p.into_inner());
            st.waiting -= 1;
        }
    }

    /// Enters a validated commit of the transaction registered at `own_ts` as pending;
    /// `writes` makes its write set, called now only when another transaction is open.
    /// Call under the commit guard, then queue the batch before releasing the guard.
    pub fn queue(&self, own_ts: u64, writes: impl FnOnce() -> WriteSet) -> Ticket {
        let mut st = lock(&self.state);
        let id = st.next_id;
        st.next_id += 1;
        let writes = others_before(&st, PENDING, own_ts).then(|| Arc::new(writes()));
        st.committed.push_back(Commit {
            seq: PENDING,
            id,
            writes,
        });
        Ticket(id)
    }

    /// Settles a queued commit: `seq` is its batch's sequence number, or `None` when the
    /// write failed (nothing was applied) and the entry goes. `writes` makes the write set
    /// if the entry lacks it and a transaction that began before `seq` is open.
    pub fn settle(
        &self,
        t: Ticket,
        seq: Option<u64>,
        own_ts: u64,
        writes: impl FnOnce() -> WriteSet,
    ) {
        let mut st = lock(&self.state);
        if let Some(i) = st.committed.iter().rposition(|c| c.id == t.0) {
            match seq {
                // Transactions that begin from now on see the write: only those open now
                // that began before it can conflict with it.
                Some(seq) if others_before(&st, seq, own_ts) => {
                    let c = &mut st.committed[i];
                    c.seq = seq;
                    if c.writes.is_none() {
                        c.writes = Some(Arc::new(writes()));
                    }
                }
                _ => {
                    st.committed.remove(i);
                }
            }
            if seq.is_some() {
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            debug_assert!(false, "a ticket's commit is in the window until settled");
        }
        Self::prune(&mut st);
        if st.waiting > 0 {
            self.settled.notify_all();
        }
    }

    /// Write sets held now (for stats and tests).
    pub fn window_len(&self) -> usize {
        lock(&self.state).committed.len()
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;

    use super::*;

    fn record(o: &Oracle, seq: u64, own: u64, ws: &WriteSet) {
        let t = o.queue(own, || ws.clone());
        o.settle(t, Some(seq), own, || ws.clone());
    }

    /// An oracle with two transactions open at `ts` and the first one's commit of `k`
    /// queued: (oracle, committing, other, write set, ticket).
    fn queued_with_another_open(ts: u64) -> (Oracle, u64, u64, WriteSet, Ticket) {
        let o = Oracle::default();
        let own = o.begin(|| ts);
        let other = o.begin(|| ts);
        let ws = WriteSet::new(&[b"k".to_vec()]);
        let t = o.queue(own, || ws.clone());
        (o, own, other, ws, t)
    }

    fn reads(key: &[u8]) -> ReadSet {
        let mut r = ReadSet::default();
        r.add_key(key);
        r
    }

    #[test]
    fn window_holds_only_what_open_transactions_need() {
        let o = Oracle::default();
        let t = o.begin(|| 10);
        let ws = WriteSet::new(&[b"k".to_vec()]);
        record(&o, 11, 99, &ws);
        let r = reads(b"k");
        assert!(o.has_conflict(t, &r).is_some());
        assert!(
            o.has_conflict(11, &r).is_none(),
            "committed before it began"
        );
        o.end(t);
        assert_eq!(o.window_len(), 0, "pruned once nobody needs it");
        record(&o, 12, 99, &ws);
        assert_eq!(o.window_len(), 0, "nothing kept with no open transaction");
        let own = o.begin(|| 12);
        record(&o, 13, own, &ws);
        assert_eq!(
            o.window_len(),
            0,
            "the committing transaction alone needs nothing"
        );
        let other = o.begin(|| 12);
        record(&o, 14, own, &ws);
        assert_eq!(o.window_len(), 1, "another open transaction may need it");
        o.end(own);
        o.end(other);
        let mut all = ReadSet::default();
        all.add_range(Bound::Unbounded, Bound::Unbounded);
        assert!(o.has_conflict(0, &all).is_none());
    }

    #[test]
    fn a_pending_commit_is_later_than_every_read_timestamp() {
        let (o, own, other, ws, t) = queued_with_another_open(20);
        assert!(
            o.has_conflict(other, &reads(b"k")).is_some(),
            "queued, not yet written"
        );
        assert!(o.has_conflict(other, &reads(b"j")).is_none());
        o.settle(t, Some(21), own, || ws.clone());
        assert!(o.has_conflict(other, &reads(b"k")).is_some());
        o.end(own);
        o.end(other);
        assert_eq!(o.window_len(), 0);
    }

    #[test]
    fn a_conflict_with_a_pending_commit_waits_until_it_settles() {
        let (o, own, other, ws, t) = queued_with_another_open(40);
        let o = Arc::new(o);
        let c = o
            .has_conflict(other, &reads(b"k"))
            .expect("pending commit of k");
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let o = o.clone();
            std::thread::spawn(move || {
                o.wait_settled(&c);
                tx.send(()).unwrap();
            })
        };
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(50))
                .is_err(),
            "returned while the commit was still writing"
        );
        o.settle(t, Some(41), own, || ws.clone());
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("woken by the settle");
        waiter.join().unwrap();
        // A conflict with a commit already settled waits for nothing.
        let settled = o
            .has_conflict(other, &reads(b"k"))
            .expect("k changed at 41");
        o.wait_settled(&settled);
        o.end(own);
        o.end(other);
    }

    #[test]
    fn a_failed_write_leaves_no_commit_behind() {
        let (o, own, other, ws, t) = queued_with_another_open(5);
        o.settle(t, None, own, || ws.clone());
        assert_eq!(o.window_len(), 0);
        assert!(o.has_conflict(other, &reads(b"k")).is_none());
        assert_eq!(o.commits.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_validation_waits_for_the_write_set_of_a_commit_queued_before_it_began() {
        let o = Arc::new(Oracle::default());
        let own = o.begin(|| 30);
        let ws = WriteSet::new(&[b"k".to_vec()]);
        // Nobody else is open: the write set is not built now.
        let t = o.queue(own, || panic!("built while nobody needs it"));
        let later = o.begin(|| 30); // begins before the commit's write is visible
        let checker = {
            let o = o.clone();
            std::thread::spawn(move || o.has_conflict(later, &reads(b"k")).is_some())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        o.settle(t, Some(31), own, || ws.clone());
        assert!(
            checker.join().unwrap(),
            "the later transaction read k before it changed"
        );
        o.end(own);
        o.end(later);
    }
}
