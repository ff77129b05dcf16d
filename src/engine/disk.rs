//! A durable engine's disk: the data directory it holds locked, its write-ahead log of
//! journal records, and the gate that makes snapshots consistent. Recovery sets it once it
//! has opened the directory; an in-memory engine has none.

use std::fs::File;
use std::path::PathBuf;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::journal::Record;
use crate::machinery::deliver::{ChunkDone, ChunkLog};
use crate::store::wal::Wal;

/// What a durable engine holds besides its state.
pub(crate) struct Disk {
    pub(crate) dir: PathBuf,
    pub(crate) wal: Wal,
    /// Every change holds it shared from its log append until it is applied; a snapshot
    /// holds it exclusively for the moment it takes to capture the state, so the capture
    /// reflects exactly the records below one LSN.
    pub(crate) gate: RwLock<()>,
    /// One snapshot at a time.
    pub(crate) snapshotting: Mutex<()>,
    /// Held (locked) for the engine's life: one process per data directory.
    pub(crate) _lock: File,
}

impl Disk {
    /// Appends a change's record to the log; returns its LSN.
    pub(crate) fn append(&self, record: &Record) -> u64 {
        self.wal.append(record)
    }
}

impl ChunkLog for Disk {
    fn hold_snapshots(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read()
    }

    fn record_chunk(&self, done: ChunkDone) -> u64 {
        self.wal.append(&Record::ChunkDone {
            account: done.job.account.0,
            seq: done.job.seq.0,
            chunk: done.chunk,
            sent: done.sent,
            errors: done.errors,
        })
    }
}
