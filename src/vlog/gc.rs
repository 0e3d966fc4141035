//! Choosing the value-log file to collect: a pure function of the files' sizes and discard
//! counts.

/// What the chooser knows of one value-log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileUsage {
    /// File number.
    pub number: u64,
    /// Its length in bytes (sealed files only are candidates).
    pub size: u64,
    /// Bytes of its records no longer referenced by the tree.
    pub discard: u64,
}

impl FileUsage {
    /// Share of the file that is garbage, 0.0 to 1.0.
    pub fn discard_ratio(&self) -> f64 {
        if self.size == 0 {
            return 0.0;
        }
        (self.discard as f64 / self.size as f64).min(1.0)
    }
}

/// The file with the highest discard ratio at or above `min_ratio`, if any. Ties go to the
/// older file (its garbage has waited longest).
pub fn pick(files: &[FileUsage], min_ratio: f64) -> Option<u64> {
    files
        .iter()
        .filter(|f| f.size > 0 && f.discard_ratio() >= min_ratio)
        .max_by(|a, b| {
            a.discard_ratio()
                .total_cmp(&b.discard_ratio())
                .then(b.number.cmp(&a.number))
        })
        .map(|f| f.number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(number: u64, size: u64, discard: u64) -> FileUsage {
        FileUsage {
            number,
            size,
            discard,
        }
    }

    #[test]
    fn highest_ratio_past_the_threshold() {
        let files = [f(1, 100, 40), f(2, 100, 70), f(3, 1000, 600)];
        assert_eq!(pick(&files, 0.5), Some(2));
        assert_eq!(pick(&files, 0.75), None);
        assert_eq!(pick(&files, 0.0), Some(2));
        assert_eq!(pick(&[], 0.1), None);
    }

    #[test]
    fn ties_go_to_the_oldest_and_empty_files_are_skipped() {
        assert_eq!(pick(&[f(5, 10, 10), f(4, 20, 20)], 0.5), Some(4));
        assert_eq!(pick(&[f(1, 0, 0)], 0.0), None);
        assert_eq!(f(1, 10, 50).discard_ratio(), 1.0, "over-counting is capped");
    }
}
