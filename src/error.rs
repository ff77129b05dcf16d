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
    Permanent,
}

impl Ban {
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
    #[error("account name must be 1 to {max} characters without control characters")]
    InvalidName { max: usize },
    #[error("account id space is exhausted")]
    IdsExhausted,
    #[error("unknown {0}")]
    UnknownSubject(SubjectId),
    /// The subject holds as many accounts as it may; terminate one or have an exception
    /// approved ([`Engine::approve_quota`](crate::Engine::approve_quota)).
    #[error("{subject} already holds {held} accounts, its limit is {quota}")]
    QuotaReached {
        subject: SubjectId,
        held: u32,
        quota: u32,
    },
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
    #[error("region must be 1 to {max} characters without control characters")]
    InvalidRegion { max: usize },
    #[error("contact must be a phone number or an e-mail address of at most {max} characters")]
    InvalidContact { max: usize },
}

/// Why creating a subject or changing its quota failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SubjectError {
    #[error("subject name must be 1 to {max} characters without control characters")]
    InvalidName { max: usize },
    #[error("unknown {0}")]
    UnknownSubject(SubjectId),
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("invalid registration: {0}")]
    InvalidRegistration(#[from] RegistrationError),
    /// Registration information belongs to accounts registered under a subject.
    #[error("{0} was registered without a subject and has no registration information")]
    NoRegistration(AccountId),
    #[error("speed tier must be 0 to 4, got {0}")]
    InvalidSpeedTier(u8),
    #[error("retention must be at least one millisecond")]
    InvalidRetention,
    #[error("auto-reply keyword must be 1 to {max} characters without control characters")]
    InvalidKeyword { max: usize },
    #[error("the account already has the maximum of {max} auto-replies")]
    TooManyAutoReplies { max: usize },
    #[error("no auto-reply for keyword {0:?}")]
    UnknownKeyword(String),
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownSchedule(ScheduleId),
    #[error("the send is due at {due_ms}, which is not after now ({now_ms})")]
    NotInFuture { due_ms: Millis, now_ms: Millis },
    #[error("the account already has the maximum of {max} scheduled sends")]
    TooMany { max: usize },
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    /// Not a send of this account, or no longer in its history.
    #[error("unknown {0}")]
    UnknownJob(JobId),
    #[error("only articles and videos can be retracted")]
    NotRetractable,
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownJob(JobId),
    #[error("only articles can be corrected")]
    NotAnArticle,
    #[error("{0} was retracted")]
    Retracted(JobId),
    /// The article was corrected as many times as `max`
    /// ([`Rules::corrections_per_article`](crate::Rules::corrections_per_article)) allows.
    #[error("{job} was already corrected; {}", CorrectionsAllowed(*max))]
    AlreadyCorrected { job: JobId, max: u32 },
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
        changes: usize,
        more_than: bool,
        max: usize,
    },
    #[error("the correction changes nothing")]
    Unchanged,
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("unknown {0}")]
    UnknownUser(UserId),
    #[error("{user} does not follow {account}")]
    NotFollowing { user: UserId, account: AccountId },
    #[error("followers may send text, image, voice and video messages")]
    UnsupportedKind,
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("writing the export: {0}")]
    Io(IoError),
}

/// Why adding users failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AddUsersError {
    #[error("adding {asked} users would pass the id space of 2^32 ({existing} exist)")]
    IdsExhausted { existing: u64, asked: u64 },
    /// The memory the new users need (their reverse-index slots and inboxes) could not be
    /// reserved. Nothing changed, and what was reserved on the way was given back.
    #[error("cannot reserve memory for {asked} more users ({existing} exist)")]
    OutOfMemory { existing: u64, asked: u64 },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
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
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
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
    #[error(transparent)]
    Follow(#[from] FollowError),
    #[error(transparent)]
    Unfollow(#[from] UnfollowError),
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
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Why an audience was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AudienceError {
    #[error("unknown {0}")]
    UnknownTag(TagId),
    /// The list names too few distinct followers: `len` counts its distinct ids
    /// (duplicates count once).
    #[error("an OpenID list must hold {min} to {max} distinct ids, got {len}")]
    ListSize { len: usize, min: usize, max: usize },
    /// The list is longer than `max` entries, duplicates included (a bound on the work of
    /// checking it, whatever its distinct ids).
    #[error("an OpenID list may hold at most {max} ids, duplicates included, got {len}")]
    ListTooLong { len: usize, max: usize },
    /// Not an OpenID this account issued for an existing user (made up, another account's,
    /// or of a user who does not exist).
    #[error("{0} is not an OpenID of this account")]
    InvalidOpenId(OpenId),
    /// Ids that name users who do not follow the account (any more). `count` of them in
    /// all; `open_ids` names them in list order, each once, the first
    /// [`MAX_NAMED`](Self::MAX_NAMED) only.
    #[error("{}", NotFollowingText(open_ids, *count))]
    NotFollowing { open_ids: Vec<OpenId>, count: usize },
    #[error("tag expression has {nodes} nodes, over the limit of {max}")]
    ExpressionTooLarge { nodes: usize, max: usize },
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
    #[error("unknown {0}")]
    UnknownAccount(AccountId),
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] MessageError),
    #[error("invalid audience: {0}")]
    InvalidAudience(#[from] AudienceError),
    #[error("idempotency key must be 1 to {max} bytes")]
    InvalidIdempotencyKey { max: usize },
    /// The fan-out queue is full. Nothing was accepted; retry later.
    #[error("busy: {unfinished} sends are still delivering, the limit is {max}; retry later")]
    Busy { unfinished: usize, max: usize },
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The account has sent 2^32 - 1 messages; it cannot send more.
    #[error("{0} has used every sequence number")]
    SequenceExhausted(AccountId),
    /// The account's registration information is incomplete; complete it with
    /// [`Engine::update_registration`](crate::Engine::update_registration).
    #[error("registration incomplete, missing: {}", missing.join(", "))]
    RegistrationIncomplete { missing: Vec<&'static str> },
    /// The account is banned from sending; a temporary ban lifts by itself at its end (the
    /// text shows the end in `zone`, the platform's time zone, to the millisecond).
    #[error("banned from sending {}", BanIn(ban, zone))]
    Banned { ban: Ban, zone: TimeZone },
    /// A subscription account already sent its broadcasts for today, a calendar day of
    /// `zone` (the platform's time zone); sending is allowed again from `next_day_ms`.
    #[error(
        "the daily limit of {limit} broadcasts is used; the next day starts at {}",
        LocalTime::new(*next_day_ms, zone)
    )]
    DailyLimit {
        limit: u32,
        next_day_ms: Millis,
        zone: TimeZone,
    },
    /// The account already sent its previews for today (as for `DailyLimit`).
    #[error(
        "the daily limit of {limit} previews is used; the next day starts at {}",
        LocalTime::new(*next_day_ms, zone)
    )]
    PreviewLimit {
        limit: u32,
        next_day_ms: Millis,
        zone: TimeZone,
    },
    /// The article matches `original`, another account's article, and is not declared a
    /// reprint. Send it with `continue_as_reprint` to send it as a reprint of `original`.
    #[error("the article matches {original} of another account; declare it a reprint")]
    Unoriginal { original: JobId },
    #[error("{0} is not an article of another account in its history")]
    UnknownOriginal(JobId),
    #[error("{0} is not open for reprint")]
    ReprintNotOpen(JobId),
    #[error("only articles can be reprinted or opened for reprint")]
    NotAnArticle,
    /// Storing the message would pass the account's storage quota.
    #[error("storage quota: {used} of {quota} bytes used, the message needs {needed}")]
    StorageQuota { used: u64, needed: u64, quota: u64 },
    /// A scheduled send fired after it was cancelled or had fired already; nothing sent.
    #[error("{0} was cancelled or has fired already")]
    ScheduleGone(ScheduleId),
    /// Replies are allowed only within the window after the follower's last message.
    #[error("the reply window is closed (follower's last message: {last_message_ms:?})")]
    ReplyWindowClosed { last_message_ms: Option<Millis> },
    /// A storage failure: the change was refused, or happened but is not durable yet (see
    /// [`StorageError`] for which, and what to do).
    #[error("storage: {0}")]
    Storage(StorageError),
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
    #[error("unknown {0}")]
    UnknownSubject(SubjectId),
    #[error("unknown {0}")]
    UnknownJob(JobId),
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
    Io { what: String, source: IoError },
    #[error("the data directory {0} is in use by another process")]
    Locked(String),
    /// The configured `openid_secret` is not the one the directory was created with: every
    /// OpenID would change. Nothing was opened.
    #[error("the data directory {0} was created with another OpenID secret; configure that secret")]
    SecretMismatch(String),
    /// `file` has a format version this build does not read: `supported` is the version it
    /// writes (it also reads the older versions listed in `docs/format.md`).
    #[error("{file} has format version {found}; this build reads version {supported}")]
    Version {
        file: String,
        found: u32,
        supported: u32,
    },
    /// A file holds something the engine never writes (not a torn write, which recovery
    /// cuts and reports in `recovery_warnings`): the directory was changed by someone else.
    #[error("corrupt data: {0}")]
    Corrupt(String),
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
