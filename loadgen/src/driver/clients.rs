//! The client threads of a run: senders taking the sends of the one Poisson schedule, and
//! churn threads making follows and unfollows paced to the target rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::system::{SendOutcome, System};
use super::tracker::Tracker;
use crate::workload::{Churn, Plan, SendStream};

/// Churn operations made between two checks of the clock.
const CHURN_BATCH: u64 = 256;

/// What the senders did.
#[derive(Default)]
pub(super) struct SendTotals {
    pub(super) attempted: u64,
    pub(super) accepted: u64,
    pub(super) busy: u64,
    pub(super) refused: u64,
    pub(super) first_refusal: Option<String>,
    pub(super) by_kind: [u64; 4],
    pub(super) lag_max: Duration,
    pub(super) stream_secs: f64,
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
pub(super) fn send_loop(
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
pub(super) fn churn_loop(
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
    use crate::workload::{ChurnOp, SendSpec, Workload};

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
