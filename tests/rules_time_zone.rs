//! Days and months in the platform's time zone. Days and months used to roll over at UTC
//! midnight, so on a platform in China the daily limit and the monthly cap reset at 08:00
//! Beijing time; and a clock that stepped back across midnight let followers receive a 5th
//! broadcast of a month and wiped the next month's counts. The boundaries are checked to the
//! millisecond in Asia/Shanghai, the default zone.

mod common;

use common::*;
use herald::{AccountKind, Rules, SendError, TimeZone};

/// The daily limit reset at 08:00 in Beijing (UTC midnight): a subscription account that
/// broadcast at 01:00 could broadcast again at 08:00 the same day, and not at 00:00 the next.
#[test]
fn the_daily_limit_resets_at_midnight_in_beijing_to_the_millisecond() {
    let midnight = JAN_1_2024_BEIJING + DAY; // 2024-01-02T00:00:00+08:00
    let (engine, clock) = engine_at(JAN_1_2024_BEIJING + HOUR);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 2);
    assert_eq!(
        engine
            .send(account, to_all(text("01:00")))
            .unwrap()
            .wait()
            .sent,
        2
    );
    // 08:00 in Beijing is UTC midnight: still the same day here.
    clock.set_ms(JAN_1_2024);
    match engine.send(account, to_all(text("08:00"))) {
        Err(SendError::DailyLimit { next_day_ms, .. }) => assert_eq!(next_day_ms, midnight),
        other => panic!("08:00 is the same day in Beijing: {other:?}"),
    }
    clock.set_ms(midnight - 1);
    assert!(matches!(
        engine.send(account, to_all(text("23:59:59.999"))),
        Err(SendError::DailyLimit { .. })
    ));
    clock.set_ms(midnight);
    assert_eq!(
        engine
            .send(account, to_all(text("00:00:00.000")))
            .unwrap()
            .wait()
            .sent,
        2
    );
}

/// Previews per day reset at midnight in Beijing too.
#[test]
fn the_preview_limit_resets_at_midnight_in_beijing() {
    let mut config = config();
    config.rules.previews_per_day = 1;
    let midnight = JAN_1_2024_BEIJING + DAY;
    let (engine, clock) = engine_with(config, midnight - HOUR);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    engine.preview(account, f[0].1, text("23:00")).unwrap();
    clock.set_ms(midnight - 1);
    match engine.preview(account, f[0].1, text("23:59:59.999")) {
        Err(SendError::PreviewLimit { next_day_ms, .. }) => assert_eq!(next_day_ms, midnight),
        other => panic!("still the same day: {other:?}"),
    }
    clock.set_ms(midnight);
    engine.preview(account, f[0].1, text("00:00")).unwrap();
}

/// The monthly cap reset at 08:00 on the 1st in Beijing: at 00:00 on February 1st the
/// followers who had four January broadcasts were still filtered.
#[test]
fn the_monthly_cap_resets_at_midnight_on_the_first_in_beijing_to_the_millisecond() {
    let feb_1 = FEB_1_2024_BEIJING;
    let (engine, clock) = engine_at(feb_1 - 14 * HOUR); // Jan 31, 10:00 in Beijing
    let account = account(&engine, "service", AccountKind::Service);
    followers(&engine, account, 3);
    for _ in 0..4 {
        assert_eq!(
            engine
                .send(account, to_all(text("jan")))
                .unwrap()
                .wait()
                .sent,
            3
        );
    }
    clock.set_ms(feb_1 - 1);
    let r = engine
        .send(account, to_all(text("jan 31 23:59:59.999")))
        .unwrap()
        .wait();
    assert_eq!((r.filtered, r.sent), (3, 0));
    clock.set_ms(feb_1);
    let r = engine
        .send(account, to_all(text("feb 1 00:00:00.000")))
        .unwrap()
        .wait();
    assert_eq!((r.filtered, r.sent), (0, 3));
}

/// A clock that stepped back across midnight into January let a follower who had four
/// January broadcasts receive a 5th, and wiped February's counts, so February then gave
/// them more than four. A stepped-back time now counts against the latest month seen.
#[test]
fn a_clock_stepping_back_into_last_month_neither_passes_the_cap_nor_wipes_this_month() {
    let feb_1 = FEB_1_2024_BEIJING;
    let (engine, clock) = engine_at(feb_1 - 2 * DAY);
    let account = account(&engine, "service", AccountKind::Service);
    let f = followers(&engine, account, 1);
    for _ in 0..4 {
        assert_eq!(
            engine
                .send(account, to_all(text("jan")))
                .unwrap()
                .wait()
                .sent,
            1
        );
    }
    // 09:00 on February 1st: February in Beijing and in UTC alike.
    clock.set_ms(feb_1 + 9 * HOUR);
    for _ in 0..4 {
        assert_eq!(
            engine
                .send(account, to_all(text("feb")))
                .unwrap()
                .wait()
                .sent,
            1
        );
    }
    // The clock steps back to 23:30 on January 31st.
    clock.set_ms(feb_1 - HOUR / 2);
    let r = engine
        .send(account, to_all(text("stepped back")))
        .unwrap()
        .wait();
    assert_eq!((r.filtered, r.sent), (1, 0), "a 5th broadcast in a month");
    assert_eq!(engine.broadcasts_this_month(account, f[0].1).unwrap(), 4);
    clock.set_ms(feb_1 + 2 * HOUR);
    let r = engine
        .send(account, to_all(text("feb again")))
        .unwrap()
        .wait();
    assert_eq!((r.filtered, r.sent), (1, 0), "February's counts were wiped");
    assert_eq!(engine.broadcasts_this_month(account, f[0].1).unwrap(), 4);
    engine.wait_idle().unwrap();
    assert_eq!(engine.fetch(f[0].0, 0, 32).unwrap().items.len(), 8);
}

/// A clock that stepped back across midnight reset the daily count: a subscription account
/// broadcast once after midnight, once "before" it, and once more after it.
#[test]
fn a_clock_stepping_back_across_midnight_does_not_reset_the_daily_limit() {
    let midnight = JAN_1_2024_BEIJING + DAY;
    // 09:00, the next day in Beijing and in UTC alike.
    let (engine, clock) = engine_at(midnight + 9 * HOUR);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 1);
    engine.send(account, to_all(text("09:00"))).unwrap().wait();
    clock.set_ms(midnight - 10 * 60 * 1000);
    match engine.send(account, to_all(text("stepped back to 23:50"))) {
        // The count is the latest day's, which ends at the next midnight.
        Err(SendError::DailyLimit { next_day_ms, .. }) => assert_eq!(next_day_ms, midnight + DAY),
        other => panic!("a 2nd broadcast of the day: {other:?}"),
    }
    clock.set_ms(midnight + 10 * HOUR);
    assert!(matches!(
        engine.send(account, to_all(text("10:00"))),
        Err(SendError::DailyLimit { .. })
    ));
    clock.set_ms(midnight + DAY);
    engine.send(account, to_all(text("next day"))).unwrap();
}

/// The zone is a setting: in UTC the day turns at UTC midnight, in New York at midnight
/// there, daylight saving time included.
#[test]
fn the_time_zone_is_configuration() {
    let mut utc = config();
    utc.rules.time_zone = TimeZone::named("UTC").unwrap();
    let (engine, clock) = engine_with(utc, JAN_1_2024 + HOUR);
    let daily = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, daily, 1);
    engine.send(daily, to_all(text("01:00Z"))).unwrap();
    clock.set_ms(JAN_1_2024 + DAY - 1);
    assert!(engine.send(daily, to_all(text("23:59:59.999Z"))).is_err());
    clock.set_ms(JAN_1_2024 + DAY);
    engine.send(daily, to_all(text("00:00Z"))).unwrap();

    // 2024-03-10 was 23 hours long in New York; 2024-03-11T00:00-04:00 is 04:00Z.
    let mut new_york = config();
    new_york.rules.time_zone = TimeZone::named("America/New_York").unwrap();
    let march_11 = 1_710_129_600_000;
    let (engine, clock) = engine_with(new_york, march_11 - 23 * HOUR);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 1);
    engine.send(account, to_all(text("00:00 EST"))).unwrap();
    clock.set_ms(march_11 - 1);
    let err = engine
        .send(account, to_all(text("23:59:59.999 EDT")))
        .unwrap_err();
    assert!(
        matches!(err, SendError::DailyLimit { next_day_ms, .. } if next_day_ms == march_11),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("2024-03-11 00:00:00.000 -04:00 (America/New_York)"),
        "{err}"
    );
    clock.set_ms(march_11);
    engine.send(account, to_all(text("00:00 EDT"))).unwrap();
}

/// A zone name the database does not know is a typed error where the configuration is
/// built; the default is Asia/Shanghai.
#[test]
fn an_unknown_time_zone_is_refused_when_the_configuration_is_built() {
    for bad in ["", "Mars/Olympus_Mons", "Asia/Shang hai", "+08:00", "CST-8"] {
        let err = TimeZone::named(bad).unwrap_err();
        assert_eq!(err.name, bad);
        assert!(err.to_string().contains("unknown time zone"), "{err}");
        assert_eq!(bad.parse::<TimeZone>(), Err(err));
    }
    assert_eq!(Rules::default().time_zone.name(), "Asia/Shanghai");
    assert_eq!(
        "asia/shanghai".parse::<TimeZone>().unwrap(),
        Rules::default().time_zone
    );
}
