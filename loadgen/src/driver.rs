//! Drives one system through the mixed workload: a sender thread making the Poisson send
//! stream, churn threads making follows and unfollows at the target rate, and the main thread
//! sampling throughput (and drawing live progress) until the stream has stopped and the jobs
//! have drained, or the drain deadline has passed.
//!
//! The same driver runs herald and the naive system ([`System`]), so `loadgen compare`
//! measures both the same way.
//!
//! ## Completion latency
//! [`Tracker`] matches the two halves of a job: the sender registers the `Instant` taken just
//! before the system's send call, the system's completion path registers the `Instant` it saw
//! the job finish. Either may come first (a small job can finish before the send call has
//! even returned); the second computes the latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herald::JobHandle;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;
use serde::Serialize;

use crate::latency::Latencies;
use crate::stream::{Churn, ChurnOp, Plan, SendSpec, SendStream};

/// Throughput is sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// Churn operations made between two checks of the clock.
const CHURN_BATCH: u64 = 256;

/// What a send call did.
#[derive(Debug)]
pub enum SendOutcome {
    Accepted,
    /// Refused because too many jobs are pending: nothing was sent.
    Busy,
    Refused(String),
}

/// A system the mixed workload can drive.
pub trait System: Sync {
    /// Makes one send: builds the request from `spec`, takes `Instant::now()` just before
    /// the send call, and registers the accepted job with `tracker`.
    fn send(&self, seq: u64, spec: &SendSpec, tracker: &Tracker) -> SendOutcome;
    /// Makes one follow or unfollow; false if the system refused it.
    fn churn(&self, op: ChurnOp) -> bool;
    /// Makes follows and unfollows in order; returns how many the system refused. One
    /// `churn` call each, unless the system has a batch call.
    fn churn_batch(&self, ops: &[ChurnOp]) -> u64 {
        ops.iter().filter(|&&op| !self.churn(op)).count() as u64
    }
    /// Deliveries made so far, including those of jobs still running.
    fn delivered(&self, tracker: &Tracker) -> u64;
    /// Called once the stream has stopped and the drain deadline has passed: stop work.
    fn abandon(&self) {}
}

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

    fn snapshot(&self) -> (Latencies, u64, u64, u64, u64) {
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

/// One throughput sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds from the start of the stream.
    pub t: f64,
    /// Deliveries per second since the previous sample.
    pub deliveries_per_sec: f64,
    /// Churn operations per second since the previous sample.
    pub churn_ops_per_sec: f64,
    /// Jobs accepted and not finished at the sample.
    pub running_jobs: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Length of the send stream (and of the churn), seconds.
    pub stream_secs: f64,
    /// Stream plus drain, seconds: the window deliveries are counted in.
    pub elapsed_secs: f64,
    pub sends_attempted: u64,
    pub sends_accepted: u64,
    pub sends_busy: u64,
    pub sends_refused: u64,
    pub first_refusal: Option<String>,
    pub sends_by_kind: [u64; 4],
    /// Latest a send was made after its Poisson arrival time, ms.
    pub sender_lag_max_ms: f64,
    pub jobs_finished: u64,
    /// Jobs still running when the drain deadline passed.
    pub jobs_unfinished: usize,
    pub jobs_late: u64,
    pub deliveries: u64,
    pub delivery_errors: u64,
    pub deliveries_per_sec: f64,
    pub churn_ops: u64,
    pub churn_refused: u64,
    pub churn_secs: f64,
    pub churn_ops_per_sec: f64,
    pub latencies: Latencies,
    pub timeline: Vec<Sample>,
}

/// Runs the workload of `plan` through `system`. `poll_handles`: whether the tracker should
/// also poll job handles (herald, whose report channel may drop reports under overload).
pub fn run(
    label: &str,
    plan: &Plan,
    system: &dyn System,
    tracker: &Tracker,
    poll_handles: bool,
) -> RunResult {
    let w = &plan.workload;
    let duration = Duration::from_secs_f64(w.duration_secs);
    let drain = Duration::from_secs_f64(w.drain_secs);
    let churn_threads = if w.churn_threads == 0 {
        0
    } else {
        w.churn_threads
    };
    let stream_done = AtomicBool::new(false);
    let churn_ops = AtomicU64::new(0);
    let churn_refused = AtomicU64::new(0);
    let sends_made = AtomicU64::new(0);

    let bar = progress_bar(duration);
    bar.set_prefix(label.to_owned());
    let start = Instant::now();
    let end = start + duration;

    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let r = send_loop(plan, system, tracker, start, end, &sends_made);
            stream_done.store(true, Ordering::Release);
            r
        });
        let churners: Vec<_> = (0..churn_threads)
            .map(|t| {
                let (churn_ops, churn_refused) = (&churn_ops, &churn_refused);
                s.spawn(move || {
                    churn_loop(
                        plan,
                        system,
                        t as u32,
                        churn_threads as u32,
                        start,
                        end,
                        churn_ops,
                        churn_refused,
                    )
                })
            })
            .collect();

        // Sample until the stream stopped and the jobs drained (or the deadline passed).
        let mut timeline = Vec::new();
        let mut last = (Instant::now(), 0u64, 0u64);
        let mut recent: std::collections::VecDeque<(Instant, u64, u64)> = Default::default();
        let mut drain_deadline: Option<Instant> = None;
        loop {
            std::thread::sleep(SAMPLE_EVERY);
            if poll_handles {
                tracker.poll_handles();
            }
            let now = Instant::now();
            let delivered = system.delivered(tracker);
            let churned = churn_ops.load(Ordering::Relaxed);
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            let running = tracker.running();
            timeline.push(Sample {
                t: now.duration_since(start).as_secs_f64(),
                deliveries_per_sec: delivered.saturating_sub(last.1) as f64 / dt,
                churn_ops_per_sec: churned.saturating_sub(last.2) as f64 / dt,
                running_jobs: running,
            });
            last = (now, delivered, churned);
            recent.push_back(last);
            while recent.len() > 5 {
                recent.pop_front();
            }
            let (t_old, d_old, c_old) = recent[0];
            let window = now.duration_since(t_old).as_secs_f64().max(1e-9);
            bar.set_position(
                now.duration_since(start)
                    .as_millis()
                    .min(duration.as_millis()) as u64,
            );
            bar.set_message(format!(
                "{:>7.1} M deliveries/s | {:>5.2} M churn ops/s | {} sends | {} running",
                (delivered - d_old) as f64 / window / 1e6,
                (churned - c_old) as f64 / window / 1e6,
                sends_made.load(Ordering::Relaxed),
                running
            ));
            if stream_done.load(Ordering::Acquire) {
                let deadline = *drain_deadline.get_or_insert(now.max(end) + drain);
                if running == 0 || now >= deadline {
                    break;
                }
                bar.set_prefix(format!("{label} (draining)"));
            }
        }
        let elapsed = start.elapsed();
        system.abandon();
        bar.finish_and_clear();

        let sent = sender.join().expect("sender thread panicked");
        let mut churn_secs: f64 = 0.0;
        for c in churners {
            churn_secs = churn_secs.max(c.join().expect("churn thread panicked"));
        }
        let delivered = system.delivered(tracker);
        let (latencies, jobs_finished, _, delivery_errors, jobs_late) = tracker.snapshot();
        let churned = churn_ops.load(Ordering::Relaxed);
        RunResult {
            stream_secs: sent.stream_secs,
            elapsed_secs: elapsed.as_secs_f64(),
            sends_attempted: sent.attempted,
            sends_accepted: sent.accepted,
            sends_busy: sent.busy,
            sends_refused: sent.refused,
            first_refusal: sent.first_refusal,
            sends_by_kind: sent.by_kind,
            sender_lag_max_ms: sent.lag_max.as_secs_f64() * 1e3,
            jobs_finished,
            jobs_unfinished: tracker.running(),
            jobs_late,
            deliveries: delivered,
            delivery_errors,
            deliveries_per_sec: delivered as f64 / elapsed.as_secs_f64(),
            churn_ops: churned,
            churn_refused: churn_refused.load(Ordering::Relaxed),
            churn_secs,
            churn_ops_per_sec: if churn_secs > 0.0 {
                churned as f64 / churn_secs
            } else {
                0.0
            },
            latencies,
            timeline,
        }
    })
}

fn progress_bar(duration: Duration) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(duration.as_millis() as u64),
        ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix:.bold} {elapsed:>4} [{bar:24}] {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}

#[derive(Default)]
struct SendTotals {
    attempted: u64,
    accepted: u64,
    busy: u64,
    refused: u64,
    first_refusal: Option<String>,
    by_kind: [u64; 4],
    lag_max: Duration,
    stream_secs: f64,
}

impl SendTotals {
    /// Two senders' totals as one.
    fn merge(mut self, other: SendTotals) -> SendTotals {
        self.attempted += other.attempted;
        self.accepted += other.accepted;
        self.busy += other.busy;
        self.refused += other.refused;
        self.first_refusal = self.first_refusal.or(other.first_refusal);
        for (a, b) in self.by_kind.iter_mut().zip(other.by_kind) {
            *a += b;
        }
        self.lag_max = self.lag_max.max(other.lag_max);
        self
    }
}

/// Makes the stream's sends on `workload.senders` threads until `end` (or `max_sends`):
/// each thread takes the next send of the one Poisson schedule, waits for its time and
/// makes it, so sends overlap only when one waits for its answer past the next one's time.
fn send_loop(
    plan: &Plan,
    system: &dyn System,
    tracker: &Tracker,
    start: Instant,
    end: Instant,
    made: &AtomicU64,
) -> SendTotals {
    let stream = Mutex::new((SendStream::new(plan), 0u64));
    let senders = plan.workload.senders.max(1);
    let mut totals = std::thread::scope(|s| {
        let threads: Vec<_> = (0..senders)
            .map(|_| s.spawn(|| sender(plan, system, tracker, start, end, made, &stream)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("sender thread panicked"))
            .reduce(SendTotals::merge)
            .expect("at least one sender")
    });
    totals.stream_secs = start.elapsed().as_secs_f64();
    totals
}

/// One sending thread of [`send_loop`].
fn sender(
    plan: &Plan,
    system: &dyn System,
    tracker: &Tracker,
    start: Instant,
    end: Instant,
    made: &AtomicU64,
    stream: &Mutex<(SendStream<'_>, u64)>,
) -> SendTotals {
    let max_sends = plan.workload.max_sends;
    let mut t = SendTotals::default();
    loop {
        let (seq, spec) = {
            let mut stream = stream.lock();
            if max_sends > 0 && stream.1 >= max_sends {
                break;
            }
            let spec = stream.0.next_send();
            stream.1 += 1;
            (stream.1, spec)
        };
        let due = start + spec.at;
        if due >= end {
            break;
        }
        let now = Instant::now();
        if now >= end {
            // A sender that fell behind (a system slower to accept than the schedule) stops
            // with the clock, not with the schedule: the run stays bounded by --duration.
            break;
        }
        if due > now {
            std::thread::sleep(due - now);
        } else {
            t.lag_max = t.lag_max.max(now - due);
        }
        t.attempted += 1;
        let kind = match spec.audience.kind() {
            "all" => 0,
            "tag" => 1,
            "expr" => 2,
            _ => 3,
        };
        t.by_kind[kind] += 1;
        match system.send(seq, &spec, tracker) {
            SendOutcome::Accepted => t.accepted += 1,
            SendOutcome::Busy => t.busy += 1,
            SendOutcome::Refused(why) => {
                t.refused += 1;
                t.first_refusal.get_or_insert(why);
            }
        }
        made.fetch_add(1, Ordering::Relaxed);
    }
    t
}

/// Makes churn operations until `end`, paced to the thread's share of the target rate.
/// Returns the seconds it ran.
#[allow(clippy::too_many_arguments)]
fn churn_loop(
    plan: &Plan,
    system: &dyn System,
    thread: u32,
    threads: u32,
    start: Instant,
    end: Instant,
    ops: &AtomicU64,
    refused: &AtomicU64,
) -> f64 {
    let rate = plan.workload.churn_rate / f64::from(threads.max(1));
    let per_call = plan.workload.churn_batch.max(1);
    let mut churn = Churn::new(plan, thread, threads);
    let mut batch = Vec::with_capacity(CHURN_BATCH as usize);
    let mut done = 0u64;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(done as f64 / rate);
            if due > now {
                std::thread::sleep((due - now).min(end - now));
                continue;
            }
        }
        batch.clear();
        batch.extend((0..CHURN_BATCH).map_while(|_| churn.next_op()));
        let made = batch.len() as u64;
        if made == 0 {
            break;
        }
        let bad: u64 = if per_call == 1 {
            batch.iter().filter(|&&op| !system.churn(op)).count() as u64
        } else {
            batch
                .chunks(per_call)
                .map(|ops| system.churn_batch(ops))
                .sum()
        };
        done += made;
        ops.fetch_add(made, Ordering::Relaxed);
        if bad > 0 {
            refused.fetch_add(bad, Ordering::Relaxed);
        }
    }
    start
        .elapsed()
        .as_secs_f64()
        .min((end - start).as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Workload;

    /// Records every send's sequence number and spec; accepts all, churns nothing.
    #[derive(Default)]
    struct Log(Mutex<Vec<(u64, u32, Duration)>>);

    impl System for Log {
        fn send(&self, seq: u64, spec: &SendSpec, _: &Tracker) -> SendOutcome {
            self.0.lock().push((seq, spec.account, spec.at));
            SendOutcome::Accepted
        }
        fn churn(&self, _: ChurnOp) -> bool {
            true
        }
        fn delivered(&self, _: &Tracker) -> u64 {
            0
        }
    }

    /// Several sender threads make exactly the one schedule's sends, each once, whatever
    /// thread took it: the same sends as one thread makes.
    #[test]
    fn senders_share_one_schedule() {
        let made_by = |senders: usize| {
            let workload = Workload {
                accounts: 50,
                users: 5_000,
                edges: 20_000,
                send_rate: 20_000.0,
                max_sends: 300,
                senders,
                ..Workload::default()
            };
            let plan = Plan::new(&workload);
            let log = Log::default();
            let start = Instant::now();
            let made = AtomicU64::new(0);
            let totals = send_loop(
                &plan,
                &log,
                &Tracker::new(),
                start,
                start + Duration::from_secs(60),
                &made,
            );
            assert_eq!((totals.attempted, totals.accepted), (300, 300));
            assert_eq!(made.load(Ordering::Relaxed), 300);
            let mut sends = log.0.into_inner();
            sends.sort();
            sends
        };
        let one = made_by(1);
        assert_eq!(
            one.iter().map(|s| s.0).collect::<Vec<_>>(),
            (1..=300).collect::<Vec<_>>()
        );
        assert_eq!(made_by(4), one);
    }
}
