//! Delivery speed tiers: an account with a tier is delivered at most at the tier's rate
//! (deferred chunks, no worker sleeps on it); other accounts are not slowed; unlimited by
//! default.

mod common;

use std::time::{Duration, Instant};

use common::*;
use herald::{AccountError, AccountKind, EngineConfig, UserId};

/// Followers spread over `keys` blocks of 65,536 ids, `per_key` in each, so the audience
/// is cut into `keys` chunks.
fn spread(engine: &herald::Engine, account: herald::AccountId, keys: u32, per_key: u32) {
    engine.add_users(keys * 65_536).unwrap();
    let users: Vec<UserId> = (0..keys)
        .flat_map(|k| (0..per_key).map(move |i| UserId(k * 65_536 + i)))
        .collect();
    engine.follow_many(account, &users).unwrap();
}

fn slow_config() -> EngineConfig {
    let mut config = config();
    config.chunk_target = 1;
    // Tier 4: 600 deliveries a minute, 10 a second.
    config.rules.speed_tiers_per_minute[4] = 600;
    config
}

#[test]
fn a_speed_tier_paces_delivery_at_its_rate() {
    let (engine, _) = engine_with(slow_config(), JAN_1_2024);
    let slow = account(&engine, "slow", AccountKind::Service);
    spread(&engine, slow, 3, 5);
    engine.set_speed_tier(slow, Some(4)).unwrap();
    let started = Instant::now();
    let report = engine.send(slow, to_all(text("paced"))).unwrap().wait();
    let took = started.elapsed();
    assert_eq!(report.sent, 15);
    // 3 chunks of 5 at 10/s: the 2nd may start 0.5 s after the 1st, the 3rd 1 s after.
    assert!(took >= Duration::from_millis(950), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_paced_account_does_not_hold_back_other_accounts() {
    let (engine, _) = engine_with(slow_config(), JAN_1_2024);
    let slow = account(&engine, "slow", AccountKind::Service);
    spread(&engine, slow, 4, 5);
    let fast = account(&engine, "fast", AccountKind::Service);
    engine.follow_many(fast, &[UserId(1), UserId(2)]).unwrap();
    engine.set_speed_tier(slow, Some(4)).unwrap();
    let slow_job = engine.send(slow, to_all(text("paced"))).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    engine.send(fast, to_all(text("quick"))).unwrap().wait();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slow_job.wait().sent, 20);
}

#[test]
fn without_a_tier_delivery_is_unlimited_and_tiers_are_validated() {
    let (engine, _) = engine_with(slow_config(), JAN_1_2024);
    let account = account(&engine, "free", AccountKind::Service);
    spread(&engine, account, 3, 5);
    let started = Instant::now();
    engine.send(account, to_all(text("x"))).unwrap().wait();
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(
        engine.set_speed_tier(account, Some(5)),
        Err(AccountError::InvalidSpeedTier(5))
    );
    engine.set_speed_tier(account, Some(4)).unwrap();
    engine.set_speed_tier(account, None).unwrap();
    assert_eq!(engine.account_profile(account).unwrap().speed_tier, None);
}
