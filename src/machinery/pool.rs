//! The fan-out pool: worker threads that deliver chunks of jobs to the sink, with work
//! stealing (crossbeam-deque) and round-robin between jobs.
//!
//! ## Scheduling
//! A queue entry is a *job with runnable chunks*, not a chunk. A worker pops a job, takes one
//! chunk from it and, if the job has more runnable chunks, puts the job back at the tail of
//! the global injector before delivering the chunk. So jobs interleave chunk by chunk: a
//! 100-recipient send queued behind a 10-million-recipient one waits for at most one chunk
//! per worker, not for the big send. Both workers can still work on one big job at once.
//!
//! Jobs of a single chunk (*small jobs*: small audiences) have a queue of their own,
//! `small_jobs`, that every worker looks at first: a 100-recipient send never waits for the
//! queue of big jobs. Nor does it wait for the chunk each worker is delivering: a chunk is at
//! least a block of 65,536 user ids, milliseconds of work when the block is dense, so each
//! worker sets [`serve_small_jobs`] as its thread's yield point, which the embedded inbox
//! runs between groups of blocks, and there the worker runs waiting small jobs before it
//! goes on with the chunk.
//!
//! Most small sends never come here: `Engine::send` delivers a send of at most
//! `inline_max_recipients` recipients itself ([`PoolShared::run_here`]) when its only chunk
//! may run at once, the sink is the embedded inbox and the account has no speed tier. On a
//! busy machine a worker may wait for a core for a scheduler time slice, and the caller is
//! already running. The small-job queue serves the rest: small sends held back by their
//! account's earlier sends, sends to external sinks, and jobs resumed after a restart.
//!
//! A job whose batches are slow (a slow sink) is limited to one worker at a time, so the
//! other workers stay free for other jobs.
//!
//! When a chunk completes and that unblocks chunks of the same account's later sends (see
//! `job.rs`, ordering lanes), the completing worker pushes those jobs onto its own deque,
//! where they are warm in its cache; idle workers steal from it. Every few tasks a worker
//! looks at the injector first, so work on its own deque cannot starve new jobs.
//!
//! ## Delivery speed
//! A job of an account with a speed tier carries a rate limiter. Before a worker takes a
//! chunk of such a job it asks the limiter; if the chunk would exceed the rate, the job is
//! parked in the `delayed` list until the limiter's time and the worker moves on to other
//! jobs: no worker ever sleeps on a rate. Jobs without a limiter pay one branch per chunk.
//!
//! ## Sleeping
//! A worker that finds nothing to do sleeps until a push wakes it ([`Sleepers`], checked by
//! a loom model), or at most 100 ms.
//!
//! **Invariant:** the pool never blocks on anything but the delivery (`deliver.rs`: the
//! sink call, and in durable mode a buffered log append) and its own short locks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use parking_lot::{Condvar, Mutex};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::ids::{AccountId, JobId};
use crate::loom;
use crate::machinery::deliver::Deliver;
use crate::machinery::inbox;
use crate::machinery::job::{Job, JobReport};

/// How often (in tasks) a worker checks the injector before its own deque.
const INJECTOR_INTERVAL: u32 = 8;

/// A batch whose delivery takes this long marks its job slow: from then on the job runs on
/// one worker at a time, so a slow sink cannot occupy every worker and stall other jobs.
/// (The embedded inbox takes well under a millisecond for a full 65,536-recipient chunk.)
const SLOW_BATCH: Duration = Duration::from_millis(10);

pub(crate) struct PoolShared {
    injector: Injector<Arc<Job>>,
    /// Small jobs (a single chunk, see [`is_small`]): taken before anything else, so a
    /// small send waits for at most the chunk each worker is on, however many big jobs
    /// queue.
    small_jobs: Injector<Arc<Job>>,
    stealers: Box<[Stealer<Arc<Job>>]>,
    /// Where idle workers sleep; every push notifies it.
    sleepers: Sleepers,
    shutdown: AtomicBool,
    threads: u32,
    deliver: Arc<dyn Deliver>,
    clock: Arc<dyn Clock>,
    /// Accepted jobs not yet finished: the places taken, for the `Busy` limit; a place is
    /// freed just before the job's report is published, so a caller woken by the report
    /// can send again at once.
    unfinished: AtomicUsize,
    /// Accepted jobs whose report is not yet published; what `wait_idle` waits for.
    live: AtomicUsize,
    /// The same jobs, by id: what a snapshot must carry besides the accounts' histories.
    inflight: Mutex<HashMap<JobId, Arc<Job>>>,
    /// Taken to notify `idle` when `live` drops to zero, and by its waiters.
    idle_lock: Mutex<()>,
    idle: Condvar,
    reports: broadcast::Sender<JobReport>,
    /// Jobs held back by their delivery rate, with when to requeue them. A job in this list
    /// counts as queued (`Ready::queued`), so it is never queued twice.
    delayed: Mutex<Vec<(Instant, Arc<Job>)>>,
    /// Whether `delayed` may be non-empty; read by workers before each task.
    has_delayed: AtomicBool,
}

pub(crate) struct Pool {
    shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub(crate) fn start(
        threads: usize,
        deliver: Arc<dyn Deliver>,
        clock: Arc<dyn Clock>,
        reports: broadcast::Sender<JobReport>,
    ) -> Pool {
        let threads = threads.max(1);
        let workers: Vec<Worker<Arc<Job>>> = (0..threads).map(|_| Worker::new_fifo()).collect();
        let shared = Arc::new(PoolShared {
            injector: Injector::new(),
            small_jobs: Injector::new(),
            stealers: workers.iter().map(Worker::stealer).collect(),
            sleepers: Sleepers::new(),
            shutdown: AtomicBool::new(false),
            threads: threads as u32,
            deliver,
            clock,
            unfinished: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            inflight: Mutex::new(HashMap::new()),
            idle_lock: Mutex::new(()),
            idle: Condvar::new(),
            reports,
            delayed: Mutex::new(Vec::new()),
            has_delayed: AtomicBool::new(false),
        });
        let threads = workers
            .into_iter()
            .enumerate()
            .map(|(i, local)| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("herald-fanout-{i}"))
                    .spawn(move || {
                        inbox::set_yield_point(serve_small_jobs);
                        SMALL_JOB_SERVER.with(|cell| {
                            *cell.borrow_mut() = Some(SmallJobServer {
                                shared: Arc::clone(&shared),
                                buf: Vec::new(),
                                open: false,
                                nested: Duration::ZERO,
                            })
                        });
                        run_worker(&shared, &local, i)
                    })
                    .expect("spawning a fan-out worker thread")
            })
            .collect();
        Pool { shared, threads }
    }

    pub(crate) fn shared(&self) -> &Arc<PoolShared> {
        &self.shared
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.sleepers.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // No worker is left to finish them: release whoever waits on a handle.
        for job in self.shared.inflight() {
            job.interrupt();
        }
    }
}

impl PoolShared {
    /// Reserves a place for one more unfinished job, or says how many are unfinished.
    pub(crate) fn try_reserve(&self, max: usize) -> Result<(), usize> {
        self.unfinished
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                (p < max).then_some(p + 1)
            })
            .map(|_| {
                self.live.fetch_add(1, Ordering::AcqRel);
            })
    }

    /// Counts a job as unfinished whatever the limit (a job restored at restart).
    pub(crate) fn reserve_unbounded(&self) {
        self.unfinished.fetch_add(1, Ordering::AcqRel);
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    /// Records a reserved job as in flight.
    pub(crate) fn register(&self, job: &Arc<Job>) {
        self.inflight.lock().insert(job.id, Arc::clone(job));
    }

    pub(crate) fn inflight(&self) -> Vec<Arc<Job>> {
        self.inflight.lock().values().cloned().collect()
    }

    pub(crate) fn inflight_job(&self, id: JobId) -> Option<Arc<Job>> {
        self.inflight.lock().get(&id).cloned()
    }

    /// Cancels every unfinished job of `account` (terminated): chunks not yet delivered
    /// are skipped, and each job finishes as `Cancelled` once its running chunks return.
    pub(crate) fn cancel_account(&self, account: AccountId) {
        for job in self.inflight.lock().values() {
            if job.id.account == account {
                job.cancel();
            }
        }
        // Those waiting out their delivery rate are skipped now, not when their time comes.
        let mut delayed = self.delayed.lock();
        delayed.retain(|(_, job)| {
            let cancelled = job.id.account == account;
            if cancelled {
                self.queue(job);
            }
            !cancelled
        });
        self.has_delayed
            .store(!delayed.is_empty(), Ordering::Release);
        drop(delayed);
        self.notify_one();
    }

    /// Finishes `job` and releases its place.
    pub(crate) fn finish(&self, job: &Job) {
        self.inflight.lock().remove(&job.id);
        self.unfinished.fetch_sub(1, Ordering::AcqRel);
        let report = job.finish(self.clock.now_ms());
        let _ = self.reports.send(report);
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = self.idle_lock.lock();
            self.idle.notify_all();
        }
    }

    /// Accepted jobs not yet finished (a job counts as finished from the moment its final
    /// report is about to be published).
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.load(Ordering::Acquire)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Accepted jobs whose report is not yet published.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Blocks until every accepted job's report is published or `timeout` passed; true if
    /// they are.
    pub(crate) fn wait_idle_for(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.idle_lock.lock();
        while self.live.load(Ordering::Acquire) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.idle
                .wait_for(&mut guard, left.min(Duration::from_millis(50)));
        }
        true
    }

    /// Hands a job's runnable chunks to the workers (or finishes a job with no audience),
    /// releasing it if it was held: with it go the chunks the lanes made runnable while it
    /// was.
    pub(crate) fn start(&self, job: &Arc<Job>, ready: Vec<u32>) {
        if !job.has_chunks() {
            self.finish(job);
            return;
        }
        let enqueue = {
            let mut ready_chunks = job.ready.lock();
            ready_chunks.held = false;
            ready_chunks.chunks.extend(ready);
            !ready_chunks.chunks.is_empty() && !std::mem::replace(&mut ready_chunks.queued, true)
        };
        if enqueue {
            self.queue(job);
            self.notify_one();
        }
    }

    /// Releases a held job whose only chunk the caller delivers itself ([`run_here`]).
    ///
    /// [`run_here`]: Self::run_here
    pub(crate) fn release_for_caller(&self, job: &Job) {
        job.ready.lock().held = false;
    }

    /// Makes chunk `index` of `job` runnable; queues the job unless it is queued already.
    pub(crate) fn make_ready(&self, job: &Arc<Job>, index: u32, local: Option<&Worker<Arc<Job>>>) {
        let enqueue = {
            let mut ready = job.ready.lock();
            ready.chunks.push_back(index);
            !ready.held && !std::mem::replace(&mut ready.queued, true)
        };
        if enqueue {
            match local {
                Some(local) if !is_small(job) => local.push(Arc::clone(job)),
                _ => self.queue(job),
            }
            self.notify_one();
        }
    }

    /// Puts a job at the tail of its global queue.
    fn queue(&self, job: &Arc<Job>) {
        if is_small(job) {
            self.small_jobs.push(Arc::clone(job));
        } else {
            self.injector.push(Arc::clone(job));
        }
    }

    fn notify_one(&self) {
        self.sleepers.notify_one();
    }

    /// Parks `job` (queued, with runnable chunks) until `at`.
    fn defer(&self, job: &Arc<Job>, at: Instant) {
        self.delayed.lock().push((at, Arc::clone(job)));
        self.has_delayed.store(true, Ordering::Release);
        // A sleeping worker must wake by `at`: wake one so it recomputes its timeout.
        self.notify_one();
    }

    /// Requeues the delayed jobs that are due; returns when the next one is.
    fn release_due(&self) -> Option<Instant> {
        if !self.has_delayed.load(Ordering::Acquire) {
            return None;
        }
        let now = Instant::now();
        let mut delayed = self.delayed.lock();
        let mut next = None;
        delayed.retain(|(at, job)| {
            if *at <= now {
                self.queue(job);
                false
            } else {
                next = Some(next.map_or(*at, |n: Instant| n.min(*at)));
                true
            }
        });
        self.has_delayed
            .store(!delayed.is_empty(), Ordering::Release);
        next
    }

    /// Whether `job` may be delivered by its caller ([`run_here`](Self::run_here)): one
    /// chunk of at most `max` recipients, no delivery speed limit, a bounded sink. Whether
    /// the chunk may run now is the caller's to know (its lanes).
    pub(crate) fn may_run_here(&self, job: &Job, max: u32) -> bool {
        is_small(job)
            && job.rate.is_none()
            && job.chunks[0].recipients <= max
            && self.deliver.bounded()
    }

    /// Delivers chunk `index` of `job` on the calling thread, as a worker would: a small
    /// send's only chunk, runnable at once (its lanes said so), never queued. Saves the
    /// hand-off: the queue, a worker's wake-up, and above all waiting for a worker to get a
    /// core when the machine is busy, which was most of a small send's latency under load.
    pub(crate) fn run_here(&self, job: &Arc<Job>, index: u32) {
        let last = if job.is_cancelled() {
            job.skip_chunk(index)
        } else {
            job.mark_sending();
            let mut buf = Vec::new();
            let recipients = job.recipients(index, &mut buf);
            self.deliver.deliver(job, index, recipients)
        };
        self.chunk_finished(job, index, last, None);
    }

    /// After chunk `index` of `job` is delivered: queues the chunks it held back in their
    /// lanes, and finishes the job if that was its last chunk.
    fn chunk_finished(
        &self,
        job: &Arc<Job>,
        index: u32,
        last: bool,
        local: Option<&Worker<Arc<Job>>>,
    ) {
        for (next, next_index) in job.leave_lanes(index) {
            self.make_ready(&next, next_index, local);
        }
        if last {
            self.finish(job);
        }
    }

    fn has_work(&self) -> bool {
        !self.small_jobs.is_empty()
            || !self.injector.is_empty()
            || self.stealers.iter().any(|s| !s.is_empty())
    }
}

fn find_task(
    shared: &PoolShared,
    local: &Worker<Arc<Job>>,
    me: usize,
    tick: u32,
) -> Option<Arc<Job>> {
    if let Some(job) = steal_small_job(shared) {
        return Some(job);
    }
    if tick.is_multiple_of(INJECTOR_INTERVAL)
        && let Some(job) = steal_injector(shared, local)
    {
        return Some(job);
    }
    if let Some(job) = local.pop() {
        return Some(job);
    }
    if let Some(job) = steal_injector(shared, local) {
        return Some(job);
    }
    // Steal from the other workers, starting after ourselves so thieves spread out.
    let n = shared.stealers.len();
    loop {
        let mut retry = false;
        for k in 1..n {
            match shared.stealers[(me + k) % n].steal() {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    }
}

/// What a worker thread needs to run small jobs from inside another job's delivery.
struct SmallJobServer {
    shared: Arc<PoolShared>,
    /// Recipients of the small job's chunk (the outer chunk's are borrowed from the worker).
    buf: Vec<u32>,
    /// Whether the chunk being delivered may be interrupted: only a big job's (a small job
    /// must not wait for small jobs that arrived after it).
    open: bool,
    /// Time spent in small jobs inside the current chunk, which is not the chunk's own: it
    /// must not make the chunk's job look slow.
    nested: Duration,
}

thread_local! {
    /// Set on fan-out worker threads only; borrowed while it serves, so a delivery inside
    /// a small job does not serve again.
    static SMALL_JOB_SERVER: RefCell<Option<SmallJobServer>> = const { RefCell::new(None) };
}

/// Small jobs one yield point runs at most, so the chunk it interrupts keeps moving.
const SMALL_JOBS_PER_YIELD: usize = 4;

/// The yield point of long deliveries on fan-out workers (each worker sets it with
/// [`inbox::set_yield_point`]): delivering a chunk of a big job, runs waiting small jobs
/// (small sends) before returning; otherwise does nothing.
///
/// The embedded inbox calls it between groups of blocks, holding no lock, so a small send
/// waits for a few microseconds of a 65,536-recipient chunk instead of all of it. Running
/// a small job here is what another worker would do with it: it is runnable, so its
/// account's earlier sends are already done wherever they overlap it.
pub(crate) fn serve_small_jobs() {
    with_server(|server| {
        if !server.open {
            return;
        }
        let started = Instant::now();
        for _ in 0..SMALL_JOBS_PER_YIELD {
            let Some(job) = steal_small_job(&server.shared) else {
                break;
            };
            let (shared, buf) = (&server.shared, &mut server.buf);
            // The interrupted chunk is inside its sink call, whose panic guard would take a
            // panic here for its own and deliver the chunk again from the start: a panic of
            // the pool's own code here cannot be contained, so it ends the process.
            if catch_unwind(AssertUnwindSafe(|| run_one_chunk(shared, None, &job, buf))).is_err() {
                eprintln!("herald: a fan-out worker panicked inside another chunk; aborting");
                std::process::abort();
            }
        }
        server.nested += started.elapsed();
    });
}

/// Runs `f` on this thread's small-job server: `None` off the fan-out workers, and while
/// the server is already serving (its borrow is what keeps small jobs from nesting).
fn with_server<R>(f: impl FnOnce(&mut SmallJobServer) -> R) -> Option<R> {
    SMALL_JOB_SERVER.with(|cell| cell.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Opens (for a big job's chunk) or keeps closed the worker's yield point for the chunk it
/// is about to deliver.
fn open_yield_point(job: &Job) {
    with_server(|server| {
        server.open = !is_small(job);
        server.nested = Duration::ZERO;
    });
}

/// Closes the yield point after a chunk; returns the time spent in small jobs inside it.
fn close_yield_point() -> Duration {
    with_server(|server| {
        server.open = false;
        std::mem::take(&mut server.nested)
    })
    .unwrap_or_default()
}

fn steal_small_job(shared: &PoolShared) -> Option<Arc<Job>> {
    loop {
        match shared.small_jobs.steal() {
            Steal::Success(job) => return Some(job),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

/// A small job: a single chunk. Small jobs have their own queue, `small_jobs`.
fn is_small(job: &Job) -> bool {
    job.chunks.len() == 1
}

fn steal_injector(shared: &PoolShared, local: &Worker<Arc<Job>>) -> Option<Arc<Job>> {
    loop {
        match shared.injector.steal_batch_and_pop(local) {
            Steal::Success(job) => return Some(job),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

fn run_worker(shared: &PoolShared, local: &Worker<Arc<Job>>, me: usize) {
    let mut buf: Vec<u32> = Vec::new();
    let mut tick: u32 = 0;
    while !shared.shutdown.load(Ordering::Acquire) {
        tick = tick.wrapping_add(1);
        let next_delayed = shared.release_due();
        match find_task(shared, local, me, tick) {
            Some(job) => run_one_chunk(shared, Some(local), &job, &mut buf),
            None => {
                let timeout = next_delayed.map_or(Duration::from_millis(100), |at| {
                    at.saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(100))
                });
                shared.sleepers.sleep(timeout, || {
                    shared.has_work() || shared.shutdown.load(Ordering::Acquire)
                });
            }
        }
    }
}

/// Where idle workers sleep, and how a push wakes them without a lost wake-up.
///
/// A worker that found no work registers in `count`, takes `lock`, and looks for work once
/// more before it waits; a pusher makes its work visible, then reads `count` and, if a
/// worker may be asleep, notifies under `lock`. Each side writes its own location and then
/// reads the other's (the store-buffering pattern), with a `SeqCst` fence in between, so
/// one side's fence comes second in the fences' single order and that side sees the other's
/// write: either the pusher sees the worker registered and notifies, and the notification
/// cannot fall between the worker's last look and its wait, as the worker holds `lock` from
/// one to the other; or the worker's last look finds the work. The fences make this hold
/// whatever orderings the queues use inside (crossbeam's happen to be `SeqCst` too, which
/// loom would not take for more than acquire and release). Shutdown is the same with the
/// flag for the work, notified to all. The loom models
/// `loom_a_worker_going_to_sleep_never_misses_a_push` and `..._the_shutdown` check this.
struct Sleepers {
    /// Workers asleep or about to sleep; read by pushers to decide whether to notify.
    count: loom::AtomicUsize,
    /// Held by a worker from its last look for work until its wait releases it, and by a
    /// notifier while it notifies.
    lock: loom::Mutex<()>,
    wake: loom::Condvar,
}

impl Sleepers {
    fn new() -> Sleepers {
        Sleepers {
            count: loom::AtomicUsize::new(0),
            lock: loom::Mutex::new(()),
            wake: loom::Condvar::new(),
        }
    }

    /// Wakes a worker if one may be asleep. Call after the pushed work is visible.
    fn notify_one(&self) {
        loom::fence(Ordering::SeqCst);
        if self.count.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.wake.notify_one();
        }
    }

    /// Wakes every worker (at shutdown, after the flag is set).
    fn notify_all(&self) {
        let _guard = self.lock.lock();
        self.wake.notify_all();
    }

    /// Sleeps until notified or `timeout` passed, unless `has_work`, asked once more after
    /// registering, finds something to do.
    fn sleep(&self, timeout: Duration, has_work: impl FnOnce() -> bool) {
        self.count.fetch_add(1, Ordering::SeqCst);
        loom::fence(Ordering::SeqCst);
        let mut guard = self.lock.lock();
        if !has_work() {
            self.wake.wait_for(&mut guard, timeout);
        }
        drop(guard);
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

fn run_one_chunk(
    shared: &PoolShared,
    local: Option<&Worker<Arc<Job>>>,
    job: &Arc<Job>,
    buf: &mut Vec<u32>,
) {
    let limit = if job.is_slow() { 1 } else { shared.threads };
    let (index, requeued) = {
        let mut ready = job.ready.lock();
        if ready.running >= limit {
            // Enough workers are on this job; the last of them requeues it.
            ready.queued = false;
            return;
        }
        let Some(&index) = ready.chunks.front() else {
            ready.queued = false;
            return;
        };
        if let Some(rate) = &job.rate
            && !job.is_cancelled()
            && let Err(at) = rate.try_acquire(job.chunks[index as usize].recipients)
        {
            // Still queued: it waits in the delayed list instead of a queue.
            drop(ready);
            shared.defer(job, at);
            return;
        }
        ready.chunks.pop_front();
        ready.running += 1;
        let more = !ready.chunks.is_empty() && ready.running < limit;
        if more {
            // More of this job can run: back to the tail of the injector, behind other jobs.
            shared.injector.push(Arc::clone(job));
        } else {
            ready.queued = false;
        }
        (index, more)
    };
    if requeued {
        shared.notify_one();
    }
    let last = if job.is_cancelled() {
        job.skip_chunk(index)
    } else {
        deliver_chunk(shared, local.is_some(), job, index, buf)
    };
    let requeue = {
        let mut ready = job.ready.lock();
        ready.running -= 1;
        !ready.chunks.is_empty() && !std::mem::replace(&mut ready.queued, true)
    };
    if requeue {
        shared.injector.push(Arc::clone(job));
        shared.notify_one();
    }
    shared.chunk_finished(job, index, last, local);
}

/// Delivers chunk `index` of `job`; true if it was the job's last. `outer`: a worker's own
/// chunk (not one run from inside another), which may serve small jobs.
fn deliver_chunk(
    shared: &PoolShared,
    outer: bool,
    job: &Arc<Job>,
    index: u32,
    buf: &mut Vec<u32>,
) -> bool {
    job.mark_sending();
    let recipients = job.recipients(index, buf);
    if outer {
        open_yield_point(job);
    }
    let started = Instant::now();
    let last = shared.deliver.deliver(job, index, recipients);
    let nested = if outer {
        close_yield_point()
    } else {
        Duration::ZERO
    };
    if started.elapsed().saturating_sub(nested) >= SLOW_BATCH {
        job.mark_slow();
    }
    last
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use roaring::RoaringBitmap;

    use super::*;
    use crate::clock::SystemClock;
    use crate::ids::{AccountId, Seq};
    use crate::machinery::job::Lanes;
    use crate::message::Message;

    /// Records the order chunks finish in. The chunk of `big` stops at a yield point: it
    /// tells the test it is inside, waits for the go-ahead, then yields (as the inbox does)
    /// and finishes.
    struct Recorder {
        big: JobId,
        inside: Mutex<mpsc::Sender<()>>,
        go: Mutex<mpsc::Receiver<()>>,
        /// How long every chunk of other jobs takes.
        others_take: Duration,
        /// How long big's chunk waited for the go-ahead (the test thread's own delay).
        waited: Mutex<Duration>,
        log: Mutex<Vec<(JobId, u32)>>,
    }

    impl Deliver for Recorder {
        fn deliver(&self, job: &Job, index: u32, recipients: &[u32]) -> bool {
            if job.id == self.big && index == 0 {
                let t0 = Instant::now();
                self.inside.lock().send(()).unwrap();
                self.go.lock().recv().unwrap();
                *self.waited.lock() = t0.elapsed();
                serve_small_jobs();
            } else if job.id != self.big {
                std::thread::sleep(self.others_take);
            }
            self.log.lock().push((job.id, index));
            job.chunk_done(index, recipients.len() as u64, 0, None)
        }
    }

    fn job(account: u32, audience: RoaringBitmap) -> Arc<Job> {
        Job::new(
            JobId {
                account: AccountId(account),
                seq: Seq(1),
            },
            Arc::new(Message::Text("t".into())),
            Arc::new(audience),
            0,
            16_384,
            Arc::new(Mutex::new(Lanes::new())),
            0,
            None,
        )
    }

    fn submit(pool: &Pool, job: &Arc<Job>) {
        let shared = pool.shared();
        shared.reserve_unbounded();
        shared.register(job);
        for index in job.enter_lanes() {
            shared.make_ready(job, index, None);
        }
    }

    /// Runs `big` on a one-worker pool, submits a small job while the worker is inside
    /// big's first chunk, and returns the order chunks finished in.
    fn run(big: Arc<Job>, small: Arc<Job>, others_take: Duration) -> (Vec<(JobId, u32)>, Duration) {
        let (inside_tx, inside) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let recorder = Arc::new(Recorder {
            big: big.id,
            inside: Mutex::new(inside_tx),
            go: Mutex::new(go_rx),
            others_take,
            waited: Mutex::new(Duration::ZERO),
            log: Mutex::new(Vec::new()),
        });
        let (reports, _) = broadcast::channel(16);
        let pool = Pool::start(1, recorder.clone(), Arc::new(SystemClock), reports);
        submit(&pool, &big);
        inside.recv().unwrap();
        submit(&pool, &small);
        go.send(()).unwrap();
        assert!(pool.shared().wait_idle_for(Duration::from_secs(60)));
        let log = recorder.log.lock().clone();
        let waited = *recorder.waited.lock();
        (log, waited)
    }

    #[test]
    fn a_small_job_runs_from_inside_a_big_jobs_chunk_without_making_it_slow() {
        // Two dense blocks: two chunks, a big job. The small job takes longer than
        // SLOW_BATCH, all of it inside big's chunk, which must not count it.
        let big = job(1, (0..131_072).collect());
        let small = job(2, [5, 70_000].into_iter().collect());
        let (log, waited) = run(Arc::clone(&big), Arc::clone(&small), SLOW_BATCH * 2);
        assert_eq!(
            log,
            vec![(small.id, 0), (big.id, 0), (big.id, 1)],
            "the small job ran at the yield point, inside big's first chunk"
        );
        // Big's chunk is slow only if the test thread itself kept it waiting that long (a
        // loaded machine); otherwise all of its time over SLOW_BATCH was the small job's.
        if waited < SLOW_BATCH / 2 {
            assert!(
                !big.is_slow(),
                "time spent in the small job was charged to big"
            );
        }
    }

    #[test]
    fn a_small_job_is_not_interrupted_by_later_small_jobs() {
        // One dense block: a single chunk, so a small job itself. A small job accepted
        // while it runs waits for it, as it arrived later.
        let first = job(1, (0..65_536).collect());
        let later = job(2, [5].into_iter().collect());
        let (log, _) = run(Arc::clone(&first), Arc::clone(&later), Duration::ZERO);
        assert_eq!(log, vec![(first.id, 0), (later.id, 0)]);
    }
}

/// Loom models of [`Sleepers`] (the shutdown one exhaustive, the push one bounded by
/// `LOOM_MAX_PREEMPTIONS`): run with `RUSTFLAGS="--cfg loom" cargo test --release --lib
/// loom` (see `.ci/run`). Under loom a wait never times out, so a lost wake-up is a
/// deadlock.
#[cfg(all(test, loom))]
mod loom_models {
    use std::time::Duration;

    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::Sleepers;

    /// Stands in for the pool's queues (crossbeam's, whose correctness is theirs). Its
    /// orderings are weaker than crossbeam's: `Sleepers` must not depend on them.
    #[derive(Default)]
    struct Queue(AtomicUsize);

    impl Queue {
        fn push(&self) {
            self.0.fetch_add(1, Ordering::Release);
        }

        fn has_work(&self) -> bool {
            self.0.load(Ordering::Acquire) > 0
        }

        fn try_take(&self) -> bool {
            self.0
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        }
    }

    const TIMEOUT: Duration = Duration::from_millis(100);

    /// Two pushers each push a job and notify; the worker takes work or sleeps until it
    /// has taken both. It must never sleep through a push.
    #[test]
    fn loom_a_worker_going_to_sleep_never_misses_a_push() {
        loom::model(|| {
            let shared = Arc::new((Sleepers::new(), Queue::default()));
            let pushers: Vec<_> = (0..2)
                .map(|_| {
                    let shared = Arc::clone(&shared);
                    loom::thread::spawn(move || {
                        shared.1.push();
                        shared.0.notify_one();
                    })
                })
                .collect();
            let (sleepers, queue) = &*shared;
            for _ in 0..2 {
                while !queue.try_take() {
                    sleepers.sleep(TIMEOUT, || queue.has_work());
                }
            }
            for pusher in pushers {
                pusher.join().unwrap();
            }
        });
    }

    /// The pool's drop sets the shutdown flag and notifies everyone; a worker going to
    /// sleep must see the flag or the notification.
    #[test]
    fn loom_a_worker_going_to_sleep_never_misses_the_shutdown() {
        crate::loom::model_exhaustively(|| {
            let shared = Arc::new((Sleepers::new(), AtomicBool::new(false)));
            let dropper = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || {
                    shared.1.store(true, Ordering::SeqCst);
                    shared.0.notify_all();
                })
            };
            let (sleepers, shutdown) = &*shared;
            while !shutdown.load(Ordering::Acquire) {
                sleepers.sleep(TIMEOUT, || shutdown.load(Ordering::Acquire));
            }
            dropper.join().unwrap();
        });
    }
}
