//! A tmpfs mounted for one test: a real filesystem that runs out of space at a size the test
//! picks. Mounting needs the right to mount (root has it); elsewhere [`Mount::tmpfs`] says
//! why it cannot, and the test prints that it is skipped.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A mounted tmpfs, unmounted (and its directory removed) on drop.
pub struct Mount(pub PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at a new directory named for
    /// `name` and this process, or says why it cannot.
    pub fn tmpfs(name: &str, size: &str) -> Result<Mount, String> {
        let dir = std::env::temp_dir().join(format!("stratakv-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Mount(dir))
    }

    /// As [`Mount::tmpfs`], or `None` after printing that test `name` is skipped and why.
    pub fn tmpfs_or_skip(name: &str, size: &str) -> Option<Mount> {
        Mount::tmpfs(name, size)
            .map_err(|why| eprintln!("{name}: SKIPPED, no tmpfs could be mounted here: {why}"))
            .ok()
    }

    /// Grows (or shrinks) the filesystem to `size`.
    pub fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount {}", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
