//! The engine itself: [`Engine`], its builder, the account shards it keeps, and what its
//! structures take in memory. The operations live beside it, one file per step of a
//! message's path: `users.rs`, `accounts.rs`, `follows.rs`, `tags.rs`, `send.rs`, `inbox.rs`
//! (reads), and `commit.rs`, the protocol every change follows.
//!
//! # Example
//! ```
//! use herald::{Audience, Engine, EngineConfig, Message, SendRequest};
//!
//! let engine = Engine::new(EngineConfig::default());
//! let users = engine.add_users(1_000).unwrap();
//! let news = engine.register_account("city news").unwrap();
//! for user in users {
//!     engine.follow(news, user, Some("qr:station-3")).unwrap();
//! }
//! let job = engine
//!     .send(news, SendRequest::new(Message::Text("Trains run late today".into()), Audience::All))
//!     .unwrap();
//! let report = job.wait();
//! assert_eq!((report.total, report.sent, report.errors), (1_000, 1_000, 0));
//!
//! // Every follower finds it in their inbox.
//! let inbox = engine.fetch(users.first(), 0, 10).unwrap();
//! assert_eq!(inbox.items.len(), 1);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::OnceLock;

use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;

use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::domain::account::AccountState;
use crate::domain::follower_order::Registry;
use crate::domain::graph::ReverseIndex;
use crate::domain::openid::OpenIdCodec;
use crate::domain::originality::Originals;
use crate::domain::subject::Subject;
use crate::engine::{Disk, ParkedSends};
use crate::ids::AccountId;
use crate::machinery::deliver::Delivery;
use crate::machinery::inbox::InboxStore;
use crate::machinery::job::JobReport;
use crate::machinery::pool::{Pool, PoolShared};
use crate::sink::{InboxWatcher, Sink};

/// Memory held by the engine's main structures, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MemoryUsage {
    /// Follow edges, (user, account) pairs, in the graph: a count, not bytes.
    pub follow_edges: u64,
    /// Follower, tag and source bitmaps.
    pub forward_bytes: usize,
    /// The user -> accounts index.
    pub reverse_bytes: usize,
    /// Allocated inbox blocks.
    pub inbox_bytes: usize,
    /// Follower-order caches of accounts being paged through, and reservations for those
    /// being built (bounded by `EngineConfig::follower_cache_bytes`).
    pub follower_cache_bytes: usize,
}

impl MemoryUsage {
    /// Bytes of both follow indexes per follow edge.
    pub fn graph_bytes_per_edge(&self) -> f64 {
        (self.forward_bytes + self.reverse_bytes) as f64 / self.follow_edges.max(1) as f64
    }
}

/// Configures and builds an [`Engine`].
#[allow(missing_debug_implementations)]
pub struct EngineBuilder {
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    sink: Option<Arc<dyn Sink>>,
}

impl EngineBuilder {
    /// Reads time from `clock` instead of the system clock (a
    /// [`ManualClock`](crate::ManualClock) in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Delivers to `sink` instead of the embedded inbox (fetch then reports `NoInbox`).
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Builds an engine in memory and starts its fan-out workers.
    pub fn build(self) -> Engine {
        let EngineBuilder {
            config,
            clock,
            sink,
        } = self;
        let (inbox, sink): (Option<Arc<InboxStore>>, Arc<dyn Sink>) = match sink {
            Some(sink) => (None, sink),
            None => {
                let inbox = Arc::new(InboxStore::new(config.inbox_capacity));
                (Some(Arc::clone(&inbox)), inbox)
            }
        };
        let (reports, _) = broadcast::channel(config.report_channel_capacity.max(1));
        let disk: Arc<OnceLock<Disk>> = Arc::new(OnceLock::new());
        let watcher = Arc::new(OnceLock::new());
        let deliver = Delivery {
            inbox: inbox.clone(),
            sink,
            retries: config.sink_retries,
            log: Arc::clone(&disk),
            watcher: Arc::clone(&watcher),
        };
        let pool = Pool::start(
            config.threads,
            Arc::new(deliver),
            Arc::clone(&clock),
            reports.clone(),
        );
        let shards = config.shards.max(1);
        Engine {
            codec: OpenIdCodec::new(config.openid_secret),
            follower_orders: Registry::new(
                config.follower_cache_bytes,
                config.follower_cache_idle_ms,
            ),
            accounts: (0..shards).map(|_| RwLock::new(Vec::new())).collect(),
            next_account: Mutex::new(0),
            users: AtomicU64::new(0),
            users_lock: Mutex::new(()),
            // Recent unfollows only serve the embedded inbox's lag reports.
            reverse: ReverseIndex::new(shards, inbox.is_some()),
            edges: AtomicU64::new(0),
            inbox,
            watcher,
            reports,
            clock,
            config,
            pool,
            disk,
            recovery_warnings: Vec::new(),
            parked: Arc::new(ParkedSends::default()),
            subjects: RwLock::new(Vec::new()),
            originals: RwLock::new(Originals::default()),
        }
    }
}

/// The herald engine. Thread safe: share it with `Arc<Engine>`. Dropping it stops the
/// fan-out workers after the chunk each is delivering; jobs still pending stay unfinished.
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) codec: OpenIdCodec,
    /// Account `a` lives in shard `a % shards` at index `a / shards`.
    pub(crate) accounts: Box<[RwLock<Vec<Option<AccountState>>>]>,
    pub(crate) next_account: Mutex<u32>,
    /// Users `0..users` exist. Grown under `users_lock`.
    pub(crate) users: AtomicU64,
    pub(crate) users_lock: Mutex<()>,
    pub(crate) reverse: ReverseIndex,
    pub(crate) edges: AtomicU64,
    pub(crate) inbox: Option<Arc<InboxStore>>,
    /// Told of every chunk that lands in the inbox ([`Engine::watch_inboxes`]); shared with
    /// the fan-out's delivery.
    pub(crate) watcher: Arc<OnceLock<Arc<dyn InboxWatcher>>>,
    pub(crate) reports: broadcast::Sender<JobReport>,
    pool: Pool,
    /// Set when the engine is durable (opened on a data directory), once recovery is done;
    /// shared with the fan-out's delivery.
    pub(crate) disk: Arc<OnceLock<Disk>>,
    pub(crate) recovery_warnings: Vec<String>,
    /// Sends accepted while the log failed, waiting for their record to be durable.
    pub(crate) parked: Arc<ParkedSends>,
    /// Subjects by id. Lock order: subjects, then `next_account`, then an account shard.
    pub(crate) subjects: RwLock<Vec<Subject>>,
    /// Article fingerprints, for the originality check. Taken after an account shard.
    pub(crate) originals: RwLock<Originals>,
    /// Sizes and last uses of the accounts' follower-order caches (`followers.rs`). Taken
    /// after an account shard, never before one.
    pub(crate) follower_orders: Registry,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("users", &self.user_count())
            .field("accounts", &self.account_count())
            .field("follow_edges", &self.edges.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// # Construction
///
/// Build an engine in memory with [`Engine::new`] or [`Engine::builder`]; open a durable one
/// on a data directory with [`Engine::open`].
impl Engine {
    /// An engine delivering to the embedded inbox, on the system clock.
    pub fn new(config: EngineConfig) -> Engine {
        Engine::builder(config).build()
    }

    /// A builder for an engine with `config`, on the system clock, delivering to the embedded
    /// inbox until told otherwise.
    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            clock: Arc::new(SystemClock),
            sink: None,
        }
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn pool(&self) -> &PoolShared {
        self.pool.shared()
    }

    pub(crate) fn pool_arc(&self) -> &Arc<PoolShared> {
        self.pool.shared()
    }

    pub(crate) fn account_slot(&self, account: AccountId) -> (usize, usize) {
        let n = self.accounts.len();
        (account.0 as usize % n, account.0 as usize / n)
    }

    pub(crate) fn read_account<R>(
        &self,
        account: AccountId,
        f: impl FnOnce(&AccountState) -> R,
    ) -> Option<R> {
        let (shard, index) = self.account_slot(account);
        let shard = self.accounts[shard].read();
        shard.get(index)?.as_ref().map(f)
    }

    pub(crate) fn write_account<R>(
        &self,
        account: AccountId,
        f: impl FnOnce(&mut AccountState) -> R,
    ) -> Option<R> {
        let (shard, index) = self.account_slot(account);
        let mut shard = self.accounts[shard].write();
        shard.get_mut(index)?.as_mut().map(f)
    }

    // ----- identity -----------------------------------------------------------------------

    /// Memory held by the graph and the inbox.
    pub fn memory_usage(&self) -> MemoryUsage {
        let forward_bytes = self
            .accounts
            .iter()
            .map(|shard| {
                shard
                    .read()
                    .iter()
                    .flatten()
                    .map(|s| s.graph.bitmap_bytes())
                    .sum::<usize>()
            })
            .sum();
        MemoryUsage {
            follow_edges: self.follow_edges(),
            forward_bytes,
            reverse_bytes: self.reverse.heap_bytes(),
            inbox_bytes: self.inbox.as_ref().map_or(0, |i| i.heap_bytes()),
            follower_cache_bytes: self.follower_orders.bytes(),
        }
    }
}
