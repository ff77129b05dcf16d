//! Identifiers: internal user and account ids, per-account sequence numbers and job ids.
//!
//! Users and accounts are dense `u32` ids handed out by the engine. Accounts never see a
//! [`UserId`]; they see [`OpenId`]s instead (computed in `domain/openid.rs`).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A user's internal id: dense, assigned by [`Engine::add_users`](crate::Engine::add_users).
///
/// Only the embedding service sees these; accounts see [`OpenId`](crate::OpenId)s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct UserId(pub u32);

/// An account's id: dense, assigned by [`Engine::register_account`](crate::Engine::register_account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct AccountId(pub u32);

/// The position of a message in its account's send order, starting at 1.
///
/// Sequence numbers are dense per account: the account's n-th accepted send gets `Seq(n)`.
/// `(AccountId, Seq)` identifies a delivery to an external sink, so a sink that sees a
/// delivery twice (after a restart) can drop the repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct Seq(pub u32);

/// A tag inside one account (tag ids are not shared between accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct TagId(pub u32);

/// A send job: the send with sequence `seq` of account `account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId {
    /// The account that sent it.
    pub account: AccountId,
    /// Its place in the account's send order.
    pub seq: Seq,
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {}", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {}", self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag {}", self.0)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {}/{}", self.account.0, self.seq.0)
    }
}

/// A subject: the individual or organization that owns accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct SubjectId(pub u32);

/// A scheduled send of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct ScheduleId(pub u32);

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subject {}", self.0)
    }
}

impl fmt::Display for ScheduleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "schedule {}", self.0)
    }
}

/// A user as one account sees it. Displayed and parsed as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct OpenId(pub u64);

impl fmt::Display for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for OpenId {
    type Err = ParseOpenIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseOpenIdError);
        }
        u64::from_str_radix(s, 16)
            .map(OpenId)
            .map_err(|_| ParseOpenIdError)
    }
}

/// A string that is not an OpenID's display form (16 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not an OpenID: expected 16 hexadecimal digits")]
pub struct ParseOpenIdError;

/// Consecutive user ids, as [`Engine::add_users`](crate::Engine::add_users) creates them.
/// Iterates as [`UserId`]s.
///
/// ```
/// # use herald::*;
/// let engine = Engine::new(EngineConfig::default());
/// let users = engine.add_users(3).unwrap();
/// assert_eq!((users.first(), users.len()), (UserId(0), 3));
/// assert!(users.contains(UserId(2)) && !users.contains(UserId(3)));
/// let ids: Vec<UserId> = users.iter().collect();
/// assert_eq!(ids, [UserId(0), UserId(1), UserId(2)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserIds {
    first: u32,
    count: u32,
}

impl UserIds {
    /// `count` ids from `first` on; `first + count` may be at most 2^32.
    pub(crate) fn new(first: u32, count: u32) -> UserIds {
        debug_assert!(u64::from(first) + u64::from(count) <= 1 << 32);
        UserIds { first, count }
    }

    /// The first id (the one the next batch would have had, when empty).
    pub fn first(&self) -> UserId {
        UserId(self.first)
    }

    /// The last id, if there are any.
    pub fn last(&self) -> Option<UserId> {
        (self.count > 0).then(|| UserId(self.first + (self.count - 1)))
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `user` is one of them.
    pub fn contains(&self, user: UserId) -> bool {
        user.0.wrapping_sub(self.first) < self.count
    }

    /// The `index`-th id, if there are that many.
    pub fn get(&self, index: usize) -> Option<UserId> {
        (index < self.len()).then(|| UserId(self.first + index as u32))
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> UserIdsIter {
        UserIdsIter {
            next: u64::from(self.first),
            end: u64::from(self.first) + u64::from(self.count),
        }
    }
}

impl IntoIterator for UserIds {
    type Item = UserId;
    type IntoIter = UserIdsIter;

    fn into_iter(self) -> UserIdsIter {
        self.iter()
    }
}

impl IntoIterator for &UserIds {
    type Item = UserId;
    type IntoIter = UserIdsIter;

    fn into_iter(self) -> UserIdsIter {
        self.iter()
    }
}

/// The ids of a [`UserIds`], ascending.
#[derive(Debug, Clone)]
pub struct UserIdsIter {
    next: u64,
    end: u64,
}

impl Iterator for UserIdsIter {
    type Item = UserId;

    fn next(&mut self) -> Option<UserId> {
        (self.next < self.end).then(|| {
            self.next += 1;
            UserId((self.next - 1) as u32)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for UserIdsIter {
    fn next_back(&mut self) -> Option<UserId> {
        (self.next < self.end).then(|| {
            self.end -= 1;
            UserId(self.end as u32)
        })
    }
}

impl ExactSizeIterator for UserIdsIter {}

impl std::iter::FusedIterator for UserIdsIter {}
