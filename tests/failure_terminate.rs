//! Terminating an account while one of its sends is still being delivered.
//!
//! Regression: a snapshot taken after the termination left out the in-flight job of the
//! account that no longer existed, while the log after it still held the `ChunkDone` record
//! of the chunk being delivered at the time; `Engine::open` then failed every time with
//! `Corrupt("record N finishes a chunk of job A/S, which is not in flight")`. Now a
//! termination cancels the account's unfinished sends (their remaining recipients are
//! skipped, the job ends `Cancelled`), and replay skips chunk records of a terminated
//! account.

mod common;

use std::time::Duration;

use common::disk::fresh_dir as dir;
use common::sink::holding_sink;
use herald::{
    AccountId, Audience, Engine, EngineConfig, JobStatus, Message, SendRequest, SyncPolicy, UserId,
};

fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: 8,
        chunk_target: 1,
        openid_secret: *b"terminate-test-0",
        sync: SyncPolicy::Always,
        ..EngineConfig::default()
    }
}

/// One follower in each of `keys` blocks of 65,536 ids: a send to them has `keys` chunks.
fn spread_followers(engine: &Engine, account: AccountId, keys: u32) {
    engine.add_users(keys << 16).unwrap();
    let users: Vec<UserId> = (0..keys).map(|k| UserId(k << 16)).collect();
    engine.follow_many(account, &users).unwrap();
}

#[test]
fn a_snapshot_after_terminating_an_account_mid_send_opens_again() {
    let dir = dir("terminate-snapshot");
    let (sink, arrived, go) = holding_sink();
    // One worker: the held batch is the only one at the sink.
    let one_worker = EngineConfig {
        threads: 1,
        ..config()
    };
    let engine = Engine::builder(one_worker.clone())
        .sink(sink)
        .open(&dir)
        .unwrap();
    let doomed = engine.register_account("doomed").unwrap();
    let other = engine.register_account("other").unwrap();
    spread_followers(&engine, doomed, 3);
    engine.follow(other, UserId(7), None).unwrap();
    let job = engine
        .send(
            doomed,
            SendRequest::new(Message::Text("last words".into()), Audience::All),
        )
        .unwrap();
    // The first batch is at the sink, held there.
    arrived.recv_timeout(Duration::from_secs(10)).unwrap();
    engine.terminate_account(doomed).unwrap();
    engine.snapshot().unwrap();
    // The held batch returns after the snapshot: its record follows the snapshot's LSN.
    go.send(()).unwrap();
    engine.wait_idle().unwrap();
    let report = job.wait();
    assert_eq!(report.status, JobStatus::Cancelled, "{report:?}");
    assert_eq!(report.total, 3);
    assert_eq!((report.sent, report.cancelled), (1, 2), "{report:?}");
    assert_eq!(
        report.total,
        report.filtered + report.sent + report.errors + report.cancelled
    );
    // Other accounts carry on.
    let other_job = engine
        .send(
            other,
            SendRequest::new(Message::Text("still here".into()), Audience::All),
        )
        .unwrap();
    arrived.recv_timeout(Duration::from_secs(10)).unwrap();
    go.send(()).unwrap();
    assert_eq!(other_job.wait().sent, 1);
    drop(engine);

    let (sink, _arrived, _go) = holding_sink();
    let engine = Engine::builder(one_worker)
        .sink(sink)
        .open(&dir)
        .expect("a directory the engine wrote opens again");
    assert!(engine.account_name(doomed).is_err());
    assert_eq!(engine.account_name(other).unwrap(), "other");
    assert_eq!(
        engine.unfinished_jobs(),
        0,
        "nothing of the doomed account resumes"
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn terminating_an_account_stops_its_paced_send_and_the_log_replays() {
    // Without a snapshot this time: replaying the termination cancels the job the log
    // accepted before it, so a reopen does not deliver the rest.
    let dir = dir("terminate-paced");
    let engine = Engine::open(&dir, config()).unwrap();
    let doomed = engine.register_account("doomed").unwrap();
    spread_followers(&engine, doomed, 4);
    // Tier 4 (100,000 a minute): after the first chunk the next may start only later.
    engine.set_speed_tier(doomed, Some(4)).unwrap();
    let job = engine
        .send(
            doomed,
            SendRequest::new(Message::Text("paced".into()), Audience::All),
        )
        .unwrap();
    engine.terminate_account(doomed).unwrap();
    engine.wait_idle().unwrap();
    let report = job.wait();
    assert_eq!(report.status, JobStatus::Cancelled, "{report:?}");
    assert!(report.cancelled >= 1, "{report:?}");
    assert_eq!(report.sent + report.cancelled, 4, "{report:?}");
    // Nobody sees a terminated account's message.
    for k in 0..4 {
        assert!(
            engine
                .fetch(UserId(k << 16), 0, 8)
                .unwrap()
                .items
                .is_empty()
        );
    }
    drop(engine);

    let engine = Engine::open(&dir, config()).unwrap();
    engine.wait_idle().unwrap();
    assert_eq!(engine.unfinished_jobs(), 0);
    for k in 0..4 {
        assert!(
            engine
                .fetch(UserId(k << 16), 0, 8)
                .unwrap()
                .items
                .is_empty()
        );
    }
    engine.snapshot().unwrap();
    drop(engine);
    Engine::open(&dir, config()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
