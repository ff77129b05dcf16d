//! Helpers shared by the platform-rules tests: an engine on a manual clock, accounts under
//! subjects, followers, and message builders.
#![allow(dead_code)]

use std::sync::Arc;

use herald::{
    AccountId, AccountKind, Article, Audience, Category, Engine, EngineConfig, ManualClock, Media,
    MediaFormat, Message, OpenId, Registration, SendRequest, SubjectKind, UserId, Video,
};

/// 2024-01-01T00:00:00Z.
pub const JAN_1_2024: u64 = 1_704_067_200_000;
/// 2024-02-01T00:00:00Z.
pub const FEB_1_2024: u64 = 1_706_745_600_000;
pub const HOUR: u64 = 60 * 60 * 1000;
pub const DAY: u64 = 24 * HOUR;
/// 2024-01-01T00:00:00+08:00, midnight in Beijing (the default platform time zone).
pub const JAN_1_2024_BEIJING: u64 = JAN_1_2024 - 8 * HOUR;
/// 2024-02-01T00:00:00+08:00.
pub const FEB_1_2024_BEIJING: u64 = FEB_1_2024 - 8 * HOUR;

pub fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        openid_secret: *b"rules-tests-0000",
        ..EngineConfig::default()
    }
}

pub fn engine_at(now: u64) -> (Engine, Arc<ManualClock>) {
    engine_with(config(), now)
}

pub fn engine_with(config: EngineConfig, now: u64) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(now));
    let engine = Engine::builder(config).clock(clock.clone()).build();
    (engine, clock)
}

pub fn complete() -> Registration {
    Registration::new("Zhaoqing", Category::Media, "press@zhaoqing.gov.cn")
}

/// An organization with one account of `kind`, complete registration.
pub fn account(engine: &Engine, name: &str, kind: AccountKind) -> AccountId {
    let subject = engine
        .create_subject(&format!("{name} Ltd"), SubjectKind::Organization)
        .unwrap();
    engine
        .register_in_subject(subject, name, kind, complete())
        .unwrap()
}

/// `n` new users following `account`; returns their ids and OpenIDs.
pub fn followers(engine: &Engine, account: AccountId, n: u32) -> Vec<(UserId, OpenId)> {
    let users = engine.add_users(n).unwrap();
    users
        .iter()
        .map(|user| (user, engine.follow(account, user, None).unwrap()))
        .collect()
}

pub fn text(s: &str) -> Message {
    Message::Text(s.to_owned())
}

pub fn cover() -> Media {
    Media {
        media_id: "cover-1".into(),
        format: MediaFormat::Jpeg,
        bytes: 1_000,
        duration_secs: 0,
    }
}

pub fn article_parts(title: &str, body: &str) -> Article {
    Article {
        title: title.to_owned(),
        summary: "summary".to_owned(),
        body: body.to_owned(),
        cover: cover(),
    }
}

pub fn article(title: &str, body: &str) -> Message {
    Message::Article(article_parts(title, body))
}

pub fn video() -> Message {
    Message::Video(Video {
        media: Media {
            media_id: "v-1".into(),
            format: MediaFormat::Mp4,
            bytes: 5_000,
            duration_secs: 30,
        },
        title: "clip".into(),
        description: "a clip".into(),
    })
}

pub fn to_all(message: Message) -> SendRequest {
    SendRequest::new(message, Audience::All)
}
pub mod disk;
pub mod sink;
