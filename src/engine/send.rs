//! The send path: validation without a lock, then under the account's write lock the
//! idempotency lookup, the platform's admission rules (`domain/admission.rs`), the audience
//! fixed, the sequence number and the log record; after the commit the job is released to
//! the pool (or run by the caller when small). Job lookups and `wait_idle` too.

use std::sync::Arc;

use roaring::RoaringBitmap;
use tokio::sync::broadcast;

use crate::clock::Millis;
use crate::domain::account::AccountState;
use crate::domain::admission::{self, Admission, Attempt};
use crate::domain::audience;
use crate::domain::originality::{self};
use crate::domain::send::{SendMeta, SendPurpose, SendRequest};
use crate::domain::sent::{JobHandle, Sent};
use crate::domain::subject::AccountKind;
use crate::engine::Engine;
use crate::engine::commit::Parked;
use crate::error::{QueryError, ReportsError, SendError, StorageError};
use crate::ids::OpenId;
use crate::ids::{AccountId, JobId, Seq, UserId};
use crate::journal::Record;
use crate::machinery::job::{Job, JobReport};
use crate::message::Message;

/// What accepting a send produced.
struct Accepted {
    sent: Arc<Sent>,
    /// For a new send, its chunks that may run at once; `None` for a repeated idempotency
    /// key, which names an earlier send.
    ready: Option<Vec<u32>>,
    /// The LSN the caller waits for (durable engines).
    lsn: Option<u64>,
}

/// An accepted send, as `install_send` records it.
pub(crate) struct NewSend {
    pub(crate) seq: u32,
    pub(crate) message: Arc<Message>,
    pub(crate) audience: Arc<RoaringBitmap>,
    pub(crate) filtered: u64,
    pub(crate) chunk_target: u32,
    pub(crate) key: Option<String>,
    pub(crate) now: Millis,
    pub(crate) meta: SendMeta,
    pub(crate) schedule: Option<u32>,
}

/// # Sending
///
/// A send is accepted (or refused, changing nothing) by the call; its deliveries run on the
/// fan-out pool and show in its [`JobHandle`] and in [`Engine::reports`].
impl Engine {
    /// Accepts a broadcast: validates it against the message limits and the platform's
    /// rules (registration, bans, daily and monthly limits, originality, storage quota),
    /// fixes its audience, and queues it for fan-out. Returns a handle to the job without
    /// waiting for the deliveries. On a service account, followers who already received
    /// this month's broadcasts are left out and counted in the report's `filtered`.
    ///
    /// **Blocking:** on a durable engine the call returns only once the send's log record
    /// is on disk: it parks the calling thread for the log's group commit (about 2 ms with
    /// the default [`SyncPolicy`](crate::SyncPolicy), one fsync's time with `Always`), like
    /// every other change. From async code use [`send_async`](Self::send_async). An
    /// in-memory engine never waits on I/O; a small send may be delivered by the calling
    /// thread before `send` returns.
    pub fn send(&self, account: AccountId, request: SendRequest) -> Result<JobHandle, SendError> {
        self.submit(account, request, SendPurpose::Broadcast, None, None)
    }

    /// [`send`](Self::send) for async callers: the same checks, rules and result, but the
    /// wait for the log's commit (a durable engine's group commit, a couple of
    /// milliseconds) does not block a thread, and the deliveries always go to the fan-out
    /// pool (never to the calling task). The acceptance itself takes the account's lock for
    /// microseconds, as `send` does.
    ///
    /// ```
    /// # use herald::*;
    /// # let dir = std::env::temp_dir().join(format!("herald-doc-async-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let engine = Engine::open(&dir, EngineConfig::default()).unwrap();
    /// let users = engine.add_users(2).unwrap();
    /// let account = engine.register_account("news").unwrap();
    /// for user in users { engine.follow(account, user, None).unwrap(); }
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let report = runtime.block_on(async {
    ///     let request = SendRequest::new(Message::Text("hi".into()), Audience::All);
    ///     let job = engine.send_async(account, request).await.unwrap();
    ///     job.finished().await
    /// });
    /// assert_eq!(report.sent, 2);
    /// # drop(engine);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub async fn send_async(
        &self,
        account: AccountId,
        request: SendRequest,
    ) -> Result<JobHandle, SendError> {
        let accepted = self.accept_send(account, request, SendPurpose::Broadcast, None, None)?;
        let committed = self.commit_async(accepted.lsn).await;
        self.release(accepted, committed, false)
    }

    /// A send to one follower (a preview or a reply), named by its OpenID.
    pub(crate) fn send_to_one(
        &self,
        account: AccountId,
        open_id: OpenId,
        message: Message,
        purpose: SendPurpose,
    ) -> Result<JobHandle, SendError> {
        let user = self.user_of(account, open_id).map_err(|e| match e {
            QueryError::UnknownAccount(a) => SendError::UnknownAccount(a),
            _ => SendError::InvalidAudience(crate::error::AudienceError::InvalidOpenId(open_id)),
        })?;
        self.submit(
            account,
            SendRequest::new(message, crate::Audience::All),
            purpose,
            Some(user),
            None,
        )
    }

    /// The send path shared by broadcasts, previews, replies and scheduled sends. `single`:
    /// the one recipient of a preview or reply. `schedule`: the scheduled send this fires.
    pub(crate) fn submit(
        &self,
        account: AccountId,
        request: SendRequest,
        purpose: SendPurpose,
        single: Option<UserId>,
        schedule: Option<u32>,
    ) -> Result<JobHandle, SendError> {
        let accepted = self.accept_send(account, request, purpose, single, schedule)?;
        let committed = self.commit(accepted.lsn);
        self.release(accepted, committed, true)
    }

    /// Everything of a send up to its commit: checks, then under the snapshot gate and the
    /// account's lock the rules, the audience, the log record and the held job.
    fn accept_send(
        &self,
        account: AccountId,
        request: SendRequest,
        purpose: SendPurpose,
        single: Option<UserId>,
        schedule: Option<u32>,
    ) -> Result<Accepted, SendError> {
        self.check_request(&request)?;
        // Look the declared original up before taking this account's lock (two account
        // locks are never held together).
        if let Some(original) = request.reprint_of {
            self.check_original(account, original)?;
        }
        if self.pool().is_shutting_down() {
            return Err(SendError::ShuttingDown);
        }
        let gate = self.begin().map_err(SendError::Storage)?;
        let now = self.clock.now_ms();
        let accepted = self
            .write_account(account, |state| {
                self.accept(account, state, request, purpose, single, schedule, now)
            })
            .unwrap_or(Err(SendError::UnknownAccount(account)))?;
        drop(gate);
        Ok(accepted)
    }

    /// After the commit: acknowledges (and starts delivering) only once the acceptance is
    /// durable, since a send that was never acknowledged must not reach anyone; a send whose
    /// commit failed is parked until its record is written. `inline`: a small send runnable
    /// at once may be delivered by the calling thread.
    fn release(
        &self,
        accepted: Accepted,
        committed: Result<(), StorageError>,
        inline: bool,
    ) -> Result<JobHandle, SendError> {
        let Accepted { sent, ready, lsn } = accepted;
        let job = Arc::clone(&sent.job);
        if let Err(e) = committed {
            if let (Some(ready), Some(lsn)) = (ready, lsn) {
                self.park(job, ready, lsn);
            }
            return Err(SendError::Storage(e));
        }
        if let Some(ready) = ready {
            let pool = self.pool();
            // Only in the caller's `send`: jobs resumed at open (`start` from `resume`) go to
            // the workers, so opening an engine does not deliver on its own.
            if inline && ready == [0] && pool.may_run_here(&job, self.config.inline_max_recipients)
            {
                // A small send runnable at once: delivered here, without a hand-off.
                pool.release_for_caller(&job);
                pool.run_here(&job, 0);
            } else {
                self.start(&job, ready);
            }
        }
        Ok(JobHandle::new(sent))
    }

    /// Checks what a send request can be checked for without the account's state.
    pub(crate) fn check_request(&self, request: &SendRequest) -> Result<(), SendError> {
        let limits = &self.config.limits;
        request.message.validate(limits)?;
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > limits.idempotency_key_max_bytes)
        {
            return Err(SendError::InvalidIdempotencyKey {
                max: limits.idempotency_key_max_bytes,
            });
        }
        let article = matches!(request.message, Message::Article(_));
        if !article
            && (request.open_for_reprint
                || request.reprint_of.is_some()
                || request.continue_as_reprint)
        {
            return Err(SendError::NotAnArticle);
        }
        Ok(())
    }

    /// A declared original must be another account's article, in its history, open for
    /// reprint and not retracted.
    fn check_original(&self, account: AccountId, original: JobId) -> Result<(), SendError> {
        if original.account == account {
            return Err(SendError::UnknownOriginal(original));
        }
        let open = self
            .read_account(original.account, |state| {
                state.sent(original.seq).map(|sent| {
                    matches!(**sent.message(), Message::Article(_))
                        && !sent.is_retracted()
                        && sent.meta.open_for_reprint
                })
            })
            .flatten()
            .ok_or(SendError::UnknownOriginal(original))?;
        if !open {
            return Err(SendError::ReprintNotOpen(original));
        }
        Ok(())
    }

    /// Hands a job's runnable chunks to the pool (or finishes a job with no audience).
    pub(crate) fn start(&self, job: &Arc<Job>, ready: Vec<u32>) {
        self.pool().start(job, ready);
    }

    /// Holds back a send whose acceptance is not durable (its log write failed) until the
    /// log is written again: a send nobody was told succeeded must not reach anyone before
    /// it would survive a restart.
    fn park(&self, job: Arc<Job>, ready: Vec<u32>, lsn: u64) {
        self.parked.park(Parked { lsn, job, ready });
        // The log may have written the record since the failure, its hook finding nothing.
        if let Some(disk) = self.disk.get() {
            self.parked.start_due(self.pool(), disk.wal.durable_up_to());
        }
    }

    /// The part of `send` under the account's write lock. Returns the job and, for a new
    /// job, its chunks that may run at once.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        account: AccountId,
        state: &mut AccountState,
        request: SendRequest,
        purpose: SendPurpose,
        single: Option<UserId>,
        schedule: Option<u32>,
        now: Millis,
    ) -> Result<Accepted, SendError> {
        let limits = &self.config.limits;
        let rules = &self.config.rules;
        let SendRequest {
            message,
            audience,
            idempotency_key: key,
            open_for_reprint,
            reprint_of,
            continue_as_reprint,
        } = request;
        if let Some(key) = &key
            && let Some(job) = state
                .idempotency
                .get(key, now, limits.idempotency_window_ms)
        {
            // The first send's record may still be on its way to disk: acknowledge the
            // repeat only once it is there.
            return Ok(Accepted {
                sent: job,
                ready: None,
                lsn: self.last_logged(),
            });
        }
        // The platform's rules, cheapest first; each refusal leaves everything unchanged.
        let attempt = Attempt {
            account,
            purpose,
            message: &message,
            single,
            schedule,
            reprint_of,
            continue_as_reprint,
            now,
        };
        let Admission { reprint_of, at } =
            admission::admit(state, &attempt, rules, &self.originals.read())?;
        let audience = match single {
            Some(user) => {
                if !state.graph.is_follower(user.0) {
                    return Err(SendError::InvalidAudience(
                        crate::error::AudienceError::NotFollowing {
                            open_ids: vec![self.codec.encode(account, user)],
                            count: 1,
                        },
                    ));
                }
                Arc::new(std::iter::once(user.0).collect::<RoaringBitmap>())
            }
            None => audience::resolve(
                &audience,
                &mut state.graph,
                |id| self.decode_open_id(account, id),
                limits,
            )?,
        };
        let (audience, filtered) = admission::cap_audience(state, purpose, audience, rules, at);
        let seq = state
            .last_seq
            .checked_add(1)
            .ok_or(SendError::SequenceExhausted(account))?;
        self.pool()
            .try_reserve(self.config.max_unfinished_jobs)
            .map_err(|unfinished| SendError::Busy {
                unfinished,
                max: self.config.max_unfinished_jobs,
            })?;
        let meta = SendMeta {
            purpose,
            open_for_reprint,
            reprint_of,
        };
        let chunk_target = self.config.chunk_target.max(1);
        let lsn = self.log(|| {
            let mut bytes = Vec::with_capacity(audience.serialized_size());
            audience
                .serialize_into(&mut bytes)
                .expect("writing to a Vec cannot fail");
            Record::Send {
                account: account.0,
                seq,
                accepted_ms: now,
                chunk_target,
                key: key.clone(),
                message: message.clone(),
                audience: bytes,
                filtered,
                purpose,
                open_for_reprint,
                reprint_of: reprint_of.map(|j| (j.account.0, j.seq.0)),
                schedule,
            }
        });
        let sent = self.install_send(
            account,
            state,
            NewSend {
                seq,
                message: Arc::new(message),
                audience,
                filtered,
                chunk_target,
                key,
                now,
                meta,
                schedule,
            },
        );
        // Nothing of it runs before its acceptance is durable (`submit` releases it).
        sent.job.hold();
        // Entered under the account's lock, so lanes see sends in sequence order.
        let ready = sent.job.enter_lanes();
        Ok(Accepted {
            sent,
            ready: Some(ready),
            lsn,
        })
    }

    /// Creates an accepted send's job and `Sent`, and records them in the account (history, idempotency,
    /// the rules' counters, the originality index) and the pool (in flight). The caller
    /// reserved its place in the pool. Shared by `accept` and log replay, so both count the
    /// same.
    pub(crate) fn install_send(
        &self,
        account: AccountId,
        state: &mut AccountState,
        a: NewSend,
    ) -> Arc<Sent> {
        let rules = &self.config.rules;
        state.last_seq = a.seq;
        let job = Job::new(
            JobId {
                account,
                seq: Seq(a.seq),
            },
            a.message,
            a.audience,
            a.filtered,
            a.chunk_target,
            Arc::clone(&state.lanes),
            a.now,
            state.policy.limiter.clone(),
        );
        let at = rules.time_zone.period(a.now);
        match a.meta.purpose {
            SendPurpose::Broadcast => {
                state.policy.count_broadcast(at);
                if state.profile.kind == Some(AccountKind::Service) {
                    state.policy.count_monthly(
                        &job.audience,
                        rules.service_broadcasts_per_follower_month,
                        at,
                    );
                }
                if let Message::Article(article) = &*job.message {
                    self.originals
                        .write()
                        .insert(originality::fingerprint(&article.body), job.id);
                }
            }
            SendPurpose::Preview => state.policy.count_preview(at),
            SendPurpose::Reply => {}
        }
        if let Some(id) = a.schedule {
            state.schedules.remove(&id);
        }
        state.storage.used_bytes += job.message.stored_bytes();
        self.pool().register(&job);
        let sent = Sent::new(job, a.meta);
        state.history.push_back(Arc::clone(&sent));
        while state.history.len() > self.config.history_window.max(1) {
            if let Some(old) = state.history.pop_front() {
                state.storage.used_bytes = state
                    .storage
                    .used_bytes
                    .saturating_sub(old.message().stored_bytes());
            }
        }
        if let Some(key) = a.key {
            state.idempotency.insert(key, a.now, Arc::clone(&sent));
        }
        sent
    }

    /// The job of an earlier send, while it is in the account's history window.
    pub fn job(&self, id: JobId) -> Option<JobHandle> {
        self.read_account(id.account, |state| state.sent(id.seq).cloned())
            .flatten()
            .map(JobHandle::new)
    }

    /// Every job's final report, as the job finishes, from now on. A reader that falls
    /// behind by more than [`EngineConfig::report_channel_capacity`] reports is told how
    /// many it missed (look those jobs up with [`job`](Self::job)).
    ///
    /// [`EngineConfig::report_channel_capacity`]: crate::EngineConfig::report_channel_capacity
    pub fn reports(&self) -> Reports {
        Reports {
            receiver: self.reports.subscribe(),
        }
    }

    /// Jobs accepted and not yet finished.
    pub fn unfinished_jobs(&self) -> usize {
        self.pool().unfinished()
    }

    /// Blocks until every accepted job has finished.
    ///
    /// Fails instead of waiting forever when the log cannot be written and every unfinished
    /// job is a send whose acceptance waits for it (reported
    /// [`NotDurable`](StorageError::NotDurable) to its caller): such a send starts only once
    /// its record is written, which the engine retries on its own; [`Engine::sync`] retries
    /// at once (call it after freeing space, then `wait_idle` again).
    pub fn wait_idle(&self) -> Result<(), StorageError> {
        let pool = self.pool();
        loop {
            if pool.wait_idle_for(std::time::Duration::from_millis(50)) {
                return Ok(());
            }
            if let Some(cause) = self.storage_error() {
                let parked = self.parked.waiting();
                if parked > 0 && pool.live() <= parked {
                    return Err(StorageError::NotDurable(cause));
                }
            }
        }
    }

    // ----- inbox --------------------------------------------------------------------------
}

/// Finished jobs' reports in the order they finished, from [`Engine::reports`]: read them
/// without blocking ([`try_next`](Self::try_next)), from a thread
/// ([`next_blocking`](Self::next_blocking)) or from async code ([`next`](Self::next)).
#[derive(Debug)]
pub struct Reports {
    receiver: broadcast::Receiver<JobReport>,
}

impl Reports {
    /// The next report if one is waiting, `Ok(None)` if none is.
    pub fn try_next(&mut self) -> Result<Option<JobReport>, ReportsError> {
        match self.receiver.try_recv() {
            Ok(report) => Ok(Some(report)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Err(ReportsError::Missed(n)),
            Err(broadcast::error::TryRecvError::Closed) => Err(ReportsError::Closed),
        }
    }

    /// Blocks the calling thread until the next report. Not for async code (it would block
    /// the runtime's thread): use [`next`](Self::next) there.
    pub fn next_blocking(&mut self) -> Result<JobReport, ReportsError> {
        self.receiver.blocking_recv().map_err(ReportsError::from)
    }

    /// Waits for the next report without blocking a thread.
    pub async fn next(&mut self) -> Result<JobReport, ReportsError> {
        self.receiver.recv().await.map_err(ReportsError::from)
    }

    /// The underlying tokio receiver, for `select!` and other tokio combinators.
    pub fn into_receiver(self) -> broadcast::Receiver<JobReport> {
        self.receiver
    }
}

impl From<broadcast::error::RecvError> for ReportsError {
    fn from(e: broadcast::error::RecvError) -> Self {
        match e {
            broadcast::error::RecvError::Lagged(n) => ReportsError::Missed(n),
            broadcast::error::RecvError::Closed => ReportsError::Closed,
        }
    }
}
