//! Appends through a memory map of preallocated space ([`super::OsFs`]'s WAL fast path).
//!
//! A file that [`super::WritableFile::preallocate`] extends is given real disk blocks with
//! `fallocate(2)` and the new space, from the append position on, is mapped shared and
//! writable: an append is then a `memcpy` into the page cache instead of a `write(2)`. The
//! map reserves `MAP_WINDOW` of address space past the file's end, so later steps only
//! `fallocate` and a WAL segment is mapped once (stores stay below the allocated end). The
//! bytes are the kernel's as soon as they are copied (a process crash keeps them, as after a
//! `write(2)`), and `fdatasync(2)` writes the pages back like any other dirty page of the file
//! (Linux marks a page dirty on its first store after each writeback, through the
//! write-protect fault), so `sync` needs nothing more. Measured on this project's VM (ext4,
//! 1M keys, one thread, `stratakv bench`): fillseq ~800K -> ~1.15M ops/s, fillrandom
//! ~570K -> ~760K.
//!
//! **Where it is used.** Only on Linux, and only on ext4, xfs and tmpfs (`fstatfs`), where
//! space that `fallocate` reserved is written in place, so a store into it never needs a new
//! allocation. On copy-on-write filesystems (btrfs, zfs) or network filesystems a page fault
//! could need space that is gone, and the kernel answers that with `SIGBUS` rather than an
//! error: there, and wherever `fallocate` or the map fails, appends go through `write(2)`
//! into a sparse extension as before.
//!
//! **What remains.** On the filesystems above a page fault can still fail, for example after
//! the filesystem has turned read-only following an error; the process then dies of `SIGBUS`
//! instead of seeing a write error. Either way writes stop
//! and nothing acknowledged is lost: what was copied is in the page cache, and recovery reads
//! what reached the disk. [`super::OsFs::with_mapped_appends`] turns the map off.

use std::fs::File;
use std::io;

/// Address space a map reserves past the append position: later preallocation steps that
/// fall inside it only `fallocate`, and keep the map. Unmapping a written window costs a
/// TLB shootdown (an interrupt to every other core, waited for): with a new 1 MiB map per
/// WAL step, 2-thread 100-byte writes on this project's VM spent ~10% of their samples in
/// `munmap`. With this window a WAL segment of the default memtable size is mapped once,
/// and unmapped when the flush thread lets it go.
const MAP_WINDOW: u64 = 64 << 20;

/// The mapped window of a preallocated file: `map[0]` is the byte at file offset `start`.
/// The map may reach past the file's end; stores stay below `end`, where the file's
/// allocated blocks (and its size) end.
pub(super) struct AppendMap {
    map: memmap2::MmapMut,
    start: u64,
    end: u64,
}

impl AppendMap {
    /// Gives the file real blocks for `[from, to)` (extending its size to `to`) and maps
    /// `[at, at + max(to - at, MAP_WINDOW))`, where `at` is the append position
    /// (`at <= from`). `None` when the filesystem is not one where mapped appends are safe,
    /// or when `fallocate` or the map fails: the caller then extends the file sparsely and
    /// appends with `write(2)`.
    pub(super) fn allocate(file: &File, at: u64, from: u64, to: u64) -> Option<AppendMap> {
        debug_assert!(at <= from && from < to);
        if !in_place_filesystem(file) {
            return None;
        }
        allocate_blocks(file, from, to - from).ok()?;
        let len = usize::try_from((to - at).max(MAP_WINDOW)).ok()?;
        // SAFETY: the map is of a file this process created and writes alone (the database
        // directory is locked). Linux lets a shared map reach past the file's end; a store
        // there would fault (`SIGBUS`), and `write_at` stores only below `end`, within the
        // size `fallocate` gave the file. The writer drops the map before it truncates the
        // file (`trim_preallocated`), so no written page is ever past the end. Another
        // process truncating the file would be outside the engine's contract.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(at)
                .len(len)
                .map_mut(file)
                .ok()?
        };
        Some(AppendMap {
            map,
            start: at,
            end: to,
        })
    }

    /// Gives the file real blocks for `[from, to)` (extending its size to `to`) when the
    /// map already reaches `to`; false (the file unchanged, or grown only where `fallocate`
    /// got to before failing) when it does not or `fallocate` fails: the caller then drops
    /// this map and allocates anew.
    pub(super) fn grow(&mut self, file: &File, from: u64, to: u64) -> bool {
        debug_assert!(self.end <= from && from < to);
        if to > self.start + self.map.len() as u64
            || allocate_blocks(file, from, to - from).is_err()
        {
            return false;
        }
        self.end = to;
        true
    }

    /// The file offset the map starts at.
    #[cfg(test)]
    pub(super) fn start(&self) -> u64 {
        self.start
    }

    /// Copies `data` in at file offset `at`; false (nothing copied) when it does not fit.
    pub(super) fn write_at(&mut self, at: u64, data: &[u8]) -> bool {
        if at
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > self.end)
        {
            return false;
        }
        let Some(off) = at
            .checked_sub(self.start)
            .and_then(|o| usize::try_from(o).ok())
        else {
            return false;
        };
        match off
            .checked_add(data.len())
            .and_then(|end| self.map.get_mut(off..end))
        {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

#[cfg(target_os = "linux")]
pub(super) fn in_place_filesystem(file: &File) -> bool {
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const TMPFS: i64 = 0x0102_1994;
    match rustix::fs::fstatfs(file) {
        #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between targets
        Ok(s) => matches!(s.f_type as i64, EXT4 | XFS | TMPFS),
        Err(_) => false,
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn in_place_filesystem(_file: &File) -> bool {
    false
}

#[cfg(target_os = "linux")]
fn allocate_blocks(file: &File, offset: u64, len: u64) -> io::Result<()> {
    rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), offset, len)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn allocate_blocks(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}
