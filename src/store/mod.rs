//! The store: bytes on disk, and nothing of what they mean. The write-ahead log as frames
//! of bytes (`wal.rs`), the snapshot file and its rkyv schema of plain numbers and bytes
//! (`snapshot.rs`), and the primitives every encoding is made of (`codec.rs`). What a log
//! record or a code in a snapshot means is the journal's (`journal/`).

pub(crate) mod codec;
pub(crate) mod snapshot;
pub(crate) mod wal;
