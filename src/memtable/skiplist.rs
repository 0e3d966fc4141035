//! A skiplist on an arena: one writer at a time, any number of lock-free readers.
//!
//! Layout: nodes and values are carved from 1 MiB arena chunks (8-byte aligned) that never
//! move and are freed only when the list is dropped, so pointers stay valid for the list's
//! life. A node is a fixed header, then its tower of `height` next-pointers, then the key
//! bytes; its value lives in separate value chunks, so that nodes pack densely and a search,
//! which touches only nodes, misses the cache less (measured: 1.38 -> ~1.0 us per insert
//! at 125K entries with 100-byte values on the 2-core VM):
//!
//! ```text
//! node  = | key_len u32 | value_len u32 | height u32 | pad u32 | value: *const u8 |
//!         | next[0..height]: AtomicPtr | key |
//! ```
//!
//! Concurrency contract (as LevelDB's `db/skiplist.h`): inserts are serialized by an internal
//! mutex; a node is fully written before it is published by a `Release` store into its
//! predecessors' towers, bottom level first; readers follow pointers with `Acquire` loads
//! and never block. Nothing is ever removed.
//!
//! This file holds all the `unsafe` of the memtable; each block says why it is sound.

use std::cmp::Ordering as CmpOrdering;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::limits::{ARENA_CHUNK_BYTES, SKIPLIST_HEIGHT_MAX};
use crate::prefetch::{prefetch, prefetch_addr, prefetch_bytes};

#[repr(C)]
struct Node {
    key_len: u32,
    value_len: u32,
    height: u32,
    _pad: u32,
    value: *const u8,
    // followed by: next: [AtomicPtr<Node>; height], key
}

const NODE_HEADER_BYTES: usize = size_of::<Node>();
const PTR_BYTES: usize = size_of::<AtomicPtr<Node>>();
const _: () = assert!(NODE_HEADER_BYTES.is_multiple_of(8));

impl Node {
    /// # Safety
    /// `this` points to a live node and `level < height`.
    #[inline]
    unsafe fn next_slot<'a>(this: *const Node, level: usize) -> &'a AtomicPtr<Node> {
        debug_assert!(level < (*this).height as usize);
        // SAFETY: the tower follows the header inside the node's allocation, which is
        // 8-byte aligned; level < height keeps the slot inside it.
        &*((this as *const u8).add(NODE_HEADER_BYTES + level * PTR_BYTES) as *const AtomicPtr<Node>)
    }

    /// # Safety
    /// `this` points to a live, fully initialized node.
    #[inline]
    unsafe fn key<'a>(this: *const Node) -> &'a [u8] {
        let n = &*this;
        let p = (this as *const u8).add(NODE_HEADER_BYTES + n.height as usize * PTR_BYTES);
        std::slice::from_raw_parts(p, n.key_len as usize)
    }

    /// # Safety
    /// `this` points to a live, fully initialized node.
    #[inline]
    unsafe fn value<'a>(this: *const Node) -> &'a [u8] {
        let n = &*this;
        if n.value_len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(n.value, n.value_len as usize)
    }
}

/// Starts loading the cache lines of `node`'s value (its first 256 bytes).
///
/// # Safety
/// `node` points to a live, fully initialized node.
#[inline]
unsafe fn prefetch_value(node: *const Node) {
    let v = Node::value(node);
    prefetch_bytes(&v[..v.len().min(256)]);
}

/// A bump region inside the current chunk.
struct Bump {
    cur: *mut u8,
    remaining: usize,
}

struct Writer {
    chunks: Vec<Box<[u64]>>,
    nodes: Bump,
    values: Bump,
    rng: u64,
    /// The last node on each level (the head where a level has none): a key after the last
    /// node links in after these with no search (inserts were 14.9% of fillseq's samples
    /// searching from the head down the list's right edge, 10.7% with this); a random
    /// insert pays one comparison with the last node, which that comparison keeps cached.
    tail: [*mut Node; SKIPLIST_HEIGHT_MAX],
}

// SAFETY: the bump pointers point into chunks owned by `chunks`, and the tail pointers at the
// list's head or its published nodes, which live as long as the list; the writer state is
// only touched under the list's mutex, so moving it between threads is sound.
unsafe impl Send for Writer {}

impl Writer {
    /// Returns 8-byte-aligned, zeroed memory of `size` bytes that lives as long as `self`,
    /// from the node region or the value region.
    fn alloc(&mut self, size: usize, value: bool) -> *mut u8 {
        let size = size.next_multiple_of(8);
        let chunks = &mut self.chunks;
        let bump = if value {
            &mut self.values
        } else {
            &mut self.nodes
        };
        if size > bump.remaining {
            if size > ARENA_CHUNK_BYTES / 4 {
                // A big allocation gets a chunk of its own; the current chunk keeps serving.
                let mut chunk = vec![0u64; size / 8].into_boxed_slice();
                let p = chunk.as_mut_ptr() as *mut u8;
                chunks.push(chunk);
                return p;
            }
            let mut chunk = vec![0u64; ARENA_CHUNK_BYTES / 8].into_boxed_slice();
            bump.cur = chunk.as_mut_ptr() as *mut u8;
            bump.remaining = ARENA_CHUNK_BYTES;
            chunks.push(chunk);
        }
        let p = bump.cur;
        // SAFETY: size <= remaining, so the result stays inside the current chunk.
        bump.cur = unsafe { bump.cur.add(size) };
        bump.remaining -= size;
        p
    }

    fn random_height(&mut self) -> usize {
        let mut h = 1;
        while h < SKIPLIST_HEIGHT_MAX {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if self.rng & 3 != 0 {
                break;
            }
            h += 1;
        }
        h
    }
}

/// The order of a list's keys. A type parameter rather than a function pointer, so that
/// the comparison inlines into the search loops.
pub trait KeyOrder: 'static {
    /// Compares two entry keys.
    fn compare(a: &[u8], b: &[u8]) -> CmpOrdering;

    /// The part of a key that the point index groups versions by (the user key of an
    /// internal key). Keys with equal groups must be adjacent in the order, newest first.
    fn group(key: &[u8]) -> &[u8];
}

/// The skiplist. Keys are unique byte strings ordered by `O`.
pub struct SkipList<O: KeyOrder> {
    head: *mut Node,
    height: AtomicUsize,
    len: AtomicUsize,
    memory_bytes: AtomicUsize,
    writer: Mutex<Writer>,
    index: PointIndex,
    order: PhantomData<fn() -> O>,
}

/// Where [`SkipList::find_group`] looked.
#[derive(Debug, Clone, Copy)]
pub enum Indexed {
    /// The newest entry of the group.
    Newest(Cursor),
    /// No entry of the group is in the list.
    Absent,
    /// The index does not know (it filled up): search the list.
    Unknown,
}

/// The point index: an open-addressing table from a group's hash to its newest node, so
/// that a point read costs a probe or two instead of a search down the towers (about ten
/// cache misses at 300K entries). Each slot is one `AtomicU64`: the node's address in the
/// low 48 bits and 16 bits of the hash above it, so probes skip other groups without
/// touching their nodes; 0 is empty. Only the writer (under the list's mutex) stores into
/// slots, after the node is linked; readers `Acquire`-load them. When a probe run grows
/// past [`INDEX_PROBES_MAX`] or the table passes 3/4 full, the index stops taking new
/// groups (it still moves the slots of groups it holds to their newest node) and says
/// `Unknown` for groups it lacks. A node address wider than 48 bits disables it.
struct PointIndex {
    slots: Box<[AtomicU64]>,
    used: AtomicUsize,
    /// Every group in the list has a slot (so a group without one is absent).
    complete: AtomicBool,
    /// A node's address did not fit 48 bits; the index may hold stale slots and is never
    /// consulted again.
    disabled: AtomicBool,
}

/// Longest probe run, in slots.
const INDEX_PROBES_MAX: usize = 32;
const INDEX_ADDR_BITS: u32 = 48;
const INDEX_ADDR_MASK: u64 = (1 << INDEX_ADDR_BITS) - 1;

impl PointIndex {
    fn new(slots: usize) -> Self {
        let n = if slots == 0 { 0 } else { slots.max(64) };
        PointIndex {
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
            used: AtomicUsize::new(0),
            complete: AtomicBool::new(n > 0),
            disabled: AtomicBool::new(n == 0),
        }
    }

    fn tag(hash: u64) -> u64 {
        hash & !INDEX_ADDR_MASK
    }

    /// The slots probed for `hash`, in order: a run from a start picked by the hash's low
    /// 32 bits (the tag takes the high 16), wrapping at the end.
    fn probes(&self, hash: u64) -> impl Iterator<Item = &AtomicU64> {
        let n = self.slots.len();
        let start = (((hash & 0xFFFF_FFFF) * n as u64) >> 32) as usize;
        (0..INDEX_PROBES_MAX.min(n)).map(move |i| {
            let j = start + i;
            &self.slots[if j >= n { j - n } else { j }]
        })
    }
}

// SAFETY: all shared mutation goes through atomics (towers, height, counters) or the writer
// mutex; nodes are immutable once published and live as long as the list.
unsafe impl<O: KeyOrder> Send for SkipList<O> {}
// SAFETY: as above; readers only perform Acquire loads and read immutable node bytes.
unsafe impl<O: KeyOrder> Sync for SkipList<O> {}

impl<O: KeyOrder> std::fmt::Debug for SkipList<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkipList")
            .field("len", &self.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl<O: KeyOrder> SkipList<O> {
    /// An empty list whose point index has about `index_slots` slots (0: no index).
    pub fn new(index_slots: usize) -> Self {
        let empty = || Bump {
            cur: ptr::null_mut(),
            remaining: 0,
        };
        let mut w = Writer {
            chunks: Vec::new(),
            nodes: empty(),
            values: empty(),
            rng: 0x2545_F491_4F6C_DD1D,
            tail: [ptr::null_mut(); SKIPLIST_HEIGHT_MAX],
        };
        let size = NODE_HEADER_BYTES + SKIPLIST_HEIGHT_MAX * PTR_BYTES;
        let head = w.alloc(size, false) as *mut Node;
        // SAFETY: `head` is fresh, aligned, zeroed memory of `size` bytes; zeroed tower
        // slots are null pointers.
        unsafe {
            ptr::write(
                head,
                Node {
                    key_len: 0,
                    value_len: 0,
                    height: SKIPLIST_HEIGHT_MAX as u32,
                    _pad: 0,
                    value: ptr::null(),
                },
            );
        }
        w.tail = [head; SKIPLIST_HEIGHT_MAX];
        SkipList {
            head,
            height: AtomicUsize::new(1),
            len: AtomicUsize::new(0),
            memory_bytes: AtomicUsize::new(0),
            writer: Mutex::new(w),
            index: PointIndex::new(index_slots),
            order: PhantomData,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of arena memory taken by entries (the chunk slack is not counted).
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes.load(Ordering::Relaxed)
    }

    /// Inserts an entry whose key is `key_parts` concatenated, and indexes it under
    /// `group_hash` (a hash of `O::group` of the key). Keys must be unique.
    pub fn insert(&self, key_parts: &[&[u8]], value: &[u8], group_hash: u64) {
        let key_len: usize = key_parts.iter().map(|p| p.len()).sum();
        // The index slot is written after the search below; fetching its line now overlaps
        // that cache miss with the search's (without this, inserts measured ~2% slower).
        if let Some(slot) = self.index.probes(group_hash).next() {
            prefetch(slot);
        }
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let height = w.random_height();
        let size = NODE_HEADER_BYTES + height * PTR_BYTES + key_len;
        let node = w.alloc(size, false) as *mut Node;
        let vptr = if value.is_empty() {
            ptr::null_mut()
        } else {
            w.alloc(value.len(), true)
        };
        // Counters only the writer changes, under the mutex: a load and a store, not a
        // locked add, which waits for the stores before it (into fresh arena lines) to
        // drain. In a profile of sequential inserts ~45% of the insert's samples sat on the
        // two locked adds; without them most of that wait moved to the mutex's release, so
        // three waits became one.
        let bytes = self.memory_bytes.load(Ordering::Relaxed) + size + value.len();
        self.memory_bytes.store(bytes, Ordering::Relaxed);
        // SAFETY: `node` is fresh, aligned, zeroed memory of `size` bytes and `vptr` fresh
        // memory of `value.len()` bytes, both owned by the arena; nothing else can see them
        // until the node is linked below.
        unsafe {
            ptr::write(
                node,
                Node {
                    key_len: key_len as u32,
                    value_len: value.len() as u32,
                    height: height as u32,
                    _pad: 0,
                    value: vptr,
                },
            );
            let mut dst = (node as *mut u8).add(NODE_HEADER_BYTES + height * PTR_BYTES);
            for p in key_parts {
                ptr::copy_nonoverlapping(p.as_ptr(), dst, p.len());
                dst = dst.add(p.len());
            }
            if !value.is_empty() {
                ptr::copy_nonoverlapping(value.as_ptr(), vptr, value.len());
            }
        }
        // SAFETY: the node is initialized; `key` reads what was just written.
        let key = unsafe { Node::key(node) };
        let cur_height = self.height.load(Ordering::Relaxed);
        let last = w.tail[0];
        // SAFETY: a tail other than the head is a published, initialized node.
        let prev = if last != self.head
            && O::compare(unsafe { Node::key(last) }, key) == CmpOrdering::Less
        {
            // After every node: each level's last node precedes it (the head, on levels
            // the list does not reach yet).
            w.tail
        } else {
            let mut prev = [self.head; SKIPLIST_HEIGHT_MAX];
            self.find_splice(key, &mut prev, cur_height);
            prev
        };
        if height > cur_height {
            // prev[cur_height..height] stay at head. Readers that see the new height
            // before the links below simply find null there and descend.
            self.height.store(height, Ordering::Relaxed);
        }
        for (level, p) in prev.iter().enumerate().take(height) {
            // SAFETY: `p` is head or a published node whose height exceeds `level` (it was
            // found at that level, or is that level's last node); `node` has `height` >
            // level slots. The writer mutex serializes all stores into towers.
            let succ = unsafe {
                let succ = Node::next_slot(*p, level).load(Ordering::Relaxed);
                Node::next_slot(node, level).store(succ, Ordering::Relaxed);
                Node::next_slot(*p, level).store(node, Ordering::Release);
                succ
            };
            if succ.is_null() {
                w.tail[level] = node;
            }
        }
        self.len
            .store(self.len.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.index_insert(node, group_hash);
    }

    /// Reads the nodes an insert of `key` would search, and the index slot of `group_hash`,
    /// without changing anything: a writer waiting for the write leader calls this for its
    /// own keys, so that the leader's inserts of them find those cache lines warm.
    pub fn warm(&self, key: &[u8], group_hash: u64) {
        if let Some(slot) = self.index.probes(group_hash).next() {
            prefetch(slot);
        }
        std::hint::black_box(self.find_ge(key));
    }

    /// Points the index's slot for `node`'s group at `node` if it is the group's newest.
    /// Called by the writer, under the mutex, after `node` is linked.
    fn index_insert(&self, node: *mut Node, hash: u64) {
        let ix = &self.index;
        if ix.disabled.load(Ordering::Relaxed) {
            return;
        }
        let addr = node as u64;
        if addr & !INDEX_ADDR_MASK != 0 {
            // The group's slot (if any) would go stale: stop using the index. Readers that
            // can see this node's sequence number see the flag (published before it).
            ix.disabled.store(true, Ordering::Relaxed);
            return;
        }
        let tag = PointIndex::tag(hash);
        // SAFETY: `node` is linked and initialized.
        let key = unsafe { Node::key(node) };
        let group = O::group(key);
        for slot in ix.probes(hash) {
            let cur = slot.load(Ordering::Relaxed);
            if cur == 0 {
                // Groups never leave the table, so an empty slot ends the group's run: it has
                // no slot. Give it one unless the table stopped taking groups or is full.
                if !ix.complete.load(Ordering::Relaxed) {
                    return;
                }
                let used = ix.used.load(Ordering::Relaxed) + 1;
                if used * 4 > ix.slots.len() * 3 {
                    break;
                }
                // Only the writer counts, under the mutex: no locked add (see `insert`).
                ix.used.store(used, Ordering::Relaxed);
                slot.store(addr | tag, Ordering::Release);
                return;
            }
            if cur & !INDEX_ADDR_MASK != tag {
                continue;
            }
            let old = (cur & INDEX_ADDR_MASK) as *const Node;
            // SAFETY: a non-empty slot holds the address of a linked node of this list.
            let old_key = unsafe { Node::key(old) };
            if O::group(old_key) == group {
                if O::compare(key, old_key) == CmpOrdering::Less {
                    slot.store(addr | tag, Ordering::Release);
                }
                return;
            }
        }
        ix.complete.store(false, Ordering::Relaxed);
    }

    /// The newest entry whose group is `group` (hashed to `hash` as at insert), by the
    /// point index.
    pub fn find_group(&self, group: &[u8], hash: u64) -> Indexed {
        let ix = &self.index;
        // Read before probing: a group inserted after this load is newer than the caller's
        // snapshot, so missing it is right; `complete` going false later only means the
        // probe below may miss groups inserted since, which are likewise too new.
        let complete = ix.complete.load(Ordering::Acquire);
        if ix.disabled.load(Ordering::Acquire) {
            return Indexed::Unknown;
        }
        let tag = PointIndex::tag(hash);
        for slot in ix.probes(hash) {
            let cur = slot.load(Ordering::Acquire);
            if cur == 0 {
                break;
            }
            if cur & !INDEX_ADDR_MASK != tag {
                continue;
            }
            let node = (cur & INDEX_ADDR_MASK) as *const Node;
            // SAFETY: a non-empty slot holds the address of a node that was linked and
            // initialized before the slot was stored (`Release`/`Acquire`).
            if O::group(unsafe { Node::key(node) }) == group {
                return Indexed::Newest(Cursor { node });
            }
        }
        if complete {
            Indexed::Absent
        } else {
            Indexed::Unknown
        }
    }

    fn find_splice(&self, key: &[u8], prev: &mut [*mut Node; SKIPLIST_HEIGHT_MAX], h: usize) {
        let mut x = self.head;
        let mut level = h - 1;
        // The node last found to be >= key: meeting it again on a lower level needs no
        // second comparison.
        let mut known_ge: *mut Node = ptr::null_mut();
        loop {
            // SAFETY: x is head or a published node of height > level.
            let next = unsafe { Node::next_slot(x, level).load(Ordering::Acquire) };
            let before = !next.is_null()
                && next != known_ge
                // SAFETY: a non-null next pointer is a published, initialized node.
                && O::compare(unsafe { Node::key(next) }, key) == CmpOrdering::Less;
            if before {
                x = next;
            } else {
                known_ge = next;
                prev[level] = x;
                if level == 0 {
                    return;
                }
                level -= 1;
            }
        }
    }

    /// The first node with key >= `key`, or null.
    fn find_ge(&self, key: &[u8]) -> *mut Node {
        let mut x = self.head;
        let mut level = self.height.load(Ordering::Relaxed) - 1;
        let mut known_ge: *mut Node = ptr::null_mut();
        loop {
            // SAFETY: x is head or a published node of height > level.
            let next = unsafe { Node::next_slot(x, level).load(Ordering::Acquire) };
            let before = !next.is_null()
                && next != known_ge
                // SAFETY: a non-null next pointer is a published, initialized node.
                && O::compare(unsafe { Node::key(next) }, key) == CmpOrdering::Less;
            if before {
                x = next;
            } else if level == 0 {
                return next;
            } else {
                known_ge = next;
                level -= 1;
            }
        }
    }

    /// The last node with key < `key` (or the last node when `key` is None), or head.
    fn find_lt(&self, key: Option<&[u8]>) -> *mut Node {
        let mut x = self.head;
        let mut level = self.height.load(Ordering::Relaxed) - 1;
        loop {
            // SAFETY: x is head or a published node of height > level.
            let next = unsafe { Node::next_slot(x, level).load(Ordering::Acquire) };
            let go = !next.is_null()
                && match key {
                    // SAFETY: a non-null next pointer is a published, initialized node.
                    Some(k) => O::compare(unsafe { Node::key(next) }, k) == CmpOrdering::Less,
                    None => true,
                };
            if go {
                x = next;
            } else if level == 0 {
                return x;
            } else {
                level -= 1;
            }
        }
    }
}

/// A cursor over a skiplist. It borrows nothing: the owner keeps the list alive (the
/// memtable's iterator holds an `Arc`).
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    node: *const Node,
}

// SAFETY: a cursor is a pointer to an immutable published node; it is only dereferenced
// through a `&SkipList` that keeps the node alive.
unsafe impl Send for Cursor {}
// SAFETY: as above.
unsafe impl Sync for Cursor {}

impl Default for Cursor {
    fn default() -> Self {
        Cursor { node: ptr::null() }
    }
}

impl Cursor {
    /// True when positioned on an entry.
    pub fn valid(&self) -> bool {
        !self.node.is_null()
    }

    /// The entry's key. The cursor must be valid and come from `list`.
    pub fn key<'a, O: KeyOrder>(&self, list: &'a SkipList<O>) -> &'a [u8] {
        let _ = list;
        assert!(self.valid());
        // SAFETY: a valid cursor points to a published node of `list`, alive while `list` is.
        unsafe { Node::key(self.node) }
    }

    /// The entry's value. The cursor must be valid and come from `list`.
    pub fn value<'a, O: KeyOrder>(&self, list: &'a SkipList<O>) -> &'a [u8] {
        let _ = list;
        assert!(self.valid());
        // SAFETY: as in `key`.
        unsafe { Node::value(self.node) }
    }

    /// Moves to the first entry >= `key`.
    pub fn seek<O: KeyOrder>(&mut self, list: &SkipList<O>, key: &[u8]) {
        self.node = list.find_ge(key);
        if !self.node.is_null() {
            // SAFETY: a non-null result is a published, fully initialized node.
            unsafe { prefetch_value(self.node) };
        }
        self.prefetch_ahead();
    }

    /// Moves to the last entry <= `key`.
    pub fn seek_for_prev<O: KeyOrder>(&mut self, list: &SkipList<O>, key: &[u8]) {
        let n = list.find_ge(key);
        // SAFETY: a non-null result is a published node.
        if !n.is_null() && O::compare(unsafe { Node::key(n) }, key) == CmpOrdering::Equal {
            self.node = n;
        } else {
            self.set_or_null(list, list.find_lt(Some(key)));
        }
    }

    /// Moves to the first entry.
    pub fn seek_to_first<O: KeyOrder>(&mut self, list: &SkipList<O>) {
        // SAFETY: head always has SKIPLIST_HEIGHT_MAX slots.
        self.node = unsafe { Node::next_slot(list.head, 0).load(Ordering::Acquire) };
    }

    /// Moves to the last entry.
    pub fn seek_to_last<O: KeyOrder>(&mut self, list: &SkipList<O>) {
        self.set_or_null(list, list.find_lt(None));
    }

    /// Moves to the next entry.
    pub fn next<O: KeyOrder>(&mut self, list: &SkipList<O>) {
        let _ = list;
        assert!(self.valid());
        // SAFETY: a valid cursor points to a published node with height >= 1.
        self.node = unsafe { Node::next_slot(self.node, 0).load(Ordering::Acquire) };
        self.prefetch_ahead();
    }

    /// Starts loading what a forward scan needs next: the next entry's value, and the
    /// header and key of the entry after that (this entry's value was loaded by the step
    /// before, or by the seek). Nodes are linked in key order but allocated in insertion
    /// order, and values live apart from them, so each step of a scan misses the cache on a
    /// random node and again on its value; in a merge with tables, the entries taken from
    /// the tables meanwhile hide the misses. The next node was prefetched one step earlier,
    /// so reading its links here mostly hits.
    #[inline]
    fn prefetch_ahead(&self) {
        if self.node.is_null() {
            return;
        }
        // SAFETY: a non-null cursor points to a published node, and every node a link
        // points to is published, fully initialized and alive while its list is;
        // prefetches never fault.
        unsafe {
            let next = Node::next_slot(self.node, 0).load(Ordering::Acquire);
            if next.is_null() {
                return;
            }
            prefetch_value(next);
            let after = Node::next_slot(next, 0).load(Ordering::Acquire);
            // Most nodes (header, a short tower, the key) fit in the 64 bytes from their
            // start, which span one or two cache lines.
            prefetch_addr(after as *const u8);
            prefetch_addr((after as *const u8).wrapping_add(63));
        }
    }

    /// Moves to the previous entry.
    pub fn prev<O: KeyOrder>(&mut self, list: &SkipList<O>) {
        assert!(self.valid());
        // SAFETY: a valid cursor points to a published node.
        let key = unsafe { Node::key(self.node) };
        self.set_or_null(list, list.find_lt(Some(key)));
    }

    fn set_or_null<O: KeyOrder>(&mut self, list: &SkipList<O>, n: *mut Node) {
        self.node = if n == list.head { ptr::null() } else { n };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sstable::filter::key_hash;
    use std::sync::Arc;

    /// Plain byte order.
    struct Bytewise;

    impl KeyOrder for Bytewise {
        fn compare(a: &[u8], b: &[u8]) -> CmpOrdering {
            a.cmp(b)
        }
        fn group(key: &[u8]) -> &[u8] {
            key
        }
    }

    fn list() -> SkipList<Bytewise> {
        SkipList::new(1024)
    }

    #[test]
    fn insert_seek_both_directions() {
        let l = list();
        for i in (0..1000u32).rev() {
            let k = format!("{:05}", i * 2);
            l.insert(&[k.as_bytes()], k.as_bytes(), key_hash(k.as_bytes()));
        }
        assert_eq!(l.len(), 1000);
        let mut c = Cursor::default();
        c.seek(&l, b"00101");
        assert_eq!(c.key(&l), b"00102");
        c.seek_for_prev(&l, b"00101");
        assert_eq!(c.key(&l), b"00100");
        c.seek_for_prev(&l, b"00100");
        assert_eq!(c.key(&l), b"00100");
        c.prev(&l);
        assert_eq!(c.key(&l), b"00098");
        c.seek_to_last(&l);
        assert_eq!(c.key(&l), b"01998");
        c.next(&l);
        assert!(!c.valid());
        c.seek_to_first(&l);
        assert_eq!((c.key(&l), c.value(&l)), (&b"00000"[..], &b"00000"[..]));
        c.prev(&l);
        assert!(!c.valid());
        c.seek_for_prev(&l, b"");
        assert!(!c.valid());
        let mut n = 0;
        c.seek_to_first(&l);
        while c.valid() {
            n += 1;
            c.next(&l);
        }
        assert_eq!(n, 1000);
    }

    /// Groups of keys (first byte) for the point index tests; higher second byte = newer.
    struct ByFirstByte;

    impl KeyOrder for ByFirstByte {
        fn compare(a: &[u8], b: &[u8]) -> CmpOrdering {
            a[0].cmp(&b[0]).then(b[1].cmp(&a[1]))
        }
        fn group(key: &[u8]) -> &[u8] {
            &key[..1]
        }
    }

    fn found(l: &SkipList<ByFirstByte>, g: u8) -> Option<Vec<u8>> {
        match l.find_group(&[g], key_hash(&[g])) {
            Indexed::Newest(c) => Some(c.key(l).to_vec()),
            Indexed::Absent => None,
            Indexed::Unknown => panic!("group {g}: the index should know"),
        }
    }

    #[test]
    fn point_index_finds_the_newest_of_each_group() {
        let l: SkipList<ByFirstByte> = SkipList::new(64);
        for (g, v) in [(1u8, 5u8), (2, 1), (1, 9), (1, 7), (3, 2), (2, 3)] {
            l.insert(&[&[g, v]], b"", key_hash(&[g]));
        }
        assert_eq!(
            found(&l, 1),
            Some(vec![1, 9]),
            "an older insert does not replace"
        );
        assert_eq!(found(&l, 2), Some(vec![2, 3]));
        assert_eq!(found(&l, 3), Some(vec![3, 2]));
        assert_eq!(found(&l, 4), None);
        let none: SkipList<ByFirstByte> = SkipList::new(0);
        none.insert(&[&[1, 1]], b"", key_hash(&[1]));
        assert!(matches!(
            none.find_group(&[1], key_hash(&[1])),
            Indexed::Unknown
        ));
    }

    #[test]
    fn a_full_point_index_says_unknown_for_what_it_lacks() {
        let l = list();
        let keys: Vec<[u8; 4]> = (0..200u32).map(|i| i.to_be_bytes()).collect();
        for k in &keys {
            l.insert(&[k], b"v", key_hash(k));
        }
        let (mut newest, mut unknown) = (0, 0);
        for k in &keys {
            match l.find_group(k, key_hash(k)) {
                Indexed::Newest(c) => {
                    assert_eq!(c.key(&l), k);
                    newest += 1;
                }
                Indexed::Unknown => unknown += 1,
                Indexed::Absent => panic!("{k:?} was inserted"),
            }
        }
        // 1,024 slots at most 3/4 full: all 200 fit.
        assert_eq!((newest, unknown), (200, 0));
        let small: SkipList<Bytewise> = SkipList::new(64);
        for k in &keys {
            small.insert(&[k], b"v", key_hash(k));
        }
        let known = keys
            .iter()
            .filter(|k| {
                matches!(
                    small.find_group(&k[..], key_hash(&k[..])),
                    Indexed::Newest(_)
                )
            })
            .count();
        assert_eq!(known, 48, "64 slots take 48 groups");
        assert!(matches!(
            small.find_group(b"none", key_hash(b"none")),
            Indexed::Unknown
        ));
    }

    #[test]
    fn big_values_and_memory() {
        let l = list();
        let big = vec![7u8; 3 << 20];
        l.insert(&[b"a"], &big, key_hash(b"a"));
        l.insert(&[b"b"], b"small", key_hash(b"b"));
        let mut c = Cursor::default();
        c.seek(&l, b"a");
        assert_eq!(c.value(&l).len(), 3 << 20);
        assert!(l.memory_bytes() >= 3 << 20);
    }

    /// Every level, walked from the head, in key order; level 0 holds every key.
    fn check_levels(
        l: &SkipList<Bytewise>,
        model: &std::collections::BTreeSet<Vec<u8>>,
        seed: u64,
    ) {
        for level in 0..SKIPLIST_HEIGHT_MAX {
            let mut last: Option<Vec<u8>> = None;
            let mut n = 0;
            // SAFETY: the head has every level; each next pointer is null or a published
            // node whose height exceeds `level`.
            let mut x = unsafe { Node::next_slot(l.head, level).load(Ordering::Acquire) };
            while !x.is_null() {
                // SAFETY: as above.
                let k = unsafe { Node::key(x) }.to_vec();
                assert!(
                    last.as_ref().is_none_or(|p| p < &k),
                    "seed {seed}: level {level} out of order"
                );
                last = Some(k);
                n += 1;
                x = unsafe { Node::next_slot(x, level).load(Ordering::Acquire) };
            }
            if level == 0 {
                assert_eq!(n, model.len(), "seed {seed}: level 0 lacks keys");
            }
        }
    }

    #[test]
    fn runs_of_ascending_descending_and_random_keys() {
        for seed in 0..30u64 {
            let l = list();
            let mut model = std::collections::BTreeSet::new();
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let mut hi = 1u32 << 20;
            let mut lo = hi;
            for _ in 0..12 {
                let run = 1 + next() % 400;
                let kind = next() % 3;
                for _ in 0..run {
                    // Ascending runs append past the last key; descending ones insert
                    // before the first; random ones land anywhere.
                    let k = match kind {
                        0 => {
                            hi += 1 + (next() % 3) as u32;
                            hi
                        }
                        1 => {
                            lo -= 1 + (next() % 3) as u32;
                            lo
                        }
                        _ => lo + (next() % u64::from(hi - lo + 1)) as u32,
                    };
                    let k = k.to_be_bytes().to_vec();
                    if model.insert(k.clone()) {
                        l.insert(&[&k], b"v", key_hash(&k));
                    }
                }
                check_levels(&l, &model, seed);
            }
            let mut c = Cursor::default();
            for k in model.iter().step_by(7) {
                c.seek(&l, k);
                assert_eq!(c.key(&l), &k[..], "seed {seed}");
            }
        }
    }

    #[test]
    fn readers_during_writes() {
        let l = Arc::new(list());
        let w = {
            let l = l.clone();
            std::thread::spawn(move || {
                for i in 0..20_000u32 {
                    l.insert(&[&i.to_be_bytes()], b"v", key_hash(&i.to_be_bytes()));
                }
            })
        };
        let warm = {
            let l = l.clone();
            std::thread::spawn(move || {
                // Warming reads only: it runs beside the writer like any reader.
                for i in (0..40_000u32).step_by(3) {
                    l.warm(&i.to_be_bytes(), key_hash(&i.to_be_bytes()));
                }
            })
        };
        let r = {
            let l = l.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut c = Cursor::default();
                    c.seek_to_first(&l);
                    let mut last: Option<Vec<u8>> = None;
                    while c.valid() {
                        let k = c.key(&l).to_vec();
                        assert!(last.as_ref().is_none_or(|p| p < &k), "sorted");
                        last = Some(k);
                        c.next(&l);
                    }
                }
            })
        };
        let p = {
            let l = l.clone();
            std::thread::spawn(move || {
                // A key the index knows is linked: the cursor it gives reads the key back.
                for round in 0..200u32 {
                    for i in (round..20_000).step_by(997) {
                        let k = i.to_be_bytes();
                        if let Indexed::Newest(c) = l.find_group(&k, key_hash(&k)) {
                            assert_eq!(c.key(&l), k);
                        }
                    }
                }
            })
        };
        w.join().unwrap();
        r.join().unwrap();
        p.join().unwrap();
        warm.join().unwrap();
        assert_eq!(l.len(), 20_000);
    }
}
