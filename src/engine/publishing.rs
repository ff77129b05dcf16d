//! Publishing beyond the plain broadcast: previews, scheduled sends (and the tick that
//! fires them and applies retention), retraction, corrections and article information.
//!
//! ## Time
//! Scheduled sends and retention follow the engine's [`Clock`](crate::Clock). Nothing fires
//! by itself unless something calls [`Engine::run_due`]: tests call it after moving a
//! [`ManualClock`](crate::ManualClock); a service on the system clock starts
//! [`Engine::spawn_ticker`], a thread that calls it periodically.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::Millis;
use crate::domain::account::Scheduled;
use crate::domain::correction::{Changes, count_changes};
use crate::domain::send::{SendPurpose, SendRequest};
use crate::domain::sent::JobHandle;
use crate::engine::Engine;
use crate::engine::accounts::{StoreErrorOf, Unknown};
use crate::error::{CorrectError, QueryError, RetractError, ScheduleError, SendError};
use crate::ids::OpenId;
use crate::ids::{AccountId, JobId, ScheduleId};
use crate::journal::Record;
use crate::message::{Article, Message};

/// A pending scheduled send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduledSend {
    /// Its id, for [`Engine::cancel_schedule`].
    pub id: ScheduleId,
    /// When it is due, in ms since the epoch; it fires at the first [`Engine::run_due`] from
    /// then on.
    pub due_ms: Millis,
    /// The send as it was scheduled.
    pub request: SendRequest,
}

/// What [`Engine::run_due`] did with one due scheduled send.
#[derive(Debug)]
#[non_exhaustive]
pub struct Fired {
    /// The account that sends.
    pub account: AccountId,
    /// The scheduled send.
    pub schedule: ScheduleId,
    /// When it was due, in ms since the epoch.
    pub due_ms: Millis,
    /// The job, or why the send was refused when it came due. A send refused by the rules
    /// or its input is dropped; one refused for a passing reason (`Busy`, `ShuttingDown`,
    /// `Storage`) stays scheduled and is tried again at the next tick. A send cancelled
    /// meanwhile (`ScheduleGone`) is not listed.
    pub result: Result<JobHandle, SendError>,
}

/// What is known about a sent message (articles above all).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArticleInfo {
    /// The send.
    pub job: JobId,
    /// Broadcast, preview or reply.
    pub purpose: SendPurpose,
    /// Whether other accounts may reprint it.
    pub open_for_reprint: bool,
    /// The article this one reprints: its account and send.
    pub reprint_of: Option<JobId>,
    /// Corrections made so far.
    pub corrections: u32,
    /// Whether the account retracted it.
    pub retracted: bool,
    /// The message as readers see it now (corrected, if it was).
    pub message: Arc<Message>,
}

/// A background thread calling [`Engine::run_due`]; stops when dropped or when the engine
/// is dropped.
#[derive(Debug)]
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// # Platform rules: previews, schedules, retraction, corrections, reprints
impl Engine {
    // ----- previews -----------------------------------------------------------------------

    /// Sends `message` to one follower only, to check it before broadcasting; at most
    /// [`Rules::previews_per_day`](crate::Rules::previews_per_day) a day. Not counted as a
    /// broadcast.
    pub fn preview(
        &self,
        account: AccountId,
        open_id: OpenId,
        message: Message,
    ) -> Result<JobHandle, SendError> {
        self.send_to_one(account, open_id, message, SendPurpose::Preview)
    }

    // ----- scheduled sends ----------------------------------------------------------------

    /// Schedules a broadcast for `due_ms` (after now). The request is checked now against
    /// everything that does not depend on the time of sending; the audience is fixed, and
    /// the send limits applied, when it fires.
    pub fn schedule(
        &self,
        account: AccountId,
        request: SendRequest,
        due_ms: Millis,
    ) -> Result<ScheduleId, ScheduleError> {
        self.check_request(&request)
            .map_err(ScheduleError::Invalid)?;
        let now = self.clock.now_ms();
        if due_ms <= now {
            return Err(ScheduleError::NotInFuture {
                due_ms,
                now_ms: now,
            });
        }
        let max = self.config.rules.schedules_per_account;
        let gate = self.begin().map_err(ScheduleError::Storage)?;
        let (id, lsn) = self
            .write_account(account, |state| {
                // The audience must make sense now (its tags exist, its ids follow).
                crate::domain::audience::resolve(
                    &request.audience,
                    &mut state.graph,
                    |id| self.decode_open_id(account, id),
                    &self.config.limits,
                )
                .map_err(|e| ScheduleError::Invalid(SendError::InvalidAudience(e)))?;
                if state.schedules.len() >= max {
                    return Err(ScheduleError::TooMany { max });
                }
                let id = state.next_schedule;
                let lsn = self.log(|| Record::Schedule {
                    account: account.0,
                    id,
                    due_ms,
                    request: request.clone(),
                });
                state.next_schedule += 1;
                state.schedules.insert(id, Scheduled { due_ms, request });
                Ok((ScheduleId(id), lsn))
            })
            .unwrap_or(Err(ScheduleError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(ScheduleError::Storage)?;
        Ok(id)
    }

    /// Cancels a scheduled send that has not fired yet.
    pub fn cancel_schedule(&self, account: AccountId, id: ScheduleId) -> Result<(), ScheduleError> {
        self.change_account(
            account,
            |state| {
                if state.schedules.contains_key(&id.0) {
                    Ok(())
                } else {
                    Err(ScheduleError::UnknownSchedule(id))
                }
            },
            || Record::Unschedule {
                account: account.0,
                id: id.0,
            },
            |state| {
                state.schedules.remove(&id.0);
            },
        )
    }

    /// The account's pending scheduled sends, by id.
    pub fn scheduled(&self, account: AccountId) -> Result<Vec<ScheduledSend>, QueryError> {
        self.read_account(account, |state| {
            state
                .schedules
                .iter()
                .map(|(id, s)| ScheduledSend {
                    id: ScheduleId(*id),
                    due_ms: s.due_ms,
                    request: s.request.clone(),
                })
                .collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    /// Fires every scheduled send that is due by the engine's clock (in due order), purges
    /// messages past their account's retention, and drops idle follower-order caches.
    /// Returns what happened to each send.
    pub fn run_due(&self) -> Vec<Fired> {
        let now = self.clock.now_ms();
        let mut due: Vec<(Millis, AccountId, u32, SendRequest)> = Vec::new();
        let n = self.accounts.len();
        for (shard_index, shard) in self.accounts.iter().enumerate() {
            for (index, state) in shard.read().iter().enumerate() {
                let Some(state) = state else { continue };
                let account = AccountId((index * n + shard_index) as u32);
                for (id, s) in state.schedules.iter().filter(|(_, s)| s.due_ms <= now) {
                    due.push((s.due_ms, account, *id, s.request.clone()));
                }
            }
        }
        due.sort_unstable_by_key(|d| (d.0, d.1, d.2));
        let mut fired = Vec::with_capacity(due.len());
        for (due_ms, account, id, request) in due {
            let result = self.submit(account, request, SendPurpose::Broadcast, None, Some(id));
            match &result {
                Ok(_)
                | Err(SendError::Busy { .. })
                | Err(SendError::ShuttingDown)
                | Err(SendError::Storage(_))
                | Err(SendError::ScheduleGone(_)) => {}
                // Refused by the rules at its time: drop it (the caller sees why).
                Err(_) => {
                    let _ = self.cancel_schedule(account, ScheduleId(id));
                }
            }
            if matches!(result, Err(SendError::ScheduleGone(_))) {
                continue;
            }
            fired.push(Fired {
                account,
                schedule: ScheduleId(id),
                due_ms,
                result,
            });
        }
        self.purge_expired(now);
        self.evict_idle_follower_orders(now);
        fired
    }

    /// Starts a thread that calls [`run_due`](Self::run_due) every `every`, until the
    /// returned [`Ticker`] or the engine is dropped.
    pub fn spawn_ticker(engine: &Arc<Engine>, every: Duration) -> Ticker {
        let weak: Weak<Engine> = Arc::downgrade(engine);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("herald-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    match weak.upgrade() {
                        Some(engine) => drop(engine.run_due()),
                        None => return,
                    }
                    std::thread::park_timeout(every);
                }
            })
            .expect("spawning the ticker thread");
        Ticker {
            stop,
            thread: Some(thread),
        }
    }

    // ----- retraction ---------------------------------------------------------------------

    /// Withdraws a sent article or video: its job's status becomes `Retracted` and readers
    /// fetching it from now on get [`Content::Retracted`](crate::Content::Retracted).
    pub fn retract(&self, job: JobId) -> Result<(), RetractError> {
        let account = job.account;
        self.change_account(
            account,
            |state| {
                let sent = state.sent(job.seq).ok_or(RetractError::UnknownJob(job))?;
                if !matches!(**sent.message(), Message::Article(_) | Message::Video(_)) {
                    return Err(RetractError::NotRetractable);
                }
                if sent.is_retracted() {
                    return Err(RetractError::AlreadyRetracted(job));
                }
                Ok(())
            },
            || Record::Retract {
                account: account.0,
                seq: job.seq.0,
            },
            |state| self.apply_retract(state, job),
        )
    }

    pub(crate) fn apply_retract(
        &self,
        state: &mut crate::domain::account::AccountState,
        job: JobId,
    ) {
        if let Some(sent) = state.sent(job.seq) {
            sent.retract();
            self.originals.write().remove_job(job);
        }
    }

    // ----- corrections --------------------------------------------------------------------

    /// Corrects a sent article: only the body may change, by at most
    /// [`Rules::correction_max_chars`](crate::Rules::correction_max_chars) characters
    /// (insertions, deletions and replacements of user-perceived characters, after NFC
    /// normalization: an emoji or a flag is one, `e` + a combining accent is `é`) from the
    /// body as sent, at most [`Rules::corrections_per_article`](crate::Rules::corrections_per_article)
    /// times. Readers fetching afterwards get the corrected article.
    pub fn correct_article(&self, job: JobId, corrected: Article) -> Result<(), CorrectError> {
        let rules = &self.config.rules;
        let message = Message::Article(corrected);
        message.validate(&self.config.limits)?;
        let Message::Article(corrected) = &message else {
            unreachable!("built as an article above");
        };
        let body = corrected.body.clone();
        let max = rules.correction_max_chars;
        // Counted before taking the account's lock, which the counting would otherwise hold
        // for a normalization and segmentation of both bodies: the message as sent never
        // changes (a correction replaces what readers get, not `sent.message`), so the count
        // holds if the job under the lock still has the message counted here.
        let counted = self
            .read_account(job.account, |state| {
                state.sent(job.seq).map(|sent| Arc::clone(sent.message()))
            })
            .flatten()
            .and_then(|sent| match &*sent {
                Message::Article(original) => {
                    let changes = count_changes(&original.body, &corrected.body, max);
                    Some((sent, changes))
                }
                _ => None,
            });
        let count = std::cell::Cell::new(0);
        self.change_account(
            job.account,
            |state| {
                let sent = state.sent(job.seq).ok_or(CorrectError::UnknownJob(job))?;
                let Message::Article(original) = &**sent.message() else {
                    return Err(CorrectError::NotAnArticle);
                };
                if sent.is_retracted() {
                    return Err(CorrectError::Retracted(job));
                }
                let (done, _) = sent.corrections();
                if done >= rules.corrections_per_article {
                    return Err(CorrectError::AlreadyCorrected {
                        job,
                        max: rules.corrections_per_article,
                    });
                }
                if original.title != corrected.title
                    || original.summary != corrected.summary
                    || original.cover != corrected.cover
                {
                    return Err(CorrectError::FixedFieldChanged);
                }
                if sent.current_message().as_ref() == &message {
                    return Err(CorrectError::Unchanged);
                }
                let changes = match &counted {
                    Some((message, changes)) if Arc::ptr_eq(message, sent.message()) => *changes,
                    _ => count_changes(&original.body, &corrected.body, max),
                };
                match changes {
                    Changes::Exactly(n) if n <= max => {}
                    Changes::Exactly(n) => {
                        return Err(CorrectError::TooManyChanges {
                            changes: n,
                            more_than: false,
                            max,
                        });
                    }
                    Changes::MoreThan(n) => {
                        return Err(CorrectError::TooManyChanges {
                            changes: n,
                            more_than: true,
                            max,
                        });
                    }
                }
                count.set(done + 1);
                Ok(())
            },
            || Record::Correct {
                account: job.account.0,
                seq: job.seq.0,
                body: body.clone(),
            },
            |state| {
                if let Some(sent) = state.sent(job.seq) {
                    sent.correct(Arc::new(message.clone()), count.get());
                }
            },
        )
    }

    /// A sent message's purpose, reprint attribution, corrections and retraction.
    pub fn article(&self, job: JobId) -> Result<ArticleInfo, QueryError> {
        self.read_account(job.account, |state| {
            state.sent(job.seq).map(|sent| ArticleInfo {
                job,
                purpose: sent.meta.purpose,
                open_for_reprint: sent.meta.open_for_reprint,
                reprint_of: sent.meta.reprint_of,
                corrections: sent.corrections().0,
                retracted: sent.is_retracted(),
                message: sent.current_message(),
            })
        })
        .ok_or(QueryError::UnknownAccount(job.account))?
        .ok_or(QueryError::UnknownJob(job))
    }
}

impl From<StoreErrorOf> for ScheduleError {
    fn from(e: StoreErrorOf) -> Self {
        ScheduleError::Storage(e.0)
    }
}
impl From<Unknown> for ScheduleError {
    fn from(e: Unknown) -> Self {
        ScheduleError::UnknownAccount(e.0)
    }
}
impl From<StoreErrorOf> for RetractError {
    fn from(e: StoreErrorOf) -> Self {
        RetractError::Storage(e.0)
    }
}
impl From<Unknown> for RetractError {
    fn from(e: Unknown) -> Self {
        RetractError::UnknownAccount(e.0)
    }
}
impl From<StoreErrorOf> for CorrectError {
    fn from(e: StoreErrorOf) -> Self {
        CorrectError::Storage(e.0)
    }
}
impl From<Unknown> for CorrectError {
    fn from(e: Unknown) -> Self {
        CorrectError::UnknownAccount(e.0)
    }
}
