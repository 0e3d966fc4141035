//! The user iterator: visible, live entries of a key range as of a sequence number.
//!
//! It holds a front cursor and, once `next_back` is called, a back cursor: two independent
//! one-directional merges over the same pinned sources. Each cursor collapses the versions
//! of a user key to the newest one visible at the snapshot and skips deletes. The iterator
//! ends when the cursors meet.
//!
//! A key rewritten thousands of times (a hot counter) has thousands of versions in the
//! memtable until a flush drops the shadowed ones. Stepping over them one by one made a
//! short scan that crossed such a key cost milliseconds, so after `SKIPS_BEFORE_SEEK`
//! versions of one key a cursor seeks past the rest instead (RocksDB's
//! `max_sequential_skip_in_iterations`, also 8).

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::ahead::{Found, ValueAhead};
use super::merging::{Direction, MergingIter};
use super::InternalIterator;
use crate::error::Result;
use crate::key::{make_internal_key, parse_internal_key, Kind, KIND_FOR_SEEK};
use crate::limits::SEQNO_MAX;
use crate::sstable::readahead::Readahead;

/// Makes fresh source iterators over the pinned state, newest source first.
pub trait SourceFactory: Send + Sync {
    /// Fresh, unpositioned iterators over every source that may hold user keys within the
    /// bounds (sources wholly outside them may be left out).
    fn sources(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Vec<Box<dyn InternalIterator>>;

    /// The value a value-log handle (the value of a `Kind::Pointer` entry) points at.
    ///
    /// # Errors
    ///
    /// `Corruption` when the handle or its record is damaged, or when the sources have no
    /// value log (the default).
    fn resolve(&self, handle: &[u8]) -> Result<Bytes> {
        let _ = handle;
        Err(crate::Error::corruption(
            "(iterator)",
            0,
            "a value-log pointer where no value log exists",
        ))
    }

    /// The index of the first table source among what [`SourceFactory::sources`] returns
    /// (the sources before it are memtables); `usize::MAX`, the default, when no source
    /// is a table, so that nothing is charged.
    fn first_table_source(&self) -> usize {
        usize::MAX
    }

    /// The worker that resolves a forward scan's value-log handles ahead of it
    /// (`iter/ahead.rs`); `None`, the default, when values are not read ahead.
    fn readahead(&self) -> Option<&Arc<Readahead>> {
        None
    }

    /// Charges `units` of wasted reads (older versions a scan stepped over) to the table
    /// that holds `user_key` in table source `source` of the sources made for
    /// `[lower, upper]` (see `Options::read_triggered_compaction`). The default does
    /// nothing.
    fn charge_stale(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        source: usize,
        user_key: &[u8],
        units: u64,
    ) {
        let _ = (lower, upper, source, user_key, units);
    }
}

/// Versions of one user key a cursor steps over before it seeks past the rest.
pub(crate) const SKIPS_BEFORE_SEEK: usize = 8;

/// Older versions stepped over in table sources that an iterator counts before it charges
/// them to a table ([`SourceFactory::charge_stale`]): one charge per batch keeps the
/// atomic update and the table lookup off most steps. An iterator dropped with fewer
/// counted charges nothing for them.
const STALE_CHARGE_BATCH: u64 = 16;

/// Older versions stepped over in table sources, counted until they make a batch.
struct StaleCount {
    /// Where table sources start among the sources (from the factory).
    first_table: usize,
    count: u64,
}

impl StaleCount {
    /// Counts `n` older versions of `user_key`, whose newest version came from `source`;
    /// charges the batch to that table once it is full.
    fn add(
        &mut self,
        factory: &dyn SourceFactory,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
        source: usize,
        user_key: &[u8],
        n: u64,
    ) {
        if n == 0 || source < self.first_table {
            return;
        }
        self.count += n;
        if self.count >= STALE_CHARGE_BATCH {
            factory.charge_stale(bounds.0, bounds.1, source, user_key, self.count);
            self.count = 0;
        }
    }
}

struct Cursor {
    merge: MergingIter,
    done: bool,
    /// The cursor has passed the bound it starts from (the lower bound going forward, the
    /// upper going backward): keys only move away from it, so it is no longer checked.
    entered: bool,
}

/// A double-ended iterator over `(key, value)` pairs in byte order.
///
/// It sees the store as of its creation, whatever is written, flushed or compacted while it
/// runs. Errors (I/O, corruption) are yielded once, after which the iterator ends.
pub struct Iter {
    factory: Arc<dyn SourceFactory>,
    seq: u64,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    front: Option<Cursor>,
    back: Option<Cursor>,
    /// The last key each end returned (a reused buffer), for telling when they meet.
    last_front: Option<Vec<u8>>,
    last_back: Option<Vec<u8>>,
    finished: bool,
    stale: StaleCount,
    /// Values the front cursor has resolved ahead of the caller. Declared after `factory`
    /// so that it is dropped after it: the worker can then no longer upgrade its weak
    /// hold on the sources, and the drop's wait covers every value it still resolves.
    ahead: ValueAhead,
}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("seq", &self.seq)
            .field("finished", &self.finished)
            .finish()
    }
}

/// True when no key can lie between `lo` and `hi`.
pub(crate) fn range_is_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(h))
        | (Bound::Excluded(l), Bound::Included(h)) => l >= h,
        _ => false,
    }
}

/// The bound with a borrowed key.
pub(crate) fn as_slices(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    b.as_ref().map(Vec::as_slice)
}

/// True when `k` is within the lower bound.
pub(crate) fn above_lower<B: AsRef<[u8]>>(lower: &Bound<B>, k: &[u8]) -> bool {
    match lower {
        Bound::Included(l) => k >= l.as_ref(),
        Bound::Excluded(l) => k > l.as_ref(),
        Bound::Unbounded => true,
    }
}

/// True when `k` is within the upper bound.
pub(crate) fn below_upper<B: AsRef<[u8]>>(upper: &Bound<B>, k: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => k <= u.as_ref(),
        Bound::Excluded(u) => k < u.as_ref(),
        Bound::Unbounded => true,
    }
}

impl Iter {
    pub(crate) fn new(
        factory: Arc<dyn SourceFactory>,
        seq: u64,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
    ) -> Iter {
        let empty = range_is_empty(&lower, &upper);
        let stale = StaleCount {
            first_table: factory.first_table_source(),
            count: 0,
        };
        Iter {
            stale,
            factory,
            seq,
            lower,
            upper,
            front: None,
            back: None,
            last_front: None,
            last_back: None,
            finished: empty,
            ahead: ValueAhead::new(),
        }
    }

    fn open_front(&mut self) -> Result<Cursor> {
        let sources = self
            .factory
            .sources(as_slices(&self.lower), as_slices(&self.upper));
        let mut merge = MergingIter::new(sources, Direction::Forward);
        match &self.lower {
            Bound::Included(l) | Bound::Excluded(l) => {
                merge.position(Some(&make_internal_key(l, self.seq, KIND_FOR_SEEK)))?
            }
            Bound::Unbounded => merge.position(None)?,
        }
        Ok(Cursor {
            merge,
            done: false,
            entered: false,
        })
    }

    fn open_back(&mut self) -> Result<Cursor> {
        let sources = self
            .factory
            .sources(as_slices(&self.lower), as_slices(&self.upper));
        let mut merge = MergingIter::new(sources, Direction::Backward);
        match &self.upper {
            // The last possible entry of `u`: sequence 0, the smallest kind.
            Bound::Included(u) => merge.position(Some(&make_internal_key(u, 0, 0)))?,
            // The first possible entry of `u`: everything before it is < u.
            Bound::Excluded(u) => {
                merge.position(Some(&make_internal_key(u, SEQNO_MAX, KIND_FOR_SEEK)))?
            }
            Bound::Unbounded => merge.position(None)?,
        }
        Ok(Cursor {
            merge,
            done: false,
            entered: false,
        })
    }

    /// The front's next live entry and its value, from the window read ahead when there
    /// is one; reads ahead once enough handles have been resolved here.
    fn front_entry(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        if let Some(e) = self.ahead.pop(&*self.factory) {
            return e;
        }
        match self.step_front()? {
            None => Ok(None),
            Some((key, Found::Value(v))) => Ok(Some((key, v))),
            Some((key, Found::Pointer(h))) => {
                if let Some(n) = self.ahead.window_after_pointer() {
                    if let Some(ra) = self.factory.readahead().cloned() {
                        let factory = self.factory.clone();
                        let mut ahead = std::mem::replace(&mut self.ahead, ValueAhead::new());
                        ahead.fill(n, &ra, &factory, || self.step_front());
                        self.ahead = ahead;
                    }
                }
                // Resolved here while the worker starts on the window.
                Ok(Some((key, self.factory.resolve(&h)?)))
            }
        }
    }

    /// The front cursor's next live entry, with its handle unresolved.
    fn step_front(&mut self) -> Result<Option<(Bytes, Found)>> {
        if self.front.is_none() {
            self.front = Some(self.open_front()?);
        }
        let seq = self.seq;
        let (lower, upper, factory) = (&self.lower, &self.upper, &self.factory);
        let stale = &mut self.stale;
        let Some(c) = self.front.as_mut() else {
            return Ok(None);
        };
        // The user key whose versions newer than the snapshot are being stepped over, and
        // how many have been.
        let mut newer: (Vec<u8>, usize) = (Vec::new(), 0);
        while !c.done && c.merge.valid() {
            let Some((uk, s, kind)) = parse_internal_key(c.merge.key()) else {
                return Err(crate::Error::corruption(
                    "(iterator)",
                    0,
                    "malformed internal key",
                ));
            };
            if !c.entered {
                c.entered = above_lower(lower, uk);
            }
            if s > seq && c.entered {
                if newer.0 != uk {
                    newer = (uk.to_vec(), 0);
                }
                newer.1 += 1;
                if newer.1 >= SKIPS_BEFORE_SEEK {
                    // Straight to the newest version the snapshot sees (or the next key).
                    let target = make_internal_key(uk, seq, KIND_FOR_SEEK);
                    newer.1 = 0;
                    c.merge.position(Some(&target))?;
                } else {
                    c.merge.advance()?;
                }
                continue;
            }
            if s > seq || !c.entered {
                c.merge.advance()?;
                continue;
            }
            if !below_upper(upper, uk) {
                break;
            }
            let key = Bytes::copy_from_slice(uk);
            let source = c.merge.source();
            let value = match kind {
                Kind::Put => Some(Found::Value(c.merge.value_bytes())),
                Kind::Pointer => Some(Found::Pointer(c.merge.value_bytes())),
                Kind::Delete => None,
            };
            // Skip the older versions of this key: step over a few, then seek past the rest
            // (to the last possible entry of the key, sequence 0 and the smallest kind).
            c.merge.advance()?;
            let mut skipped = 0;
            while c.merge.valid() && crate::key::user_key(c.merge.key()) == &key[..] {
                skipped += 1;
                if skipped == SKIPS_BEFORE_SEEK {
                    c.merge.position(Some(&make_internal_key(&key, 0, 0)))?;
                } else {
                    c.merge.advance()?;
                }
            }
            let bounds = (as_slices(lower), as_slices(upper));
            stale.add(&**factory, bounds, source, &key, skipped as u64);
            if let Some(v) = value {
                return Ok(Some((key, v)));
            }
        }
        c.done = true;
        Ok(None)
    }

    fn step_back(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        if self.back.is_none() {
            self.back = Some(self.open_back()?);
        }
        let seq = self.seq;
        let (lower, upper, factory) = (&self.lower, &self.upper, &self.factory);
        let stale = &mut self.stale;
        let Some(c) = self.back.as_mut() else {
            return Ok(None);
        };
        while !c.done && c.merge.valid() {
            let Some((uk, _, _)) = parse_internal_key(c.merge.key()) else {
                return Err(crate::Error::corruption(
                    "(iterator)",
                    0,
                    "malformed internal key",
                ));
            };
            if !c.entered {
                c.entered = below_upper(upper, uk);
            }
            if !c.entered {
                c.merge.advance()?;
                continue;
            }
            if !above_lower(lower, uk) {
                break;
            }
            let key = Bytes::copy_from_slice(uk);
            // Going backward, a key's versions come oldest first: the last visible one seen
            // is the newest visible.
            let mut newest: Option<(Kind, Bytes)> = None;
            let mut stepped = 0;
            // Visible versions seen, and the source of the newest so far: all but it are
            // stale.
            let (mut visible, mut source) = (0u64, 0usize);
            while c.merge.valid() {
                let Some((k, s, kind)) = parse_internal_key(c.merge.key()) else {
                    return Err(crate::Error::corruption(
                        "(iterator)",
                        0,
                        "malformed internal key",
                    ));
                };
                if k != &key[..] {
                    break;
                }
                stepped += 1;
                if stepped > SKIPS_BEFORE_SEEK {
                    // Many versions: look the newest visible one up with a forward seek, then
                    // seek the back cursor to before the key's first (newest) version.
                    newest = newest_visible(&**factory, &key, seq)?;
                    let before = make_internal_key(&key, SEQNO_MAX, KIND_FOR_SEEK);
                    c.merge.position(Some(&before))?;
                    break;
                }
                if s <= seq {
                    let v = if kind == Kind::Delete {
                        Bytes::new()
                    } else {
                        c.merge.value_bytes()
                    };
                    newest = Some((kind, v));
                    visible += 1;
                    source = c.merge.source();
                }
                c.merge.advance()?;
            }
            // (When the versions were too many and the newest was looked up apart, its
            // source is unknown and nothing is counted.)
            if stepped <= SKIPS_BEFORE_SEEK {
                let bounds = (as_slices(lower), as_slices(upper));
                stale.add(&**factory, bounds, source, &key, visible.saturating_sub(1));
            }
            // Only the newest visible version's handle is followed.
            match newest {
                Some((Kind::Put, v)) => return Ok(Some((key, v))),
                Some((Kind::Pointer, h)) => return Ok(Some((key, factory.resolve(&h)?))),
                _ => {}
            }
        }
        c.done = true;
        Ok(None)
    }
}

/// The newest version of `key` with a sequence number at most `seq`, through a fresh
/// forward merge over `factory`'s sources.
fn newest_visible(
    factory: &dyn SourceFactory,
    key: &[u8],
    seq: u64,
) -> Result<Option<(Kind, Bytes)>> {
    let only = Bound::Included(key);
    let mut m = MergingIter::new(factory.sources(only, only), Direction::Forward);
    m.position(Some(&make_internal_key(key, seq, KIND_FOR_SEEK)))?;
    if !m.valid() {
        return Ok(None);
    }
    match parse_internal_key(m.key()) {
        Some((uk, _, kind)) if uk == key => Ok(Some((kind, m.value_bytes()))),
        Some(_) => Ok(None),
        None => Err(crate::Error::corruption(
            "(iterator)",
            0,
            "malformed internal key",
        )),
    }
}

/// Stores `k` in `slot`, reusing its buffer.
fn remember(slot: &mut Option<Vec<u8>>, k: &[u8]) {
    let buf = slot.get_or_insert_with(Vec::new);
    buf.clear();
    buf.extend_from_slice(k);
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.front_entry() {
            Ok(Some((k, v))) => {
                if self.last_back.as_ref().is_some_and(|b| k[..] >= b[..]) {
                    self.finished = true;
                    return None;
                }
                remember(&mut self.last_front, &k);
                Some(Ok((k, v)))
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.step_back() {
            Ok(Some((k, v))) => {
                if self.last_front.as_ref().is_some_and(|f| k[..] <= f[..]) {
                    self.finished = true;
                    return None;
                }
                remember(&mut self.last_back, &k);
                Some(Ok((k, v)))
            }
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Iter {}
