//! Durability: the write-ahead log, log records and snapshots.

pub(crate) mod record;
pub(crate) mod snapshot;
pub(crate) mod wal;

use std::fs::File;
use std::path::PathBuf;

use parking_lot::{Mutex, RwLock};

use crate::store::wal::Wal;

/// What a durable engine holds besides its state.
pub(crate) struct Durable {
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
