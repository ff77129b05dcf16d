//! Fan-out throughput: one broadcast to N followers into the embedded inbox, swept over
//! 10K, 100K, 1M and 10M followers (criterion measures send to final report).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herald::{Audience, Engine, EngineConfig, Message, SendRequest, UserId};

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    for followers in [10_000u32, 100_000, 1_000_000, 10_000_000] {
        let engine = Engine::new(EngineConfig {
            history_window: 16,
            ..EngineConfig::default()
        });
        let users = engine.add_users(followers).expect("users");
        let account = engine.register_account("bench").expect("account");
        let ids: Vec<UserId> = users.iter().collect();
        engine.follow_many(account, &ids).expect("follow");
        group.throughput(Throughput::Elements(u64::from(followers)));
        if followers >= 1_000_000 {
            group.sample_size(10);
        }
        group.bench_with_input(
            BenchmarkId::from_parameter(followers),
            &followers,
            |b, _| {
                b.iter(|| {
                    let job = engine
                        .send(
                            account,
                            SendRequest::new(Message::Text("bench".into()), Audience::All),
                        )
                        .expect("send");
                    let report = job.wait();
                    assert_eq!(report.sent, u64::from(followers));
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
