//! The corruption matrix: for each file kind (WAL, table, value log, MANIFEST, CURRENT) and
//! each fault (bit flip, zeroed 4 KiB, junk 4 KiB, truncation, deletion), damage a copy of a
//! cleanly closed store, open it and read everything. The outcome must be correct data or an
//! `Err` naming the damaged file, never a wrong value, a silently missing key or a panic,
//! and `verify()` on a store that opened must name the file too. The single exception is
//! damage confined to the sync mark that closes a log: it carries no data, and recovery drops
//! it as a torn tail and counts it.
//!
//! Shared by `tests/corruption_matrix.rs` and `tests/broken_engine.rs` (which runs it with
//! checksums switched off and expects it to fail).
#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stratakv::filename::{parse_file_name, FileKind};
use stratakv::fs::{FileSystem, MemFs};
use stratakv::{Db, Error, Options};

use crate::common::{tiny_mem_options, Rng};

pub const DIR: &str = "/matrix";
/// A sync mark record: a 13-byte header and an 8-byte payload.
const CLOSING_MARK_BYTES: usize = 21;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// The kinds of file damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Wal,
    Table,
    Vlog,
    Manifest,
    Current,
}

/// The faults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    BitFlip,
    Zero4K,
    Junk4K,
    Truncate,
    Delete,
}

/// How the cases of one cell ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cell {
    pub cases: u32,
    /// `open` failed with an error naming the file.
    pub open_err: u32,
    /// A read or scan failed with an error naming the file.
    pub read_err: u32,
    /// Every read was right; `verify()` named the file.
    pub verify_only: u32,
    /// Damage confined to a closing sync mark: dropped as a torn tail, counted.
    pub torn_mark: u32,
}

/// Counts per (kind, fault).
#[derive(Debug, Default)]
pub struct Summary(pub BTreeMap<(Kind, Fault), Cell>);

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ((k, fault), c) in &self.0 {
            writeln!(
                f,
                "scenario corruption/{k:?}/{fault:?}: cases={} open_err={} read_err={} \
                 verify_only={} torn_mark={} wrong=0 missing=0 panics=0",
                c.cases, c.open_err, c.read_err, c.verify_only, c.torn_mark
            )?;
        }
        Ok(())
    }
}

pub fn options(fs: &MemFs) -> Options {
    Options {
        value_threshold: 200,
        vlog_file_size: 64 << 10,
        vlog_gc_background: false,
        ..tiny_mem_options(fs)
    }
}

/// A cleanly closed store with tables in several levels, value-log files, a MANIFEST and a
/// WAL holding the last writes; and the model of its contents.
pub fn build(fs: &MemFs, seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let db = Db::open_with(DIR, options(fs)).unwrap();
    let mut model = Model::new();
    let mut put = |db: &Db, k: String, rng: &mut Rng| {
        let len = if rng.chance(30) {
            300 + rng.below(400)
        } else {
            20 + rng.below(60)
        };
        let v = rng.bytes(len as usize);
        db.put(&k, &v).unwrap();
        model.insert(k.into_bytes(), v);
    };
    for i in 0..2_000u32 {
        put(&db, format!("key{i:05}"), &mut rng);
    }
    db.flush().unwrap();
    for _ in 0..600 {
        let i = rng.below(2_000);
        put(&db, format!("key{i:05}"), &mut rng);
    }
    db.flush().unwrap();
    for i in 0..120u32 {
        put(&db, format!("wal{i:04}"), &mut rng);
    }
    db.close().unwrap();
    model
}

fn kind_of(name: &str) -> Option<Kind> {
    match parse_file_name(name)? {
        FileKind::Wal(_) => Some(Kind::Wal),
        FileKind::Table(_) => Some(Kind::Table),
        FileKind::Vlog(_) => Some(Kind::Vlog),
        FileKind::Manifest(_) => Some(Kind::Manifest),
        FileKind::Current => Some(Kind::Current),
        _ => None,
    }
}

/// The damage of one case: the fault and where. Returns the byte range touched (for the
/// closing-mark exception), or `None` for a deletion.
fn apply(
    fs: &MemFs,
    path: &Path,
    fault: Fault,
    at: usize,
    rng: &mut Rng,
) -> Option<(usize, usize)> {
    let len = fs.file_len(path).unwrap();
    match fault {
        Fault::BitFlip => {
            let b = fs.read_file(path).unwrap()[at] ^ (1 << rng.below(8));
            fs.corrupt(path, at, &[b]).unwrap();
            Some((at, at + 1))
        }
        Fault::Zero4K | Fault::Junk4K => {
            let end = (at + 4096).min(len);
            let bytes = if fault == Fault::Zero4K {
                vec![0u8; end - at]
            } else {
                rng.bytes(end - at)
            };
            fs.corrupt(path, at, &bytes).unwrap();
            Some((at, end))
        }
        Fault::Truncate => {
            fs.truncate(path, at).unwrap();
            Some((at, len))
        }
        Fault::Delete => {
            fs.remove_file(path).unwrap();
            None
        }
    }
}

/// Where to apply `fault` in a file of `len` bytes.
fn positions(fault: Fault, len: usize, rng: &mut Rng) -> Vec<usize> {
    let r = |rng: &mut Rng| rng.below(len as u64) as usize;
    match fault {
        Fault::BitFlip => {
            let mut v = vec![
                0,
                len / 2,
                len - 1,
                len.saturating_sub(30),
                len.saturating_sub(60),
            ];
            v.extend((0..10).map(|_| r(rng)));
            v
        }
        Fault::Zero4K | Fault::Junk4K => vec![0, r(rng), len.saturating_sub(4096), len / 2],
        Fault::Truncate => vec![0, len / 2, len - 1, r(rng)],
        Fault::Delete => vec![0],
    }
}

/// Whether `e` is a corruption error naming `path`.
fn names(e: &Error, path: &Path) -> bool {
    e.is_corruption()
        && (e.corruption_location().is_some_and(|(p, _)| p == path)
            || e.to_string().contains(&*path.to_string_lossy()))
}

enum Read {
    Clean,
    Reported,
}

/// Checks a full forward scan, stepped by `next`, against the model: true when it
/// reported an error naming `path` (after which it must end). Panics on a wrong value, a
/// missing or extra key, or an error that does not name `path`.
fn scan_reports(
    model: &Model,
    path: &Path,
    ctx: &str,
    mut next: impl FnMut() -> Option<stratakv::Result<(Vec<u8>, Vec<u8>)>>,
) -> bool {
    let mut expect = model.iter();
    while let Some(item) = next() {
        match item {
            Ok((k, v)) => {
                let (ek, ev) = expect
                    .next()
                    .unwrap_or_else(|| panic!("{ctx}: EXTRA key in a scan"));
                assert!(k == ek[..], "{ctx}: scan MISSING or extra key near {ek:?}");
                assert!(v == ev[..], "{ctx}: scan WRONG value for {ek:?}");
            }
            Err(e) => {
                assert!(
                    names(&e, path),
                    "{ctx}: scan error does not name the file: {e}"
                );
                assert!(next().is_none(), "{ctx}: the scan went on after its error");
                return true;
            }
        }
    }
    assert!(
        expect.next().is_none(),
        "{ctx}: scan ended early, keys MISSING"
    );
    false
}

/// Reads every key, then scans forward twice: through `next` and through `next_ref`.
/// Panics on a wrong value, a missing or extra key, or an error that does not name `path`.
fn read_all(db: &Db, model: &Model, path: &Path, ctx: &str) -> Read {
    let mut reported = false;
    for (k, v) in model {
        match db.get(k) {
            Ok(Some(got)) => assert!(got == v[..], "{ctx}: WRONG value for {k:?}"),
            Ok(None) => panic!(
                "{ctx}: key {:?} silently MISSING",
                String::from_utf8_lossy(k)
            ),
            Err(e) => {
                assert!(names(&e, path), "{ctx}: error does not name the file: {e}");
                reported = true;
            }
        }
    }
    // A scan through the owning step, then one through the lending step.
    let mut it = db.iter();
    reported |= scan_reports(model, path, ctx, || {
        it.next().map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
    });
    let mut it = db.iter();
    reported |= scan_reports(model, path, &format!("{ctx} (lending)"), || {
        it.next_ref()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
    });
    if reported {
        Read::Reported
    } else {
        Read::Clean
    }
}

fn torn_tail_counted(db: &Db) -> bool {
    let r = db.stats().recovery;
    r.torn_tail_bytes + r.vlog_torn_tail_bytes + r.manifest_torn_tail_bytes > 0
}

/// One damaged copy of the store.
struct Case<'a> {
    kind: Kind,
    path: &'a Path,
    len: usize,
    span: Option<(usize, usize)>,
    ctx: &'a str,
}

impl Case<'_> {
    /// Opens the damaged image and reads everything; counts the outcome in `cell`.
    fn run(&self, img: MemFs, opts: &Options, model: &Model, cell: &mut Cell) {
        let (path, ctx) = (self.path, self.ctx);
        let o = Options {
            fs: Arc::new(img),
            ..opts.clone()
        };
        let db = match Db::open_with(DIR, o) {
            Err(e) => {
                assert!(
                    names(&e, path),
                    "{ctx}: open error does not name the file: {e}"
                );
                cell.open_err += 1;
                return;
            }
            Ok(db) => db,
        };
        let read = read_all(&db, model, path, ctx);
        let report = db
            .verify()
            .unwrap_or_else(|e| panic!("{ctx}: verify failed: {e}"));
        let found = report.damage.iter().any(|d| d.file == path);
        match read {
            Read::Reported => {
                assert!(
                    found,
                    "{ctx}: verify missed damage that reads met: {report}"
                );
                cell.read_err += 1;
            }
            Read::Clean if found => cell.verify_only += 1,
            Read::Clean => {
                let in_mark = self.span.is_some_and(|(s, _)| {
                    self.kind != Kind::Table
                        && self.kind != Kind::Current
                        && s + CLOSING_MARK_BYTES >= self.len
                });
                assert!(
                    in_mark && torn_tail_counted(&db),
                    "{ctx}: damage went UNNOTICED by reads and verify: {report}"
                );
                cell.torn_mark += 1;
            }
        }
    }
}

/// Runs the matrix on a store built from `seed`, with up to `files_per_kind` files of each
/// kind damaged. Panics on the first violation, naming the seed and the case.
pub fn run(seed: u64, files_per_kind: usize) -> Summary {
    let base = MemFs::new();
    let model = build(&base, seed);
    let opts = options(&base);
    let mut rng = Rng::new(seed ^ 0xC0FF_EE00);
    let mut by_kind: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for name in base.list_dir(Path::new(DIR)).unwrap() {
        if let Some(k) = kind_of(&name) {
            by_kind.entry(k).or_default().push(name);
        }
    }
    for k in [
        Kind::Wal,
        Kind::Table,
        Kind::Vlog,
        Kind::Manifest,
        Kind::Current,
    ] {
        assert!(by_kind.contains_key(&k), "the store has no {k:?} file");
    }
    let mut summary = Summary::default();
    for (&kind, files) in &by_kind {
        // The first and the last of each kind (oldest and newest).
        let mut chosen: Vec<&String> = files.iter().take(files_per_kind.div_ceil(2)).collect();
        chosen.extend(files.iter().rev().take(files_per_kind / 2));
        chosen.dedup();
        for name in chosen {
            let path: PathBuf = Path::new(DIR).join(name);
            let len = base.file_len(&path).unwrap();
            for fault in [
                Fault::BitFlip,
                Fault::Zero4K,
                Fault::Junk4K,
                Fault::Truncate,
                Fault::Delete,
            ] {
                for at in positions(fault, len, &mut rng) {
                    let ctx = format!("seed {seed}: {fault:?} at {at} of {name} ({len} bytes)");
                    let img = base.crash_clone();
                    let span = apply(&img, &path, fault, at, &mut rng);
                    let cell = summary.0.entry((kind, fault)).or_default();
                    cell.cases += 1;
                    let kept = img.crash_clone();
                    let case = Case {
                        kind,
                        path: &path,
                        len,
                        span,
                        ctx: &ctx,
                    };
                    crate::common::keep_on_panic(&kept, "corruption_matrix", || {
                        case.run(img, &opts, &model, cell)
                    });
                }
            }
        }
    }
    summary
}
