//! Interaction: a follower messages an account (text, image, voice, video); the account may
//! reply to that follower only within 48 h of the follower's last message; keyword
//! auto-replies per account.

mod common;

use common::*;
use herald::{AccountError, AccountKind, Content, InteractError, Message, SendError, SendPurpose};

#[test]
fn the_account_can_reply_within_48_hours_of_the_followers_last_message() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    assert_eq!(
        engine
            .reply(account, f[0].1, text("unsolicited"))
            .unwrap_err(),
        SendError::ReplyWindowClosed {
            last_message_ms: None
        }
    );
    engine
        .message_account(f[0].0, account, text("hello?"))
        .unwrap();
    clock.advance_ms(48 * HOUR);
    let job = engine.reply(account, f[0].1, text("hi!")).unwrap();
    assert_eq!(job.wait().sent, 1);
    assert_eq!(
        engine.article(job.id()).unwrap().purpose,
        SendPurpose::Reply
    );
    clock.advance_ms(1);
    assert_eq!(
        engine.reply(account, f[0].1, text("too late")).unwrap_err(),
        SendError::ReplyWindowClosed {
            last_message_ms: Some(JAN_1_2024)
        }
    );
    // Only the follower who wrote may be answered.
    assert!(engine.reply(account, f[1].1, text("x")).is_err());
}

#[test]
fn a_new_follower_message_reopens_the_window() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    engine
        .message_account(f[0].0, account, text("one"))
        .unwrap();
    clock.advance_ms(72 * HOUR);
    assert!(engine.reply(account, f[0].1, text("x")).is_err());
    engine
        .message_account(f[0].0, account, text("two"))
        .unwrap();
    engine.reply(account, f[0].1, text("x")).unwrap();
}

#[test]
fn replies_do_not_count_against_the_daily_broadcast() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "daily", AccountKind::Subscription);
    let f = followers(&engine, account, 1);
    engine.send(account, to_all(text("today's"))).unwrap();
    engine.message_account(f[0].0, account, text("q")).unwrap();
    engine.reply(account, f[0].1, text("a")).unwrap();
}

#[test]
fn followers_can_send_text_image_voice_and_video_but_not_articles() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    let image = Message::Image(herald::Media {
        media_id: "img".into(),
        format: herald::MediaFormat::Png,
        bytes: 10,
        duration_secs: 0,
    });
    let voice = Message::Voice(herald::Media {
        media_id: "v".into(),
        format: herald::MediaFormat::Amr,
        bytes: 10,
        duration_secs: 5,
    });
    for m in [text("t"), image, voice, video()] {
        engine.message_account(f[0].0, account, m).unwrap();
    }
    assert_eq!(
        engine
            .message_account(f[0].0, account, article("t", "b"))
            .unwrap_err(),
        InteractError::UnsupportedKind
    );
    let inbox = engine.follower_messages(account, 10).unwrap();
    assert_eq!(inbox.len(), 4);
    assert_eq!(inbox[0].open_id, f[0].1);
    let stranger = engine.add_users(1).unwrap().first().0;
    assert_eq!(
        engine
            .message_account(herald::UserId(stranger), account, text("x"))
            .unwrap_err(),
        InteractError::NotFollowing {
            user: herald::UserId(stranger),
            account
        }
    );
}

#[test]
fn a_keyword_auto_reply_answers_the_follower_at_once() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    engine
        .set_auto_reply(account, "营业时间", text("每天 9:00-17:00"))
        .unwrap();
    let job = engine
        .message_account(f[0].0, account, text("请问营业时间是？"))
        .unwrap()
        .expect("the keyword matched");
    job.wait();
    let inbox = engine.fetch(f[0].0, 0, 10).unwrap();
    assert_eq!(
        inbox.items[0].content,
        Content::Message(std::sync::Arc::new(text("每天 9:00-17:00")))
    );
    assert!(engine.fetch(f[1].0, 0, 10).unwrap().items.is_empty());
    assert!(
        engine
            .message_account(f[0].0, account, text("hello"))
            .unwrap()
            .is_none()
    );
    engine.remove_auto_reply(account, "营业时间").unwrap();
    assert!(
        engine
            .message_account(f[0].0, account, text("营业时间"))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        engine.remove_auto_reply(account, "营业时间"),
        Err(AccountError::UnknownKeyword("营业时间".into()))
    );
}

#[test]
fn auto_reply_rules_are_validated_and_bounded() {
    let mut config = config();
    config.rules.auto_replies_per_account = 2;
    let (engine, _) = engine_with(config, JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    assert!(matches!(
        engine.set_auto_reply(account, "", text("x")),
        Err(AccountError::InvalidKeyword { .. })
    ));
    assert!(matches!(
        engine.set_auto_reply(account, "k", text("")),
        Err(AccountError::InvalidMessage(_))
    ));
    engine.set_auto_reply(account, "a", text("1")).unwrap();
    engine.set_auto_reply(account, "b", text("2")).unwrap();
    engine.set_auto_reply(account, "a", text("1'")).unwrap();
    assert_eq!(
        engine.set_auto_reply(account, "c", text("3")),
        Err(AccountError::TooManyAutoReplies { max: 2 })
    );
    assert_eq!(engine.auto_replies(account).unwrap()[0].1, text("1'"));
}

#[test]
fn unfollowing_closes_the_reply_window() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    engine
        .message_account(f[0].0, account, text("bye"))
        .unwrap();
    engine.unfollow(account, f[0].0).unwrap();
    engine.follow(account, f[0].0, None).unwrap();
    assert!(matches!(
        engine.reply(account, f[0].1, text("x")),
        Err(SendError::ReplyWindowClosed { .. })
    ));
}
