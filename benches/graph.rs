//! Subscription graph throughput: follows and unfollows one at a time and in batches of
//! 64 (`change_follows`), and a bulk import. The graph here fits in cache; `loadgen mixed
//! --send-rate 1 --churn-rate 0` measures both on ten million users, where it does not.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use herald::{Engine, EngineConfig, FollowChange, UserId};

const USERS: u32 = 100_000;

fn follow_unfollow(c: &mut Criterion) {
    let engine = Engine::new(EngineConfig::default());
    engine.add_users(USERS).expect("users");
    let accounts: Vec<_> = (0..64)
        .map(|i| {
            engine
                .register_account(&format!("account {i}"))
                .expect("account")
        })
        .collect();
    let mut group = c.benchmark_group("graph");
    // Each iteration follows then unfollows 10,000 (user, account) pairs spread over
    // accounts and users: 20,000 operations.
    group.throughput(Throughput::Elements(20_000));
    group.bench_function("follow+unfollow", |b| {
        b.iter(|| {
            for i in 0..10_000u32 {
                let user = UserId(i.wrapping_mul(7_919) % USERS);
                engine
                    .follow(accounts[(i % 64) as usize], user, None)
                    .expect("follow");
            }
            for i in 0..10_000u32 {
                let user = UserId(i.wrapping_mul(7_919) % USERS);
                engine
                    .unfollow(accounts[(i % 64) as usize], user)
                    .expect("unfollow");
            }
        });
    });
    // The same 20,000 operations through the batch call, 64 at a time.
    let pairs: Vec<_> = (0..10_000u32)
        .map(|i| {
            (
                UserId(i.wrapping_mul(7_919) % USERS),
                accounts[(i % 64) as usize],
            )
        })
        .collect();
    let follows: Vec<FollowChange> = pairs
        .iter()
        .map(|&(user, account)| FollowChange::Follow { user, account })
        .collect();
    let unfollows: Vec<FollowChange> = pairs
        .iter()
        .map(|&(user, account)| FollowChange::Unfollow { user, account })
        .collect();
    group.bench_function("change_follows (batches of 64)", |b| {
        b.iter(|| {
            for changes in [&follows, &unfollows] {
                for batch in changes.chunks(64) {
                    let results = engine.change_follows(batch);
                    assert!(results.iter().all(Result::is_ok));
                }
            }
        });
    });
    let users: Vec<UserId> = (0..USERS).map(UserId).collect();
    group.throughput(Throughput::Elements(u64::from(USERS)));
    group.bench_function("follow_many", |b| {
        b.iter_batched(
            || {
                let engine = Engine::new(EngineConfig::default());
                engine.add_users(USERS).expect("users");
                let account = engine.register_account("bulk").expect("account");
                (engine, account)
            },
            |(engine, account)| {
                engine.follow_many(account, &users).expect("import");
                engine
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, follow_unfollow);
criterion_main!(benches);
