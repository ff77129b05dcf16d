//! A sent message as the account's history keeps it: the job delivering it, what kind of
//! send it was, and what happened to it afterwards (a retraction, corrections). The job
//! (`machinery/job.rs`) knows only recipients and progress; everything a reader of the
//! message needs to know lives here, and [`JobHandle`] shows both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::domain::send::SendMeta;
use crate::ids::JobId;
use crate::machinery::job::{Job, JobReport, JobStatus};
use crate::message::Message;

/// One accepted send, owned by its account's history (and by the idempotency keys and the
/// handles that name it).
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) job: Arc<Job>,
    /// What kind of send this is, and its reprint attribution.
    pub(crate) meta: SendMeta,
    /// Set once by a retraction (under the account's write lock).
    retracted: AtomicBool,
    /// How many corrections there were and the latest (written under the account's write
    /// lock; read by fetches).
    corrected: Mutex<(u32, Option<Arc<Message>>)>,
}

impl Sent {
    pub(crate) fn new(job: Arc<Job>, meta: SendMeta) -> Arc<Sent> {
        Arc::new(Sent {
            job,
            meta,
            retracted: AtomicBool::new(false),
            corrected: Mutex::new((0, None)),
        })
    }

    pub(crate) fn id(&self) -> JobId {
        self.job.id
    }

    pub(crate) fn is_retracted(&self) -> bool {
        self.retracted.load(Ordering::Acquire)
    }

    pub(crate) fn retract(&self) {
        self.retracted.store(true, Ordering::Release);
    }

    /// The message as sent.
    pub(crate) fn message(&self) -> &Arc<Message> {
        &self.job.message
    }

    /// The message readers see now: the latest correction, if corrected.
    pub(crate) fn current_message(&self) -> Arc<Message> {
        let corrected = self.corrected.lock();
        Arc::clone(corrected.1.as_ref().unwrap_or(&self.job.message))
    }

    /// How many times the message was corrected, and the latest correction.
    pub(crate) fn corrections(&self) -> (u32, Option<Arc<Message>>) {
        self.corrected.lock().clone()
    }

    /// Records a correction (restoring one: `count` is the total after it).
    pub(crate) fn correct(&self, message: Arc<Message>, count: u32) {
        *self.corrected.lock() = (count, Some(message));
    }

    /// A retraction shows in every report, whatever the delivery's own status.
    fn overlay(&self, mut report: JobReport) -> JobReport {
        if self.is_retracted() {
            report.status = JobStatus::Retracted;
        }
        report
    }
}

/// The caller's view of an accepted send.
///
/// ```
/// # use herald::*;
/// let engine = Engine::new(EngineConfig::default());
/// let users = engine.add_users(3).unwrap();
/// let account = engine.register_account("news").unwrap();
/// for user in users { engine.follow(account, user, None).unwrap(); }
/// let job = engine.send(account, SendRequest::new(Message::Text("hi".into()), Audience::All)).unwrap();
/// let report = job.wait();
/// assert_eq!((report.total, report.sent), (3, 3));
/// ```
#[derive(Clone)]
pub struct JobHandle {
    pub(crate) sent: Arc<Sent>,
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.sent.job.fmt(f)
    }
}

impl JobHandle {
    pub(crate) fn new(sent: Arc<Sent>) -> JobHandle {
        JobHandle { sent }
    }

    /// The send's id: its account and sequence number.
    pub fn id(&self) -> JobId {
        self.sent.id()
    }

    /// The job's status; `Retracted` once the message was withdrawn.
    pub fn status(&self) -> JobStatus {
        if self.sent.is_retracted() {
            return JobStatus::Retracted;
        }
        self.sent.job.status()
    }

    /// The message as sent (a correction does not change it; see
    /// [`Engine::article`](crate::Engine::article)).
    pub fn message(&self) -> &Arc<Message> {
        self.sent.message()
    }

    /// The report so far; final once `status().is_finished()`.
    pub fn report(&self) -> JobReport {
        self.sent.overlay(self.sent.job.report())
    }

    /// Blocks until the job finishes and returns its final report.
    ///
    /// This parks the calling thread; from async code use [`finished`](Self::finished).
    pub fn wait(&self) -> JobReport {
        self.sent.overlay(self.sent.job.wait())
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<JobReport> {
        self.sent
            .job
            .wait_timeout(timeout)
            .map(|r| self.sent.overlay(r))
    }

    /// Waits without blocking a thread (for tokio and other async runtimes).
    pub async fn finished(&self) -> JobReport {
        self.sent.overlay(self.sent.job.finished().await)
    }
}
