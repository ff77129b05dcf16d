//! Users: adding them (reserving their inboxes and reverse-index slots fallibly), and the
//! OpenIDs under which each account sees them.

use std::sync::atomic::Ordering;

use crate::engine::Engine;
use crate::error::{AddUsersError, QueryError};
use crate::ids::OpenId;
use crate::ids::{AccountId, UserId, UserIds};
use crate::journal::Record;

/// # Users
///
/// Users are dense internal ids; an account sees each of them under an OpenID of its own.
impl Engine {
    /// Creates `count` users with consecutive ids and returns them.
    pub fn add_users(&self, count: u32) -> Result<UserIds, AddUsersError> {
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
        Ok(UserIds::new(existing as u32, count))
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

    /// How many users exist: their ids are `0..user_count()`.
    pub fn user_count(&self) -> u64 {
        self.users.load(Ordering::Acquire)
    }

    pub(crate) fn user_exists(&self, user: UserId) -> bool {
        u64::from(user.0) < self.user_count()
    }

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
}
