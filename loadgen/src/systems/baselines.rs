//! Competitor implementations that `loadgen fanout --compare` measures herald against.
//!
//! Each baseline delivers `rounds` messages from one account (id 0) to the same
//! follower bitmap herald is given, in the same process, and reports a
//! [`Measured`]: how many deliveries it made, how long the delivering took (building
//! the structures is never timed), and whether every follower received every round
//! exactly once and in order.
//!
//! ## The systems
//!
//! - [`naive_baseline`] (`naive`): what a first implementation looks like. A
//!   `std::sync::Mutex<HashMap>` graph whose follower list is cloned on every send (to
//!   release the lock), and one `std::sync::Mutex<Vec>` inbox per user, pushed to one
//!   follower at a time on one thread.
//! - [`tokio_broadcast_baseline`] (`tokio-broadcast`): the off-the-shelf async answer. One
//!   `tokio::sync::broadcast` channel with one receiver task per follower on a
//!   multi-thread runtime. One task per follower costs memory, so the follower set can be
//!   capped (`max_followers`); the result then carries a note and its rate stands for the
//!   capped set.
//! - [`floor_baseline`] (`floor`): the memory-bandwidth floor. One 16-byte slot per
//!   follower in a flat array, written in id order by contiguous shares of the follower set. No real
//!   system delivers faster than it can write the delivery down once, so herald is
//!   judged as a fraction of this number.
//! - [`random_write_floor`]: the same floor when every write lands at an unrelated
//!   place of an array the size of the inboxes, as deliveries do once users' inboxes are
//!   at different positions (`loadgen mixed` measures it after its run).
//!
//! ## Verification
//!
//! Every function checks its own result after the clock has stopped, against the
//! follower bitmap; [`Measured::verified`] is false if any follower missed a round,
//! got one twice or out of order, or if anyone else got anything. A rate from an
//! unverified run is not a result.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;

use crate::report::thousands;

/// The account every baseline sends from.
const ACCOUNT: u32 = 0;

/// Ids fetched from a bitmap iterator per `next_many` call in the floor's write loop:
/// large enough to amortise the iterator, small enough to stay in L1.
const ID_BATCH: usize = 256;

/// One measured run of a system.
#[derive(Debug, Clone)]
pub struct Measured {
    /// "naive", "tokio-broadcast" or "floor".
    pub system: &'static str,
    /// Followers actually used (may be fewer than asked for tokio-broadcast).
    pub followers: u64,
    /// Deliveries actually made and observed; `followers * rounds` on a correct run.
    pub deliveries: u64,
    /// Time spent delivering only (not building the structures, not verifying).
    pub elapsed: Duration,
    /// Every follower received every round exactly once, in order, and nobody else
    /// received anything.
    pub verified: bool,
    /// Anything a reader of the result must know, e.g. that the set was capped.
    pub note: Option<String>,
}

// ---------------------------------------------------------------------------
// naive
// ---------------------------------------------------------------------------

/// The naive baseline: a `Mutex<HashMap<account, Vec<follower>>>` graph and one
/// `Mutex<Vec<(account, seq)>>` inbox per user, found in a `HashMap<user, inbox>` (the
/// standard library's map and hasher, as a first implementation would have), on one
/// thread.
///
/// A send of round `r` locks the graph, clones the account's follower list (so the
/// lock is not held during delivery, as a naive system does), then locks each
/// follower's inbox in turn and pushes `(0, r)`. Inboxes start empty, so their
/// allocations happen during delivery, as they would in such a system.
///
/// Building the graph and the inbox table is not timed. The inbox table has one entry
/// per id up to the largest follower id, so the bitmap should hold dense ids.
pub fn naive_baseline(followers: &RoaringBitmap, rounds: u32) -> Measured {
    let count = followers.len();
    let mut graph: HashMap<u32, Vec<u32>> = HashMap::new();
    graph.insert(ACCOUNT, followers.iter().collect());
    let graph = Mutex::new(graph);
    let users = followers.max().map_or(0, |max| max + 1);
    let inboxes: HashMap<u32, Mutex<Vec<(u32, u32)>>> =
        (0..users).map(|u| (u, Mutex::new(Vec::new()))).collect();

    let mut deliveries = 0u64;
    let start = Instant::now();
    for round in 0..rounds {
        let audience = graph
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ACCOUNT)
            .cloned()
            .unwrap_or_default();
        for &user in &audience {
            inboxes[&user]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((ACCOUNT, round));
            deliveries += 1;
        }
    }
    let elapsed = start.elapsed();

    // Walk the inbox table and the follower set together: followers must hold exactly
    // (0,0)..(0,rounds-1), everyone else nothing.
    let mut next_follower = followers.iter().peekable();
    let mut verified = deliveries == count * u64::from(rounds);
    let mut inboxes: Vec<_> = inboxes.into_iter().collect();
    inboxes.sort_unstable_by_key(|(user, _)| *user);
    for (user, inbox) in inboxes {
        let inbox = inbox.into_inner().unwrap_or_else(PoisonError::into_inner);
        let is_follower = next_follower.next_if_eq(&user).is_some();
        let ok = if is_follower {
            inbox.len() == rounds as usize
                && inbox
                    .iter()
                    .zip(0..rounds)
                    .all(|(&got, seq)| got == (ACCOUNT, seq))
        } else {
            inbox.is_empty()
        };
        verified &= ok;
    }
    verified &= next_follower.next().is_none();

    Measured {
        system: "naive",
        followers: count,
        deliveries,
        elapsed,
        verified,
        note: None,
    }
}

// ---------------------------------------------------------------------------
// tokio-broadcast
// ---------------------------------------------------------------------------

/// The message carried through the broadcast channel; shared by all receivers.
#[derive(Debug)]
struct Payload {
    account: u32,
    seq: u32,
    body: Arc<str>,
}

/// What one receiver task saw.
#[derive(Debug, Clone, Copy)]
struct ReceiverReport {
    /// The follower this task stood for.
    user: u32,
    /// Messages received before the channel closed or failed.
    received: u32,
    /// Every message came from [`ACCOUNT`] with seq equal to its arrival index, and
    /// the channel neither lagged nor closed early.
    in_order: bool,
}

/// Coordination between the sender (the `block_on` thread) and the receiver tasks.
struct Progress {
    /// Receiver tasks spawned; written once, before any task is spawned.
    tasks: usize,
    /// Receiver tasks that have started running; each task increments it once, before
    /// its first `recv`. The task that brings it to `tasks` notifies `ready`.
    started: AtomicUsize,
    ready: tokio::sync::Notify,
    /// Receiver tasks not finished yet; each decrements it once, after dropping its
    /// receiver. The task that brings it to zero sets `finished_at` then notifies `done`.
    remaining: AtomicUsize,
    finished_at: OnceLock<Instant>,
    done: tokio::sync::Notify,
}

/// The tokio baseline: one `tokio::sync::broadcast` channel of capacity `rounds`
/// carrying `Arc<Payload>`, and one spawned receiver task per follower on a
/// multi-thread runtime with `threads` workers.
///
/// Only the first `min(len, max_followers)` followers (in id order) take part, because
/// every task costs memory; [`Measured::note`] says so when the set was capped.
///
/// All receivers subscribe (on the sender, before their task is spawned) and start
/// running before the clock starts. The clock covers sending `rounds` messages and
/// stops at the moment the last receiver task finishes, i.e. has received its
/// `rounds` messages and dropped its receiver. Joining the tasks to collect their
/// reports happens after the clock stops.
pub fn tokio_broadcast_baseline(
    followers: &RoaringBitmap,
    rounds: u32,
    threads: usize,
    max_followers: u64,
) -> Measured {
    let used = followers.len().min(max_followers);
    let note = (used < followers.len()).then(|| {
        format!(
            "measured on {} of {} followers (memory: one task per follower)",
            thousands(used),
            thousands(followers.len())
        )
    });
    let mut measured = Measured {
        system: "tokio-broadcast",
        followers: used,
        deliveries: 0,
        elapsed: Duration::ZERO,
        verified: false,
        note,
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let note = measured.note.take().map_or(String::new(), |n| n + "; ");
            measured.note = Some(format!("{note}could not build the tokio runtime: {err}"));
            return measured;
        }
    };

    let used_tasks = used as usize;
    let progress = Arc::new(Progress {
        tasks: used_tasks,
        started: AtomicUsize::new(0),
        ready: tokio::sync::Notify::new(),
        remaining: AtomicUsize::new(used_tasks),
        finished_at: OnceLock::new(),
        done: tokio::sync::Notify::new(),
    });
    // Payloads are built before the clock starts so the timed loop only sends.
    let body: Arc<str> = Arc::from("herald baseline payload");
    let payloads: Vec<Arc<Payload>> = (0..rounds)
        .map(|seq| {
            Arc::new(Payload {
                account: ACCOUNT,
                seq,
                body: Arc::clone(&body),
            })
        })
        .collect();

    let (elapsed, reports) = runtime.block_on(async {
        let (tx, _) = tokio::sync::broadcast::channel::<Arc<Payload>>(rounds.max(1) as usize);
        let mut handles = Vec::with_capacity(used_tasks);
        for user in followers.iter().take(used_tasks) {
            let rx = tx.subscribe();
            let progress = Arc::clone(&progress);
            handles.push(tokio::spawn(receive(user, rx, rounds, progress)));
        }
        if used_tasks > 0 {
            // Notify stores a permit if the last task notifies before we wait.
            progress.ready.notified().await;
        }

        let start = Instant::now();
        for payload in &payloads {
            // Err only if there are no receivers, i.e. no followers: nothing to deliver.
            let _ = tx.send(Arc::clone(payload));
        }
        // Receivers drain the buffered messages before they see the close, so dropping
        // the sender loses nothing; it turns a receiver bug into an error, not a hang.
        drop(tx);
        let finished = if used_tasks > 0 {
            progress.done.notified().await;
            *progress.finished_at.get().unwrap_or(&start)
        } else {
            Instant::now()
        };
        let elapsed = finished.saturating_duration_since(start);

        let mut reports = Vec::with_capacity(used_tasks);
        for handle in handles {
            if let Ok(report) = handle.await {
                reports.push(report);
            }
        }
        (elapsed, reports)
    });
    drop(runtime);

    let mut verified = reports.len() == used_tasks;
    for (report, user) in reports.iter().zip(followers.iter()) {
        measured.deliveries += u64::from(report.received);
        verified &= report.user == user && report.in_order && report.received == rounds;
    }
    measured.elapsed = elapsed;
    measured.verified = verified && measured.deliveries == used * u64::from(rounds);
    measured
}

/// One follower's receiver task: receive exactly `rounds` messages and check they are
/// seqs `0..rounds` from [`ACCOUNT`], in order.
async fn receive(
    user: u32,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Payload>>,
    rounds: u32,
    progress: Arc<Progress>,
) -> ReceiverReport {
    if progress.started.fetch_add(1, Ordering::AcqRel) + 1 == progress.tasks {
        progress.ready.notify_one();
    }
    let mut report = ReceiverReport {
        user,
        received: 0,
        in_order: true,
    };
    while report.received < rounds {
        match rx.recv().await {
            Ok(payload) => {
                report.in_order &= payload.account == ACCOUNT && payload.seq == report.received;
                black_box(payload.body.len());
                report.received += 1;
            }
            // Lagged cannot happen with capacity >= rounds, Closed only if the sender
            // went away early; both make this follower's delivery incomplete.
            Err(_) => {
                report.in_order = false;
                break;
            }
        }
    }
    drop(rx);
    if progress.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _ = progress.finished_at.set(Instant::now());
        progress.done.notify_one();
    }
    report
}

// ---------------------------------------------------------------------------
// floor
// ---------------------------------------------------------------------------

/// One floor thread's contiguous share of the follower set.
#[derive(Debug, Clone, Copy)]
struct Share {
    /// Ranks `lo..hi` of the follower set, i.e. slots `lo..hi`.
    lo: usize,
    hi: usize,
    /// The follower ids of ranks `lo` and `hi - 1`.
    first: u32,
    last: u32,
}

/// The memory-bandwidth floor: one flat `Vec<[u64; 2]>` with one 16-byte slot per
/// follower (slot `i` belongs to the follower of rank `i`), allocated, zeroed and
/// touched before the clock starts so page faults are not measured.
///
/// Each round runs `threads` scoped threads, each over a contiguous share of the
/// follower set split by rank, iterating its followers in id order and writing
/// `slot[i] = [user | round << 32, seq]` where `seq` is the round's message sequence
/// number (the round itself). The clock covers the rounds only.
pub fn floor_baseline(followers: &RoaringBitmap, rounds: u32, threads: usize) -> Measured {
    let count = followers.len();
    let len = count as usize;
    let mut slots = vec![[0u64; 2]; len];
    // vec! of zeros may come from calloc'd, untouched pages: write one slot per page so
    // the first round does not pay the page faults.
    const SLOTS_PER_PAGE: usize = 4096 / size_of::<[u64; 2]>();
    for i in (0..len).step_by(SLOTS_PER_PAGE) {
        // black_box hides that the slot is known to be zero, so the store is kept.
        *black_box(&mut slots[i]) = [0, 0];
    }

    // Shares by rank: share t holds ranks [len*t/T, len*(t+1)/T), i.e. the ids from
    // select(lo) to select(hi - 1); empty shares are skipped. Ranks are below
    // len <= 2^32, so they fit the u32 that `select` takes.
    let threads = threads.max(1);
    let shares: Vec<Share> = (0..threads)
        .filter_map(|t| {
            let lo = (count * t as u64 / threads as u64) as usize;
            let hi = (count * (t as u64 + 1) / threads as u64) as usize;
            if lo == hi {
                return None;
            }
            Some(Share {
                lo,
                hi,
                first: followers.select(u32::try_from(lo).ok()?)?,
                last: followers.select(u32::try_from(hi - 1).ok()?)?,
            })
        })
        .collect();

    let mut written = 0u64;
    let start = Instant::now();
    for round in 0..rounds {
        let high = u64::from(round) << 32;
        let seq = u64::from(round);
        written += std::thread::scope(|scope| {
            // Hand each share its own disjoint run of slots, in rank order.
            let mut rest: &mut [[u64; 2]] = &mut slots;
            let mut taken = 0;
            let mut workers = Vec::with_capacity(shares.len());
            for &Share {
                lo,
                hi,
                first,
                last,
            } in &shares
            {
                let (mine, tail) = std::mem::take(&mut rest)[lo - taken..].split_at_mut(hi - lo);
                rest = tail;
                taken = hi;
                workers.push(scope.spawn(move || {
                    let mut ids = followers.range(first..=last);
                    let mut buf = [0u32; ID_BATCH];
                    let mut pos = 0;
                    loop {
                        let batch = ids.next_many(&mut buf);
                        if batch.is_empty() {
                            break;
                        }
                        let out = &mut mine[pos..pos + batch.len()];
                        for (slot, &user) in out.iter_mut().zip(batch.iter()) {
                            *slot = [u64::from(user) | high, seq];
                        }
                        pos += batch.len();
                    }
                    black_box(&mut *mine);
                    pos as u64
                }));
            }
            // A worker that panicked wrote nothing we can count on.
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or(0))
                .sum::<u64>()
        });
    }
    let elapsed = start.elapsed();
    black_box(&mut slots);

    // Each slot must hold the last round's value for its follower (all zero if there
    // were no rounds).
    let last = rounds.checked_sub(1);
    let verified = written == count * u64::from(rounds)
        && slots.iter().zip(followers.iter()).all(|(slot, user)| {
            *slot
                == last.map_or([0, 0], |r| {
                    [u64::from(user) | (u64::from(r) << 32), u64::from(r)]
                })
        });

    Measured {
        system: "floor",
        followers: count,
        deliveries: written,
        elapsed,
        verified,
        note: None,
    }
}

// ---------------------------------------------------------------------------
// random-write floor
// ---------------------------------------------------------------------------

/// What [`random_write_floor`] measured.
#[derive(Debug, Clone, Copy)]
pub struct RandomFloor {
    pub writes_per_sec: f64,
    /// Words of the array that were written at least once (checked after the clock).
    pub touched: u64,
    pub words: u64,
}

/// `threads` threads each make `writes` 8-byte writes at pseudo-random positions
/// (xorshift, one stream per thread) of one shared array of `bytes` bytes, filled before
/// the clock starts so page faults are not measured. No structure, no locks: what one
/// delivery costs when recipients' inbox slots are unrelated cache lines, on this machine.
pub fn random_write_floor(bytes: u64, writes: u64, threads: usize) -> RandomFloor {
    let words = (bytes / 8).max(1);
    let array: Vec<AtomicU64> = (0..words).map(|_| AtomicU64::new(0)).collect();
    let threads = threads.max(1);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let array = &array;
            s.spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                for _ in 0..writes {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    array[(x % words) as usize].store(x | 1, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let touched = array
        .iter()
        .filter(|w| w.load(Ordering::Relaxed) != 0)
        .count() as u64;
    RandomFloor {
        writes_per_sec: (writes * threads as u64) as f64 / secs.max(1e-9),
        touched,
        words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 followers spread over ~10 containers (every 67th id), plus a few
    /// clustered ones so both array and bitmap-like stretches occur.
    fn sparse_followers() -> RoaringBitmap {
        let mut set: RoaringBitmap = (0..9_900u32).map(|i| i * 67 + 3).collect();
        set.extend(700_000..700_100u32);
        assert_eq!(set.len(), 10_000);
        set
    }

    fn assert_complete(m: &Measured, followers: u64, rounds: u32) {
        assert!(m.verified, "{m:?}");
        assert_eq!(m.followers, followers, "{m:?}");
        assert_eq!(m.deliveries, followers * u64::from(rounds), "{m:?}");
    }

    #[test]
    fn naive_delivers_every_round_to_every_follower() {
        let set = sparse_followers();
        let m = naive_baseline(&set, 3);
        assert_eq!(m.system, "naive");
        assert_complete(&m, 10_000, 3);
        assert!(m.note.is_none());
    }

    #[test]
    fn tokio_broadcast_delivers_every_round_to_every_follower() {
        let set = sparse_followers();
        let m = tokio_broadcast_baseline(&set, 3, 2, u64::MAX);
        assert_eq!(m.system, "tokio-broadcast");
        assert_complete(&m, 10_000, 3);
        assert!(m.note.is_none());
    }

    #[test]
    fn tokio_broadcast_caps_to_max_followers_and_says_so() {
        let set = sparse_followers();
        let m = tokio_broadcast_baseline(&set, 3, 2, 1_000);
        assert_complete(&m, 1_000, 3);
        let note = m.note.expect("capped run carries a note");
        assert!(note.contains("1,000 of 10,000"), "{note}");
    }

    #[test]
    fn floor_writes_every_round_to_every_follower() {
        let set = sparse_followers();
        for threads in [1, 2, 3, 7] {
            let m = floor_baseline(&set, 3, threads);
            assert_eq!(m.system, "floor");
            assert_complete(&m, 10_000, 3);
        }
    }

    #[test]
    fn random_write_floor_spreads_its_writes_over_the_whole_array() {
        // 64 writes per word on average: every word is hit (a fixed position would not).
        let f = random_write_floor(8 * 4_096, 131_072, 2);
        assert_eq!((f.words, f.touched), (4_096, 4_096));
        assert!(f.writes_per_sec > 0.0);
    }

    #[test]
    fn edge_cases_verify() {
        let empty = RoaringBitmap::new();
        let one: RoaringBitmap = [42u32].into_iter().collect();
        for set in [&empty, &one] {
            for rounds in [0, 1, 2] {
                let n = set.len();
                assert_complete(&naive_baseline(set, rounds), n, rounds);
                assert_complete(&tokio_broadcast_baseline(set, rounds, 2, 10), n, rounds);
                // More threads than followers leaves empty shares.
                assert_complete(&floor_baseline(set, rounds, 4), n, rounds);
            }
        }
    }
}
