//! The write-ahead log: segmented files of checksummed records, with group commit.
//!
//! ## Format
//! A segment is named after the sequence number (LSN) of its first record,
//! `{lsn:020}.wal`, and starts with a 16-byte header: the magic `HERALDWL`, the format
//! version (u32 LE) and four reserved bytes. Then frames: `len: u32 LE`, `crc: u32 LE`
//! (CRC-32 of the body) and a body of `len` bytes: `lsn: u64 LE` and an encoded record.
//! LSNs are consecutive from one segment to the next.
//!
//! The log knows records only as bytes: [`Wal::append`] takes anything that can
//! [`Encode`] itself, and [`Wal::open`] hands each body, with its segment's format
//! version, to a decoder the caller gives (the journal's). Which format versions exist is
//! the caller's too ([`WalConfig`]).
//!
//! ## Durability
//! [`Wal::append`] only buffers a frame; a flusher thread writes the buffer and fsyncs it,
//! then publishes how far the log is durable. [`Wal::wait_durable`] blocks a caller until
//! its record is, so one fsync acknowledges every caller whose record it covered (group
//! commit). [`SyncPolicy`] chooses when the flusher runs.
//!
//! ## Failed writes
//! A write or fsync that fails (a full disk, an I/O error) loses nothing that was appended:
//! the flusher cuts the segment back to its last good length (or removes the segment it
//! was creating), puts the records back in front of the buffer, reports the failure to
//! every waiter and to [`Wal::check`], and tries again: after 5 ms, doubling up to 1 s, and
//! at once when [`Wal::sync`] asks. The first write that succeeds clears the failure;
//! every one calls the hook set with [`Wal::on_progress`] with the new durable bound. So the log on disk is always a prefix of
//! the records appended, in order, without holes, and a retry continues it with exactly the
//! records that failed (the same LSNs, so a segment whose creation failed is created again
//! under the same name).
//!
//! ## Recovery
//! Opening reads the segments in LSN order as one chain: each must start where the previous
//! one's intact records end. Within a segment, reading stops at the first frame that is
//! torn, fails its checksum, or breaks the LSN sequence: the file is cut there. A segment
//! whose 16-byte header never reached the disk (shorter than the header, or all zeros: the
//! disk filled or the process died while creating it) holds nothing and is removed,
//! wherever it is. A segment that does not continue the chain, and every one after it, is
//! removed. Every cut and removal is reported as a warning. Only records that were never
//! acknowledged can be dropped this way, since acknowledgement waits for the fsync that
//! covers them and the writer never leaves a hole before a record it acknowledges. A file
//! with another segment's name but a foreign header is not something the engine writes:
//! that, and only that, is an error.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::SyncPolicy;
use crate::error::StoreError;
use crate::store::codec::{DecodeError, Encode};

const MAGIC: &[u8; 8] = b"HERALDWL";
const HEADER: usize = 16;
const MAX_FRAME: usize = 256 << 20;

/// How the log is written and read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalConfig {
    pub(crate) policy: SyncPolicy,
    /// A segment past this size is closed at the next write.
    pub(crate) segment_bytes: u64,
    /// The format version written in new segments' headers.
    pub(crate) format: u32,
    /// The oldest format version read; an older or newer one is refused.
    pub(crate) oldest_format: u32,
}

/// Frames appended and not yet taken by the flusher, and what callers asked of it.
struct AppendBuffer {
    bytes: Vec<u8>,
    /// LSN of the first record in `bytes`.
    first: u64,
    next_lsn: u64,
    flush_requested: bool,
    /// `Wal::sync` calls so far; the flusher answers up to the latest one it saw.
    sync_tickets: u64,
    /// `sync_tickets` when the flusher last took the buffer: an fsync is wanted (whatever
    /// the policy) while this is below `sync_tickets`.
    sync_taken: u64,
    roll_requested: bool,
}

/// How far the log is on disk, and whether writing it fails.
struct Progress {
    /// Every record with an LSN below this is on disk (fsynced unless the policy is None).
    up_to: u64,
    /// The error of the latest write attempt, while writing fails; cleared by the first
    /// attempt that succeeds.
    failed: Option<StoreError>,
    /// `Wal::sync` calls answered: every ticket up to this one was covered by an attempt
    /// that wrote and fsynced everything appended before the call.
    synced_ticket: u64,
    /// Tickets up to this one were taken by an attempt that failed (with `failed`).
    failed_ticket: u64,
}

impl Progress {
    /// What a waiter for record `lsn` is told now: durable, the write's error, or nothing
    /// yet.
    fn answer(&self, lsn: u64) -> Option<Result<(), StoreError>> {
        if self.up_to > lsn {
            return Some(Ok(()));
        }
        self.failed.clone().map(Err)
    }
}

/// Called by the flusher with the new durable bound after every write that succeeds.
pub(crate) type ProgressHook = Box<dyn Fn(u64) + Send + Sync>;

struct Shared {
    dir: PathBuf,
    policy: SyncPolicy,
    segment_bytes: u64,
    /// Written in each new segment's header.
    format: u32,
    buffer: Mutex<AppendBuffer>,
    flush: Condvar,
    progress: Mutex<Progress>,
    progress_cv: Condvar,
    /// Woken with `progress_cv`, for the waiters that do not block a thread.
    progress_notify: tokio::sync::Notify,
    shutdown: AtomicBool,
    /// Set while writing fails: appends then leave the retry's timing to the flusher.
    failing: AtomicBool,
    /// Set once by the engine after opening; called by the flusher after each write.
    on_progress: Mutex<Option<ProgressHook>>,
    /// How long the flusher's fsyncs took.
    syncs: SyncTimes,
}

/// Upper bounds of the fsync time buckets, in microseconds.
const SYNC_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];

/// Counts of fsync times per bucket, written by the flusher, read by anyone.
#[derive(Default)]
struct SyncTimes {
    /// `buckets[i]`: syncs that took at most `SYNC_BUCKETS_US[i]` and more than the bound
    /// before; the last counts the slower ones.
    buckets: [AtomicU64; SYNC_BUCKETS_US.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl SyncTimes {
    fn record(&self, took: Duration) {
        let us = took.as_micros() as u64;
        let i = SYNC_BUCKETS_US.partition_point(|&bound| bound < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    fn read(&self) -> LogSyncs {
        let mut below = 0;
        let buckets = SYNC_BUCKETS_US
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, n)| {
                below += n.load(Ordering::Relaxed);
                (Duration::from_micros(bound), below)
            })
            .collect();
        LogSyncs {
            count: self.count.load(Ordering::Relaxed),
            sum: Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed)),
            buckets,
        }
    }
}

/// How long the write-ahead log's fsyncs took since the engine opened
/// ([`Engine::log_syncs`](crate::Engine::log_syncs)): a histogram, read without stopping
/// the log (the fields are read one after the other, so a sync finishing meanwhile may be
/// in some and not others).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogSyncs {
    /// fsyncs done.
    pub count: u64,
    /// Their total time.
    pub sum: Duration,
    /// `(bound, n)`: the fsyncs that took at most `bound`, cumulative, ascending bounds
    /// from 50 µs to 5 s; those slower than the last bound are `count` minus its `n`.
    pub buckets: Vec<(Duration, u64)>,
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
    for entry in fs::read_dir(dir).map_err(|e| StoreError::io("listing the data directory", e))? {
        let entry = entry.map_err(|e| StoreError::io("listing the data directory", e))?;
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

/// Removes a segment recovery gave up on, with a warning that says why and how big it was.
fn drop_segment(path: &Path, why: &str, warnings: &mut Vec<String>) -> Result<(), StoreError> {
    let len = fs::metadata(path).map_or(0, |m| m.len());
    fs::remove_file(path).map_err(|e| StoreError::io("removing a log segment", e))?;
    warnings.push(format!(
        "removed log segment {} ({len} bytes): {why}",
        path.display()
    ));
    Ok(())
}

/// Whether a segment never got its header: the file is shorter than the header, or all
/// zeros (a file whose size reached the disk before its data). The header is fsynced before
/// any record is written, so a zero header followed by anything else is damage, not this.
fn header_unwritten(bytes: &[u8]) -> bool {
    bytes.len() < HEADER || bytes.iter().all(|&b| b == 0)
}

impl Wal {
    /// Opens the log in `dir`, calling `apply` for every intact record with an LSN of at
    /// least `from_lsn`, in order, until `apply` fails (its error is returned). Returns the
    /// log, ready to append after the last intact record, and what recovery had to drop.
    ///
    /// `decode` reads a frame's record from its body, given the segment's format version:
    /// a frame whose record does not decode is damage like a bad checksum, and the log is
    /// cut there (below `from_lsn` too, so the chain's end is the same whatever snapshot
    /// recovery starts from).
    pub(crate) fn open<R, E>(
        dir: &Path,
        config: WalConfig,
        from_lsn: u64,
        decode: impl Fn(u32, &[u8]) -> Result<R, DecodeError>,
        mut apply: impl FnMut(u64, R) -> Result<(), E>,
    ) -> Result<Result<(Wal, Recovery), E>, StoreError> {
        let mut recovery = Recovery::default();
        let warnings = &mut recovery.warnings;
        let segs = segments(dir)?;
        // Where the next segment must start: the end of the intact records so far. Before
        // the snapshot's LSN nothing is replayed, so a segment may start anywhere up to it.
        let mut expected: Option<u64> = None;
        let mut cut = false;
        for (first, path) in &segs {
            if cut {
                drop_segment(path, "it follows a damaged part of the log", warnings)?;
                continue;
            }
            let continues = match expected {
                None => true,
                Some(e) => *first == e || (e <= from_lsn && *first <= from_lsn),
            };
            if !continues {
                // A gap between segments: nothing after it can be trusted.
                cut = true;
                drop_segment(path, "it does not continue the log", warnings)?;
                continue;
            }
            let mut bytes = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| StoreError::io("reading a log segment", e))?;
            if header_unwritten(&bytes) {
                // Created as the disk filled or the process died: nothing was in it, so the
                // next segment must start where this one would have.
                drop_segment(path, "its header was never written", warnings)?;
                expected.get_or_insert(*first);
                continue;
            }
            if &bytes[..8] != MAGIC {
                return Err(StoreError::Corrupt(format!(
                    "{} is not a herald log segment",
                    path.display()
                )));
            }
            let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            if !(config.oldest_format..=config.format).contains(&version) {
                return Err(StoreError::Version {
                    file: path.display().to_string(),
                    found: version,
                    supported: config.format,
                });
            }
            let mut lsn = *first;
            let mut at = HEADER;
            while at < bytes.len() {
                let record = frame(&bytes[at..], lsn)
                    .and_then(|(body, used)| Some((decode(version, body).ok()?, used)));
                let Some((record, used)) = record else {
                    let dropped = bytes.len() - at;
                    let file = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| StoreError::io("opening a log segment", e))?;
                    file.set_len(at as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| StoreError::io("cutting the log", e))?;
                    warnings.push(format!(
                        "cut the log at record {lsn} in {}: dropped {dropped} bytes of a torn or corrupt tail",
                        path.display()
                    ));
                    // Records from here on are missing; later segments cannot continue
                    // the chain unless they start here.
                    break;
                };
                if lsn >= from_lsn
                    && let Err(e) = apply(lsn, record)
                {
                    return Ok(Err(e));
                }
                lsn += 1;
                at += used;
            }
            expected = Some(lsn);
        }
        let next_lsn = expected.unwrap_or(from_lsn).max(from_lsn);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            policy: config.policy,
            segment_bytes: config.segment_bytes,
            format: config.format,
            buffer: Mutex::new(AppendBuffer {
                bytes: Vec::new(),
                first: next_lsn,
                next_lsn,
                flush_requested: false,
                sync_tickets: 0,
                sync_taken: 0,
                // Start a fresh segment: the last one may have been cut.
                roll_requested: true,
            }),
            flush: Condvar::new(),
            progress: Mutex::new(Progress {
                up_to: next_lsn,
                failed: None,
                synced_ticket: 0,
                failed_ticket: 0,
            }),
            progress_cv: Condvar::new(),
            progress_notify: tokio::sync::Notify::new(),
            shutdown: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            on_progress: Mutex::new(None),
            syncs: SyncTimes::default(),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("herald-wal".into())
                .spawn(move || run_flusher(&shared))
                .map_err(|e| StoreError::io("starting the log flusher", e))?
        };
        Ok(Ok((
            Wal {
                shared,
                flusher: Some(flusher),
            },
            recovery,
        )))
    }

    /// Sets what the flusher calls, with the new durable bound, after every write that
    /// succeeds (it must be cheap when it has nothing to do).
    /// The fsync times so far.
    pub(crate) fn syncs(&self) -> LogSyncs {
        self.shared.syncs.read()
    }

    pub(crate) fn on_progress(&self, hook: ProgressHook) {
        *self.shared.on_progress.lock() = Some(hook);
    }

    /// Buffers `record`'s frame; returns its LSN. Durable only once [`wait_durable`] says
    /// so.
    ///
    /// [`wait_durable`]: Wal::wait_durable
    pub(crate) fn append(&self, record: &impl Encode) -> u64 {
        let mut buffer = self.shared.buffer.lock();
        let lsn = buffer.next_lsn;
        buffer.next_lsn += 1;
        let buf = &mut buffer.bytes;
        let start = buf.len();
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&lsn.to_le_bytes());
        record.encode(buf);
        let body = &buf[start + 8..];
        let len = body.len() as u32;
        let crc = crc32fast::hash(body);
        buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
        buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        // A big buffer is written at once, except while writing fails: then the retry
        // waits its turn (records keep accumulating in memory; only in-flight deliveries
        // append while changes are refused, so they are bounded).
        if buf.len() > (8 << 20) && !self.shared.failing.load(Ordering::Relaxed) {
            buffer.flush_requested = true;
            self.shared.flush.notify_one();
        }
        lsn
    }

    /// The LSN the next record will get.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.shared.buffer.lock().next_lsn
    }

    /// Every record below this LSN is durable.
    pub(crate) fn durable_up_to(&self) -> u64 {
        self.shared.progress.lock().up_to
    }

    /// Fails while writing the log fails (until a retry succeeds).
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match &self.shared.progress.lock().failed {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Blocks until the record `lsn` is durable under the sync policy; fails at once if it
    /// is not and writing the log fails (the record stays buffered and is retried).
    pub(crate) fn wait_durable(&self, lsn: u64) -> Result<(), StoreError> {
        if self.shared.policy == SyncPolicy::None {
            return Ok(());
        }
        self.request_flush();
        let mut progress = self.shared.progress.lock();
        loop {
            if let Some(answer) = progress.answer(lsn) {
                return answer;
            }
            self.shared.progress_cv.wait(&mut progress);
        }
    }

    /// As [`wait_durable`](Self::wait_durable), without blocking a thread: for async callers.
    pub(crate) async fn durable(&self, lsn: u64) -> Result<(), StoreError> {
        if self.shared.policy == SyncPolicy::None {
            return Ok(());
        }
        self.request_flush();
        loop {
            // Registered before the progress is read, so a write finishing in between
            // still wakes this waiter.
            let notified = self.shared.progress_notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(answer) = self.shared.progress.lock().answer(lsn) {
                return answer;
            }
            notified.await;
        }
    }

    /// Under `SyncPolicy::Always`, a waiter starts the write and fsync it waits for.
    fn request_flush(&self) {
        if self.shared.policy == SyncPolicy::Always {
            let mut buffer = self.shared.buffer.lock();
            buffer.flush_requested = true;
            self.shared.flush.notify_one();
        }
    }

    /// Writes and syncs everything appended so far (whatever the policy). Answered by an
    /// attempt that starts after the call: while writing fails, this is a retry, and its
    /// error is that attempt's.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let ticket = {
            let mut buffer = self.shared.buffer.lock();
            buffer.sync_tickets += 1;
            buffer.flush_requested = true;
            self.shared.flush.notify_one();
            buffer.sync_tickets
        };
        let mut progress = self.shared.progress.lock();
        loop {
            if progress.synced_ticket >= ticket {
                return Ok(());
            }
            if progress.failed_ticket >= ticket
                && let Some(err) = &progress.failed
            {
                return Err(err.clone());
            }
            self.shared.progress_cv.wait(&mut progress);
        }
    }

    /// Starts a new segment with the next write, so older ones can be removed.
    pub(crate) fn roll(&self) {
        self.shared.buffer.lock().roll_requested = true;
    }

    /// Removes the segments that hold only records below `lsn`.
    pub(crate) fn remove_before(&self, lsn: u64) -> Result<usize, StoreError> {
        let segs = segments(&self.shared.dir)?;
        let mut removed = 0;
        for pair in segs.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *next_first <= lsn {
                fs::remove_file(path).map_err(|e| StoreError::io("removing a log segment", e))?;
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
            let mut buffer = self.shared.buffer.lock();
            buffer.flush_requested = true;
            self.shared.flush.notify_one();
        }
        if let Some(t) = self.flusher.take()
            && t.thread().id() != std::thread::current().id()
        {
            // (The flusher itself can be the one dropping the log: its hook may hold the
            // last reference to the engine's parts. It then returns on its own.)
            let _ = t.join();
        }
    }
}

/// Parses one frame expected to carry `lsn`: its record's bytes and the frame's length;
/// `None` if torn, corrupt or out of sequence.
fn frame(bytes: &[u8], lsn: u64) -> Option<(&[u8], usize)> {
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
    Some((&body[8..], 8 + len))
}

/// The segment being written.
struct Segment {
    file: File,
    /// Bytes known written (and synced, unless the policy is None): the file's length
    /// before the write in progress.
    bytes: u64,
    /// A write past `bytes` failed: the file must be cut back to `bytes` before the next.
    dirty: bool,
}

impl Segment {
    /// Creates the segment whose first record is `first_lsn`, header fsynced and named in
    /// the directory. On failure the file is removed again (if it cannot be, recovery will
    /// find its header unwritten and remove it).
    fn create(dir: &Path, first_lsn: u64, format: u32) -> Result<Segment, StoreError> {
        let path = segment_path(dir, first_lsn);
        let created = (|| {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            let mut header = [0u8; HEADER];
            header[..8].copy_from_slice(MAGIC);
            header[8..12].copy_from_slice(&format.to_le_bytes());
            file.write_all(&header)?;
            file.sync_all()?;
            File::open(dir)?.sync_all()?;
            file.seek(SeekFrom::End(0))?;
            Ok(file)
        })();
        match created {
            Ok(file) => Ok(Segment {
                file,
                bytes: HEADER as u64,
                dirty: false,
            }),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(StoreError::io("creating a log segment", e))
            }
        }
    }

    /// Cuts the file back to its last good length after a failed write, so the next write
    /// continues the records instead of following a torn one.
    fn repair(&mut self) -> Result<(), StoreError> {
        if self.dirty {
            self.file
                .set_len(self.bytes)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.bytes)))
                .map_err(|e| StoreError::io("cutting a failed write off the log", e))?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// First wait before retrying a failed write; doubles up to `RETRY_MAX`.
const RETRY_MIN: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// One flush: `buf` (records `first..`) written to the current segment, or a new one when a
/// roll is due, then fsynced as the policy says.
fn write_step(
    shared: &Shared,
    segment: &mut Option<Segment>,
    buf: &[u8],
    first: u64,
    roll: bool,
    force_sync: bool,
) -> Result<(), StoreError> {
    if let Some(seg) = segment.as_mut() {
        seg.repair()?;
    }
    let sync = |seg: &Segment| -> Result<(), StoreError> {
        let start = Instant::now();
        seg.file
            .sync_data()
            .map_err(|e| StoreError::io("syncing the log", e))?;
        shared.syncs.record(start.elapsed());
        Ok(())
    };
    if buf.is_empty() {
        if force_sync && let Some(seg) = segment.as_ref() {
            sync(seg)?;
        }
        return Ok(());
    }
    let full = segment
        .as_ref()
        .is_some_and(|s| s.bytes >= shared.segment_bytes);
    if roll || full || segment.is_none() {
        if let Some(old) = segment.as_ref() {
            // Under every policy a closed segment is on disk before the next one starts, so
            // a forced sync only has the open one to flush.
            sync(old)?;
        }
        *segment = Some(Segment::create(&shared.dir, first, shared.format)?);
    }
    let Some(seg) = segment.as_mut() else {
        unreachable!("a segment was opened above");
    };
    seg.dirty = true;
    seg.file
        .write_all(buf)
        .map_err(|e| StoreError::io("writing the log", e))?;
    if shared.policy != SyncPolicy::None || force_sync {
        sync(seg)?;
    }
    seg.bytes += buf.len() as u64;
    seg.dirty = false;
    Ok(())
}

fn run_flusher(shared: &Shared) {
    let interval = match shared.policy {
        SyncPolicy::GroupCommit { interval } => interval,
        SyncPolicy::Always => Duration::from_millis(50),
        SyncPolicy::None => Duration::from_millis(5),
    };
    let mut segment: Option<Segment> = None;
    let mut spare = Vec::new();
    // Set while writing fails: the wait before the next attempt.
    let mut retry_in: Option<Duration> = None;
    loop {
        let shutdown = shared.shutdown.load(Ordering::SeqCst);
        let (mut buf, first, next, roll, force_sync, sync_ticket) = {
            let mut buffer = shared.buffer.lock();
            if !buffer.flush_requested && !shutdown {
                shared
                    .flush
                    .wait_for(&mut buffer, retry_in.unwrap_or(interval));
            }
            buffer.flush_requested = false;
            let sync_ticket = buffer.sync_tickets;
            let force_sync = buffer.sync_taken < sync_ticket;
            buffer.sync_taken = sync_ticket;
            let first = buffer.first;
            buffer.first = buffer.next_lsn;
            // A roll waits for the next write, so there is never an empty segment.
            let roll = !buffer.bytes.is_empty() && std::mem::take(&mut buffer.roll_requested);
            let buf = std::mem::replace(&mut buffer.bytes, std::mem::take(&mut spare));
            (buf, first, buffer.next_lsn, roll, force_sync, sync_ticket)
        };
        match write_step(shared, &mut segment, &buf, first, roll, force_sync) {
            Ok(()) => {
                {
                    let mut progress = shared.progress.lock();
                    progress.up_to = progress.up_to.max(next);
                    if force_sync {
                        progress.synced_ticket = sync_ticket;
                    }
                    progress.failed = None;
                    shared.failing.store(false, Ordering::Relaxed);
                    shared.progress_cv.notify_all();
                    shared.progress_notify.notify_waiters();
                }
                retry_in = None;
                buf.clear();
                spare = buf;
                if let Some(hook) = &*shared.on_progress.lock() {
                    hook(next);
                }
            }
            Err(e) => {
                // Nothing is lost: the records go back in front of those appended since,
                // and the flags this attempt took are raised again.
                {
                    let mut buffer = shared.buffer.lock();
                    if !buf.is_empty() {
                        let newer = std::mem::replace(&mut buffer.bytes, buf);
                        buffer.bytes.extend_from_slice(&newer);
                        buffer.first = first;
                    }
                    buffer.roll_requested |= roll;
                    if force_sync {
                        // The fsync is still owed: the next attempt does it.
                        buffer.sync_taken = buffer.sync_taken.min(sync_ticket - 1);
                    }
                }
                let mut progress = shared.progress.lock();
                progress.failed = Some(e);
                if force_sync {
                    progress.failed_ticket = sync_ticket;
                }
                shared.failing.store(true, Ordering::Relaxed);
                shared.progress_cv.notify_all();
                shared.progress_notify.notify_waiters();
                retry_in = Some(retry_in.map_or(RETRY_MIN, |d| (d * 2).min(RETRY_MAX)));
            }
        }
        // On shutdown: once everything is written, or after one last failed attempt (what
        // it could not write was never acknowledged: its callers were told `NotDurable`).
        if shutdown && (retry_in.is_some() || shared.buffer.lock().bytes.is_empty()) {
            return;
        }
    }
}
