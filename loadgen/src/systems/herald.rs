//! herald under the mixed workload: building the planned graph and tags into an engine (with
//! live progress), and the [`System`] the driver sends and churns through.
//!
//! Job completions come from the engine's report channel: a thread blocks on it and hands
//! each report to the [`Tracker`] with the `Instant` it arrived. The thread ends when the
//! engine is dropped (the channel closes).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use herald::{
    AccountId, Audience, Engine, EngineConfig, FollowChange, JobId, Message, ReportsError,
    SendError, SendRequest, SyncPolicy, TagExpr, TagId, UserId,
};

use super::build::{build_bar, parallel_ranks};
use crate::driver::{SendOutcome, System, Tracker};
use crate::report::rss_bytes;
use crate::workload::{AudienceSpec, ChurnOp, Expr, Plan, SendSpec};

/// Reports the report channel holds; the drain thread keeps up easily, this only absorbs
/// bursts of tiny jobs finishing together.
const REPORT_CHANNEL: usize = 1 << 16;
/// OpenIDs per tag call (the platform's limit).
const TAG_BATCH: usize = 50;

/// What building cost.
#[derive(Debug, Clone)]
pub struct BuildStats {
    pub users_secs: f64,
    pub follow_secs: f64,
    pub tag_secs: f64,
    pub edges: u64,
    pub tag_memberships: u64,
    pub tagged_accounts: u64,
    /// Resident memory the follows and tags added.
    pub graph_rss_bytes: u64,
    /// The engine's own accounting of its graph bytes.
    pub engine_graph_bytes: u64,
    pub inbox_bytes: u64,
}

pub struct HeraldSystem {
    pub engine: Arc<Engine>,
}

impl HeraldSystem {
    /// The mode a run reports: in memory, or durable in a data directory.
    pub fn mode(data_dir: Option<&Path>) -> String {
        match data_dir {
            None => "in-memory".to_owned(),
            Some(dir) => format!(
                "durable in {} (write-ahead log with 2 ms group commit, snapshots)",
                dir.display()
            ),
        }
    }

    /// Builds the engine, its users, accounts, follows and tags.
    ///
    /// With `data_dir`, the engine is durable: the graph is imported with the log unsynced
    /// (`SyncPolicy::None`), made durable with one fsync and a snapshot, and the engine is
    /// reopened with the default group commit for the measured run, as a deployment would
    /// import a graph and then serve.
    pub fn build(
        plan: &Plan,
        threads: usize,
        build_threads: usize,
        data_dir: Option<&Path>,
    ) -> anyhow::Result<(HeraldSystem, BuildStats)> {
        let w = &plan.workload;
        let config = |sync: SyncPolicy| EngineConfig {
            threads,
            inbox_capacity: w.inbox_capacity,
            inline_max_recipients: w.inline_max,
            report_channel_capacity: REPORT_CHANNEL,
            openid_secret: *b"loadgen-mixed-00",
            sync,
            ..EngineConfig::default()
        };
        let engine = Arc::new(match data_dir {
            None => Engine::new(config(SyncPolicy::default())),
            Some(dir) => {
                let engine = Engine::open(dir, config(SyncPolicy::None))
                    .with_context(|| format!("opening {}", dir.display()))?;
                anyhow::ensure!(
                    engine.user_count() == 0,
                    "{} already holds a graph; give an empty directory",
                    dir.display()
                );
                engine
            }
        });
        let t = Instant::now();
        engine.add_users(w.users)?;
        for rank in 0..w.accounts {
            engine.register_account(&format!("account {rank}"))?;
        }
        let users_secs = t.elapsed().as_secs_f64();
        let rss_before = rss_bytes();

        let edges = plan.edges();
        let bar = build_bar(edges, "herald: following");
        let t = Instant::now();
        parallel_ranks(plan, build_threads, |rank| {
            let size = plan.sizes[rank as usize];
            let users: Vec<UserId> = plan
                .graph
                .followers(rank, size)
                .into_iter()
                .map(UserId)
                .collect();
            engine
                .follow_many(AccountId(rank), &users)
                .with_context(|| format!("following account {rank}"))?;
            bar.inc(u64::from(size));
            Ok(())
        })?;
        let follow_secs = t.elapsed().as_secs_f64();
        bar.finish_and_clear();

        let tagged: u64 = (0..w.accounts)
            .filter(|&r| plan.tags_of_account(r) > 0)
            .map(|r| u64::from(plan.sizes[r as usize]))
            .sum();
        let bar = build_bar(tagged, "herald: tagging");
        let memberships = AtomicU64::new(0);
        let t = Instant::now();
        parallel_ranks(plan, build_threads, |rank| {
            let tags = plan.tags_of_account(rank);
            if tags == 0 {
                return Ok(());
            }
            let account = AccountId(rank);
            let mut batches: Vec<Vec<herald::OpenId>> = Vec::new();
            for k in 0..tags {
                let id = engine.create_tag(account, &format!("t{k}"))?;
                anyhow::ensure!(id == TagId(k), "tags are numbered in creation order");
                batches.push(Vec::with_capacity(TAG_BATCH));
            }
            let size = plan.sizes[rank as usize];
            let mut added = 0;
            for i in 0..size {
                let mut open_id = None;
                for k in 0..tags {
                    if !plan.tagged(rank, i, k) {
                        continue;
                    }
                    let id = match open_id {
                        Some(id) => id,
                        None => {
                            let id = engine.open_id(account, UserId(plan.follower(rank, i)))?;
                            open_id = Some(id);
                            id
                        }
                    };
                    let batch = &mut batches[k as usize];
                    batch.push(id);
                    if batch.len() == TAG_BATCH {
                        added += engine.tag_followers(account, TagId(k), batch)?;
                        batch.clear();
                    }
                }
            }
            for (k, batch) in batches.iter().enumerate() {
                if !batch.is_empty() {
                    added += engine.tag_followers(account, TagId(k as u32), batch)?;
                }
            }
            memberships.fetch_add(added, Ordering::Relaxed);
            bar.inc(u64::from(size));
            Ok(())
        })?;
        let tag_secs = t.elapsed().as_secs_f64();
        bar.finish_and_clear();

        let memory = engine.memory_usage();
        let stats = BuildStats {
            users_secs,
            follow_secs,
            tag_secs,
            edges: engine.follow_edges(),
            tag_memberships: memberships.load(Ordering::Relaxed),
            tagged_accounts: (0..w.accounts)
                .filter(|&r| plan.tags_of_account(r) > 0)
                .count() as u64,
            graph_rss_bytes: rss_bytes().saturating_sub(rss_before),
            engine_graph_bytes: (memory.forward_bytes + memory.reverse_bytes) as u64,
            inbox_bytes: memory.inbox_bytes as u64,
        };
        let engine = match data_dir {
            None => engine,
            Some(dir) => {
                let t = Instant::now();
                engine.sync()?;
                let snapshot = engine.snapshot()?;
                drop(engine);
                let engine = Engine::open(dir, config(SyncPolicy::default()))?;
                println!(
                    "herald: graph made durable ({:.0} MB snapshot) and reopened with group commit in {:.1} s",
                    snapshot.bytes as f64 / 1e6,
                    t.elapsed().as_secs_f64()
                );
                Arc::new(engine)
            }
        };
        Ok((HeraldSystem { engine }, stats))
    }

    /// Starts the thread that turns job reports into tracker completions.
    pub fn track_completions(&self, tracker: Arc<Tracker>) {
        let mut reports = self.engine.reports();
        std::thread::Builder::new()
            .name("herald-reports".into())
            .spawn(move || {
                loop {
                    match reports.next_blocking() {
                        Ok(r) => {
                            // The engine's own instant: the report thread's wake-up is not
                            // part of the send's latency (the naive system times its jobs
                            // the same way, in its worker).
                            let t1 = r.finished_instant.unwrap_or_else(Instant::now);
                            tracker.finished(key(r.job), t1, r.total, r.sent, r.errors)
                        }
                        // Missed reports are found by polling the handles.
                        Err(ReportsError::Missed(_)) => tracker.reports_lost(),
                        Err(_) => break,
                    }
                }
            })
            .expect("spawning the report thread");
    }
}

fn key(job: JobId) -> u64 {
    u64::from(job.account.0) << 32 | u64::from(job.seq.0)
}

fn tag_expr(e: &Expr) -> TagExpr {
    match e {
        Expr::Tag(k) => TagExpr::Tag(TagId(*k)),
        Expr::And(parts) => TagExpr::and(parts.iter().map(tag_expr)),
        Expr::Or(parts) => TagExpr::or(parts.iter().map(tag_expr)),
        Expr::Not(inner) => TagExpr::not(tag_expr(inner)),
    }
}

impl System for HeraldSystem {
    fn send(&self, seq: u64, spec: &SendSpec, tracker: &Tracker) -> SendOutcome {
        let account = AccountId(spec.account);
        let audience = match &spec.audience {
            AudienceSpec::All => Audience::All,
            AudienceSpec::Tag(k) => Audience::Tag(TagId(*k)),
            AudienceSpec::Expr(e) => Audience::Expr(tag_expr(e)),
            AudienceSpec::List(users) => {
                let ids: Result<Vec<_>, _> = users
                    .iter()
                    .map(|&u| self.engine.open_id(account, UserId(u)))
                    .collect();
                match ids {
                    Ok(ids) => Audience::OpenIds(ids),
                    Err(e) => return SendOutcome::Refused(e.to_string()),
                }
            }
        };
        let request =
            SendRequest::new(Message::Text(format!("loadgen mixed send {seq}")), audience);
        let t0 = Instant::now();
        match self.engine.send(account, request) {
            Ok(handle) => {
                tracker.sent(key(handle.id()), t0, Some(handle));
                SendOutcome::Accepted
            }
            Err(SendError::Busy { .. }) => SendOutcome::Busy,
            Err(e) => SendOutcome::Refused(e.to_string()),
        }
    }

    fn churn(&self, op: ChurnOp) -> bool {
        match op {
            ChurnOp::Follow { account, user } => self
                .engine
                .follow(AccountId(account), UserId(user), None)
                .is_ok(),
            ChurnOp::Unfollow { account, user } => self
                .engine
                .unfollow(AccountId(account), UserId(user))
                .is_ok(),
        }
    }

    fn churn_batch(&self, ops: &[ChurnOp]) -> u64 {
        let changes: Vec<FollowChange> = ops
            .iter()
            .map(|op| match *op {
                ChurnOp::Follow { account, user } => FollowChange::Follow {
                    user: UserId(user),
                    account: AccountId(account),
                },
                ChurnOp::Unfollow { account, user } => FollowChange::Unfollow {
                    user: UserId(user),
                    account: AccountId(account),
                },
            })
            .collect();
        let results = self.engine.change_follows(&changes);
        results.iter().filter(|r| r.is_err()).count() as u64
    }

    fn delivered(&self, tracker: &Tracker) -> u64 {
        tracker.delivered_with_handles()
    }
}
