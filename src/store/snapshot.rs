//! Snapshot files: the whole state in one rkyv archive, checksummed, written beside the
//! log. The schema holds plain numbers and bytes; what the codes in it mean is the
//! journal's (`journal/codes.rs`), and the recovery layer fills and reads it.
//!
//! ## Format
//! `snapshot-{lsn:020}.hsnap`, where `lsn` is the first log record *not* in the snapshot:
//! a 32-byte header (magic `HERALDSN`, format version u32 LE, CRC-32 of the payload u32 LE,
//! payload length u64 LE, 12 reserved bytes) and the payload, an rkyv archive of
//! [`SnapshotData`]. Bitmaps inside are roaring's portable serialization, so the format does
//! not depend on roaring's in-memory layout. rkyv's validation checks the archive's
//! structure; the CRC checks its content.
//!
//! ## Writing
//! To `*.tmp`, fsync, rename into place, fsync the directory: a crash leaves either the old
//! set of snapshots or the new one, never a half-written file under a snapshot's name.
//!
//! ## Reading
//! The file is memory-mapped, checked once (CRC, then rkyv validation) and read in place.
//! A snapshot that fails either check is skipped with a warning and the previous one is
//! used (with more of the log); a snapshot of another format version is an error that names
//! both versions, since silently skipping it could lose data.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rkyv::rancor;
use rkyv::ser::writer::IoWriter;

use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"HERALDSN";
pub(crate) const SNAPSHOT_VERSION: u32 = 6;
const HEADER: usize = 32;

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct SnapshotData {
    /// The first log record not reflected here.
    pub(crate) lsn: u64,
    pub(crate) users: u64,
    pub(crate) next_account: u32,
    pub(crate) accounts: Vec<AccountSnap>,
    pub(crate) reverse_shards: Vec<ReverseShardSnap>,
    pub(crate) inbox_capacity: u32,
    pub(crate) inbox_blocks: Vec<BlockSnap>,
    pub(crate) subjects: Vec<SubjectSnap>,
    /// (fingerprint, account, seq) of every article body that owns its originality.
    pub(crate) originals: Vec<(u64, u32, u32)>,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct SubjectSnap {
    pub(crate) name: String,
    /// `codes::subject_kind`.
    pub(crate) kind: u8,
    pub(crate) quota_override: Option<u32>,
    pub(crate) accounts: Vec<u32>,
}

/// An account's profile and the state of the platform's rules.
#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct RulesSnap {
    pub(crate) subject: Option<u32>,
    /// `codes::account_kind` (0 none).
    pub(crate) kind: u8,
    pub(crate) verified: bool,
    /// The registration in the log's record encoding.
    pub(crate) registration: Option<Vec<u8>>,
    /// The day of the daily counters: days since 1970-01-01 of a calendar date in the
    /// platform's time zone. Written by older builds as a UTC date; read as the same date.
    pub(crate) day: u64,
    pub(crate) broadcasts_today: u32,
    pub(crate) previews_today: u32,
    /// The month of `levels`, `year * 12 + (month - 1)` of a date in the platform's time
    /// zone (a UTC date in older builds; read as the same month).
    pub(crate) month: u32,
    /// Monthly cap levels, roaring portable format.
    pub(crate) levels: Vec<Vec<u8>>,
    pub(crate) violations: Vec<u64>,
    pub(crate) ban_until: Option<u64>,
    pub(crate) ban_permanent: bool,
    pub(crate) speed_tier: Option<u8>,
    /// (user, last message ms)
    pub(crate) last_message: Vec<(u32, u64)>,
    /// (user, at ms, message in record encoding)
    pub(crate) inbound: Vec<(u32, u64, Vec<u8>)>,
    /// (keyword, reply in record encoding)
    pub(crate) auto_replies: Vec<(String, Vec<u8>)>,
    /// (id, due ms, request in record encoding)
    pub(crate) schedules: Vec<(u32, u64, Vec<u8>)>,
    pub(crate) next_schedule: u32,
    pub(crate) retention_ms: Option<u64>,
    pub(crate) quota_bytes: Option<u64>,
    pub(crate) used_bytes: u64,
    pub(crate) purged_through: u32,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct AccountSnap {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) followers: Vec<u8>,
    /// Follows and unfollows not yet applied to `followers` (see `AccountGraph`).
    pub(crate) unapplied: Vec<u64>,
    /// Users who left since the tags and sources were last cleaned.
    pub(crate) left: Vec<u32>,
    pub(crate) tags: Vec<Option<TagSnap>>,
    pub(crate) sources: Vec<SourceSnap>,
    pub(crate) last_seq: u32,
    pub(crate) jobs: Vec<JobSnap>,
    /// (key, accepted at ms, seq of the job)
    pub(crate) idempotency: Vec<(String, u64, u32)>,
    pub(crate) rules: RulesSnap,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct TagSnap {
    pub(crate) name: String,
    pub(crate) members: Vec<u8>,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct SourceSnap {
    pub(crate) name: String,
    pub(crate) current: Vec<u8>,
    pub(crate) total: u64,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct JobSnap {
    pub(crate) seq: u32,
    pub(crate) accepted_ms: u64,
    pub(crate) chunk_target: u32,
    /// The message, in the log's record encoding.
    pub(crate) message: Vec<u8>,
    pub(crate) audience: Vec<u8>,
    /// Bit i set: chunk i is done.
    pub(crate) done: Vec<u64>,
    pub(crate) sent: u64,
    pub(crate) errors: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) finished_ms: Option<u64>,
    /// Still in the account's history window (else kept only for an idempotency key or
    /// because it is unfinished).
    pub(crate) in_history: bool,
    pub(crate) filtered: u64,
    /// `codes::send_purpose`.
    pub(crate) purpose: u8,
    pub(crate) open_for_reprint: bool,
    pub(crate) reprint_of: Option<(u32, u32)>,
    pub(crate) retracted: bool,
    pub(crate) corrections: u32,
    /// The latest correction, in the log's record encoding.
    pub(crate) corrected: Option<Vec<u8>>,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct ReverseShardSnap {
    /// `offset << 32 | meta` per user slot.
    pub(crate) slots: Vec<u64>,
    pub(crate) arena: Vec<u8>,
    /// Recent unfollows of the shard's users, oldest first: (position, account).
    pub(crate) departed: Vec<(u32, u32)>,
}

#[derive(Debug, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct BlockSnap {
    pub(crate) index: u32,
    pub(crate) applied_lsn: u64,
    pub(crate) heads: Vec<u64>,
    /// (account, seq) per slot, slot-major.
    pub(crate) slots: Vec<(u32, u32)>,
}

fn snapshot_path(dir: &Path, lsn: u64) -> PathBuf {
    dir.join(format!("snapshot-{lsn:020}.hsnap"))
}

/// Snapshots in `dir`, newest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing the data directory", e))? {
        let entry = entry.map_err(|e| StoreError::io("listing the data directory", e))?;
        let name = entry.file_name();
        let Some(lsn) = name
            .to_str()
            .and_then(|n| n.strip_prefix("snapshot-"))
            .and_then(|n| n.strip_suffix(".hsnap"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((lsn, entry.path()));
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    Ok(out)
}

/// Writes `data` as the snapshot at `data.lsn`; returns its path and size in bytes.
///
/// The archive is streamed to the file through a checksumming writer, so no second copy of
/// hundreds of megabytes is built in memory; the header, which carries the checksum and the
/// length, is written last, before the fsync and the rename. On failure the temporary file
/// is removed (a full disk gets its space back) and the error keeps the I/O error that
/// caused it.
pub(crate) fn write(dir: &Path, data: &SnapshotData) -> Result<(PathBuf, u64), StoreError> {
    let path = snapshot_path(dir, data.lsn);
    let tmp = path.with_extension("tmp");
    let written = write_to(&tmp, data);
    let renamed = written.and_then(|len| {
        fs::rename(&tmp, &path)
            .and_then(|()| File::open(dir).and_then(|d| d.sync_all()))
            .map_err(|e| StoreError::io("writing a snapshot", e))?;
        Ok(len)
    });
    match renamed {
        Ok(len) => Ok((path, HEADER as u64 + len)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes the snapshot file `tmp`, fsynced; returns the payload's length.
fn write_to(tmp: &Path, data: &SnapshotData) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| StoreError::io("writing a snapshot", e);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(tmp)
        .map_err(io)?;
    file.write_all(&[0u8; HEADER]).map_err(io)?;
    let mut sink = ChecksumWriter {
        inner: BufWriter::with_capacity(8 << 20, file),
        crc: crc32fast::Hasher::new(),
        len: 0,
        failure: None,
    };
    // rkyv reports a failed write as its own error, without the cause: the writer keeps the
    // I/O error, so a full disk is reported as one.
    let encoded = rkyv::api::high::to_bytes_in::<_, rancor::Error>(data, IoWriter::new(&mut sink))
        .map(|_| ());
    if let Some(e) = sink.failure.take() {
        return Err(io(e));
    }
    encoded.map_err(|e| StoreError::io("encoding a snapshot", std::io::Error::other(e)))?;
    let (crc, len) = (sink.crc.finalize(), sink.len);
    let mut file = sink.inner.into_inner().map_err(|e| io(e.into_error()))?;
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    header[16..24].copy_from_slice(&len.to_le_bytes());
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(len)
}

/// Removes the temporary files of snapshots that were being written when the process died
/// (or whose write failed and could not remove them); returns how many bytes they held.
pub(crate) fn remove_temporaries(dir: &Path) -> Result<Vec<(PathBuf, u64)>, StoreError> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing the data directory", e))? {
        let entry = entry.map_err(|e| StoreError::io("listing the data directory", e))?;
        let name = entry.file_name();
        let is_tmp = name
            .to_str()
            .is_some_and(|n| n.starts_with("snapshot-") && n.ends_with(".tmp"));
        if is_tmp {
            let len = entry.metadata().map_or(0, |m| m.len());
            fs::remove_file(entry.path())
                .map_err(|e| StoreError::io("removing an unfinished snapshot", e))?;
            removed.push((entry.path(), len));
        }
    }
    Ok(removed)
}

/// Passes bytes through to `inner`, keeping their CRC-32 and count, and the first error.
struct ChecksumWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
    failure: Option<std::io::Error>,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf).map_err(|e| self.keep(e))?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.keep(e))
    }
}

impl<W> ChecksumWriter<W> {
    /// Keeps the first error for the caller; gives the encoder a copy of its kind.
    fn keep(&mut self, e: std::io::Error) -> std::io::Error {
        let copy = std::io::Error::new(e.kind(), e.to_string());
        self.failure.get_or_insert(e);
        copy
    }
}

/// Why a snapshot file is skipped: damage its checks caught (a crash cannot cause it, since
/// a snapshot is renamed into place only once fsynced, but a disk can).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Damage {
    #[error("{} has no snapshot header", .0.display())]
    NoHeader(PathBuf),
    #[error("{} is truncated", .0.display())]
    Truncated(PathBuf),
    #[error("{} fails its checksum", .0.display())]
    Checksum(PathBuf),
    /// rkyv's validation refused the archive (its message kept).
    #[error("{} is not a valid archive: {why}", path.display())]
    Archive { path: PathBuf, why: String },
}

/// Maps and checks one snapshot file, then hands the validated archive to `read` (while
/// the mapping lives; validation runs once). `Ok(Err(damage))`: the file is damaged (the
/// caller falls back to an older one); `Err`: it cannot be used and must not be skipped.
pub(crate) fn open<R>(
    path: &Path,
    read: impl FnOnce(&ArchivedSnapshotData) -> R,
) -> Result<Result<R, Damage>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io("opening a snapshot", e))?;
    #[allow(unsafe_code)]
    // SAFETY: the data directory is locked by this process (the LOCK file), snapshot files
    // are never modified after their rename into place, and we only read the mapping; so
    // no one changes the bytes under the mapping while it lives.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io("mapping a snapshot", e))?;
    if map.len() < HEADER || &map[..8] != MAGIC {
        return Ok(Err(Damage::NoHeader(path.to_owned())));
    }
    let version = u32::from_le_bytes([map[8], map[9], map[10], map[11]]);
    if version != SNAPSHOT_VERSION {
        return Err(StoreError::Version {
            file: path.display().to_string(),
            found: version,
            supported: SNAPSHOT_VERSION,
        });
    }
    let crc = u32::from_le_bytes([map[12], map[13], map[14], map[15]]);
    let len = u64::from_le_bytes(map[16..24].try_into().expect("8 bytes"));
    if len != (map.len() - HEADER) as u64 {
        return Ok(Err(Damage::Truncated(path.to_owned())));
    }
    if crc32fast::hash(&map[HEADER..]) != crc {
        return Ok(Err(Damage::Checksum(path.to_owned())));
    }
    match rkyv::access::<ArchivedSnapshotData, rancor::Error>(&map[HEADER..]) {
        Ok(data) => Ok(Ok(read(data))),
        Err(e) => Ok(Err(Damage::Archive {
            path: path.to_owned(),
            why: e.to_string(),
        })),
    }
}
