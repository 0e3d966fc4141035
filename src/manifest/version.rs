//! Immutable versions: the set of live tables per level.
//!
//! Level 0 holds tables in flush order, newest first; their key ranges may overlap. Deeper
//! levels hold tables sorted by smallest key with disjoint ranges. A version never changes;
//! edits produce a new one, swapped in atomically (readers pin an `Arc`).

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

impl Version {
    /// An empty version with `levels` levels.
    pub fn new(levels: usize) -> Self {
        Version {
            levels: vec![Vec::new(); levels],
            vlogs: Arc::default(),
        }
    }

    /// Looks `lookup` (an internal seek key) up through the levels.
    ///
    /// # Errors
    ///
    /// I/O or corruption in a table.
    pub fn get(&self, lookup: &[u8], hash: u64, c: &mut LookupCounters) -> Result<Lookup> {
        let uk = user_key(lookup);
        for (level, files) in self.levels.iter().enumerate() {
            if level == 0 {
                for f in files {
                    if let Some(r) = probe(f, lookup, uk, hash, c)? {
                        return Ok(r);
                    }
                }
            } else {
                // The first table whose largest user key is >= uk.
                let i = files.partition_point(|f| user_key(&f.largest) < uk);
                if let Some(f) = files.get(i) {
                    if let Some(r) = probe(f, lookup, uk, hash, c)? {
                        return Ok(r);
                    }
                }
            }
        }
        Ok(Lookup::Absent)
    }

    /// Every table, level by level.
    pub fn all_files(&self) -> impl Iterator<Item = &Arc<FileMeta>> {
        self.levels.iter().flatten()
    }
}

fn probe(
    f: &FileMeta,
    lookup: &[u8],
    uk: &[u8],
    hash: u64,
    c: &mut LookupCounters,
) -> Result<Option<Lookup>> {
    if !f.may_contain_user_key(uk) {
        return Ok(None);
    }
    match f.table.get(lookup, hash, c)? {
        Lookup::Absent => Ok(None),
        r => Ok(Some(r)),
    }
}
