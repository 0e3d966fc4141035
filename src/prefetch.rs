//! Cache-line prefetch hints: start loading memory that a dependent chain of loads is about
//! to need, so the misses overlap instead of following one another.

/// Cache line size assumed for range prefetches.
pub(crate) const LINE: usize = 64;

/// Asks the CPU to start loading `x`'s cache line.
#[inline]
pub(crate) fn prefetch<T>(x: &T) {
    prefetch_addr(x as *const T as *const u8);
}

/// Asks the CPU to start loading the cache line of address `p`, which need not point into
/// a live allocation: a prefetch never faults.
#[inline]
pub(crate) fn prefetch_addr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults or changes memory, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the CPU to start loading every cache line of `bytes`.
#[inline]
pub(crate) fn prefetch_bytes(bytes: &[u8]) {
    for i in (0..bytes.len()).step_by(LINE) {
        prefetch(&bytes[i]);
    }
    // The last byte's line, which the steps above miss when `bytes` does not start on a
    // line boundary.
    if let Some(last) = bytes.last() {
        prefetch(last);
    }
}
