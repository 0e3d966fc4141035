//! A filesystem wrapper that injects I/O errors, and holds operations back.
//!
//! Rules pick operations by kind ([`FaultOp`]) and optionally by a substring of the path;
//! a rule fires on the n-th matching operation, on every one, or at random from a seed.
//! Injected errors are `io::ErrorKind::Other` with the message "injected fault". A hold
//! ([`FaultFs::hold`]) makes matching operations wait until [`FaultFs::release`]: a test can
//! keep a background job (a flush, say) from finishing while it stages a crash.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;

use super::{FileLock, FileSync, FileSystem, RandomAccessFile, WritableFile};

/// The kinds of operation a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    /// `WritableFile::append`, `flush`, `preallocate` and `trim_preallocated`.
    Write,
    /// `WritableFile::sync` and `FileSystem::sync_dir`.
    Sync,
    /// `FileSystem::rename`.
    Rename,
    /// `FileSystem::create` and `FileSystem::reopen`.
    Create,
    /// `FileSystem::open` and reads.
    Read,
    /// `FileSystem::remove_file`.
    Remove,
    /// Any of the above.
    Any,
}

#[derive(Debug, Clone)]
enum Trigger {
    Nth { remaining: u64 },
    Always,
    Random { state: u64, one_in: u64 },
}

#[derive(Debug, Clone)]
struct Rule {
    op: FaultOp,
    path_contains: Option<String>,
    trigger: Trigger,
}

#[derive(Debug, Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    injected: AtomicU64,
    /// Operations held back: kind, and a substring of the path.
    holds: Mutex<Vec<(FaultOp, String)>>,
    released: Condvar,
}

impl Shared {
    fn check(&self, op: FaultOp, path: &Path) -> io::Result<()> {
        let p = path.to_string_lossy();
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        while holds
            .iter()
            .any(|(o, part)| (*o == FaultOp::Any || *o == op) && p.contains(part.as_str()))
        {
            holds = self.released.wait(holds).unwrap_or_else(|p| p.into_inner());
        }
        drop(holds);
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let mut fire = false;
        rules.retain_mut(|r| {
            if !(r.op == FaultOp::Any || r.op == op) {
                return true;
            }
            if r.path_contains.as_deref().is_some_and(|s| !p.contains(s)) {
                return true;
            }
            match &mut r.trigger {
                Trigger::Always => {
                    fire = true;
                    true
                }
                Trigger::Nth { remaining } => {
                    *remaining -= 1;
                    if *remaining == 0 {
                        fire = true;
                        false
                    } else {
                        true
                    }
                }
                Trigger::Random { state, one_in } => {
                    *state = splitmix(*state);
                    if *state % *one_in == 0 {
                        fire = true;
                    }
                    true
                }
            }
        });
        if fire {
            self.injected.fetch_add(1, Ordering::Relaxed);
            Err(io::Error::other(format!(
                "injected fault ({op:?} on {})",
                path.display()
            )))
        } else {
            Ok(())
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Wraps a filesystem and fails chosen operations. Cloning shares the rules.
#[derive(Debug, Clone)]
pub struct FaultFs {
    inner: Arc<dyn FileSystem>,
    shared: Arc<Shared>,
}

impl FaultFs {
    /// Wraps `inner` with no rules.
    pub fn new(inner: Arc<dyn FileSystem>) -> Self {
        FaultFs {
            inner,
            shared: Arc::default(),
        }
    }

    fn add(&self, rule: Rule) {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    /// Fails the `n`-th (1-based) operation of kind `op` from now, once.
    pub fn fail_nth(&self, op: FaultOp, n: u64) {
        self.add(Rule {
            op,
            path_contains: None,
            trigger: Trigger::Nth {
                remaining: n.max(1),
            },
        });
    }

    /// Fails every operation of kind `op` on a path containing `part`, until cleared.
    pub fn fail_path(&self, op: FaultOp, part: &str) {
        self.add(Rule {
            op,
            path_contains: Some(part.to_string()),
            trigger: Trigger::Always,
        });
    }

    /// Fails every operation of kind `op`, until cleared (a full disk, for writes).
    pub fn fail_always(&self, op: FaultOp) {
        self.add(Rule {
            op,
            path_contains: None,
            trigger: Trigger::Always,
        });
    }

    /// Fails operations of kind `op` at random, about one in `one_in`, from `seed`.
    pub fn fail_randomly(&self, op: FaultOp, seed: u64, one_in: u64) {
        self.add(Rule {
            op,
            path_contains: None,
            trigger: Trigger::Random {
                state: seed,
                one_in: one_in.max(1),
            },
        });
    }

    /// Makes every operation of kind `op` on a path containing `part` wait until
    /// [`FaultFs::release`].
    pub fn hold(&self, op: FaultOp, part: &str) {
        self.shared
            .holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((op, part.to_string()));
    }

    /// Lets every held operation go on, and removes the holds.
    pub fn release(&self) {
        self.shared
            .holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.shared.released.notify_all();
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::Relaxed)
    }
}

struct FaultWritable {
    inner: Box<dyn WritableFile>,
    shared: Arc<Shared>,
    path: std::path::PathBuf,
}

impl WritableFile for FaultWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.shared.check(FaultOp::Write, &self.path)?;
        self.inner.append(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.shared.check(FaultOp::Write, &self.path)?;
        self.inner.flush()
    }
    fn sync(&mut self) -> io::Result<()> {
        self.shared.check(FaultOp::Sync, &self.path)?;
        self.inner.sync()
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        self.shared.check(FaultOp::Write, &self.path)?;
        self.inner.preallocate(len)
    }
    fn trim_preallocated(&mut self) -> io::Result<()> {
        self.shared.check(FaultOp::Write, &self.path)?;
        self.inner.trim_preallocated()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn sync_handle(&self) -> Option<Arc<dyn FileSync>> {
        Some(Arc::new(FaultSync {
            inner: self.inner.sync_handle()?,
            shared: self.shared.clone(),
            path: self.path.clone(),
        }))
    }
}

struct FaultSync {
    inner: Arc<dyn FileSync>,
    shared: Arc<Shared>,
    path: std::path::PathBuf,
}

impl FileSync for FaultSync {
    fn sync(&self) -> io::Result<()> {
        self.shared.check(FaultOp::Sync, &self.path)?;
        self.inner.sync()
    }
}

#[derive(Debug)]
struct FaultReadable {
    inner: Arc<dyn RandomAccessFile>,
    shared: Arc<Shared>,
    path: std::path::PathBuf,
}

impl RandomAccessFile for FaultReadable {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        self.shared.check(FaultOp::Read, &self.path)?;
        self.inner.read_at(offset, len)
    }
    fn read_into(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        self.shared.check(FaultOp::Read, &self.path)?;
        self.inner.read_into(offset, len, buf)
    }
    fn reads_in_place(&self) -> bool {
        self.inner.reads_in_place()
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl FaultFs {
    /// `inner`, opened for writing at `path`, with this filesystem's faults.
    fn faulty(&self, inner: Box<dyn WritableFile>, path: &Path) -> Box<dyn WritableFile> {
        Box::new(FaultWritable {
            inner,
            shared: self.shared.clone(),
            path: path.to_path_buf(),
        })
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        self.shared.check(FaultOp::Create, path)?;
        Ok(self.faulty(self.inner.create(path)?, path))
    }
    fn reopen(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>> {
        self.shared.check(FaultOp::Create, path)?;
        Ok(self.faulty(self.inner.reopen(path, len)?, path))
    }
    fn open(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.shared.check(FaultOp::Read, path)?;
        Ok(Arc::new(FaultReadable {
            inner: self.inner.open(path, mmap)?,
            shared: self.shared.clone(),
            path: path.to_path_buf(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.shared.check(FaultOp::Rename, to)?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.shared.check(FaultOp::Remove, path)?;
        self.inner.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.shared.check(FaultOp::Sync, dir)?;
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.shared.check(FaultOp::Create, to)?;
        self.inner.link_or_copy(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    #[test]
    fn nth_and_path_rules() {
        let mem = MemFs::new();
        mem.create_dir_all(Path::new("/d")).unwrap();
        let fs = FaultFs::new(Arc::new(mem));
        fs.fail_nth(FaultOp::Sync, 2);
        let mut f = fs.create(Path::new("/d/1.wal")).unwrap();
        f.sync().unwrap();
        assert!(f.sync().is_err(), "second sync fails");
        f.sync().unwrap();
        fs.fail_path(FaultOp::Create, ".sst");
        assert!(fs.create(Path::new("/d/2.sst")).is_err());
        assert!(fs.create(Path::new("/d/2.wal")).is_ok());
        fs.clear();
        assert!(fs.create(Path::new("/d/2.sst")).is_ok());
        assert_eq!(fs.injected(), 2);
    }

    #[test]
    fn held_operations_wait_for_release() {
        let mem = MemFs::new();
        mem.create_dir_all(Path::new("/d")).unwrap();
        let fs = FaultFs::new(Arc::new(mem.clone()));
        fs.hold(FaultOp::Create, ".sst");
        let held = {
            let fs = fs.clone();
            std::thread::spawn(move || fs.create(Path::new("/d/1.sst")).map(|_| ()))
        };
        // Other operations go on meanwhile.
        fs.create(Path::new("/d/1.wal")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !mem.exists(Path::new("/d/1.sst")).unwrap(),
            "held create ran"
        );
        fs.release();
        held.join().unwrap().unwrap();
        assert!(mem.exists(Path::new("/d/1.sst")).unwrap());
    }

    #[test]
    fn random_is_seeded() {
        let run = |seed| {
            let mem = MemFs::new();
            mem.create_dir_all(Path::new("/d")).unwrap();
            let fs = FaultFs::new(Arc::new(mem));
            fs.fail_randomly(FaultOp::Write, seed, 3);
            let mut f = fs.create(Path::new("/d/x")).unwrap();
            (0..50).map(|_| f.append(b"x").is_err()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert!(run(7).iter().any(|&e| e));
    }
}
