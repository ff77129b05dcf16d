//! Follower paging against a model while follows and unfollows come between the pages:
//! every page must equal the model's (the smallest OpenIDs above the cursor among the
//! followers of the moment), a pass must never return an OpenID twice, and a user who
//! follows through a whole pass must be returned in it. Cases run with and without the
//! per-account cache, with a memory budget that fits one cache or none, and with the cache
//! dropped for idleness between pages.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use herald::{AccountId, Engine, EngineConfig, ManualClock, OpenId, UserId};
use proptest::prelude::*;

const USERS: u32 = 2_000;
const IDLE_MS: u64 = 1_000;

#[derive(Debug, Clone)]
enum Op {
    Follow(u32),
    Unfollow(u32),
    /// Bulk follows of the users from the first on who do not follow yet, at most this many.
    FollowMany(u32, u32),
    /// The next page of the pass (its first, if none is going on).
    Page(usize),
    /// Abandon the pass: the next page starts a new one.
    NewPass,
    /// Let the cache go idle.
    Idle,
    /// A page of the other account (competes for the cache budget).
    OtherPage(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..USERS).prop_map(Op::Follow),
        4 => (0..USERS).prop_map(Op::Unfollow),
        1 => (0..USERS, 1u32..300).prop_map(|(u, n)| Op::FollowMany(u, n)),
        5 => prop_oneof![1usize..20, 1usize..2_500].prop_map(Op::Page),
        1 => Just(Op::NewPass),
        1 => Just(Op::Idle),
        1 => (1usize..500).prop_map(Op::OtherPage),
    ]
}

/// One pass in progress.
#[derive(Default)]
struct Pass {
    after: Option<OpenId>,
    returned: BTreeSet<u64>,
    /// Users following since the pass began without a break.
    throughout: BTreeSet<u32>,
}

struct Model {
    engine: Engine,
    clock: Arc<ManualClock>,
    account: AccountId,
    followers: BTreeSet<u32>,
    ids: HashMap<u32, u64>,
}

impl Model {
    fn id(&mut self, user: u32) -> u64 {
        let (engine, account) = (&self.engine, self.account);
        *self
            .ids
            .entry(user)
            .or_insert_with(|| engine.open_id(account, UserId(user)).unwrap().0)
    }

    /// The page as the model computes it.
    fn page(&mut self, after: Option<OpenId>, limit: usize) -> (Vec<u64>, bool) {
        let followers: Vec<u32> = self.followers.iter().copied().collect();
        let mut ids: Vec<u64> = followers
            .into_iter()
            .map(|u| self.id(u))
            .filter(|&id| after.is_none_or(|a| id > a.0))
            .collect();
        ids.sort_unstable();
        let more = ids.len() > limit;
        ids.truncate(limit);
        (ids, more)
    }
}

fn run(
    initial: BTreeSet<u32>,
    ops: Vec<Op>,
    cache_min: u64,
    cache_bytes: usize,
) -> Result<(), TestCaseError> {
    let clock = Arc::new(ManualClock::new(0));
    let engine = Engine::builder(EngineConfig {
        openid_secret: *b"paging-model-key",
        follower_cache_min: cache_min,
        follower_cache_bytes: cache_bytes,
        follower_cache_idle_ms: IDLE_MS,
        threads: 1,
        shards: 2,
        ..EngineConfig::default()
    })
    .clock(clock.clone())
    .build();
    engine.add_users(USERS).unwrap();
    let account = engine.register_account("paged").unwrap();
    let other = engine.register_account("other").unwrap();
    let start: Vec<UserId> = initial.iter().map(|&u| UserId(u)).collect();
    engine.follow_many(account, &start).unwrap();
    // The other account shares about half of the users.
    let half: Vec<UserId> = (0..USERS).step_by(2).map(UserId).collect();
    engine.follow_many(other, &half).unwrap();
    let mut m = Model {
        engine,
        clock,
        account,
        followers: initial,
        ids: HashMap::new(),
    };
    let mut pass: Option<Pass> = None;
    let mut other_after: Option<OpenId> = None;
    for op in ops {
        match op {
            Op::Follow(u) => {
                let done = m.engine.follow(account, UserId(u), None).is_ok();
                prop_assert_eq!(done, m.followers.insert(u), "follow {}", u);
            }
            Op::Unfollow(u) => {
                let done = m.engine.unfollow(account, UserId(u)).is_ok();
                prop_assert_eq!(done, m.followers.remove(&u), "unfollow {}", u);
                if let Some(p) = &mut pass {
                    p.throughout.remove(&u);
                }
            }
            Op::FollowMany(from, n) => {
                let new: Vec<u32> = (from..USERS)
                    .filter(|u| !m.followers.contains(u))
                    .take(n as usize)
                    .collect();
                let ids: Vec<UserId> = new.iter().map(|&u| UserId(u)).collect();
                prop_assert_eq!(m.engine.follow_many(account, &ids), Ok(new.len() as u64));
                m.followers.extend(new);
            }
            Op::Page(limit) => {
                let p = pass.get_or_insert_with(|| Pass {
                    throughout: m.followers.clone(),
                    ..Pass::default()
                });
                let after = p.after;
                let got = m.engine.followers_page(account, after, limit).unwrap();
                let (want, more) = m.page(after, limit);
                let ids: Vec<u64> = got.open_ids.iter().map(|id| id.0).collect();
                prop_assert_eq!(&ids, &want, "page after {:?}, limit {}", after, limit);
                prop_assert_eq!(got.total, m.followers.len() as u64);
                prop_assert_eq!(got.next.is_some(), more);
                let p = pass.as_mut().expect("a pass is going on");
                for &id in &ids {
                    prop_assert!(
                        p.returned.insert(id),
                        "{:016x} returned twice in a pass",
                        id
                    );
                }
                match got.next {
                    Some(next) => {
                        prop_assert_eq!(Some(&next), got.open_ids.last());
                        p.after = Some(next);
                    }
                    None => {
                        let p = pass.take().expect("a pass is going on");
                        for u in p.throughout {
                            let id = m.id(u);
                            prop_assert!(
                                p.returned.contains(&id),
                                "user {} followed through the pass and was not returned",
                                u
                            );
                        }
                    }
                }
            }
            Op::NewPass => pass = None,
            Op::Idle => {
                m.clock.advance_ms(IDLE_MS);
                // The ticker's path drops idle caches too.
                m.engine.run_due();
            }
            Op::OtherPage(limit) => {
                let page = m.engine.followers_page(other, other_after, limit).unwrap();
                prop_assert_eq!(page.total, half.len() as u64);
                other_after = page.next;
            }
        }
        prop_assert!(
            m.engine.memory_usage().follower_cache_bytes <= cache_bytes,
            "caches past their budget"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Cached (the cache built for any account larger than the page) and uncached paging
    /// give the model's pages under interleaved changes.
    #[test]
    fn pages_equal_the_model_under_changes(
        initial in proptest::collection::btree_set(0..USERS, 0..1_500),
        ops in proptest::collection::vec(op(), 1..150),
        cached in any::<bool>(),
        // Room for both accounts' caches, for one of them, or for none.
        budget in prop_oneof![Just(1usize << 20), Just(16usize << 10), Just(1usize << 10)],
    ) {
        let cache_min = if cached { 0 } else { u64::MAX };
        run(initial, ops, cache_min, budget)?;
    }
}

/// A pass through 20,000 followers, 100 at a time, while a quarter of the users follow and
/// unfollow between pages: the cache catches up page after page instead of rebuilding.
#[test]
fn a_long_pass_with_churn_between_every_page() {
    let initial: BTreeSet<u32> = (0..USERS).filter(|u| !u.is_multiple_of(3)).collect();
    let mut ops = Vec::new();
    for i in 0..400u32 {
        ops.push(Op::Page(7));
        let u = i.wrapping_mul(2_654_435_761) % USERS;
        ops.push(if i % 2 == 0 {
            Op::Unfollow(u)
        } else {
            Op::Follow(u)
        });
    }
    run(initial, ops, 0, 1 << 20).unwrap();
}
