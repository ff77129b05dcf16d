//! Send limits: a subscription account broadcasts once per calendar day (of the platform's
//! time zone, Asia/Shanghai by default: see also `rules_time_zone.rs`); on a
//! service account each follower receives at most 4 broadcasts per calendar month and
//! followers over the cap are counted in the report's `filtered`, not as errors.

mod common;

use common::*;
use herald::{AccountKind, Audience, JobStatus, SendError, TimeZone, UserId};

#[test]
fn a_subscription_account_broadcasts_once_per_calendar_day() {
    let (engine, clock) = engine_at(JAN_1_2024_BEIJING + 9 * HOUR);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 3);
    assert_eq!(
        engine
            .send(account, to_all(text("morning")))
            .unwrap()
            .wait()
            .sent,
        3
    );
    let next_day = JAN_1_2024_BEIJING + DAY;
    assert_eq!(
        engine.send(account, to_all(text("again"))).unwrap_err(),
        SendError::DailyLimit {
            limit: 1,
            next_day_ms: next_day,
            zone: TimeZone::default(),
        }
    );
    // Any audience is a broadcast.
    let followers = engine.followers_page(account, None, 10).unwrap().open_ids;
    assert!(matches!(
        engine.send(
            account,
            herald::SendRequest::new(text("list"), Audience::OpenIds(followers))
        ),
        Err(SendError::DailyLimit { .. })
    ));
    clock.set_ms(next_day - 1);
    assert!(matches!(
        engine.send(account, to_all(text("last ms of the day"))),
        Err(SendError::DailyLimit { .. })
    ));
    clock.set_ms(next_day);
    assert_eq!(
        engine
            .send(account, to_all(text("next day")))
            .unwrap()
            .wait()
            .sent,
        3
    );
}

#[test]
fn the_daily_limit_is_configuration() {
    let mut config = config();
    config.rules.subscription_broadcasts_per_day = 3;
    let (engine, _) = engine_with(config, JAN_1_2024);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 1);
    for i in 0..3 {
        engine.send(account, to_all(text(&format!("{i}")))).unwrap();
    }
    assert!(matches!(
        engine.send(account, to_all(text("4th"))),
        Err(SendError::DailyLimit { limit: 3, .. })
    ));
}

#[test]
fn a_refused_send_over_the_daily_limit_changes_nothing() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "daily", AccountKind::Subscription);
    let f = followers(&engine, account, 1);
    engine.send(account, to_all(text("one"))).unwrap().wait();
    let _ = engine.send(account, to_all(text("two")));
    engine.wait_idle().unwrap();
    assert_eq!(engine.fetch(f[0].0, 0, 10).unwrap().items.len(), 1);
}

#[test]
fn a_service_account_follower_receives_the_4th_broadcast_but_not_the_5th_in_a_month() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "service", AccountKind::Service);
    let f = followers(&engine, account, 10);
    for i in 1..=4 {
        let r = engine
            .send(account, to_all(text(&format!("#{i}"))))
            .unwrap()
            .wait();
        assert_eq!(
            (r.total, r.filtered, r.sent, r.errors),
            (10, 0, 10, 0),
            "broadcast {i}"
        );
        clock.advance_ms(HOUR);
    }
    assert_eq!(engine.broadcasts_this_month(account, f[0].1).unwrap(), 4);
    let fifth = engine.send(account, to_all(text("#5"))).unwrap().wait();
    assert_eq!(
        (
            fifth.status,
            fifth.total,
            fifth.filtered,
            fifth.sent,
            fifth.errors
        ),
        (JobStatus::Done, 10, 10, 0, 0)
    );
    engine.wait_idle().unwrap();
    let inbox = engine.fetch(f[3].0, 0, 10).unwrap();
    assert_eq!(inbox.items.len(), 4, "the 5th never reached the inbox");
}

#[test]
fn only_followers_over_the_cap_are_filtered() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "service", AccountKind::Service);
    let f = followers(&engine, account, 4);
    let tag = engine.create_tag(account, "vip").unwrap();
    engine
        .tag_followers(account, tag, &[f[0].1, f[1].1])
        .unwrap();
    for i in 0..3 {
        engine
            .send(account, to_all(text(&format!("all {i}"))))
            .unwrap()
            .wait();
    }
    let r = engine
        .send(
            account,
            herald::SendRequest::new(text("vip"), Audience::Tag(tag)),
        )
        .unwrap()
        .wait();
    assert_eq!((r.total, r.filtered, r.sent), (2, 0, 2));
    // f0 and f1 have 4 this month, f2 and f3 have 3.
    let r = engine.send(account, to_all(text("all 5"))).unwrap().wait();
    assert_eq!((r.total, r.filtered, r.sent, r.errors), (4, 2, 2, 0));
    engine.wait_idle().unwrap();
    assert_eq!(engine.fetch(f[0].0, 0, 10).unwrap().items.len(), 4);
    assert_eq!(engine.fetch(f[2].0, 0, 10).unwrap().items.len(), 4);
    for (_, open_id) in &f {
        assert_eq!(engine.broadcasts_this_month(account, *open_id).unwrap(), 4);
    }
}

#[test]
fn the_monthly_cap_resets_at_the_start_of_a_calendar_month_of_the_configured_zone() {
    let mut config = config();
    config.rules.time_zone = TimeZone::utc();
    let (engine, clock) = engine_with(config, FEB_1_2024 - 4 * HOUR);
    let account = account(&engine, "service", AccountKind::Service);
    followers(&engine, account, 5);
    for _ in 0..4 {
        engine.send(account, to_all(text("jan"))).unwrap().wait();
    }
    clock.set_ms(FEB_1_2024 - 1);
    assert_eq!(
        engine
            .send(account, to_all(text("jan 31 23:59:59.999")))
            .unwrap()
            .wait()
            .filtered,
        5
    );
    clock.set_ms(FEB_1_2024);
    let r = engine.send(account, to_all(text("feb 1"))).unwrap().wait();
    assert_eq!((r.filtered, r.sent), (0, 5));
}

#[test]
fn the_monthly_cap_is_configuration() {
    let mut config = config();
    config.rules.service_broadcasts_per_follower_month = 2;
    let (engine, _) = engine_with(config, JAN_1_2024);
    let account = account(&engine, "service", AccountKind::Service);
    followers(&engine, account, 3);
    engine.send(account, to_all(text("1"))).unwrap().wait();
    engine.send(account, to_all(text("2"))).unwrap().wait();
    assert_eq!(
        engine
            .send(account, to_all(text("3")))
            .unwrap()
            .wait()
            .filtered,
        3
    );
}

#[test]
fn new_followers_of_a_service_account_start_with_a_fresh_count() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "service", AccountKind::Service);
    followers(&engine, account, 2);
    for _ in 0..4 {
        engine.send(account, to_all(text("x"))).unwrap().wait();
    }
    let late = followers(&engine, account, 1);
    let r = engine.send(account, to_all(text("5th"))).unwrap().wait();
    assert_eq!((r.total, r.filtered, r.sent), (3, 2, 1));
    engine.wait_idle().unwrap();
    assert_eq!(engine.fetch(late[0].0, 0, 10).unwrap().items.len(), 1);
    let _ = UserId(0);
}

#[test]
fn a_service_account_has_no_daily_limit() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "service", AccountKind::Service);
    followers(&engine, account, 1);
    for _ in 0..6 {
        engine.send(account, to_all(text("x"))).unwrap();
    }
}
