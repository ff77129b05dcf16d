//! What a send asks for: the message, the audience, and its options (idempotency key,
//! reprint declarations), and what kind of send it became.

use crate::domain::audience::Audience;
use crate::ids::JobId;
use crate::message::Message;

/// A send as the account asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// What is sent; validated against the [`Limits`](crate::Limits) when the send is
    /// accepted.
    pub message: Message,
    /// Who it goes to, fixed as a set of followers when the send is accepted (a scheduled send:
    /// when it fires).
    pub audience: Audience,
    /// A client key: repeating it within the idempotency window returns the first job
    /// instead of sending again.
    pub idempotency_key: Option<String>,
    /// An article that other accounts may reprint directly (with attribution).
    pub open_for_reprint: bool,
    /// Declares the article a reprint of another account's article, which must be open for
    /// reprint; the reprint is attributed to it.
    pub reprint_of: Option<JobId>,
    /// If the article matches another account's article, send it anyway as a reprint of
    /// that article (attributed to it) instead of refusing it as unoriginal.
    pub continue_as_reprint: bool,
}

impl SendRequest {
    /// A send of `message` to `audience`, without an idempotency key or reprint options.
    pub fn new(message: Message, audience: Audience) -> Self {
        SendRequest {
            message,
            audience,
            idempotency_key: None,
            open_for_reprint: false,
            reprint_of: None,
            continue_as_reprint: false,
        }
    }

    /// Sets the idempotency key: 1 to
    /// [`Limits::idempotency_key_max_bytes`](crate::Limits::idempotency_key_max_bytes) bytes
    /// (default 64).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Marks the article open for reprint.
    pub fn open_for_reprint(mut self) -> Self {
        self.open_for_reprint = true;
        self
    }

    /// Declares the article a reprint of `original`.
    pub fn reprint_of(mut self, original: JobId) -> Self {
        self.reprint_of = Some(original);
        self
    }

    /// Sends a matching article as a reprint instead of refusing it.
    pub fn continue_as_reprint(mut self) -> Self {
        self.continue_as_reprint = true;
        self
    }
}

/// What kind of send a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SendPurpose {
    /// A broadcast to followers: subject to the daily and monthly limits.
    #[default]
    Broadcast,
    /// A preview to one follower.
    Preview,
    /// A reply to a follower who wrote to the account (or an auto-reply).
    Reply,
}

/// The facts about a send fixed at acceptance, beyond message and audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SendMeta {
    pub(crate) purpose: SendPurpose,
    pub(crate) open_for_reprint: bool,
    /// The original article this one reprints.
    pub(crate) reprint_of: Option<JobId>,
}
