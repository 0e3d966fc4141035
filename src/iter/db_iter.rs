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
    /// Forward only: the merge still sits on the entry last returned, whose user key is
    /// `key` and whose source is `source`; its older versions are stepped over at the start
    /// of the next step. Leaving the merge there lets [`Iter::next_ref`] lend the value
    /// straight from the block it lies in.
    pending: bool,
    key: Vec<u8>,
    source: usize,
}

impl Cursor {
    fn new(merge: MergingIter) -> Cursor {
        Cursor {
            merge,
            done: false,
            entered: false,
            pending: false,
            key: Vec::new(),
            source: 0,
        }
    }
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
    /// The entry [`Iter::next_ref`] or [`Iter::next_back_ref`] lends when it is not lent
    /// from the front cursor's block (a value read from the value log, a step from the
    /// back).
    held: (Bytes, Bytes),
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
            held: (Bytes::new(), Bytes::new()),
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
        Ok(Cursor::new(merge))
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
        Ok(Cursor::new(merge))
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
            Some((key, Found::Pointer(h))) => self.resolve_front(key, &h).map(Some),
        }
    }

    /// The front's next live entry, left where [`Iter::next_ref`] can lend it from.
    fn front_lent(&mut self) -> Result<Option<Lent>> {
        if let Some(e) = self.ahead.pop(&*self.factory) {
            return Ok(e?.map(|kv| {
                self.held = kv;
                Lent::Held
            }));
        }
        match self.settle_front()? {
            None => Ok(None),
            Some(Kind::Pointer) => {
                let Some((key, h)) = self.front_raw() else {
                    return Ok(None);
                };
                self.held = self.resolve_front(key, &h)?;
                Ok(Some(Lent::Held))
            }
            Some(_) => Ok(Some(Lent::Front)),
        }
    }

    /// The value behind the front's value-log handle `h`, for the entry of `key`; starts
    /// reading the next handles ahead once enough have been resolved here.
    fn resolve_front(&mut self, key: Bytes, h: &Bytes) -> Result<(Bytes, Bytes)> {
        if let Some(n) = self.ahead.window_after_pointer() {
            if let Some(ra) = self.factory.readahead().cloned() {
                let factory = self.factory.clone();
                let mut ahead = std::mem::replace(&mut self.ahead, ValueAhead::new());
                ahead.fill(n, &ra, &factory, || self.step_front());
                self.ahead = ahead;
            }
        }
        // Resolved here while the worker starts on the window.
        Ok((key, self.factory.resolve(h)?))
    }

    /// The front cursor's next live entry, with its handle unresolved.
    fn step_front(&mut self) -> Result<Option<(Bytes, Found)>> {
        let Some(kind) = self.settle_front()? else {
            return Ok(None);
        };
        let Some((key, v)) = self.front_raw() else {
            return Ok(None);
        };
        Ok(Some(if kind == Kind::Pointer {
            (key, Found::Pointer(v))
        } else {
            (key, Found::Value(v))
        }))
    }

    /// The user key and raw value of the entry the front cursor sits on, as `Bytes`.
    fn front_raw(&self) -> Option<(Bytes, Bytes)> {
        let c = self.front.as_ref()?;
        Some((Bytes::copy_from_slice(&c.key), c.merge.value_bytes()))
    }

    /// Moves the front cursor onto its next live entry and leaves its merge there, with
    /// the entry's user key in the cursor's `key`; returns the entry's kind (a put or a
    /// value-log pointer), or `None` past the range.
    fn settle_front(&mut self) -> Result<Option<Kind>> {
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
        loop {
            if c.pending {
                c.pending = false;
                let skipped = skip_older(c)?;
                let bounds = (as_slices(lower), as_slices(upper));
                stale.add(&**factory, bounds, c.source, &c.key, skipped);
            }
            if c.done || !c.merge.valid() {
                break;
            }
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
            c.key.clear();
            c.key.extend_from_slice(uk);
            c.source = c.merge.source();
            // Its older versions are stepped over on the next step (or just below, for a
            // delete).
            c.pending = true;
            if kind != Kind::Delete {
                return Ok(Some(kind));
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

/// Steps forward cursor `c`, which sits on the newest visible version of `c.key`, past
/// that key's older versions: over a few, then with a seek past the rest (to the last
/// possible entry of the key, sequence 0 and the smallest kind). Returns how many it
/// stepped over.
fn skip_older(c: &mut Cursor) -> Result<u64> {
    c.merge.advance()?;
    let mut skipped = 0;
    while c.merge.valid() && crate::key::user_key(c.merge.key()) == &c.key[..] {
        skipped += 1;
        if skipped == SKIPS_BEFORE_SEEK {
            c.merge.position(Some(&make_internal_key(&c.key, 0, 0)))?;
        } else {
            c.merge.advance()?;
        }
    }
    Ok(skipped as u64)
}

/// Where the entry that [`Iter::next_ref`] lends lies.
#[derive(Clone, Copy)]
enum Lent {
    /// In `Iter::held`.
    Held,
    /// Under the front cursor: the key in its buffer, the value in its merge.
    Front,
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

impl Iter {
    /// Ends a step of the front (`front`) or the back: an entry at or past the other end's
    /// last key, the end, or an error finishes the iterator; an entry is remembered as its
    /// end's last key and handed out.
    fn settle(
        &mut self,
        step: Result<Option<(Bytes, Bytes)>>,
        front: bool,
    ) -> Option<Result<(Bytes, Bytes)>> {
        let (own, other) = if front {
            (&mut self.last_front, &self.last_back)
        } else {
            (&mut self.last_back, &self.last_front)
        };
        match step {
            Ok(Some((k, v))) => {
                let crossed = other.as_ref().is_some_and(|o| {
                    if front {
                        k[..] >= o[..]
                    } else {
                        k[..] <= o[..]
                    }
                });
                if crossed {
                    self.finished = true;
                    return None;
                }
                remember(own, &k);
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

    /// Moves the front on and lends the next entry: the same entries as
    /// [`Iterator::next`], borrowed until the next call on this iterator instead of
    /// handed out as `Bytes`.
    ///
    /// A scan that only looks at each entry, or copies it into a buffer of its own, saves
    /// the allocation of each key and the reference count of each value this way: the
    /// value is read in place from the block that holds it (a value kept in the value log
    /// is read into the iterator first). Calls may be mixed with `next`, `next_back` and
    /// [`Iter::next_back_ref`]; the ends still stop where they meet.
    ///
    /// ```
    /// # fn main() -> stratakv::Result<()> {
    /// let db = stratakv::Db::open_temp()?;
    /// db.put(b"a", b"1")?;
    /// db.put(b"b", b"22")?;
    /// let mut it = db.iter();
    /// let mut total = 0;
    /// while let Some(entry) = it.next_ref() {
    ///     let (key, value) = entry?;
    ///     total += key.len() + value.len();
    /// }
    /// assert_eq!(total, 5);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Iterator::next`]: an I/O error or corruption is returned once, after which the
    /// iterator ends.
    pub fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        if self.finished {
            return None;
        }
        let lent = match self.front_lent() {
            Ok(Some(l)) => l,
            Ok(None) => {
                self.finished = true;
                return None;
            }
            Err(e) => {
                self.finished = true;
                return Some(Err(e));
            }
        };
        let (k, v): (&[u8], &[u8]) = match lent {
            Lent::Held => (&self.held.0, &self.held.1),
            Lent::Front => {
                let Some(c) = self.front.as_ref() else {
                    self.finished = true;
                    return None;
                };
                (&c.key, c.merge.value())
            }
        };
        if self.last_back.as_ref().is_some_and(|b| k >= &b[..]) {
            self.finished = true;
            return None;
        }
        remember(&mut self.last_front, k);
        Some(Ok((k, v)))
    }

    /// Moves the back on and lends the next entry from the end: the same entries as
    /// [`DoubleEndedIterator::next_back`], borrowed until the next call on this iterator.
    /// (Only the front reads values in place; this saves the caller nothing over
    /// `next_back` but the drop.)
    ///
    /// # Errors
    ///
    /// As [`DoubleEndedIterator::next_back`]: an I/O error or corruption is returned once,
    /// after which the iterator ends.
    pub fn next_back_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        match self.next_back()? {
            Ok(kv) => {
                self.held = kv;
                Some(Ok((&self.held.0, &self.held.1)))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let step = self.front_entry();
        self.settle(step, true)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let step = self.step_back();
        self.settle(step, false)
    }
}

impl std::iter::FusedIterator for Iter {}
