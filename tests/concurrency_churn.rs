//! Sends while other threads follow, unfollow, tag and add users: each send reaches exactly
//! the audience fixed when it was accepted, once, and every inbox keeps each account's send
//! order, however the graph changes during fan-out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;

use herald::{
    AccountId, Audience, Engine, EngineConfig, FollowChange, FollowChangeError, FollowError,
    JobHandle, JobId, JobStatus, Message, SendRequest, Seq, TagError, TagExpr, TagId,
    UnfollowError, UserId,
};

/// A small, fast, seedable generator (xorshift64*), so runs can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

fn text(s: String) -> Message {
    Message::Text(s)
}

/// Follows `user` if it does not follow `account`, else unfollows it. Another thread may
/// race on the same user, so "already following" and "not following" are fine; anything
/// else is not.
fn toggle(engine: &Engine, user: UserId, account: AccountId) {
    if engine.is_following(account, user).unwrap() {
        match engine.unfollow(account, user) {
            Ok(()) | Err(UnfollowError::NotFollowing { .. }) => {}
            Err(e) => panic!("unfollow {user} {account}: {e:?}"),
        }
    } else {
        match engine.follow(account, user, Some("qr:churn")) {
            Ok(_) | Err(FollowError::AlreadyFollowing { .. }) => {}
            Err(e) => panic!("follow {user} {account}: {e:?}"),
        }
    }
}

/// `toggle` for several users in one `change_follows` batch (no source, so these follows
/// go through the account's pending log while `toggle`'s sourced ones apply at once).
fn toggle_batch(engine: &Engine, users: &[UserId], account: AccountId) {
    let changes: Vec<FollowChange> = users
        .iter()
        .map(|&user| {
            if engine.is_following(account, user).unwrap() {
                FollowChange::Unfollow { user, account }
            } else {
                FollowChange::Follow { user, account }
            }
        })
        .collect();
    for (change, result) in changes.iter().zip(engine.change_follows(&changes)) {
        match result {
            Ok(())
            | Err(FollowChangeError::Follow(FollowError::AlreadyFollowing { .. }))
            | Err(FollowChangeError::Unfollow(UnfollowError::NotFollowing { .. })) => {}
            Err(e) => panic!("{change:?}: {e:?}"),
        }
    }
}

/// The entries of `account` in `user`'s inbox, by sequence number, in inbox order.
fn seqs_of(engine: &Engine, user: u32, account: AccountId, capacity: usize) -> Vec<u32> {
    let fetched = engine.fetch(UserId(user), 0, capacity).unwrap();
    assert_eq!(fetched.missed, 0, "user {user} lost entries: {fetched:?}");
    fetched
        .items
        .iter()
        .filter(|i| i.account == account)
        .map(|i| i.seq.0)
        .collect()
}

#[test]
fn send_to_all_reaches_exactly_the_followers_at_acceptance_despite_churn() {
    const INITIAL: u32 = 1_000_000;
    const OUTSIDE: u32 = 100_000;
    const ROUNDS: usize = 3;
    const CAPACITY: usize = 4;
    let engine = Arc::new(Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity: CAPACITY,
        openid_secret: *b"churn-test-00001",
        ..Default::default()
    }));
    engine.add_users(INITIAL + OUTSIDE).unwrap();
    let account = engine.register_account("metro news").unwrap();
    let initial: Vec<UserId> = (0..INITIAL).map(UserId).collect();
    assert_eq!(
        engine.follow_many(account, &initial),
        Ok(u64::from(INITIAL))
    );

    // Churn threads hold the gate's read side for each operation; the main thread takes the
    // write side to pause them between two operations.
    let gate = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicU64::new(0));
    let churners: Vec<_> = (0..2u64)
        .map(|t| {
            let (engine, gate, stop, churned) = (
                Arc::clone(&engine),
                Arc::clone(&gate),
                Arc::clone(&stop),
                Arc::clone(&churned),
            );
            thread::spawn(move || {
                let mut rng = Rng::new(0xC0FFEE + t);
                // Thread 0 makes single calls, thread 1 batches of 8.
                let per_call = if t == 0 { 1 } else { 8 };
                let mut batch = Vec::with_capacity(per_call);
                while !stop.load(Ordering::Relaxed) {
                    let _paused_while_held = gate.read().unwrap();
                    let users = engine.user_count() as u32;
                    batch.clear();
                    batch.extend((0..per_call).map(|_| {
                        UserId(match rng.below(10) {
                            0..5 => rng.below(INITIAL),
                            5..8 => INITIAL + rng.below(OUTSIDE),
                            _ if users > INITIAL + OUTSIDE => {
                                INITIAL + OUTSIDE + rng.below(users - INITIAL - OUTSIDE)
                            }
                            _ => rng.below(users),
                        })
                    }));
                    match batch[..] {
                        [user] => toggle(&engine, user, account),
                        _ => toggle_batch(&engine, &batch, account),
                    }
                    if rng.below(2_000) == 0 {
                        // New users, who may then follow.
                        engine.add_users(50).unwrap();
                    }
                    churned.fetch_add(per_call as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut rounds: Vec<(JobHandle, Vec<bool>, u64)> = Vec::new();
    for round in 0..ROUNDS {
        // Let the churn run a little before each send.
        let before = churned.load(Ordering::Relaxed);
        while churned.load(Ordering::Relaxed) < before + 2_000 {
            thread::yield_now();
        }
        let paused = gate.write().unwrap();
        let users = engine.user_count() as u32;
        let followers: Vec<bool> = (0..users)
            .map(|u| engine.is_following(account, UserId(u)).unwrap())
            .collect();
        let count = followers.iter().filter(|f| **f).count() as u64;
        assert_eq!(engine.follower_count(account), Ok(count));
        let job = engine
            .send(
                account,
                SendRequest::new(text(format!("round {round}")), Audience::All),
            )
            .unwrap();
        drop(paused);
        // Keep churning until the job finishes.
        let at_send = churned.load(Ordering::Relaxed);
        let report = job.wait();
        eprintln!(
            "round {round}: {count} followers at acceptance, {} churn operations during fan-out",
            churned.load(Ordering::Relaxed) - at_send
        );
        assert_eq!(report.total, count, "{report:?}");
        assert_eq!(report.sent + report.errors, report.total, "{report:?}");
        assert_eq!((report.errors, report.status), (0, JobStatus::Done));
        rounds.push((job, followers, count));
    }
    stop.store(true, Ordering::Relaxed);
    for t in churners {
        t.join().unwrap();
    }
    engine.wait_idle().unwrap();
    assert!(churned.load(Ordering::Relaxed) > 6_000);

    // Every follower at a round's acceptance has that round's entry exactly once, nobody
    // else has it, and rounds arrive in order.
    let users = engine.user_count() as u32;
    let mut wrong = Vec::new();
    for u in 0..users {
        let got = seqs_of(&engine, u, account, CAPACITY);
        let expected: Vec<u32> = rounds
            .iter()
            .filter(|(_, followers, _)| followers.get(u as usize).copied().unwrap_or(false))
            .map(|(job, _, _)| job.id().seq.0)
            .collect();
        if got != expected && wrong.len() < 10 {
            wrong.push((u, got, expected));
        }
    }
    assert!(wrong.is_empty(), "(user, got, expected): {wrong:?}");
}

/// What a send in the second test went to.
#[derive(Debug, Clone, Copy)]
enum Kind {
    All,
    Tag,
    NotTag,
}

#[test]
fn concurrent_sends_from_several_accounts_keep_order_and_audience_despite_churn() {
    const ACCOUNTS: u32 = 4;
    /// Users below this never change their follows or tags.
    const STABLE: u32 = 100_000;
    const USERS: u32 = 150_000;
    const SENDERS: u64 = 3;
    const SENDS_PER_SENDER: u32 = 12;
    const CAPACITY: usize = 64;
    let engine = Arc::new(Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity: CAPACITY,
        openid_secret: *b"churn-test-00002",
        ..Default::default()
    }));
    engine.add_users(USERS).unwrap();
    // Account a is followed by every user with u % 4 != a (so accounts share followers), and
    // tags "vip" on its stable followers with u % 1000 < 3.
    let follows = |a: u32, u: u32| u % ACCOUNTS != a;
    let vip = |a: u32, u: u32| follows(a, u) && u < STABLE && u % 1000 < 3;
    let mut tags = Vec::new();
    for a in 0..ACCOUNTS {
        let account = engine.register_account(&format!("account {a}")).unwrap();
        assert_eq!(account, AccountId(a));
        let users: Vec<UserId> = (0..USERS).filter(|&u| follows(a, u)).map(UserId).collect();
        engine.follow_many(account, &users).unwrap();
        let tag = engine.create_tag(account, "vip").unwrap();
        let ids: Vec<_> = (0..STABLE)
            .filter(|&u| vip(a, u))
            .map(|u| engine.open_id(account, UserId(u)).unwrap())
            .collect();
        for batch in ids.chunks(50) {
            engine.tag_followers(account, tag, batch).unwrap();
        }
        tags.push(tag);
    }
    let tags = Arc::new(tags);

    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..2u64)
        .map(|t| {
            let (engine, stop, tags) = (Arc::clone(&engine), Arc::clone(&stop), Arc::clone(&tags));
            thread::spawn(move || {
                let mut rng = Rng::new(0xBEEF + t);
                let mut ops = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let account = AccountId(rng.below(ACCOUNTS));
                    let user = UserId(STABLE + rng.below(USERS - STABLE));
                    if rng.below(4) == 0 {
                        // Tag or untag a churning user, if it follows right now.
                        let id = engine.open_id(account, user).unwrap();
                        let tag: TagId = tags[account.0 as usize];
                        let result = if rng.below(2) == 0 {
                            engine.tag_followers(account, tag, &[id])
                        } else {
                            engine.untag_followers(account, tag, &[id])
                        };
                        match result {
                            Ok(_) | Err(TagError::NotFollowing(_)) => {}
                            Err(e) => panic!("retag {user} {account}: {e:?}"),
                        }
                    } else {
                        toggle(&engine, user, account);
                    }
                    ops += 1;
                }
                ops
            })
        })
        .collect();

    let sent: Arc<Mutex<Vec<(JobHandle, Kind)>>> = Arc::default();
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (engine, tags, sent) = (Arc::clone(&engine), Arc::clone(&tags), Arc::clone(&sent));
            thread::spawn(move || {
                let mut rng = Rng::new(0x5EED + t);
                for n in 0..SENDS_PER_SENDER {
                    let account = AccountId(rng.below(ACCOUNTS));
                    let tag = tags[account.0 as usize];
                    let (kind, audience) = match rng.below(3) {
                        0 => (Kind::All, Audience::All),
                        1 => (Kind::Tag, Audience::Tag(tag)),
                        _ => (
                            Kind::NotTag,
                            Audience::Expr(TagExpr::not(TagExpr::Tag(tag))),
                        ),
                    };
                    let message = text(format!("sender {t} message {n}"));
                    let job = engine
                        .send(account, SendRequest::new(message, audience))
                        .unwrap();
                    sent.lock().unwrap().push((job, kind));
                    thread::yield_now();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    engine.wait_idle().unwrap();
    stop.store(true, Ordering::Relaxed);
    let churn_ops: u64 = churners.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!("{churn_ops} churn operations");
    assert!(churn_ops > 0);

    let jobs = std::mem::take(&mut *sent.lock().unwrap());
    assert_eq!(jobs.len(), (SENDERS as u32 * SENDS_PER_SENDER) as usize);
    let mut total_delivered = 0;
    let mut kinds: BTreeMap<JobId, Kind> = BTreeMap::new();
    for (job, kind) in &jobs {
        let report = job.report();
        assert_eq!(report.status, JobStatus::Done, "{report:?}");
        assert_eq!(
            (report.sent, report.errors),
            (report.total, 0),
            "{report:?}"
        );
        total_delivered += report.total;
        kinds.insert(job.id(), *kind);
    }
    // Sequence numbers per account are dense: 1..=n.
    for a in 0..ACCOUNTS {
        let seqs: Vec<u32> = kinds
            .keys()
            .filter(|id| id.account == AccountId(a))
            .map(|id| id.seq.0)
            .collect();
        assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    }

    let mut entries = 0;
    for u in 0..USERS {
        let fetched = engine.fetch(UserId(u), 0, CAPACITY).unwrap();
        assert_eq!(fetched.missed, 0);
        entries += fetched.items.len() as u64;
        for a in 0..ACCOUNTS {
            let account = AccountId(a);
            let got: Vec<u32> = fetched
                .items
                .iter()
                .filter(|i| i.account == account)
                .map(|i| i.seq.0)
                .collect();
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "user {u}, {account}: out of order or repeated: {got:?}"
            );
            // Exactly the sends whose audience (fixed at acceptance) held the user.
            let recovered = engine.recover(account, UserId(u), Seq(0), 256).unwrap();
            let audience: Vec<u32> = recovered.messages.iter().map(|(s, _)| s.0).collect();
            assert_eq!(got, audience, "user {u}, {account}");
            if u < STABLE {
                // A stable user's follows and tags never changed: its share is known.
                let expected: Vec<u32> = kinds
                    .iter()
                    .filter(|(id, _)| id.account == account)
                    .filter(|(_, kind)| match kind {
                        Kind::All => follows(a, u),
                        Kind::Tag => vip(a, u),
                        Kind::NotTag => follows(a, u) && !vip(a, u),
                    })
                    .map(|(id, _)| id.seq.0)
                    .collect();
                assert_eq!(got, expected, "stable user {u}, {account}");
            }
        }
    }
    assert_eq!(entries, total_delivered);
}

/// Regression (fixed): `JobHandle::report()` can return a report whose status is
/// finished (`Done`) but whose `finished_at_ms` is `None`, although its doc says the report
/// is "final once `status().is_finished()`". `Job::finish` (`machinery/job.rs`) stores the
/// status before it stores the final report under the `finished` lock; `report()` finds no
/// final report, reads the new status and builds a report without `finished_at_ms`. A
/// monitor polling `report()` while the job finishes sees it on most jobs.
#[test]
fn regression_a_polled_report_can_be_finished_without_a_finish_time() {
    let engine = Engine::new(EngineConfig {
        threads: 2,
        openid_secret: *b"churn-test-00003",
        ..Default::default()
    });
    engine.add_users(100).unwrap();
    let account = engine.register_account("polled").unwrap();
    let users: Vec<UserId> = (0..100).map(UserId).collect();
    engine.follow_many(account, &users).unwrap();
    let mut inconsistent = 0;
    for n in 0..3_000 {
        let job = engine
            .send(
                account,
                SendRequest::new(text(format!("poll {n}")), Audience::All),
            )
            .unwrap();
        loop {
            let report = job.report();
            if report.status.is_finished() {
                if report.finished_at_ms.is_none() {
                    inconsistent += 1;
                }
                break;
            }
        }
        let last = job.wait();
        assert!(last.finished_at_ms.is_some());
    }
    assert_eq!(
        inconsistent, 0,
        "{inconsistent} of 3,000 polled jobs gave a finished report without finished_at_ms"
    );
}
