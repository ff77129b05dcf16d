//! Synchronization primitives for the protocols the loom models check (tokio's `crate::loom`
//! pattern): parking_lot's and std's in every build, loom's in the crate's own tests under
//! `--cfg loom`, where each lock, atomic access and wait is a point at which loom tries
//! another interleaving.
//!
//! Only the small types whose protocol a model checks take their primitives from here: the
//! pool's `Sleepers`, an inbox `Page` (its block locks and posted appends) and a job's
//! `Completion`. The rest of the crate uses parking_lot and std directly, so under loom it
//! still compiles, but only the models run (`cargo test --lib loom`; see `.ci/run`).
//!
//! The models run with `LOOM_MAX_PREEMPTIONS` bounding the larger ones (see `.ci/run`);
//! those small enough run every interleaving (`model_exhaustively`). Under loom a timed
//! wait never times out: a waiter leaves only when it is notified, so a
//! lost wake-up, which a timeout would merely delay in production, is a deadlock loom
//! reports.

#[cfg(not(all(test, loom)))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, fence};

#[cfg(all(test, loom))]
pub(crate) use self::mocked::*;

/// loom's primitives behind parking_lot's interface (no poisoning, guards waited on by
/// `&mut`).
#[cfg(all(test, loom))]
mod mocked {
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, fence};

    /// Runs `model` in every interleaving, whatever `LOOM_MAX_PREEMPTIONS` says: for the
    /// models small enough to explore without a bound (the others take the bound from the
    /// environment, as `loom::model` does).
    pub(crate) fn model_exhaustively(model: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = None;
        builder.check(model);
    }

    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// `None` only while a condvar wait has the guard.
    #[derive(Debug)]
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("loom mutexes are not poisoned")))
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok().map(|guard| MutexGuard(Some(guard)))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard held")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard held")
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    /// Never timed out: see the module's documentation.
    #[derive(Debug)]
    pub(crate) struct WaitTimeoutResult;

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            false
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard held");
            guard.0 = Some(self.0.wait(inner).expect("loom mutexes are not poisoned"));
        }

        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: Duration,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }

        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }
    }
}
