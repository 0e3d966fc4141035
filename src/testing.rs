//! Switches that break the engine on purpose, compiled only with the `fault-switches`
//! feature (the crate's own tests turn it on; a user's build never has it).
//!
//! The crash, power-loss, corruption and I/O-error suites each run once with one of these
//! switches set and must then fail: that is the proof that they would catch an engine with
//! that bug. Without the feature, [`is_broken`] is a constant `false` and the checks it
//! guards compile away.

/// A deliberate bug the engine can be switched into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Breakage {
    /// Accept every checksum: WAL, value-log and manifest records, table blocks, footers
    /// and `CURRENT`. The corruption matrix must then see wrong values.
    SkipChecksums = 1,
    /// Acknowledge a synced write without fsyncing the WAL. The power-loss loop must then
    /// lose a synced batch.
    SkipWalSync = 2,
    /// Report a failed WAL fsync as success and keep writing (the "fsyncgate" bug). The
    /// I/O-error tests must then lose an acknowledged synced write.
    IgnoreSyncErrors = 4,
    /// Acknowledge writes without appending them to the WAL. The kill -9 loop must then
    /// lose acknowledged batches.
    SkipWalAppend = 8,
}

#[cfg(feature = "fault-switches")]
static BROKEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Switches the engine (every `Db` in this process) into bug `b`.
#[cfg(feature = "fault-switches")]
pub fn break_engine(b: Breakage) {
    BROKEN.fetch_or(b as u32, std::sync::atomic::Ordering::SeqCst);
}

/// Clears every switch.
#[cfg(feature = "fault-switches")]
pub fn repair_engine() {
    BROKEN.store(0, std::sync::atomic::Ordering::SeqCst);
}

/// True when bug `b` is switched on.
#[inline]
pub fn is_broken(b: Breakage) -> bool {
    #[cfg(feature = "fault-switches")]
    {
        BROKEN.load(std::sync::atomic::Ordering::Relaxed) & (b as u32) != 0
    }
    #[cfg(not(feature = "fault-switches"))]
    {
        let _ = b;
        false
    }
}

/// True when checksum `stored` differs from `computed` and checksums are not switched off.
#[inline]
pub(crate) fn crc_differs(stored: u32, computed: u32) -> bool {
    stored != computed && !is_broken(Breakage::SkipChecksums)
}

/// A seeded xorshift for the crate's unit tests: each call returns a number below its
/// argument. Tests print the seed on failure.
#[cfg(test)]
pub(crate) fn seeded_rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut s = seed.max(1);
    move |m: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % m
    }
}
