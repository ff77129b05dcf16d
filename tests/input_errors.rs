//! Bad input to every public call of `Engine`: each is refused with its exact typed error and
//! leaves the engine exactly as it was (users, accounts, follows, tags, sources, send history,
//! pending jobs, inboxes). Also idempotency keys across their window, OpenID text round trips
//! and follower-page pagination.

use std::fmt::Debug;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use herald::{
    AccountId, AddUsersError, Article, Audience, AudienceError, Batch, Engine, EngineConfig,
    FetchError, FollowError, JobId, JobStatus, Limits, ManualClock, Media, MediaFormat, Message,
    MessageError, OpenId, ParseOpenIdError, QueryError, RegisterError, SendError, SendRequest, Seq,
    Sink, SinkError, SourceStats, TagError, TagExpr, TagId, TagInfo, UnfollowError, UserId, Video,
};

// ----- fixture and helpers ----------------------------------------------------------------

const USERS: u32 = 10;
/// Account 0: followers 0..6 (0..3 from "qr:door", 3..6 from "qr:desk"), tag "vip" on 0 and 1.
const NEWS: AccountId = AccountId(0);
/// Account 1: followers 3..9, no tags.
const SPORTS: AccountId = AccountId(1);
const GHOST_ACCOUNT: AccountId = AccountId(77);
const GHOST_USER: UserId = UserId(USERS);

fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: 8,
        openid_secret: *b"input-errors-001",
        limits: Limits {
            // Small enough to reach in a test; every other limit keeps its default.
            sources_per_account: 3,
            ..Limits::default()
        },
        ..Default::default()
    }
}

fn populate(engine: &Engine) -> TagId {
    assert_eq!(
        engine.add_users(USERS).map(|u| (u.first(), u.len())),
        Ok((UserId(0), USERS as usize))
    );
    assert_eq!(engine.register_account("news"), Ok(NEWS));
    assert_eq!(engine.register_account("sports"), Ok(SPORTS));
    for u in 0..6 {
        let source = if u < 3 { "qr:door" } else { "qr:desk" };
        engine.follow(NEWS, UserId(u), Some(source)).unwrap();
    }
    let sports: Vec<UserId> = (3..9).map(UserId).collect();
    engine.follow_many(SPORTS, &sports).unwrap();
    let vip = engine.create_tag(NEWS, "vip").unwrap();
    let ids = [oid(engine, NEWS, 0), oid(engine, NEWS, 1)];
    engine.tag_followers(NEWS, vip, &ids).unwrap();
    vip
}

fn fixture() -> (Engine, TagId) {
    let engine = Engine::new(config());
    let vip = populate(&engine);
    (engine, vip)
}

fn oid(engine: &Engine, account: AccountId, user: u32) -> OpenId {
    engine.open_id(account, UserId(user)).unwrap()
}

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

fn to_all(message: Message) -> SendRequest {
    SendRequest::new(message, Audience::All)
}

/// The highest sequence number whose job is still known (0 before the first send).
fn last_seq(engine: &Engine, account: AccountId) -> u32 {
    let mut seq = 0;
    while engine
        .job(JobId {
            account,
            seq: Seq(seq + 1),
        })
        .is_some()
    {
        seq += 1;
    }
    seq
}

#[derive(Debug, PartialEq)]
struct AccountSnapshot {
    name: String,
    followers: Vec<u32>,
    page: Vec<OpenId>,
    tags: Vec<TagInfo>,
    tags_per_follower: Vec<Vec<TagId>>,
    sources: Vec<SourceStats>,
    last_seq: u32,
}

/// Everything an error must leave unchanged, as the public API shows it.
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: u64,
    accounts: u64,
    edges: u64,
    pending: usize,
    following: Vec<Vec<AccountId>>,
    per_account: Vec<AccountSnapshot>,
    /// Per user, where its inbox ends (empty for an engine with an external sink).
    inbox_heads: Vec<u64>,
}

fn snapshot(engine: &Engine) -> Snapshot {
    let users = engine.user_count() as u32;
    let per_account = (0..engine.account_count() as u32)
        .map(AccountId)
        .map(|account| {
            let followers: Vec<u32> = (0..users)
                .filter(|&u| engine.is_following(account, UserId(u)).unwrap())
                .collect();
            AccountSnapshot {
                name: engine.account_name(account).unwrap(),
                page: engine
                    .followers_page(account, None, 10_000)
                    .unwrap()
                    .open_ids,
                tags: engine.tags(account).unwrap(),
                tags_per_follower: followers
                    .iter()
                    .map(|&u| engine.tags_of(account, oid(engine, account, u)).unwrap())
                    .collect(),
                sources: engine.follow_sources(account).unwrap(),
                last_seq: last_seq(engine, account),
                followers,
            }
        })
        .collect();
    Snapshot {
        users: engine.user_count(),
        accounts: engine.account_count(),
        edges: engine.follow_edges(),
        pending: engine.unfinished_jobs(),
        following: (0..users)
            .map(|u| engine.following(UserId(u)).unwrap())
            .collect(),
        per_account,
        inbox_heads: (0..users)
            .filter_map(|u| engine.fetch(UserId(u), 0, 1).ok())
            .map(|f| f.next_cursor)
            .collect(),
    }
}

/// Runs `op`, which must fail with exactly `expected` and leave the engine unchanged.
#[track_caller]
fn refused<T: Debug, E: Debug + PartialEq>(
    engine: &Engine,
    expected: E,
    op: impl FnOnce() -> Result<T, E>,
) {
    engine.wait_idle().unwrap();
    let before = snapshot(engine);
    let got = op();
    match got {
        Err(e) => assert_eq!(e, expected),
        Ok(v) => panic!("expected {expected:?}, got Ok({v:?})"),
    }
    engine.wait_idle().unwrap();
    assert_eq!(
        snapshot(engine),
        before,
        "a refused call changed the engine"
    );
}

/// A send that must be refused with `expected`, leaving everything unchanged.
#[track_caller]
fn send_refused(engine: &Engine, account: AccountId, request: SendRequest, expected: SendError) {
    refused(engine, expected, || engine.send(account, request));
}

#[track_caller]
fn bad_message(engine: &Engine, message: Message, expected: MessageError) {
    send_refused(
        engine,
        NEWS,
        to_all(message),
        SendError::InvalidMessage(expected),
    );
}

#[track_caller]
fn bad_audience(engine: &Engine, audience: Audience, expected: AudienceError) {
    send_refused(
        engine,
        NEWS,
        SendRequest::new(text("hello"), audience),
        SendError::InvalidAudience(expected),
    );
}

#[track_caller]
fn accepted(engine: &Engine, account: AccountId, request: SendRequest) -> JobId {
    let job = engine.send(account, request).unwrap();
    let report = job.wait();
    assert_eq!((report.status, report.errors), (JobStatus::Done, 0));
    job.id()
}

fn media(format: MediaFormat, bytes: u64, duration_secs: u32) -> Media {
    Media {
        media_id: "media-0001".into(),
        format,
        bytes,
        duration_secs,
    }
}

fn article(title: &str, summary: &str, body: &str, cover: Media) -> Message {
    Message::Article(Article {
        title: title.into(),
        summary: summary.into(),
        body: body.into(),
        cover,
    })
}

const MIB: u64 = 1024 * 1024;

// ----- users, accounts, identity ----------------------------------------------------------

#[test]
fn add_users_past_the_id_space_is_refused() {
    let (engine, _) = fixture();
    refused(
        &engine,
        AddUsersError::IdsExhausted {
            existing: u64::from(USERS),
            asked: u64::from(u32::MAX),
        },
        || engine.add_users(u32::MAX),
    );
    // The exact boundary: 2^32 ids in all would fit, one more would not.
    refused(
        &engine,
        AddUsersError::IdsExhausted {
            existing: u64::from(USERS),
            asked: u64::from(u32::MAX - USERS + 2),
        },
        || engine.add_users(u32::MAX - USERS + 2),
    );
    let first_and_len = |u: herald::UserIds| (u.first(), u.len());
    assert_eq!(
        engine.add_users(0).map(first_and_len),
        Ok((UserId(USERS), 0))
    );
    assert_eq!(
        engine.add_users(2).map(first_and_len),
        Ok((UserId(USERS), 2))
    );
}

#[test]
fn account_names_are_checked() {
    let (engine, _) = fixture();
    let invalid = RegisterError::InvalidName { max: 64 };
    for name in [
        "",
        "   ",
        "tab\there",
        "nul\0",
        &"a".repeat(65),
        &"新".repeat(65),
    ] {
        refused(&engine, invalid.clone(), || engine.register_account(name));
    }
    // 64 characters of 3 bytes each are fine: the limit counts characters.
    assert_eq!(engine.register_account(&"新".repeat(64)), Ok(AccountId(2)));
    assert_eq!(engine.register_account(&"a".repeat(64)), Ok(AccountId(3)));
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.account_name(GHOST_ACCOUNT)
    });
}

#[test]
fn open_ids_are_checked() {
    let (engine, _) = fixture();
    refused(&engine, QueryError::UnknownUser(GHOST_USER), || {
        engine.open_id(NEWS, GHOST_USER)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.open_id(GHOST_ACCOUNT, UserId(0))
    });
    let of_sports = oid(&engine, SPORTS, 4);
    refused(&engine, QueryError::InvalidOpenId(of_sports), || {
        engine.user_of(NEWS, of_sports)
    });
    for made_up in [OpenId(0), OpenId(u64::MAX), OpenId(0x0123_4567_89ab_cdef)] {
        refused(&engine, QueryError::InvalidOpenId(made_up), || {
            engine.user_of(NEWS, made_up)
        });
    }
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.user_of(GHOST_ACCOUNT, of_sports)
    });
    // The same user has unrelated OpenIDs in two accounts, each mapping back to the user.
    let of_news = oid(&engine, NEWS, 4);
    assert_ne!(of_news, of_sports);
    assert_eq!(engine.user_of(NEWS, of_news), Ok(UserId(4)));
    assert_eq!(engine.user_of(SPORTS, of_sports), Ok(UserId(4)));
}

#[test]
fn open_id_text_round_trips() {
    let (engine, _) = fixture();
    for account in [NEWS, SPORTS] {
        for u in 0..USERS {
            let id = oid(&engine, account, u);
            let shown = id.to_string();
            assert_eq!(shown.len(), 16, "{shown}");
            assert!(
                shown
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{shown}"
            );
            assert_eq!(shown.parse::<OpenId>(), Ok(id));
            assert_eq!(shown.to_uppercase().parse::<OpenId>(), Ok(id));
            assert_eq!(
                engine.user_of(account, shown.parse().unwrap()),
                Ok(UserId(u))
            );
        }
    }
    assert_eq!(OpenId(0).to_string(), "0000000000000000");
    assert_eq!(OpenId(u64::MAX).to_string(), "ffffffffffffffff");
    assert_eq!(OpenId(0xab).to_string().parse(), Ok(OpenId(0xab)));
    for bad in [
        "",
        "0123456789abcde",
        "0123456789abcdef0",
        "0123456789abcdeg",
        "+123456789abcdef",
        "-123456789abcdef",
        " 123456789abcdef",
        "0x23456789abcdef",
        "0123456789abcdé", // 16 bytes, 15 characters
    ] {
        assert_eq!(bad.parse::<OpenId>(), Err(ParseOpenIdError), "{bad:?}");
    }
}

// ----- follows ----------------------------------------------------------------------------

#[test]
fn bad_follows_and_unfollows_are_refused() {
    let (engine, _) = fixture();
    refused(&engine, FollowError::UnknownUser(GHOST_USER), || {
        engine.follow(NEWS, GHOST_USER, None)
    });
    refused(&engine, FollowError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.follow(GHOST_ACCOUNT, UserId(7), None)
    });
    refused(
        &engine,
        FollowError::AlreadyFollowing {
            user: UserId(2),
            account: NEWS,
        },
        || engine.follow(NEWS, UserId(2), Some("qr:door")),
    );
    let long = "s".repeat(65);
    for source in ["", "  ", "line\nbreak", long.as_str()] {
        refused(&engine, FollowError::InvalidSource { max: 64 }, || {
            engine.follow(NEWS, UserId(7), Some(source))
        });
    }
    // A third source is fine, a fourth is one too many; a known source still works.
    engine.follow(NEWS, UserId(6), Some("qr:lobby")).unwrap();
    refused(
        &engine,
        FollowError::TooManySources {
            account: NEWS,
            max: 3,
        },
        || engine.follow(NEWS, UserId(7), Some("qr:roof")),
    );
    engine.follow(NEWS, UserId(7), Some("qr:door")).unwrap();

    // Bulk follows validate everything first.
    refused(&engine, FollowError::UnknownUser(GHOST_USER), || {
        engine.follow_many(SPORTS, &[UserId(0), UserId(1), GHOST_USER, UserId(2)])
    });
    refused(&engine, FollowError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.follow_many(GHOST_ACCOUNT, &[UserId(0)])
    });

    refused(&engine, UnfollowError::UnknownUser(GHOST_USER), || {
        engine.unfollow(NEWS, GHOST_USER)
    });
    refused(
        &engine,
        UnfollowError::UnknownAccount(GHOST_ACCOUNT),
        || engine.unfollow(GHOST_ACCOUNT, UserId(1)),
    );
    refused(
        &engine,
        UnfollowError::NotFollowing {
            user: UserId(9),
            account: NEWS,
        },
        || engine.unfollow(NEWS, UserId(9)),
    );
}

#[test]
fn follow_queries_refuse_unknown_ids() {
    let (engine, _) = fixture();
    refused(&engine, QueryError::UnknownUser(GHOST_USER), || {
        engine.is_following(NEWS, GHOST_USER)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.is_following(GHOST_ACCOUNT, UserId(0))
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.follower_count(GHOST_ACCOUNT)
    });
    refused(&engine, QueryError::UnknownUser(GHOST_USER), || {
        engine.following(GHOST_USER)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.follow_sources(GHOST_ACCOUNT)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.tags(GHOST_ACCOUNT)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.tags_of(GHOST_ACCOUNT, oid(&engine, NEWS, 0))
    });
    let of_sports = oid(&engine, SPORTS, 4);
    refused(&engine, QueryError::InvalidOpenId(of_sports), || {
        engine.tags_of(NEWS, of_sports)
    });
}

#[test]
fn follower_pages_check_their_size_and_anchor() {
    let (engine, _) = fixture();
    for len in [0, 10_001] {
        refused(&engine, QueryError::PageSize { len, max: 10_000 }, || {
            engine.followers_page(NEWS, None, len)
        });
    }
    let of_sports = oid(&engine, SPORTS, 8);
    refused(&engine, QueryError::InvalidOpenId(of_sports), || {
        engine.followers_page(NEWS, Some(of_sports), 10)
    });
    refused(&engine, QueryError::InvalidOpenId(OpenId(42)), || {
        engine.followers_page(NEWS, Some(OpenId(42)), 10)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.followers_page(GHOST_ACCOUNT, None, 10)
    });
    refused(&engine, QueryError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.followers_page(GHOST_ACCOUNT, Some(of_sports), 10)
    });
}

/// Reads every page of `account`'s followers; returns the users, in page order.
fn all_pages(engine: &Engine, account: AccountId, size: usize) -> Vec<u32> {
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let page = engine.followers_page(account, after, size).unwrap();
        assert!(page.open_ids.len() <= size);
        assert_eq!(page.total, engine.follower_count(account).unwrap());
        users.extend(
            page.open_ids
                .iter()
                .map(|id| engine.user_of(account, *id).unwrap().0),
        );
        match page.next {
            None => return users,
            Some(next) => {
                assert_eq!(Some(&next), page.open_ids.last());
                assert_eq!(
                    page.open_ids.len(),
                    size,
                    "a short page that is not the last"
                );
                after = Some(next);
            }
        }
    }
}

#[test]
fn follower_pages_cover_every_follower_once() {
    let engine = Engine::new(config());
    engine.add_users(300_000).unwrap();
    let account = engine.register_account("pages").unwrap();
    // 1,000 followers spread over several blocks of 65,536 ids, plus the first and last id.
    let mut followers: Vec<u32> = (0..998).map(|i| i * 293 + 11).collect();
    followers.extend([0, 299_999]);
    let ids: Vec<UserId> = followers.iter().map(|&u| UserId(u)).collect();
    assert_eq!(engine.follow_many(account, &ids), Ok(1_000));
    followers.sort_unstable();
    for size in [1, 2, 3, 7, 999, 1_000, 1_001, 10_000] {
        let mut got = all_pages(&engine, account, size);
        got.sort_unstable();
        assert_eq!(got, followers, "page size {size}");
    }
    // An anchor that stopped following between two pages still continues the walk, in
    // OpenID order.
    followers.sort_unstable_by_key(|&u| oid(&engine, account, u));
    let first = engine.followers_page(account, None, 10).unwrap();
    let anchor = first.next.unwrap();
    let anchor_user = engine.user_of(account, anchor).unwrap();
    engine.unfollow(account, anchor_user).unwrap();
    let second = engine.followers_page(account, Some(anchor), 10).unwrap();
    let seen: Vec<u32> = first
        .open_ids
        .iter()
        .chain(&second.open_ids)
        .map(|id| engine.user_of(account, *id).unwrap().0)
        .collect();
    assert_eq!(seen, followers[..20], "{seen:?}");
    // An empty account has one empty page.
    let empty = engine.register_account("empty").unwrap();
    let page = engine.followers_page(empty, None, 10).unwrap();
    assert_eq!((page.open_ids.len(), page.next, page.total), (0, None, 0));
}

// ----- tags -------------------------------------------------------------------------------

#[test]
fn bad_tag_names_and_ids_are_refused() {
    let (engine, vip) = fixture();
    for name in ["", "   ", "a\u{7f}b", &"t".repeat(31), &"标".repeat(31)] {
        refused(&engine, TagError::InvalidName { max: 30 }, || {
            engine.create_tag(NEWS, name)
        });
    }
    refused(&engine, TagError::DuplicateName("vip".into()), || {
        engine.create_tag(NEWS, "vip")
    });
    refused(&engine, TagError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.create_tag(GHOST_ACCOUNT, "vip")
    });
    // Another account may use the same name.
    engine.create_tag(SPORTS, "vip").unwrap();
    refused(&engine, TagError::UnknownTag(TagId(40)), || {
        engine.delete_tag(NEWS, TagId(40))
    });
    refused(&engine, TagError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.delete_tag(GHOST_ACCOUNT, vip)
    });
    engine.delete_tag(NEWS, vip).unwrap();
    refused(&engine, TagError::UnknownTag(vip), || {
        engine.delete_tag(NEWS, vip)
    });
    // The name is free again, the id is not reused, and the old id stays unknown.
    let again = engine.create_tag(NEWS, "vip").unwrap();
    assert_ne!(again, vip);
    refused(&engine, TagError::UnknownTag(vip), || {
        engine.tag_followers(NEWS, vip, &[oid(&engine, NEWS, 0)])
    });
}

#[test]
fn the_101st_tag_of_an_account_is_refused() {
    let (engine, _) = fixture();
    let mut ids = Vec::new();
    for n in 1..100 {
        ids.push(engine.create_tag(NEWS, &format!("tag {n}")).unwrap());
    }
    assert_eq!(engine.tags(NEWS).unwrap().len(), 100);
    refused(&engine, TagError::TooManyTags { max: 100 }, || {
        engine.create_tag(NEWS, "one too many")
    });
    engine.delete_tag(NEWS, ids[5]).unwrap();
    let new = engine.create_tag(NEWS, "one too many").unwrap();
    assert!(!ids.contains(&new));
    refused(&engine, TagError::TooManyTags { max: 100 }, || {
        engine.create_tag(NEWS, "and another")
    });
}

#[test]
fn bad_tag_batches_are_refused_whole() {
    let (engine, vip) = fixture();
    let f = |u| oid(&engine, NEWS, u);
    for add in [true, false] {
        let retag = |ids: &[OpenId]| {
            if add {
                engine.tag_followers(NEWS, vip, ids)
            } else {
                engine.untag_followers(NEWS, vip, ids)
            }
        };
        refused(&engine, TagError::BatchSize { len: 0, max: 50 }, || {
            retag(&[])
        });
        let too_many = vec![f(2); 51];
        refused(&engine, TagError::BatchSize { len: 51, max: 50 }, || {
            retag(&too_many)
        });
        // Valid ids first, then a bad one: nothing is changed.
        let of_sports = oid(&engine, SPORTS, 4);
        refused(&engine, TagError::InvalidOpenId(of_sports), || {
            retag(&[f(0), f(2), of_sports])
        });
        refused(&engine, TagError::InvalidOpenId(OpenId(7)), || {
            retag(&[f(1), f(3), OpenId(7)])
        });
        let stranger = f(9);
        refused(&engine, TagError::NotFollowing(stranger), || {
            retag(&[f(0), f(4), stranger])
        });
        refused(&engine, TagError::UnknownTag(TagId(9)), || {
            if add {
                engine.tag_followers(NEWS, TagId(9), &[f(0)])
            } else {
                engine.untag_followers(NEWS, TagId(9), &[f(0)])
            }
        });
        refused(&engine, TagError::UnknownAccount(GHOST_ACCOUNT), || {
            if add {
                engine.tag_followers(GHOST_ACCOUNT, vip, &[f(0)])
            } else {
                engine.untag_followers(GHOST_ACCOUNT, vip, &[f(0)])
            }
        });
    }
    // 50 is a valid batch; duplicates count once.
    let mut fifty = vec![f(2); 49];
    fifty.push(f(3));
    assert_eq!(engine.tag_followers(NEWS, vip, &fifty), Ok(2));
    assert_eq!(engine.untag_followers(NEWS, vip, &[f(3), f(4)]), Ok(1));
}

#[test]
fn the_21st_tag_of_a_follower_is_refused() {
    let (engine, vip) = fixture();
    let user0 = oid(&engine, NEWS, 0);
    let user2 = oid(&engine, NEWS, 2);
    let mut tags = vec![vip];
    for n in 1..21 {
        tags.push(engine.create_tag(NEWS, &format!("tag {n}")).unwrap());
    }
    // User 0 carries "vip" already; 19 more make 20.
    for &tag in &tags[1..20] {
        assert_eq!(engine.tag_followers(NEWS, tag, &[user0]), Ok(1));
    }
    assert_eq!(engine.tags_of(NEWS, user0).unwrap().len(), 20);
    refused(
        &engine,
        TagError::TooManyTagsOnFollower {
            open_id: user0,
            max: 20,
        },
        || engine.tag_followers(NEWS, tags[20], &[user2, user0]),
    );
    // Re-adding a tag it carries is not a 21st tag.
    assert_eq!(engine.tag_followers(NEWS, tags[3], &[user0, user2]), Ok(1));
    // Once one is removed, the 20th fits again.
    engine.untag_followers(NEWS, tags[1], &[user0]).unwrap();
    assert_eq!(engine.tag_followers(NEWS, tags[20], &[user0]), Ok(1));
}

// ----- messages ---------------------------------------------------------------------------

#[test]
fn invalid_texts_are_refused() {
    let (engine, _) = fixture();
    bad_message(&engine, text(""), MessageError::Empty { field: "text" });
    bad_message(
        &engine,
        text(" \n\t "),
        MessageError::Empty { field: "text" },
    );
    bad_message(
        &engine,
        text(&"a".repeat(2_049)),
        MessageError::TooLong {
            field: "text",
            len: 2_049,
            max: 2_048,
            unit: "bytes",
        },
    );
    // 683 three-byte characters are 2,049 bytes: the text limit counts bytes.
    bad_message(
        &engine,
        text(&"好".repeat(683)),
        MessageError::TooLong {
            field: "text",
            len: 2_049,
            max: 2_048,
            unit: "bytes",
        },
    );
    bad_message(
        &engine,
        text("bell \u{7} here"),
        MessageError::ControlCharacter { field: "text" },
    );
    // At the limits, and with line breaks, texts are fine.
    accepted(&engine, NEWS, to_all(text(&"a".repeat(2_048))));
    accepted(
        &engine,
        NEWS,
        to_all(text(&format!("{}ab", "好".repeat(682)))),
    );
    accepted(&engine, NEWS, to_all(text("line one\r\nline two\tend")));
}

#[test]
fn invalid_media_are_refused() {
    let (engine, _) = fixture();
    let too_long = |field, len, max, unit| MessageError::TooLong {
        field,
        len,
        max,
        unit,
    };
    bad_message(
        &engine,
        Message::Image(media(MediaFormat::Png, 10 * MIB + 1, 0)),
        too_long("image", 10 * MIB + 1, 10 * MIB, "bytes"),
    );
    bad_message(
        &engine,
        Message::Image(media(MediaFormat::Mp3, 1_000, 0)),
        MessageError::WrongMediaKind {
            field: "image",
            expected: "image",
            got: MediaFormat::Mp3,
        },
    );
    bad_message(
        &engine,
        Message::Image(media(MediaFormat::Jpeg, 0, 0)),
        MessageError::Empty { field: "image" },
    );
    let mut no_id = media(MediaFormat::Jpeg, 100, 0);
    no_id.media_id = String::new();
    bad_message(
        &engine,
        Message::Image(no_id),
        MessageError::Empty { field: "media id" },
    );
    let mut long_id = media(MediaFormat::Jpeg, 100, 0);
    long_id.media_id = "m".repeat(129);
    bad_message(
        &engine,
        Message::Image(long_id),
        too_long("media id", 129, 128, "bytes"),
    );
    bad_message(
        &engine,
        Message::Voice(media(MediaFormat::Amr, 1_000, 61)),
        too_long("voice", 61, 60, "seconds"),
    );
    bad_message(
        &engine,
        Message::Voice(media(MediaFormat::Mp3, 2 * MIB + 1, 10)),
        too_long("voice", 2 * MIB + 1, 2 * MIB, "bytes"),
    );
    bad_message(
        &engine,
        Message::Voice(media(MediaFormat::Png, 1_000, 10)),
        MessageError::WrongMediaKind {
            field: "voice",
            expected: "voice",
            got: MediaFormat::Png,
        },
    );
    let video = |media, title: &str| {
        Message::Video(Video {
            media,
            title: title.into(),
            description: "a description".into(),
        })
    };
    bad_message(
        &engine,
        video(media(MediaFormat::Gif, 1_000, 5), "clip"),
        MessageError::WrongMediaKind {
            field: "video",
            expected: "video",
            got: MediaFormat::Gif,
        },
    );
    bad_message(
        &engine,
        video(media(MediaFormat::Mp4, 10 * MIB + 1, 5), "clip"),
        too_long("video", 10 * MIB + 1, 10 * MIB, "bytes"),
    );
    bad_message(
        &engine,
        video(media(MediaFormat::Mp4, 1_000, 5), &"视".repeat(65)),
        too_long("video title", 65, 64, "characters"),
    );
    // At the limits they are fine.
    accepted(
        &engine,
        NEWS,
        to_all(Message::Image(media(MediaFormat::Bmp, 10 * MIB, 0))),
    );
    accepted(
        &engine,
        NEWS,
        to_all(Message::Voice(media(MediaFormat::Wav, 2 * MIB, 60))),
    );
    accepted(
        &engine,
        NEWS,
        to_all(video(
            media(MediaFormat::Mp4, 10 * MIB, 600),
            &"视".repeat(64),
        )),
    );
}

#[test]
fn invalid_articles_are_refused() {
    let (engine, _) = fixture();
    let cover = || media(MediaFormat::Jpeg, 50_000, 0);
    let too_long = |field, len, max| MessageError::TooLong {
        field,
        len,
        max,
        unit: "characters",
    };
    bad_message(
        &engine,
        article("", "summary", "body", cover()),
        MessageError::Empty { field: "title" },
    );
    // 65 Chinese characters are 195 bytes; the title limit counts characters.
    bad_message(
        &engine,
        article(&"标".repeat(65), "summary", "body", cover()),
        too_long("title", 65, 64),
    );
    bad_message(
        &engine,
        article(&"t".repeat(65), "summary", "body", cover()),
        too_long("title", 65, 64),
    );
    bad_message(
        &engine,
        article("title\nsecond line", "summary", "body", cover()),
        MessageError::ControlCharacter { field: "title" },
    );
    bad_message(
        &engine,
        article("title", &"摘".repeat(121), "body", cover()),
        too_long("summary", 121, 120),
    );
    bad_message(
        &engine,
        article("title", "summary", "", cover()),
        MessageError::Empty { field: "body" },
    );
    bad_message(
        &engine,
        article("title", "summary", &"b".repeat(20_001), cover()),
        too_long("body", 20_001, 20_000),
    );
    bad_message(
        &engine,
        article(
            "title",
            "summary",
            "body",
            media(MediaFormat::Mp4, 1_000, 3),
        ),
        MessageError::WrongMediaKind {
            field: "cover",
            expected: "image",
            got: MediaFormat::Mp4,
        },
    );
    // 64 and 120 Chinese characters (192 and 360 bytes) are within the limits; so is an
    // empty summary and a multi-line body.
    accepted(
        &engine,
        NEWS,
        to_all(article(
            &"标".repeat(64),
            &"摘".repeat(120),
            "body\nmore",
            cover(),
        )),
    );
    accepted(&engine, NEWS, to_all(article("title", "", "body", cover())));
}

// ----- audiences --------------------------------------------------------------------------

#[test]
fn invalid_audiences_are_refused() {
    let (engine, vip) = fixture();
    let f = |u| oid(&engine, NEWS, u);
    bad_audience(
        &engine,
        Audience::Tag(TagId(5)),
        AudienceError::UnknownTag(TagId(5)),
    );
    bad_audience(
        &engine,
        Audience::Expr(TagExpr::and([
            TagExpr::Tag(vip),
            TagExpr::not(TagExpr::Tag(TagId(5))),
        ])),
        AudienceError::UnknownTag(TagId(5)),
    );
    bad_audience(
        &engine,
        Audience::Expr(TagExpr::and([])),
        AudienceError::EmptyExpression,
    );
    bad_audience(
        &engine,
        Audience::Expr(TagExpr::or([
            TagExpr::Tag(vip),
            TagExpr::not(TagExpr::or([])),
        ])),
        AudienceError::EmptyExpression,
    );
    // 64 nodes are fine, 65 are not.
    let or_of = |n| TagExpr::or((0..n).map(|_| TagExpr::Tag(vip)));
    assert_eq!(or_of(63).nodes(), 64);
    accepted(
        &engine,
        NEWS,
        SendRequest::new(text("64 nodes"), Audience::Expr(or_of(63))),
    );
    bad_audience(
        &engine,
        Audience::Expr(or_of(64)),
        AudienceError::ExpressionTooLarge { nodes: 65, max: 64 },
    );
    let size = |len| AudienceError::ListSize {
        len,
        min: 2,
        max: 10_000,
    };
    bad_audience(&engine, Audience::OpenIds(vec![]), size(0));
    bad_audience(&engine, Audience::OpenIds(vec![f(1)]), size(1));
    // Duplicates count once.
    bad_audience(&engine, Audience::OpenIds(vec![f(1), f(1), f(1)]), size(1));
    // The list's own length is bounded too, duplicates included.
    bad_audience(
        &engine,
        Audience::OpenIds(vec![f(1); 10_001]),
        AudienceError::ListTooLong {
            len: 10_001,
            max: 10_000,
        },
    );
    let of_sports = oid(&engine, SPORTS, 4);
    bad_audience(
        &engine,
        Audience::OpenIds(vec![f(1), of_sports]),
        AudienceError::InvalidOpenId(of_sports),
    );
    bad_audience(
        &engine,
        Audience::OpenIds(vec![OpenId(99), f(1)]),
        AudienceError::InvalidOpenId(OpenId(99)),
    );
    bad_audience(
        &engine,
        Audience::OpenIds(vec![f(1), f(2), f(9)]),
        AudienceError::NotFollowing {
            open_ids: vec![f(9)],
            count: 1,
        },
    );
    // A deleted tag is unknown.
    engine.delete_tag(NEWS, vip).unwrap();
    bad_audience(&engine, Audience::Tag(vip), AudienceError::UnknownTag(vip));
    send_refused(
        &engine,
        GHOST_ACCOUNT,
        to_all(text("hello")),
        SendError::UnknownAccount(GHOST_ACCOUNT),
    );
}

#[test]
fn an_open_id_list_of_the_maximum_size_is_accepted() {
    let engine = Engine::new(config());
    engine.add_users(10_001).unwrap();
    let account = engine.register_account("big list").unwrap();
    let users: Vec<UserId> = (0..10_001).map(UserId).collect();
    engine.follow_many(account, &users).unwrap();
    let ids: Vec<OpenId> = (0..10_000).map(|u| oid(&engine, account, u)).collect();
    let job = engine
        .send(
            account,
            SendRequest::new(text("all of you"), Audience::OpenIds(ids)),
        )
        .unwrap();
    assert_eq!(job.wait().sent, 10_000);
    assert!(engine.fetch(UserId(10_000), 0, 1).unwrap().items.is_empty());
    assert_eq!(engine.fetch(UserId(9_999), 0, 1).unwrap().items.len(), 1);
}

// ----- idempotency keys -------------------------------------------------------------------

#[test]
fn bad_idempotency_keys_are_refused() {
    let (engine, _) = fixture();
    let invalid = SendError::InvalidIdempotencyKey { max: 64 };
    // 22 Chinese characters are 66 bytes: the key limit counts bytes.
    for key in [String::new(), "k".repeat(65), "键".repeat(22)] {
        send_refused(
            &engine,
            NEWS,
            to_all(text("hi")).idempotency_key(key),
            invalid.clone(),
        );
    }
    accepted(
        &engine,
        NEWS,
        to_all(text("hi")).idempotency_key("k".repeat(64)),
    );
    accepted(
        &engine,
        NEWS,
        to_all(text("hi")).idempotency_key("键".repeat(21)),
    );
}

#[test]
fn a_repeated_idempotency_key_returns_the_first_job_until_the_window_ends() {
    const DAY_MS: u64 = 24 * 60 * 60 * 1000;
    const START: u64 = 1_700_000_000_000;
    let clock = Arc::new(ManualClock::new(START));
    let engine = Engine::builder(config()).clock(clock.clone()).build();
    let vip = populate(&engine);
    let mut reports = engine.reports();

    let first = engine
        .send(NEWS, to_all(text("first")).idempotency_key("order-42"))
        .unwrap();
    let report = first.wait();
    assert_eq!(
        first.id(),
        JobId {
            account: NEWS,
            seq: Seq(1)
        }
    );
    assert_eq!(report.accepted_at_ms, START);

    // Within the window, even with another message and audience: the same job, nothing new.
    clock.advance_ms(DAY_MS - 1);
    engine.wait_idle().unwrap();
    let before = snapshot(&engine);
    let again = engine
        .send(
            NEWS,
            SendRequest::new(text("second"), Audience::Tag(vip)).idempotency_key("order-42"),
        )
        .unwrap();
    assert_eq!(again.id(), first.id());
    assert_eq!(again.message().as_ref(), &text("first"));
    assert_eq!(again.wait(), report);
    engine.wait_idle().unwrap();
    assert_eq!(snapshot(&engine), before);
    // The key belongs to one account: another account's send with it is a new job.
    let other = engine
        .send(SPORTS, to_all(text("sports")).idempotency_key("order-42"))
        .unwrap();
    assert_eq!(
        other.id(),
        JobId {
            account: SPORTS,
            seq: Seq(1)
        }
    );
    other.wait();

    // After the window, the key starts a new job.
    clock.advance_ms(1);
    let later = engine
        .send(
            NEWS,
            to_all(text("a day later")).idempotency_key("order-42"),
        )
        .unwrap();
    assert_eq!(
        later.id(),
        JobId {
            account: NEWS,
            seq: Seq(2)
        }
    );
    assert_eq!(later.wait().accepted_at_ms, START + DAY_MS);
    engine.wait_idle().unwrap();
    let mut ids = Vec::new();
    while let Ok(Some(r)) = reports.try_next() {
        ids.push(r.job);
    }
    ids.sort();
    assert_eq!(
        ids,
        [
            JobId {
                account: NEWS,
                seq: Seq(1)
            },
            JobId {
                account: NEWS,
                seq: Seq(2)
            },
            JobId {
                account: SPORTS,
                seq: Seq(1)
            },
        ]
    );
}

// ----- inbox reads ------------------------------------------------------------------------

#[test]
fn bad_fetches_and_recoveries_are_refused() {
    let (engine, _) = fixture();
    accepted(&engine, NEWS, to_all(text("hello")));
    refused(&engine, FetchError::UnknownUser(GHOST_USER), || {
        engine.fetch(GHOST_USER, 0, 1)
    });
    for len in [0, 9] {
        refused(&engine, FetchError::Limit { len, max: 8 }, || {
            engine.fetch(UserId(0), 0, len)
        });
    }
    refused(&engine, FetchError::UnknownUser(GHOST_USER), || {
        engine.recover(NEWS, GHOST_USER, Seq(0), 10)
    });
    refused(&engine, FetchError::UnknownAccount(GHOST_ACCOUNT), || {
        engine.recover(GHOST_ACCOUNT, UserId(0), Seq(0), 10)
    });
    let window = engine.config().history_window;
    for len in [0, window + 1] {
        refused(&engine, FetchError::Limit { len, max: window }, || {
            engine.recover(NEWS, UserId(0), Seq(0), len)
        });
    }
    // An engine that delivers to an external sink keeps no inbox.
    let external = Engine::builder(config())
        .sink(Arc::new(Gate::open()))
        .build();
    populate(&external);
    refused(&external, FetchError::NoInbox, || {
        external.fetch(UserId(0), 0, 1)
    });
}

// ----- busy -------------------------------------------------------------------------------

/// A sink that holds every batch until it is opened.
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
}

impl Gate {
    fn closed() -> Self {
        Gate {
            open: Mutex::new(false),
            changed: Condvar::new(),
        }
    }

    fn open() -> Self {
        let gate = Gate::closed();
        gate.set_open();
        gate
    }

    fn set_open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

impl Sink for Gate {
    fn deliver(&self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
        Ok(())
    }
}

/// Opens the gate when dropped, so a failing test does not leave the engine's workers
/// blocked (dropping the engine joins them). Declare it after the engine.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.set_open();
    }
}

#[test]
fn sends_past_max_pending_jobs_are_busy_and_change_nothing() {
    let gate = Arc::new(Gate::closed());
    let engine = Engine::builder(EngineConfig {
        max_unfinished_jobs: 2,
        ..config()
    })
    .sink(gate.clone())
    .build();
    let _opener = OpenOnDrop(gate.clone());
    let vip = populate(&engine);
    let first = engine
        .send(NEWS, to_all(text("one")).idempotency_key("first"))
        .unwrap();
    let second = engine.send(SPORTS, to_all(text("two"))).unwrap();
    assert_eq!(engine.unfinished_jobs(), 2);
    let busy = SendError::Busy {
        unfinished: 2,
        max: 2,
    };
    let before = snapshot(&engine);
    for (account, request) in [
        (NEWS, to_all(text("three"))),
        (
            NEWS,
            SendRequest::new(text("three"), Audience::Tag(vip)).idempotency_key("x"),
        ),
        (SPORTS, to_all(text("three"))),
        (
            NEWS,
            SendRequest::new(
                text("to nobody"),
                Audience::Expr(TagExpr::and([
                    TagExpr::Tag(vip),
                    TagExpr::not(TagExpr::Tag(vip)),
                ])),
            ),
        ),
    ] {
        match engine.send(account, request) {
            Err(e) => assert_eq!(e, busy),
            Ok(job) => panic!("expected Busy, got {job:?}"),
        }
        assert_eq!(snapshot(&engine), before);
    }
    // Repeating an accepted key is not a new job, so it is not refused as busy.
    let repeat = engine
        .send(NEWS, to_all(text("one again")).idempotency_key("first"))
        .unwrap();
    assert_eq!(repeat.id(), first.id());
    assert_eq!(snapshot(&engine), before);
    assert!(!first.status().is_finished());

    gate.set_open();
    assert!(first.wait_timeout(Duration::from_secs(10)).is_some());
    assert!(second.wait_timeout(Duration::from_secs(10)).is_some());
    engine.wait_idle().unwrap();
    assert_eq!(engine.unfinished_jobs(), 0);
    // The refused sends used no sequence numbers.
    let next = engine.send(NEWS, to_all(text("three"))).unwrap();
    assert_eq!(
        next.id(),
        JobId {
            account: NEWS,
            seq: Seq(2)
        }
    );
    let next = engine.send(SPORTS, to_all(text("three"))).unwrap();
    assert_eq!(
        next.id(),
        JobId {
            account: SPORTS,
            seq: Seq(2)
        }
    );
}

/// Regression (fixed): a video's description is not checked for control
/// characters (`domain/message.rs`, `Message::validate`, the `Message::Video` arm calls
/// `chars_at_most` but not `no_control` for it), while every other text field of a message
/// is. The article summary, its closest sibling, refuses them.
#[test]
fn regression_a_video_description_with_a_control_character_is_accepted() {
    let (engine, _) = fixture();
    bad_message(
        &engine,
        Message::Video(Video {
            media: media(MediaFormat::Mp4, 1_000, 5),
            title: "clip".into(),
            description: "ring the bell \u{7} now".into(),
        }),
        MessageError::ControlCharacter {
            field: "video description",
        },
    );
}

const DEEP_EXPRESSION_CHILD: &str = "HERALD_TEST_DEEP_EXPRESSION_CHILD";

/// The body of the next test, run in a child process because it overflows the stack.
#[test]
#[ignore = "run in a child process by regression_a_deeply_nested_tag_expression_crashes_the_process"]
fn deep_expression_child() {
    if std::env::var_os(DEEP_EXPRESSION_CHILD).is_none() {
        return;
    }
    let (engine, vip) = fixture();
    let mut expr = TagExpr::Tag(vip);
    for _ in 0..1_000_000 {
        expr = TagExpr::not(expr);
    }
    let result = engine.send(NEWS, SendRequest::new(text("deep"), Audience::Expr(expr)));
    assert!(
        matches!(
            result,
            Err(SendError::InvalidAudience(
                AudienceError::ExpressionTooLarge { .. }
            ))
        ),
        "{result:?}"
    );
}

/// Regression (fixed): a deeply nested tag expression (here `not` 1,000,000 times)
/// overflows the stack and aborts the whole process instead of being refused with
/// `ExpressionTooLarge`: `TagExpr::nodes` (`domain/audience.rs`) counts nodes recursively
/// before the size limit is checked, and dropping the expression recurses too. The engine
/// should never crash on input.
#[test]
fn regression_a_deeply_nested_tag_expression_crashes_the_process() {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "deep_expression_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DEEP_EXPRESSION_CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && stdout.contains("1 passed"),
        "the child process failed ({}):\n{}",
        child.status,
        stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
}

/// Regression (fixed): a job still counts as pending for a moment after
/// `JobHandle::wait` returned its final report, so a caller at `max_unfinished_jobs` that waits
/// for its job and sends again can be refused as `Busy`, and `unfinished_jobs()` ("jobs accepted
/// and not yet finished") counts a finished job. In `machinery/pool.rs` (`run_one_chunk`, and
/// `finish_now` for empty audiences) `job.finish()` wakes the waiters first and
/// `shared.release()` frees the pending slot only after the report is broadcast.
#[test]
fn regression_a_job_still_counts_as_pending_after_wait_returned() {
    let engine = Engine::new(EngineConfig {
        max_unfinished_jobs: 1,
        ..config()
    });
    populate(&engine);
    let mut busy = 0;
    let mut pending_after_wait = 0;
    for n in 0..2_000 {
        let job = match engine.send(NEWS, to_all(text(&format!("message {n}")))) {
            Ok(job) => job,
            Err(SendError::Busy { .. }) => {
                busy += 1;
                engine.wait_idle().unwrap();
                continue;
            }
            Err(e) => panic!("{e:?}"),
        };
        assert!(job.wait().status.is_finished());
        if engine.unfinished_jobs() != 0 {
            pending_after_wait += 1;
        }
    }
    assert_eq!(
        (busy, pending_after_wait),
        (0, 0),
        "of 2,000 send-then-wait rounds with max_unfinished_jobs = 1: (refused as busy, \
         unfinished_jobs() > 0 right after wait returned)"
    );
}
