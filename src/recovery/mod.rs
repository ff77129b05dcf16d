//! Recovery: what makes an engine durable. Opening a data directory (`open.rs`), replaying
//! the log record by record (`replay.rs`), and snapshots, captured while the engine serves
//! and restored on open (`snapshot.rs`). Each adds `impl Engine` blocks; the engine never
//! calls into this layer.

mod open;
mod replay;
mod snapshot;

pub use snapshot::SnapshotStats;
