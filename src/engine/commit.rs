//! The commit protocol every change follows: `begin` (refused while the log cannot be
//! written), `log` (the record appended, in a durable engine), apply, `commit` (the caller
//! waits for the record to be on disk before it acknowledges). Sends whose record failed
//! to reach the disk are parked here until it does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLockReadGuard};

use crate::engine::Engine;
use crate::error::{StorageError, StoreError};
use crate::journal::Record;
use crate::machinery::job::Job;
use crate::machinery::pool::PoolShared;

/// A send whose acceptance is applied but not yet durable: started once it is.
pub(crate) struct Parked {
    pub(crate) lsn: u64,
    pub(crate) job: Arc<Job>,
    pub(crate) ready: Vec<u32>,
}

/// The sends accepted while the log failed, waiting for their records to be durable.
///
/// The log calls [`start_due`](Self::start_due) after every write that succeeds (an atomic
/// load when nothing is parked), and `park` calls it once after parking: whichever comes
/// second finds the send, since the log publishes its durable bound before it looks at the
/// list and `park` fills the list before it reads the bound.
#[derive(Default)]
pub(crate) struct ParkedSends {
    /// `list.len()`, readable without the lock.
    count: AtomicUsize,
    list: Mutex<Vec<Parked>>,
}

impl ParkedSends {
    pub(crate) fn park(&self, parked: Parked) {
        let mut list = self.list.lock();
        list.push(parked);
        self.count.store(list.len(), Ordering::Release);
    }

    /// Parked sends whose jobs have not finished (one can finish unstarted: cancelled).
    pub(crate) fn waiting(&self) -> usize {
        if self.count.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let list = self.list.lock();
        list.iter()
            .filter(|p| !p.job.status().is_finished())
            .count()
    }

    /// Starts the parked sends whose records are below `durable_up_to`.
    pub(crate) fn start_due(&self, pool: &PoolShared, durable_up_to: u64) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let due: Vec<Parked> = {
            let mut list = self.list.lock();
            let (due, waiting) = std::mem::take(&mut *list)
                .into_iter()
                .partition(|p| p.lsn < durable_up_to);
            *list = waiting;
            self.count.store(list.len(), Ordering::Release);
            due
        };
        for Parked { job, ready, .. } in due {
            pool.start(&job, ready);
        }
    }
}

/// # Durability of changes
///
/// Every change is logged before it is applied and acknowledged after the log's fsync; what
/// to do after a storage error is in `docs/durability.md`.
impl Engine {
    /// Starts a change: in a durable engine, refuses it while the log cannot be written, and
    /// holds the snapshot gate (shared) until the change is applied.
    pub(crate) fn begin(&self) -> Result<Option<RwLockReadGuard<'_, ()>>, StorageError> {
        match self.disk.get() {
            None => Ok(None),
            Some(disk) => {
                disk.wal.check().map_err(StorageError::Refused)?;
                Ok(Some(disk.gate.read()))
            }
        }
    }

    /// Appends the change's record in a durable engine (the record is built only then).
    pub(crate) fn log(&self, record: impl FnOnce() -> Record) -> Option<u64> {
        self.disk.get().map(|disk| disk.append(&record()))
    }

    /// Waits until a logged change is durable; the caller acknowledges after this. An error
    /// means the change is applied but not durable ([`StorageError::NotDurable`]).
    pub(crate) fn commit(&self, lsn: Option<u64>) -> Result<(), StorageError> {
        match (lsn, self.disk.get()) {
            (Some(lsn), Some(disk)) => disk.wal.wait_durable(lsn).map_err(StorageError::NotDurable),
            _ => Ok(()),
        }
    }

    /// As [`commit`](Self::commit), without blocking a thread.
    pub(crate) async fn commit_async(&self, lsn: Option<u64>) -> Result<(), StorageError> {
        match (lsn, self.disk.get()) {
            (Some(lsn), Some(disk)) => disk
                .wal
                .durable(lsn)
                .await
                .map_err(StorageError::NotDurable),
            _ => Ok(()),
        }
    }

    /// The LSN of the last record appended so far, in a durable engine: what a caller who
    /// returns state another caller changed (an idempotent repeat of a send) must wait for.
    pub(crate) fn last_logged(&self) -> Option<u64> {
        self.disk
            .get()
            .and_then(|disk| disk.wal.next_lsn().checked_sub(1))
    }

    /// How long the write-ahead log's fsyncs took since the engine opened (the group
    /// commit's disk time, which every durable change waits for); `None` in memory.
    pub fn log_syncs(&self) -> Option<crate::store::wal::LogSyncs> {
        self.disk.get().map(|disk| disk.wal.syncs())
    }

    /// Why the log cannot be written, while it cannot (changes are then refused and the
    /// engine retries the write on its own; see [`StorageError`]). `None` when all is well
    /// and for in-memory engines.
    pub fn storage_error(&self) -> Option<StoreError> {
        self.disk.get().and_then(|disk| disk.wal.check().err())
    }

    // ----- users and accounts -------------------------------------------------------------
}
