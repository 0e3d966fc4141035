//! Names of the files in a database directory.
//!
//! `LOCK`, `CURRENT` (and `CURRENT.tmp` while it is being replaced), `MANIFEST-<n>`,
//! `<n>.wal`, `<n>.sst`, `<n>.vlog`, with `n` zero-padded to six decimal digits (wider when
//! it grows). Nothing else is ever created there.

use std::path::{Path, PathBuf};

/// What a file in the directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The lock file.
    Lock,
    /// The pointer to the live manifest.
    Current,
    /// A `CURRENT` being written.
    CurrentTmp,
    /// A manifest.
    Manifest(u64),
    /// A WAL segment.
    Wal(u64),
    /// A table.
    Table(u64),
    /// A value-log file.
    Vlog(u64),
}

/// `<dir>/<n>.sst`
pub fn table_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.sst"))
}

/// `<dir>/<n>.wal`
pub fn wal_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.wal"))
}

/// `<dir>/<n>.vlog`
pub fn vlog_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:06}.vlog"))
}

/// `<dir>/MANIFEST-<n>`
pub fn manifest_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(manifest_name(n))
}

/// `MANIFEST-<n>`
pub fn manifest_name(n: u64) -> String {
    format!("MANIFEST-{n:06}")
}

/// `<dir>/CURRENT`
pub fn current_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}

/// `<dir>/CURRENT.tmp`
pub fn current_tmp_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT.tmp")
}

/// `<dir>/LOCK`
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Classifies a file name; `None` for names the engine does not own.
pub fn parse_file_name(name: &str) -> Option<FileKind> {
    match name {
        "LOCK" => return Some(FileKind::Lock),
        "CURRENT" => return Some(FileKind::Current),
        "CURRENT.tmp" => return Some(FileKind::CurrentTmp),
        _ => {}
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return number(n).map(FileKind::Manifest);
    }
    let (stem, ext) = name.rsplit_once('.')?;
    let n = number(stem)?;
    match ext {
        "wal" => Some(FileKind::Wal(n)),
        "sst" => Some(FileKind::Table(n)),
        "vlog" => Some(FileKind::Vlog(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        let d = Path::new("/d");
        assert_eq!(table_path(d, 5), Path::new("/d/000005.sst"));
        assert_eq!(parse_file_name("000005.sst"), Some(FileKind::Table(5)));
        assert_eq!(
            parse_file_name("1234567.wal"),
            Some(FileKind::Wal(1_234_567))
        );
        assert_eq!(
            parse_file_name("MANIFEST-000002"),
            Some(FileKind::Manifest(2))
        );
        assert_eq!(parse_file_name("x.sst"), None);
        assert_eq!(parse_file_name("000001.txt"), None);
        assert_eq!(parse_file_name("CURRENT"), Some(FileKind::Current));
    }
}
