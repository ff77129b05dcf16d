//! Storage rules and export over HTTP: usage, quota and retention (admin), and the
//! streamed JSON Lines export (admin or the account).

mod common;

use common::*;
use serde_json::{Value, json};

#[test]
fn storage_quota_refuses_sends_that_would_pass_it() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, token) = s.account("a");
    s.follow(a, &[u]);
    let usage = s.get_ok(&format!("/v1/accounts/{a}/storage"), &token);
    assert_eq!(
        usage,
        json!({"used_bytes": 0, "quota_bytes": null, "retention_ms": null, "messages": 0})
    );
    s.send(
        a,
        &token,
        json!({"message": text("first"), "audience": {"type": "all"}}),
    );
    let used = s.get_ok(&format!("/v1/accounts/{a}/storage"), ADMIN)["used_bytes"]
        .as_u64()
        .unwrap();
    assert!(used > 0);
    // Only the platform sets the quota.
    err(
        s.put(
            &format!("/v1/accounts/{a}/storage/quota"),
            &token,
            json!({"quota_bytes": 1}),
        )
        .send()
        .unwrap(),
        401,
        "invalid_token",
    );
    let set = ok(s
        .put(
            &format!("/v1/accounts/{a}/storage/quota"),
            ADMIN,
            json!({"quota_bytes": used + 1}),
        )
        .send()
        .unwrap());
    assert_eq!(set["quota_bytes"], used + 1);
    err(
        s.post(
            &format!("/v1/accounts/{a}/sends"),
            &token,
            json!({"message": text("a longer second message"), "audience": {"type": "all"}}),
        )
        .send()
        .unwrap(),
        409,
        "storage_quota",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/storage"), &token)["messages"],
        1
    );
    ok(s.put(
        &format!("/v1/accounts/{a}/storage/quota"),
        ADMIN,
        json!({"quota_bytes": null}),
    )
    .send()
    .unwrap());
    s.send(
        a,
        &token,
        json!({"message": text("a longer second message"), "audience": {"type": "all"}}),
    );
}

#[test]
fn retention_purges_old_messages() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, token) = s.account("a");
    s.follow(a, &[u]);
    let seq = s.send(
        a,
        &token,
        json!({"message": text("old news"), "audience": {"type": "all"}}),
    );
    s.wait_job(a, &token, seq);
    // Malformed or zero retention: refused, nothing changed.
    err(
        s.put(
            &format!("/v1/accounts/{a}/storage/retention"),
            ADMIN,
            json!({"retention_ms": 0}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_retention",
    );
    err(
        s.put(
            &format!("/v1/accounts/{a}/storage/retention"),
            ADMIN,
            json!({"retention_ms": -5}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_body",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/storage"), &token)["retention_ms"],
        json!(null)
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let set = ok(s
        .put(
            &format!("/v1/accounts/{a}/storage/retention"),
            ADMIN,
            json!({"retention_ms": 200}),
        )
        .send()
        .unwrap());
    assert_eq!(set["retention_ms"], 200);
    // The server's tick purges it within a second or two.
    eventually(10, "the old message is purged", || {
        s.get_ok(&format!("/v1/accounts/{a}/storage"), &token)["messages"] == 0
    });
    // Purged messages leave the inboxes too.
    let ut = s.user_token(u);
    assert_eq!(s.inbox_items(u, &ut), Vec::<Value>::new());
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/storage"), &token)["used_bytes"],
        0
    );
}

fn export(s: &Server, account: u32, token: &str) -> (reqwest::header::HeaderMap, Vec<Value>) {
    let r = s
        .get(&format!("/v1/accounts/{account}/export"), token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        text.len().to_string()
    );
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    (headers, lines)
}

#[test]
fn export_streams_the_accounts_data() {
    let s = Server::start(&[]);
    let first = s.add_users(3);
    let (a, token) = s.account("archive");
    let ids = s.follow(a, &[first, first + 1, first + 2]);
    let tag = s.post_ok(
        &format!("/v1/accounts/{a}/tags"),
        &token,
        json!({"name": "vip"}),
    )["tag"]
        .clone();
    s.post_ok(
        &format!("/v1/accounts/{a}/tags/{tag}/members"),
        &token,
        json!({"open_ids": [ids[1]]}),
    );
    for i in 0..3 {
        s.send(
            a,
            &token,
            json!({"message": text(&format!("m{i}")), "audience": {"type": "all"}}),
        );
    }
    let (headers, lines) = export(&s, a, &token);
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert_eq!(headers["x-herald-export-messages"], "3");
    assert_eq!(headers["x-herald-export-followers"], "3");
    assert_eq!(headers["x-herald-export-tags"], "1");
    assert_eq!(lines[0]["type"], "account");
    assert_eq!(lines[0]["name"], "archive");
    let of = |kind: &str| {
        lines
            .iter()
            .filter(|l| l["type"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of("message").len(), 3);
    let followers = of("follower");
    let mut exported: Vec<&str> = followers
        .iter()
        .map(|f| f["open_id"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    exported.sort_unstable();
    want.sort_unstable();
    assert_eq!(exported, want, "the followers as OpenIDs, never user ids");
    let vip: Vec<&Value> = followers
        .iter()
        .filter(|f| f["tags"] == json!(["vip"]))
        .collect();
    assert_eq!(vip.len(), 1);
    assert_eq!(vip[0]["open_id"], ids[1].as_str());
    // The admin gets the same; the temporary file is gone.
    let (_, again) = export(&s, a, ADMIN);
    assert_eq!(again, lines);
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("herald-export-{a}-"))
        })
        .count();
    assert_eq!(leftovers, 0, "no export file is left behind");
}

#[test]
fn storage_and_export_are_isolated() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, _) = s.account("a");
    let (_, b_token) = s.account("b");
    let ut = s.user_token(u);
    for token in [&b_token, &ut] {
        err(
            s.get(&format!("/v1/accounts/{a}/storage"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.get(&format!("/v1/accounts/{a}/export"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.put(
                &format!("/v1/accounts/{a}/storage/retention"),
                token,
                json!({"retention_ms": 5}),
            )
            .send()
            .unwrap(),
            401,
            "invalid_token",
        );
    }
    err(
        s.get("/v1/accounts/77/export", ADMIN).send().unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.get("/v1/accounts/77/storage", ADMIN).send().unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.put(
            "/v1/accounts/77/storage/quota",
            ADMIN,
            json!({"quota_bytes": 5}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.put(
            &format!("/v1/accounts/{a}/storage/quota"),
            ADMIN,
            json!({"quota": 5}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_body",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/storage"), ADMIN),
        json!({"used_bytes": 0, "quota_bytes": null, "retention_ms": null, "messages": 0})
    );
}
