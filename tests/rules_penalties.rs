//! Penalties: like-collection violations ban sending for 7, 15 and 30 days, then
//! permanently; a refused send says until when; bans lift by themselves.

mod common;

use common::*;
use herald::{AccountKind, Ban, SendError, TimeZone};

#[test]
fn the_first_violation_bans_sending_for_7_days_and_the_ban_lifts_at_its_end() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "likes", AccountKind::Service);
    followers(&engine, account, 2);
    let until = JAN_1_2024 + 7 * DAY;
    assert_eq!(engine.record_violation(account).unwrap(), Ban::Until(until));
    assert_eq!(
        engine.send(account, to_all(text("x"))).unwrap_err(),
        SendError::Banned {
            ban: Ban::Until(until),
            zone: TimeZone::default(),
        }
    );
    // The last millisecond of the ban is still banned.
    clock.set_ms(until - 1);
    assert!(matches!(
        engine.send(account, to_all(text("x"))),
        Err(SendError::Banned { .. })
    ));
    assert_eq!(engine.active_ban(account).unwrap(), Some(Ban::Until(until)));
    // The last second, too.
    clock.set_ms(until - 1_000);
    assert!(engine.send(account, to_all(text("x"))).is_err());
    clock.set_ms(until);
    assert_eq!(engine.active_ban(account).unwrap(), None);
    assert_eq!(
        engine
            .send(account, to_all(text("back")))
            .unwrap()
            .wait()
            .sent,
        2
    );
}

#[test]
fn the_second_violation_bans_for_15_days_and_the_third_for_30() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "likes", AccountKind::Service);
    engine.record_violation(account).unwrap();
    clock.set_ms(JAN_1_2024 + 10 * DAY);
    let second = engine.record_violation(account).unwrap();
    assert_eq!(second, Ban::Until(JAN_1_2024 + 25 * DAY));
    clock.set_ms(JAN_1_2024 + 40 * DAY);
    let third = engine.record_violation(account).unwrap();
    assert_eq!(third, Ban::Until(JAN_1_2024 + 70 * DAY));
}

#[test]
fn the_fourth_violation_bans_permanently() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "likes", AccountKind::Service);
    followers(&engine, account, 1);
    for _ in 0..3 {
        engine.record_violation(account).unwrap();
        clock.advance_ms(100 * DAY);
    }
    assert_eq!(engine.record_violation(account).unwrap(), Ban::Permanent);
    clock.advance_ms(10_000 * DAY);
    assert_eq!(
        engine.send(account, to_all(text("x"))).unwrap_err(),
        SendError::Banned {
            ban: Ban::Permanent,
            zone: TimeZone::default(),
        }
    );
    assert_eq!(engine.account_profile(account).unwrap().violations, 4);
}

#[test]
fn a_ban_blocks_previews_and_replies_too() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "likes", AccountKind::Service);
    let f = followers(&engine, account, 1);
    engine
        .message_account(f[0].0, account, text("hello"))
        .unwrap();
    engine.record_violation(account).unwrap();
    assert!(matches!(
        engine.preview(account, f[0].1, text("p")),
        Err(SendError::Banned { .. })
    ));
    assert!(matches!(
        engine.reply(account, f[0].1, text("r")),
        Err(SendError::Banned { .. })
    ));
}

#[test]
fn ban_lengths_are_configuration() {
    let mut config = config();
    config.rules.ban_durations_ms = vec![HOUR];
    let (engine, _) = engine_with(config, JAN_1_2024);
    let account = account(&engine, "likes", AccountKind::Service);
    assert_eq!(
        engine.record_violation(account).unwrap(),
        Ban::Until(JAN_1_2024 + HOUR)
    );
    assert_eq!(engine.record_violation(account).unwrap(), Ban::Permanent);
}
