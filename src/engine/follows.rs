//! Follows and unfollows: one at a time, in bulk for one account, or as a batch of mixed
//! changes applied with their cache lines requested ahead; and the queries on the graph.

use std::sync::atomic::Ordering;

use crate::domain::account::AccountState;
use crate::engine::Engine;
use crate::engine::valid_name;
use crate::error::{FollowChangeError, FollowError, QueryError, StorageError, UnfollowError};
use crate::ids::OpenId;
use crate::ids::{AccountId, UserId};
use crate::journal::Record;
use crate::machinery::prefetch::prefetch;

/// Follows that came from one source (e.g. a QR code's scene).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStats {
    /// The source's name, as given to [`Engine::follow`].
    pub source: String,
    /// Current followers whose follow came from this source.
    pub current: u64,
    /// Follows from this source ever recorded, including those since undone.
    pub total: u64,
}

/// Changes a batch applies at a time: the lines of these changes are requested together
/// (see [`Engine::change_follows`]). Enough to keep the CPU's outstanding misses busy, few
/// enough that the first lines are still in cache when the group is applied.
const PREFETCH_GROUP: usize = 16;

/// One change of a follow edge, for [`Engine::change_follows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowChange {
    /// As [`Engine::follow`] without a source.
    Follow {
        /// The user who follows.
        user: UserId,
        /// The account to follow.
        account: AccountId,
    },
    /// As [`Engine::unfollow`].
    Unfollow {
        /// The user who unfollows.
        user: UserId,
        /// The account to unfollow.
        account: AccountId,
    },
}

impl FollowChange {
    /// The user the change is for.
    pub fn user(&self) -> UserId {
        match *self {
            FollowChange::Follow { user, .. } | FollowChange::Unfollow { user, .. } => user,
        }
    }

    /// The account the change is for.
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

/// # Follows
impl Engine {
    /// `user` follows `account`, optionally from a source such as a QR code's scene.
    /// Returns the user's OpenID for the account.
    pub fn follow(
        &self,
        account: AccountId,
        user: UserId,
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
                if new.is_empty() {
                    // Nothing changes, so nothing is logged; an earlier change this call
                    // saw must still be durable before the caller hears about it.
                    return Ok((0, self.last_logged()));
                }
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
    pub fn unfollow(&self, account: AccountId, user: UserId) -> Result<(), UnfollowError> {
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
    /// - on a durable engine the batch waits for one commit, not one per change (the results
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
                self.read_account(change.account(), |state| state.graph.prefetch_unapplied());
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

    /// Whether `user` follows `account` now.
    pub fn is_following(&self, account: AccountId, user: UserId) -> Result<bool, QueryError> {
        if !self.user_exists(user) {
            return Err(QueryError::UnknownUser(user));
        }
        self.read_account(account, |s| s.graph.is_follower(user.0))
            .ok_or(QueryError::UnknownAccount(account))
    }

    /// How many users follow `account` now.
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
}
