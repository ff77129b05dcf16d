//! Send jobs: the audience fixed at acceptance cut into chunks, the ordering lanes that keep
//! one account's sends in order per recipient, progress counters, and the handle and report
//! the caller sees.
//!
//! ## Chunks
//! The audience is a roaring bitmap; its ids fall into keys of 65,536 ids (one container
//! each). A chunk is one key, or several consecutive non-empty keys of a sparse audience
//! coalesced until they hold [`EngineConfig::chunk_target`](crate::EngineConfig) recipients.
//! A chunk is one sink batch.
//!
//! ## Ordering lanes
//! Each account has one lane per key: a FIFO of the chunks, in send order, that cover that
//! key. A chunk may run only when it is at the front of the lane of every key it covers, and
//! leaves those fronts when it completes. So for one account and one user, a later send's
//! batch never reaches the sink before an earlier send's batch for that user has returned,
//! while sends of different accounts, and the disjoint parts of one account's sends, run in
//! parallel. The earliest pending send of an account is at the front of all its lanes, so
//! some chunk can always run (no deadlock).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roaring::RoaringBitmap;
use tokio::sync::watch;

use crate::clock::Millis;
use crate::ids::JobId;
use crate::loom;
use crate::machinery::rate::RateLimiter;
use crate::message::Message;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// Accepted; no batch has reached the sink yet.
    Queued,
    /// Some batches were delivered, some are still to come.
    Sending,
    /// Every recipient was handed to the sink; `errors` counts those whose batch failed.
    Done,
    /// The audience was not empty and every batch failed.
    Failed,
    /// The account withdrew the message (an article or video): fetching it now returns a
    /// tombstone. Deliveries still pending when it was withdrawn go on, to the tombstone.
    Retracted,
    /// The engine was dropped before the job finished; the report holds what was done so
    /// far. A durable engine resumes the job when its directory is opened again (look it
    /// up there with `Engine::job`); an in-memory engine's job ends here.
    Interrupted,
    /// The account was terminated before the job finished: the recipients not yet
    /// delivered to were skipped (the report counts them in `cancelled`).
    Cancelled,
}

impl JobStatus {
    /// Done, failed, retracted, or interrupted: the handle will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Done
                | JobStatus::Failed
                | JobStatus::Retracted
                | JobStatus::Interrupted
                | JobStatus::Cancelled
        )
    }

    /// Reads a job's status word, which only `Completion` stores, with these codes; it never
    /// reaches the disk (the journal's codes are in `journal/codes.rs`).
    fn from_u8(v: u8) -> JobStatus {
        match v {
            0 => JobStatus::Queued,
            1 => JobStatus::Sending,
            2 => JobStatus::Done,
            3 => JobStatus::Failed,
            4 => JobStatus::Interrupted,
            5 => JobStatus::Cancelled,
            _ => unreachable!("no job status has the code {v}: only `Completion` stores the word"),
        }
    }
}

/// What a job did. `total == filtered + sent + errors + cancelled` once the job is finished.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobReport {
    /// The send.
    pub job: JobId,
    /// Where the job stands.
    pub status: JobStatus,
    /// Recipients in the audience fixed at acceptance.
    pub total: u64,
    /// Recipients skipped by the platform's rules (not delivered, not an error).
    pub filtered: u64,
    /// Recipients whose batch the sink accepted.
    pub sent: u64,
    /// Recipients whose batch failed after every retry.
    pub errors: u64,
    /// Recipients skipped because the account was terminated first.
    pub cancelled: u64,
    /// The last sink error, if any batch failed.
    pub last_error: Option<String>,
    /// When the send was accepted, in ms since the epoch (the engine's clock).
    pub accepted_at_ms: Millis,
    /// When the job finished, if it has.
    pub finished_at_ms: Option<Millis>,
    /// When the job finished, by this process's monotonic clock (`Instant`, not the
    /// engine's [`Clock`](crate::Clock)): taken by the worker that delivered the last batch,
    /// before the report is published, so latency measured with it leaves out the
    /// observer's own wake-up. `None` if unfinished, or finished before a restart; a job a
    /// restart's replay finishes gets the replay's instant.
    pub finished_instant: Option<Instant>,
}

/// A piece of a job's audience: the ids of `keys` (each a block of 65,536 ids).
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) keys: Box<[u16]>,
    pub(crate) recipients: u32,
    /// Lanes in which this chunk is not yet at the front. Written under the account's lanes
    /// lock only; atomic so that `Job` can be shared without a lock around its chunks.
    waiting: AtomicU32,
}

/// The lanes of one account: key -> chunks covering it, in send order.
pub(crate) type Lanes = HashMap<u16, VecDeque<(Arc<Job>, u32)>>;

/// The queue of a job's chunks that may run now.
#[derive(Debug, Default)]
pub(crate) struct Ready {
    pub(crate) chunks: VecDeque<u32>,
    /// True while the job sits in a pool queue; keeps a job from being queued twice.
    pub(crate) queued: bool,
    /// Workers delivering a chunk of this job right now.
    pub(crate) running: u32,
    /// Set from acceptance until the acceptance is durable: chunks made runnable meanwhile
    /// (by the lanes, when an earlier send finishes) wait here instead of being queued, so
    /// no part of a send reaches anyone before a restart would keep it.
    pub(crate) held: bool,
}

pub(crate) struct Job {
    pub(crate) id: JobId,
    pub(crate) message: Arc<Message>,
    pub(crate) audience: Arc<RoaringBitmap>,
    pub(crate) chunks: Box<[Chunk]>,
    /// The account's lanes, shared by all its jobs.
    pub(crate) lanes: Arc<Mutex<Lanes>>,
    pub(crate) ready: Mutex<Ready>,
    remaining: AtomicU32,
    /// Bit `i` set once chunk `i` is done; what a snapshot records and replay restores.
    done: Box<[AtomicU64]>,
    /// Chunks per sink batch target this job was planned with (recorded in the log, so a
    /// replay plans the same chunks even if the configuration changed).
    pub(crate) chunk_target: u32,
    /// The status, and the final report once the job ended.
    completion: Completion,
    /// Set once a batch of this job was slow to deliver (see `pool.rs`).
    slow: AtomicBool,
    filtered: u64,
    sent: AtomicU64,
    errors: AtomicU64,
    /// Set once when the account is terminated; chunks not yet delivered are skipped.
    cancelled: AtomicBool,
    /// Recipients of the skipped chunks.
    skipped: AtomicU64,
    pub(crate) accepted_at_ms: Millis,
    last_error: Mutex<Option<String>>,
    /// The account's delivery speed limit when the send was accepted; `None`: unlimited.
    pub(crate) rate: Option<Arc<RateLimiter>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("status", &self.status())
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl Job {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: JobId,
        message: Arc<Message>,
        audience: Arc<RoaringBitmap>,
        filtered: u64,
        chunk_target: u32,
        lanes: Arc<Mutex<Lanes>>,
        accepted_at_ms: Millis,
        rate: Option<Arc<RateLimiter>>,
    ) -> Arc<Job> {
        let chunks = plan_chunks(&audience, chunk_target);
        Arc::new(Job {
            id,
            message,
            remaining: AtomicU32::new(chunks.len() as u32),
            done: (0..chunks.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            chunk_target,
            chunks,
            audience,
            lanes,
            ready: Mutex::new(Ready::default()),
            completion: Completion::new(),
            slow: AtomicBool::new(false),
            filtered,
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            skipped: AtomicU64::new(0),
            accepted_at_ms,
            last_error: Mutex::new(None),
            rate,
        })
    }

    pub(crate) fn filtered(&self) -> u64 {
        self.filtered
    }

    /// Skips the chunks not yet delivered (the account was terminated). A chunk being
    /// delivered right now finishes.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Records chunk `index` as skipped by a cancellation; true if it was the job's last.
    pub(crate) fn skip_chunk(&self, index: u32) -> bool {
        let bit = 1u64 << (index % 64);
        if self.done[index as usize / 64].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return false;
        }
        let recipients = u64::from(self.chunks[index as usize].recipients);
        self.skipped.fetch_add(recipients, Ordering::Relaxed);
        self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
    }

    pub(crate) fn status(&self) -> JobStatus {
        self.completion.status()
    }

    pub(crate) fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_slow(&self) {
        self.slow.store(true, Ordering::Relaxed);
    }

    /// Holds the job's chunks back until [`PoolShared::release`] (see [`Ready::held`]).
    ///
    /// [`PoolShared::release`]: crate::machinery::pool::PoolShared::release
    pub(crate) fn hold(&self) {
        self.ready.lock().held = true;
    }

    pub(crate) fn mark_sending(&self) {
        self.completion.mark_sending();
    }

    /// Enters every chunk not yet done into its lanes; returns the chunks that may run at
    /// once.
    ///
    /// Must be called once per job, in the account's send order (the caller holds the
    /// account's write lock, or is restoring before any fan-out).
    pub(crate) fn enter_lanes(self: &Arc<Job>) -> Vec<u32> {
        let mut lanes = self.lanes.lock();
        let mut ready = Vec::new();
        for (i, chunk) in self.chunks.iter().enumerate() {
            if self.is_chunk_done(i as u32) {
                continue;
            }
            let mut waiting = 0;
            for key in chunk.keys.iter() {
                let lane = lanes.entry(*key).or_default();
                if !lane.is_empty() {
                    waiting += 1;
                }
                lane.push_back((Arc::clone(self), i as u32));
            }
            chunk.waiting.store(waiting, Ordering::Relaxed);
            if waiting == 0 {
                ready.push(i as u32);
            }
        }
        ready
    }

    /// Takes chunk `index` out of its lanes; returns the chunks (of this or later jobs of
    /// the account) that this made runnable.
    pub(crate) fn leave_lanes(&self, index: u32) -> Vec<(Arc<Job>, u32)> {
        let mut lanes = self.lanes.lock();
        let mut unblocked = Vec::new();
        for key in self.chunks[index as usize].keys.iter() {
            let Some(lane) = lanes.get_mut(key) else {
                continue;
            };
            let front = lane.pop_front();
            debug_assert!(front.is_some_and(|(j, i)| j.id == self.id && i == index));
            match lane.front() {
                Some((next, next_index)) => {
                    let chunk = &next.chunks[*next_index as usize];
                    if chunk.waiting.fetch_sub(1, Ordering::Relaxed) == 1 {
                        unblocked.push((Arc::clone(next), *next_index));
                    }
                }
                None => {
                    lanes.remove(key);
                }
            }
        }
        unblocked
    }

    pub(crate) fn is_chunk_done(&self, index: u32) -> bool {
        self.done[index as usize / 64].load(Ordering::Acquire) & (1 << (index % 64)) != 0
    }

    /// True once the chunk holding `user`, a member of the audience, is done: the user's
    /// delivery was handed to the sink (written, for the inbox).
    pub(crate) fn delivered_to(&self, user: u32) -> bool {
        let key = (user >> 16) as u16;
        // Chunks cover ascending, disjoint runs of keys.
        let i = self
            .chunks
            .partition_point(|c| c.keys.last().is_some_and(|&k| k < key));
        i < self.chunks.len() && self.is_chunk_done(i as u32)
    }

    /// Bit `i` set: chunk `i` is done.
    pub(crate) fn done_bits(&self) -> Vec<u64> {
        self.done
            .iter()
            .map(|w| w.load(Ordering::Acquire))
            .collect()
    }

    pub(crate) fn counters(&self) -> (u64, u64, Option<String>) {
        (
            self.sent.load(Ordering::Acquire),
            self.errors.load(Ordering::Acquire),
            self.last_error.lock().clone(),
        )
    }

    pub(crate) fn finished_at_ms(&self) -> Option<Millis> {
        self.completion.final_report()?.finished_at_ms
    }

    /// Restores progress from a snapshot: done chunks, counters, and a finished report.
    pub(crate) fn restore(
        &self,
        done: &[u64],
        sent: u64,
        errors: u64,
        last_error: Option<String>,
        finished_ms: Option<Millis>,
        now_ms: Millis,
    ) {
        let mut remaining = self.chunks.len() as u32;
        for (w, (word, bits)) in self.done.iter().zip(done).enumerate() {
            // Only bits of chunks that exist count (a damaged snapshot cannot underflow).
            let chunks_here = (self.chunks.len() - w * 64).min(64);
            let mask = if chunks_here == 64 {
                u64::MAX
            } else {
                (1u64 << chunks_here) - 1
            };
            let valid = *bits & mask;
            word.store(valid, Ordering::Release);
            remaining -= valid.count_ones();
        }
        self.remaining.store(remaining, Ordering::Release);
        self.sent.store(sent, Ordering::Release);
        self.errors.store(errors, Ordering::Release);
        *self.last_error.lock() = last_error;
        if remaining == 0 {
            // A snapshot can catch a job between its last chunk and its finish (the worker
            // that delivered the chunk finishes it a moment later): no record after the
            // snapshot will finish it, so it finishes here, at `now_ms` if it had not.
            self.finish(finished_ms.unwrap_or(now_ms));
        }
    }

    /// Fills `buf` with the recipients of chunk `index`, ascending.
    /// `buf` only grows: a worker's buffer is zeroed once at its largest size, not once per
    /// chunk, so filling costs one write per recipient.
    pub(crate) fn recipients<'b>(&self, index: u32, buf: &'b mut Vec<u32>) -> &'b [u32] {
        let chunk = &self.chunks[index as usize];
        if buf.len() < chunk.recipients as usize {
            buf.resize(chunk.recipients as usize, 0);
        }
        let mut filled = 0;
        for key in chunk.keys.iter() {
            let lo = u32::from(*key) << 16;
            let mut iter = self.audience.range(lo..=lo | 0xffff);
            loop {
                let n = iter.next_many(&mut buf[filled..]).len();
                if n == 0 {
                    break;
                }
                filled += n;
            }
        }
        &buf[..filled]
    }

    /// Records the outcome of chunk `index`; true if it was the job's last. A chunk
    /// recorded twice (a replayed record for a chunk the snapshot has) counts once and
    /// returns false.
    pub(crate) fn chunk_done(
        &self,
        index: u32,
        sent: u64,
        errors: u64,
        error: Option<String>,
    ) -> bool {
        let bit = 1u64 << (index % 64);
        if self.done[index as usize / 64].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return false;
        }
        if sent > 0 {
            self.sent.fetch_add(sent, Ordering::Relaxed);
        }
        if errors > 0 {
            self.errors.fetch_add(errors, Ordering::Relaxed);
            *self.last_error.lock() = error;
        }
        self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
    }

    pub(crate) fn has_chunks(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// Marks the job finished and wakes everyone waiting for it. Returns its report.
    pub(crate) fn finish(&self, now_ms: Millis) -> JobReport {
        let errors = self.errors.load(Ordering::Acquire);
        let sent = self.sent.load(Ordering::Acquire);
        let status = if self.skipped.load(Ordering::Acquire) > 0 {
            JobStatus::Cancelled
        } else if errors > 0 && sent == 0 {
            JobStatus::Failed
        } else {
            JobStatus::Done
        };
        let mut report = self.report_with(status, Some(now_ms));
        report.finished_instant = Some(Instant::now());
        self.completion.end(report)
    }

    /// Ends the job for its handles because the engine is going away (see
    /// [`JobStatus::Interrupted`]); does nothing to a finished job.
    pub(crate) fn interrupt(&self) {
        self.completion
            .end_unless_ended(|| self.report_with(JobStatus::Interrupted, None));
    }

    fn report_with(&self, status: JobStatus, finished_at_ms: Option<Millis>) -> JobReport {
        JobReport {
            job: self.id,
            status,
            total: self.audience.len() + self.filtered,
            filtered: self.filtered,
            sent: self.sent.load(Ordering::Acquire),
            errors: self.errors.load(Ordering::Acquire),
            cancelled: self.skipped.load(Ordering::Acquire),
            last_error: self.last_error.lock().clone(),
            accepted_at_ms: self.accepted_at_ms,
            finished_at_ms,
            finished_instant: None,
        }
    }
}

/// Cuts `audience` into chunks: one per dense key, sparse neighbours coalesced.
fn plan_chunks(audience: &RoaringBitmap, target: u32) -> Box<[Chunk]> {
    let mut chunks = Vec::new();
    let mut keys: Vec<u16> = Vec::new();
    let mut count: u32 = 0;
    let mut close = |keys: &mut Vec<u16>, count: &mut u32| {
        if !keys.is_empty() {
            chunks.push(Chunk {
                keys: std::mem::take(keys).into_boxed_slice(),
                recipients: *count,
                waiting: AtomicU32::new(0),
            });
            *count = 0;
        }
    };
    let mut start: u32 = 0;
    while let Some(first) = audience.range(start..).next() {
        let key = (first >> 16) as u16;
        let lo = u32::from(key) << 16;
        let hi = lo | 0xffff;
        let n = audience.range_cardinality(lo..=hi) as u32;
        if count > 0 && count + n > target {
            close(&mut keys, &mut count);
        }
        keys.push(key);
        count += n;
        if hi == u32::MAX {
            break;
        }
        start = hi + 1;
    }
    close(&mut keys, &mut count);
    chunks.into_boxed_slice()
}

impl Job {
    /// The report so far; final once the status is finished.
    pub(crate) fn report(&self) -> JobReport {
        self.completion
            .report(|status| self.report_with(status, None))
    }

    /// Blocks until the job finishes and returns its final report.
    pub(crate) fn wait(&self) -> JobReport {
        self.completion.wait()
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`.
    pub(crate) fn wait_timeout(&self, timeout: Duration) -> Option<JobReport> {
        self.completion.wait_timeout(timeout)
    }

    /// Waits without blocking a thread.
    pub(crate) async fn finished(&self) -> JobReport {
        self.completion
            .finished(|status| self.report_with(status, None))
            .await
    }
}

/// How a job ends, as its handles see it: the status, and once the job ended its final
/// report, which `finish` or `interrupt` sets once and `report`, `wait` and `finished` read.
///
/// The final report is stored before the status says the job ended, both under `report`'s
/// lock, and the watch is told after both: so whoever sees an ended status (by `status`, by
/// the watch, or under the lock) finds the final report, and a waiter cannot miss the
/// notification, as it looks for the report and starts waiting under the lock the ending
/// holds while it stores it. The first ending wins: a job interrupted stays interrupted. A
/// loom model checks this (`loom_whoever_sees_a_job_ended_finds_its_final_report`): it is
/// where a finished status without its report once shipped.
struct Completion {
    /// A [`JobStatus`] code (see [`JobStatus::from_u8`]): queued, then sending, then how it
    /// ended. Turns ended only under `report`'s lock, after the final report is stored.
    status: loom::AtomicU8,
    /// The final report, stored once when the job ends; guarded for `ended`.
    report: loom::Mutex<Option<JobReport>>,
    /// Notified when the final report is stored.
    ended: loom::Condvar,
    /// The status for asynchronous waiters; told after `status`.
    watch: watch::Sender<JobStatus>,
}

impl Completion {
    fn new() -> Completion {
        Completion {
            status: loom::AtomicU8::new(0),
            report: loom::Mutex::new(None),
            ended: loom::Condvar::new(),
            watch: watch::channel(JobStatus::Queued).0,
        }
    }

    fn status(&self) -> JobStatus {
        JobStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    /// Queued becomes sending (the first batch is on its way); otherwise nothing changes.
    fn mark_sending(&self) {
        if self
            .status
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Only queued or sending: an ending may have come in between.
            self.watch.send_if_modified(|s| {
                let queued = *s == JobStatus::Queued;
                if queued {
                    *s = JobStatus::Sending;
                }
                queued
            });
        }
    }

    /// Ends the job with `report` (its status an ending) unless it ended already, and wakes
    /// everyone waiting. Returns the final report: `report`, or the earlier ending's.
    fn end(&self, report: JobReport) -> JobReport {
        self.end_unless_ended(|| report)
    }

    /// Like [`end`](Self::end), making the report only if the job has not ended.
    fn end_unless_ended(&self, report: impl FnOnce() -> JobReport) -> JobReport {
        let mut stored = self.report.lock();
        if let Some(earlier) = stored.as_ref() {
            return earlier.clone();
        }
        let report = report();
        let status = report.status;
        debug_assert!(status.is_finished(), "{status:?} is not an ending");
        let code = match status {
            JobStatus::Done => 2,
            JobStatus::Interrupted => 4,
            JobStatus::Cancelled => 5,
            _ => 3,
        };
        // The report is in place before the status says ended, so whoever sees an ended
        // status finds the final report.
        *stored = Some(report.clone());
        self.status.store(code, Ordering::Release);
        drop(stored);
        self.ended.notify_all();
        self.watch.send_replace(status);
        report
    }

    fn final_report(&self) -> Option<JobReport> {
        self.report.lock().clone()
    }

    /// The final report, or `so_far` of the current status if the job has not ended.
    fn report(&self, so_far: impl FnOnce(JobStatus) -> JobReport) -> JobReport {
        let stored = self.report.lock();
        if let Some(done) = stored.as_ref() {
            return done.clone();
        }
        // Under the lock with no final report the status has not ended; were it ever to say
        // so, the report still must not claim an ending without the final report.
        let status = match self.status() {
            s if s.is_finished() => JobStatus::Sending,
            s => s,
        };
        so_far(status)
    }

    fn wait(&self) -> JobReport {
        let mut stored = self.report.lock();
        loop {
            if let Some(report) = stored.as_ref() {
                return report.clone();
            }
            self.ended.wait(&mut stored);
        }
    }

    fn wait_timeout(&self, timeout: Duration) -> Option<JobReport> {
        let deadline = Instant::now() + timeout;
        let mut stored = self.report.lock();
        loop {
            if let Some(report) = stored.as_ref() {
                return Some(report.clone());
            }
            if self.ended.wait_until(&mut stored, deadline).timed_out() {
                return stored.clone();
            }
        }
    }

    async fn finished(&self, so_far: impl FnOnce(JobStatus) -> JobReport) -> JobReport {
        let mut rx = self.watch.subscribe();
        // The watch is told after the report is stored, so once `wait_for` sees an ending
        // the final report is in place.
        let _ = rx.wait_for(|s| s.is_finished()).await;
        self.report(so_far)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_keys_are_chunks_of_their_own_and_sparse_ones_coalesce() {
        let mut audience: RoaringBitmap = (0..70_000).collect();
        audience.extend((1..40u32).map(|k| 200_000 + k * 65_536));
        let chunks = plan_chunks(&audience, 16_384);
        let shape: Vec<(Vec<u16>, u32)> = chunks
            .iter()
            .map(|c| (c.keys.to_vec(), c.recipients))
            .collect();
        assert_eq!(shape[0], (vec![0], 65_536));
        // Key 1 holds 4,464 ids of the first range and then the sparse ones follow.
        assert_eq!(shape.len(), 2);
        assert_eq!(shape[1].1 as u64, audience.len() - 65_536);
        assert!(plan_chunks(&RoaringBitmap::new(), 10).is_empty());
        let top: RoaringBitmap = [u32::MAX].into_iter().collect();
        assert_eq!(plan_chunks(&top, 10)[0].keys.to_vec(), vec![u16::MAX]);
    }

    /// Regression: a snapshot taken after a job's last chunk was recorded but before the
    /// worker finished the job stored every chunk done and no finish time; restored, the
    /// job was in flight with nothing left to run, and `wait_idle` after the reopen hung
    /// (about one run in 150 of `snapshot_taken_during_fan_out_...` under load).
    #[test]
    fn a_job_restored_with_every_chunk_done_is_finished() {
        let audience: RoaringBitmap = (0..200_000).collect();
        let job = Job::new(
            JobId {
                account: crate::ids::AccountId(0),
                seq: crate::ids::Seq(1),
            },
            Arc::new(Message::Text("m".into())),
            Arc::new(audience),
            0,
            16_384,
            Arc::new(Mutex::new(Lanes::new())),
            1_000,
            None,
        );
        assert_eq!(job.chunks.len(), 4);
        job.restore(&[0b1111], 200_000, 0, None, None, 5_000);
        assert_eq!(job.status(), JobStatus::Done);
        let report = job.completion.final_report().expect("finished");
        assert_eq!((report.sent, report.finished_at_ms), (200_000, Some(5_000)));
        // Not every chunk done: still in flight.
        let rest = Job::new(
            job.id,
            Arc::clone(&job.message),
            Arc::clone(&job.audience),
            0,
            16_384,
            Arc::new(Mutex::new(Lanes::new())),
            1_000,
            None,
        );
        rest.restore(&[0b0111], 150_000, 0, None, None, 5_000);
        assert!(!rest.status().is_finished());
    }
}

/// A loom model of [`Completion`]: run with `RUSTFLAGS="--cfg loom" cargo test --release
/// --lib loom` (see `.ci/run`). Under loom a wait never times out, so a waiter that is
/// never woken is a deadlock.
#[cfg(all(test, loom))]
mod loom_models {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use ::loom::sync::Arc;

    use super::*;
    use crate::ids::{AccountId, Seq};

    fn report(status: JobStatus) -> JobReport {
        JobReport {
            job: JobId {
                account: AccountId(1),
                seq: Seq(1),
            },
            status,
            total: 1,
            filtered: 0,
            sent: u64::from(status == JobStatus::Done),
            errors: 0,
            cancelled: 0,
            last_error: None,
            accepted_at_ms: 0,
            finished_at_ms: None,
            finished_instant: None,
        }
    }

    /// `finished` polled to its end. tokio's watch is not loom's, so it is polled with a
    /// no-op waker, yielding to loom between polls; tokio's code runs between loom's
    /// switch points, as one step.
    fn finished(completion: &Completion) -> JobReport {
        let mut future = std::pin::pin!(completion.finished(report));
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(report) = future.as_mut().poll(&mut cx) {
                return report;
            }
            ::loom::thread::yield_now();
        }
    }

    /// A reader's look: a status that says the job ended comes with the final report;
    /// returns the report if it is final.
    fn look(completion: &Completion) -> Option<JobReport> {
        let seen = completion.status();
        let report = completion.report(report);
        if seen.is_finished() {
            assert_eq!(report.status, seen, "an ended status without its report");
        }
        report.status.is_finished().then_some(report)
    }

    /// A worker marks the job sending and finishes it while one thread waits, another
    /// awaits `finished`, and the main thread looks: every waiter wakes with the final
    /// report, and a look that sees the job ended finds it.
    #[test]
    fn loom_whoever_sees_a_job_ended_finds_its_final_report() {
        ::loom::model(|| {
            let completion = Arc::new(Completion::new());
            let worker = {
                let completion = Arc::clone(&completion);
                ::loom::thread::spawn(move || {
                    completion.mark_sending();
                    completion.end(report(JobStatus::Done))
                })
            };
            let waiter = {
                let completion = Arc::clone(&completion);
                ::loom::thread::spawn(move || completion.wait())
            };
            let awaiter = {
                let completion = Arc::clone(&completion);
                ::loom::thread::spawn(move || finished(&completion))
            };
            let looked = look(&completion);
            let ended = worker.join().unwrap();
            assert_eq!(ended.status, JobStatus::Done);
            assert_eq!(waiter.join().unwrap(), ended);
            assert_eq!(awaiter.join().unwrap(), ended);
            if let Some(looked) = looked {
                assert_eq!(looked, ended);
            }
            assert_eq!(completion.status(), JobStatus::Done);
            assert_eq!(*completion.watch.borrow(), JobStatus::Done);
        });
    }

    /// The job finishes while the engine interrupts it and a handle waits: the first
    /// ending wins, and every reader and waiter gets that one.
    #[test]
    fn loom_a_job_finished_and_interrupted_at_once_ends_once() {
        crate::loom::model_exhaustively(|| {
            let completion = Arc::new(Completion::new());
            let worker = {
                let completion = Arc::clone(&completion);
                ::loom::thread::spawn(move || completion.end(report(JobStatus::Done)))
            };
            let waiter = {
                let completion = Arc::clone(&completion);
                ::loom::thread::spawn(move || completion.wait())
            };
            let interrupted = completion.end_unless_ended(|| report(JobStatus::Interrupted));
            let finished = worker.join().unwrap();
            assert_eq!(finished, interrupted, "two endings");
            assert_eq!(waiter.join().unwrap(), finished);
            assert_eq!(completion.status(), finished.status);
            assert_eq!(look(&completion), Some(finished));
        });
    }
}
