//! The oracle: read timestamps, the window of recently committed write sets, and the
//! serial point where a commit is validated and written.
//!
//! A transaction begins at the visible sequence number (its read timestamp), registered
//! under the oracle's lock together with a snapshot, so that compaction keeps every version
//! it can read (the watermark is the oldest registered snapshot). A commit takes the commit
//! lock, validates the read set against every write set committed after the transaction's
//! read timestamp, writes through the group-commit path, and records its write set at the
//! exact sequence number of its batch. Write sets are kept only while an open transaction
//! began before them; older ones are pruned.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::conflict::{conflicts, ReadSet, WriteSet};

#[derive(Debug, Default)]
struct State {
    /// (commit sequence number, write set), ascending.
    committed: VecDeque<(u64, Arc<WriteSet>)>,
    /// Read timestamps of open transactions -> count.
    open: BTreeMap<u64, usize>,
}

/// The transaction oracle of one engine.
#[derive(Debug, Default)]
pub struct Oracle {
    state: Mutex<State>,
    commit: Mutex<()>,
    /// Commits rejected with a conflict.
    pub conflicts: AtomicU64,
    /// Transactions committed with writes.
    pub commits: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        while let Some((seq, _)) = st.committed.front() {
            if oldest.is_none_or(|o| *seq <= o) {
                st.committed.pop_front();
            } else {
                break;
            }
        }
    }

    /// Serializes commits: validation, write and record happen under this guard.
    pub fn commit_guard(&self) -> MutexGuard<'_, ()> {
        lock(&self.commit)
    }

    /// True when a transaction that read `read` at `ts` conflicts with a later commit.
    /// Call under the commit guard.
    pub fn has_conflict(&self, ts: u64, read: &ReadSet) -> bool {
        let st = lock(&self.state);
        let hit = st
            .committed
            .iter()
            .filter(|(seq, _)| *seq > ts)
            .any(|(_, w)| conflicts(read, w));
        if hit {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Records a commit's write set at its sequence number, made by `writes` only when
    /// another open transaction began before it (the committing one, still open and
    /// registered at `own_ts`, does not count). Call under the commit guard.
    pub fn record(&self, seq: u64, own_ts: u64, writes: impl FnOnce() -> WriteSet) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let mut st = lock(&self.state);
        let others = st
            .open
            .range(..seq)
            .map(|(&ts, &n)| if ts == own_ts { n - 1 } else { n })
            .any(|n| n > 0);
        if others {
            st.committed.push_back((seq, Arc::new(writes())));
        }
        Self::prune(&mut st);
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

    #[test]
    fn window_holds_only_what_open_transactions_need() {
        let o = Oracle::default();
        let t = o.begin(|| 10);
        let ws = WriteSet::new(&[b"k".to_vec()]);
        o.record(11, 99, || ws.clone());
        let mut r = ReadSet::default();
        r.add_key(b"k");
        assert!(o.has_conflict(t, &r));
        assert!(!o.has_conflict(11, &r), "committed before it began");
        o.end(t);
        assert_eq!(o.window_len(), 0, "pruned once nobody needs it");
        o.record(12, 99, || ws.clone());
        assert_eq!(o.window_len(), 0, "nothing kept with no open transaction");
        let own = o.begin(|| 12);
        o.record(13, own, || ws.clone());
        assert_eq!(
            o.window_len(),
            0,
            "the committing transaction alone needs nothing"
        );
        let other = o.begin(|| 12);
        o.record(14, own, || ws);
        assert_eq!(o.window_len(), 1, "another open transaction may need it");
        o.end(own);
        o.end(other);
        let mut all = ReadSet::default();
        all.add_range(Bound::Unbounded, Bound::Unbounded);
        assert!(!o.has_conflict(0, &all));
    }
}
