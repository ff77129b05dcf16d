//! Where deliveries go: the [`Sink`] trait the embedding service implements.
//!
//! The fan-out pool calls a sink once per chunk of an audience: one [`Batch`] names many
//! recipients and one shared message. A sink should hand the batch off quickly (to a queue,
//! a push gateway's client, ...) rather than block: a worker thread is busy for as long as
//! `deliver` runs.
//!
//! ## Delivery guarantees
//! A batch that returns `Ok` is counted as sent for every recipient in it. A batch that
//! returns `Err` (or panics) is retried up to [`EngineConfig::sink_retries`] times, then its
//! recipients are counted as errors in the job's report. So a recipient may be handed to a
//! sink more than once (a retried batch, or a restart); `(batch.job.account, batch.job.seq,
//! recipient)` is the idempotency key a sink uses to drop repeats.
//!
//! [`EngineConfig::sink_retries`]: crate::EngineConfig::sink_retries

use std::sync::Arc;

use crate::ids::{JobId, UserId};
use crate::message::Message;

/// One sink call: a batch of recipients of one message.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The send: account and sequence number, the per-delivery idempotency key.
    pub job: JobId,
    /// Which chunk of the job this is (a job's chunks are numbered from 0).
    pub chunk: u32,
    /// The message, shared by every recipient and every batch of the send.
    pub message: &'a Arc<Message>,
    /// Internal user ids of the recipients, ascending, each at most once per job.
    pub recipients: &'a [u32],
    /// 0 for the first try, then 1, 2, ... for retries of this same batch.
    pub attempt: u32,
}

impl Batch<'_> {
    /// The recipients as [`UserId`]s, ascending.
    pub fn users(&self) -> impl ExactSizeIterator<Item = UserId> + '_ {
        self.recipients.iter().map(|&u| UserId(u))
    }
}

/// Why a sink refused a batch; its text goes into logs and the job's last error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sink refused the batch: {0}")]
pub struct SinkError(pub String);

/// A destination for deliveries. Implementations must be thread safe: batches of different
/// jobs (and of the same job, for disjoint recipients) arrive concurrently.
///
/// For one account and one recipient, batches arrive in the account's send order: a batch of
/// a later send is not handed out before every batch of an earlier send of the same account
/// that shares a recipient block has returned.
pub trait Sink: Send + Sync + 'static {
    /// Delivers one batch, from a fan-out worker. `Ok` counts every recipient as sent; an
    /// `Err` (or a panic) has the batch retried, up to
    /// [`EngineConfig::sink_retries`](crate::EngineConfig::sink_retries) times, and then counts
    /// its recipients as errors.
    fn deliver(&self, batch: &Batch<'_>) -> Result<(), SinkError>;
}

/// Told when deliveries land in the embedded inbox: what a push gateway watches to wake
/// the connections of the recipients (see [`Engine::watch_inboxes`]).
///
/// [`Engine::watch_inboxes`]: crate::Engine::watch_inboxes
pub trait InboxWatcher: Send + Sync + 'static {
    /// Called once per chunk, after `job`'s entries were appended to the inboxes of
    /// `recipients` (internal user ids, ascending): a fetch from now on sees them. In a
    /// durable engine they may not be durable yet ([`Engine::durable`] waits for that).
    ///
    /// It runs on a fan-out worker (or the thread of a small send) and must not block:
    /// mark the users and wake whoever reads their inboxes, nothing more.
    ///
    /// [`Engine::durable`]: crate::Engine::durable
    fn appended(&self, job: JobId, recipients: &[u32]);
}
