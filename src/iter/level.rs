//! One source for a whole sorted level: its tables concatenated, opened one at a time.
//!
//! Below level 0 a level's tables are sorted and their key ranges disjoint, so a cursor
//! over the level needs only the table its position lies in (LevelDB's "concatenating
//! iterator"). A seek finds that table by binary search over the tables' key ranges and
//! reads one block of it; the level's other tables are not touched until the cursor walks
//! into them. Giving every table its own source instead made each seek position every
//! table of every level (a block read each), and each step of the merge compare them all.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use super::db_iter::{above_lower, below_upper};
use super::InternalIterator;
use crate::error::Result;
use crate::key::{compare_internal, user_key};
use crate::manifest::{FileMeta, Version};
use crate::sstable::TableIter;

/// True when a table with user keys `smallest..=largest` may hold a key within the bounds.
pub(crate) fn overlaps(
    smallest: &[u8],
    largest: &[u8],
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> bool {
    above_lower(&lower, largest) && below_upper(&upper, smallest)
}

/// The run of a sorted level's tables that may hold keys within the bounds.
pub(crate) fn tables_within(
    files: &[Arc<FileMeta>],
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> std::ops::Range<usize> {
    let start = files.partition_point(|f| !above_lower(&lower, user_key(&f.largest)));
    let end = files.partition_point(|f| below_upper(&upper, user_key(&f.smallest)));
    start..end.max(start)
}

/// A cursor over a run of one sorted level's tables (level 1 and below).
pub struct LevelIter {
    version: Arc<Version>,
    level: usize,
    tables: std::ops::Range<usize>,
    /// The open table (an index into `files()`) and its cursor; `None` when not valid.
    cur: Option<(usize, TableIter)>,
}

impl std::fmt::Debug for LevelIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelIter")
            .field("level", &self.level)
            .field("tables", &self.tables)
            .field("at", &self.cur.as_ref().map(|c| c.0))
            .finish()
    }
}

impl LevelIter {
    /// A cursor over tables `tables` of `level` in `version`; the level must be sorted
    /// (not level 0) and `tables` within it.
    pub fn new(version: Arc<Version>, level: usize, tables: std::ops::Range<usize>) -> Self {
        debug_assert!(level > 0 && tables.end <= version.levels[level].len());
        LevelIter {
            version,
            level,
            tables,
            cur: None,
        }
    }

    fn files(&self) -> &[Arc<FileMeta>] {
        &self.version.levels[self.level][self.tables.clone()]
    }

    /// Makes table `i` the open one, keeping its cursor if it already is.
    fn open(&mut self, i: Option<usize>) -> Option<&mut TableIter> {
        match i {
            None => {
                self.cur = None;
                None
            }
            Some(i) => {
                if self.cur.as_ref().is_none_or(|c| c.0 != i) {
                    let it = self.files()[i].table.iter();
                    self.cur = Some((i, it));
                }
                self.cur.as_mut().map(|c| &mut c.1)
            }
        }
    }

    fn table(&self) -> &TableIter {
        &self.cur.as_ref().expect("LevelIter used while not valid").1
    }

    /// Walks on into the next tables while the open one is exhausted.
    fn skip_forward(&mut self) -> Result<()> {
        while let Some((i, it)) = &self.cur {
            if it.valid() {
                break;
            }
            let next = (i + 1 < self.files().len()).then_some(i + 1);
            if let Some(t) = self.open(next) {
                t.seek_to_first()?;
            }
        }
        Ok(())
    }

    /// Walks back into the previous tables while the open one is exhausted.
    fn skip_backward(&mut self) -> Result<()> {
        while let Some((i, it)) = &self.cur {
            if it.valid() {
                break;
            }
            if let Some(t) = self.open(i.checked_sub(1)) {
                t.seek_to_last()?;
            }
        }
        Ok(())
    }
}

impl InternalIterator for LevelIter {
    fn valid(&self) -> bool {
        self.cur.as_ref().is_some_and(|c| c.1.valid())
    }
    fn key(&self) -> &[u8] {
        self.table().key()
    }
    fn value(&self) -> &[u8] {
        self.table().value()
    }
    fn value_bytes(&self) -> Bytes {
        self.table().value_bytes()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        let first = (!self.files().is_empty()).then_some(0);
        if let Some(t) = self.open(first) {
            t.seek_to_first()?;
        }
        self.skip_forward()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        let last = self.files().len().checked_sub(1);
        if let Some(t) = self.open(last) {
            t.seek_to_last()?;
        }
        self.skip_backward()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // The first table whose largest key is >= target.
        let files = self.files();
        let i = files.partition_point(|f| compare_internal(&f.largest, target).is_lt());
        let i = (i < files.len()).then_some(i);
        if let Some(t) = self.open(i) {
            t.seek(target)?;
        }
        self.skip_forward()
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // The last table whose smallest key is <= target.
        let i = self
            .files()
            .partition_point(|f| compare_internal(&f.smallest, target).is_le());
        if let Some(t) = self.open(i.checked_sub(1)) {
            t.seek_for_prev(target)?;
        }
        self.skip_backward()
    }
    fn next(&mut self) -> Result<()> {
        if let Some((_, t)) = &mut self.cur {
            t.next()?;
        }
        self.skip_forward()
    }
    fn prev(&mut self) -> Result<()> {
        if let Some((_, t)) = &mut self.cur {
            t.prev()?;
        }
        self.skip_backward()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fs::{FileSystem, MemFs};
    use crate::key::make_internal_key;
    use crate::options::Compression;
    use crate::sstable::{Table, TableBuilder, TableOpenOptions, TableOptions};

    /// A level of four tables holding even keys `k000..k158` (40 per table, tiny blocks so
    /// each table has many), as a version with the tables on level 1.
    fn level() -> (Arc<Version>, Vec<Vec<u8>>) {
        let fs = MemFs::new();
        let dir = Path::new("/l");
        fs.create_dir_all(dir).unwrap();
        let mut version = Version::new(2);
        let mut keys = Vec::new();
        for t in 0..4u64 {
            let path = dir.join(format!("{t:06}.sst"));
            let mut b = TableBuilder::new(
                fs.create(&path).unwrap(),
                &path,
                TableOptions {
                    block_size: 256,
                    restart_interval: 3,
                    compression: Compression::None,
                    bloom_bits_per_key: 0,
                },
            );
            let ikeys: Vec<Vec<u8>> = (0..20)
                .map(|i| format!("k{:03}", (t * 20 + i) * 2).into_bytes())
                .map(|k| make_internal_key(&k, 7, 1))
                .collect();
            for k in &ikeys {
                b.add(k, user_key(k)).unwrap();
            }
            b.finish().unwrap();
            let table = Table::open(&fs, &path, t, None, &TableOpenOptions::default()).unwrap();
            version.levels[1].push(Arc::new(FileMeta {
                number: t,
                level: 1,
                size: 0,
                file_crc: 0,
                smallest: ikeys[0].clone(),
                largest: ikeys[ikeys.len() - 1].clone(),
                smallest_seq: 7,
                largest_seq: 7,
                num_entries: ikeys.len() as u64,
                table,
                read_budget: crate::manifest::ReadBudget::for_size(0),
            }));
            keys.extend(ikeys);
        }
        (Arc::new(version), keys)
    }

    fn collect(it: &mut LevelIter, forward: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while it.valid() {
            assert_eq!(it.value(), user_key(it.key()));
            out.push(it.key().to_vec());
            if forward {
                it.next().unwrap();
            } else {
                it.prev().unwrap();
            }
        }
        out
    }

    #[test]
    fn walks_the_tables_both_ways() {
        let (v, keys) = level();
        let mut it = LevelIter::new(v, 1, 0..4);
        it.seek_to_first().unwrap();
        assert_eq!(collect(&mut it, true), keys);
        it.seek_to_last().unwrap();
        let mut rev = keys.clone();
        rev.reverse();
        assert_eq!(collect(&mut it, false), rev);
    }

    #[test]
    fn seeks_land_where_a_sorted_list_says_across_table_boundaries() {
        let (v, keys) = level();
        let mut it = LevelIter::new(v.clone(), 1, 0..4);
        // Every key, every gap between keys (odd numbers), and both ends.
        for n in 0..=161u64 {
            let target = make_internal_key(format!("k{n:03}").as_bytes(), 7, 1);
            let ge = keys
                .iter()
                .position(|k| compare_internal(k, &target).is_ge());
            it.seek(&target).unwrap();
            assert_eq!(
                it.valid().then(|| it.key().to_vec()),
                ge.map(|i| keys[i].clone())
            );
            let le = keys
                .iter()
                .rposition(|k| compare_internal(k, &target).is_le());
            it.seek_for_prev(&target).unwrap();
            assert_eq!(
                it.valid().then(|| it.key().to_vec()),
                le.map(|i| keys[i].clone())
            );
        }
        // A run of the middle tables ends where they do.
        let mut mid = LevelIter::new(v, 1, 1..3);
        mid.seek(&make_internal_key(b"a", 7, 1)).unwrap();
        assert_eq!(collect(&mut mid, true), keys[20..60].to_vec());
        mid.seek_for_prev(&make_internal_key(b"z", 7, 1)).unwrap();
        assert_eq!(collect(&mut mid, false).len(), 40);
    }

    #[test]
    fn bounds_pick_the_overlapping_tables() {
        let (v, _) = level();
        let files = &v.levels[1];
        let inc = |s: &'static str| Bound::Included(s.as_bytes());
        let exc = |s: &'static str| Bound::Excluded(s.as_bytes());
        assert_eq!(
            tables_within(files, Bound::Unbounded, Bound::Unbounded),
            0..4
        );
        // Table 1 holds k040..=k078, table 2 k080..=k118.
        assert_eq!(tables_within(files, inc("k078"), inc("k080")), 1..3);
        assert_eq!(tables_within(files, exc("k078"), inc("k080")), 2..3);
        assert_eq!(tables_within(files, inc("k078"), exc("k080")), 1..2);
        assert_eq!(tables_within(files, inc("k079"), inc("k079")).len(), 0);
        assert_eq!(tables_within(files, inc("z"), Bound::Unbounded).len(), 0);
        assert_eq!(tables_within(files, Bound::Unbounded, exc("k000")).len(), 0);
        assert!(overlaps(b"b", b"d", inc("d"), Bound::Unbounded));
        assert!(!overlaps(b"b", b"d", exc("d"), Bound::Unbounded));
        assert!(!overlaps(b"b", b"d", Bound::Unbounded, exc("b")));
        assert!(overlaps(b"b", b"d", inc("a"), inc("b")));
    }
}
