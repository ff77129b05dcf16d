//! Error texts a person reads. `DailyLimit` printed raw epoch milliseconds ("next day starts
//! at 1704153600000"), and the ban text dropped the milliseconds, so a ban "until 10:00:00"
//! still refused a send at 10:00:00.100. Both now print a date and time in the platform's
//! time zone, to the millisecond.

mod common;

use common::*;
use herald::{AccountKind, SendError};

/// The daily limit's text named the next day as epoch milliseconds.
#[test]
fn the_daily_limit_says_when_the_next_day_starts_in_the_platforms_zone() {
    let (engine, _) = engine_at(JAN_1_2024_BEIJING + 9 * HOUR);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 1);
    engine.send(account, to_all(text("one"))).unwrap();
    let text = engine
        .send(account, to_all(text("two")))
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "the daily limit of 1 broadcasts is used; the next day starts at \
         2024-01-02 00:00:00.000 +08:00 (Asia/Shanghai)"
    );
}

/// The preview limit's text, likewise.
#[test]
fn the_preview_limit_says_when_the_next_day_starts_in_the_platforms_zone() {
    let mut config = config();
    config.rules.previews_per_day = 1;
    let (engine, _) = engine_with(config, JAN_1_2024_BEIJING + 9 * HOUR);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    engine.preview(account, f[0].1, text("p1")).unwrap();
    let text = engine
        .preview(account, f[0].1, text("p2"))
        .unwrap_err()
        .to_string();
    assert!(
        text.ends_with("the next day starts at 2024-01-02 00:00:00.000 +08:00 (Asia/Shanghai)"),
        "{text}"
    );
}

/// A ban recorded at 10:00:00.100 said "until ... 10:00:00", and a send at 10:00:00.050 —
/// after the time the text gave — was refused.
#[test]
fn the_ban_text_shows_the_milliseconds_in_the_platforms_zone() {
    let at = JAN_1_2024_BEIJING + 10 * HOUR + 100;
    let (engine, clock) = engine_at(at);
    let account = account(&engine, "likes", AccountKind::Service);
    followers(&engine, account, 1);
    engine.record_violation(account).unwrap();
    clock.set_ms(at + 7 * DAY - 50);
    let err = engine.send(account, to_all(text("x"))).unwrap_err();
    assert!(matches!(err, SendError::Banned { .. }));
    assert_eq!(
        err.to_string(),
        "banned from sending until 2024-01-08 10:00:00.100 +08:00 (Asia/Shanghai)"
    );
    clock.set_ms(at + 7 * DAY);
    engine.send(account, to_all(text("x"))).unwrap();
}
