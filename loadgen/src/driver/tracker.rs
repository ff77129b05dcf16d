//! Completion latency: [`Tracker`] matches the two halves of a job. The sender registers the
//! `Instant` taken just before the system's send call, the system's completion path registers
//! the `Instant` it saw the job finish. Either may come first (a small job can finish before
//! the send call has even returned); the second computes the latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use herald::JobHandle;
use parking_lot::Mutex;

use crate::report::Latencies;

enum Entry {
    Sent {
        t0: Instant,
        handle: Option<JobHandle>,
    },
    Done {
        t1: Instant,
        total: u64,
        sent: u64,
    },
}

#[derive(Default)]
struct TrackerState {
    entries: HashMap<u64, Entry>,
    /// Entries in `Sent` state: jobs not finished yet.
    running: usize,
    latencies: Latencies,
    finished_jobs: u64,
    finished_sent: u64,
    finished_errors: u64,
    /// Jobs whose end was found by polling their handle, not by a timely report.
    late: u64,
}

/// Matches sends with their completions; collects latencies.
#[derive(Default)]
pub struct Tracker {
    state: Mutex<TrackerState>,
    /// Set by a completion path that lost reports; the sampler then polls job handles.
    lost_reports: AtomicBool,
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// The send with key `key` was accepted; `t0` was taken just before the call.
    pub fn sent(&self, key: u64, t0: Instant, handle: Option<JobHandle>) {
        let mut s = self.state.lock();
        match s.entries.remove(&key) {
            Some(Entry::Done { t1, total, sent }) => {
                s.latencies.record(total, t1.saturating_duration_since(t0));
                let _ = sent;
            }
            Some(Entry::Sent { .. }) | None => {
                s.entries.insert(key, Entry::Sent { t0, handle });
                s.running += 1;
            }
        }
    }

    /// The job `key` finished at `t1` with `total` recipients, `sent` delivered.
    pub fn finished(&self, key: u64, t1: Instant, total: u64, sent: u64, errors: u64) {
        let mut s = self.state.lock();
        s.finished_jobs += 1;
        s.finished_sent += sent;
        s.finished_errors += errors;
        match s.entries.remove(&key) {
            Some(Entry::Sent { t0, .. }) => {
                s.running -= 1;
                s.latencies.record(total, t1.saturating_duration_since(t0));
            }
            _ => {
                s.entries.insert(key, Entry::Done { t1, total, sent });
            }
        }
    }

    /// The completion path lost reports: running jobs must be polled.
    pub fn reports_lost(&self) {
        self.lost_reports.store(true, Ordering::Release);
    }

    /// Resolves running jobs whose handle says they finished, if reports were lost. (A
    /// handle shows a job finished a moment before its report is sent, so polling when no
    /// report was lost would only race with the report.)
    pub fn poll_handles(&self) {
        if !self.lost_reports.swap(false, Ordering::AcqRel) {
            return;
        }
        let now = Instant::now();
        let mut s = self.state.lock();
        let done: Vec<(u64, herald::JobReport)> = s
            .entries
            .iter()
            .filter_map(|(k, e)| match e {
                Entry::Sent {
                    handle: Some(h), ..
                } if h.status().is_finished() => Some((*k, h.report())),
                _ => None,
            })
            .collect();
        for (key, report) in done {
            if let Some(Entry::Sent { t0, .. }) = s.entries.remove(&key) {
                s.running -= 1;
                s.late += 1;
                s.finished_jobs += 1;
                s.finished_sent += report.sent;
                s.finished_errors += report.errors;
                let t1 = report.finished_instant.unwrap_or(now);
                s.latencies
                    .record(report.total, t1.saturating_duration_since(t0));
            }
        }
    }

    /// Accepted jobs not finished yet.
    pub fn running(&self) -> usize {
        self.state.lock().running
    }

    /// Deliveries of finished jobs plus, through their handles, of running ones.
    pub fn delivered_with_handles(&self) -> u64 {
        let s = self.state.lock();
        let running: u64 = s
            .entries
            .values()
            .map(|e| match e {
                Entry::Sent {
                    handle: Some(h), ..
                } => h.report().sent,
                _ => 0,
            })
            .sum();
        s.finished_sent + running
    }

    pub(super) fn snapshot(&self) -> (Latencies, u64, u64, u64, u64) {
        let s = self.state.lock();
        (
            s.latencies.clone(),
            s.finished_jobs,
            s.finished_sent,
            s.finished_errors,
            s.late,
        )
    }
}
