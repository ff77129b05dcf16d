//! The check after each kill: reopen the directory, wait for resumed jobs, read every
//! follower set and inbox, and count what no prefix of the pending operations explains.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use herald::{AccountId, Engine, JobId, Seq, UserId};

use super::mode::{Mode, config};
use super::model::{Model, Tracker};

/// What the check after one kill found.
pub(super) struct Check {
    pub(super) lost: u64,
    pub(super) duplicates: u64,
    pub(super) unfinished: u64,
    pub(super) temporaries: u64,
}

/// What the reopened directory holds, read once.
struct Observed {
    /// Per account id below `account_count`: its followers, or `None` if it does not exist.
    accounts: Vec<Option<BTreeSet<u32>>>,
    /// (account, seq) -> users holding it in their inbox.
    received: HashMap<(u32, u32), BTreeSet<u32>>,
    /// Users whose inbox evicted entries (they may miss some).
    lagging: BTreeSet<u32>,
    duplicates: u64,
}

fn observe(engine: &Engine, capacity: usize) -> anyhow::Result<Observed> {
    let users = engine.user_count() as u32;
    let mut accounts = Vec::new();
    for a in 0..engine.account_count() as u32 {
        let account = AccountId(a);
        if engine.account_name(account).is_err() {
            accounts.push(None);
            continue;
        }
        let mut set = BTreeSet::new();
        for u in 0..users {
            if engine.is_following(account, UserId(u))? {
                set.insert(u);
            }
        }
        accounts.push(Some(set));
    }
    let mut duplicates = 0u64;
    let mut received: HashMap<(u32, u32), BTreeSet<u32>> = HashMap::new();
    let mut lagging = BTreeSet::new();
    for u in 0..users {
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            let fetched = engine.fetch(UserId(u), cursor, capacity)?;
            if fetched.missed > 0 {
                lagging.insert(u);
            }
            for item in &fetched.items {
                if !seen.insert((item.account.0, item.seq.0)) {
                    duplicates += 1;
                }
                received
                    .entry((item.account.0, item.seq.0))
                    .or_default()
                    .insert(u);
            }
            if fetched.items.is_empty() {
                break;
            }
            cursor = fetched.next_cursor;
        }
    }
    Ok(Observed {
        accounts,
        received,
        lagging,
        duplicates,
    })
}

/// How far the directory departs from `model`: follower differences, accounts that should
/// (not) exist, sends missing, extra or delivered wrongly.
fn mismatches(engine: &Engine, seen: &Observed, model: &Model) -> u64 {
    let mut lost = 0u64;
    let known = (seen.accounts.len() as u32).max(model.accounts);
    for a in 0..known {
        let actual = seen.accounts.get(a as usize).and_then(Option::as_ref);
        match (model.live(a), actual) {
            (true, Some(actual)) => {
                let expected = model.followers.get(&a).cloned().unwrap_or_default();
                lost += expected.symmetric_difference(actual).count() as u64;
            }
            (false, None) => {}
            _ => lost += 1,
        }
    }
    for (&(account, seq), audience) in &model.sends {
        let got = seen
            .received
            .get(&(account, seq))
            .cloned()
            .unwrap_or_default();
        if !model.live(account) {
            // A terminated account's messages are gone from every inbox.
            lost += got.len() as u64;
            continue;
        }
        let Some(job) = engine.job(JobId {
            account: AccountId(account),
            seq: Seq(seq),
        }) else {
            lost += 1;
            continue;
        };
        let report = job.report();
        if report.total != audience.len() as u64
            || (report.status.is_finished() && report.sent != report.total)
        {
            lost += 1;
        }
        let missing = audience
            .iter()
            .filter(|u| !got.contains(u) && !seen.lagging.contains(u))
            .count();
        let extra = got.iter().filter(|u| !audience.contains(u)).count();
        lost += (missing + extra) as u64;
    }
    // A send the model does not have (neither acknowledged nor possibly durable).
    for a in 0..model.accounts {
        if !model.live(a) {
            continue;
        }
        let next = model.last_seq.get(&a).copied().unwrap_or(0) + 1;
        if engine
            .job(JobId {
                account: AccountId(a),
                seq: Seq(next),
            })
            .is_some()
        {
            lost += 1;
        }
    }
    lost
}

/// Reopens `dir` after a kill and checks it against the tracker's model, keeping the
/// prefix of the pending operations the directory matches best as the new model.
pub(super) fn check(dir: &Path, mode: Mode, tracker: &mut Tracker) -> anyhow::Result<Check> {
    let config = config(mode);
    let engine = Engine::open(dir, config.clone()).context("reopening after the kill")?;
    let temporaries = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count() as u64;
    // Resumed jobs finish; give them a bounded time.
    let waited = Instant::now();
    while engine.unfinished_jobs() > 0 && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let unfinished = engine.unfinished_jobs() as u64;
    let seen = observe(&engine, config.inbox_capacity)?;
    // The directory holds the model plus some prefix of the pending operations: keep the
    // prefix it matches best (a perfect match, unless something was lost).
    let mut best: Option<(u64, Model)> = None;
    let mut candidate = tracker.model.clone();
    for k in 0..=tracker.pending.len() {
        if k > 0 {
            candidate.apply(&tracker.pending[k - 1]);
        }
        let lost = mismatches(&engine, &seen, &candidate);
        if best.as_ref().is_none_or(|(b, _)| lost < *b) {
            best = Some((lost, candidate.clone()));
        }
    }
    let (lost, model) = best.expect("at least the empty prefix");
    tracker.model = model;
    tracker.pending.clear();
    // A snapshot now keeps the next child's open short (and puts snapshots between kills).
    engine.snapshot()?;
    Ok(Check {
        lost,
        duplicates: seen.duplicates,
        unfinished,
        temporaries,
    })
}
