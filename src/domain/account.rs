//! An account's state: its name, profile (subject, kind, registration), subscription
//! graph, send history, idempotency keys, and the state of the platform's rules.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Millis;
use crate::domain::follower_order::OrderSlot;
use crate::domain::graph::AccountGraph;
use crate::domain::interaction::Interaction;
use crate::domain::policy::Policy;
use crate::domain::send::SendRequest;
use crate::domain::sent::Sent;
use crate::domain::subject::{AccountKind, Registration};
use crate::ids::{Seq, SubjectId};
use crate::machinery::job::Lanes;

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
    pub(crate) history: VecDeque<Arc<Sent>>,
    pub(crate) idempotency: Idempotency,
    pub(crate) lanes: Arc<Mutex<Lanes>>,
    pub(crate) profile: Profile,
    pub(crate) policy: Policy,
    pub(crate) interaction: Interaction,
    /// Pending scheduled sends by id.
    pub(crate) schedules: BTreeMap<u32, Scheduled>,
    /// The id the next scheduled send gets.
    pub(crate) next_schedule: u32,
    pub(crate) storage: Storage,
    /// The followers sorted by OpenID while someone pages through them (in memory only).
    pub(crate) follower_order: OrderSlot,
}

/// Who owns an account and what it is. Accounts registered with the low-level
/// [`Engine::register_account`](crate::Engine::register_account) have no subject, no kind
/// (no kind-specific send limits) and no registration to complete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) subject: Option<SubjectId>,
    pub(crate) kind: Option<AccountKind>,
    pub(crate) verified: bool,
    pub(crate) registration: Option<Registration>,
}

/// A send waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scheduled {
    pub(crate) due_ms: Millis,
    pub(crate) request: SendRequest,
}

/// Retention and storage quota.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Storage {
    /// Messages older than this are purged; `None` keeps them (within the history window).
    pub(crate) retention_ms: Option<u64>,
    /// Bytes of stored messages the account may hold; `None` is unlimited.
    pub(crate) quota_bytes: Option<u64>,
    /// Bytes of the messages in the history (see `Message::stored_bytes`).
    pub(crate) used_bytes: u64,
    /// Messages up to this sequence were purged: hidden from inboxes too.
    pub(crate) purged_through: u32,
}

impl AccountState {
    pub(crate) fn new(name: String) -> Self {
        AccountState {
            profile: Profile::default(),
            policy: Policy::default(),
            interaction: Interaction::default(),
            schedules: BTreeMap::new(),
            next_schedule: 0,
            storage: Storage::default(),
            name,
            graph: AccountGraph::default(),
            last_seq: 0,
            history: VecDeque::new(),
            idempotency: Idempotency::default(),
            lanes: Arc::new(Mutex::new(Lanes::default())),
            follower_order: OrderSlot::default(),
        }
    }

    /// The send with sequence number `seq`, if still in the history window.
    pub(crate) fn sent(&self, seq: Seq) -> Option<&Arc<Sent>> {
        let first = self.history.front()?.id().seq.0;
        self.history.get(seq.0.checked_sub(first)? as usize)
    }
}

/// Idempotency keys of recent sends, expiring after a window.
#[derive(Debug, Default)]
pub(crate) struct Idempotency {
    by_key: HashMap<String, (Millis, Arc<Sent>)>,
    /// Keys in acceptance order, for expiry.
    order: VecDeque<(Millis, String)>,
}

impl Idempotency {
    /// The job sent under `key`, if it was within `window_ms` of `now_ms`.
    pub(crate) fn get(&mut self, key: &str, now_ms: Millis, window_ms: u64) -> Option<Arc<Sent>> {
        self.expire(now_ms, window_ms);
        self.by_key.get(key).map(|(_, job)| Arc::clone(job))
    }

    pub(crate) fn insert(&mut self, key: String, now_ms: Millis, sent: Arc<Sent>) {
        self.order.push_back((now_ms, key.clone()));
        self.by_key.insert(key, (now_ms, sent));
    }

    /// Live keys with their acceptance time and job, in acceptance order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, Millis, &Arc<Sent>)> {
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
