//! Restarting a durable engine keeps the state of the platform's rules: subjects and
//! quotas, profiles, monthly caps and daily counters, bans, speed tiers, schedules,
//! retractions, corrections, reprint attributions and the originality index, retention and
//! quota, follower messages and auto-replies, and terminations; from the log alone and from
//! a snapshot plus the log.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use herald::{
    AccountId, AccountKind, Content, Engine, EngineConfig, JobId, ManualClock, Registration,
    SendError, Seq, SubjectId, SubjectKind, SyncPolicy, UserId,
};

fn durable_config() -> EngineConfig {
    EngineConfig {
        sync: SyncPolicy::Always,
        ..config()
    }
}

fn open(dir: &Path, clock: &Arc<ManualClock>) -> Engine {
    Engine::builder(durable_config())
        .clock(clock.clone())
        .open(dir)
        .unwrap()
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-rules-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Everything the rules make observable.
fn observe(engine: &Engine) -> String {
    engine.wait_idle().unwrap();
    let mut out = String::new();
    for s in 0..3 {
        out += &format!("{:?}\n", engine.subject(SubjectId(s)));
    }
    for a in 0..engine.account_count() as u32 {
        let account = AccountId(a);
        out += &format!("{:?}\n", engine.account_profile(account));
        out += &format!("{:?}\n", engine.scheduled(account));
        out += &format!("{:?}\n", engine.storage_usage(account));
        out += &format!("{:?}\n", engine.follower_messages(account, 100));
        out += &format!("{:?}\n", engine.auto_replies(account));
        for seq in 1..10 {
            let job = JobId {
                account,
                seq: Seq(seq),
            };
            out += &format!("{:?}\n", engine.article(job));
            if let Some(handle) = engine.job(job) {
                let r = handle.report();
                out += &format!("{:?} {} {} {}\n", r.status, r.total, r.filtered, r.sent);
            }
        }
        if let Ok(page) = engine.followers_page(account, None, 100) {
            for id in page.open_ids {
                out += &format!("{:?}\n", engine.broadcasts_this_month(account, id));
            }
        }
    }
    for u in 0..engine.user_count() as u32 {
        let items = engine.fetch(UserId(u), 0, 32).unwrap().items;
        for i in items {
            let content = match &i.content {
                Content::Message(m) => format!("{m:?}"),
                other => format!("{other:?}"),
            };
            out += &format!("{u} {:?} {:?} {content}\n", i.account, i.seq);
        }
    }
    out
}

/// Builds a state touching every rule. Returns (service account, subscription account).
fn build(engine: &Engine, clock: &ManualClock) -> (AccountId, AccountId) {
    let org = engine
        .create_subject("Org", SubjectKind::Organization)
        .unwrap();
    let person = engine
        .create_subject("Li", SubjectKind::Individual)
        .unwrap();
    engine.approve_quota(org, 3).unwrap();
    let service = engine
        .register_in_subject(org, "svc", AccountKind::Service, complete())
        .unwrap();
    let daily = engine
        .register_in_subject(org, "daily", AccountKind::Subscription, complete())
        .unwrap();
    let partial = engine
        .register_in_subject(
            person,
            "partial",
            AccountKind::Subscription,
            Registration::default(),
        )
        .unwrap();
    engine.set_verified(service, true).unwrap();
    let doomed = engine
        .register_in_subject(org, "doomed", AccountKind::Service, complete())
        .unwrap();
    let users = engine.add_users(4).unwrap();
    for u in users {
        engine.follow(service, u, Some("qr:hall")).unwrap();
        engine.follow(daily, u, None).unwrap();
        engine.follow(doomed, u, None).unwrap();
    }
    let _ = partial;
    // Monthly cap: 4 broadcasts to everyone, articles among them.
    let original = engine
        .send(service, to_all(article("t", "原创正文")).open_for_reprint())
        .unwrap()
        .id();
    let video_job = engine.send(service, to_all(video())).unwrap().id();
    let corrected = engine
        .send(service, to_all(article("t2", "abcdef")))
        .unwrap()
        .id();
    engine.send(service, to_all(text("4th"))).unwrap();
    engine.retract(video_job).unwrap();
    engine
        .correct_article(corrected, article_parts("t2", "abcdeX"))
        .unwrap();
    // Daily limit and a reprint.
    engine
        .send(daily, to_all(article("t", "原创正文")).reprint_of(original))
        .unwrap();
    // Schedules: one pending, one cancelled.
    engine
        .schedule(service, to_all(text("later")), clock.now_ms() + DAY)
        .unwrap();
    let cancelled = engine
        .schedule(service, to_all(text("never")), clock.now_ms() + DAY)
        .unwrap();
    engine.cancel_schedule(service, cancelled).unwrap();
    // Interaction.
    engine
        .set_auto_reply(service, "hours", text("9-5"))
        .unwrap();
    engine
        .message_account(users.first(), service, text("hours?"))
        .unwrap();
    // Penalties, speed, storage.
    engine.record_violation(daily).unwrap();
    engine.set_speed_tier(service, Some(1)).unwrap();
    engine.set_retention(service, Some(30 * DAY)).unwrap();
    engine.set_storage_quota(daily, Some(1 << 20)).unwrap();
    engine.terminate_account(doomed).unwrap();
    (service, daily)
}

use herald::Clock;

/// The rules still act on the restored state the same way.
fn check_behaviour(engine: &Engine, service: AccountId, daily: AccountId) {
    let fifth = engine.send(service, to_all(text("5th"))).unwrap().wait();
    assert_eq!(
        (fifth.filtered, fifth.sent),
        (4, 0),
        "the monthly cap survived"
    );
    assert!(matches!(
        engine.send(daily, to_all(text("x"))),
        Err(SendError::Banned { .. })
    ));
    assert!(matches!(
        engine.send(daily, to_all(article("t", "原创正文"))),
        Err(SendError::Banned { .. })
    ));
    let copier = engine
        .register_in_subject(SubjectId(0), "copier", AccountKind::Service, complete())
        .unwrap();
    assert!(matches!(
        engine.send(copier, to_all(article("t", "原创正文"))),
        Err(SendError::Unoriginal { .. })
    ));
    assert!(matches!(
        engine.register_in_subject(SubjectId(1), "second", AccountKind::Service, complete()),
        Err(herald::RegisterError::QuotaReached { .. })
    ));
}

#[test]
fn the_rules_state_survives_a_restart_from_the_log_alone() {
    let dir = tempdir("log");
    let clock = Arc::new(ManualClock::new(JAN_1_2024 + HOUR));
    let engine = open(&dir, &clock);
    let (service, daily) = build(&engine, &clock);
    let before = observe(&engine);
    for seen in [
        "Retracted",
        "reprint_of: Some",
        "corrections: 1",
        "Ban::Until",
        "speed_tier: Some(1)",
        "\"hours?\"",
        "missing: [\"region\", \"category\", \"contact\"]",
        "Ok(4)",
    ] {
        assert!(
            before.contains(seen.trim_start_matches("Ban::")),
            "{seen} in {before}"
        );
    }
    drop(engine);
    let engine = open(&dir, &clock);
    assert_eq!(observe(&engine), before);
    check_behaviour(&engine, service, daily);
    drop(engine);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_rules_state_survives_a_restart_from_a_snapshot_and_the_log() {
    let dir = tempdir("snapshot");
    let clock = Arc::new(ManualClock::new(JAN_1_2024 + HOUR));
    let engine = open(&dir, &clock);
    let (service, daily) = build(&engine, &clock);
    engine.snapshot().unwrap();
    // Changes after the snapshot come from the log.
    engine
        .set_auto_reply(service, "price", text("free"))
        .unwrap();
    engine
        .message_account(UserId(1), service, text("price?"))
        .unwrap();
    let before = observe(&engine);
    drop(engine);
    let engine = open(&dir, &clock);
    assert_eq!(observe(&engine), before);
    // And from the snapshot alone.
    engine.snapshot().unwrap();
    let before = observe(&engine);
    drop(engine);
    let engine = open(&dir, &clock);
    assert_eq!(observe(&engine), before);
    check_behaviour(&engine, service, daily);
    drop(engine);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_scheduled_send_survives_a_restart_and_fires_once() {
    let dir = tempdir("schedule");
    let clock = Arc::new(ManualClock::new(JAN_1_2024));
    let engine = open(&dir, &clock);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    engine
        .schedule(account, to_all(text("at noon")), JAN_1_2024 + 12 * HOUR)
        .unwrap();
    drop(engine);
    let engine = open(&dir, &clock);
    clock.set_ms(JAN_1_2024 + 12 * HOUR);
    assert_eq!(engine.run_due().len(), 1);
    engine.wait_idle().unwrap();
    drop(engine);
    let engine = open(&dir, &clock);
    assert!(
        engine.run_due().is_empty(),
        "fired before the restart: not again"
    );
    assert_eq!(engine.fetch(f[0].0, 0, 10).unwrap().items.len(), 1);
    drop(engine);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_purge_by_retention_survives_a_restart() {
    let dir = tempdir("purge");
    let clock = Arc::new(ManualClock::new(JAN_1_2024));
    let engine = open(&dir, &clock);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    engine.set_retention(account, Some(DAY)).unwrap();
    engine.send(account, to_all(text("old"))).unwrap().wait();
    clock.advance_ms(2 * DAY);
    engine.send(account, to_all(text("new"))).unwrap().wait();
    engine.run_due();
    assert_eq!(engine.fetch(f[0].0, 0, 10).unwrap().items.len(), 1);
    drop(engine);
    let engine = open(&dir, &clock);
    assert_eq!(engine.fetch(f[0].0, 0, 10).unwrap().items.len(), 1);
    engine.snapshot().unwrap();
    drop(engine);
    let engine = open(&dir, &clock);
    assert_eq!(engine.fetch(f[0].0, 0, 10).unwrap().items.len(), 1);
    drop(engine);
    std::fs::remove_dir_all(&dir).unwrap();
}
