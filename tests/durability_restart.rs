//! Restarting a durable engine: snapshots plus log replay rebuild exactly the state that
//! was acknowledged; damaged files are cut or skipped, never trusted; one process per
//! directory.

use std::collections::BTreeMap;
use std::path::Path;

use herald::{
    AccountId, Audience, Content, Engine, EngineConfig, FollowChange, FollowChangeError,
    FollowError, Message, SendRequest, StoreError, SyncPolicy, TagExpr, UserId,
};

fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: 8,
        openid_secret: *b"restart-tests-00",
        sync: SyncPolicy::Always,
        ..EngineConfig::default()
    }
}

fn text(s: &str) -> Message {
    Message::Text(s.to_owned())
}

/// (name, followers, tags with sizes, sources with current and total counts)
type AccountView = (
    String,
    Vec<u32>,
    Vec<(String, u64)>,
    Vec<(String, u64, u64)>,
);

/// Everything observable about the engine that a restart must preserve.
#[derive(Debug, PartialEq)]
struct Observed {
    users: u64,
    accounts: Vec<AccountView>,
    following: Vec<Vec<u32>>,
    inboxes: Vec<Vec<(u32, u32, Option<Message>)>>,
    missed: Vec<(u64, Vec<(u32, u32)>)>,
    jobs: BTreeMap<(u32, u32), (u64, u64, u64)>,
}

fn observe(engine: &Engine) -> Observed {
    engine.wait_idle().unwrap();
    let users = engine.user_count();
    let mut accounts = Vec::new();
    let mut jobs = BTreeMap::new();
    for a in 0..engine.account_count() as u32 {
        let account = AccountId(a);
        let followers: Vec<u32> = (0..users as u32)
            .filter(|&u| engine.is_following(account, UserId(u)).unwrap())
            .collect();
        let tags = engine
            .tags(account)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.followers))
            .collect();
        let sources = engine
            .follow_sources(account)
            .unwrap()
            .into_iter()
            .map(|s| (s.source, s.current, s.total))
            .collect();
        accounts.push((
            engine.account_name(account).unwrap(),
            followers,
            tags,
            sources,
        ));
        for seq in 1.. {
            let Some(job) = engine.job(herald::JobId {
                account,
                seq: herald::Seq(seq),
            }) else {
                break;
            };
            let r = job.wait();
            jobs.insert((a, seq), (r.total, r.sent, r.errors));
        }
    }
    let mut following = Vec::new();
    let mut inboxes = Vec::new();
    let mut missed = Vec::new();
    for u in 0..users as u32 {
        following.push(
            engine
                .following(UserId(u))
                .unwrap()
                .into_iter()
                .map(|a| a.0)
                .collect(),
        );
        let fetched = engine.fetch(UserId(u), 0, 8).unwrap();
        inboxes.push(
            fetched
                .items
                .iter()
                .map(|i| {
                    let content = match &i.content {
                        Content::Message(m) => Some((**m).clone()),
                        Content::Expired | Content::Retracted => None,
                    };
                    (i.account.0, i.seq.0, content)
                })
                .collect(),
        );
        missed.push((
            fetched.missed,
            fetched
                .missed_from
                .iter()
                .map(|(a, s)| (a.0, s.0))
                .collect(),
        ));
    }
    Observed {
        users,
        accounts,
        following,
        inboxes,
        missed,
        jobs,
    }
}

/// A workload touching every kind of record.
fn workload(engine: &Engine, round: u32) {
    let first = engine.add_users(50).unwrap().first().0;
    let a = engine
        .register_account(&format!("account {round}"))
        .unwrap();
    let b = if engine.account_count() > 1 {
        AccountId(0)
    } else {
        a
    };
    let vip = engine.create_tag(a, "vip").unwrap();
    let gone = engine.create_tag(a, "gone").unwrap();
    let mut open_ids = Vec::new();
    for u in first..first + 50 {
        let id = engine
            .follow(a, UserId(u), (u % 3 == 0).then_some("qr:hall"))
            .unwrap();
        if u % 2 == 0 {
            open_ids.push(id);
        }
    }
    let users: Vec<UserId> = (0..first + 50).step_by(3).map(UserId).collect();
    engine.follow_many(b, &users).unwrap();
    for chunk in open_ids.chunks(10) {
        engine.tag_followers(a, vip, chunk).unwrap();
    }
    engine.tag_followers(a, gone, &open_ids[..3]).unwrap();
    engine.untag_followers(a, vip, &open_ids[..2]).unwrap();
    engine.delete_tag(a, gone).unwrap();
    // A batch: some leave (out of their tags and sources), come back and leave again; one
    // change is refused and must change nothing.
    let mut batch = vec![FollowChange::Follow {
        user: UserId(first + 1),
        account: a,
    }];
    for u in
        (first + 1..first + 50).filter(|u| (u - first) % 5 == 1 && !(u - first).is_multiple_of(7))
    {
        let (user, account) = (UserId(u), a);
        batch.push(FollowChange::Unfollow { user, account });
        batch.push(FollowChange::Follow { user, account });
        batch.push(FollowChange::Unfollow { user, account });
    }
    let results = engine.change_follows(&batch);
    assert!(matches!(
        results[0],
        Err(FollowChangeError::Follow(
            FollowError::AlreadyFollowing { .. }
        ))
    ));
    assert!(results[1..].iter().all(Result::is_ok), "{results:?}");
    for u in (first..first + 50).step_by(7) {
        engine.unfollow(a, UserId(u)).unwrap();
    }
    for i in 0..12 {
        let audience = match i % 3 {
            0 => Audience::All,
            1 => Audience::Tag(vip),
            _ => Audience::Expr(TagExpr::not(TagExpr::Tag(vip))),
        };
        let req = SendRequest::new(text(&format!("r{round} m{i}")), audience)
            .idempotency_key(format!("k{round}-{i}"));
        engine.send(a, req).unwrap();
        engine
            .send(
                b,
                SendRequest::new(text(&format!("b{round} m{i}")), Audience::All),
            )
            .unwrap();
    }
    // Left unapplied at the end, for a snapshot to store: two tagged followers leave, a
    // broadcast to all applies that to the followers but leaves the tags to clean; two more
    // leave and stay in the account's pending log.
    let leaving: Vec<UserId> = (first + 4..first + 50)
        .step_by(2)
        .map(UserId)
        .filter(|&u| engine.is_following(a, u).unwrap())
        .take(4)
        .collect();
    let unfollow = |users: &[UserId]| -> Vec<FollowChange> {
        users
            .iter()
            .map(|&user| FollowChange::Unfollow { user, account: a })
            .collect()
    };
    assert!(
        engine
            .change_follows(&unfollow(&leaving[..2]))
            .iter()
            .all(Result::is_ok)
    );
    engine
        .send(
            a,
            SendRequest::new(text(&format!("r{round} after")), Audience::All),
        )
        .unwrap();
    assert!(
        engine
            .change_follows(&unfollow(&leaving[2..]))
            .iter()
            .all(Result::is_ok)
    );
}

fn reopen(dir: &Path) -> Engine {
    let engine = Engine::open(dir, config()).unwrap();
    assert!(
        engine.recovery_warnings().is_empty(),
        "{:?}",
        engine.recovery_warnings()
    );
    engine
}

#[test]
fn restart_from_the_log_alone_restores_everything() {
    let dir = tempdir("log-alone");
    let engine = Engine::open(&dir, config()).unwrap();
    workload(&engine, 0);
    workload(&engine, 1);
    let before = observe(&engine);
    drop(engine);
    let engine = reopen(&dir);
    assert_eq!(observe(&engine), before);
    // And it keeps working: a repeated idempotency key returns the restored job.
    let again = engine
        .send(
            AccountId(1),
            SendRequest::new(text("r1 m0"), Audience::All).idempotency_key("k1-0"),
        )
        .unwrap();
    assert_eq!(again.id().seq.0, 1);
}

#[test]
fn restart_from_snapshot_plus_log_restores_everything() {
    let dir = tempdir("snapshot-plus-log");
    let engine = Engine::open(&dir, config()).unwrap();
    workload(&engine, 0);
    engine.wait_idle().unwrap();
    let stats = engine.snapshot().unwrap();
    assert!(stats.bytes > 0 && stats.lsn > 0);
    workload(&engine, 1);
    engine.wait_idle().unwrap();
    engine.snapshot().unwrap();
    workload(&engine, 2);
    let before = observe(&engine);
    drop(engine);
    let engine = reopen(&dir);
    assert_eq!(observe(&engine), before);
}

#[test]
fn snapshot_taken_during_fan_out_neither_loses_nor_repeats_deliveries() {
    let dir = tempdir("snapshot-during-fanout");
    let engine = Engine::open(&dir, config()).unwrap();
    let users = engine.add_users(300_000).unwrap();
    let a = engine.register_account("big").unwrap();
    let ids: Vec<UserId> = users.iter().collect();
    engine.follow_many(a, &ids).unwrap();
    let mut jobs = Vec::new();
    for i in 0..6 {
        jobs.push(
            engine
                .send(a, SendRequest::new(text(&format!("m{i}")), Audience::All))
                .unwrap(),
        );
        if i % 2 == 1 {
            engine.snapshot().unwrap();
        }
    }
    let before = observe_inboxes(&engine, &ids);
    drop(engine);
    let engine = reopen(&dir);
    assert_eq!(observe_inboxes(&engine, &ids), before);
    for u in [0, 1, 65_535, 65_536, 299_999] {
        let seqs: Vec<u32> = engine
            .fetch(UserId(u), 0, 8)
            .unwrap()
            .items
            .iter()
            .map(|i| i.seq.0)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6], "user {u}");
    }
}

fn observe_inboxes(engine: &Engine, users: &[UserId]) -> Vec<Vec<u32>> {
    engine.wait_idle().unwrap();
    users
        .iter()
        .map(|&u| {
            engine
                .fetch(u, 0, 8)
                .unwrap()
                .items
                .iter()
                .map(|i| i.seq.0)
                .collect()
        })
        .collect()
}

#[test]
fn a_torn_log_tail_is_cut_with_a_warning() {
    let dir = tempdir("torn-tail");
    let engine = Engine::open(&dir, config()).unwrap();
    workload(&engine, 0);
    let before = observe(&engine);
    drop(engine);
    let segment = newest(&dir, ".wal");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&[0x17, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    std::fs::write(&segment, &bytes).unwrap();
    let engine = Engine::open(&dir, config()).unwrap();
    assert_eq!(
        engine.recovery_warnings().len(),
        1,
        "{:?}",
        engine.recovery_warnings()
    );
    assert!(engine.recovery_warnings()[0].contains("dropped 10 bytes"));
    assert_eq!(observe(&engine), before);
}

#[test]
fn a_corrupt_snapshot_falls_back_to_the_previous_one_and_the_log() {
    let dir = tempdir("corrupt-snapshot");
    let engine = Engine::open(&dir, config()).unwrap();
    workload(&engine, 0);
    engine.wait_idle().unwrap();
    engine.snapshot().unwrap();
    workload(&engine, 1);
    engine.wait_idle().unwrap();
    engine.snapshot().unwrap();
    workload(&engine, 2);
    let before = observe(&engine);
    drop(engine);
    let snap = newest(&dir, ".hsnap");
    let mut bytes = std::fs::read(&snap).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&snap, &bytes).unwrap();
    let engine = Engine::open(&dir, config()).unwrap();
    assert!(
        engine
            .recovery_warnings()
            .iter()
            .any(|w| w.contains("checksum")),
        "{:?}",
        engine.recovery_warnings()
    );
    assert_eq!(observe(&engine), before);
}

#[test]
fn a_file_of_another_version_is_refused_by_name() {
    let dir = tempdir("version");
    let engine = Engine::open(&dir, config()).unwrap();
    workload(&engine, 0);
    drop(engine);
    let segment = newest(&dir, ".wal");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[8] = 9;
    std::fs::write(&segment, &bytes).unwrap();
    match Engine::open(&dir, config()) {
        Err(StoreError::Version {
            found: 9,
            supported: 3,
            ..
        }) => {}
        other => panic!("expected a version error, got {other:?}"),
    }
}

#[test]
fn a_directory_opens_in_one_engine_at_a_time() {
    let dir = tempdir("lock");
    let engine = Engine::open(&dir, config()).unwrap();
    assert!(matches!(
        Engine::open(&dir, config()),
        Err(StoreError::Locked(_))
    ));
    drop(engine);
    Engine::open(&dir, config()).unwrap();
}

fn newest(dir: &Path, suffix: &str) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files.pop().unwrap()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_directory_refuses_another_openid_secret() {
    let dir = tempdir("secret");
    let engine = Engine::open(&dir, config()).unwrap();
    engine.add_users(1).unwrap();
    drop(engine);
    let other = EngineConfig {
        openid_secret: *b"another-secret-0",
        ..config()
    };
    assert!(matches!(
        Engine::open(&dir, other),
        Err(StoreError::SecretMismatch(_))
    ));
    assert_eq!(Engine::open(&dir, config()).unwrap().user_count(), 1);
}
