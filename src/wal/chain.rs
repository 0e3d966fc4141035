//! The rule for the chain of WAL segments replayed at recovery, oldest first: which of them
//! must be whole, and from where on a loss is a power loss taking unsynced writes rather
//! than damage.
//!
//! Since format version 3 a memtable freeze starts a new segment without fsyncing the old
//! one (`engine/retired.rs`). Before any fsync of a segment the engine fsyncs the value log
//! and then every older segment not yet durable, trimmed to its records. So an intact sync
//! mark in a segment declares every older segment whole. A segment that no later mark
//! covers may end torn, in zeros, or be missing altogether (its directory entry was never
//! synced): its unsynced writes were lost, and recovery keeps the writes before the loss.
//! A version 1 or 2 segment that is not the newest was fsynced whole when it was retired.

use super::format::LOG_VERSION_LAZY_RETIRE;
use super::LogContents;

/// The first place in a chain of segments where a loss may be a power loss's doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossFrom {
    /// Segments before this index must be whole.
    pub segment: usize,
    /// In that segment, bytes before this offset were durable.
    pub offset: u64,
}

impl LossFrom {
    /// Works the rule out for `logs`, the segments read in order (each read tolerating a
    /// torn tail), where `sealed` is the index of the segment a clean close sealed, if any.
    pub fn of(logs: &[LogContents], sealed: Option<usize>) -> Self {
        let mut segment = 0;
        for (i, log) in logs.iter().enumerate() {
            if log.synced_mark > 0 {
                segment = i;
            }
            if log.version < LOG_VERSION_LAZY_RETIRE && i + 1 < logs.len() {
                segment = segment.max(i + 1);
            }
        }
        if let Some(s) = sealed.filter(|&s| s >= segment) {
            return LossFrom {
                segment: s,
                offset: u64::MAX,
            };
        }
        LossFrom {
            segment,
            offset: logs.get(segment).map_or(0, |l| l.synced_mark),
        }
    }

    /// Whether segment `i` must be whole: no torn or zeroed tail, a complete header.
    pub fn must_be_whole(&self, i: usize) -> bool {
        i < self.segment
    }

    /// Whether a loss found at `offset` of segment `i` (a record pointing past the end of
    /// the value log) may be unsynced writes lost, rather than damage.
    pub fn tolerates(&self, i: usize, offset: u64) -> bool {
        i > self.segment || (i == self.segment && offset >= self.offset)
    }

    /// Whether writes missing between the end of segment `i - 1`'s replayed records and
    /// the first record of segment `i` (a sequence gap there) may have been lost unsynced:
    /// only when `i` comes after the last segment a sync mark covers, so that the loss lies
    /// in unsynced writes.
    pub fn tolerates_gap_before(&self, i: usize) -> bool {
        i > self.segment
    }

    /// Whether `log` ends early: a torn tail, zeros, or not even a whole header.
    pub fn ends_early(log: &LogContents) -> bool {
        log.torn_tail_bytes > 0 || log.zeroed_tail_bytes > 0 || log.version == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(version: u32, synced_mark: u64) -> LogContents {
        LogContents {
            version,
            synced_mark,
            ..LogContents::default()
        }
    }

    #[test]
    fn a_mark_declares_older_segments_whole() {
        let logs = [seg(3, 0), seg(3, 0), seg(3, 40), seg(3, 0)];
        let f = LossFrom::of(&logs, None);
        assert_eq!(
            f,
            LossFrom {
                segment: 2,
                offset: 40
            }
        );
        assert!(f.must_be_whole(1) && !f.must_be_whole(2));
        assert!(!f.tolerates(2, 39) && f.tolerates(2, 40) && f.tolerates(3, 0));
        assert!(!f.tolerates_gap_before(2) && f.tolerates_gap_before(3));
    }

    #[test]
    fn without_marks_every_segment_may_end_early() {
        let f = LossFrom::of(&[seg(3, 0), seg(3, 0)], None);
        assert_eq!(
            f,
            LossFrom {
                segment: 0,
                offset: 0
            }
        );
        assert!(!f.must_be_whole(0));
        // The first segment continues the manifest's sequence: a gap there is damage.
        assert!(!f.tolerates_gap_before(0) && f.tolerates_gap_before(1));
    }

    #[test]
    fn older_versions_synced_each_retired_segment_whole() {
        let f = LossFrom::of(&[seg(2, 0), seg(2, 0), seg(3, 0)], None);
        assert_eq!(f.segment, 2);
        let f = LossFrom::of(&[seg(2, 0), seg(2, 30)], None);
        assert_eq!(
            f,
            LossFrom {
                segment: 1,
                offset: 30
            }
        );
    }

    #[test]
    fn a_sealed_segment_is_whole_to_its_end() {
        let f = LossFrom::of(&[seg(3, 0), seg(3, 20)], Some(1));
        assert_eq!(
            f,
            LossFrom {
                segment: 1,
                offset: u64::MAX
            }
        );
        assert!(f.must_be_whole(0) && !f.tolerates(1, 1 << 40));
    }
}
