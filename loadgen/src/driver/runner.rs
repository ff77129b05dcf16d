//! Drives one system through the mixed workload: a sender thread making the Poisson send
//! stream, churn threads making follows and unfollows at the target rate, and the main thread
//! sampling throughput (and drawing live progress) until the stream has stopped and the jobs
//! have drained, or the drain deadline has passed.
//!
//! The same driver runs herald and the naive system ([`System`]), so `loadgen compare`
//! measures both the same way.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::clients::{churn_loop, send_loop};
use super::system::System;
use super::tracker::Tracker;
use crate::report::Latencies;
use crate::workload::Plan;

/// Throughput is sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

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
        let mut recent: VecDeque<(Instant, u64, u64)> = Default::default();
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
