//! Replay: the log's records applied one by one to the state a snapshot restored (or to an
//! empty engine), with the same `apply_*` code the live path runs after validation, so the
//! two cannot drift.
//!
//! A record that does not fit the state before it is an error, typed ([`ReplayError`]:
//! the record's LSN and the [`Problem`]) and mapped into the public [`StoreError`] at the
//! edge. One case is no error: the chunk records of an account terminated while it was
//! delivering, which come after its termination and are skipped.

use std::sync::Arc;

use thiserror::Error;

use crate::domain::interaction::Inbound;
use crate::domain::send::SendMeta;
use crate::domain::subject::Subject;
use crate::engine::{Engine, NewSend};
use crate::error::StoreError;
use crate::ids::{AccountId, JobId, Seq, SubjectId, UserId};
use crate::journal::Record;
use crate::message::Message;
use crate::recovery::snapshot::bitmap;

impl Engine {
    /// Applies one log record during recovery. Records were validated when they were
    /// written, so only damage can make one inapplicable: that is an error.
    pub(super) fn replay(&self, lsn: u64, record: Record) -> Result<(), ReplayError> {
        let damaged = |problem| ReplayError { lsn, problem };
        let unknown = |account| damaged(Problem::UnknownAccount(account));
        match record {
            Record::AddUsers { count } => {
                if self.user_count() + u64::from(count) > u64::from(u32::MAX) + 1 {
                    return Err(damaged(Problem::UsersPastIdSpace));
                }
                self.reverse
                    .try_reserve(self.user_count() + u64::from(count))
                    .map_err(|_| damaged(Problem::OutOfMemory { users: count }))?;
                self.apply_add_users(count);
            }
            Record::RegisterAccount { account, name } => {
                let mut next = self.next_account.lock();
                if *next != account {
                    return Err(damaged(Problem::AccountOutOfOrder {
                        account,
                        expected: *next,
                    }));
                }
                self.apply_register(&mut next, &name);
            }
            Record::Follow {
                user,
                account,
                source,
            } => {
                self.check_user(user).map_err(damaged)?;
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
                    self.check_user(u).map_err(damaged)?;
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
                        return Err(damaged(Problem::TagOutOfOrder { account, tag }));
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
            Record::Send {
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
                let audience = bitmap(&audience).ok_or_else(|| damaged(Problem::BadAudience))?;
                self.write_account(AccountId(account), |state| {
                    if seq != state.last_seq + 1 {
                        return Err(damaged(Problem::SendOutOfOrder {
                            account,
                            seq,
                            last: state.last_seq,
                        }));
                    }
                    self.pool().reserve_unbounded();
                    let sent = self.install_send(
                        AccountId(account),
                        state,
                        NewSend {
                            seq,
                            message: Arc::new(message),
                            audience: Arc::new(audience),
                            filtered,
                            chunk_target: chunk_target.max(1),
                            key,
                            now: accepted_ms,
                            meta: SendMeta {
                                purpose,
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
                    return Err(damaged(Problem::JobNotInFlight(id)));
                };
                if chunk as usize >= job.chunks.len() {
                    return Err(damaged(Problem::NoSuchChunk {
                        job: id,
                        chunk,
                        chunks: job.chunks.len(),
                    }));
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
                    return Err(damaged(Problem::SubjectOutOfOrder(subject)));
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
                    .ok_or_else(|| damaged(Problem::UnknownSubject(subject)))?;
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
                    return Err(damaged(Problem::UnknownSubject(subject)));
                }
                let mut next = self.next_account.lock();
                if *next != account {
                    return Err(damaged(Problem::AccountOutOfOrder {
                        account,
                        expected: *next,
                    }));
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
            Record::RenameTag { account, tag, name } => {
                self.write_account(AccountId(account), |state| {
                    state.graph.rename_tag(crate::ids::TagId(tag), name);
                })
                .ok_or_else(|| unknown(account))?;
            }
        }
        Ok(())
    }

    /// Whether `account` was registered and then terminated.
    pub(super) fn is_terminated(&self, account: AccountId) -> bool {
        u64::from(account.0) < self.account_count() && self.read_account(account, |_| ()).is_none()
    }

    fn check_user(&self, user: u32) -> Result<(), Problem> {
        if u64::from(user) >= self.user_count() {
            return Err(Problem::UnknownUser(user));
        }
        Ok(())
    }
}

/// Why a log record could not be replayed: the record and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record {lsn} {problem}")]
pub(crate) struct ReplayError {
    pub(crate) lsn: u64,
    pub(crate) problem: Problem,
}

/// What was wrong with a record. Records were validated when they were written, so each
/// of these but [`OutOfMemory`](Problem::OutOfMemory) is damage the checksum did not catch
/// (or a directory someone else changed).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum Problem {
    #[error("names unknown account {0}")]
    UnknownAccount(u32),
    #[error("names unknown user {0}")]
    UnknownUser(u32),
    #[error("names unknown subject {0}")]
    UnknownSubject(u32),
    #[error("adds users past the id space")]
    UsersPastIdSpace,
    /// Memory ran out applying it (a directory written on a bigger machine, say).
    #[error("adds {users} users, more than memory holds")]
    OutOfMemory { users: u32 },
    #[error("registers account {account}, expected {expected}")]
    AccountOutOfOrder { account: u32, expected: u32 },
    #[error("creates tag {tag} of account {account} out of order")]
    TagOutOfOrder { account: u32, tag: u32 },
    #[error("creates subject {0} out of order")]
    SubjectOutOfOrder(u32),
    #[error("accepts send {seq} of account {account} after {last}")]
    SendOutOfOrder { account: u32, seq: u32, last: u32 },
    #[error("holds an audience that is not a roaring bitmap")]
    BadAudience,
    #[error("finishes a chunk of {0}, which is not in flight")]
    JobNotInFlight(JobId),
    #[error("names chunk {chunk} of {job}, which has {chunks}")]
    NoSuchChunk {
        job: JobId,
        chunk: u32,
        chunks: usize,
    },
}

impl From<ReplayError> for StoreError {
    fn from(e: ReplayError) -> StoreError {
        match e.problem {
            Problem::OutOfMemory { .. } => StoreError::OutOfMemory(e.to_string()),
            _ => StoreError::Corrupt(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EngineConfig, SyncPolicy};
    use crate::journal::{LOG_FORMAT, OLDEST_LOG_FORMAT};
    use crate::store::wal::{Wal, WalConfig};

    /// A directory whose log holds `records`, as a foreign writer might have left it.
    fn directory_with(name: &str, records: &[Record]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("herald-replay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = WalConfig {
            policy: SyncPolicy::Always,
            segment_bytes: 1 << 20,
            format: LOG_FORMAT,
            oldest_format: OLDEST_LOG_FORMAT,
        };
        let (wal, _) = Wal::open(&dir, config, 0, Record::decode, |_, _| Ok::<_, ()>(()))
            .unwrap()
            .unwrap();
        for record in records {
            wal.append(record);
        }
        wal.sync().unwrap();
        dir
    }

    #[test]
    fn a_record_that_does_not_fit_names_its_lsn_and_its_problem() {
        let dir = directory_with(
            "unknown-account",
            &[
                Record::AddUsers { count: 2 },
                Record::Follow {
                    user: 1,
                    account: 9,
                    source: None,
                },
            ],
        );
        let err = Engine::open(&dir, EngineConfig::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt data: record 1 names unknown account 9"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn problems_map_to_the_public_error_by_kind() {
        let damaged = ReplayError {
            lsn: 3,
            problem: Problem::SendOutOfOrder {
                account: 1,
                seq: 5,
                last: 3,
            },
        };
        assert!(matches!(StoreError::from(damaged), StoreError::Corrupt(m)
            if m == "record 3 accepts send 5 of account 1 after 3"));
        let memory = ReplayError {
            lsn: 0,
            problem: Problem::OutOfMemory { users: 7 },
        };
        assert!(matches!(
            StoreError::from(memory),
            StoreError::OutOfMemory(_)
        ));
    }
}
