//! Inbox reads: a user's messages after a cursor, with what was missed when the inbox
//! overflowed, and recovering an account's recent messages from its history.

use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{FetchError, StorageError, WatchError};
use crate::ids::{AccountId, Seq, UserId};
use crate::machinery::inbox::{InboxStore, RawFetch};
use crate::message::Message;
use crate::sink::InboxWatcher;

/// What an inbox entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The message (for a corrected article, the corrected one).
    Message(Arc<Message>),
    /// The account retracted this message: a tombstone in place of its content.
    Retracted,
    /// The message left its account's history window (a terminated account's entries are
    /// not listed at all).
    Expired,
}

/// One entry of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxItem {
    /// This entry's position; fetch from `cursor + 1` to read what came after it.
    pub cursor: u64,
    /// The account that sent the message.
    pub account: AccountId,
    /// The message's sequence number among its account's sends.
    pub seq: Seq,
    /// What the entry shows now.
    pub content: Content,
}

/// The result of [`Engine::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched {
    /// The entries read, oldest first. Entries of terminated accounts and of purged messages
    /// are skipped, so there may be fewer than `limit` while more follow.
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
    /// Accounts the user no longer follows are named from the reverse index's record of
    /// recent unfollows: per shard of users, the newest 4 per user on average, copies
    /// included, so a user who unfollows and follows again very often can push other users'
    /// older unfollows out.
    pub missed_from: Vec<(AccountId, Seq)>,
}

/// The result of [`Engine::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovered {
    /// Messages of the account sent to the user after the given sequence, oldest first.
    pub messages: Vec<(Seq, Arc<Message>)>,
    /// The oldest sequence number still in the account's history; anything older is gone.
    pub oldest_available: Option<Seq>,
}

/// # Inboxes
///
/// What the embedded inbox store holds for a user (engines built without an external
/// [`Sink`](crate::Sink)).
impl Engine {
    /// Tells `watcher` of every chunk of deliveries that lands in the inbox from now on (see
    /// [`InboxWatcher`]): a push gateway wakes the readers of those users' inboxes with it
    /// instead of polling. An engine has at most one watcher, set once; deliveries replayed
    /// while the engine opened are not told.
    pub fn watch_inboxes(&self, watcher: Arc<dyn InboxWatcher>) -> Result<(), WatchError> {
        if self.inbox.is_none() {
            return Err(WatchError::NoInbox);
        }
        self.watcher
            .set(watcher)
            .map_err(|_| WatchError::AlreadyWatched)
    }

    /// Waits, without blocking a thread, until everything the engine applied before the
    /// call is durable: at once in memory. A reader that fetched inbox entries and waits for
    /// this before handing them on never shows an entry (or a cursor) that a crash could
    /// take back; deliveries are logged but not waited for by the fan-out. An error says
    /// the log cannot be written now ([`StorageError::NotDurable`]).
    pub async fn durable(&self) -> Result<(), StorageError> {
        self.commit_async(self.last_logged()).await
    }

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
        candidates.extend(self.reverse.recent_unfollows_of(user));
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
        account: AccountId,
        user: UserId,
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
}
