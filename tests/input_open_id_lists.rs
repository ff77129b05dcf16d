//! OpenID lists and OpenIDs of users who do not exist. `ListSize` said "must hold 2 to 10000
//! distinct ids, got 10001" for a list of two distinct ids (it mixed the list's length with
//! its distinct ids); a well-formed OpenID of a user that does not exist was `NotFollowing`
//! in `send` and `tag_followers` but `InvalidOpenId` in `user_of`; and a list with k stale
//! ids took k round trips to clean, since the error named only the first.

mod common;

use common::*;
use herald::{
    AccountKind, Audience, AudienceError, Engine, OpenId, QueryError, SendError, SendRequest,
    TagError, UserId,
};

fn list(engine: &Engine, account: herald::AccountId, ids: Vec<OpenId>) -> SendError {
    engine
        .send(account, SendRequest::new(text("x"), Audience::OpenIds(ids)))
        .unwrap_err()
}

/// 10,001 entries naming two followers: the text claimed 10,001 distinct ids.
#[test]
fn a_long_list_with_few_distinct_ids_is_not_said_to_have_many_distinct_ids() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    let mut ids = vec![f[0].1; 10_000];
    ids.push(f[1].1);
    let err = list(&engine, account, ids);
    let text = err.to_string();
    assert!(!text.contains("distinct ids, got 10001"), "{text}");
    assert!(text.contains("10001"), "{text}");
    assert_eq!(
        err,
        SendError::InvalidAudience(AudienceError::ListTooLong {
            len: 10_001,
            max: 10_000
        })
    );
    // Too few distinct ids: the count is of distinct ids.
    assert_eq!(
        list(&engine, account, vec![f[0].1; 3]),
        SendError::InvalidAudience(AudienceError::ListSize {
            len: 1,
            min: 2,
            max: 10_000
        })
    );
}

/// An OpenID issued for this account, of a user this engine does not have (it was made by
/// an engine with the same secret and more users).
fn ghost_open_id(account: herald::AccountId) -> OpenId {
    let (bigger, _) = engine_at(JAN_1_2024);
    let same = bigger.register_account("same id").unwrap();
    assert_eq!(same, account);
    bigger.add_users(10).unwrap();
    bigger.open_id(account, UserId(9)).unwrap()
}

/// `user_of` called it invalid, `send` and `tag_followers` called it not following.
#[test]
fn an_open_id_of_a_user_who_does_not_exist_is_invalid_everywhere() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = engine.register_account("same id").unwrap();
    engine.add_users(2).unwrap();
    let f0 = engine.follow(account, UserId(0), None).unwrap();
    let f1 = engine.follow(account, UserId(1), None).unwrap();
    let ghost = ghost_open_id(account);
    assert_eq!(
        engine.user_of(account, ghost),
        Err(QueryError::InvalidOpenId(ghost))
    );
    assert_eq!(
        list(&engine, account, vec![f0, f1, ghost]),
        SendError::InvalidAudience(AudienceError::InvalidOpenId(ghost))
    );
    assert!(matches!(
        engine.preview(account, ghost, text("p")),
        Err(SendError::InvalidAudience(AudienceError::InvalidOpenId(id))) if id == ghost
    ));
    let tag = engine.create_tag(account, "t").unwrap();
    assert_eq!(
        engine.tag_followers(account, tag, &[f0, ghost]),
        Err(TagError::InvalidOpenId(ghost))
    );
}

/// Three followers of a list of ten had left; the error named only the first.
#[test]
fn every_stale_id_of_a_list_is_named() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 10);
    let stale = [2, 5, 9];
    for &i in &stale {
        engine.unfollow(account, f[i].0).unwrap();
    }
    // Listed twice, named once.
    let mut ids: Vec<OpenId> = f.iter().map(|x| x.1).collect();
    ids.push(f[5].1);
    let err = list(&engine, account, ids);
    let text = err.to_string();
    for &i in &stale {
        assert!(text.contains(&f[i].1.to_string()), "{i}: {text}");
    }
    assert_eq!(
        err,
        SendError::InvalidAudience(AudienceError::NotFollowing {
            open_ids: stale.iter().map(|&i| f[i].1).collect(),
            count: 3
        })
    );
    assert!(text.starts_with("invalid audience: 3 OpenIDs do not follow this account: "));
    // Nothing was sent.
    engine.wait_idle().unwrap();
    assert!(engine.fetch(f[0].0, 0, 1).unwrap().items.is_empty());
}

/// Named, but not without bound: 150 stale ids name 100 and count the rest.
#[test]
fn stale_ids_are_named_up_to_a_bound() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 160);
    for x in &f[10..] {
        engine.unfollow(account, x.0).unwrap();
    }
    let text = list(&engine, account, f.iter().map(|x| x.1).collect()).to_string();
    let named = f[10..]
        .iter()
        .filter(|x| text.contains(&x.1.to_string()))
        .count();
    assert_eq!(named, 100, "{text}");
    assert!(text.contains("150"), "{text}");
    assert!(text.contains("50 more"), "{text}");
    assert_eq!(AudienceError::MAX_NAMED, 100);
}
