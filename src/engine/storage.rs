//! Storage rules: retention (messages older than the period leave the account's history
//! and every inbox), the storage quota (a send that would pass it is refused), and the
//! export of an account's data.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use crate::clock::Millis;
use crate::domain::export::{self, Obj};
use crate::domain::graph::AccountGraph;
use crate::domain::sent::{JobHandle, Sent};
use crate::domain::subject::{AccountKind, Category, SubjectKind};
use crate::engine::Engine;
use crate::error::{AccountError, ExportError, QueryError};
use crate::ids::AccountId;
use crate::ids::OpenId;
use crate::journal::Record;
use crate::machinery::job::JobStatus;

/// An account's storage as [`Engine::storage_usage`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageUsage {
    /// Bytes of the messages the account keeps (see `Message::stored_bytes`).
    pub used_bytes: u64,
    /// The account's storage quota, in bytes; `None` for no quota (the default).
    pub quota_bytes: Option<u64>,
    /// How long the account's messages are kept, in ms; `None` to keep them as long as the
    /// history window holds them (the default).
    pub retention_ms: Option<u64>,
    /// Messages kept in the account's history.
    pub messages: u64,
}

/// What [`Engine::export`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Messages written: those in the account's history.
    pub messages: u64,
    /// Followers written.
    pub followers: u64,
    /// Tags written.
    pub tags: u64,
    /// Follow sources written.
    pub sources: u64,
    /// Bytes written to the file.
    pub bytes: u64,
}

/// # Platform rules: retention, storage quota, export
impl Engine {
    /// Sets how long the account's messages are kept (`None`: as long as the history
    /// window holds them). Older messages are purged at the next [`run_due`](Self::run_due).
    pub fn set_retention(
        &self,
        account: AccountId,
        retention_ms: Option<u64>,
    ) -> Result<(), AccountError> {
        if retention_ms == Some(0) {
            return Err(AccountError::InvalidRetention);
        }
        self.change_account(
            account,
            |_| Ok(()),
            || Record::SetRetention {
                account: account.0,
                retention_ms,
            },
            |state| state.storage.retention_ms = retention_ms,
        )
    }

    /// Sets the account's storage quota in bytes (`None`: unlimited). Messages already
    /// stored stay; sends that would pass the quota are refused.
    pub fn set_storage_quota(
        &self,
        account: AccountId,
        quota_bytes: Option<u64>,
    ) -> Result<(), AccountError> {
        self.change_account(
            account,
            |_| Ok(()),
            || Record::SetStorageQuota {
                account: account.0,
                quota_bytes,
            },
            |state| state.storage.quota_bytes = quota_bytes,
        )
    }

    /// The bytes the account's messages take, its quota and retention, and how many messages
    /// it keeps.
    pub fn storage_usage(&self, account: AccountId) -> Result<StorageUsage, QueryError> {
        self.read_account(account, |state| StorageUsage {
            used_bytes: state.storage.used_bytes,
            quota_bytes: state.storage.quota_bytes,
            retention_ms: state.storage.retention_ms,
            messages: state.history.len() as u64,
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    /// Purges, for every account with a retention period, the messages accepted before
    /// `now - retention`.
    pub(crate) fn purge_expired(&self, now: Millis) {
        let n = self.accounts.len();
        let mut due: Vec<(AccountId, u32)> = Vec::new();
        for (shard_index, shard) in self.accounts.iter().enumerate() {
            for (index, state) in shard.read().iter().enumerate() {
                let Some(state) = state else { continue };
                let Some(retention) = state.storage.retention_ms else {
                    continue;
                };
                let cutoff = now.saturating_sub(retention);
                let through = state
                    .history
                    .iter()
                    .take_while(|s| s.job.accepted_at_ms < cutoff)
                    .last()
                    .map(|s| s.id().seq.0);
                if let Some(through) = through {
                    due.push((AccountId((index * n + shard_index) as u32), through));
                }
            }
        }
        for (account, through) in due {
            // A failed log leaves the messages in place; the next tick tries again.
            let _ = self.change_account::<AccountError>(
                account,
                |_| Ok(()),
                || Record::Purge {
                    account: account.0,
                    through,
                },
                |state| apply_purge(state, through),
            );
        }
    }

    /// Writes the account's data to `path` (created or truncated) as JSON Lines: the
    /// account, its statistics, its messages, tags, follow sources, followers (OpenID,
    /// tags) and auto-replies. The state is read in one consistent moment; the file is
    /// written after the account's lock is released.
    pub fn export(
        &self,
        account: AccountId,
        path: impl AsRef<Path>,
    ) -> Result<ExportSummary, ExportError> {
        struct View {
            name: String,
            profile: crate::domain::account::Profile,
            graph: AccountGraph,
            history: Vec<Arc<Sent>>,
            last_seq: u32,
            violations: u32,
            storage: crate::domain::account::Storage,
            auto_replies: Vec<(String, crate::Message)>,
            inbound: u64,
            schedules: u64,
        }
        let mut view = self
            .write_account(account, |state| View {
                name: state.name.clone(),
                profile: state.profile.clone(),
                // Settled under the lock, so that settling the copy below copies nothing.
                graph: {
                    state.graph.settled();
                    state.graph.clone()
                },
                history: state.history.iter().cloned().collect(),
                last_seq: state.last_seq,
                violations: state.policy.violations.len() as u32,
                storage: state.storage.clone(),
                auto_replies: state.interaction.auto_replies.clone(),
                inbound: state.interaction.inbox.len() as u64,
                schedules: state.schedules.len() as u64,
            })
            .ok_or(ExportError::UnknownAccount(account))?;
        let subject = view.profile.subject.and_then(|s| {
            self.subjects
                .read()
                .get(s.0 as usize)
                .map(|x| (s, x.name.clone(), x.kind))
        });
        let io = |e: std::io::Error| ExportError::Io(e.into());
        let mut out = BufWriter::new(File::create(path.as_ref()).map_err(io)?);
        let mut bytes = 0u64;
        let mut line = |out: &mut BufWriter<File>, s: String| -> Result<(), ExportError> {
            bytes += s.len() as u64 + 1;
            out.write_all(s.as_bytes()).map_err(io)?;
            out.write_all(b"\n").map_err(io)
        };

        let mut a = Obj::new("account");
        a.num("format", 1)
            .num("id", u64::from(account.0))
            .str("name", &view.name);
        match &subject {
            Some((id, name, kind)) => {
                a.num("subject", u64::from(id.0))
                    .str("subject_name", name)
                    .str(
                        "subject_kind",
                        match kind {
                            SubjectKind::Individual => "individual",
                            SubjectKind::Organization => "organization",
                        },
                    );
            }
            None => {
                a.null("subject");
            }
        }
        match view.profile.kind {
            Some(AccountKind::Subscription) => a.str("kind", "subscription"),
            Some(AccountKind::Service) => a.str("kind", "service"),
            None => a.null("kind"),
        };
        a.bool("verified", view.profile.verified);
        if let Some(r) = &view.profile.registration {
            a.str("region", &r.region).str("contact", &r.contact);
            match r.category {
                Some(c) => a.str("category", category_name(c)),
                None => a.null("category"),
            };
        }
        line(&mut out, a.finish())?;

        let graph = view.graph.settled();
        let live_tags: Vec<_> = graph.live_tags().collect();
        line(
            &mut out,
            Obj::new("statistics")
                .num("followers", graph.followers().len())
                .num("messages_sent", u64::from(view.last_seq))
                .num("messages_kept", view.history.len() as u64)
                .num("tags", live_tags.len() as u64)
                .num("sources", graph.sources().len() as u64)
                .num("stored_bytes", view.storage.used_bytes)
                .num("violations", u64::from(view.violations))
                .num("follower_messages_kept", view.inbound)
                .num("scheduled_sends", view.schedules)
                .finish(),
        )?;

        for sent in &view.history {
            let report = JobHandle::new(Arc::clone(sent)).report();
            let mut m = Obj::new("message");
            m.num("seq", u64::from(sent.id().seq.0))
                .num("accepted_ms", sent.job.accepted_at_ms)
                .str(
                    "purpose",
                    match sent.meta.purpose {
                        crate::SendPurpose::Broadcast => "broadcast",
                        crate::SendPurpose::Preview => "preview",
                        crate::SendPurpose::Reply => "reply",
                    },
                )
                .str("status", status_name(report.status))
                .num("total", report.total)
                .num("filtered", report.filtered)
                .num("sent", report.sent)
                .num("errors", report.errors)
                .num("corrections", u64::from(sent.corrections().0))
                .bool("open_for_reprint", sent.meta.open_for_reprint);
            match sent.meta.reprint_of {
                Some(o) => m.raw(
                    "reprint_of",
                    &Obj::plain()
                        .num("account", u64::from(o.account.0))
                        .num("seq", u64::from(o.seq.0))
                        .finish(),
                ),
                None => m.null("reprint_of"),
            };
            m.raw("content", &export::message(&sent.current_message()));
            line(&mut out, m.finish())?;
        }

        for (id, tag) in &live_tags {
            line(
                &mut out,
                Obj::new("tag")
                    .num("id", u64::from(id.0))
                    .str("name", &tag.name)
                    .num("followers", tag.members.len())
                    .finish(),
            )?;
        }
        for source in graph.sources() {
            line(
                &mut out,
                Obj::new("source")
                    .str("source", &source.name)
                    .num("current", source.current.len())
                    .num("total", source.total)
                    .finish(),
            )?;
        }
        // In OpenID order, as `followers_page` lists them: user-id order would leak the
        // internal ids' order and let two accounts' exports be zipped.
        let mut ids = Vec::with_capacity(graph.followers().len() as usize);
        self.codec
            .encode_many(account, graph.followers().iter(), &mut ids);
        let mut followers: Vec<(u64, u32)> =
            ids.into_iter().zip(graph.followers().iter()).collect();
        followers.sort_unstable_by_key(|&(id, _)| id);
        let mut tag_names: Vec<&str> = Vec::new();
        for (open_id, user) in followers {
            tag_names.clear();
            for (_, tag) in &live_tags {
                if tag.members.contains(user) {
                    tag_names.push(&tag.name);
                }
            }
            let source = graph
                .sources()
                .iter()
                .find(|s| s.current.contains(user))
                .map(|s| s.name.as_str());
            let mut f = Obj::new("follower");
            f.str("open_id", &OpenId(open_id).to_string())
                .strs("tags", tag_names.iter().copied());
            match source {
                Some(s) => f.str("source", s),
                None => f.null("source"),
            };
            line(&mut out, f.finish())?;
        }
        for (keyword, reply) in &view.auto_replies {
            line(
                &mut out,
                Obj::new("auto_reply")
                    .str("keyword", keyword)
                    .raw("reply", &export::message(reply))
                    .finish(),
            )?;
        }
        out.flush().map_err(io)?;
        Ok(ExportSummary {
            messages: view.history.len() as u64,
            followers: graph.followers().len(),
            tags: live_tags.len() as u64,
            sources: graph.sources().len() as u64,
            bytes,
        })
    }
}

/// Drops the messages up to `through` from the account's history and hides them (and
/// older ones) from inboxes.
pub(crate) fn apply_purge(state: &mut crate::domain::account::AccountState, through: u32) {
    while let Some(front) = state.history.front() {
        if front.id().seq.0 > through {
            break;
        }
        let old = state.history.pop_front().expect("front exists");
        state.storage.used_bytes = state
            .storage
            .used_bytes
            .saturating_sub(old.message().stored_bytes());
    }
    state.storage.purged_through = state.storage.purged_through.max(through);
}

fn category_name(c: Category) -> &'static str {
    match c {
        Category::Government => "government",
        Category::Media => "media",
        Category::Enterprise => "enterprise",
        Category::Individual => "individual",
        Category::Other => "other",
    }
}

fn status_name(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "queued",
        JobStatus::Sending => "sending",
        JobStatus::Done => "done",
        JobStatus::Failed => "failed",
        JobStatus::Retracted => "retracted",
        JobStatus::Interrupted => "interrupted",
        JobStatus::Cancelled => "cancelled",
    }
}
