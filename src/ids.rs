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
    pub account: AccountId,
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
