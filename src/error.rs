//! Typed errors, one type per operation.
//!
//! **Invariant:** every error below is returned *before* the operation changed anything: the
//! caller is left with the engine exactly as it was, and may correct the input and retry.
//! Two kinds need no correction to succeed later: [`SendError::Busy`] and
//! [`StorageError::Refused`] (nothing changed either). The one error returned *after* a
//! change is [`StorageError::NotDurable`], in every operation's `Storage` variant: the change
//! happened in memory and its durability is not known yet; [`StorageError`] says what to do.

use thiserror::Error;

use crate::clock::{LocalTime, Millis, TimeZone};
use crate::ids::{AccountId, JobId, OpenId, ScheduleId, SubjectId, TagId, UserId};
use crate::message::MessageError;

/// A ban on sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ban {
    /// Sending is refused before this time (ms since the epoch) and allowed from it on.
    Until(Millis),
    /// Sending is refused for good: no call lifts a permanent ban.
    Permanent,
}

impl Ban {
    /// Whether the ban refuses a send at `now` (ms since the epoch).
    pub fn is_active(self, now: Millis) -> bool {
        match self {
            Ban::Until(until) => now < until,
            Ban::Permanent => true,
        }
    }
}

/// A ban as a person reads it: "until" its end in the platform's zone, to the millisecond
/// (a send at 10:00:00.100 is refused by a ban until 10:00:00.100 and allowed at its end), or
/// "permanently".
struct BanIn<'a>(&'a Ban, &'a TimeZone);

impl std::fmt::Display for BanIn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Ban::Until(ms) => write!(f, "until {}", LocalTime::new(*ms, self.1)),
            Ban::Permanent => write!(f, "permanently"),
        }
    }
}

/// Shown in UTC, to the millisecond; [`SendError::Banned`] shows it in the platform's zone.
impl std::fmt::Display for Ban {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        BanIn(self, &TimeZone::utc()).fmt(f)
    }
}

/// Why registering an account failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The name is blank, longer than `max` characters or holds a control character.
    #[error("account name must be 1 to {max} characters without control characters")]
    InvalidName {
        /// The longest name allowed, in characters
        /// ([`Limits::account_name_max_chars`](crate::Limits::account_name_max_chars)).
        max: usize,
    },
    /// Every account id (2^32 - 1 of them) has been handed out; the ids of terminated
    /// accounts are not reused, so no account can be registered any more.
    #[error("account id space is exhausted")]
    IdsExhausted,
    /// No subject has this id; [`Engine::create_subject`](crate::Engine::create_subject)
    /// creates one.
    #[error("unknown {0}")]
    UnknownSubject(SubjectId),
    /// The subject holds as many accounts as it may; terminate one or have an exception
    /// approved ([`Engine::approve_quota`](crate::Engine::approve_quota)).
    #[error("{subject} already holds {held} accounts, its limit is {quota}")]
    QuotaReached {
        /// The subject.
        subject: SubjectId,
        /// Live accounts the subject holds now.
        held: u32,
        /// Accounts it may hold: its kind's default or an approved exception.
        quota: u32,
    },
    /// Registration information that is present is not valid (a field left empty is allowed:
    /// the account is registered, but cannot send until it is completed).
    #[error("invalid registration: {0}")]
    InvalidRegistration(#[from] RegistrationError),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Registration information that is present but not valid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The region is blank, longer than `max` characters or holds a control character.
    #[error("region must be 1 to {max} characters without control characters")]
    InvalidRegion {
        /// The longest region allowed, in characters
        /// ([`Rules::subject_name_max_chars`](crate::Rules::subject_name_max_chars)).
        max: usize,
    },
    /// The contact is neither a phone number (digits, spaces, `+`, `-`, parentheses; at least
    /// 5 digits) nor an e-mail address, is blank, holds a control character, or is longer than
    /// `max` characters.
    #[error("contact must be a phone number or an e-mail address of at most {max} characters")]
    InvalidContact {
        /// The longest contact allowed, in characters
        /// ([`Rules::contact_max_chars`](crate::Rules::contact_max_chars)).
        max: usize,
    },
}

/// Why creating a subject or changing its quota failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// The name is blank, longer than `max` characters or holds a control character.
    #[error("subject name must be 1 to {max} characters without control characters")]
    InvalidName {
        /// The longest name allowed, in characters
        /// ([`Rules::subject_name_max_chars`](crate::Rules::subject_name_max_chars)).
        max: usize,
    },
    /// No subject has this id.
    #[error("unknown {0}")]
    UnknownSubject(SubjectId),
    /// All 2^32 subject ids are taken; no subject can be created any more.
    #[error("subject id space is exhausted")]
    IdsExhausted,
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why changing an account's profile or settings failed (registration, verification,
/// violations, speed, retention, quota, auto-replies).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// Registration information that is present is not valid; nothing changed.
    #[error("invalid registration: {0}")]
    InvalidRegistration(#[from] RegistrationError),
    /// Registration information belongs to accounts registered under a subject.
    #[error("{0} was registered without a subject and has no registration information")]
    NoRegistration(AccountId),
    /// The speed tier is over 4: tiers are 0 to 4
    /// ([`Rules::speed_tiers_per_minute`](crate::Rules::speed_tiers_per_minute)), and `None`
    /// lifts the limit.
    #[error("speed tier must be 0 to 4, got {0}")]
    InvalidSpeedTier(u8),
    /// A retention of 0 ms; pass `None` to keep messages as long as the history window holds
    /// them.
    #[error("retention must be at least one millisecond")]
    InvalidRetention,
    /// The keyword is blank, longer than `max` characters or holds a control character.
    #[error("auto-reply keyword must be 1 to {max} characters without control characters")]
    InvalidKeyword {
        /// The longest keyword allowed, in characters
        /// ([`Rules::keyword_max_chars`](crate::Rules::keyword_max_chars)).
        max: usize,
    },
    /// The keyword is new and the account already has `max` auto-replies; remove one first
    /// (replacing the reply of an existing keyword is always allowed).
    #[error("the account already has the maximum of {max} auto-replies")]
    TooManyAutoReplies {
        /// The most auto-replies an account may have
        /// ([`Rules::auto_replies_per_account`](crate::Rules::auto_replies_per_account)).
        max: usize,
    },
    /// The account has no auto-reply for this keyword (keywords are compared exactly).
    #[error("no auto-reply for keyword {0:?}")]
    UnknownKeyword(String),
    /// The auto-reply message is not valid under the [`Limits`](crate::Limits).
    #[error("invalid auto-reply: {0}")]
    InvalidMessage(#[from] MessageError),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why terminating an account failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TerminateError {
    /// No live account has this id: it was never registered, or it is terminated already.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why scheduling or cancelling a send failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// The account has no pending scheduled send with this id: it never had one, or the send
    /// fired or was cancelled.
    #[error("unknown {0}")]
    UnknownSchedule(ScheduleId),
    /// The due time is not after the engine's clock; send now with
    /// [`Engine::send`](crate::Engine::send) instead.
    #[error("the send is due at {due_ms}, which is not after now ({now_ms})")]
    NotInFuture {
        /// When the send was to go out, in ms since the epoch.
        due_ms: Millis,
        /// The engine's clock at the call, in ms since the epoch.
        now_ms: Millis,
    },
    /// The account already has `max` scheduled sends pending; cancel one, or wait until one
    /// fires.
    #[error("the account already has the maximum of {max} scheduled sends")]
    TooMany {
        /// The most pending scheduled sends an account may have
        /// ([`Rules::schedules_per_account`](crate::Rules::schedules_per_account)).
        max: usize,
    },
    /// The send itself is invalid (message, audience, options).
    #[error("invalid send: {0}")]
    Invalid(SendError),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why retracting a send failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RetractError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// Not a send of this account, or no longer in its history.
    #[error("unknown {0}")]
    UnknownJob(JobId),
    /// The send is a text, image or voice message; only articles and videos can be retracted.
    #[error("only articles and videos can be retracted")]
    NotRetractable,
    /// The send was retracted before; nothing changed.
    #[error("{0} is already retracted")]
    AlreadyRetracted(JobId),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why correcting an article failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CorrectError {
    /// No live account has the job's account id: it was never registered, or it was
    /// terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// Not a send of this account, or no longer in its history.
    #[error("unknown {0}")]
    UnknownJob(JobId),
    /// The send is not an article; only articles can be corrected.
    #[error("only articles can be corrected")]
    NotAnArticle,
    /// The article was retracted; a retracted article cannot be corrected.
    #[error("{0} was retracted")]
    Retracted(JobId),
    /// The article was corrected as many times as `max`
    /// ([`Rules::corrections_per_article`](crate::Rules::corrections_per_article)) allows.
    #[error("{job} was already corrected; {}", CorrectionsAllowed(*max))]
    AlreadyCorrected {
        /// The article.
        job: JobId,
        /// Corrections allowed per article.
        max: u32,
    },
    /// The correction changes the title, summary or cover; only the body may change.
    #[error("a correction may change only the body, not the title, summary or cover")]
    FixedFieldChanged,
    /// The correction changes more than `max` characters (user-perceived characters, after
    /// NFC normalization). `changes`: how many it changes; when `more_than` is true, the
    /// count stopped there (100 past the limit) and it changes more.
    #[error(
        "a correction changes at most {max} characters; this one changes {}{changes}",
        if *more_than { "more than " } else { "" }
    )]
    TooManyChanges {
        /// Characters the correction changes or, when `more_than`, where the count stopped.
        changes: usize,
        /// Whether the correction changes more characters than `changes`.
        more_than: bool,
        /// The most characters a correction may change
        /// ([`Rules::correction_max_chars`](crate::Rules::correction_max_chars)).
        max: usize,
    },
    /// The corrected article is the one readers already get (the article as sent, or its
    /// latest correction).
    #[error("the correction changes nothing")]
    Unchanged,
    /// The corrected article is not valid under the [`Limits`](crate::Limits).
    #[error("invalid body: {0}")]
    InvalidMessage(#[from] MessageError),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// "an article may be corrected only once" (or twice, or n times, or not at all).
struct CorrectionsAllowed(u32);

impl std::fmt::Display for CorrectionsAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => write!(f, "articles may not be corrected"),
            1 => write!(f, "an article may be corrected only once"),
            2 => write!(f, "an article may be corrected only twice"),
            n => write!(f, "an article may be corrected only {n} times"),
        }
    }
}

/// Why a follower's message to an account failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InteractError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// No user has this id (the ids below [`Engine::user_count`](crate::Engine::user_count)
    /// exist).
    #[error("unknown {0}")]
    UnknownUser(UserId),
    /// The user does not follow the account; only followers may write to it.
    #[error("{user} does not follow {account}")]
    NotFollowing {
        /// The user who wrote.
        user: UserId,
        /// The account written to.
        account: AccountId,
    },
    /// The message is an article; followers may send text, image, voice and video messages.
    #[error("followers may send text, image, voice and video messages")]
    UnsupportedKind,
    /// The message is not valid under the [`Limits`](crate::Limits).
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] MessageError),
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why exporting an account failed (the file may be partly written; the engine is
/// unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// Creating or writing the file failed, after the account was read.
    #[error("writing the export: {0}")]
    Io(IoError),
}

/// Why adding users failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddUsersError {
    /// The new users would pass the 2^32 user ids; nothing changed. At most
    /// `2^32 - existing` more users can be added.
    #[error("adding {asked} users would pass the id space of 2^32 ({existing} exist)")]
    IdsExhausted {
        /// Users that exist.
        existing: u64,
        /// Users asked for.
        asked: u64,
    },
    /// The memory the new users need (their reverse-index slots and inboxes) could not be
    /// reserved. Nothing changed, and what was reserved on the way was given back.
    #[error("cannot reserve memory for {asked} more users ({existing} exist)")]
    OutOfMemory {
        /// Users that exist.
        existing: u64,
        /// Users asked for.
        asked: u64,
    },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why a follow failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FollowError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// No user has this id (the ids below [`Engine::user_count`](crate::Engine::user_count)
    /// exist).
    #[error("unknown {0}")]
    UnknownUser(UserId),
    /// The user already follows the account; nothing changed (their OpenID is
    /// [`Engine::open_id`](crate::Engine::open_id)).
    #[error("{user} already follows {account}")]
    AlreadyFollowing {
        /// The user.
        user: UserId,
        /// The account.
        account: AccountId,
    },
    /// The source is blank, longer than `max` characters or holds a control character.
    #[error("follow source must be 1 to {max} characters without control characters")]
    InvalidSource {
        /// The longest source allowed, in characters
        /// ([`Limits::source_max_chars`](crate::Limits::source_max_chars)).
        max: usize,
    },
    /// The source is new and the account already has `max` distinct sources; follow without
    /// a source, or with one the account has.
    #[error("{account} already has the maximum of {max} follow sources")]
    TooManySources {
        /// The account.
        account: AccountId,
        /// The most distinct sources an account may have
        /// ([`Limits::sources_per_account`](crate::Limits::sources_per_account)).
        max: usize,
    },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why an unfollow failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UnfollowError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// No user has this id (the ids below [`Engine::user_count`](crate::Engine::user_count)
    /// exist).
    #[error("unknown {0}")]
    UnknownUser(UserId),
    /// The user does not follow the account; nothing changed.
    #[error("{user} does not follow {account}")]
    NotFollowing {
        /// The user.
        user: UserId,
        /// The account.
        account: AccountId,
    },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why one change of [`Engine::change_follows`](crate::Engine::change_follows) failed: the
/// error its single call would have returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FollowChangeError {
    /// A [`FollowChange::Follow`](crate::FollowChange::Follow) failed, as
    /// [`Engine::follow`](crate::Engine::follow) would have.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// A [`FollowChange::Unfollow`](crate::FollowChange::Unfollow) failed, as
    /// [`Engine::unfollow`](crate::Engine::unfollow) would have.
    #[error(transparent)]
    Unfollow(#[from] UnfollowError),
}

/// Why a tag operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TagError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// The account has no tag with this id: it never had one, or the tag was deleted.
    #[error("unknown {0}")]
    UnknownTag(TagId),
    /// The tag name is blank, longer than `max` characters or holds a control character.
    #[error("tag name must be 1 to {max} characters without control characters")]
    InvalidName {
        /// The longest tag name allowed, in characters
        /// ([`Limits::tag_name_max_chars`](crate::Limits::tag_name_max_chars)).
        max: usize,
    },
    /// The account already has a tag with this name (names are compared exactly).
    #[error("a tag named {0:?} already exists")]
    DuplicateName(String),
    /// The account already has `max` tags; delete one first.
    #[error("the account already has the maximum of {max} tags")]
    TooManyTags {
        /// The most tags an account may have
        /// ([`Limits::tags_per_account`](crate::Limits::tags_per_account)).
        max: usize,
    },
    /// Tagging would give a follower more than `max` of the account's tags; the whole batch
    /// is refused.
    #[error("follower {open_id} already carries the maximum of {max} tags")]
    TooManyTagsOnFollower {
        /// The first follower in the batch who already carries `max` tags.
        open_id: OpenId,
        /// The most tags a follower may carry in one account
        /// ([`Limits::tags_per_follower`](crate::Limits::tags_per_follower)).
        max: usize,
    },
    /// Not an OpenID this account issued for an existing user; the whole batch is refused.
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    /// The user behind this OpenID does not follow the account (any more); the whole batch is
    /// refused.
    #[error("{0} does not follow this account")]
    NotFollowing(OpenId),
    /// The batch is empty or holds more than `max` OpenIDs (duplicates included).
    #[error("a batch must hold 1 to {max} OpenIDs, got {len}")]
    BatchSize {
        /// OpenIDs in the batch.
        len: usize,
        /// The most OpenIDs one call takes
        /// ([`Limits::tag_batch_max`](crate::Limits::tag_batch_max)).
        max: usize,
    },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why an audience was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AudienceError {
    /// The account has no tag with this id: it never had one, or the tag was deleted.
    #[error("unknown {0}")]
    UnknownTag(TagId),
    /// The list names too few distinct followers: `len` counts its distinct ids
    /// (duplicates count once).
    #[error("an OpenID list must hold {min} to {max} distinct ids, got {len}")]
    ListSize {
        /// Distinct followers the list names.
        len: usize,
        /// The fewest distinct followers a list must name
        /// ([`Limits::openid_list_min`](crate::Limits::openid_list_min)).
        min: usize,
        /// The most ids a list may hold
        /// ([`Limits::openid_list_max`](crate::Limits::openid_list_max)).
        max: usize,
    },
    /// The list is longer than `max` entries, duplicates included (a bound on the work of
    /// checking it, whatever its distinct ids).
    #[error("an OpenID list may hold at most {max} ids, duplicates included, got {len}")]
    ListTooLong {
        /// Ids in the list, duplicates included.
        len: usize,
        /// The most ids a list may hold
        /// ([`Limits::openid_list_max`](crate::Limits::openid_list_max)).
        max: usize,
    },
    /// Not an OpenID this account issued for an existing user (made up, another account's,
    /// or of a user who does not exist).
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    /// Ids that name users who do not follow the account (any more). `count` of them in
    /// all; `open_ids` names them in list order, each once, the first
    /// [`MAX_NAMED`](Self::MAX_NAMED) only.
    #[error("{}", NotFollowingText(open_ids, *count))]
    NotFollowing {
        /// The ids of users who do not follow, in list order, each once, at most
        /// [`MAX_NAMED`](Self::MAX_NAMED) of them.
        open_ids: Vec<OpenId>,
        /// Distinct users in the list who do not follow the account.
        count: usize,
    },
    /// The tag expression has more than `max` nodes.
    #[error("tag expression has {nodes} nodes, over the limit of {max}")]
    ExpressionTooLarge {
        /// Nodes in the expression, as [`TagExpr::nodes`](crate::TagExpr::nodes) counts them.
        nodes: usize,
        /// The most nodes an expression may have
        /// ([`Limits::tag_expr_max_nodes`](crate::Limits::tag_expr_max_nodes)).
        max: usize,
    },
    /// An `And` or an `Or` in the tag expression has no operands.
    #[error("tag expression has an empty and/or")]
    EmptyExpression,
}

impl AudienceError {
    /// Most ids one [`NotFollowing`](Self::NotFollowing) names.
    pub const MAX_NAMED: usize = 100;
}

/// "fc1f... does not follow this account", or "3 OpenIDs do not follow this account: a, b,
/// c", with "and n more" past the ones named.
struct NotFollowingText<'a>(&'a [OpenId], usize);

impl std::fmt::Display for NotFollowingText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let NotFollowingText(named, count) = *self;
        if let ([one], 1) = (named, count) {
            return write!(f, "{one} does not follow this account");
        }
        write!(f, "{count} OpenIDs do not follow this account: ")?;
        for (i, id) in named.iter().enumerate() {
            write!(f, "{}{id}", if i > 0 { ", " } else { "" })?;
        }
        if count > named.len() {
            write!(f, " and {} more", count - named.len())?;
        }
        Ok(())
    }
}

/// Why a send was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// The message is not valid under the [`Limits`](crate::Limits).
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] MessageError),
    /// The audience does not resolve against the account's followers and tags; for a preview
    /// or reply, the OpenID is not valid or does not name a follower.
    #[error("invalid audience: {0}")]
    InvalidAudience(#[from] AudienceError),
    /// The idempotency key is empty or longer than `max` bytes.
    #[error("idempotency key must be 1 to {max} bytes")]
    InvalidIdempotencyKey {
        /// The longest key allowed, in bytes
        /// ([`Limits::idempotency_key_max_bytes`](crate::Limits::idempotency_key_max_bytes)).
        max: usize,
    },
    /// Too many sends are still delivering ([`EngineConfig::max_unfinished_jobs`], across
    /// all accounts). Nothing was accepted; retry later.
    ///
    /// [`EngineConfig::max_unfinished_jobs`]: crate::EngineConfig::max_unfinished_jobs
    #[error("busy: {unfinished} sends are still delivering, the limit is {max}; retry later")]
    Busy {
        /// Sends accepted and not yet finished, across all accounts.
        unfinished: usize,
        /// The limit
        /// ([`EngineConfig::max_unfinished_jobs`](crate::EngineConfig::max_unfinished_jobs)).
        max: usize,
    },
    /// The engine is being dropped and its fan-out workers are stopping; nothing was accepted.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The account has sent 2^32 - 1 messages; it cannot send more.
    #[error("{0} has used every sequence number")]
    SequenceExhausted(AccountId),
    /// The account's registration information is incomplete; complete it with
    /// [`Engine::update_registration`](crate::Engine::update_registration).
    #[error("registration incomplete, missing: {}", missing.join(", "))]
    RegistrationIncomplete {
        /// The missing fields, of `"region"`, `"category"` and `"contact"`, in that order.
        missing: Vec<&'static str>,
    },
    /// The account is banned from sending; a temporary ban lifts by itself at its end (the
    /// text shows the end in `zone`, the platform's time zone, to the millisecond).
    #[error("banned from sending {}", BanIn(ban, zone))]
    Banned {
        /// The ban in force.
        ban: Ban,
        /// The platform's time zone ([`Rules::time_zone`](crate::Rules::time_zone)).
        zone: TimeZone,
    },
    /// A subscription account already sent its broadcasts for today, a calendar day of
    /// `zone` (the platform's time zone); sending is allowed again from `next_day_ms`.
    #[error(
        "the daily limit of {limit} broadcasts is used; the next day starts at {}",
        LocalTime::new(*next_day_ms, zone)
    )]
    DailyLimit {
        /// Broadcasts a subscription account may send per day
        /// ([`subscription_broadcasts_per_day`](crate::Rules::subscription_broadcasts_per_day)).
        limit: u32,
        /// The start of the next calendar day in `zone`, in ms since the epoch.
        next_day_ms: Millis,
        /// The platform's time zone ([`Rules::time_zone`](crate::Rules::time_zone)).
        zone: TimeZone,
    },
    /// The account already sent its previews for today (as for `DailyLimit`).
    #[error(
        "the daily limit of {limit} previews is used; the next day starts at {}",
        LocalTime::new(*next_day_ms, zone)
    )]
    PreviewLimit {
        /// Previews an account may send per day
        /// ([`Rules::previews_per_day`](crate::Rules::previews_per_day)).
        limit: u32,
        /// The start of the next calendar day in `zone`, in ms since the epoch: previews are
        /// allowed again from then.
        next_day_ms: Millis,
        /// The platform's time zone ([`Rules::time_zone`](crate::Rules::time_zone)).
        zone: TimeZone,
    },
    /// The article matches `original`, another account's article, and is not declared a
    /// reprint. Send it with `continue_as_reprint` to send it as a reprint of `original`.
    #[error("the article matches {original} of another account; declare it a reprint")]
    Unoriginal {
        /// The matching article: its account and send.
        original: JobId,
    },
    /// The declared original (`reprint_of`) is a send of this same account, or is not in the
    /// history of another live account (never sent, or no longer in the history window).
    #[error("{0} is not a send of another account in its history window")]
    UnknownOriginal(JobId),
    /// The declared original cannot be reprinted: it was not sent open for reprint, it was
    /// retracted, or it is not an article.
    #[error("{0} is not open for reprint")]
    ReprintNotOpen(JobId),
    /// The request asks for `open_for_reprint`, `reprint_of` or `continue_as_reprint`, and its
    /// message is not an article.
    #[error("only articles can be reprinted or opened for reprint")]
    NotAnArticle,
    /// Storing the message would pass the account's storage quota.
    #[error("storage quota: {used} of {quota} bytes used, the message needs {needed}")]
    StorageQuota {
        /// Bytes the account's kept messages take now
        /// ([`Message::stored_bytes`](crate::Message::stored_bytes)).
        used: u64,
        /// Bytes this message would take.
        needed: u64,
        /// The account's quota, in bytes
        /// ([`Engine::set_storage_quota`](crate::Engine::set_storage_quota)).
        quota: u64,
    },
    /// A scheduled send fired after it was cancelled or had fired already; nothing sent.
    #[error("{0} was cancelled or has fired already")]
    ScheduleGone(ScheduleId),
    /// Replies are allowed only within the window after the follower's last message.
    #[error("the reply window is closed (follower's last message: {last_message_ms:?})")]
    ReplyWindowClosed {
        /// When the follower last wrote to the account, in ms since the epoch; `None` if they
        /// have not written since they last followed it.
        last_message_ms: Option<Millis>,
    },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why a read of an account's data failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No live account has this id: it was never registered, or it was terminated.
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// No user has this id (the ids below [`Engine::user_count`](crate::Engine::user_count)
    /// exist).
    #[error("unknown {0}")]
    UnknownUser(UserId),
    /// The account has no tag with this id.
    #[error("unknown {0}")]
    UnknownTag(TagId),
    /// No subject has this id.
    #[error("unknown {0}")]
    UnknownSubject(SubjectId),
    /// The job's account has no send with this sequence number in its history (never sent,
    /// or no longer in the history window).
    #[error("unknown {0}")]
    UnknownJob(JobId),
    /// Not an OpenID this account issued for an existing user (made up, another account's, or
    /// of a user who does not exist).
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    /// The page size is 0 or over `max`.
    #[error("page size must be 1 to {max}, got {len}")]
    PageSize {
        /// The page size asked for.
        len: usize,
        /// The largest page
        /// ([`Limits::follower_page_max`](crate::Limits::follower_page_max)).
        max: usize,
    },
}

/// Why [`Engine::watch_inboxes`](crate::Engine::watch_inboxes) refused a watcher.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The engine delivers to an external [`Sink`](crate::Sink): there is no inbox to watch.
    #[error("this engine delivers to an external sink and keeps no inbox")]
    NoInbox,
    /// A watcher was set before; an engine has one.
    #[error("the inboxes are watched already")]
    AlreadyWatched,
}

/// Why an inbox read failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No user has this id (the ids below [`Engine::user_count`](crate::Engine::user_count)
    /// exist).
    #[error("unknown {0}")]
    UnknownUser(UserId),
    /// No live account has this id (only [`Engine::recover`](crate::Engine::recover) names
    /// one).
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// The engine delivers to an external [`Sink`](crate::Sink) and keeps no inbox to fetch
    /// from; [`Engine::recover`](crate::Engine::recover) still reads the accounts' histories.
    #[error("this engine delivers to an external sink and keeps no inbox")]
    NoInbox,
    /// `limit` is 0 or over `max`.
    #[error("a fetch takes 1 to {max} entries, asked for {len}")]
    Limit {
        /// Entries asked for.
        len: usize,
        /// The most one call returns: the inbox capacity
        /// ([`EngineConfig::inbox_capacity`](crate::EngineConfig::inbox_capacity)) for
        /// [`Engine::fetch`](crate::Engine::fetch), the history window
        /// ([`EngineConfig::history_window`](crate::EngineConfig::history_window)) for
        /// [`Engine::recover`](crate::Engine::recover).
        max: usize,
    },
}

/// An operating-system I/O error, kept whole: its [`kind`](Self::kind) (for example
/// [`std::io::ErrorKind::StorageFull`] when the disk is full) and OS error code survive, and
/// it is cheap to clone. Two are equal when their kind, OS code and text are.
#[derive(Clone)]
pub struct IoError(std::sync::Arc<std::io::Error>);

impl IoError {
    /// The error's kind, e.g. `StorageFull` for "no space left on device" (ENOSPC).
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }

    /// The operating system's error code, if the error came from the OS (28 for ENOSPC).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.0.raw_os_error()
    }

    /// The original error.
    pub fn get_ref(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        IoError(std::sync::Arc::new(e))
    }
}

impl std::fmt::Debug for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind()
            && self.raw_os_error() == other.raw_os_error()
            && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for IoError {}

/// Why the data directory could not be opened, written or snapshotted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation failed; `what` says which (e.g. "writing the log"), `source` keeps
    /// the operating system's error and its kind (`StorageFull` when the disk is full).
    #[error("{what}: {source}")]
    Io {
        /// The operation that failed, e.g. "writing the log".
        what: String,
        /// The I/O error, with its kind and OS error code.
        source: IoError,
    },
    /// Another engine, in this process or another, has the data directory open (it holds the
    /// directory's `LOCK` file); the string is the directory's path.
    #[error("the data directory {0} is in use by another process")]
    Locked(String),
    /// The configured `openid_secret` is not the one the directory was created with: every
    /// OpenID would change. Nothing was opened.
    #[error("the data directory {0} was created with another OpenID secret; configure that secret")]
    SecretMismatch(String),
    /// `file` has a format version this build does not read: `supported` is the version it
    /// writes (it also reads the older versions listed in `docs/format.md`).
    #[error(
        "{file} has format version {found}; this build writes version {supported} and reads the older ones"
    )]
    Version {
        /// The file's path.
        file: String,
        /// The format version the file has.
        found: u32,
        /// The format version this build writes (it reads older ones too).
        supported: u32,
    },
    /// A file holds something the engine never writes (not a torn write, which recovery
    /// cuts and reports in `recovery_warnings`): the directory was changed by someone else.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The log ends before the position the newest valid snapshot covers (log segments were
    /// removed or cut short), so the state cannot be rebuilt; the string gives both positions.
    #[error("no valid snapshot and no complete log: {0}")]
    Unrecoverable(String),
    /// Memory ran out while opening the directory (its state is larger than this process
    /// may hold); the directory is unchanged.
    #[error("not enough memory to open the data directory: {0}")]
    OutOfMemory(String),
    /// Snapshots and syncs need a data directory; this engine is in memory only.
    #[error("this engine is in memory only; open it on a data directory")]
    InMemory,
}

impl StoreError {
    pub(crate) fn io(what: &str, e: std::io::Error) -> Self {
        StoreError::Io {
            what: what.to_owned(),
            source: e.into(),
        }
    }

    /// The kind of the underlying I/O error, if this is one (e.g. `StorageFull`).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            StoreError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// A change that met a storage failure, and whether it may have happened.
///
/// Every operation that changes state (follow, send, tag, ...) reports storage failures
/// through this type, in its own error's `Storage` variant. The two cases differ in what the
/// caller must do:
///
/// - [`Refused`](Self::Refused): nothing changed; retry later.
/// - [`NotDurable`](Self::NotDurable): the change happened in memory but is not yet
///   durable; it becomes durable if the log can be written again before the process ends,
///   and is lost otherwise. Do not blindly repeat it (a repeated send without an
///   idempotency key would go out twice once the log recovers): read the state, or repeat
///   with the same idempotency key.
///
/// ## After a storage failure
/// The engine keeps the log records it could not write and retries writing them on its
/// own (every few milliseconds at first, then at most every second, and at once on
/// [`Engine::sync`](crate::Engine::sync)). Until a retry succeeds, every change is
/// [`Refused`](Self::Refused) and [`Engine::storage_error`](crate::Engine::storage_error)
/// returns the cause; reads keep working. Once a retry succeeds (space was freed), the
/// changes that reported `NotDurable` are durable, sends among them start delivering, and
/// changes are accepted again: the same engine recovers without being reopened. If the
/// engine is dropped (or the process ends) while the log still fails, everything
/// acknowledged is kept, and of the changes that reported `NotDurable` some prefix, in the
/// order they happened, may be kept too (a failed write can leave whole records on disk):
/// after reopening, read the state to know which.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The change was refused before anything happened: the log cannot be written at the
    /// moment (an earlier write failed and its retry has not succeeded yet).
    #[error("refused, nothing changed: {0}")]
    Refused(StoreError),
    /// The change was applied in memory, but its log record could not be written: it is
    /// visible now and becomes durable only if a retry of the log succeeds before the
    /// process ends. A send reported this way starts delivering once its record is durable.
    #[error("applied but not durable yet: {0}")]
    NotDurable(StoreError),
}

impl StorageError {
    /// Whether the change may have happened (and may survive a restart): true for
    /// [`NotDurable`](Self::NotDurable).
    pub fn may_have_happened(&self) -> bool {
        matches!(self, StorageError::NotDurable(_))
    }

    /// The storage failure behind it.
    pub fn cause(&self) -> &StoreError {
        match self {
            StorageError::Refused(e) | StorageError::NotDurable(e) => e,
        }
    }
}

/// Why [`Reports`](crate::Reports) returned no report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReportsError {
    /// The reader fell behind and this many reports were dropped for it; the next read
    /// returns the oldest report still kept.
    #[error("fell behind: {0} job reports were dropped")]
    Missed(u64),
    /// The engine was dropped; no report will come.
    #[error("the engine was dropped")]
    Closed,
}
