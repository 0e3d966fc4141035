//! A sharded, byte-weighted W-TinyLFU cache.
//!
//! Each shard (a mutex; a key's shard is picked by its hash) holds three LRU queues over one
//! slab of entries, as in Caffeine's design (Einziger, Friedman, Manes: "TinyLFU: A Highly
//! Efficient Cache Admission Policy"):
//!
//! - the *window* (1% of the bytes): every newcomer enters here, so a burst of new keys is
//!   absorbed without disturbing the main area;
//! - the *main* area, segmented: *probation* (20% of main) receives entries leaving the
//!   window; a hit there promotes the entry to *protected* (80%), whose overflow is demoted
//!   back to probation.
//!
//! When the window overflows, its least recent entry (the candidate) may enter main only by
//! beating main's least recent probation entry (the victim) on estimated frequency from the
//! shard's [`FrequencySketch`]; the loser is evicted. So a scan, whose keys are seen once,
//! passes through the window and leaves the frequent set in main alone.
//!
//! Recency in the window and in protected is kept CLOCK-style: a hit there only sets the
//! entry's *referenced* mark instead of moving it to the recent end, which would touch two
//! to four other entries' links under the lock. An entry reaching the least recent end with
//! its mark set gets a second chance: the mark is cleared and it goes back to the recent end.
//! A hit in probation still moves the entry at once (a promotion to protected).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use hashbrown::HashTable;

use super::sketch::FrequencySketch;

const NIL: u32 = u32::MAX;
/// Candidates at least this frequent that tie or lose are still admitted now and then, so an
/// attacker cannot pin a victim by colliding it in the sketch (Caffeine's hash-flooding guard).
const ADMIT_RANDOM_FROM: u32 = 6;

/// A 64-bit finalizer (MurmurHash3's fmix64): every input bit affects every output bit.
pub fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A fast hasher for the cache's keys: 8 bytes at a time, finished with [`mix`].
#[derive(Default, Clone, Copy)]
pub struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(tail) ^ rest.len() as u64);
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(23) ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    fn finish(&self) -> u64 {
        mix(self.0)
    }
}

/// The hash the cache uses for `k` (shard, sketch and map).
pub fn hash_of<K: Hash + ?Sized>(k: &K) -> u64 {
    let mut h = MixHasher::default();
    k.hash(&mut h);
    h.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Window,
    Probation,
    Protected,
}

struct Node<K, V> {
    key: K,
    value: V,
    hash: u64,
    weight: u64,
    prev: u32,
    next: u32,
    queue: Queue,
    /// Hit since it last reached the recent end of its queue (window and protected only).
    referenced: bool,
}

/// An intrusive doubly linked list over the slab: `head` is least recent.
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    bytes: u64,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        bytes: 0,
    };
}

/// Counters of one cache (summed over shards).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounters {
    /// Lookups that found the key.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Entries inserted.
    pub inserts: u64,
    /// Entries evicted for room (including newcomers refused admission).
    pub evictions: u64,
    /// Bytes charged now.
    pub bytes: u64,
    /// Entries held now.
    pub entries: u64,
}

struct Shard<K, V> {
    /// Slab index of each entry, found by the entry's stored hash (so a key is hashed once
    /// per call and never stored twice).
    map: HashTable<u32>,
    nodes: Vec<Option<Node<K, V>>>,
    free: Vec<u32>,
    window: List,
    probation: List,
    protected: List,
    window_cap: u64,
    main_cap: u64,
    protected_cap: u64,
    sketch: FrequencySketch,
    rng: u64,
    counters: CacheCounters,
}

impl<K: Hash + Eq, V: Clone> Shard<K, V> {
    fn new(capacity: u64, expected_entries: usize) -> Self {
        let window_cap = (capacity / 100).max(1);
        let main_cap = capacity - window_cap.min(capacity);
        Shard {
            map: HashTable::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            window: List::EMPTY,
            probation: List::EMPTY,
            protected: List::EMPTY,
            window_cap,
            main_cap,
            protected_cap: main_cap / 5 * 4,
            sketch: FrequencySketch::new(expected_entries),
            rng: 0x2545_F491_4F6C_DD1D,
            counters: CacheCounters::default(),
        }
    }

    /// The slab index of `key`, whose hash is `hash`.
    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let nodes = &self.nodes;
        self.map
            .find(hash, |&i| {
                nodes[i as usize]
                    .as_ref()
                    .is_some_and(|n| n.key.borrow() == key)
            })
            .copied()
    }

    fn node(&self, i: u32) -> &Node<K, V> {
        self.nodes[i as usize].as_ref().expect("live node")
    }

    fn node_mut(&mut self, i: u32) -> &mut Node<K, V> {
        self.nodes[i as usize].as_mut().expect("live node")
    }

    fn list_mut(&mut self, q: Queue) -> &mut List {
        match q {
            Queue::Window => &mut self.window,
            Queue::Probation => &mut self.probation,
            Queue::Protected => &mut self.protected,
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, q, w) = {
            let n = self.node(i);
            (n.prev, n.next, n.queue, n.weight)
        };
        if prev != NIL {
            self.node_mut(prev).next = next;
        }
        if next != NIL {
            self.node_mut(next).prev = prev;
        }
        let l = self.list_mut(q);
        if l.head == i {
            l.head = next;
        }
        if l.tail == i {
            l.tail = prev;
        }
        l.bytes -= w;
    }

    /// Appends `i` at the most recent end of `q`.
    fn push(&mut self, i: u32, q: Queue) {
        let l = *self.list_mut(q);
        let w = {
            let n = self.node_mut(i);
            n.queue = q;
            n.prev = l.tail;
            n.next = NIL;
            n.weight
        };
        if l.tail != NIL {
            self.node_mut(l.tail).next = i;
        }
        let l = self.list_mut(q);
        if l.head == NIL {
            l.head = i;
        }
        l.tail = i;
        l.bytes += w;
    }

    fn remove(&mut self, i: u32) -> Node<K, V> {
        self.unlink(i);
        let n = self.nodes[i as usize].take().expect("live node");
        match self.map.find_entry(n.hash, |&j| j == i) {
            Ok(slot) => {
                slot.remove();
            }
            Err(_) => debug_assert!(false, "a live node is in the index"),
        }
        self.free.push(i);
        self.counters.entries -= 1;
        n
    }

    fn on_hit(&mut self, i: u32) {
        let n = self.node_mut(i);
        match n.queue {
            Queue::Window | Queue::Protected => n.referenced = true,
            Queue::Probation => {
                self.unlink(i);
                self.push(i, Queue::Protected);
                while self.protected.bytes > self.protected_cap {
                    let head = self.protected.head;
                    self.unlink(head);
                    let second_chance = std::mem::take(&mut self.node_mut(head).referenced);
                    let to = if second_chance {
                        Queue::Protected
                    } else {
                        Queue::Probation
                    };
                    self.push(head, to);
                }
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// True when the candidate should replace the victim.
    fn admit(&mut self, candidate: u64, victim: u64) -> bool {
        let c = self.sketch.estimate(candidate);
        let v = self.sketch.estimate(victim);
        if c > v {
            true
        } else if c >= ADMIT_RANDOM_FROM {
            self.next_random() & 127 == 0
        } else {
            false
        }
    }

    /// Moves window overflow into main, evicting the losers of each admission contest.
    fn evict(&mut self) {
        while self.window.bytes > self.window_cap {
            let cand = self.window.head;
            self.unlink(cand);
            if std::mem::take(&mut self.node_mut(cand).referenced) {
                self.push(cand, Queue::Window); // a second chance
                continue;
            }
            let (cand_hash, cand_w) = {
                let n = self.node(cand);
                (n.hash, n.weight)
            };
            let mut admitted = true;
            while self.probation.bytes + self.protected.bytes + cand_w > self.main_cap {
                let victim = if self.probation.head != NIL {
                    self.probation.head
                } else {
                    self.protected.head
                };
                self.counters.evictions += 1;
                if victim == NIL {
                    admitted = false; // heavier than the whole main area
                    break;
                }
                let victim_hash = self.node(victim).hash;
                if self.admit(cand_hash, victim_hash) {
                    self.remove(victim);
                } else {
                    admitted = false;
                    break;
                }
            }
            if admitted {
                self.push(cand, Queue::Probation);
            } else {
                // Re-link so that remove() finds it in a list, then drop it.
                self.push(cand, Queue::Window);
                self.remove(cand);
            }
        }
    }

    fn insert(&mut self, key: K, value: V, hash: u64, weight: u64) {
        if let Some(i) = self.find(hash, &key) {
            let q = self.node(i).queue;
            self.unlink(i);
            {
                let n = self.node_mut(i);
                n.value = value;
                n.weight = weight;
            }
            self.push(i, q);
        } else {
            if weight > self.window_cap + self.main_cap {
                return;
            }
            let node = Node {
                key,
                value,
                hash,
                weight,
                prev: NIL,
                next: NIL,
                queue: Queue::Window,
                referenced: false,
            };
            let i = match self.free.pop() {
                Some(i) => {
                    self.nodes[i as usize] = Some(node);
                    i
                }
                None => {
                    self.nodes.push(Some(node));
                    (self.nodes.len() - 1) as u32
                }
            };
            let nodes = &self.nodes;
            self.map.insert_unique(hash, i, |&j| {
                nodes[j as usize].as_ref().map_or(0, |n| n.hash)
            });
            self.push(i, Queue::Window);
            self.counters.inserts += 1;
            self.counters.entries += 1;
        }
        self.evict();
        // A replaced value may have grown main past its share.
        while self.probation.bytes + self.protected.bytes > self.main_cap {
            let victim = if self.probation.head != NIL {
                self.probation.head
            } else {
                self.protected.head
            };
            self.counters.evictions += 1;
            self.remove(victim);
        }
    }
}

/// Pads a shard to its own cache lines so two cores never share one.
#[repr(align(128))]
struct Padded<T>(T);

type LockedShard<K, V> = Padded<Mutex<Shard<K, V>>>;

/// A sharded, byte-weighted W-TinyLFU cache (see the module docs).
pub struct TinyLfu<K, V> {
    shards: Box<[LockedShard<K, V>]>,
    shard_mask: u64,
}

impl<K, V> std::fmt::Debug for TinyLfu<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TinyLfu")
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl<K: Hash + Eq, V: Clone> TinyLfu<K, V> {
    /// A cache of at most `capacity` bytes (by the weights given to `insert`), expecting
    /// entries of about `typical_weight` bytes (it sizes the frequency sketches).
    pub fn new(capacity: u64, typical_weight: u64) -> Self {
        // Shards of at least 4 MiB keep each one's window and sketch meaningful; 16 are
        // plenty for the cores such a machine has.
        let shards = (capacity / (4 << 20)).clamp(1, 16).next_power_of_two() as usize;
        let per_shard = capacity / shards as u64;
        let entries = (per_shard / typical_weight.max(1)).max(1) as usize;
        TinyLfu {
            shards: (0..shards)
                .map(|_| Padded(Mutex::new(Shard::new(per_shard, entries))))
                .collect(),
            shard_mask: shards as u64 - 1,
        }
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard<K, V>> {
        // The high bits pick the shard: the low ones index the map and the sketch.
        let i = ((hash >> 48) & self.shard_mask) as usize;
        self.shards[i].0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value cached for `key`; the lookup counts toward its frequency either way.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_of(key);
        let mut s = self.shard(hash);
        // The sketch's lines and the map's chain of loads are independent misses: start the
        // first before walking the second, and count once the lines are in.
        s.sketch.prefetch(hash);
        let found = s.find(hash, key);
        s.sketch.increment(hash);
        match found {
            Some(i) => {
                s.on_hit(i);
                s.counters.hits += 1;
                Some(s.node(i).value.clone())
            }
            None => {
                s.counters.misses += 1;
                None
            }
        }
    }

    /// True when `key` is cached; unlike [`TinyLfu::get`] this counts toward nothing.
    pub fn contains<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_of(key);
        self.shard(hash).find(hash, key).is_some()
    }

    /// Caches `value` under `key`, charged `weight` bytes; it may be refused admission.
    pub fn insert(&self, key: K, value: V, weight: u64) {
        let hash = hash_of(&key);
        self.shard(hash).insert(key, value, hash, weight);
    }

    /// Drops `key`'s entry, if any.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_of(key);
        let mut s = self.shard(hash);
        if let Some(i) = s.find(hash, key) {
            s.remove(i);
        }
    }

    /// Drops every entry whose key fails `keep` (a scan of the whole cache, one shard at a
    /// time).
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        for shard in self.shards.iter() {
            let mut s = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            let doomed: Vec<u32> = s
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.as_ref().is_some_and(|n| !keep(&n.key)))
                .map(|(i, _)| i as u32)
                .collect();
            for i in doomed {
                s.remove(i);
            }
        }
    }

    /// Runs `f` on `key`'s shard under its lock (for callers that keep per-shard state in
    /// step with the cache, such as invalidation marks).
    pub fn with_shard_of<Q, R>(&self, key: &Q, f: impl FnOnce(&mut ShardView<'_, K, V>) -> R) -> R
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_of(key);
        let mut s = self.shard(hash);
        f(&mut ShardView {
            shard: &mut s,
            hash,
        })
    }

    /// Counters summed over the shards.
    pub fn counters(&self) -> CacheCounters {
        let mut c = CacheCounters::default();
        for s in self.shards.iter() {
            let s = s.0.lock().unwrap_or_else(|p| p.into_inner());
            c.hits += s.counters.hits;
            c.misses += s.counters.misses;
            c.inserts += s.counters.inserts;
            c.evictions += s.counters.evictions;
            c.entries += s.counters.entries;
            c.bytes += s.window.bytes + s.probation.bytes + s.protected.bytes;
        }
        c
    }
}

/// One shard, locked, seen through the hash of the key that chose it.
pub struct ShardView<'a, K, V> {
    shard: &'a mut Shard<K, V>,
    hash: u64,
}

impl<K: Hash + Eq, V: Clone> ShardView<'_, K, V> {
    /// The key's hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Inserts as [`TinyLfu::insert`].
    pub fn insert(&mut self, key: K, value: V, weight: u64) {
        self.shard.insert(key, value, self.hash, weight);
    }

    /// Removes as [`TinyLfu::remove`].
    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(i) = self.shard.find(self.hash, key) {
            self.shard.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_lists<K: Hash + Eq, V: Clone>(s: &Shard<K, V>) {
        let mut total = 0;
        for (q, l) in [
            (Queue::Window, s.window),
            (Queue::Probation, s.probation),
            (Queue::Protected, s.protected),
        ] {
            let (mut i, mut prev, mut bytes) = (l.head, NIL, 0);
            while i != NIL {
                let n = s.node(i);
                assert_eq!((n.queue, n.prev), (q, prev));
                assert_eq!(s.find(n.hash, &n.key), Some(i));
                bytes += n.weight;
                total += 1;
                prev = i;
                i = n.next;
            }
            assert_eq!((l.tail, l.bytes), (prev, bytes));
        }
        assert_eq!(total, s.map.len());
        assert_eq!(total as u64, s.counters.entries);
    }

    #[test]
    fn a_frequent_key_survives_a_burst_of_one_time_keys() {
        // Room for 100 entries; ten keys read 20 times each, then ten times the capacity of
        // keys read once (an LRU would keep none of the ten).
        let c: TinyLfu<u64, u64> = TinyLfu::new(100, 1);
        for _ in 0..20 {
            for k in 0..10 {
                if c.get(&k).is_none() {
                    c.insert(k, k, 1);
                }
            }
        }
        for k in 1000..2000 {
            if c.get(&k).is_none() {
                c.insert(k, k, 1);
            }
        }
        for k in 0..10 {
            assert_eq!(
                c.get(&k),
                Some(k),
                "frequent key {k} was flushed by one-time keys"
            );
        }
        check_lists(&c.shards[0].0.lock().unwrap());
    }

    #[test]
    fn a_hit_in_protected_is_spared_the_next_demotion() {
        // One shard: window 1 entry, main 99, protected 76.
        let c: TinyLfu<u64, u64> = TinyLfu::new(100, 1);
        for k in 0..100 {
            c.insert(k, k, 1);
        }
        for k in 0..80 {
            assert_eq!(c.get(&k), Some(k)); // promotes; 0..=3 are demoted on the way
        }
        let queue_of = |k: u64| {
            let s = c.shards[0].0.lock().unwrap();
            s.node(s.find(hash_of(&k), &k).unwrap()).queue
        };
        assert_eq!(queue_of(3), Queue::Probation);
        assert_eq!(queue_of(4), Queue::Protected);
        c.get(&4); // the least recent protected entry is hit ...
        c.get(&90); // ... before a promotion overflows protected
        assert_eq!(queue_of(4), Queue::Protected, "the hit entry was demoted");
        assert_eq!(queue_of(5), Queue::Probation, "the next one stays");
        assert_eq!(queue_of(90), Queue::Protected);
        check_lists(&c.shards[0].0.lock().unwrap());
    }

    #[test]
    fn bounded_by_bytes_and_lists_stay_consistent() {
        let c: TinyLfu<u64, Vec<u8>> = TinyLfu::new(10_000, 100);
        let mut x = 1u64;
        for _ in 0..50_000 {
            x = mix(x);
            let k = x % 2000;
            match x % 7 {
                0 => c.remove(&k),
                1 => c.insert(k, vec![0; (x % 300) as usize], x % 300),
                _ => {
                    if c.get(&k).is_none() {
                        c.insert(k, vec![0; 100], 100);
                    }
                }
            }
            let cs = c.counters();
            assert!(cs.bytes <= 10_000, "{cs:?}");
        }
        check_lists(&c.shards[0].0.lock().unwrap());
        let cs = c.counters();
        assert!(cs.hits > 0 && cs.misses > 0 && cs.evictions > 0, "{cs:?}");
    }

    #[test]
    fn an_entry_heavier_than_the_cache_is_not_kept() {
        let c: TinyLfu<u64, u64> = TinyLfu::new(1000, 10);
        c.insert(1, 1, 5000);
        assert_eq!(c.get(&1), None);
        c.insert(2, 2, 10);
        assert_eq!(c.get(&2), Some(2));
    }

    #[test]
    fn replacing_a_value_updates_weight() {
        let c: TinyLfu<u64, u64> = TinyLfu::new(1000, 10);
        c.insert(1, 1, 10);
        c.insert(1, 2, 20);
        assert_eq!(c.get(&1), Some(2));
        assert_eq!(c.counters().bytes, 20);
        c.remove(&1);
        assert_eq!(
            c.counters(),
            CacheCounters {
                hits: 1,
                misses: 0,
                inserts: 1,
                evictions: 0,
                bytes: 0,
                entries: 0
            }
        );
    }
}
