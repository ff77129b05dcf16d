//! A cache-line prefetch hint, for batches whose cache misses should overlap.
//!
//! A follow or unfollow at scale is a handful of cache misses, each behind a lock, and a
//! locked instruction waits for the loads before it: one change after another, the misses are
//! paid in turn. A batch first asks for the lines its next few changes will touch, then makes
//! the changes; a prefetch is not held back by locks, so the lines arrive together.

/// Asks the CPU to start loading the cache line holding `p`. A hint only: the address is
/// never dereferenced, so any address (stale, dangling or null) is harmless.
#[inline]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: `_mm_prefetch` needs SSE, which this build enables (the cfg above; it is in the
    // baseline of every hosted x86_64 target), and a prefetch neither reads memory
    // architecturally nor faults, whatever the address.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    /// Fails by crashing: were the hint a load, the null and far addresses would fault.
    #[test]
    fn any_address_is_harmless() {
        let v = vec![7u64; 64];
        super::prefetch(v.as_ptr().wrapping_add(8));
        super::prefetch(std::ptr::null::<u8>());
        super::prefetch(v.as_ptr().wrapping_add(1 << 40));
        assert_eq!(v[8], 7);
    }
}
