//! Storage: per-account retention (older messages purged from history and inboxes), a
//! storage quota in bytes (a send that would exceed it is refused), export of an account's
//! data, and termination purging everything and freeing the subject's quota.

mod common;

use common::*;
use herald::{AccountKind, FollowError, QueryError, SendError, TerminateError};

#[test]
fn messages_older_than_the_retention_period_are_purged_from_history_and_inboxes() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    engine.set_retention(account, Some(7 * DAY)).unwrap();
    engine.send(account, to_all(text("old"))).unwrap().wait();
    clock.advance_ms(3 * DAY);
    engine.send(account, to_all(text("newer"))).unwrap().wait();
    clock.set_ms(JAN_1_2024 + 7 * DAY);
    engine.run_due();
    assert_eq!(
        engine.fetch(f[0].0, 0, 10).unwrap().items.len(),
        2,
        "exactly 7 days is kept"
    );
    clock.set_ms(JAN_1_2024 + 7 * DAY + 1);
    engine.run_due();
    let inbox = engine.fetch(f[0].0, 0, 10).unwrap();
    assert_eq!(inbox.items.len(), 1);
    assert_eq!(inbox.items[0].seq, herald::Seq(2));
    assert_eq!(engine.storage_usage(account).unwrap().messages, 1);
    let recovered = engine.recover(account, f[0].0, herald::Seq(0), 10).unwrap();
    assert_eq!(recovered.messages.len(), 1);
}

#[test]
fn a_send_that_would_exceed_the_storage_quota_is_refused() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 1);
    engine.set_storage_quota(account, Some(10)).unwrap();
    engine.send(account, to_all(text("12345"))).unwrap();
    engine.send(account, to_all(text("67890"))).unwrap();
    assert_eq!(
        engine.send(account, to_all(text("x"))).unwrap_err(),
        SendError::StorageQuota {
            used: 10,
            needed: 1,
            quota: 10
        }
    );
    assert_eq!(engine.storage_usage(account).unwrap().used_bytes, 10);
}

#[test]
fn purging_by_retention_frees_storage_quota() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 1);
    engine.set_storage_quota(account, Some(5)).unwrap();
    engine.set_retention(account, Some(DAY)).unwrap();
    engine.send(account, to_all(text("12345"))).unwrap().wait();
    assert!(engine.send(account, to_all(text("a"))).is_err());
    clock.advance_ms(DAY + 1);
    engine.run_due();
    assert_eq!(engine.storage_usage(account).unwrap().used_bytes, 0);
    engine.send(account, to_all(text("a"))).unwrap();
}

#[test]
fn an_export_holds_messages_follower_openids_tags_sources_and_statistics() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "exported", AccountKind::Service);
    let users = engine.add_users(3).unwrap();
    let mut open_ids = Vec::new();
    for u in users {
        open_ids.push(engine.follow(account, u, Some("qr:expo-hall")).unwrap());
    }
    let tag = engine.create_tag(account, "vip \"gold\"").unwrap();
    engine.tag_followers(account, tag, &open_ids[..1]).unwrap();
    engine
        .send(account, to_all(text("line one\nline two")))
        .unwrap()
        .wait();
    let dir = std::env::temp_dir().join(format!("herald-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("account.jsonl");
    let summary = engine.export(account, &path).unwrap();
    assert_eq!(
        (
            summary.messages,
            summary.followers,
            summary.tags,
            summary.sources
        ),
        (1, 3, 1, 1)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(r#"{"type":"account","format":1,"#),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(r#""kind":"service""#));
    assert!(lines[1].starts_with(r#"{"type":"statistics","followers":3,"messages_sent":1"#));
    assert!(lines.iter().any(|l| l.contains(r#""type":"message""#)
        && l.contains(r#""text":"line one\nline two""#)
        && l.contains(r#""sent":3"#)));
    assert!(lines.iter().any(|l| l.contains(r#""name":"vip \"gold\"""#)));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""type":"source","source":"qr:expo-hall","current":3"#))
    );
    for id in &open_ids {
        assert!(
            text.contains(&format!(r#""open_id":"{id}""#)),
            "{id} exported"
        );
    }
    assert_eq!(text.len() as u64, summary.bytes);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn terminating_an_account_purges_edges_openids_messages_inbox_entries_and_tags() {
    let (engine, _) = engine_at(JAN_1_2024);
    let gone = account(&engine, "gone", AccountKind::Service);
    let stays = account(&engine, "stays", AccountKind::Service);
    let f = followers(&engine, gone, 2);
    engine.follow(stays, f[0].0, None).unwrap();
    engine.create_tag(gone, "t").unwrap();
    engine.send(gone, to_all(text("from gone"))).unwrap().wait();
    engine
        .send(stays, to_all(text("from stays")))
        .unwrap()
        .wait();
    let edges = engine.follow_edges();
    engine.terminate_account(gone).unwrap();
    assert_eq!(engine.follow_edges(), edges - 2);
    assert_eq!(engine.following(f[0].0).unwrap(), vec![stays]);
    assert_eq!(
        engine.follower_count(gone),
        Err(QueryError::UnknownAccount(gone))
    );
    assert_eq!(engine.tags(gone), Err(QueryError::UnknownAccount(gone)));
    assert!(
        engine.user_of(gone, f[0].1).is_err(),
        "its OpenIDs resolve no more"
    );
    let inbox = engine.fetch(f[0].0, 0, 10).unwrap();
    assert_eq!(inbox.items.len(), 1);
    assert_eq!(inbox.items[0].account, stays);
    assert!(engine.fetch(f[1].0, 0, 10).unwrap().items.is_empty());
    assert_eq!(
        engine.follow(gone, f[1].0, None),
        Err(FollowError::UnknownAccount(gone))
    );
    assert_eq!(
        engine.terminate_account(gone),
        Err(TerminateError::UnknownAccount(gone))
    );
}
