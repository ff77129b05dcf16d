//! An account's state: its name, subscription graph, send history and idempotency keys.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Millis;
use crate::domain::graph::AccountGraph;
use crate::ids::Seq;
use crate::machinery::job::{Job, Lanes};

/// Everything the engine keeps for one account. Lives in an account shard; every field is
/// written under that shard's write lock (the lanes have their own lock, see `job.rs`).
#[derive(Debug)]
pub(crate) struct AccountState {
    pub(crate) name: String,
    pub(crate) graph: AccountGraph,
    /// Sequence number of the last accepted send; 0 before the first.
    pub(crate) last_seq: u32,
    /// The latest sends, oldest first, at most `history_window` of them; their sequence
    /// numbers are consecutive, ending at `last_seq`.
    pub(crate) history: VecDeque<Arc<Job>>,
    pub(crate) idempotency: Idempotency,
    pub(crate) lanes: Arc<Mutex<Lanes>>,
}

impl AccountState {
    pub(crate) fn new(name: String) -> Self {
        AccountState {
            name,
            graph: AccountGraph::default(),
            last_seq: 0,
            history: VecDeque::new(),
            idempotency: Idempotency::default(),
            lanes: Arc::new(Mutex::new(Lanes::default())),
        }
    }

    /// The send with sequence number `seq`, if still in the history window.
    pub(crate) fn sent(&self, seq: Seq) -> Option<&Arc<Job>> {
        let first = self.history.front()?.id.seq.0;
        self.history.get(seq.0.checked_sub(first)? as usize)
    }
}

/// Idempotency keys of recent sends, expiring after a window.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    by_key: HashMap<String, (Millis, Arc<Job>)>,
    /// Keys in acceptance order, for expiry.
    order: VecDeque<(Millis, String)>,
}

impl Idempotency {
    /// The job sent under `key`, if it was within `window_ms` of `now_ms`.
    pub(crate) fn get(&mut self, key: &str, now_ms: Millis, window_ms: u64) -> Option<Arc<Job>> {
        self.expire(now_ms, window_ms);
        self.by_key.get(key).map(|(_, job)| Arc::clone(job))
    }

    pub(crate) fn insert(&mut self, key: String, now_ms: Millis, job: Arc<Job>) {
        self.order.push_back((now_ms, key.clone()));
        self.by_key.insert(key, (now_ms, job));
    }

    /// Live keys with their acceptance time and job, in acceptance order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, Millis, &Arc<Job>)> {
        self.order.iter().filter_map(|(at, key)| {
            self.by_key
                .get(key)
                .filter(|(t, _)| t == at)
                .map(|(t, job)| (key.as_str(), *t, job))
        })
    }

    fn expire(&mut self, now_ms: Millis, window_ms: u64) {
        while let Some((at, _)) = self.order.front() {
            if now_ms.saturating_sub(*at) < window_ms {
                break;
            }
            let (at, key) = self.order.pop_front().expect("front exists");
            if self.by_key.get(&key).is_some_and(|(t, _)| *t == at) {
                self.by_key.remove(&key);
            }
        }
    }
}
