//! Follower paging while other threads follow and unfollow: two readers page through an
//! account again and again (racing to build its cache, or finding it evicted by the other
//! account's), while two writers churn a quarter of its users. In every pass no OpenID
//! may come twice, and every follower nobody touches must come exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use herald::{AccountId, Engine, EngineConfig, UserId};

const USERS: u32 = 200_000;

/// Users the writers never touch: they follow throughout.
fn stable(u: u32) -> bool {
    !u.is_multiple_of(4)
}

fn pass(engine: &Engine, account: AccountId, limit: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = engine.followers_page(account, after, limit).unwrap();
        ids.extend(page.open_ids.iter().map(|id| id.0));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

fn churn_while_paging(config: EngineConfig) {
    let engine = Arc::new(Engine::new(EngineConfig {
        openid_secret: *b"concurrent-pages",
        ..config
    }));
    engine.add_users(USERS).unwrap();
    let account = engine.register_account("paged").unwrap();
    let other = engine.register_account("other").unwrap();
    let all: Vec<UserId> = (0..USERS).map(UserId).collect();
    engine.follow_many(account, &all).unwrap();
    engine
        .follow_many(other, &all[..USERS as usize / 2])
        .unwrap();
    let stable_ids: BTreeSet<u64> = (0..USERS)
        .filter(|&u| stable(u))
        .map(|u| engine.open_id(account, UserId(u)).unwrap().0)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let user = UserId(i.wrapping_mul(2_654_435_761) % (USERS / 4) * 4);
                    // Either succeeds or finds the edge already in that state.
                    let _ = engine.unfollow(account, user);
                    let _ = engine.follow(account, user, None);
                    i = i.wrapping_add(2);
                }
            })
        })
        .collect();
    let readers: Vec<_> = [997, 10_000]
        .into_iter()
        .map(|limit| {
            let (engine, stable_ids) = (Arc::clone(&engine), stable_ids.clone());
            thread::spawn(move || {
                for _ in 0..4 {
                    let ids = pass(&engine, account, limit);
                    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
                    assert_eq!(distinct.len(), ids.len(), "an OpenID came twice in a pass");
                    assert!(ids.windows(2).all(|w| w[0] < w[1]), "not ascending");
                    let missing = stable_ids.difference(&distinct).count();
                    assert_eq!(
                        missing, 0,
                        "{missing} untouched followers missing (page {limit})"
                    );
                    // The other account's pass competes for the cache budget.
                    assert_eq!(pass(&engine, other, 4_999).len(), USERS as usize / 2);
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn passes_stay_exact_under_concurrent_churn() {
    churn_while_paging(EngineConfig::default());
}

/// A budget for one account's cache at a time: each reader's next page may find its cache
/// evicted by the other account's and rebuild it, or page without one.
#[test]
fn passes_stay_exact_when_caches_are_evicted_mid_pass() {
    churn_while_paging(EngineConfig {
        follower_cache_bytes: 1_700_000,
        ..EngineConfig::default()
    });
}
