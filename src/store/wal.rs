//! The write-ahead log: segmented files of checksummed records, with group commit.
//!
//! ## Format
//! A segment is named after the sequence number (LSN) of its first record,
//! `{lsn:020}.wal`, and starts with a 16-byte header: the magic `HERALDWL`, the format
//! version (u32 LE) and four reserved bytes. Then frames: `len: u32 LE`, `crc: u32 LE`
//! (CRC-32 of the body) and a body of `len` bytes: `lsn: u64 LE` and the encoded
//! [`Record`]. LSNs are consecutive from one segment to the next.
//!
//! ## Durability
//! [`Wal::append`] only buffers a frame; a flusher thread writes the buffer and fsyncs it,
//! then publishes how far the log is durable. [`Wal::wait_durable`] blocks a caller until
//! its record is, so one fsync acknowledges every caller whose record it covered (group
//! commit). [`SyncPolicy`] chooses when the flusher runs.
//!
//! ## Recovery
//! Opening reads every segment in order and stops at the first frame that is torn, fails
//! its checksum, or breaks the LSN sequence: the file is cut there and later segments are
//! removed, and a warning says how many bytes went. Only records that were never
//! acknowledged can be there, since acknowledgement waits for the fsync that covers them.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::StoreError;
use crate::store::record::Record;

const MAGIC: &[u8; 8] = b"HERALDWL";
pub(crate) const WAL_VERSION: u32 = 1;
const HEADER: usize = 16;
const MAX_FRAME: usize = 256 << 20;

/// When the log is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every acknowledgement waits for an fsync started for it (concurrent callers still
    /// share one).
    Always,
    /// The log is written and fsynced every `interval`; callers are acknowledged after the
    /// fsync that covers their record. The default, with 2 ms.
    GroupCommit { interval: Duration },
    /// Written every few milliseconds, fsynced only when a segment closes or on
    /// `Engine::sync`, acknowledged at once. **Unsafe** on its own: a crash of the machine
    /// (not just the process) can lose acknowledged operations. For benchmarks, and for bulk
    /// imports that end with `Engine::sync` (or a snapshot) before anything is acknowledged
    /// to anyone.
    None,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::GroupCommit {
            interval: Duration::from_millis(2),
        }
    }
}

struct Pending {
    buf: Vec<u8>,
    /// LSN of the first record in `buf`.
    first: u64,
    next_lsn: u64,
    flush_requested: bool,
    /// An fsync is wanted even under `SyncPolicy::None` (see `Wal::sync`).
    sync_requested: bool,
    roll_requested: bool,
}

struct Durable {
    /// Every record with an LSN below this is on disk (fsynced unless the policy is None).
    up_to: u64,
    failed: Option<String>,
}

struct Shared {
    dir: PathBuf,
    policy: SyncPolicy,
    segment_bytes: u64,
    pending: Mutex<Pending>,
    flush: Condvar,
    durable: Mutex<Durable>,
    durable_cv: Condvar,
    shutdown: AtomicBool,
}

pub(crate) struct Wal {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

/// What opening the log found.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    pub(crate) warnings: Vec<String>,
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

/// Segments in the directory, by first LSN.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing the data directory", &e))? {
        let entry = entry.map_err(|e| StoreError::io("listing the data directory", &e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if let Ok(lsn) = stem.parse::<u64>() {
            out.push((lsn, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Wal {
    /// Opens the log in `dir`, calling `apply` for every intact record with an LSN of at
    /// least `from_lsn`, in order. Returns the log, ready to append after the last intact
    /// record, and what recovery had to drop.
    pub(crate) fn open(
        dir: &Path,
        policy: SyncPolicy,
        segment_bytes: u64,
        from_lsn: u64,
        mut apply: impl FnMut(u64, Record),
    ) -> Result<(Wal, Recovery), StoreError> {
        let mut recovery = Recovery::default();
        let segs = segments(dir)?;
        let mut expected: Option<u64> = None;
        let mut cut = false;
        for (i, (first, path)) in segs.iter().enumerate() {
            if cut {
                let len = fs::metadata(path).map_or(0, |m| m.len());
                fs::remove_file(path).map_err(|e| StoreError::io("removing a log segment", &e))?;
                recovery.warnings.push(format!(
                    "removed log segment {} ({len} bytes) after a damaged one",
                    path.display()
                ));
                continue;
            }
            if expected.is_some_and(|e| e != *first) {
                // A gap between segments: nothing after it can be trusted.
                cut = true;
                let len = fs::metadata(path).map_or(0, |m| m.len());
                fs::remove_file(path).map_err(|e| StoreError::io("removing a log segment", &e))?;
                recovery.warnings.push(format!(
                    "removed log segment {} ({len} bytes): it does not continue the log",
                    path.display()
                ));
                continue;
            }
            let mut bytes = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| StoreError::io("reading a log segment", &e))?;
            if bytes.len() < HEADER || &bytes[..8] != MAGIC {
                if i + 1 == segs.len() && bytes.len() < HEADER {
                    // A segment whose header never made it to disk: nothing was in it.
                    fs::remove_file(path)
                        .map_err(|e| StoreError::io("removing a log segment", &e))?;
                    recovery
                        .warnings
                        .push(format!("removed empty log segment {}", path.display()));
                    expected.get_or_insert(*first);
                    break;
                }
                return Err(StoreError::Corrupt(format!(
                    "{} is not a herald log segment",
                    path.display()
                )));
            }
            let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            if version != WAL_VERSION {
                return Err(StoreError::Version {
                    file: path.display().to_string(),
                    found: version,
                    supported: WAL_VERSION,
                });
            }
            let mut lsn = *first;
            let mut at = HEADER;
            while at < bytes.len() {
                match frame(&bytes[at..], lsn) {
                    Some((record, used)) => {
                        if lsn >= from_lsn {
                            apply(lsn, record);
                        }
                        lsn += 1;
                        at += used;
                    }
                    None => {
                        let dropped = bytes.len() - at;
                        let file = OpenOptions::new()
                            .write(true)
                            .open(path)
                            .map_err(|e| StoreError::io("opening a log segment", &e))?;
                        file.set_len(at as u64)
                            .and_then(|()| file.sync_all())
                            .map_err(|e| StoreError::io("cutting the log", &e))?;
                        recovery.warnings.push(format!(
                            "cut the log at record {lsn} in {}: dropped {dropped} bytes of a torn or corrupt tail",
                            path.display()
                        ));
                        cut = true;
                        break;
                    }
                }
            }
            expected = Some(lsn);
        }
        let next_lsn = expected.unwrap_or(from_lsn).max(from_lsn);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            policy,
            segment_bytes,
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                first: next_lsn,
                next_lsn,
                flush_requested: false,
                sync_requested: false,
                // Start a fresh segment: the last one may have been cut.
                roll_requested: true,
            }),
            flush: Condvar::new(),
            durable: Mutex::new(Durable {
                up_to: next_lsn,
                failed: None,
            }),
            durable_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("herald-wal".into())
                .spawn(move || run_flusher(&shared))
                .map_err(|e| StoreError::io("starting the log flusher", &e))?
        };
        Ok((
            Wal {
                shared,
                flusher: Some(flusher),
            },
            recovery,
        ))
    }

    /// Buffers `record`; returns its LSN. Durable only once [`wait_durable`] says so.
    pub(crate) fn append(&self, record: &Record) -> u64 {
        let mut pending = self.shared.pending.lock();
        let lsn = pending.next_lsn;
        pending.next_lsn += 1;
        let buf = &mut pending.buf;
        let start = buf.len();
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&lsn.to_le_bytes());
        record.encode(buf);
        let body = &buf[start + 8..];
        let len = body.len() as u32;
        let crc = crc32fast::hash(body);
        buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        if buf.len() > (8 << 20) {
            pending.flush_requested = true;
            self.shared.flush.notify_one();
        }
        lsn
    }

    /// The LSN the next record will get.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.shared.pending.lock().next_lsn
    }

    /// Fails if an earlier write to the log failed.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match &self.shared.durable.lock().failed {
            Some(err) => Err(StoreError::Failed(err.clone())),
            None => Ok(()),
        }
    }

    /// Blocks until the record `lsn` is durable under the sync policy.
    pub(crate) fn wait_durable(&self, lsn: u64) -> Result<(), StoreError> {
        if self.shared.policy == SyncPolicy::None {
            return Ok(());
        }
        if self.shared.policy == SyncPolicy::Always {
            let mut pending = self.shared.pending.lock();
            pending.flush_requested = true;
            self.shared.flush.notify_one();
        }
        let mut durable = self.shared.durable.lock();
        loop {
            if let Some(err) = &durable.failed {
                return Err(StoreError::Failed(err.clone()));
            }
            if durable.up_to > lsn {
                return Ok(());
            }
            self.shared.durable_cv.wait(&mut durable);
        }
    }

    /// Writes and syncs everything appended so far (whatever the policy).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let last = {
            let mut pending = self.shared.pending.lock();
            pending.flush_requested = true;
            pending.sync_requested = true;
            self.shared.flush.notify_one();
            pending.next_lsn
        };
        let mut durable = self.shared.durable.lock();
        while durable.up_to < last && durable.failed.is_none() {
            self.shared.durable_cv.wait(&mut durable);
        }
        match &durable.failed {
            Some(err) => Err(StoreError::Failed(err.clone())),
            None => Ok(()),
        }
    }

    /// Starts a new segment with the next write, so older ones can be removed.
    pub(crate) fn roll(&self) {
        self.shared.pending.lock().roll_requested = true;
    }

    /// Removes the segments that hold only records below `lsn`.
    pub(crate) fn remove_before(&self, lsn: u64) -> Result<usize, StoreError> {
        let segs = segments(&self.shared.dir)?;
        let mut removed = 0;
        for pair in segs.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *next_first <= lsn {
                fs::remove_file(path).map_err(|e| StoreError::io("removing a log segment", &e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        {
            let mut pending = self.shared.pending.lock();
            pending.flush_requested = true;
            self.shared.flush.notify_one();
        }
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
    }
}

/// Parses one frame expected to carry `lsn`; `None` if torn, corrupt or out of sequence.
fn frame(bytes: &[u8], lsn: u64) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    if !(8..=MAX_FRAME).contains(&len) {
        return None;
    }
    let body = bytes.get(8..8 + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let found = u64::from_le_bytes(body[..8].try_into().ok()?);
    if found != lsn {
        return None;
    }
    let record = Record::decode(&body[8..]).ok()?;
    Some((record, 8 + len))
}

struct Segment {
    file: File,
    bytes: u64,
}

fn new_segment(dir: &Path, first_lsn: u64) -> std::io::Result<Segment> {
    let path = segment_path(dir, first_lsn);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&WAL_VERSION.to_le_bytes());
    file.write_all(&header)?;
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    file.seek(SeekFrom::End(0))?;
    Ok(Segment {
        file,
        bytes: HEADER as u64,
    })
}

fn run_flusher(shared: &Shared) {
    let interval = match shared.policy {
        SyncPolicy::GroupCommit { interval } => interval,
        SyncPolicy::Always => Duration::from_millis(50),
        SyncPolicy::None => Duration::from_millis(5),
    };
    let mut segment: Option<Segment> = None;
    let mut spare = Vec::new();
    loop {
        let (mut buf, first, next, roll, force_sync) = {
            let mut pending = shared.pending.lock();
            if !pending.flush_requested && !shared.shutdown.load(Ordering::SeqCst) {
                shared.flush.wait_for(&mut pending, interval);
            }
            pending.flush_requested = false;
            let force_sync = std::mem::take(&mut pending.sync_requested);
            let first = pending.first;
            pending.first = pending.next_lsn;
            // A roll waits for the next write, so there is never an empty segment.
            let roll = !pending.buf.is_empty() && std::mem::take(&mut pending.roll_requested);
            let buf = std::mem::replace(&mut pending.buf, std::mem::take(&mut spare));
            (buf, first, pending.next_lsn, roll, force_sync)
        };
        let result = (|| -> std::io::Result<()> {
            if !buf.is_empty() {
                let full = segment
                    .as_ref()
                    .is_some_and(|s| s.bytes >= shared.segment_bytes);
                if roll || full || segment.is_none() {
                    if let Some(old) = &segment {
                        // Under every policy a closed segment is on disk before the next one
                        // starts, so a forced sync only has the open one to flush.
                        old.file.sync_data()?;
                    }
                    segment = Some(new_segment(&shared.dir, first)?);
                }
                let seg = segment.as_mut().expect("just opened");
                seg.file.write_all(&buf)?;
                seg.bytes += buf.len() as u64;
            }
            let wrote = !buf.is_empty();
            if ((wrote && shared.policy != SyncPolicy::None) || force_sync)
                && let Some(seg) = &segment
            {
                seg.file.sync_data()?;
            }
            Ok(())
        })();
        {
            let mut durable = shared.durable.lock();
            match result {
                Ok(()) => durable.up_to = durable.up_to.max(next),
                Err(e) => durable.failed = Some(format!("writing the log: {e}")),
            }
            shared.durable_cv.notify_all();
        }
        buf.clear();
        spare = buf;
        if shared.shutdown.load(Ordering::SeqCst) && shared.pending.lock().buf.is_empty() {
            return;
        }
    }
}
