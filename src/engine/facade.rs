//! The engine: the public facade over the subscription graph, the send path and the inbox.
//!
//! # Example
//! ```
//! use herald::{Audience, Engine, EngineConfig, Message, SendRequest, UserId};
//!
//! let engine = Engine::new(EngineConfig::default());
//! let users = engine.add_users(1_000).unwrap();
//! let news = engine.register_account("city news").unwrap();
//! for u in users.clone() {
//!     engine.follow(UserId(u), news, Some("qr:station-3")).unwrap();
//! }
//! let job = engine
//!     .send(news, SendRequest::new(Message::Text("Trains run late today".into()), Audience::All))
//!     .unwrap();
//! let report = job.wait();
//! assert_eq!((report.total, report.sent, report.errors), (1_000, 1_000, 0));
//!
//! // Every follower finds it in their inbox.
//! let inbox = engine.fetch(UserId(users.start), 0, 10).unwrap();
//! assert_eq!(inbox.items.len(), 1);
//! ```

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use std::sync::OnceLock;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use roaring::RoaringBitmap;
use tokio::sync::broadcast;

use crate::clock::{Clock, Millis, SystemClock};
use crate::config::EngineConfig;
use crate::domain::account::AccountState;
use crate::domain::audience;
use crate::domain::follower_order::Registry;
use crate::domain::graph::ReverseIndex;
use crate::domain::openid::OpenIdCodec;
use crate::domain::originality::{self, Originals};
use crate::domain::send::{SendMeta, SendPurpose, SendRequest};
use crate::domain::sent::{JobHandle, Sent};
use crate::domain::subject::{AccountKind, Subject};
use crate::error::{
    AddUsersError, FetchError, FollowChangeError, FollowError, QueryError, RegisterError,
    SendError, StorageError, StoreError, TagError, UnfollowError,
};
use crate::ids::OpenId;
use crate::ids::{AccountId, JobId, Seq, TagId, UserId};
use crate::machinery::deliver::Delivery;
use crate::machinery::inbox::{InboxStore, RawFetch};
use crate::machinery::job::{Job, JobReport};
use crate::machinery::pool::{Pool, PoolShared};
use crate::machinery::prefetch::prefetch;
use crate::message::Message;
use crate::sink::Sink;
use crate::store::Durable;
use crate::store::record::Record;

/// What accepting a send produced: the job, for a new job the chunks that may run at
/// once, and the LSN of its log record (durable engines).
type Accepted = (Arc<Sent>, Option<Vec<u32>>, Option<u64>);

/// One page of an account's followers, from [`Engine::followers_page`]: OpenIDs in
/// ascending order, all greater than the page's `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerPage {
    /// Ascending.
    pub open_ids: Vec<OpenId>,
    /// Pass as `after` to read the next page: the last OpenID of this one, if followers
    /// with greater OpenIDs followed at the time of the read; `None` on the last page.
    pub next: Option<OpenId>,
    /// Followers in all, at the time of the read.
    pub total: u64,
}

/// Follows that came from one source (e.g. a QR code's scene).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    pub source: String,
    /// Current followers whose follow came from this source.
    pub current: u64,
    /// Follows from this source ever recorded, including those since undone.
    pub total: u64,
}

/// One tag of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub id: TagId,
    pub name: String,
    pub followers: u64,
}

/// What an inbox entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The message (for a corrected article, the corrected one).
    Message(Arc<Message>),
    /// The account retracted this message: a tombstone in place of its content.
    Retracted,
    /// The message left its account's history window (or the account is gone).
    Expired,
}

/// One entry of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// This entry's position; fetch from `cursor + 1` to read what came after it.
    pub cursor: u64,
    pub account: AccountId,
    pub seq: Seq,
    pub content: Content,
}

/// The result of [`Engine::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub items: Vec<InboxItem>,
    /// Where the next fetch should start.
    pub next_cursor: u64,
    /// Entries after the given cursor that were evicted before they were read.
    pub missed: u64,
    /// When `missed > 0`: each account with evicted entries still in its history, and the
    /// latest evicted sequence number, in account order. Recover them with
    /// [`Engine::recover`], after the last sequence the reader saw of that account: an
    /// account whose evicted entries were all read before the cursor may be named too, and
    /// recovering after what the reader saw then returns nothing. Entries whose sends left
    /// the account's history window count in `missed` but cannot be named or recovered.
    /// Accounts the user no longer follows are named from the reverse index's notes of
    /// recent unfollows: per shard of users, the newest 4 per user on average, copies
    /// included, so a user who unfollows and follows again very often can push other users'
    /// older notes out.
    pub missed_from: Vec<(AccountId, Seq)>,
}

/// The result of [`Engine::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Messages of the account sent to the user after the given sequence, oldest first.
    pub messages: Vec<(Seq, Arc<Message>)>,
    /// The oldest sequence number still in the account's history; anything older is gone.
    pub oldest_available: Option<Seq>,
}

/// Memory held by the engine's main structures, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUsage {
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
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Delivers to `sink` instead of the embedded inbox (fetch then reports `NoInbox`).
    pub fn sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sink = Some(sink);
        self
    }

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
        let store: Arc<OnceLock<Durable>> = Arc::new(OnceLock::new());
        let deliver = Delivery {
            inbox: inbox.clone(),
            sink,
            retries: config.sink_retries,
            store: Arc::clone(&store),
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
            // Departure notes only serve the embedded inbox's lag reports.
            reverse: ReverseIndex::new(shards, inbox.is_some()),
            edges: AtomicU64::new(0),
            inbox,
            reports,
            clock,
            config,
            pool,
            store,
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
    reports: broadcast::Sender<JobReport>,
    pool: Pool,
    /// Set when the engine is durable (opened on a data directory), once recovery is done;
    /// shared with the fan-out's delivery.
    pub(crate) store: Arc<OnceLock<Durable>>,
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

/// Changes a batch applies at a time: the lines of these changes are requested together
/// (see [`Engine::change_follows`]). Enough to keep the CPU's outstanding misses busy, few
/// enough that the first lines are still in cache when the group is applied.
const PREFETCH_GROUP: usize = 16;

/// One change of a follow edge, for [`Engine::change_follows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowChange {
    /// As [`Engine::follow`] without a source.
    Follow { user: UserId, account: AccountId },
    /// As [`Engine::unfollow`].
    Unfollow { user: UserId, account: AccountId },
}

impl FollowChange {
    pub fn user(&self) -> UserId {
        match *self {
            FollowChange::Follow { user, .. } | FollowChange::Unfollow { user, .. } => user,
        }
    }

    pub fn account(&self) -> AccountId {
        match *self {
            FollowChange::Follow { account, .. } | FollowChange::Unfollow { account, .. } => {
                account
            }
        }
    }

    fn unknown_user(&self) -> FollowChangeError {
        match *self {
            FollowChange::Follow { user, .. } => FollowError::UnknownUser(user).into(),
            FollowChange::Unfollow { user, .. } => UnfollowError::UnknownUser(user).into(),
        }
    }

    fn storage_error(&self, e: StorageError) -> FollowChangeError {
        match self {
            FollowChange::Follow { .. } => FollowError::Storage(e).into(),
            FollowChange::Unfollow { .. } => UnfollowError::Storage(e).into(),
        }
    }
}

impl Engine {
    /// An engine delivering to the embedded inbox, on the system clock.
    pub fn new(config: EngineConfig) -> Engine {
        Engine::builder(config).build()
    }

    pub fn builder(config: EngineConfig) -> EngineBuilder {
        EngineBuilder {
            config,
            clock: Arc::new(SystemClock),
            sink: None,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn pool(&self) -> &PoolShared {
        self.pool.shared()
    }

    pub(crate) fn pool_arc(&self) -> &Arc<PoolShared> {
        self.pool.shared()
    }

    /// Starts a change: in durable mode, refuses it while the log cannot be written, and
    /// holds the snapshot gate (shared) until the change is applied.
    pub(crate) fn begin(&self) -> Result<Option<RwLockReadGuard<'_, ()>>, StorageError> {
        match self.store.get() {
            None => Ok(None),
            Some(store) => {
                store.wal.check().map_err(StorageError::Refused)?;
                Ok(Some(store.gate.read()))
            }
        }
    }

    /// Appends the change's record in durable mode (the record is built only then).
    pub(crate) fn log(&self, record: impl FnOnce() -> Record) -> Option<u64> {
        self.store.get().map(|store| store.wal.append(&record()))
    }

    /// Waits until a logged change is durable; the caller acknowledges after this. An error
    /// means the change is applied but not durable ([`StorageError::NotDurable`]).
    pub(crate) fn commit(&self, lsn: Option<u64>) -> Result<(), StorageError> {
        match (lsn, self.store.get()) {
            (Some(lsn), Some(store)) => store
                .wal
                .wait_durable(lsn)
                .map_err(StorageError::NotDurable),
            _ => Ok(()),
        }
    }

    /// The LSN of the last record appended so far, in durable mode: what a caller who
    /// returns state another caller changed (an idempotent repeat of a send) must wait for.
    pub(crate) fn last_logged(&self) -> Option<u64> {
        self.store
            .get()
            .and_then(|store| store.wal.next_lsn().checked_sub(1))
    }

    /// Why the log cannot be written, while it cannot (changes are then refused and the
    /// engine retries the write on its own; see [`StorageError`]). `None` when all is well
    /// and for in-memory engines.
    pub fn storage_error(&self) -> Option<StoreError> {
        self.store.get().and_then(|store| store.wal.check().err())
    }

    // ----- users and accounts -------------------------------------------------------------

    /// Creates `count` users with consecutive ids; returns their id range.
    pub fn add_users(&self, count: u32) -> Result<Range<u32>, AddUsersError> {
        let gate = self.begin().map_err(AddUsersError::Storage)?;
        let guard = self.users_lock.lock();
        let existing = self.users.load(Ordering::Acquire);
        let end = existing + u64::from(count);
        if end > u64::from(u32::MAX) + 1 {
            return Err(AddUsersError::IdsExhausted {
                existing,
                asked: count.into(),
            });
        }
        // The caller's number decides how much memory this takes: reserve it before
        // anything is logged, and refuse (changing nothing) if it is not there.
        let out_of_memory = |_| AddUsersError::OutOfMemory {
            existing,
            asked: count.into(),
        };
        self.reverse.try_reserve(end).map_err(out_of_memory)?;
        if let Some(inbox) = &self.inbox
            && let Err(e) = inbox.try_reserve(existing..end)
        {
            self.reverse.release_reserved();
            return Err(out_of_memory(e));
        }
        let lsn = self.log(|| Record::AddUsers { count });
        self.apply_add_users(count);
        drop((guard, gate));
        self.commit(lsn).map_err(AddUsersError::Storage)?;
        // `end` may be 2^32, which only a u64 range could show; saturate (ids stay valid).
        Ok(existing as u32..end.min(u64::from(u32::MAX)) as u32)
    }

    /// Grows the user count (checked by the caller, whose live call reserved the new
    /// users' memory first; replay leaves their inboxes to first delivery, to keep restarts
    /// fast).
    pub(crate) fn apply_add_users(&self, count: u32) {
        let existing = self.users.load(Ordering::Acquire);
        let end = (existing + u64::from(count)).min(u64::from(u32::MAX) + 1);
        self.reverse.grow(end);
        self.users.store(end, Ordering::Release);
    }

    pub fn user_count(&self) -> u64 {
        self.users.load(Ordering::Acquire)
    }

    pub(crate) fn user_exists(&self, user: UserId) -> bool {
        u64::from(user.0) < self.user_count()
    }

    /// Registers an account outside any subject; its name is 1 to `account_name_max_chars`
    /// characters. The low-level call: such an account has no kind (no daily or monthly
    /// send limit), no registration information to complete and counts against no quota;
    /// bans, speed tiers, storage rules and the other rules apply. The platform's
    /// registration is [`Engine::register`].
    pub fn register_account(&self, name: &str) -> Result<AccountId, RegisterError> {
        let max = self.config.limits.account_name_max_chars;
        if !valid_name(name, max) {
            return Err(RegisterError::InvalidName { max });
        }
        let gate = self.begin().map_err(RegisterError::Storage)?;
        let mut next = self.next_account.lock();
        let id = *next;
        next.checked_add(1).ok_or(RegisterError::IdsExhausted)?;
        let lsn = self.log(|| Record::RegisterAccount {
            account: id,
            name: name.to_owned(),
        });
        self.apply_register(&mut next, name);
        drop((next, gate));
        self.commit(lsn).map_err(RegisterError::Storage)?;
        Ok(AccountId(id))
    }

    /// Registers the account with id `*next` (checked by the caller) and advances `next`.
    pub(crate) fn apply_register(&self, next: &mut u32, name: &str) {
        let (shard, index) = self.account_slot(AccountId(*next));
        let mut shard = self.accounts[shard].write();
        if shard.len() <= index {
            shard.resize_with(index + 1, || None);
        }
        shard[index] = Some(AccountState::new(name.to_owned()));
        *next += 1;
    }

    pub fn account_count(&self) -> u64 {
        u64::from(*self.next_account.lock())
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String, QueryError> {
        self.read_account(account, |state| state.name.clone())
            .ok_or(QueryError::UnknownAccount(account))
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

    /// The OpenID under which `account` sees `user` (for the embedding service, which knows
    /// internal ids; accounts only ever see the result).
    pub fn open_id(&self, account: AccountId, user: UserId) -> Result<OpenId, QueryError> {
        if !self.user_exists(user) {
            return Err(QueryError::UnknownUser(user));
        }
        self.read_account(account, |_| ())
            .ok_or(QueryError::UnknownAccount(account))?;
        Ok(self.codec.encode(account, user))
    }

    /// The user behind an OpenID of `account`.
    pub fn user_of(&self, account: AccountId, open_id: OpenId) -> Result<UserId, QueryError> {
        self.read_account(account, |_| ())
            .ok_or(QueryError::UnknownAccount(account))?;
        self.decode_open_id(account, open_id)
            .ok_or(QueryError::InvalidOpenId(open_id))
    }

    /// The user behind `open_id` if it is a valid OpenID of `account`: one the account was
    /// issued for a user who exists. Everything else (made up, another account's, of a user
    /// who does not exist) is invalid, in every operation taking OpenIDs; a valid OpenID
    /// of a user who does not follow is "not following".
    pub(crate) fn decode_open_id(&self, account: AccountId, open_id: OpenId) -> Option<UserId> {
        self.codec
            .decode(account, open_id)
            .filter(|u| self.user_exists(*u))
    }

    // ----- follows ------------------------------------------------------------------------

    /// `user` follows `account`, optionally from a source such as a QR code's scene.
    /// Returns the user's OpenID for the account.
    pub fn follow(
        &self,
        user: UserId,
        account: AccountId,
        source: Option<&str>,
    ) -> Result<OpenId, FollowError> {
        if !self.user_exists(user) {
            return Err(FollowError::UnknownUser(user));
        }
        let limits = &self.config.limits;
        if let Some(source) = source
            && !valid_name(source, limits.source_max_chars)
        {
            return Err(FollowError::InvalidSource {
                max: limits.source_max_chars,
            });
        }
        let gate = self.begin().map_err(FollowError::Storage)?;
        let lsn = self.follow_logged(user, account, source)?;
        drop(gate);
        self.commit(lsn).map_err(FollowError::Storage)?;
        Ok(self.codec.encode(account, user))
    }

    /// A follow, validated, logged and applied, but not yet committed (the caller holds the
    /// snapshot gate and waits for the returned record to be durable).
    fn follow_logged(
        &self,
        user: UserId,
        account: AccountId,
        source: Option<&str>,
    ) -> Result<Option<u64>, FollowError> {
        let limits = &self.config.limits;
        self.write_account(account, |state| {
            let mut lsn = None;
            let graph = &state.graph;
            let no_room_for_source = source.is_some_and(|name| {
                graph.source_count() >= limits.sources_per_account && !graph.has_source(name)
            });
            // Decided under the user's reverse-index lock, which says in one short list
            // what the account's bitmap would say after a search over its containers.
            let check = |following: bool| {
                if following {
                    return Err(FollowError::AlreadyFollowing { user, account });
                }
                if no_room_for_source {
                    return Err(FollowError::TooManySources {
                        account,
                        max: limits.sources_per_account,
                    });
                }
                lsn = self.log(|| Record::Follow {
                    user: user.0,
                    account: account.0,
                    source: source.map(str::to_owned),
                });
                Ok(())
            };
            self.apply_follow(user, account, state, source, check)?;
            Ok(lsn)
        })
        .unwrap_or(Err(FollowError::UnknownAccount(account)))
    }

    /// Bulk import: every user in `users` follows `account` (users already following are
    /// skipped). Validates all users first; on error nothing changed. Returns how many
    /// follows were new. Holds the account's shard for the whole import.
    pub fn follow_many(&self, account: AccountId, users: &[UserId]) -> Result<u64, FollowError> {
        let count = self.user_count();
        if let Some(bad) = users.iter().find(|u| u64::from(u.0) >= count) {
            return Err(FollowError::UnknownUser(*bad));
        }
        let gate = self.begin().map_err(FollowError::Storage)?;
        let (added, lsn) = self
            .write_account(account, |state| {
                let followers = state.graph.current_followers();
                let mut new: Vec<u32> = users
                    .iter()
                    .map(|u| u.0)
                    .filter(|&u| !followers.contains(u))
                    .collect();
                new.sort_unstable();
                new.dedup();
                let lsn = self.log(|| Record::FollowMany {
                    account: account.0,
                    users: new.clone(),
                });
                self.apply_follow_many(account, state, &new);
                Ok((new.len() as u64, lsn))
            })
            .unwrap_or(Err(FollowError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(FollowError::Storage)?;
        Ok(added)
    }

    /// Adds `new` (ascending, none of them following yet) as followers.
    pub(crate) fn apply_follow_many(
        &self,
        account: AccountId,
        state: &mut AccountState,
        new: &[u32],
    ) {
        state.graph.follow_many(new);
        for &user in new {
            self.reverse.insert(UserId(user), account);
        }
        self.edges.fetch_add(new.len() as u64, Ordering::Relaxed);
    }

    /// `user` stops following `account`; it leaves the account's tags too.
    pub fn unfollow(&self, user: UserId, account: AccountId) -> Result<(), UnfollowError> {
        if !self.user_exists(user) {
            return Err(UnfollowError::UnknownUser(user));
        }
        let gate = self.begin().map_err(UnfollowError::Storage)?;
        let lsn = self.unfollow_logged(user, account)?;
        drop(gate);
        self.commit(lsn).map_err(UnfollowError::Storage)
    }

    /// An unfollow, validated, logged and applied, but not yet committed.
    fn unfollow_logged(
        &self,
        user: UserId,
        account: AccountId,
    ) -> Result<Option<u64>, UnfollowError> {
        self.write_account(account, |state| {
            let mut lsn = None;
            let check = |following: bool| {
                if !following {
                    return Err(UnfollowError::NotFollowing { user, account });
                }
                lsn = self.log(|| Record::Unfollow {
                    user: user.0,
                    account: account.0,
                });
                Ok(())
            };
            self.apply_unfollow(user, account, state, check)?;
            Ok(lsn)
        })
        .unwrap_or(Err(UnfollowError::UnknownAccount(account)))
    }

    /// Applies follows (without a source) and unfollows in order, each exactly as
    /// [`follow`](Self::follow) or [`unfollow`](Self::unfollow) would, and returns each
    /// one's result; a refused change changes nothing and does not stop the others.
    ///
    /// Faster than the same calls one at a time, for two reasons:
    /// - the cache lines each change will touch (the user's reverse-index slot and list, the
    ///   account's state and pending log) are requested for a group of changes before the
    ///   group is applied, so their misses overlap instead of following one another;
    /// - in durable mode the batch waits for one commit, not one per change (the results
    ///   are returned once all of it is durable; if that fails, every applied change reports
    ///   the storage error, as the single calls do).
    pub fn change_follows(&self, changes: &[FollowChange]) -> Vec<Result<(), FollowChangeError>> {
        let gate = match self.begin() {
            Ok(gate) => gate,
            // As the single calls: an unknown user is reported before the storage error.
            Err(e) => {
                return changes
                    .iter()
                    .map(|c| match self.user_exists(c.user()) {
                        true => Err(c.storage_error(e.clone())),
                        false => Err(c.unknown_user()),
                    })
                    .collect();
            }
        };
        let mut results = Vec::with_capacity(changes.len());
        let mut last = None;
        for group in changes.chunks(PREFETCH_GROUP) {
            for change in group {
                self.reverse.prefetch_slot(change.user());
                self.prefetch_account(change.account());
            }
            for change in group {
                self.reverse.prefetch_list(change.user());
                self.read_account(change.account(), |state| state.graph.prefetch_pending());
            }
            for change in group {
                let user = change.user();
                let logged = if !self.user_exists(user) {
                    Err(change.unknown_user())
                } else {
                    match *change {
                        FollowChange::Follow { user, account } => self
                            .follow_logged(user, account, None)
                            .map_err(FollowChangeError::from),
                        FollowChange::Unfollow { user, account } => self
                            .unfollow_logged(user, account)
                            .map_err(FollowChangeError::from),
                    }
                };
                results.push(logged.map(|lsn| last = last.max(lsn)));
            }
        }
        drop(gate);
        if let Err(e) = self.commit(last) {
            for (result, change) in results.iter_mut().zip(changes) {
                if result.is_ok() {
                    *result = Err(change.storage_error(e.clone()));
                }
            }
        }
        results
    }

    /// Starts loading an account's state (see [`change_follows`](Self::change_follows)).
    fn prefetch_account(&self, account: AccountId) {
        let (shard, index) = self.account_slot(account);
        prefetch(self.accounts[shard].read().as_ptr().wrapping_add(index));
    }

    /// `user` follows `account` if `check` allows: it is called under the user's
    /// reverse-index lock with whether the user follows already, and logs the change (live)
    /// or refuses a repeat (replay). Live calls and replay share this path.
    pub(crate) fn apply_follow<E>(
        &self,
        user: UserId,
        account: AccountId,
        state: &mut AccountState,
        source: Option<&str>,
        check: impl FnOnce(bool) -> Result<(), E>,
    ) -> Result<(), E> {
        self.reverse.change(user, account, true, check)?;
        state.graph.follow(user, source);
        self.edges.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `user` unfollows `account` if `check` allows (see [`apply_follow`](Self::apply_follow)).
    /// Entries the user received while following may still be evicted unread: the reverse
    /// index notes the departure so that a fetch can name the account.
    pub(crate) fn apply_unfollow<E>(
        &self,
        user: UserId,
        account: AccountId,
        state: &mut AccountState,
        check: impl FnOnce(bool) -> Result<(), E>,
    ) -> Result<(), E> {
        self.reverse.change(user, account, false, check)?;
        state.interaction.forget(user.0);
        state.graph.unfollow(user);
        self.edges.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn is_following(&self, user: UserId, account: AccountId) -> Result<bool, QueryError> {
        if !self.user_exists(user) {
            return Err(QueryError::UnknownUser(user));
        }
        self.read_account(account, |s| s.graph.is_follower(user.0))
            .ok_or(QueryError::UnknownAccount(account))
    }

    pub fn follower_count(&self, account: AccountId) -> Result<u64, QueryError> {
        self.read_account(account, |s| s.graph.follower_count())
            .ok_or(QueryError::UnknownAccount(account))
    }

    /// Follow edges in the whole graph.
    pub fn follow_edges(&self) -> u64 {
        self.edges.load(Ordering::Relaxed)
    }

    /// The accounts `user` follows, in id order.
    pub fn following(&self, user: UserId) -> Result<Vec<AccountId>, QueryError> {
        if !self.user_exists(user) {
            return Err(QueryError::UnknownUser(user));
        }
        Ok(self.reverse.accounts_of(user))
    }

    /// Follow counts per source, in the order the sources first appeared.
    pub fn follow_sources(&self, account: AccountId) -> Result<Vec<SourceStats>, QueryError> {
        self.write_account(account, |state| {
            state
                .graph
                .settled()
                .sources()
                .iter()
                .map(|s| SourceStats {
                    source: s.name.clone(),
                    current: s.current.len(),
                    total: s.total,
                })
                .collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    // ----- tags ---------------------------------------------------------------------------

    pub fn create_tag(&self, account: AccountId, name: &str) -> Result<TagId, TagError> {
        let limits = &self.config.limits;
        if !valid_name(name, limits.tag_name_max_chars) {
            return Err(TagError::InvalidName {
                max: limits.tag_name_max_chars,
            });
        }
        let gate = self.begin().map_err(TagError::Storage)?;
        let (id, lsn) = self
            .write_account(account, |state| {
                let graph = &mut state.graph;
                if graph.tag_names().any(|(_, n)| n == name) {
                    return Err(TagError::DuplicateName(name.to_owned()));
                }
                if graph.tag_names().count() >= limits.tags_per_account {
                    return Err(TagError::TooManyTags {
                        max: limits.tags_per_account,
                    });
                }
                let id = u32::try_from(graph.next_tag_id()).map_err(|_| TagError::TooManyTags {
                    max: limits.tags_per_account,
                })?;
                let lsn = self.log(|| Record::CreateTag {
                    account: account.0,
                    tag: id,
                    name: name.to_owned(),
                });
                Ok((graph.create_tag(name.to_owned()), lsn))
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)?;
        Ok(id)
    }

    /// Deletes a tag; its followers keep following. Its id is never reused.
    pub fn delete_tag(&self, account: AccountId, tag: TagId) -> Result<(), TagError> {
        let gate = self.begin().map_err(TagError::Storage)?;
        let lsn = self
            .write_account(account, |state| {
                if !state.graph.has_tag(tag) {
                    return Err(TagError::UnknownTag(tag));
                }
                let lsn = self.log(|| Record::DeleteTag {
                    account: account.0,
                    tag: tag.0,
                });
                state.graph.delete_tag(tag);
                Ok(lsn)
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)
    }

    pub fn tags(&self, account: AccountId) -> Result<Vec<TagInfo>, QueryError> {
        self.write_account(account, |state| {
            state
                .graph
                .settled()
                .live_tags()
                .map(|(id, t)| TagInfo {
                    id,
                    name: t.name.clone(),
                    followers: t.members.len(),
                })
                .collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    /// Adds `tag` to followers; all or nothing. Returns how many did not carry it yet.
    pub fn tag_followers(
        &self,
        account: AccountId,
        tag: TagId,
        open_ids: &[OpenId],
    ) -> Result<u64, TagError> {
        self.retag(account, tag, open_ids, true)
    }

    /// Removes `tag` from followers; all or nothing. Returns how many carried it.
    pub fn untag_followers(
        &self,
        account: AccountId,
        tag: TagId,
        open_ids: &[OpenId],
    ) -> Result<u64, TagError> {
        self.retag(account, tag, open_ids, false)
    }

    fn retag(
        &self,
        account: AccountId,
        tag: TagId,
        open_ids: &[OpenId],
        add: bool,
    ) -> Result<u64, TagError> {
        let limits = &self.config.limits;
        if open_ids.is_empty() || open_ids.len() > limits.tag_batch_max {
            return Err(TagError::BatchSize {
                len: open_ids.len(),
                max: limits.tag_batch_max,
            });
        }
        let gate = self.begin().map_err(TagError::Storage)?;
        let (changed, lsn) = self
            .write_account(account, |state| {
                let graph = state.graph.settled();
                let members = &graph.tag(tag).ok_or(TagError::UnknownTag(tag))?.members;
                // Validate everything before changing anything.
                let mut users = Vec::with_capacity(open_ids.len());
                for &id in open_ids {
                    let user = self
                        .decode_open_id(account, id)
                        .ok_or(TagError::InvalidOpenId(id))?;
                    if !graph.followers().contains(user.0) {
                        return Err(TagError::NotFollowing(id));
                    }
                    if add
                        && !members.contains(user.0)
                        && graph.tags_of(user).count() >= limits.tags_per_follower
                    {
                        return Err(TagError::TooManyTagsOnFollower {
                            open_id: id,
                            max: limits.tags_per_follower,
                        });
                    }
                    users.push(user.0);
                }
                let lsn = self.log(|| Record::Retag {
                    account: account.0,
                    tag: tag.0,
                    add,
                    users: users.clone(),
                });
                Ok((state.graph.retag(tag, &users, add), lsn))
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)?;
        Ok(changed)
    }

    /// The tags a follower carries.
    pub fn tags_of(&self, account: AccountId, open_id: OpenId) -> Result<Vec<TagId>, QueryError> {
        let user = self.user_of(account, open_id)?;
        self.write_account(account, |state| {
            state.graph.settled().tags_of(user).collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    // ----- sending ------------------------------------------------------------------------

    /// Accepts a broadcast: validates it against the message limits and the platform's
    /// rules (registration, bans, daily and monthly limits, originality, storage quota),
    /// fixes its audience, and queues it for fan-out. Returns at once with a handle to the
    /// job. On a service account, followers who already received this month's broadcasts
    /// are left out and counted in the report's `filtered`.
    pub fn send(&self, account: AccountId, request: SendRequest) -> Result<JobHandle, SendError> {
        self.submit(account, request, SendPurpose::Broadcast, None, None)
    }

    /// The send path shared by broadcasts, previews, replies and scheduled sends. `single`:
    /// the one recipient of a preview or reply. `schedule`: the scheduled send this fires.
    /// A send to one follower (a preview or a reply), named by its OpenID.
    pub(crate) fn send_to_one(
        &self,
        account: AccountId,
        open_id: OpenId,
        message: Message,
        purpose: SendPurpose,
    ) -> Result<JobHandle, SendError> {
        let user = self.user_of(account, open_id).map_err(|e| match e {
            QueryError::UnknownAccount(a) => SendError::UnknownAccount(a),
            _ => SendError::InvalidAudience(crate::error::AudienceError::InvalidOpenId(open_id)),
        })?;
        self.submit(
            account,
            SendRequest::new(message, crate::Audience::All),
            purpose,
            Some(user),
            None,
        )
    }

    pub(crate) fn submit(
        &self,
        account: AccountId,
        request: SendRequest,
        purpose: SendPurpose,
        single: Option<UserId>,
        schedule: Option<u32>,
    ) -> Result<JobHandle, SendError> {
        self.check_request(&request)?;
        // Look the declared original up before taking this account's lock (two account
        // locks are never held together).
        if let Some(original) = request.reprint_of {
            self.check_original(account, original)?;
        }
        if self.pool().is_shutting_down() {
            return Err(SendError::ShuttingDown);
        }
        let gate = self.begin().map_err(SendError::Storage)?;
        let now = self.clock.now_ms();
        let (sent, ready, lsn) = self
            .write_account(account, |state| {
                self.accept(account, state, request, purpose, single, schedule, now)
            })
            .unwrap_or(Err(SendError::UnknownAccount(account)))?;
        drop(gate);
        let job = Arc::clone(&sent.job);
        // Acknowledge (and start delivering) only once the acceptance is durable: a send
        // that was never acknowledged must not reach anyone.
        if let Err(e) = self.commit(lsn) {
            if let (Some(ready), Some(lsn)) = (ready, lsn) {
                self.park(job, ready, lsn);
            }
            return Err(SendError::Storage(e));
        }
        if let Some(ready) = ready {
            let pool = self.pool();
            // Only here, in the caller's `send`: jobs resumed at open (`start` from
            // `resume`) go to the workers, so opening an engine does not deliver on its own.
            if ready == [0] && pool.may_run_here(&job, self.config.inline_max_recipients) {
                // A small send runnable at once: delivered here, without a hand-off.
                pool.release_for_caller(&job);
                pool.run_here(&job, 0);
            } else {
                self.start(&job, ready);
            }
        }
        Ok(JobHandle::new(sent))
    }

    /// Checks what a send request can be checked for without the account's state.
    pub(crate) fn check_request(&self, request: &SendRequest) -> Result<(), SendError> {
        let limits = &self.config.limits;
        request.message.validate(limits)?;
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > limits.idempotency_key_max_bytes)
        {
            return Err(SendError::InvalidIdempotencyKey {
                max: limits.idempotency_key_max_bytes,
            });
        }
        let article = matches!(request.message, Message::Article(_));
        if !article
            && (request.open_for_reprint
                || request.reprint_of.is_some()
                || request.continue_as_reprint)
        {
            return Err(SendError::NotAnArticle);
        }
        Ok(())
    }

    /// A declared original must be another account's article, in its history, open for
    /// reprint and not retracted.
    fn check_original(&self, account: AccountId, original: JobId) -> Result<(), SendError> {
        if original.account == account {
            return Err(SendError::UnknownOriginal(original));
        }
        let open = self
            .read_account(original.account, |state| {
                state.sent(original.seq).map(|sent| {
                    matches!(**sent.message(), Message::Article(_))
                        && !sent.is_retracted()
                        && sent.meta.open_for_reprint
                })
            })
            .flatten()
            .ok_or(SendError::UnknownOriginal(original))?;
        if !open {
            return Err(SendError::ReprintNotOpen(original));
        }
        Ok(())
    }
    /// Hands a job's runnable chunks to the pool (or finishes a job with no audience).
    pub(crate) fn start(&self, job: &Arc<Job>, ready: Vec<u32>) {
        self.pool().start(job, ready);
    }

    /// Holds back a send whose acceptance is not durable (its log write failed) until the
    /// log is written again: a send nobody was told succeeded must not reach anyone before
    /// it would survive a restart.
    fn park(&self, job: Arc<Job>, ready: Vec<u32>, lsn: u64) {
        self.parked.park(Parked { lsn, job, ready });
        // The log may have written the record since the failure, its hook finding nothing.
        if let Some(store) = self.store.get() {
            self.parked
                .start_due(self.pool(), store.wal.durable_up_to());
        }
    }

    /// The part of `send` under the account's write lock. Returns the job and, for a new
    /// job, its chunks that may run at once.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        account: AccountId,
        state: &mut AccountState,
        request: SendRequest,
        purpose: SendPurpose,
        single: Option<UserId>,
        schedule: Option<u32>,
        now: Millis,
    ) -> Result<Accepted, SendError> {
        let limits = &self.config.limits;
        let rules = &self.config.rules;
        let SendRequest {
            message,
            audience,
            idempotency_key: key,
            open_for_reprint,
            reprint_of,
            continue_as_reprint,
        } = request;
        if let Some(key) = &key
            && let Some(job) = state
                .idempotency
                .get(key, now, limits.idempotency_window_ms)
        {
            // The first send's record may still be on its way to disk: acknowledge the
            // repeat only once it is there.
            return Ok((job, None, self.last_logged()));
        }
        // The platform's rules, cheapest first; each refusal leaves everything unchanged.
        if let Some(registration) = &state.profile.registration {
            let missing = registration.missing();
            if !missing.is_empty() {
                return Err(SendError::RegistrationIncomplete { missing });
            }
        }
        if let Some(ban) = state.policy.active_ban(now) {
            return Err(SendError::Banned {
                ban,
                zone: rules.time_zone.clone(),
            });
        }
        // The day and month of `now` in the platform's zone; the day's counts reset when the
        // day after the one they count starts (see `policy` on clocks that step back).
        let at = rules.time_zone.period(now);
        let next_day_ms = || {
            let day = state.policy.counting_day(at);
            rules.time_zone.day_start(day.saturating_add(1))
        };
        match purpose {
            SendPurpose::Broadcast => {
                if state.profile.kind == Some(AccountKind::Subscription)
                    && state.policy.broadcasts_on(at) >= rules.subscription_broadcasts_per_day
                {
                    return Err(SendError::DailyLimit {
                        limit: rules.subscription_broadcasts_per_day,
                        next_day_ms: next_day_ms(),
                        zone: rules.time_zone.clone(),
                    });
                }
            }
            SendPurpose::Preview => {
                if state.policy.previews_on(at) >= rules.previews_per_day {
                    return Err(SendError::PreviewLimit {
                        limit: rules.previews_per_day,
                        next_day_ms: next_day_ms(),
                        zone: rules.time_zone.clone(),
                    });
                }
            }
            SendPurpose::Reply => {
                let user = single.map_or(u32::MAX, |u| u.0);
                state
                    .interaction
                    .may_reply(user, now, rules)
                    .map_err(|last_message_ms| SendError::ReplyWindowClosed { last_message_ms })?;
            }
        }
        if let Some(quota) = state.storage.quota_bytes {
            let needed = message.stored_bytes();
            if state.storage.used_bytes.saturating_add(needed) > quota {
                return Err(SendError::StorageQuota {
                    used: state.storage.used_bytes,
                    needed,
                    quota,
                });
            }
        }
        if let Some(id) = schedule
            && !state.schedules.contains_key(&id)
        {
            return Err(SendError::ScheduleGone(crate::ids::ScheduleId(id)));
        }
        let mut reprint_of = reprint_of;
        if purpose == SendPurpose::Broadcast
            && reprint_of.is_none()
            && let Message::Article(article) = &message
        {
            let print = originality::fingerprint(&article.body);
            if let Some(original) = self.originals.read().matching(print, account) {
                if !continue_as_reprint {
                    return Err(SendError::Unoriginal { original });
                }
                reprint_of = Some(original);
            }
        }
        let mut audience = match single {
            Some(user) => {
                if !state.graph.is_follower(user.0) {
                    return Err(SendError::InvalidAudience(
                        crate::error::AudienceError::NotFollowing {
                            open_ids: vec![self.codec.encode(account, user)],
                            count: 1,
                        },
                    ));
                }
                Arc::new(std::iter::once(user.0).collect::<RoaringBitmap>())
            }
            None => audience::resolve(
                &audience,
                &mut state.graph,
                |id| self.decode_open_id(account, id),
                limits,
            )?,
        };
        let mut filtered = 0;
        if purpose == SendPurpose::Broadcast && state.profile.kind == Some(AccountKind::Service) {
            let cap = rules.service_broadcasts_per_follower_month;
            let over = state.policy.over_cap(&audience, cap, at);
            if !over.is_empty() {
                filtered = over.len();
                audience = Arc::new(&*audience - &over);
            }
        }
        let seq = state
            .last_seq
            .checked_add(1)
            .ok_or(SendError::SequenceExhausted(account))?;
        self.pool()
            .try_reserve(self.config.max_pending_jobs)
            .map_err(|pending| SendError::Busy {
                pending,
                max: self.config.max_pending_jobs,
            })?;
        let meta = SendMeta {
            purpose,
            open_for_reprint,
            reprint_of,
        };
        let chunk_target = self.config.chunk_target.max(1);
        let lsn = self.log(|| {
            let mut bytes = Vec::with_capacity(audience.serialized_size());
            audience
                .serialize_into(&mut bytes)
                .expect("writing to a Vec cannot fail");
            Record::SendAccepted {
                account: account.0,
                seq,
                accepted_ms: now,
                chunk_target,
                key: key.clone(),
                message: message.clone(),
                audience: bytes,
                filtered,
                purpose: purpose_code(purpose),
                open_for_reprint,
                reprint_of: reprint_of.map(|j| (j.account.0, j.seq.0)),
                schedule,
            }
        });
        let sent = self.install_job(
            account,
            state,
            Accept {
                seq,
                message: Arc::new(message),
                audience,
                filtered,
                chunk_target,
                key,
                now,
                meta,
                schedule,
            },
        );
        // Nothing of it runs before its acceptance is durable (`submit` releases it).
        sent.job.hold();
        // Entered under the account's lock, so lanes see sends in sequence order.
        let ready = sent.job.enter_lanes();
        Ok((sent, Some(ready), lsn))
    }

    /// Creates an accepted send's job and records it in the account (history, idempotency,
    /// the rules' counters, the originality index) and the pool (in flight). The caller
    /// reserved its place in the pool. Shared by `accept` and log replay, so both count the
    /// same.
    pub(crate) fn install_job(
        &self,
        account: AccountId,
        state: &mut AccountState,
        a: Accept,
    ) -> Arc<Sent> {
        let rules = &self.config.rules;
        state.last_seq = a.seq;
        let job = Job::new(
            JobId {
                account,
                seq: Seq(a.seq),
            },
            a.message,
            a.audience,
            a.filtered,
            a.chunk_target,
            Arc::clone(&state.lanes),
            a.now,
            state.policy.limiter.clone(),
        );
        let at = rules.time_zone.period(a.now);
        match a.meta.purpose {
            SendPurpose::Broadcast => {
                state.policy.count_broadcast(at);
                if state.profile.kind == Some(AccountKind::Service) {
                    state.policy.count_monthly(
                        &job.audience,
                        rules.service_broadcasts_per_follower_month,
                        at,
                    );
                }
                if let Message::Article(article) = &*job.message {
                    self.originals
                        .write()
                        .insert(originality::fingerprint(&article.body), job.id);
                }
            }
            SendPurpose::Preview => state.policy.count_preview(at),
            SendPurpose::Reply => {}
        }
        if let Some(id) = a.schedule {
            state.schedules.remove(&id);
        }
        state.storage.used_bytes += job.message.stored_bytes();
        self.pool().register(&job);
        let sent = Sent::new(job, a.meta);
        state.history.push_back(Arc::clone(&sent));
        while state.history.len() > self.config.history_window.max(1) {
            if let Some(old) = state.history.pop_front() {
                state.storage.used_bytes = state
                    .storage
                    .used_bytes
                    .saturating_sub(old.message().stored_bytes());
            }
        }
        if let Some(key) = a.key {
            state.idempotency.insert(key, a.now, Arc::clone(&sent));
        }
        sent
    }

    /// The job of an earlier send, while it is in the account's history window.
    pub fn job(&self, id: JobId) -> Option<JobHandle> {
        self.read_account(id.account, |state| state.sent(id.seq).cloned())
            .flatten()
            .map(JobHandle::new)
    }

    /// Every finished job's report, as it finishes. A receiver that falls behind by more
    /// than `report_channel_capacity` reports is told how many it missed.
    pub fn reports(&self) -> broadcast::Receiver<JobReport> {
        self.reports.subscribe()
    }

    /// Jobs accepted and not yet finished.
    pub fn pending_jobs(&self) -> usize {
        self.pool().pending()
    }

    /// Blocks until every accepted job has finished.
    ///
    /// Fails instead of waiting forever when the log cannot be written and every unfinished
    /// job is a send whose acceptance waits for it (reported
    /// [`NotDurable`](StorageError::NotDurable) to its caller): such a send starts only once
    /// its record is written, which the engine retries on its own; [`Engine::sync`] retries
    /// at once (call it after freeing space, then `wait_idle` again).
    pub fn wait_idle(&self) -> Result<(), StorageError> {
        let pool = self.pool();
        loop {
            if pool.wait_idle_for(std::time::Duration::from_millis(50)) {
                return Ok(());
            }
            if let Some(cause) = self.storage_error() {
                let parked = self.parked.waiting();
                if parked > 0 && pool.live() <= parked {
                    return Err(StorageError::NotDurable(cause));
                }
            }
        }
    }

    // ----- inbox --------------------------------------------------------------------------

    /// Reads up to `limit` entries of `user`'s inbox from `cursor` (0 for the oldest kept).
    pub fn fetch(&self, user: UserId, cursor: u64, limit: usize) -> Result<Fetched, FetchError> {
        let inbox = self.inbox.as_ref().ok_or(FetchError::NoInbox)?;
        if !self.user_exists(user) {
            return Err(FetchError::UnknownUser(user));
        }
        let max = inbox.capacity();
        if limit == 0 || limit > max {
            return Err(FetchError::Limit { len: limit, max });
        }
        let (raw, missed_from) = self.read_inbox(inbox, user, cursor, limit);
        let mut items: Vec<InboxItem> = raw
            .entries
            .iter()
            .map(|(index, entry)| InboxItem {
                cursor: *index,
                account: AccountId(entry.account),
                seq: Seq(entry.seq),
                content: Content::Expired,
            })
            .collect();
        // Resolve contents with one shard lock per account, not one per entry.
        let mut accounts: Vec<AccountId> = items.iter().map(|i| i.account).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let next_cursor = items.last().map_or(raw.head, |i| i.cursor + 1);
        // Entries of terminated accounts and purged messages are gone: skipped.
        let mut gone: Vec<(AccountId, u32)> = Vec::new();
        let registered = self.account_count();
        for account in accounts {
            let found = self.read_account(account, |state| {
                for item in items.iter_mut().filter(|i| i.account == account) {
                    if let Some(job) = state.sent(item.seq) {
                        item.content = if job.is_retracted() {
                            Content::Retracted
                        } else {
                            Content::Message(job.current_message())
                        };
                    }
                }
                state.storage.purged_through
            });
            match found {
                Some(purged) if purged > 0 => gone.push((account, purged)),
                Some(_) => {}
                None if u64::from(account.0) < registered => gone.push((account, u32::MAX)),
                None => {}
            }
        }
        if !gone.is_empty() {
            items.retain(|i| {
                !gone
                    .iter()
                    .any(|(a, through)| *a == i.account && i.seq.0 <= *through)
            });
        }
        Ok(Fetched {
            items,
            next_cursor,
            missed: raw.missed,
            missed_from,
        })
    }

    /// Reads the inbox and, when entries were missed, names the accounts they came from.
    ///
    /// The fan-out path records nothing about evictions; the account histories hold each
    /// send's audience and delivery progress, and per (account, user) delivery follows
    /// sequence order, so the latest evicted entry of account A is: the latest send of A to
    /// the user before A's oldest retained entry, or, if none of A's entries is retained,
    /// A's latest send already delivered to the user. Histories are read before the inbox
    /// (a send seen delivered is then in the ring or evicted from it); the first read only
    /// finds the candidate accounts. An entry delivered and already evicted again while the
    /// fetch runs (a full inbox's worth of deliveries in between) counts in `missed` but may
    /// not be named.
    fn read_inbox(
        &self,
        inbox: &InboxStore,
        user: UserId,
        cursor: u64,
        limit: usize,
    ) -> (RawFetch, Vec<(AccountId, Seq)>) {
        let first = inbox.read(user.0, cursor, limit);
        if first.missed == 0 {
            return (first, Vec::new());
        }
        let mut candidates = self.reverse.accounts_of(user);
        candidates.extend(first.oldest_retained.iter().map(|(a, _)| *a));
        candidates.extend(self.reverse.departed_of(user));
        candidates.sort_unstable();
        candidates.dedup();
        // Per candidate, its sends to the user in the history, newest first, with whether
        // the user's delivery is done.
        let mut sends: Vec<(AccountId, Vec<(Seq, bool)>)> = Vec::with_capacity(candidates.len());
        for account in candidates {
            let found = self.read_account(account, |state| {
                state
                    .history
                    .iter()
                    .rev()
                    .filter(|s| s.job.audience.contains(user.0))
                    .map(|s| (s.id().seq, s.job.delivered_to(user.0)))
                    .collect::<Vec<_>>()
            });
            sends.push((account, found.unwrap_or_default()));
        }
        let raw = inbox.read(user.0, cursor, limit);
        let mut missed_from = Vec::new();
        for (account, to_user) in &sends {
            let retained = raw
                .oldest_retained
                .iter()
                .find(|(a, _)| a == account)
                .map(|(_, s)| *s);
            let latest_evicted = match retained {
                Some(first_kept) => to_user.iter().find(|(s, _)| *s < first_kept),
                None => to_user.iter().find(|(_, delivered)| *delivered),
            };
            if let Some((seq, _)) = latest_evicted {
                missed_from.push((*account, *seq));
            }
        }
        (raw, missed_from)
    }

    /// Messages `account` sent to `user` after sequence `after`, from the account's history:
    /// how a reader recovers entries its inbox evicted.
    pub fn recover(
        &self,
        user: UserId,
        account: AccountId,
        after: Seq,
        limit: usize,
    ) -> Result<Recovered, FetchError> {
        if !self.user_exists(user) {
            return Err(FetchError::UnknownUser(user));
        }
        let max = self.config.history_window.max(1);
        if limit == 0 || limit > max {
            return Err(FetchError::Limit { len: limit, max });
        }
        self.read_account(account, |state| Recovered {
            messages: state
                .history
                .iter()
                .filter(|s| s.id().seq > after && s.job.audience.contains(user.0))
                .filter(|j| !j.is_retracted())
                .take(limit)
                .map(|s| (s.id().seq, s.current_message()))
                .collect(),
            oldest_available: state.history.front().map(|s| s.id().seq),
        })
        .ok_or(FetchError::UnknownAccount(account))
    }

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

/// A send whose acceptance is applied but not yet durable: started once it is.
pub(crate) struct Parked {
    lsn: u64,
    job: Arc<Job>,
    ready: Vec<u32>,
}

/// The sends accepted while the log failed, waiting for their records to be durable.
///
/// The log calls [`start_due`](Self::start_due) after every write that succeeds (an atomic
/// load when nothing is parked), and `park` calls it once after parking: whichever comes
/// second finds the send, since the log publishes its durable bound before it looks at the
/// list and `park` fills the list before it reads the bound.
#[derive(Default)]
pub(crate) struct ParkedSends {
    /// `list.len()`, readable without the lock.
    count: AtomicUsize,
    list: Mutex<Vec<Parked>>,
}

impl ParkedSends {
    fn park(&self, parked: Parked) {
        let mut list = self.list.lock();
        list.push(parked);
        self.count.store(list.len(), Ordering::Release);
    }

    /// Parked sends whose jobs have not finished (one can finish unstarted: cancelled).
    fn waiting(&self) -> usize {
        if self.count.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let list = self.list.lock();
        list.iter()
            .filter(|p| !p.job.status().is_finished())
            .count()
    }

    /// Starts the parked sends whose records are below `durable_up_to`.
    pub(crate) fn start_due(&self, pool: &PoolShared, durable_up_to: u64) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let due: Vec<Parked> = {
            let mut list = self.list.lock();
            let (due, waiting) = std::mem::take(&mut *list)
                .into_iter()
                .partition(|p| p.lsn < durable_up_to);
            *list = waiting;
            self.count.store(list.len(), Ordering::Release);
            due
        };
        for Parked { job, ready, .. } in due {
            pool.start(&job, ready);
        }
    }
}

/// An accepted send, as `install_job` records it.
pub(crate) struct Accept {
    pub(crate) seq: u32,
    pub(crate) message: Arc<Message>,
    pub(crate) audience: Arc<RoaringBitmap>,
    pub(crate) filtered: u64,
    pub(crate) chunk_target: u32,
    pub(crate) key: Option<String>,
    pub(crate) now: Millis,
    pub(crate) meta: SendMeta,
    pub(crate) schedule: Option<u32>,
}

pub(crate) fn purpose_code(p: SendPurpose) -> u8 {
    match p {
        SendPurpose::Broadcast => 0,
        SendPurpose::Preview => 1,
        SendPurpose::Reply => 2,
    }
}

/// The purpose a stored code names; `None` for a code no build writes.
pub(crate) fn purpose_of(code: u8) -> Option<SendPurpose> {
    match code {
        0 => Some(SendPurpose::Broadcast),
        1 => Some(SendPurpose::Preview),
        2 => Some(SendPurpose::Reply),
        _ => None,
    }
}

/// A name is 1 to `max` characters, not blank, without control characters.
pub(crate) fn valid_name(name: &str, max: usize) -> bool {
    !name.trim().is_empty()
        && !name.chars().any(char::is_control)
        && (name.len() <= max || name.chars().count() <= max)
}
