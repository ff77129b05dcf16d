//! Snapshots of a durable engine: the state captured while the engine serves
//! ([`Engine::snapshot`]), encoded into the store's schema, and restored when a directory
//! is opened. Every code in the schema comes from the journal's `codes.rs`.
//!
//! ## Consistency
//! Every change appends its log record and applies itself while holding the snapshot gate
//! shared (`engine::Disk::gate`); a snapshot holds it exclusively just long enough to note
//! the next LSN and take copy-on-write references to the state. So the captured state is
//! exactly the effect of the records below that LSN. Inbox blocks are copied after the gate
//! is released, each under its own lock; each block remembers the LSN of the last chunk
//! written to it, so replay writes a chunk only to the blocks that do not hold it yet.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use roaring::RoaringBitmap;
use thiserror::Error;

use crate::domain::account::AccountState;
use crate::domain::graph::{AccountGraph, ReverseRestoreError, ReverseShard, Source, Tag};
use crate::domain::interaction::Inbound;
use crate::domain::send::SendMeta;
use crate::domain::sent::Sent;
use crate::domain::subject::Subject;
use crate::engine::Engine;
use crate::error::{Ban, StoreError};
use crate::ids::{AccountId, JobId, Seq, SubjectId};
use crate::journal::{
    account_kind, message_bytes, message_from_bytes, registration_bytes, registration_from_bytes,
    request_bytes, request_from_bytes, send_purpose, speed_tier, subject_kind,
};
use crate::machinery::inbox::BlockRestoreError;
use crate::machinery::job::Job;
use crate::message::Message;
use crate::store::codec::DecodeError;
use crate::store::snapshot::{
    self, AccountSnap, ArchivedRulesSnap, ArchivedSnapshotData, JobSnap, ReverseShardSnap,
    RulesSnap, SnapshotData, SourceSnap, SubjectSnap, TagSnap,
};

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

impl Engine {
    /// Writes a snapshot of the whole state while the engine keeps serving, then removes
    /// the log segments and snapshots that a newer snapshot made redundant (the previous
    /// snapshot and the log after it are kept, as the fallback if the newest is damaged).
    pub fn snapshot(&self) -> Result<SnapshotStats, StoreError> {
        let Some(disk) = self.disk.get() else {
            return Err(StoreError::InMemory);
        };
        let _one = disk.snapshotting.lock();
        let started = Instant::now();
        let gate = disk.gate.write();
        let paused = Instant::now();
        let capture = self.capture(disk.wal.next_lsn());
        let pause = paused.elapsed();
        drop(gate);
        let blocks = self.inbox.as_ref().map(|i| i.capture()).unwrap_or_default();
        // Blocks may hold chunks logged after the capture: make those records durable
        // before the snapshot that contains their effects.
        disk.wal.sync()?;
        let data = capture.encode(self, blocks);
        let (_, bytes) = snapshot::write(&disk.dir, &data)?;
        disk.wal.roll();
        let snapshots = snapshot::list(&disk.dir)?;
        let mut segments_removed = 0;
        if let Some((previous, _)) = snapshots.get(1) {
            segments_removed = disk.wal.remove_before(*previous)?;
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
    pub(super) fn restore(&mut self, data: &ArchivedSnapshotData) -> Result<(), RestoreError> {
        let users = data.users.to_native();
        let next_account = data.next_account.to_native();
        if users > u64::from(u32::MAX) + 1 {
            return Err(RestoreError::UsersPastIdSpace(users));
        }
        self.reverse
            .restore(
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
            )
            .map_err(RestoreError::ReverseIndex)?;
        self.users.store(users, Ordering::Release);
        let mut edges = 0;
        for account in data.accounts.iter() {
            let id = AccountId(account.id.to_native());
            if id.0 >= next_account {
                return Err(RestoreError::AccountPastRegistered(id));
            }
            let bad_bitmap = |what| RestoreError::Bitmap { account: id, what };
            let field = |what| {
                move |error| RestoreError::Field {
                    account: id,
                    what,
                    error,
                }
            };
            let mut state = AccountState::new(account.name.to_string());
            state.graph = AccountGraph::from_parts(
                Arc::new(bitmap(&account.followers).ok_or_else(|| bad_bitmap("followers"))?),
                account
                    .tags
                    .iter()
                    .map(|t| {
                        t.as_ref()
                            .map(|t| {
                                Ok(Tag {
                                    name: t.name.to_string(),
                                    members: Arc::new(
                                        bitmap(&t.members).ok_or_else(|| bad_bitmap("a tag"))?,
                                    ),
                                })
                            })
                            .transpose()
                    })
                    .collect::<Result<_, RestoreError>>()?,
                account
                    .sources
                    .iter()
                    .map(|s| {
                        Ok(Source {
                            name: s.name.to_string(),
                            current: Arc::new(
                                bitmap(&s.current).ok_or_else(|| bad_bitmap("a source"))?,
                            ),
                            total: s.total.to_native(),
                        })
                    })
                    .collect::<Result<_, RestoreError>>()?,
                account.unapplied.iter().map(|c| c.to_native()).collect(),
                account.left.iter().map(|u| u.to_native()).collect(),
            );
            if let Some(u) = state
                .graph
                .unapplied_users()
                .find(|&u| u64::from(u) >= users)
            {
                return Err(RestoreError::UnappliedUser {
                    account: id,
                    user: u,
                });
            }
            edges += state.graph.follower_count();
            state.last_seq = account.last_seq.to_native();
            restore_rules(id, &mut state, &account.rules, &self.config.rules)?;
            let mut by_seq = HashMap::new();
            for snap in account.jobs.iter() {
                let seq = snap.seq.to_native();
                let message =
                    message_from_bytes(&snap.message).map_err(field("a job's message"))?;
                let job = Job::new(
                    JobId {
                        account: id,
                        seq: Seq(seq),
                    },
                    Arc::new(message),
                    Arc::new(bitmap(&snap.audience).ok_or_else(|| bad_bitmap("a job's audience"))?),
                    snap.filtered.to_native(),
                    snap.chunk_target.to_native().max(1),
                    Arc::clone(&state.lanes),
                    snap.accepted_ms.to_native(),
                    state.policy.limiter.clone(),
                );
                let meta = SendMeta {
                    purpose: send_purpose::decode(snap.purpose)
                        .map_err(field("a job's purpose"))?,
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
                    let message =
                        message_from_bytes(corrected).map_err(field("a job's correction"))?;
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
                    kind: subject_kind::decode(s.kind).map_err(|error| {
                        RestoreError::SubjectKind {
                            subject: s.name.to_string(),
                            error,
                        }
                    })?,
                    quota_override: s.quota_override.as_ref().map(|q| q.to_native()),
                    accounts: s
                        .accounts
                        .iter()
                        .map(|a| AccountId(a.to_native()))
                        .collect(),
                })
            })
            .collect::<Result<_, RestoreError>>()?;
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
                return Err(RestoreError::InboxCapacity {
                    found: data.inbox_capacity.to_native(),
                    configured: inbox.capacity(),
                });
            }
            for block in data.inbox_blocks.iter() {
                inbox
                    .restore_block(block)
                    .map_err(RestoreError::InboxBlock)?;
            }
        }
        Ok(())
    }
}

/// A validated roaring bitmap from its portable serialization; `None` if it is not one.
pub(super) fn bitmap(bytes: &[u8]) -> Option<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes).ok()
}

/// Why a snapshot that passed its checksum and rkyv's validation cannot be restored: its
/// contents contradict each other or hold a code no build writes. Opening maps it to
/// [`StoreError::Corrupt`], naming the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum RestoreError {
    #[error("user count {0} is past the id space")]
    UsersPastIdSpace(u64),
    /// The domain's own check of the reverse index's parts.
    #[error("the reverse index: {0}")]
    ReverseIndex(#[from] ReverseRestoreError),
    #[error("{0} is past the registered accounts")]
    AccountPastRegistered(AccountId),
    #[error("{account}: a follow change not yet applied names user {user}, past the user count")]
    UnappliedUser { account: AccountId, user: u32 },
    #[error("{account}: {what} is not a roaring bitmap")]
    Bitmap {
        account: AccountId,
        what: &'static str,
    },
    #[error("{account}: {what}: {error}")]
    Field {
        account: AccountId,
        what: &'static str,
        error: DecodeError,
    },
    #[error("{account}: no speed tier is {tier}")]
    SpeedTier { account: AccountId, tier: u8 },
    #[error("subject {subject}: {error}")]
    SubjectKind { subject: String, error: DecodeError },
    #[error("the inboxes hold {found} entries, the engine is configured for {configured}")]
    InboxCapacity { found: u32, configured: usize },
    /// The machinery's own check of an inbox block.
    #[error("{0}")]
    InboxBlock(#[from] BlockRestoreError),
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
    let p = &state.policy;
    RulesSnap {
        subject: state.profile.subject.map(|s| s.0),
        kind: account_kind::encode(state.profile.kind),
        verified: state.profile.verified,
        registration: state.profile.registration.as_ref().map(registration_bytes),
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
            .map(|m| (m.user, m.at_ms, message_bytes(&m.message)))
            .collect(),
        auto_replies: state
            .interaction
            .auto_replies
            .iter()
            .map(|(k, m)| (k.clone(), message_bytes(m)))
            .collect(),
        schedules: state
            .schedules
            .iter()
            .map(|(id, s)| (*id, s.due_ms, request_bytes(&s.request)))
            .collect(),
        next_schedule: state.next_schedule,
        retention_ms: state.storage.retention_ms,
        quota_bytes: state.storage.quota_bytes,
        used_bytes: state.storage.used_bytes,
        purged_through: state.storage.purged_through,
    }
}

fn restore_rules(
    account: AccountId,
    state: &mut AccountState,
    snap: &ArchivedRulesSnap,
    rules: &crate::config::Rules,
) -> Result<(), RestoreError> {
    let field = |what| {
        move |error| RestoreError::Field {
            account,
            what,
            error,
        }
    };
    let message = |b: &[u8], what| message_from_bytes(b).map_err(field(what));
    state.profile.subject = snap.subject.as_ref().map(|s| SubjectId(s.to_native()));
    state.profile.kind = account_kind::decode(snap.kind).map_err(field("the account kind"))?;
    state.profile.verified = snap.verified;
    state.profile.registration = snap
        .registration
        .as_ref()
        .map(|b| registration_from_bytes(b).map_err(field("the registration")))
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
        .collect::<Option<_>>()
        .ok_or(RestoreError::Bitmap {
            account,
            what: "a monthly cap level",
        })?;
    p.violations = snap.violations.iter().map(|v| v.to_native()).collect();
    p.ban = if snap.ban_permanent {
        Some(Ban::Permanent)
    } else {
        snap.ban_until.as_ref().map(|t| Ban::Until(t.to_native()))
    };
    let tier = snap.speed_tier.as_ref().copied();
    if let Some(tier) = tier.filter(|&t| t > speed_tier::MAX) {
        return Err(RestoreError::SpeedTier { account, tier });
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
            message: message(&e.2, "a follower's message")?,
        });
    }
    for e in snap.auto_replies.iter() {
        state
            .interaction
            .auto_replies
            .push((e.0.to_string(), message(&e.1, "an auto-reply")?));
    }
    for e in snap.schedules.iter() {
        let request = request_from_bytes(&e.2).map_err(field("a scheduled send"))?;
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
                    kind: subject_kind::encode(s.kind),
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
            let message = message_bytes(&job.message);
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
                purpose: send_purpose::encode(progress.meta.purpose),
                open_for_reprint: progress.meta.open_for_reprint,
                reprint_of: progress.meta.reprint_of.map(|j| (j.account.0, j.seq.0)),
                retracted: progress.retracted,
                corrections: progress.corrections.0,
                corrected: progress.corrections.1.as_deref().map(message_bytes),
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
        unapplied: graph.unapplied.to_vec(),
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
