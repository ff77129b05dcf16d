//! Typed errors, one type per operation.
//!
//! **Invariant:** every error below is returned *before* the operation changed anything: the
//! caller is left with the engine exactly as it was, and may correct the input and retry.
//! The one exception is documented on [`SendError::Busy`]: nothing changed either, but the
//! same call may succeed later without any correction.

use thiserror::Error;

use crate::OpenId;
use crate::ids::{AccountId, TagId, UserId};

/// A string that is not an OpenID's display form (16 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not an OpenID: expected 16 hexadecimal digits")]
pub struct ParseOpenIdError;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} {unit}, over the limit of {max}")]
    TooLong {
        field: &'static str,
        len: u64,
        max: u64,
        unit: &'static str,
    },
    #[error("{field} must be {expected} media, got a {got:?} file")]
    WrongMediaKind {
        field: &'static str,
        expected: &'static str,
        got: crate::MediaFormat,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
}

/// Why registering an account failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegisterError {
    #[error("account name must be 1 to {max} characters without control characters")]
    InvalidName { max: usize },
    #[error("account id space is exhausted")]
    IdsExhausted,
    /// The change was applied in memory but could not be made durable: it may be lost in
    /// a crash. The engine refuses further changes until reopened.
    #[error("storage: {0}")]
    Storage(StoreError),
}

/// Why adding users failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddUsersError {
    #[error("adding {asked} users would pass the id space of 2^32 ({existing} exist)")]
    IdsExhausted { existing: u64, asked: u64 },
    /// The change was applied in memory but could not be made durable: it may be lost in
    /// a crash. The engine refuses further changes until reopened.
    #[error("storage: {0}")]
    Storage(StoreError),
}

/// Why a follow failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FollowError {
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownUser(UserId),
    #[error("{user} already follows {account}")]
    AlreadyFollowing { user: UserId, account: AccountId },
    #[error("follow source must be 1 to {max} characters without control characters")]
    InvalidSource { max: usize },
    #[error("{account} already has the maximum of {max} follow sources")]
    TooManySources { account: AccountId, max: usize },
    /// The change was applied in memory but could not be made durable: it may be lost in
    /// a crash. The engine refuses further changes until reopened.
    #[error("storage: {0}")]
    Storage(StoreError),
}

/// Why an unfollow failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UnfollowError {
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownUser(UserId),
    #[error("{user} does not follow {account}")]
    NotFollowing { user: UserId, account: AccountId },
    /// The change was applied in memory but could not be made durable: it may be lost in
    /// a crash. The engine refuses further changes until reopened.
    #[error("storage: {0}")]
    Storage(StoreError),
}

/// Why a tag operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TagError {
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownTag(TagId),
    #[error("tag name must be 1 to {max} characters without control characters")]
    InvalidName { max: usize },
    #[error("a tag named {0:?} already exists")]
    DuplicateName(String),
    #[error("the account already has the maximum of {max} tags")]
    TooManyTags { max: usize },
    #[error("follower {open_id} already carries the maximum of {max} tags")]
    TooManyTagsOnFollower { open_id: OpenId, max: usize },
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    #[error("{0} does not follow this account")]
    NotFollowing(OpenId),
    #[error("a batch must hold 1 to {max} OpenIDs, got {len}")]
    BatchSize { len: usize, max: usize },
    /// The change was applied in memory but could not be made durable: it may be lost in
    /// a crash. The engine refuses further changes until reopened.
    #[error("storage: {0}")]
    Storage(StoreError),
}

/// Why an audience was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AudienceError {
    #[error("unknown {0}")]
    UnknownTag(TagId),
    #[error("an OpenID list must hold {min} to {max} distinct ids, got {len}")]
    ListSize { len: usize, min: usize, max: usize },
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    #[error("{0} does not follow this account")]
    NotFollowing(OpenId),
    #[error("tag expression has {nodes} nodes, over the limit of {max}")]
    ExpressionTooLarge { nodes: usize, max: usize },
    #[error("tag expression has an empty and/or")]
    EmptyExpression,
}

/// Why a send was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] MessageError),
    #[error("invalid audience: {0}")]
    InvalidAudience(#[from] AudienceError),
    #[error("idempotency key must be 1 to {max} bytes")]
    InvalidIdempotencyKey { max: usize },
    /// The fan-out queue is full. Nothing was accepted; retry later.
    #[error("busy: {pending} jobs are pending, the limit is {max}; retry later")]
    Busy { pending: usize, max: usize },
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The account has sent 2^32 - 1 messages; it cannot send more.
    #[error("{0} has used every sequence number")]
    SequenceExhausted(AccountId),
    /// The change was applied in memory but could not be made durable: it may be lost in
    /// a crash. The engine refuses further changes until reopened.
    #[error("storage: {0}")]
    Storage(StoreError),
}

/// Why a read of an account's data failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownUser(UserId),
    #[error("unknown {0}")]
    UnknownTag(TagId),
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    #[error("page size must be 1 to {max}, got {len}")]
    PageSize { len: usize, max: usize },
}

/// Why an inbox read failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("unknown {0}")]
    UnknownUser(UserId),
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("this engine delivers to an external sink and keeps no inbox")]
    NoInbox,
    #[error("a fetch takes 1 to {max} entries, asked for {len}")]
    Limit { len: usize, max: usize },
}

/// Why the data directory could not be opened or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{what}: {detail}")]
    Io { what: String, detail: String },
    #[error("the data directory {0} is in use by another process")]
    Locked(String),
    #[error("{file} has format version {found}; this build reads version {supported}")]
    Version {
        file: String,
        found: u32,
        supported: u32,
    },
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("no valid snapshot and no complete log: {0}")]
    Unrecoverable(String),
    /// A write to the log failed earlier; the engine no longer acknowledges changes.
    #[error("the log failed, changes are no longer durable: {0}")]
    Failed(String),
}

impl StoreError {
    pub(crate) fn io(what: &str, e: &std::io::Error) -> Self {
        StoreError::Io {
            what: what.to_owned(),
            detail: e.to_string(),
        }
    }
}
