//! The naive system of `loadgen compare`: the `naive` baseline of `fanout --compare`
//! ([`naive_baseline`](super::baselines::naive_baseline)) generalized to many accounts,
//! tags, audiences and churn.
//!
//! - Graph: one `std::sync::Mutex` around `HashMap<account, Vec<user>>` (sorted follower
//!   lists) and `HashMap<(account, tag), Vec<user>>` (sorted tag members). A follow or
//!   unfollow is a binary search and a `Vec` insert or remove under the global lock; an
//!   unfollow also removes the user from each of the account's tags.
//! - A send resolves its audience under the lock on the caller's thread (clones the follower
//!   or tag list, or merges sorted lists for a tag expression, or checks each listed user by
//!   binary search), then queues the job.
//! - Fan-out: as many worker threads as herald has, each with its own bounded queue; an
//!   account's sends always go to the same worker (account % workers), which keeps them in
//!   order, as herald does. A full queue refuses the send as busy (herald's pending limit,
//!   split between the workers). A worker delivers one recipient at a time: it finds the
//!   user's inbox in a `HashMap<user, Mutex<Vec<(account, seq)>>>`, locks it and pushes;
//!   inboxes keep the newest `inbox_capacity` entries, like herald's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::build::{build_bar, parallel_ranks};
use crate::driver::{SendOutcome, System, Tracker};
use crate::workload::{AudienceSpec, ChurnOp, Expr, Plan, SendSpec};

/// Deliveries between two updates of the shared delivery counter.
const COUNT_EVERY: u64 = 1_024;

#[derive(Default)]
struct Graph {
    followers: HashMap<u32, Vec<u32>>,
    tags: HashMap<(u32, u32), Vec<u32>>,
    tag_count: HashMap<u32, u32>,
    seq: HashMap<u32, u32>,
}

struct Job {
    key: u64,
    account: u32,
    seq: u32,
    audience: Vec<u32>,
}

struct Shared {
    inboxes: HashMap<u32, Mutex<Vec<(u32, u32)>>>,
    inbox_capacity: usize,
    delivered: AtomicU64,
    abandon: AtomicBool,
    tracker: Arc<Tracker>,
}

pub struct NaiveSystem {
    graph: Mutex<Graph>,
    shared: Arc<Shared>,
    queues: Vec<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

/// What building the naive system cost.
#[derive(Debug, Clone)]
pub struct NaiveBuild {
    pub secs: f64,
    pub edges: u64,
    /// Bytes of the follower and tag lists and their maps, by capacity.
    pub graph_bytes: u64,
}

impl NaiveSystem {
    pub fn build(
        plan: &Plan,
        threads: usize,
        max_pending: usize,
        build_threads: usize,
        tracker: Arc<Tracker>,
    ) -> anyhow::Result<(NaiveSystem, NaiveBuild)> {
        let w = &plan.workload;
        let t = Instant::now();
        let graph = Mutex::new(Graph::default());
        let bar = build_bar(plan.edges(), "naive: following and tagging");
        parallel_ranks(plan, build_threads, |rank| {
            let size = plan.sizes[rank as usize];
            let followers = plan.graph.followers(rank, size);
            let tags = plan.tags_of_account(rank);
            let mut members: Vec<Vec<u32>> = vec![Vec::new(); tags as usize];
            if tags > 0 {
                for i in 0..size {
                    for (k, m) in members.iter_mut().enumerate() {
                        if plan.tagged(rank, i, k as u32) {
                            m.push(plan.follower(rank, i));
                        }
                    }
                }
            }
            let mut g = graph.lock().unwrap_or_else(PoisonError::into_inner);
            g.followers.insert(rank, followers);
            for (k, mut m) in members.into_iter().enumerate() {
                m.sort_unstable();
                g.tags.insert((rank, k as u32), m);
            }
            g.tag_count.insert(rank, tags);
            drop(g);
            bar.inc(u64::from(size));
            Ok(())
        })?;
        bar.finish_and_clear();
        let graph_bytes = {
            let g = graph.lock().unwrap_or_else(PoisonError::into_inner);
            let vecs: usize = g
                .followers
                .values()
                .chain(g.tags.values())
                .map(|v| v.capacity() * 4 + 24)
                .sum();
            // hashbrown: a key, a value and a control byte per bucket, buckets >= 8/7 len.
            let maps = (g.followers.capacity() + g.tags.capacity()) * (8 + 24 + 1);
            (vecs + maps) as u64
        };
        let inboxes = (0..w.users).map(|u| (u, Mutex::new(Vec::new()))).collect();
        let shared = Arc::new(Shared {
            inboxes,
            inbox_capacity: w.inbox_capacity,
            delivered: AtomicU64::new(0),
            abandon: AtomicBool::new(false),
            tracker,
        });
        let threads = threads.max(1);
        let per_worker = (max_pending / threads).max(1);
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for i in 0..threads {
            let (tx, rx) = sync_channel(per_worker);
            queues.push(tx);
            let shared = Arc::clone(&shared);
            workers.push(
                std::thread::Builder::new()
                    .name(format!("naive-{i}"))
                    .spawn(move || work(&shared, rx))?,
            );
        }
        let build = NaiveBuild {
            secs: t.elapsed().as_secs_f64(),
            edges: plan.edges(),
            graph_bytes,
        };
        Ok((
            NaiveSystem {
                graph,
                shared,
                queues,
                workers,
            },
            build,
        ))
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn work(shared: &Shared, jobs: Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        if shared.abandon.load(Ordering::Relaxed) {
            continue;
        }
        let mut uncounted = 0;
        let mut sent = 0;
        for &user in &job.audience {
            if let Some(inbox) = shared.inboxes.get(&user) {
                let mut inbox = inbox.lock().unwrap_or_else(PoisonError::into_inner);
                if inbox.len() >= shared.inbox_capacity {
                    inbox.remove(0);
                }
                inbox.push((job.account, job.seq));
            }
            sent += 1;
            uncounted += 1;
            if uncounted == COUNT_EVERY {
                shared.delivered.fetch_add(uncounted, Ordering::Relaxed);
                uncounted = 0;
                if shared.abandon.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
        shared.delivered.fetch_add(uncounted, Ordering::Relaxed);
        if sent == job.audience.len() as u64 {
            let total = job.audience.len() as u64;
            shared
                .tracker
                .finished(job.key, Instant::now(), total, total, 0);
        }
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        if j == b.len() || (i < a.len() && a[i] < b[j]) {
            out.push(a[i]);
            i += 1;
        } else if i == a.len() || b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
            j += 1;
        }
    }
    out
}

fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|&x| {
            while j < b.len() && b[j] < x {
                j += 1;
            }
            j == b.len() || b[j] != x
        })
        .collect()
}

fn eval(g: &Graph, account: u32, e: &Expr) -> Vec<u32> {
    match e {
        Expr::Tag(k) => g.tags.get(&(account, *k)).cloned().unwrap_or_default(),
        Expr::And(parts) => parts
            .iter()
            .map(|p| eval(g, account, p))
            .reduce(|a, b| intersect(&a, &b))
            .unwrap_or_default(),
        Expr::Or(parts) => parts
            .iter()
            .map(|p| eval(g, account, p))
            .reduce(|a, b| union(&a, &b))
            .unwrap_or_default(),
        Expr::Not(inner) => {
            let followers = g.followers.get(&account).map_or(&[][..], |f| f);
            difference(followers, &eval(g, account, inner))
        }
    }
}

impl System for NaiveSystem {
    fn send(&self, _seq: u64, spec: &SendSpec, tracker: &Tracker) -> SendOutcome {
        let account = spec.account;
        let t0 = Instant::now();
        let (audience, seq) = {
            let mut g = self.graph();
            let Some(followers) = g.followers.get(&account) else {
                return SendOutcome::Refused(format!("unknown account {account}"));
            };
            let audience = match &spec.audience {
                AudienceSpec::All => followers.clone(),
                AudienceSpec::Tag(k) => match g.tags.get(&(account, *k)) {
                    Some(m) => m.clone(),
                    None => return SendOutcome::Refused(format!("unknown tag {k}")),
                },
                AudienceSpec::Expr(e) => eval(&g, account, e),
                AudienceSpec::List(users) => {
                    if let Some(u) = users.iter().find(|u| followers.binary_search(u).is_err()) {
                        return SendOutcome::Refused(format!("user {u} does not follow"));
                    }
                    let mut list = users.clone();
                    list.sort_unstable();
                    list
                }
            };
            let seq = g.seq.entry(account).or_insert(0);
            *seq += 1;
            (audience, *seq)
        };
        let key = u64::from(account) << 32 | u64::from(seq);
        let job = Job {
            key,
            account,
            seq,
            audience,
        };
        match self.queues[account as usize % self.queues.len()].try_send(job) {
            Ok(()) => {
                tracker.sent(key, t0, None);
                SendOutcome::Accepted
            }
            Err(TrySendError::Full(_)) => SendOutcome::Busy,
            Err(TrySendError::Disconnected(_)) => SendOutcome::Refused("workers gone".into()),
        }
    }

    fn churn(&self, op: ChurnOp) -> bool {
        let mut g = self.graph();
        match op {
            ChurnOp::Follow { account, user } => {
                let Some(f) = g.followers.get_mut(&account) else {
                    return false;
                };
                match f.binary_search(&user) {
                    Ok(_) => false,
                    Err(at) => {
                        f.insert(at, user);
                        true
                    }
                }
            }
            ChurnOp::Unfollow { account, user } => {
                let Some(f) = g.followers.get_mut(&account) else {
                    return false;
                };
                let Ok(at) = f.binary_search(&user) else {
                    return false;
                };
                f.remove(at);
                let tags = g.tag_count.get(&account).copied().unwrap_or(0);
                for k in 0..tags {
                    if let Some(m) = g.tags.get_mut(&(account, k))
                        && let Ok(at) = m.binary_search(&user)
                    {
                        m.remove(at);
                    }
                }
                true
            }
        }
    }

    fn delivered(&self, _tracker: &Tracker) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    fn abandon(&self) {
        self.shared.abandon.store(true, Ordering::Relaxed);
    }
}

impl Drop for NaiveSystem {
    fn drop(&mut self) {
        self.shared.abandon.store(true, Ordering::Relaxed);
        self.queues.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_set_operations() {
        let a = [1, 3, 5, 7, 9];
        let b = [3, 4, 5, 10];
        assert_eq!(intersect(&a, &b), vec![3, 5]);
        assert_eq!(union(&a, &b), vec![1, 3, 4, 5, 7, 9, 10]);
        assert_eq!(difference(&a, &b), vec![1, 7, 9]);
        assert_eq!(difference(&a, &[]), a.to_vec());
        assert!(intersect(&[], &b).is_empty());
    }
}
