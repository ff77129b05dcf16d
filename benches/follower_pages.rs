//! Follower paging: a whole pass through N followers in pages of 10,000, swept over 10K,
//! 100K, 1M and 10M followers, from a cold cache (the pass includes sorting the account's
//! OpenIDs); the first page alone (that sort); one page from a warm cache; a page of 20 of
//! a small account; and, for comparison, passes with the cache turned off (every page
//! encodes every follower). Pages per second = followers per second / 10,000.

use std::sync::Arc;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use herald::{AccountId, Engine, EngineConfig, ManualClock, OpenId, UserId};

const PAGE: usize = 10_000;
const IDLE_MS: u64 = 1_000;

struct Setup {
    engine: Engine,
    clock: Arc<ManualClock>,
    account: AccountId,
}

fn setup(followers: u32, cache: bool) -> Setup {
    let clock = Arc::new(ManualClock::new(0));
    let engine = Engine::builder(EngineConfig {
        follower_cache_idle_ms: IDLE_MS,
        follower_cache_min: if cache {
            EngineConfig::default().follower_cache_min
        } else {
            u64::MAX
        },
        ..EngineConfig::default()
    })
    .clock(clock.clone())
    .build();
    let users = engine.add_users(followers).expect("users");
    let account = engine.register_account("bench").expect("account");
    let ids: Vec<UserId> = users.iter().collect();
    engine.follow_many(account, &ids).expect("follow");
    Setup {
        engine,
        clock,
        account,
    }
}

impl Setup {
    /// Lets the account's cache go idle: the next page drops it and builds a new one.
    fn cool(&self) {
        self.clock.advance_ms(IDLE_MS);
    }

    fn pass(&self) -> u64 {
        let (mut after, mut seen) = (None::<OpenId>, 0u64);
        loop {
            let page = self
                .engine
                .followers_page(self.account, after, PAGE)
                .expect("page");
            seen += page.open_ids.len() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => return seen,
            }
        }
    }
}

fn passes(c: &mut Criterion) {
    let mut group = c.benchmark_group("follower_pages/pass");
    for followers in [10_000u32, 100_000, 1_000_000, 10_000_000] {
        let s = setup(followers, true);
        group.throughput(Throughput::Elements(u64::from(followers)));
        if followers >= 1_000_000 {
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
        }
        group.bench_with_input(BenchmarkId::from_parameter(followers), &s, |b, s| {
            b.iter(|| {
                s.cool();
                assert_eq!(s.pass(), u64::from(followers));
            });
        });
    }
    group.finish();
}

fn first_and_warm_pages(c: &mut Criterion) {
    let mut group = c.benchmark_group("follower_pages/first_page");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let big: Vec<(u32, Setup)> = [1_000_000u32, 10_000_000]
        .into_iter()
        .map(|n| (n, setup(n, true)))
        .collect();
    for (followers, s) in &big {
        group.bench_with_input(BenchmarkId::from_parameter(followers), s, |b, s| {
            b.iter(|| {
                s.cool();
                s.engine
                    .followers_page(s.account, None, PAGE)
                    .expect("page")
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("follower_pages/warm_page");
    for (followers, s) in &big {
        let first = s
            .engine
            .followers_page(s.account, None, PAGE)
            .expect("page");
        let middle = s
            .engine
            .followers_page(s.account, first.next, PAGE)
            .expect("page")
            .next;
        group.bench_with_input(BenchmarkId::from_parameter(followers), s, |b, s| {
            b.iter(|| {
                s.engine
                    .followers_page(s.account, middle, PAGE)
                    .expect("page")
            });
        });
    }
    group.finish();
    drop(big);

    // 100 followers: computed per page (at most `follower_cache_min`, 256); 1,000: cached
    // after the first page.
    let mut group = c.benchmark_group("follower_pages/small_account_page");
    for followers in [100u32, 1_000] {
        let s = setup(followers, true);
        group.bench_with_input(BenchmarkId::from_parameter(followers), &s, |b, s| {
            b.iter(|| s.engine.followers_page(s.account, None, 20).expect("page"));
        });
    }
    group.finish();
}

/// The alternative the cache replaces: every page computed from all the followers.
fn uncached_passes(c: &mut Criterion) {
    let mut group = c.benchmark_group("follower_pages/pass_without_cache");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for followers in [100_000u32, 1_000_000] {
        let s = setup(followers, false);
        group.throughput(Throughput::Elements(u64::from(followers)));
        group.bench_with_input(BenchmarkId::from_parameter(followers), &s, |b, s| {
            b.iter(|| assert_eq!(s.pass(), u64::from(followers)));
        });
    }
    group.finish();
}

criterion_group!(benches, passes, first_and_warm_pages, uncached_passes);
criterion_main!(benches);
