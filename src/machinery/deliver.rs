//! How a chunk becomes deliveries: the sink call with retries, the log record of the chunk,
//! and the job's progress, in the order that keeps a restart from delivering twice.
//!
//! - In memory: the sink (the embedded inbox or the embedder's), then the job's counters.
//! - A durable engine, external sink: the sink, then the chunk's log record, then the
//!   counters. A crash between the sink call and the record's fsync makes the restart
//!   deliver the chunk again: at-least-once, with `(account, seq)` as the idempotency key.
//! - A durable engine, embedded inbox: every inbox block of the chunk is locked (in
//!   ascending order, so two chunks sharing blocks are ordered the same way in every
//!   block), the record is appended to the log, the job's chunk is marked done, then the
//!   entries are written and each block remembers the record's LSN. Log order therefore
//!   equals inbox order, and a replay that meets a block already holding the record skips
//!   it: exactly once.
//!
//! The log is the durable engine's, above this layer: a delivery reaches it through
//! [`ChunkLog`], which the engine implements.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLockReadGuard;

use crate::ids::JobId;
use crate::machinery::inbox::InboxStore;
use crate::machinery::job::Job;
use crate::sink::{Batch, InboxWatcher, Sink};

/// A chunk that was delivered (or failed), as the log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkDone {
    pub(crate) job: JobId,
    pub(crate) chunk: u32,
    pub(crate) sent: u64,
    pub(crate) errors: u64,
}

/// Where a finished chunk is recorded: the durable engine's log.
pub(crate) trait ChunkLog: Send + Sync + 'static {
    /// Keeps snapshots from starting until the guard is dropped, so a snapshot holds both a
    /// chunk's record and its effect on the job and the inbox, or neither.
    fn hold_snapshots(&self) -> RwLockReadGuard<'_, ()>;
    /// Appends the chunk's record; returns its LSN. Durable only once the log says so (a
    /// chunk's record is never waited for: replay redoes a chunk whose record was lost).
    fn record_chunk(&self, done: ChunkDone) -> u64;
}

pub(crate) trait Deliver: Send + Sync + 'static {
    /// Delivers chunk `index` of `job` to `recipients`; true if it was the job's last chunk.
    fn deliver(&self, job: &Job, index: u32, recipients: &[u32]) -> bool;
    /// Whether a delivery takes time the engine bounds (the embedded inbox's), so that a
    /// caller's thread may make a small one itself ([`PoolShared::run_here`]).
    ///
    /// [`PoolShared::run_here`]: crate::machinery::pool::PoolShared::run_here
    fn bounded(&self) -> bool {
        false
    }
}

pub(crate) struct Delivery<L> {
    pub(crate) sink: Arc<dyn Sink>,
    /// Set when the sink is the embedded inbox.
    pub(crate) inbox: Option<Arc<InboxStore>>,
    pub(crate) retries: u32,
    /// Set once a durable engine has opened its directory; never for an in-memory one.
    pub(crate) log: Arc<OnceLock<L>>,
    /// Told of every chunk that landed in the embedded inbox, once someone watches.
    pub(crate) watcher: Arc<OnceLock<Arc<dyn InboxWatcher>>>,
}

impl<L> Delivery<L> {
    /// Tells the inbox watcher, if any, that `recipients` got `job`'s entries; a watcher
    /// that panics is not the delivery's failure (the entries are in).
    fn tell_watcher(&self, job: &Job, recipients: &[u32]) {
        if let Some(watcher) = self.watcher.get() {
            let _ = catch_unwind(AssertUnwindSafe(|| watcher.appended(job.id, recipients)));
        }
    }

    fn call_sink(&self, job: &Job, index: u32, recipients: &[u32]) -> Result<(), String> {
        let mut outcome = Err(String::new());
        for attempt in 0..=self.retries {
            let batch = Batch {
                job: job.id,
                chunk: index,
                message: &job.message,
                recipients,
                attempt,
            };
            outcome = match catch_unwind(AssertUnwindSafe(|| self.sink.deliver(&batch))) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("sink panicked".to_owned()),
            };
            if outcome.is_ok() {
                break;
            }
        }
        outcome
    }
}

fn chunk_done(job: &Job, chunk: u32, sent: u64, errors: u64) -> ChunkDone {
    ChunkDone {
        job: job.id,
        chunk,
        sent,
        errors,
    }
}

impl<L: ChunkLog> Deliver for Delivery<L> {
    fn bounded(&self) -> bool {
        self.inbox.is_some()
    }

    fn deliver(&self, job: &Job, index: u32, recipients: &[u32]) -> bool {
        let n = recipients.len() as u64;
        match (self.log.get(), &self.inbox) {
            (Some(log), Some(inbox)) => {
                let mut last = false;
                {
                    let _gate = log.hold_snapshots();
                    inbox.append_logged(job.id.account, job.id.seq, recipients, || {
                        let lsn = log.record_chunk(chunk_done(job, index, n, 0));
                        last = job.chunk_done(index, n, 0, None);
                        lsn
                    });
                }
                self.tell_watcher(job, recipients);
                last
            }
            (Some(log), None) => {
                let outcome = self.call_sink(job, index, recipients);
                let (sent, errors) = if outcome.is_ok() { (n, 0) } else { (0, n) };
                let _gate = log.hold_snapshots();
                log.record_chunk(chunk_done(job, index, sent, errors));
                job.chunk_done(index, sent, errors, outcome.err())
            }
            (None, _) => match self.call_sink(job, index, recipients) {
                Ok(()) => {
                    if self.inbox.is_some() {
                        self.tell_watcher(job, recipients);
                    }
                    job.chunk_done(index, n, 0, None)
                }
                Err(e) => job.chunk_done(index, 0, n, Some(e)),
            },
        }
    }
}
