//! The compaction picker: a pure function from a version, the options and the running
//! compactions to the next task, or none. No I/O; tested and simulated without a disk.
//!
//! Levels: L0 holds flushed tables whose ranges overlap (newest first); L1.. hold disjoint,
//! sorted tables. Level n (n >= 1) targets `base_level_size * multiplier^(n-1)` bytes.
//! Scores: L0 = max(files / level0_compaction_trigger, bytes / base_level_size); Ln = bytes /
//! target(n). The level with the highest score of at least 1 is compacted:
//! - L0 -> L1 takes every L0 table (they overlap, so a subset could put newer data below
//!   older) and the L1 tables overlapping them; never two at once.
//! - Ln -> Ln+1 takes the one table whose overlap below is smallest relative to its size
//!   (RocksDB's min-overlapping-ratio), and the overlapping tables of Ln+1.
//! - Inputs overlapping nothing below and one another (one table, or level-0 tables of
//!   sequential writes) move down by a manifest edit alone.
//!
//! When no level scores 1, a table that reads asked to compact (its read budget ran out,
//! see `Options::read_triggered_compaction`) is compacted as above: with every L0 table
//! when it is on L0, alone otherwise ([`pick_for_reads`]).
//!
//! A task never includes a table that a running task holds; ranges of a level never cover
//! part of one user key's versions (outputs are cut between user keys), so overlap by user
//! key is exact.

use std::collections::HashSet;
use std::sync::Arc;

use crate::key::user_key;
use crate::manifest::{FileMeta, Version};

/// The options the picker reads.
#[derive(Debug, Clone, Copy)]
pub struct PickerOptions {
    /// Number of levels.
    pub max_levels: usize,
    /// L0 file count that triggers a compaction.
    pub level0_compaction_trigger: usize,
    /// Target size of L1.
    pub base_level_size: u64,
    /// Growth between level targets.
    pub level_size_multiplier: u64,
}

impl PickerOptions {
    /// Target bytes of `level` (>= 1).
    pub fn target(&self, level: usize) -> u64 {
        let mut t = self.base_level_size;
        for _ in 1..level {
            t = t.saturating_mul(self.level_size_multiplier);
        }
        t
    }
}

/// One compaction: tables of `level` (and the overlapping ones of `output_level`) merged
/// into new tables on `output_level`.
#[derive(Debug, Clone)]
pub struct Task {
    /// The level compacted.
    pub level: usize,
    /// Where the outputs go (`level + 1`).
    pub output_level: usize,
    /// Tables taken from `level`.
    pub inputs: Vec<Arc<FileMeta>>,
    /// Tables taken from `output_level`.
    pub next_inputs: Vec<Arc<FileMeta>>,
    /// Move the inputs down without rewriting them (they overlap nothing below and not
    /// one another).
    pub trivial_move: bool,
    /// No level below `output_level` holds data in the task's range: tombstones that no
    /// snapshot needs can be dropped.
    pub bottommost: bool,
    /// The score that chose it (>= 1 for size-triggered tasks, 0 for read-triggered ones).
    pub score: f64,
}

impl Task {
    /// Numbers of every table the task holds.
    pub fn file_numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.inputs
            .iter()
            .chain(&self.next_inputs)
            .map(|f| f.number)
    }

    /// Bytes read by the task.
    pub fn input_bytes(&self) -> u64 {
        self.inputs
            .iter()
            .chain(&self.next_inputs)
            .map(|f| f.size)
            .sum()
    }
}

/// The user-key range covered by `files` (which must not be empty).
fn range(files: &[Arc<FileMeta>]) -> (&[u8], &[u8]) {
    let lo = files
        .iter()
        .map(|f| user_key(&f.smallest))
        .min()
        .unwrap_or_default();
    let hi = files
        .iter()
        .map(|f| user_key(&f.largest))
        .max()
        .unwrap_or_default();
    (lo, hi)
}

/// True when no two of `files` share a user key.
fn disjoint(files: &[Arc<FileMeta>]) -> bool {
    let mut by_start: Vec<&Arc<FileMeta>> = files.iter().collect();
    by_start.sort_by(|a, b| user_key(&a.smallest).cmp(user_key(&b.smallest)));
    by_start
        .windows(2)
        .all(|w| user_key(&w[0].largest) < user_key(&w[1].smallest))
}

/// Tables of a level overlapping the user-key range `[lo, hi]`.
pub fn overlapping(files: &[Arc<FileMeta>], lo: &[u8], hi: &[u8]) -> Vec<Arc<FileMeta>> {
    files
        .iter()
        .filter(|f| user_key(&f.largest) >= lo && user_key(&f.smallest) <= hi)
        .cloned()
        .collect()
}

fn level_bytes(files: &[Arc<FileMeta>]) -> u64 {
    files.iter().map(|f| f.size).sum()
}

/// Scores per level (index = level; the last level has none since nothing goes below it).
pub fn scores(v: &Version, o: &PickerOptions) -> Vec<f64> {
    let last = o.max_levels.min(v.levels.len()).saturating_sub(1);
    (0..last)
        .map(|level| {
            let files = &v.levels[level];
            if level == 0 {
                let by_count = files.len() as f64 / o.level0_compaction_trigger.max(1) as f64;
                let by_bytes = level_bytes(files) as f64 / o.base_level_size.max(1) as f64;
                by_count.max(by_bytes)
            } else {
                level_bytes(files) as f64 / o.target(level).max(1) as f64
            }
        })
        .collect()
}

/// Bytes past each level's target: an estimate of the compaction debt.
pub fn pending_bytes(v: &Version, o: &PickerOptions) -> u64 {
    let last = o.max_levels.min(v.levels.len()).saturating_sub(1);
    (1..last)
        .map(|l| level_bytes(&v.levels[l]).saturating_sub(o.target(l)))
        .sum::<u64>()
        + if v.levels.first().map_or(0, Vec::len) >= o.level0_compaction_trigger {
            v.levels.first().map_or(0, |l0| level_bytes(l0))
        } else {
            0
        }
}

fn is_bottommost(v: &Version, output_level: usize, lo: &[u8], hi: &[u8]) -> bool {
    v.levels
        .iter()
        .skip(output_level + 1)
        .all(|files| overlapping(files, lo, hi).is_empty())
}

/// Builds the task that compacts `inputs` of `level` into `level + 1`; `None` when a table
/// it needs is busy.
pub fn task_for(
    v: &Version,
    level: usize,
    inputs: Vec<Arc<FileMeta>>,
    busy: &HashSet<u64>,
    score: f64,
) -> Option<Task> {
    if inputs.is_empty() || inputs.iter().any(|f| busy.contains(&f.number)) {
        return None;
    }
    let output_level = level + 1;
    let (lo, hi) = range(&inputs);
    let next_inputs = v
        .levels
        .get(output_level)
        .map(|files| overlapping(files, lo, hi))
        .unwrap_or_default();
    if next_inputs.iter().any(|f| busy.contains(&f.number)) {
        return None;
    }
    // Level-0 tables of sequential writes do not overlap one another: they all move down
    // as they are, as a lone table does (RocksDB moves such level-0 tables too).
    let trivial_move = next_inputs.is_empty() && disjoint(&inputs);
    // The outputs cover the next level's tables too, which may reach past the inputs.
    let all: Vec<Arc<FileMeta>> = inputs.iter().chain(&next_inputs).cloned().collect();
    let (lo, hi) = range(&all);
    let bottommost = is_bottommost(v, output_level, lo, hi);
    Some(Task {
        level,
        output_level,
        inputs,
        next_inputs,
        trivial_move,
        bottommost,
        score,
    })
}

/// The next automatic task, or `None` when no level needs compaction (or every candidate
/// overlaps a running task).
pub fn pick(v: &Version, o: &PickerOptions, busy: &HashSet<u64>) -> Option<Task> {
    let mut order: Vec<(usize, f64)> = scores(v, o).into_iter().enumerate().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (level, score) in order {
        if score < 1.0 {
            break;
        }
        let files = &v.levels[level];
        if level == 0 {
            if let Some(t) = task_for(v, 0, files.clone(), busy, score) {
                return Some(t);
            }
            continue;
        }
        // The free table with the least overlap below relative to its size.
        let next = v
            .levels
            .get(level + 1)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut candidates: Vec<(f64, &Arc<FileMeta>)> = files
            .iter()
            .filter(|f| !busy.contains(&f.number))
            .map(|f| {
                let over = level_bytes(&overlapping(
                    next,
                    user_key(&f.smallest),
                    user_key(&f.largest),
                ));
                (over as f64 / f.size.max(1) as f64, f)
            })
            .collect();
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.number.cmp(&b.1.number)));
        for (_, f) in candidates {
            if let Some(t) = task_for(v, level, vec![f.clone()], busy, score) {
                return Some(t);
            }
        }
    }
    None
}

/// What to do about a table that reads asked to compact.
#[derive(Debug)]
pub enum ReadPick {
    /// Run this task.
    Task(Task),
    /// A table the task needs is busy: ask again when a compaction ends.
    Wait,
    /// Nothing to do: the table left the level, or sits on the last one.
    Drop,
}

/// The task for table `number` of `level`, which reads asked to compact.
pub fn pick_for_reads(
    v: &Version,
    o: &PickerOptions,
    busy: &HashSet<u64>,
    level: usize,
    number: u64,
) -> ReadPick {
    let last = o.max_levels.min(v.levels.len()).saturating_sub(1);
    let Some(files) = v.levels.get(level).filter(|_| level < last) else {
        return ReadPick::Drop;
    };
    let Some(f) = files.iter().find(|f| f.number == number) else {
        return ReadPick::Drop;
    };
    // Level-0 tables overlap: compacting one without the older ones could put newer data
    // below older.
    let inputs = if level == 0 {
        files.clone()
    } else {
        vec![f.clone()]
    };
    match task_for(v, level, inputs, busy, 0.0) {
        Some(t) => ReadPick::Task(t),
        None => ReadPick::Wait,
    }
}

/// The task that drains level 0 into level 1 while writes are quiet (see
/// `Options::idle_compaction_ms`): every level-0 table, when reads have charged one of them
/// and the level-1 tables it rewrites hold at most `level_size_multiplier` times the
/// level-0 bytes; `None` otherwise, or when a table it needs is busy.
pub fn pick_idle(v: &Version, o: &PickerOptions, busy: &HashSet<u64>) -> Option<Task> {
    let l0 = v.levels.first().filter(|l0| !l0.is_empty())?;
    if o.max_levels < 2 || !l0.iter().any(|f| f.read_budget.charged()) {
        return None;
    }
    let t = task_for(v, 0, l0.clone(), busy, 0.0)?;
    let l0_bytes = level_bytes(&t.inputs);
    (level_bytes(&t.next_inputs) <= l0_bytes.saturating_mul(o.level_size_multiplier)).then_some(t)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::key::make_internal_key;
    use crate::options::Compression;
    use crate::sstable::{Table, TableBuilder, TableOpenOptions, TableOptions};

    /// One real (tiny) table shared by every fake file: the picker never reads it.
    fn dummy_table() -> Arc<Table> {
        static T: OnceLock<Arc<Table>> = OnceLock::new();
        T.get_or_init(|| {
            let fs = MemFs::new();
            let dir = Path::new("/p");
            fs.create_dir_all(dir).unwrap();
            let path = dir.join("000001.sst");
            let mut b = TableBuilder::new(
                fs.create(&path).unwrap(),
                &path,
                TableOptions {
                    block_size: 4096,
                    restart_interval: 16,
                    compression: Compression::None,
                    bloom_bits_per_key: 0,
                },
            );
            b.add(&make_internal_key(b"a", 1, 1), b"v").unwrap();
            b.finish().unwrap();
            Table::open(&fs, &path, 1, None, &TableOpenOptions::default()).unwrap()
        })
        .clone()
    }

    /// A fake table on `level` holding user keys `lo..=hi`, `size` bytes, sequence `seq`.
    pub(crate) fn file(
        number: u64,
        level: u32,
        lo: &str,
        hi: &str,
        size: u64,
        seq: u64,
    ) -> Arc<FileMeta> {
        Arc::new(FileMeta {
            number,
            level,
            size,
            file_crc: 0,
            smallest: make_internal_key(lo.as_bytes(), seq, 1),
            largest: make_internal_key(hi.as_bytes(), seq, 1),
            smallest_seq: seq,
            largest_seq: seq,
            num_entries: size / 100,
            table: dummy_table(),
            read_budget: crate::manifest::ReadBudget::for_size(size),
        })
    }

    pub(crate) fn opts() -> PickerOptions {
        PickerOptions {
            max_levels: 4,
            level0_compaction_trigger: 4,
            base_level_size: 1000,
            level_size_multiplier: 10,
        }
    }

    fn version(levels: Vec<Vec<Arc<FileMeta>>>) -> Version {
        let mut v = Version::new(4);
        for (i, l) in levels.into_iter().enumerate() {
            v.levels[i] = l;
        }
        v
    }

    #[test]
    fn nothing_to_do_below_the_triggers() {
        let v = version(vec![vec![file(1, 0, "a", "z", 100, 1)]]);
        assert!(pick(&v, &opts(), &HashSet::new()).is_none());
        assert!(scores(&v, &opts())[0] < 1.0);
    }

    #[test]
    fn l0_by_file_count_takes_all_l0_and_overlapping_l1() {
        let l0 = (1..=4).map(|n| file(n, 0, "c", "f", 10, n)).collect();
        let l1 = vec![
            file(10, 1, "a", "b", 100, 0),
            file(11, 1, "d", "e", 100, 0),
            file(12, 1, "g", "h", 100, 0),
        ];
        let v = version(vec![l0, l1]);
        let t = pick(&v, &opts(), &HashSet::new()).unwrap();
        assert_eq!((t.level, t.output_level), (0, 1));
        assert_eq!(t.inputs.len(), 4);
        assert_eq!(
            t.next_inputs.iter().map(|f| f.number).collect::<Vec<_>>(),
            vec![11]
        );
        assert!(!t.trivial_move);
        assert!(t.bottommost);
    }

    #[test]
    fn l0_by_bytes() {
        let v = version(vec![vec![file(1, 0, "a", "b", 5000, 1)]]);
        let t = pick(&v, &opts(), &HashSet::new()).unwrap();
        assert!(
            t.trivial_move,
            "a lone L0 table overlapping nothing moves down"
        );
    }

    #[test]
    fn disjoint_l0_tables_move_down_together() {
        // Sequential writes: each flush holds later keys than the one before.
        let l0 = vec![
            file(4, 0, "g", "h", 10, 4),
            file(3, 0, "e", "f", 10, 3),
            file(2, 0, "c", "d", 10, 2),
            file(1, 0, "a", "b", 10, 1),
        ];
        let l1 = vec![file(10, 1, "0", "1", 100, 0)];
        let t = pick(
            &version(vec![l0.clone(), l1.clone()]),
            &opts(),
            &HashSet::new(),
        )
        .unwrap();
        assert!(t.trivial_move && t.next_inputs.is_empty() && t.inputs.len() == 4);
        // Two tables sharing a key ("d") must be merged.
        let mut touching = l0.clone();
        touching[1] = file(3, 0, "d", "f", 10, 3);
        let t = pick(&version(vec![touching, l1]), &opts(), &HashSet::new()).unwrap();
        assert!(!t.trivial_move);
        // Disjoint tables overlapping the level below are merged with it.
        let below = vec![file(10, 1, "a", "a", 100, 0)];
        let t = pick(&version(vec![l0, below]), &opts(), &HashSet::new()).unwrap();
        assert!(!t.trivial_move && t.next_inputs.len() == 1);
    }

    #[test]
    fn deeper_level_picks_least_overlap_and_moves_trivially() {
        let l1 = vec![file(10, 1, "a", "c", 600, 0), file(11, 1, "d", "f", 600, 0)];
        let l2 = vec![file(20, 2, "a", "b", 5000, 0)];
        let v = version(vec![vec![], l1, l2]);
        let t = pick(&v, &opts(), &HashSet::new()).unwrap();
        assert_eq!(t.level, 1);
        assert_eq!(t.inputs[0].number, 11, "no overlap below beats overlap");
        assert!(t.trivial_move);
    }

    #[test]
    fn read_triggered_tasks_take_all_of_l0_or_the_one_table() {
        let l0: Vec<_> = (1..=2).map(|n| file(n, 0, "c", "f", 10, n)).collect();
        let l1 = vec![file(10, 1, "a", "d", 100, 0), file(11, 1, "e", "f", 100, 0)];
        let l2 = vec![file(20, 2, "a", "z", 100, 0)];
        let l3 = vec![file(30, 3, "a", "z", 100, 0)];
        let v = version(vec![l0, l1, l2, l3]);
        let none = HashSet::new();
        assert!(pick(&v, &opts(), &none).is_none(), "no level is due");
        let ReadPick::Task(t) = pick_for_reads(&v, &opts(), &none, 0, 2) else {
            panic!("an L0 table asked");
        };
        assert_eq!((t.level, t.output_level, t.score), (0, 1, 0.0));
        let mut inputs: Vec<u64> = t.inputs.iter().map(|f| f.number).collect();
        inputs.sort_unstable();
        assert_eq!(
            inputs,
            [1, 2],
            "every L0 table goes, not just the one asked"
        );
        assert_eq!(t.next_inputs.len(), 2);
        let ReadPick::Task(t) = pick_for_reads(&v, &opts(), &none, 1, 11) else {
            panic!("an L1 table asked");
        };
        assert_eq!(t.inputs.len(), 1);
        assert_eq!(t.next_inputs[0].number, 20);
        let busy: HashSet<u64> = [20].into();
        assert!(matches!(
            pick_for_reads(&v, &opts(), &busy, 1, 11),
            ReadPick::Wait
        ));
        assert!(matches!(
            pick_for_reads(&v, &opts(), &none, 1, 99),
            ReadPick::Drop
        ));
        assert!(
            matches!(pick_for_reads(&v, &opts(), &none, 3, 30), ReadPick::Drop),
            "nothing goes below the last level"
        );
    }

    #[test]
    fn a_read_budget_is_exhausted_once_then_raised_to_the_tasks_cost() {
        let f = file(1, 0, "a", "b", 0, 1);
        assert_eq!(f.read_budget.left(), 100, "the least budget");
        assert!(!f.read_budget.spend(99));
        assert!(f.read_budget.spend(2), "the call that crosses zero says so");
        assert!(!f.read_budget.spend(1), "and only that one");
        assert!(f.read_budget.afford(1600), "100 units pay for 1600 bytes");
        assert!(!f.read_budget.afford(16_000), "but not for 16000");
        assert_eq!(
            f.read_budget.left(),
            899,
            "granted the 900 missing, less the overdraft"
        );
        assert!(!f.read_budget.spend(898));
        assert!(f.read_budget.spend(1), "exhausted again");
        assert!(f.read_budget.afford(16_000), "now paid for");
        let big = file(2, 0, "a", "b", 64 << 20, 1);
        assert_eq!(big.read_budget.left(), 4 << 20, "one unit per 16 bytes");
    }

    #[test]
    fn the_idle_drain_needs_charged_level0_and_bounded_level1_bytes() {
        let o = opts();
        let none = HashSet::new();
        let l0: Vec<_> = (1..=2).map(|n| file(n, 0, "c", "f", 50, n)).collect();
        let l1 = vec![
            file(10, 1, "a", "b", 300, 0),
            file(11, 1, "d", "e", 300, 0),
            file(12, 1, "g", "h", 300, 0),
        ];
        let v = version(vec![l0.clone(), l1]);
        assert!(pick(&v, &o, &none).is_none(), "below every trigger");
        assert!(
            pick_idle(&v, &o, &none).is_none(),
            "no read has charged level 0"
        );
        assert!(!l0[1].read_budget.charged());
        l0[1].read_budget.spend(1);
        assert!(l0[1].read_budget.charged());
        let t = pick_idle(&v, &o, &none).expect("reads pay and 300 <= 10 * 100");
        assert_eq!((t.level, t.output_level), (0, 1));
        assert_eq!(t.inputs.len(), 2, "every level-0 table");
        assert_eq!(t.file_numbers().collect::<Vec<_>>(), vec![1, 2, 11]);
        assert!(pick_idle(&v, &o, &[11].into()).is_none(), "busy");

        // 300 bytes of level 1 for 20 of level 0: more than the multiplier allows.
        let small = vec![file(3, 0, "c", "f", 20, 3)];
        small[0].read_budget.spend(1);
        let v = version(vec![small, vec![file(11, 1, "d", "e", 300, 0)]]);
        assert!(pick_idle(&v, &o, &none).is_none());
        assert!(pick_idle(&version(vec![vec![]]), &o, &none).is_none());
    }

    #[test]
    fn tasks_never_share_a_busy_table() {
        let l0 = (1..=4).map(|n| file(n, 0, "c", "f", 10, n)).collect();
        let l1 = vec![file(11, 1, "d", "e", 100, 0)];
        let v = version(vec![l0, l1]);
        let busy: HashSet<u64> = [11].into();
        assert!(
            pick(&v, &opts(), &busy).is_none(),
            "L0 needs the busy L1 table"
        );
        let busy: HashSet<u64> = [2].into();
        assert!(pick(&v, &opts(), &busy).is_none(), "an L0 table is busy");
    }

    #[test]
    fn bottommost_covers_the_next_levels_range() {
        // Regression: the inputs cover only "m".."n", but the overlapping L1 table reaches
        // "a".."z", and an L2 table holds "b": the outputs are not bottommost, or a
        // tombstone for "b" would be dropped while L2 still holds an older "b".
        let l0 = (1..=4).map(|n| file(n, 0, "m", "n", 10, 100 + n)).collect();
        let l1 = vec![file(10, 1, "a", "z", 100, 50)];
        let l2 = vec![file(20, 2, "b", "c", 100, 10)];
        let v = version(vec![l0, l1, l2]);
        let t = pick(&v, &opts(), &HashSet::new()).unwrap();
        assert_eq!(t.next_inputs.len(), 1);
        assert!(!t.bottommost);
    }

    #[test]
    fn level_targets_grow() {
        let o = opts();
        assert_eq!(
            (o.target(1), o.target(2), o.target(3)),
            (1000, 10_000, 100_000)
        );
        let l1 = vec![file(10, 1, "a", "c", 3000, 0)];
        let v = version(vec![vec![], l1]);
        assert_eq!(pending_bytes(&v, &o), 2000);
    }
}
