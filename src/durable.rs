//! Durable engines: opening a data directory (snapshot, log replay, resuming jobs) and
//! taking snapshots while the engine serves.
//!
//! ## Consistency
//! Every change appends its log record and applies itself while holding the snapshot gate
//! shared (`store::Durable::gate`); a snapshot holds it exclusively just long enough to note
//! the next LSN and take copy-on-write references to the state. So the captured state is
//! exactly the effect of the records below that LSN. Inbox blocks are copied after the gate
//! is released, each under its own lock; each block remembers the LSN of the last chunk
//! written to it, so replay writes a chunk only to the blocks that do not hold it yet.
//!
//! ## Restart
//! Open = newest valid snapshot + every log record from its LSN, then every unfinished job
//! re-enters its account's lanes in send order with the chunks it had not finished.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;

use crate::config::EngineConfig;
use crate::domain::account::AccountState;
use crate::domain::graph::{AccountGraph, ReverseShard, Source, Tag};
use crate::domain::interaction::Inbound;
use crate::domain::send::SendMeta;
use crate::domain::sent::Sent;
use crate::domain::subject::{AccountKind, Subject, SubjectKind};
use crate::engine::{Accept, purpose_code, purpose_of};
use crate::engine::{Engine, EngineBuilder};
use crate::error::Ban;
use crate::error::StoreError;
use crate::ids::SubjectId;
use crate::ids::{AccountId, JobId, Seq, UserId};
use crate::machinery::job::Job;
use crate::message::Message;
use crate::store::Durable;
use crate::store::record::{
    Reader, Record, Writer, decode_message, decode_registration, decode_request, encode_message,
    encode_registration, encode_request,
};
use crate::store::snapshot::{
    self, AccountSnap, ArchivedRulesSnap, ArchivedSnapshotData, JobSnap, ReverseShardSnap,
    RulesSnap, SnapshotData, SourceSnap, SubjectSnap, TagSnap,
};
use crate::store::wal::Wal;

/// What a snapshot took.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotStats {
    /// The first log record not in the snapshot.
    pub lsn: u64,
    /// The snapshot file's size in bytes.
    pub bytes: u64,
    /// How long changes and sends were held back while the state was captured.
    pub pause: Duration,
    /// Capture, encoding and writing, fsync included.
    pub total: Duration,
    /// Log segments removed because an older snapshot covers them.
    pub segments_removed: usize,
}

impl EngineBuilder {
    /// Opens (or creates) the durable engine whose state lives in `dir`.
    ///
    /// Loads the newest valid snapshot, replays the log after it, and resumes every send
    /// that had not finished. Fails if another process holds the directory, if a file has
    /// another format version, or if no intact snapshot and log can rebuild the state.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Engine, StoreError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| StoreError::io("creating the data directory", e))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| StoreError::io("opening the lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.display().to_string()));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(StoreError::io("locking the data directory", e));
            }
        }
        let mut engine = self.build();
        check_secret(dir, engine.codec.fingerprint())?;
        let mut warnings = Vec::new();
        for (path, len) in snapshot::remove_temporaries(dir)? {
            warnings.push(format!(
                "removed unfinished snapshot {} ({len} bytes)",
                path.display()
            ));
        }
        let mut from_lsn = 0;
        let snapshots = snapshot::list(dir)?;
        for (lsn, path) in &snapshots {
            match snapshot::open(path, |data| engine.restore(data))? {
                Ok(restored) => {
                    restored
                        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
                    from_lsn = *lsn;
                    break;
                }
                Err(reason) => warnings.push(format!("skipped snapshot: {reason}")),
            }
        }
        let policy = engine.config.sync;
        let segment_bytes = engine.config.segment_bytes;
        let (wal, recovery) = Wal::open(dir, policy, segment_bytes, from_lsn, |lsn, record| {
            engine.replay(lsn, record)
        })?
        .map_err(ReplayError::into_store_error)?;
        if from_lsn > 0 && wal.next_lsn() < from_lsn {
            return Err(StoreError::Unrecoverable(format!(
                "the snapshot covers the log up to record {from_lsn}, the log ends at {}",
                wal.next_lsn()
            )));
        }
        warnings.extend(recovery.warnings);
        engine.recovery_warnings = warnings;
        let durable = Durable {
            dir: dir.to_owned(),
            wal,
            gate: RwLock::new(()),
            snapshotting: Mutex::new(()),
            _lock: lock,
        };
        // Sends accepted while the log failed start once a retry writes their records.
        let pool = Arc::downgrade(engine.pool_arc());
        let parked = Arc::downgrade(&engine.parked);
        durable.wal.on_progress(Box::new(move |durable_up_to| {
            if let (Some(pool), Some(parked)) = (pool.upgrade(), parked.upgrade()) {
                parked.start_due(&pool, durable_up_to);
            }
        }));
        if engine.store.set(durable).is_err() {
            unreachable!("a freshly built engine has no store");
        }
        engine.resume();
        Ok(engine)
    }
}

impl Engine {
    /// Opens the durable engine in `dir` with `config` (see [`EngineBuilder::open`]).
    pub fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine, StoreError> {
        Engine::builder(config).open(dir)
    }

    /// What recovery had to drop or skip when this engine was opened (empty if nothing).
    pub fn recovery_warnings(&self) -> &[String] {
        &self.recovery_warnings
    }

    /// Whether this engine logs its changes (was opened on a data directory).
    pub fn is_durable(&self) -> bool {
        self.store.get().is_some()
    }

    /// Writes and fsyncs everything logged so far, whatever the sync policy: after a bulk
    /// import under [`SyncPolicy::None`](crate::SyncPolicy::None), this makes it durable.
    ///
    /// While the log cannot be written ([`Engine::storage_error`]), this retries at once
    /// instead of waiting for the engine's own retry: call it after freeing space. `Ok`
    /// means every change so far is durable, those that reported
    /// [`NotDurable`](crate::StorageError::NotDurable) included, and changes are accepted
    /// again.
    pub fn sync(&self) -> Result<(), StoreError> {
        match self.store.get() {
            Some(store) => store.wal.sync(),
            None => Ok(()),
        }
    }

    /// Writes a snapshot of the whole state while the engine keeps serving, then removes
    /// the log segments and snapshots that a newer snapshot made redundant (the previous
    /// snapshot and the log after it are kept, as the fallback if the newest is damaged).
    pub fn snapshot(&self) -> Result<SnapshotStats, StoreError> {
        let Some(store) = self.store.get() else {
            return Err(StoreError::InMemory);
        };
        let _one = store.snapshotting.lock();
        let started = Instant::now();
        let gate = store.gate.write();
        let paused = Instant::now();
        let capture = self.capture(store.wal.next_lsn());
        let pause = paused.elapsed();
        drop(gate);
        let blocks = self.inbox.as_ref().map(|i| i.capture()).unwrap_or_default();
        // Blocks may hold chunks logged after the capture: make those records durable
        // before the snapshot that contains their effects.
        store.wal.sync()?;
        let data = capture.encode(self, blocks);
        let (_, bytes) = snapshot::write(&store.dir, &data)?;
        store.wal.roll();
        let snapshots = snapshot::list(&store.dir)?;
        let mut segments_removed = 0;
        if let Some((previous, _)) = snapshots.get(1) {
            segments_removed = store.wal.remove_before(*previous)?;
        }
        for (_, path) in snapshots.iter().skip(2) {
            fs::remove_file(path).map_err(|e| StoreError::io("removing an old snapshot", e))?;
        }
        Ok(SnapshotStats {
            lsn: data.lsn,
            bytes,
            pause,
            total: started.elapsed(),
            segments_removed,
        })
    }

    /// Copy-on-write references to the whole state, taken under the exclusive gate.
    fn capture(&self, lsn: u64) -> Captured {
        let mut accounts = Vec::new();
        let mut jobs: HashMap<JobId, (Arc<Job>, JobProgress)> = HashMap::new();
        // A send's job with its progress, and what its account's history knows of it (a
        // job still delivering after it left the history and its idempotency key has no
        // reader left for that: it is stored with defaults).
        let mut take = |job: &Arc<Job>, sent: Option<&Sent>| {
            jobs.entry(job.id).or_insert_with(|| {
                let (delivered, errors, last_error) = job.counters();
                let progress = JobProgress {
                    done: job.done_bits(),
                    sent: delivered,
                    errors,
                    last_error,
                    finished_ms: job.finished_at_ms(),
                    meta: sent.map(|s| s.meta).unwrap_or_default(),
                    retracted: sent.is_some_and(|s| s.is_retracted()),
                    corrections: sent.map(|s| s.corrections()).unwrap_or_default(),
                };
                (Arc::clone(job), progress)
            });
        };
        let n = self.accounts.len();
        for (shard_index, shard) in self.accounts.iter().enumerate() {
            let shard = shard.read();
            for (index, state) in shard.iter().enumerate() {
                let Some(state) = state else { continue };
                let history: Vec<Arc<Sent>> = state.history.iter().cloned().collect();
                history.iter().for_each(|s| take(&s.job, Some(s)));
                let keys: Vec<(String, u64, Arc<Sent>)> = state
                    .idempotency
                    .entries()
                    .map(|(k, at, sent)| (k.to_owned(), at, Arc::clone(sent)))
                    .collect();
                keys.iter().for_each(|(_, _, s)| take(&s.job, Some(s)));
                accounts.push(CapturedAccount {
                    id: AccountId((index * n + shard_index) as u32),
                    name: state.name.clone(),
                    graph: state.graph.clone(),
                    last_seq: state.last_seq,
                    history,
                    keys,
                    rules: capture_rules(state),
                });
            }
        }
        for job in self.pool().inflight() {
            take(&job, None);
        }
        accounts.sort_unstable_by_key(|a| a.id);
        Captured {
            lsn,
            users: self.user_count(),
            next_account: *self.next_account.lock(),
            accounts,
            jobs,
            reverse: self.reverse.capture(),
            subjects: self.subjects.read().clone(),
            originals: self
                .originals
                .read()
                .by_print
                .iter()
                .map(|(p, j)| (*p, j.account.0, j.seq.0))
                .collect(),
        }
    }

    /// Replaces the (empty) state of a freshly built engine with a snapshot's.
    fn restore(&mut self, data: &ArchivedSnapshotData) -> Result<(), String> {
        let users = data.users.to_native();
        let next_account = data.next_account.to_native();
        if users > u64::from(u32::MAX) + 1 {
            return Err("user count out of range".into());
        }
        self.reverse.restore(
            data.reverse_shards
                .iter()
                .map(|s| {
                    ReverseShard::from_parts(
                        s.slots.iter().map(|w| w.to_native()),
                        s.arena.to_vec(),
                        s.departed
                            .iter()
                            .map(|d| (d.0.to_native(), d.1.to_native())),
                    )
                })
                .collect(),
            users,
        )?;
        self.users.store(users, Ordering::Release);
        let mut edges = 0;
        for account in data.accounts.iter() {
            let id = AccountId(account.id.to_native());
            if id.0 >= next_account {
                return Err(format!("{id} is past the registered accounts"));
            }
            let mut state = AccountState::new(account.name.to_string());
            state.graph = AccountGraph::from_parts(
                Arc::new(bitmap(&account.followers)?),
                account
                    .tags
                    .iter()
                    .map(|t| {
                        t.as_ref()
                            .map(|t| {
                                Ok::<_, String>(Tag {
                                    name: t.name.to_string(),
                                    members: Arc::new(bitmap(&t.members)?),
                                })
                            })
                            .transpose()
                    })
                    .collect::<Result<_, _>>()?,
                account
                    .sources
                    .iter()
                    .map(|s| {
                        Ok::<_, String>(Source {
                            name: s.name.to_string(),
                            current: Arc::new(bitmap(&s.current)?),
                            total: s.total.to_native(),
                        })
                    })
                    .collect::<Result<_, _>>()?,
                account.pending.iter().map(|c| c.to_native()).collect(),
                account.left.iter().map(|u| u.to_native()).collect(),
            );
            if let Some(u) = state
                .graph
                .unapplied_users()
                .find(|&u| u64::from(u) >= users)
            {
                return Err(format!(
                    "{id}: a pending change names user {u}, past the user count"
                ));
            }
            edges += state.graph.follower_count();
            state.last_seq = account.last_seq.to_native();
            restore_rules(&mut state, &account.rules, &self.config.rules)
                .map_err(|e| format!("{id}: {e}"))?;
            let mut by_seq = HashMap::new();
            for snap in account.jobs.iter() {
                let seq = snap.seq.to_native();
                let message = decode_message(&mut Reader(&snap.message))
                    .map_err(|e| format!("job {seq} of {id}: {e}"))?;
                let job = Job::new(
                    JobId {
                        account: id,
                        seq: Seq(seq),
                    },
                    Arc::new(message),
                    Arc::new(bitmap(&snap.audience)?),
                    snap.filtered.to_native(),
                    snap.chunk_target.to_native().max(1),
                    Arc::clone(&state.lanes),
                    snap.accepted_ms.to_native(),
                    state.policy.limiter.clone(),
                );
                let meta = SendMeta {
                    purpose: purpose_of(snap.purpose).ok_or_else(|| {
                        format!("job {seq} of {id}: unknown send purpose {}", snap.purpose)
                    })?,
                    open_for_reprint: snap.open_for_reprint,
                    reprint_of: snap.reprint_of.as_ref().map(|p| JobId {
                        account: AccountId(p.0.to_native()),
                        seq: Seq(p.1.to_native()),
                    }),
                };
                let sent = Sent::new(Arc::clone(&job), meta);
                if snap.retracted {
                    sent.retract();
                }
                if let Some(corrected) = snap.corrected.as_ref() {
                    let message = decode_message(&mut Reader(corrected))
                        .map_err(|e| format!("correction of job {seq} of {id}: {e}"))?;
                    sent.correct(Arc::new(message), snap.corrections.to_native());
                }
                let done: Vec<u64> = snap.done.iter().map(|w| w.to_native()).collect();
                job.restore(
                    &done,
                    snap.sent.to_native(),
                    snap.errors.to_native(),
                    snap.last_error.as_ref().map(|e| e.to_string()),
                    snap.finished_ms.as_ref().map(|t| t.to_native()),
                    self.clock.now_ms(),
                );
                if snap.in_history {
                    state.history.push_back(Arc::clone(&sent));
                }
                if !job.status().is_finished() {
                    self.pool().reserve_unbounded();
                    self.pool().register(&job);
                }
                by_seq.insert(seq, sent);
            }
            for entry in account.idempotency.iter() {
                if let Some(job) = by_seq.get(&entry.2.to_native()) {
                    state.idempotency.insert(
                        entry.0.to_string(),
                        entry.1.to_native(),
                        Arc::clone(job),
                    );
                }
            }
            let (shard, index) = self.account_slot(id);
            let mut shard = self.accounts[shard].write();
            if shard.len() <= index {
                shard.resize_with(index + 1, || None);
            }
            shard[index] = Some(state);
        }
        *self.next_account.lock() = next_account;
        self.edges.store(edges, Ordering::Relaxed);
        *self.subjects.write() = data
            .subjects
            .iter()
            .map(|s| {
                Ok(Subject {
                    name: s.name.to_string(),
                    kind: match s.kind {
                        0 => SubjectKind::Individual,
                        1 => SubjectKind::Organization,
                        k => return Err(format!("{}: unknown subject kind {k}", s.name)),
                    },
                    quota_override: s.quota_override.as_ref().map(|q| q.to_native()),
                    accounts: s
                        .accounts
                        .iter()
                        .map(|a| AccountId(a.to_native()))
                        .collect(),
                })
            })
            .collect::<Result<_, String>>()?;
        {
            let mut originals = self.originals.write();
            for o in data.originals.iter() {
                originals.insert(
                    o.0.to_native(),
                    JobId {
                        account: AccountId(o.1.to_native()),
                        seq: Seq(o.2.to_native()),
                    },
                );
            }
        }
        if let Some(inbox) = &self.inbox {
            if data.inbox_capacity.to_native() as usize != inbox.capacity()
                && !data.inbox_blocks.is_empty()
            {
                return Err(format!(
                    "the snapshot's inboxes hold {} entries, the engine is configured for {}",
                    data.inbox_capacity.to_native(),
                    inbox.capacity()
                ));
            }
            for block in data.inbox_blocks.iter() {
                inbox.restore_block(block)?;
            }
        }
        Ok(())
    }

    /// Applies one log record during recovery. Records were validated when they were
    /// written, so only damage can make one inapplicable: that is an error.
    fn replay(&self, lsn: u64, record: Record) -> Result<(), ReplayError> {
        let unknown = |a: u32| format!("record {lsn} names unknown account {a}");
        match record {
            Record::AddUsers { count } => {
                if self.user_count() + u64::from(count) > u64::from(u32::MAX) + 1 {
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} adds users past the id space"
                    )));
                }
                self.reverse
                    .try_reserve(self.user_count() + u64::from(count))
                    .map_err(|_| {
                        ReplayError::OutOfMemory(format!("record {lsn} adds {count} users"))
                    })?;
                self.apply_add_users(count);
            }
            Record::RegisterAccount { account, name } => {
                let mut next = self.next_account.lock();
                if *next != account {
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} registers account {account}, expected {}",
                        *next
                    )));
                }
                self.apply_register(&mut next, &name);
            }
            Record::Follow {
                user,
                account,
                source,
            } => {
                self.check_user(lsn, user)?;
                self.write_account(AccountId(account), |state| {
                    // A repeat follow is skipped, as the live call refused it.
                    let new = |following: bool| if following { Err(()) } else { Ok(()) };
                    let _ = self.apply_follow(
                        UserId(user),
                        AccountId(account),
                        state,
                        source.as_deref(),
                        new,
                    );
                })
                .ok_or_else(|| unknown(account))?;
            }
            Record::FollowMany { account, mut users } => {
                if let Some(&u) = users.iter().max() {
                    self.check_user(lsn, u)?;
                }
                self.write_account(AccountId(account), |state| {
                    users.sort_unstable();
                    users.dedup();
                    let followers = state.graph.current_followers();
                    users.retain(|&u| !followers.contains(u));
                    self.apply_follow_many(AccountId(account), state, &users);
                })
                .ok_or_else(|| unknown(account))?;
            }
            Record::Unfollow { user, account } => {
                self.write_account(AccountId(account), |state| {
                    let following = |following: bool| if following { Ok(()) } else { Err(()) };
                    let _ = self.apply_unfollow(UserId(user), AccountId(account), state, following);
                })
                .ok_or_else(|| unknown(account))?;
            }
            Record::CreateTag { account, tag, name } => {
                self.write_account(AccountId(account), |state| {
                    if state.graph.next_tag_id() != tag as usize {
                        return Err(ReplayError::Damaged(format!(
                            "record {lsn} creates tag {tag} out of order"
                        )));
                    }
                    state.graph.create_tag(name);
                    Ok(())
                })
                .ok_or_else(|| unknown(account))??;
            }
            Record::DeleteTag { account, tag } => {
                self.write_account(AccountId(account), |state| {
                    state.graph.delete_tag(crate::ids::TagId(tag));
                })
                .ok_or_else(|| unknown(account))?;
            }
            Record::Retag {
                account,
                tag,
                add,
                users,
            } => {
                self.write_account(AccountId(account), |state| {
                    // Only followers can carry tags (an unfollow may have raced a retag
                    // in the original order; the log order is the truth).
                    let followers = state.graph.settled().followers();
                    let users: Vec<u32> = users
                        .into_iter()
                        .filter(|&u| followers.contains(u))
                        .collect();
                    state.graph.retag(crate::ids::TagId(tag), &users, add);
                })
                .ok_or_else(|| unknown(account))?;
            }
            Record::SendAccepted {
                account,
                seq,
                accepted_ms,
                chunk_target,
                key,
                message,
                audience,
                filtered,
                purpose,
                open_for_reprint,
                reprint_of,
                schedule,
            } => {
                let audience = bitmap(&audience)?;
                self.write_account(AccountId(account), |state| {
                    if seq != state.last_seq + 1 {
                        return Err(ReplayError::Damaged(format!(
                            "record {lsn} accepts send {seq} of account {account} after {}",
                            state.last_seq
                        )));
                    }
                    self.pool().reserve_unbounded();
                    let sent = self.install_job(
                        AccountId(account),
                        state,
                        Accept {
                            seq,
                            message: Arc::new(message),
                            audience: Arc::new(audience),
                            filtered,
                            chunk_target: chunk_target.max(1),
                            key,
                            now: accepted_ms,
                            meta: SendMeta {
                                purpose: purpose_of(purpose).ok_or_else(|| {
                                    format!("record {lsn}: unknown send purpose {purpose}")
                                })?,
                                open_for_reprint,
                                reprint_of: reprint_of.map(|(a, s)| JobId {
                                    account: AccountId(a),
                                    seq: Seq(s),
                                }),
                            },
                            schedule,
                        },
                    );
                    if !sent.job.has_chunks() {
                        self.pool().finish(&sent.job);
                    }
                    Ok(())
                })
                .ok_or_else(|| unknown(account))??;
            }
            Record::ChunkDone {
                account,
                seq,
                chunk,
                sent,
                errors,
            } => {
                let id = JobId {
                    account: AccountId(account),
                    seq: Seq(seq),
                };
                let Some(job) = self.pool().inflight_job(id) else {
                    // A chunk being delivered when its account was terminated finishes and
                    // logs its record after the termination; a snapshot taken after the
                    // termination no longer holds the job. Nothing is left to record.
                    if self.is_terminated(id.account) {
                        return Ok(());
                    }
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} finishes a chunk of {id}, which is not in flight"
                    )));
                };
                if chunk as usize >= job.chunks.len() {
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} names chunk {chunk} of {id}, which has {}",
                        job.chunks.len()
                    )));
                }
                if job.is_chunk_done(chunk) {
                    return Ok(());
                }
                if let Some(inbox) = &self.inbox
                    && sent > 0
                {
                    let mut buf = Vec::new();
                    let recipients = job.recipients(chunk, &mut buf);
                    inbox.append_replayed(id.account, id.seq, recipients, lsn);
                }
                if job.chunk_done(
                    chunk,
                    sent,
                    errors,
                    (errors > 0).then(|| "failed before the restart".to_owned()),
                ) {
                    self.pool().finish(&job);
                }
            }
            Record::CreateSubject {
                subject,
                name,
                kind,
            } => {
                let mut subjects = self.subjects.write();
                if subjects.len() != subject as usize {
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} creates subject {subject} out of order"
                    )));
                }
                subjects.push(Subject {
                    name,
                    kind,
                    quota_override: None,
                    accounts: Vec::new(),
                });
            }
            Record::ApproveQuota { subject, quota } => {
                let mut subjects = self.subjects.write();
                let s = subjects
                    .get_mut(subject as usize)
                    .ok_or_else(|| format!("record {lsn} names unknown subject {subject}"))?;
                s.quota_override = Some(quota);
            }
            Record::RegisterInSubject {
                account,
                subject,
                name,
                kind,
                registration,
            } => {
                let mut subjects = self.subjects.write();
                if subjects.len() <= subject as usize {
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} names unknown subject {subject}"
                    )));
                }
                let mut next = self.next_account.lock();
                if *next != account {
                    return Err(ReplayError::Damaged(format!(
                        "record {lsn} registers account {account}, expected {}",
                        *next
                    )));
                }
                self.apply_register_in(
                    &mut subjects,
                    &mut next,
                    SubjectId(subject),
                    &name,
                    kind,
                    registration,
                );
            }
            Record::UpdateRegistration {
                account,
                registration,
            } => self
                .write_account(AccountId(account), |s| {
                    s.profile.registration = Some(registration)
                })
                .ok_or_else(|| unknown(account))?,
            Record::SetVerified { account, verified } => self
                .write_account(AccountId(account), |s| s.profile.verified = verified)
                .ok_or_else(|| unknown(account))?,
            Record::Violation { account, at_ms } => self
                .write_account(AccountId(account), |s| {
                    s.policy.record_violation(at_ms, &self.config.rules);
                })
                .ok_or_else(|| unknown(account))?,
            Record::SetSpeedTier { account, tier } => self
                .write_account(AccountId(account), |s| {
                    s.policy.set_speed_tier(tier, &self.config.rules)
                })
                .ok_or_else(|| unknown(account))?,
            Record::SetRetention {
                account,
                retention_ms,
            } => self
                .write_account(AccountId(account), |s| {
                    s.storage.retention_ms = retention_ms
                })
                .ok_or_else(|| unknown(account))?,
            Record::SetStorageQuota {
                account,
                quota_bytes,
            } => self
                .write_account(AccountId(account), |s| s.storage.quota_bytes = quota_bytes)
                .ok_or_else(|| unknown(account))?,
            Record::Purge { account, through } => self
                .write_account(AccountId(account), |s| {
                    crate::engine::apply_purge(s, through)
                })
                .ok_or_else(|| unknown(account))?,
            Record::Terminate { account } => {
                let mut subjects = self.subjects.write();
                self.apply_terminate(&mut subjects, AccountId(account));
            }
            Record::Schedule {
                account,
                id,
                due_ms,
                request,
            } => self
                .write_account(AccountId(account), |s| {
                    s.next_schedule = s.next_schedule.max(id + 1);
                    s.schedules
                        .insert(id, crate::domain::account::Scheduled { due_ms, request });
                })
                .ok_or_else(|| unknown(account))?,
            Record::Unschedule { account, id } => self
                .write_account(AccountId(account), |s| {
                    s.schedules.remove(&id);
                })
                .ok_or_else(|| unknown(account))?,
            Record::Retract { account, seq } => self
                .write_account(AccountId(account), |s| {
                    let job = JobId {
                        account: AccountId(account),
                        seq: Seq(seq),
                    };
                    self.apply_retract(s, job);
                })
                .ok_or_else(|| unknown(account))?,
            Record::Correct { account, seq, body } => self
                .write_account(AccountId(account), |s| {
                    if let Some(sent) = s.sent(Seq(seq))
                        && let Message::Article(original) = &**sent.message()
                    {
                        let mut article = original.clone();
                        article.body = body;
                        let count = sent.corrections().0 + 1;
                        sent.correct(Arc::new(Message::Article(article)), count);
                    }
                })
                .ok_or_else(|| unknown(account))?,
            Record::Inbound {
                account,
                user,
                at_ms,
                message,
            } => self
                .write_account(AccountId(account), |s| {
                    s.interaction.receive(
                        Inbound {
                            user,
                            at_ms,
                            message,
                        },
                        &self.config.rules,
                    )
                })
                .ok_or_else(|| unknown(account))?,
            Record::SetAutoReply {
                account,
                keyword,
                reply,
            } => self
                .write_account(AccountId(account), |s| {
                    s.interaction.set_auto_reply(keyword, reply)
                })
                .ok_or_else(|| unknown(account))?,
            Record::RemoveAutoReply { account, keyword } => self
                .write_account(AccountId(account), |s| {
                    s.interaction.remove_auto_reply(&keyword);
                })
                .ok_or_else(|| unknown(account))?,
        }
        Ok(())
    }

    /// Whether `account` was registered and then terminated.
    fn is_terminated(&self, account: AccountId) -> bool {
        u64::from(account.0) < self.account_count() && self.read_account(account, |_| ()).is_none()
    }

    fn check_user(&self, lsn: u64, user: u32) -> Result<(), String> {
        if u64::from(user) >= self.user_count() {
            return Err(format!("record {lsn} names unknown user {user}"));
        }
        Ok(())
    }

    /// Puts every unfinished job back into its account's lanes, in send order, and starts
    /// the chunks that may run.
    fn resume(&self) {
        let mut jobs = self.pool().inflight();
        jobs.sort_unstable_by_key(|j| j.id);
        for job in jobs {
            let ready = job.enter_lanes();
            self.start(&job, ready);
        }
    }
}

/// Why a log record could not be replayed.
#[derive(Debug)]
enum ReplayError {
    /// The record does not fit the state before it: damage the checksum did not catch.
    Damaged(String),
    /// Memory ran out applying it (a directory written on a bigger machine, say).
    OutOfMemory(String),
}

impl From<String> for ReplayError {
    fn from(e: String) -> Self {
        ReplayError::Damaged(e)
    }
}

impl ReplayError {
    fn into_store_error(self) -> StoreError {
        match self {
            ReplayError::Damaged(e) => StoreError::Corrupt(e),
            ReplayError::OutOfMemory(e) => StoreError::OutOfMemory(e),
        }
    }
}

/// OpenIDs derive from the configured secret, so a directory must always be opened with the
/// one it was created with: `SECRET` holds the secret's fingerprint (never the secret).
fn check_secret(dir: &Path, fingerprint: u64) -> Result<(), StoreError> {
    let path = dir.join("SECRET");
    match fs::read(&path) {
        Ok(bytes) => {
            let stored = <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| StoreError::Corrupt(format!("{} is damaged", path.display())))?;
            if stored != fingerprint {
                return Err(StoreError::SecretMismatch(dir.display().to_string()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let io =
                |e: std::io::Error| StoreError::io("recording the OpenID secret's fingerprint", e);
            let tmp = dir.join("SECRET.tmp");
            let mut file = File::create(&tmp).map_err(io)?;
            std::io::Write::write_all(&mut file, &fingerprint.to_le_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            fs::rename(&tmp, &path).map_err(io)?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)
        }
        Err(e) => Err(StoreError::io("reading the OpenID secret's fingerprint", e)),
    }
}

/// A validated roaring bitmap from its portable serialization.
fn bitmap(bytes: &[u8]) -> Result<RoaringBitmap, String> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| format!("bad bitmap: {e}"))
}

fn portable(bitmap: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(bitmap.serialized_size());
    bitmap
        .serialize_into(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

struct JobProgress {
    done: Vec<u64>,
    sent: u64,
    errors: u64,
    last_error: Option<String>,
    finished_ms: Option<u64>,
    meta: SendMeta,
    retracted: bool,
    corrections: (u32, Option<Arc<Message>>),
}

/// The profile and rules state of an account, as a snapshot holds it.
fn capture_rules(state: &AccountState) -> RulesSnap {
    let encode = |m: &Message| {
        let mut out = Vec::new();
        encode_message(&mut Writer(&mut out), m);
        out
    };
    let p = &state.policy;
    RulesSnap {
        subject: state.profile.subject.map(|s| s.0),
        kind: match state.profile.kind {
            None => 0,
            Some(AccountKind::Subscription) => 1,
            Some(AccountKind::Service) => 2,
        },
        verified: state.profile.verified,
        registration: state.profile.registration.as_ref().map(|r| {
            let mut out = Vec::new();
            encode_registration(&mut Writer(&mut out), r);
            out
        }),
        day: p.day,
        broadcasts_today: p.broadcasts_today,
        previews_today: p.previews_today,
        month: p.month,
        levels: p.levels.iter().map(portable).collect(),
        violations: p.violations.clone(),
        ban_until: match p.ban {
            Some(Ban::Until(t)) => Some(t),
            _ => None,
        },
        ban_permanent: p.ban == Some(Ban::Permanent),
        speed_tier: p.speed_tier,
        last_message: state
            .interaction
            .last_message
            .iter()
            .map(|(u, t)| (*u, *t))
            .collect(),
        inbound: state
            .interaction
            .inbox
            .iter()
            .map(|m| (m.user, m.at_ms, encode(&m.message)))
            .collect(),
        auto_replies: state
            .interaction
            .auto_replies
            .iter()
            .map(|(k, m)| (k.clone(), encode(m)))
            .collect(),
        schedules: state
            .schedules
            .iter()
            .map(|(id, s)| {
                let mut out = Vec::new();
                encode_request(&mut Writer(&mut out), &s.request);
                (*id, s.due_ms, out)
            })
            .collect(),
        next_schedule: state.next_schedule,
        retention_ms: state.storage.retention_ms,
        quota_bytes: state.storage.quota_bytes,
        used_bytes: state.storage.used_bytes,
        purged_through: state.storage.purged_through,
    }
}

fn restore_rules(
    state: &mut AccountState,
    snap: &ArchivedRulesSnap,
    rules: &crate::config::Rules,
) -> Result<(), String> {
    let message = |b: &[u8]| decode_message(&mut Reader(b)).map_err(|e| e.to_string());
    state.profile.subject = snap.subject.as_ref().map(|s| SubjectId(s.to_native()));
    state.profile.kind = match snap.kind {
        0 => None,
        1 => Some(AccountKind::Subscription),
        2 => Some(AccountKind::Service),
        k => return Err(format!("unknown account kind {k}")),
    };
    state.profile.verified = snap.verified;
    state.profile.registration = snap
        .registration
        .as_ref()
        .map(|b| decode_registration(&mut Reader(b)).map_err(|e| e.to_string()))
        .transpose()?;
    let p = &mut state.policy;
    p.day = snap.day.to_native();
    p.broadcasts_today = snap.broadcasts_today.to_native();
    p.previews_today = snap.previews_today.to_native();
    p.month = snap.month.to_native();
    p.levels = snap
        .levels
        .iter()
        .map(|b| bitmap(b))
        .collect::<Result<_, _>>()?;
    p.violations = snap.violations.iter().map(|v| v.to_native()).collect();
    p.ban = if snap.ban_permanent {
        Some(Ban::Permanent)
    } else {
        snap.ban_until.as_ref().map(|t| Ban::Until(t.to_native()))
    };
    let tier = snap.speed_tier.as_ref().copied();
    if tier.is_some_and(|t| t > 4) {
        return Err("bad speed tier".into());
    }
    p.set_speed_tier(tier, rules);
    state.interaction.last_message = snap
        .last_message
        .iter()
        .map(|e| (e.0.to_native(), e.1.to_native()))
        .collect();
    for e in snap.inbound.iter() {
        state.interaction.inbox.push_back(Inbound {
            user: e.0.to_native(),
            at_ms: e.1.to_native(),
            message: message(&e.2)?,
        });
    }
    for e in snap.auto_replies.iter() {
        state
            .interaction
            .auto_replies
            .push((e.0.to_string(), message(&e.1)?));
    }
    for e in snap.schedules.iter() {
        let request = decode_request(&mut Reader(&e.2)).map_err(|e| e.to_string())?;
        state.schedules.insert(
            e.0.to_native(),
            crate::domain::account::Scheduled {
                due_ms: e.1.to_native(),
                request,
            },
        );
    }
    state.next_schedule = snap.next_schedule.to_native();
    state.storage.retention_ms = snap.retention_ms.as_ref().map(|v| v.to_native());
    state.storage.quota_bytes = snap.quota_bytes.as_ref().map(|v| v.to_native());
    state.storage.used_bytes = snap.used_bytes.to_native();
    state.storage.purged_through = snap.purged_through.to_native();
    Ok(())
}

struct CapturedAccount {
    id: AccountId,
    name: String,
    graph: AccountGraph,
    last_seq: u32,
    history: Vec<Arc<Sent>>,
    keys: Vec<(String, u64, Arc<Sent>)>,
    rules: RulesSnap,
}

/// The state at one LSN, by reference; encoded after the gate is released.
struct Captured {
    lsn: u64,
    users: u64,
    next_account: u32,
    accounts: Vec<CapturedAccount>,
    jobs: HashMap<JobId, (Arc<Job>, JobProgress)>,
    reverse: Vec<Arc<ReverseShard>>,
    subjects: Vec<Subject>,
    originals: Vec<(u64, u32, u32)>,
}

impl Captured {
    fn encode(self, engine: &Engine, inbox_blocks: Vec<snapshot::BlockSnap>) -> SnapshotData {
        let mut by_account: HashMap<AccountId, Vec<&(Arc<Job>, JobProgress)>> = HashMap::new();
        for entry in self.jobs.values() {
            by_account
                .entry(entry.0.id.account)
                .or_default()
                .push(entry);
        }
        // Encoding copies every bitmap and arena: split it over two threads (the accounts in
        // halves, the reverse index beside them).
        let mut left = self.accounts;
        let right = left.split_off(left.len() / 2);
        let reverse = &self.reverse;
        let by_account = &by_account;
        let (accounts, reverse_shards) = std::thread::scope(|s| {
            let reverse = s.spawn(move || {
                reverse
                    .iter()
                    .map(|shard| {
                        let (slots, arena) = shard.to_parts();
                        let departed = shard.recent_unfollows().collect();
                        ReverseShardSnap {
                            slots,
                            arena,
                            departed,
                        }
                    })
                    .collect::<Vec<_>>()
            });
            let right = s.spawn(move || {
                right
                    .into_iter()
                    .map(|a| encode_account(a, by_account))
                    .collect::<Vec<_>>()
            });
            let mut accounts: Vec<AccountSnap> = left
                .into_iter()
                .map(|a| encode_account(a, by_account))
                .collect();
            accounts.extend(right.join().expect("encoding accounts does not panic"));
            (
                accounts,
                reverse
                    .join()
                    .expect("encoding the reverse index does not panic"),
            )
        });
        SnapshotData {
            lsn: self.lsn,
            users: self.users,
            next_account: self.next_account,
            accounts,
            reverse_shards,
            inbox_capacity: engine.inbox.as_ref().map_or(0, |i| i.capacity() as u32),
            inbox_blocks,
            subjects: self
                .subjects
                .iter()
                .map(|s| SubjectSnap {
                    name: s.name.clone(),
                    kind: u8::from(s.kind == SubjectKind::Organization),
                    quota_override: s.quota_override,
                    accounts: s.accounts.iter().map(|a| a.0).collect(),
                })
                .collect(),
            originals: self.originals,
        }
    }
}

/// One account as a snapshot stores it.
fn encode_account(
    a: CapturedAccount,
    by_account: &HashMap<AccountId, Vec<&(Arc<Job>, JobProgress)>>,
) -> AccountSnap {
    let in_history: std::collections::HashSet<u32> =
        a.history.iter().map(|s| s.id().seq.0).collect();
    let mut jobs: Vec<JobSnap> = by_account
        .get(&a.id)
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|(job, progress)| {
            let mut message = Vec::new();
            encode_message(&mut Writer(&mut message), &job.message);
            JobSnap {
                seq: job.id.seq.0,
                accepted_ms: job.accepted_at_ms,
                chunk_target: job.chunk_target,
                message,
                audience: portable(&job.audience),
                done: progress.done.clone(),
                sent: progress.sent,
                errors: progress.errors,
                last_error: progress.last_error.clone(),
                finished_ms: progress.finished_ms,
                in_history: in_history.contains(&job.id.seq.0),
                filtered: job.filtered(),
                purpose: purpose_code(progress.meta.purpose),
                open_for_reprint: progress.meta.open_for_reprint,
                reprint_of: progress.meta.reprint_of.map(|j| (j.account.0, j.seq.0)),
                retracted: progress.retracted,
                corrections: progress.corrections.0,
                corrected: progress.corrections.1.as_ref().map(|m| {
                    let mut out = Vec::new();
                    encode_message(&mut Writer(&mut out), m);
                    out
                }),
            }
        })
        .collect();
    jobs.sort_unstable_by_key(|j| j.seq);
    // As it is: the changes not yet applied are stored beside the sets.
    let graph = a.graph.stored();
    AccountSnap {
        id: a.id.0,
        name: a.name.clone(),
        followers: portable(graph.followers),
        pending: graph.unapplied.to_vec(),
        left: graph.unfollowed.to_vec(),
        tags: graph
            .tags
            .iter()
            .map(|t| {
                t.as_ref().map(|t| TagSnap {
                    name: t.name.clone(),
                    members: portable(&t.members),
                })
            })
            .collect(),
        sources: graph
            .sources
            .iter()
            .map(|s| SourceSnap {
                name: s.name.clone(),
                current: portable(&s.current),
                total: s.total,
            })
            .collect(),
        last_seq: a.last_seq,
        jobs,
        idempotency: a
            .keys
            .iter()
            .map(|(k, at, sent)| (k.clone(), *at, sent.id().seq.0))
            .collect(),
        rules: a.rules,
    }
}
