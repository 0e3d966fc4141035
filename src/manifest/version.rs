//! Immutable versions: the set of live tables per level.
//!
//! Level 0 holds tables in flush order, newest first; their key ranges may overlap. Deeper
//! levels hold tables sorted by smallest key with disjoint ranges. A version never changes;
//! edits produce a new one, swapped in atomically (readers pin an `Arc`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Result;
use crate::key::user_key;
use crate::sstable::{Lookup, LookupCounters, Table};

/// A live table.
#[derive(Debug)]
pub struct FileMeta {
    /// File number.
    pub number: u64,
    /// Level it sits on.
    pub level: u32,
    /// Exact size.
    pub size: u64,
    /// CRC32C of the whole file.
    pub file_crc: u32,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Smallest sequence number.
    pub smallest_seq: u64,
    /// Largest sequence number.
    pub largest_seq: u64,
    /// Entries.
    pub num_entries: u64,
    /// The open table.
    pub table: Arc<Table>,
    /// Units of wasted reads the table absorbs before it asks to be compacted.
    pub read_budget: ReadBudget,
}

/// The cost model of read-triggered compaction, in *units*: one unit is one needless
/// table probe of a get (a bloom probe, one or two cache misses: ~100 ns here), about what
/// compacting 16 bytes costs (reading, merging and writing them back: ~5-10 ns a byte).
pub const READ_UNIT_BYTES: u64 = 16;
/// Units an iterator is charged per table it merges past the first: positioning a table
/// costs at least a block load (~2-3 us). The older versions it then steps over are
/// charged a unit each as the scan meets them (`SourceFactory::charge_stale`).
pub const ITER_SOURCE_UNITS: u64 = 32;
/// The least budget of any table, so that small tables are not compacted for a few reads.
const READ_BUDGET_MIN: u64 = 100;

/// How many more units of wasted reads a table absorbs: reads that probed it first and
/// then had to go on to other tables (see `Options::read_triggered_compaction`). It starts
/// at the cost of rewriting the table alone and is raised, once exhausted, to the cost of
/// the whole compaction ([`ReadBudget::afford`]): reads pay for a compaction before they
/// get one, as in ski rental, which keeps the extra work within what reads already lost.
#[derive(Debug)]
pub struct ReadBudget {
    left: AtomicI64,
    granted: AtomicU64,
}

impl ReadBudget {
    /// The budget of a table of `size` bytes: `max(100, size / 16)` units.
    pub fn for_size(size: u64) -> Self {
        let n = (size / READ_UNIT_BYTES).max(READ_BUDGET_MIN);
        ReadBudget {
            left: AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX)),
            granted: AtomicU64::new(n),
        }
    }

    /// Spends `n` units; true for exactly one call: the one that exhausts the budget.
    /// Once exhausted it is only read, so readers on other cores keep sharing the cache
    /// line.
    pub fn spend(&self, n: u64) -> bool {
        if self.left.load(Ordering::Relaxed) <= 0 {
            return false;
        }
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let before = self.left.fetch_sub(n, Ordering::Relaxed);
        before > 0 && before <= n
    }

    /// True once reads have charged any unit.
    pub fn charged(&self) -> bool {
        let granted = i64::try_from(self.granted.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        self.left.load(Ordering::Relaxed) < granted
    }

    /// Units left (at most zero once exhausted).
    pub fn left(&self) -> i64 {
        self.left.load(Ordering::Relaxed)
    }

    /// True when the units granted so far (all spent: the budget ran out) pay for a
    /// compaction reading `task_bytes`; otherwise grants the difference, so the table asks
    /// again once reads have spent that too.
    pub fn afford(&self, task_bytes: u64) -> bool {
        let need = task_bytes / READ_UNIT_BYTES;
        let granted = self.granted.load(Ordering::Relaxed);
        if granted >= need {
            return true;
        }
        self.granted.store(need, Ordering::Relaxed);
        let more = i64::try_from(need - granted).unwrap_or(i64::MAX);
        self.left.fetch_add(more, Ordering::Relaxed);
        false
    }
}

impl FileMeta {
    /// The same table recorded at another level (a trivial move).
    pub fn at_level(&self, level: u32) -> FileMeta {
        FileMeta {
            number: self.number,
            level,
            size: self.size,
            file_crc: self.file_crc,
            smallest: self.smallest.clone(),
            largest: self.largest.clone(),
            smallest_seq: self.smallest_seq,
            largest_seq: self.largest_seq,
            num_entries: self.num_entries,
            table: self.table.clone(),
            read_budget: ReadBudget::for_size(self.size),
        }
    }

    /// True when `uk` lies within the table's user-key range.
    pub fn may_contain_user_key(&self, uk: &[u8]) -> bool {
        uk >= user_key(&self.smallest) && uk <= user_key(&self.largest)
    }
}

/// An immutable set of tables and value-log files.
#[derive(Debug, Clone, Default)]
pub struct Version {
    /// Tables per level.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
    /// Live value-log files by number, open for reads.
    pub vlogs: Arc<std::collections::BTreeMap<u64, Arc<crate::vlog::VlogFile>>>,
}

/// At most this many tables' filter lines are prefetched for one lookup: more would crowd
/// the CPU's outstanding misses (a core tracks about ten) for lines the lookup may not reach.
const PREFETCH_FILTERS_MAX: usize = 4;

/// The table of a level past 0 (sorted, disjoint) that may hold user key `uk`: the first
/// whose largest user key is not below it.
pub fn table_for_key<'a>(files: &'a [Arc<FileMeta>], uk: &[u8]) -> Option<&'a Arc<FileMeta>> {
    files.get(files.partition_point(|f| user_key(&f.largest) < uk))
}

impl Version {
    /// An empty version with `levels` levels.
    pub fn new(levels: usize) -> Self {
        Version {
            levels: vec![Vec::new(); levels],
            vlogs: Arc::default(),
        }
    }

    /// Looks `lookup` (an internal seek key) up through the levels. A lookup that probes
    /// tables past the first charges the first one's [`ReadBudget`]; when that exhausts it,
    /// `c.wants_compaction` names the table.
    ///
    /// # Errors
    ///
    /// I/O or corruption in a table.
    pub fn get(&self, lookup: &[u8], hash: u64, c: &mut LookupCounters) -> Result<Lookup> {
        let uk = user_key(lookup);
        let mut probes = Probes::default();
        for f in self.candidates(uk) {
            if let Some(r) = probes.probe(f, lookup, hash, c)? {
                probes.charge(c);
                return Ok(r);
            }
        }
        probes.charge(c);
        Ok(Lookup::Absent)
    }

    /// The tables that may hold user key `uk`, newest first: every level-0 table whose range
    /// holds it, then at most one per deeper level.
    fn candidates<'a>(&'a self, uk: &'a [u8]) -> impl Iterator<Item = &'a Arc<FileMeta>> {
        self.levels
            .iter()
            .enumerate()
            .flat_map(move |(level, files)| match level {
                0 => &files[..],
                _ => table_for_key(files, uk).map_or(&[][..], std::slice::from_ref),
            })
            .filter(move |f| f.may_contain_user_key(uk))
    }

    /// Starts loading the filter lines that [`Version::get`] of user key `uk` (whose filter
    /// hash is `hash`) would check, at most [`PREFETCH_FILTERS_MAX`] of them, newest first.
    /// Called before the memtables are searched, the filters' cache misses overlap that
    /// search instead of following it.
    pub fn prefetch_filters(&self, uk: &[u8], hash: u64) {
        for f in self.candidates(uk).take(PREFETCH_FILTERS_MAX) {
            f.table.prefetch_filter(hash);
        }
    }

    /// Every table, level by level.
    pub fn all_files(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.levels.iter().flatten()
    }
}

/// The tables one lookup probed: the first, and how many.
#[derive(Default)]
struct Probes<'a> {
    first: Option<&'a FileMeta>,
    count: u64,
}

impl<'a> Probes<'a> {
    /// Probes table `f`, which may hold the key (its range does).
    fn probe(
        &mut self,
        f: &'a FileMeta,
        lookup: &[u8],
        hash: u64,
        c: &mut LookupCounters,
    ) -> Result<Option<Lookup>> {
        self.first.get_or_insert(f);
        self.count += 1;
        match f.table.get(lookup, hash, c)? {
            Lookup::Absent => Ok(None),
            r => Ok(Some(r)),
        }
    }

    /// Charges the first table with the probes that went past it.
    fn charge(&self, c: &mut LookupCounters) {
        if let Some(f) = self.first.filter(|_| self.count > 1) {
            if f.read_budget.spend(self.count - 1) {
                c.wants_compaction = Some((f.level as usize, f.number));
            }
        }
    }
}
