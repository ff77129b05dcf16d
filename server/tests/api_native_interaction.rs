//! Interaction over HTTP: followers write to accounts, accounts read and reply within the
//! window, keyword auto-replies, and the accounts a user follows.

mod common;

use common::*;
use serde_json::json;

#[test]
fn followers_write_and_accounts_reply() {
    let s = Server::start(&[]);
    let u = s.add_users(2);
    let (a, token) = s.account("help desk");
    let ids = s.follow(a, &[u, u + 1]);
    let ut = s.user_token(u);
    let wrote = ok(s
        .post(
            &format!("/v1/users/{u}/messages"),
            &ut,
            json!({"account": a, "message": text("is the library open?")}),
        )
        .send()
        .unwrap());
    assert_eq!(wrote, json!({"auto_reply": null}));
    let inbound = s.get_ok(&format!("/v1/accounts/{a}/inbound"), &token)["messages"].clone();
    assert_eq!(inbound.as_array().unwrap().len(), 1);
    assert_eq!(inbound[0]["open_id"], ids[0].as_str());
    assert_eq!(inbound[0]["message"], text("is the library open?"));
    assert!(inbound[0]["at_ms"].as_u64().unwrap() <= now_ms());
    // The account replies to the one who wrote.
    let r = ok(s
        .post(
            &format!("/v1/accounts/{a}/replies"),
            &token,
            json!({"open_id": ids[0], "message": text("until 9 pm")}),
        )
        .send()
        .unwrap());
    assert_eq!(r["account"], a);
    let seq = r["seq"].as_u64().unwrap() as u32;
    assert_eq!(s.wait_job(a, &token, seq)["sent"], 1);
    assert_eq!(
        s.inbox_items(u, &ut)[0]["content"]["message"],
        text("until 9 pm")
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/jobs/{seq}/message"), &token)["purpose"],
        "reply"
    );
    // Not to someone who never wrote: the window is closed.
    err(
        s.post(
            &format!("/v1/accounts/{a}/replies"),
            &token,
            json!({"open_id": ids[1], "message": text("hello")}),
        )
        .send()
        .unwrap(),
        409,
        "reply_window_closed",
    );
    assert!(s.inbox_items(u + 1, &s.user_token(u + 1)).is_empty());
    // `limit` keeps the latest.
    s.post_ok(
        &format!("/v1/users/{u}/messages"),
        &ut,
        json!({"account": a, "message": text("thanks")}),
    );
    let latest = s.get_ok(&format!("/v1/accounts/{a}/inbound?limit=1"), &token)["messages"].clone();
    assert_eq!(latest.as_array().unwrap().len(), 1);
    assert_eq!(latest[0]["message"], text("thanks"));
    err(
        s.get(&format!("/v1/accounts/{a}/inbound?limit=0"), &token)
            .send()
            .unwrap(),
        400,
        "invalid_limit",
    );
    err(
        s.get(&format!("/v1/accounts/{a}/inbound?limit=x"), &token)
            .send()
            .unwrap(),
        400,
        "invalid_query",
    );
}

#[test]
fn auto_replies_answer_keywords_at_once() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, token) = s.account("museum");
    s.follow(a, &[u]);
    let ut = s.user_token(u);
    let set = ok(s
        .put(
            &format!("/v1/accounts/{a}/auto-replies/hours"),
            &token,
            json!({"reply": text("9 to 5, closed Mondays")}),
        )
        .send()
        .unwrap());
    assert_eq!(
        set,
        json!({"keyword": "hours", "reply": text("9 to 5, closed Mondays")})
    );
    // A keyword with a space, percent-encoded in the path.
    ok(s.put(
        &format!("/v1/accounts/{a}/auto-replies/gift%20shop"),
        &token,
        json!({"reply": text("ground floor")}),
    )
    .send()
    .unwrap());
    let rules = s.get_ok(&format!("/v1/accounts/{a}/auto-replies"), &token)["auto_replies"].clone();
    assert_eq!(rules.as_array().unwrap().len(), 2);
    assert_eq!(rules[1]["keyword"], "gift shop");
    let wrote = s.post_ok(
        &format!("/v1/users/{u}/messages"),
        &ut,
        json!({"account": a, "message": text("what are your hours?")}),
    );
    let seq = wrote["auto_reply"]["seq"]
        .as_u64()
        .expect("an auto-reply job") as u32;
    assert_eq!(wrote["auto_reply"]["account"], a);
    s.wait_job(a, &token, seq);
    assert_eq!(
        s.inbox_items(u, &ut)[0]["content"]["message"],
        text("9 to 5, closed Mondays")
    );
    // Removed, it answers no more; removing it twice is an error.
    ok(
        s.delete(&format!("/v1/accounts/{a}/auto-replies/hours"), &token)
            .send()
            .unwrap(),
    );
    err(
        s.delete(&format!("/v1/accounts/{a}/auto-replies/hours"), &token)
            .send()
            .unwrap(),
        404,
        "unknown_keyword",
    );
    let wrote = s.post_ok(
        &format!("/v1/users/{u}/messages"),
        &ut,
        json!({"account": a, "message": text("hours?")}),
    );
    assert_eq!(wrote["auto_reply"], json!(null));
    // Malformed rules change nothing.
    err(
        s.put(
            &format!("/v1/accounts/{a}/auto-replies/x"),
            &token,
            json!({"reply": text("")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_message",
    );
    err(
        s.put(
            &format!("/v1/accounts/{a}/auto-replies/%20%20"),
            &token,
            json!({"reply": text("x")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_keyword",
    );
    err(
        s.put(
            &format!("/v1/accounts/{a}/auto-replies/x"),
            &token,
            json!({"text": "x"}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_body",
    );
    let rules = s.get_ok(&format!("/v1/accounts/{a}/auto-replies"), &token)["auto_replies"].clone();
    assert_eq!(
        rules,
        json!([{"keyword": "gift shop", "reply": text("ground floor")}])
    );
}

#[test]
fn users_see_the_accounts_they_follow() {
    let s = Server::start(&[]);
    let u = s.add_users(2);
    let (a, _) = s.account("first");
    let (b, _) = s.account("second");
    s.follow(a, &[u]);
    s.follow(b, &[u]);
    let ut = s.user_token(u);
    assert_eq!(
        s.get_ok(&format!("/v1/users/{u}/following"), &ut),
        json!({"accounts": [{"account": a, "name": "first"}, {"account": b, "name": "second"}]})
    );
    let other = s.user_token(u + 1);
    assert_eq!(
        s.get_ok(&format!("/v1/users/{}/following", u + 1), &other),
        json!({"accounts": []})
    );
    ok(s.delete(&format!("/v1/accounts/{a}/followers/{u}"), ADMIN)
        .send()
        .unwrap());
    assert_eq!(
        s.get_ok(&format!("/v1/users/{u}/following"), &ut)["accounts"],
        json!([{"account": b, "name": "second"}])
    );
}

#[test]
fn users_follow_and_unfollow_by_themselves() {
    let s = Server::start(&[]);
    let u = s.add_users(2);
    let (a, token) = s.account("station");
    let ut = s.user_token(u);
    let followed = ok(s
        .post(
            &format!("/v1/users/{u}/following"),
            &ut,
            json!({"account": a, "source": "qr:gate-2"}),
        )
        .send()
        .unwrap());
    assert_eq!(followed, json!({"account": a, "name": "station"}));
    // The account sees a follower (an OpenID) from that source, and its sends reach them.
    let page = s.get_ok(&format!("/v1/accounts/{a}/followers"), &token);
    assert_eq!(page["total"], 1);
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/sources"), &token)["sources"],
        json!([{"source": "qr:gate-2", "current": 1, "total": 1}])
    );
    let identity = s.get_ok(&format!("/v1/accounts/{a}/followers/{u}"), ADMIN);
    assert_eq!(identity["open_id"], page["open_ids"][0]);
    assert_eq!(identity["following"], true);
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/followers/{}", u + 1), ADMIN)["following"],
        false
    );
    s.send(
        a,
        &token,
        json!({"message": text("welcome"), "audience": {"type": "all"}}),
    );
    eventually(10, "the send arrives", || s.inbox_items(u, &ut).len() == 1);
    // Refused: twice, a bad source, an unknown account, another user's token; nothing
    // changes.
    err(
        s.post(
            &format!("/v1/users/{u}/following"),
            &ut,
            json!({"account": a}),
        )
        .send()
        .unwrap(),
        409,
        "already_following",
    );
    let other = s.user_token(u + 1);
    err(
        s.post(
            &format!("/v1/users/{}/following", u + 1),
            &other,
            json!({"account": a, "source": ""}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_source",
    );
    err(
        s.post(
            &format!("/v1/users/{}/following", u + 1),
            &other,
            json!({"account": 9}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.post(
            &format!("/v1/users/{u}/following"),
            &other,
            json!({"account": a}),
        )
        .send()
        .unwrap(),
        403,
        "forbidden",
    );
    err(
        s.delete(&format!("/v1/users/{u}/following/{a}"), &other)
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    err(
        s.delete(&format!("/v1/users/{u}/following/{a}"), &token)
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    err(
        s.get(&format!("/v1/accounts/{a}/followers/{u}"), &token)
            .send()
            .unwrap(),
        401,
        "invalid_token",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/followers"), &token)["total"],
        1
    );
    assert_eq!(
        s.get_ok(&format!("/v1/users/{}/following", u + 1), &other)["accounts"],
        json!([])
    );
    // Unfollowing ends it; twice is an error.
    ok(s.delete(&format!("/v1/users/{u}/following/{a}"), &ut)
        .send()
        .unwrap());
    err(
        s.delete(&format!("/v1/users/{u}/following/{a}"), &ut)
            .send()
            .unwrap(),
        409,
        "not_following",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/followers"), &token)["total"],
        0
    );
    assert_eq!(
        s.get_ok(&format!("/v1/users/{u}/following"), &ut)["accounts"],
        json!([])
    );
}

#[test]
fn interaction_is_isolated_and_checked() {
    let s = Server::start(&[]);
    let u = s.add_users(3);
    let (a, a_token) = s.account("a");
    let (_, b_token) = s.account("b");
    let ids = s.follow(a, &[u, u + 1]);
    let (ut, other) = (s.user_token(u), s.user_token(u + 1));
    // A user cannot write as, or read the following list of, another user; nor can an
    // account.
    for token in [&other, &a_token] {
        err(
            s.post(
                &format!("/v1/users/{u}/messages"),
                token,
                json!({"account": a, "message": text("x")}),
            )
            .send()
            .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.get(&format!("/v1/users/{u}/following"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
    }
    // Another account or a user cannot read or answer this account's messages.
    s.post_ok(
        &format!("/v1/users/{u}/messages"),
        &ut,
        json!({"account": a, "message": text("private")}),
    );
    for token in [&b_token, &ut] {
        err(
            s.get(&format!("/v1/accounts/{a}/inbound"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.post(
                &format!("/v1/accounts/{a}/replies"),
                token,
                json!({"open_id": ids[0], "message": text("x")}),
            )
            .send()
            .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.get(&format!("/v1/accounts/{a}/auto-replies"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.put(
                &format!("/v1/accounts/{a}/auto-replies/k"),
                token,
                json!({"reply": text("x")}),
            )
            .send()
            .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.delete(&format!("/v1/accounts/{a}/auto-replies/k"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
    }
    assert_eq!(s.inbox_items(u, &ut).len(), 0, "no reply was sent");
    // Refused writes: not a follower, an article, an empty text, an unknown account.
    let not_follower = s.user_token(u + 2);
    err(
        s.post(
            &format!("/v1/users/{}/messages", u + 2),
            &not_follower,
            json!({"account": a, "message": text("hi")}),
        )
        .send()
        .unwrap(),
        409,
        "not_following",
    );
    err(
        s.post(
            &format!("/v1/users/{u}/messages"),
            &ut,
            json!({"account": a, "message": article("T", "B")}),
        )
        .send()
        .unwrap(),
        400,
        "unsupported_kind",
    );
    err(
        s.post(
            &format!("/v1/users/{u}/messages"),
            &ut,
            json!({"account": a, "message": text(" ")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_message",
    );
    err(
        s.post(
            &format!("/v1/users/{u}/messages"),
            &ut,
            json!({"account": 42, "message": text("hi")}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.post(
            &format!("/v1/users/{u}/messages"),
            &ut,
            json!({"message": text("hi")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_body",
    );
    // None of it reached the account; the reply window of the one who was refused stays
    // closed.
    let inbound = s.get_ok(&format!("/v1/accounts/{a}/inbound"), &a_token)["messages"].clone();
    assert_eq!(inbound.as_array().unwrap().len(), 1);
    assert_eq!(inbound[0]["message"], text("private"));
    err(
        s.post(
            &format!("/v1/accounts/{a}/replies"),
            &a_token,
            json!({"open_id": ids[1], "message": text("x")}),
        )
        .send()
        .unwrap(),
        409,
        "reply_window_closed",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/replies"),
            &a_token,
            json!({"open_id": "nothex", "message": text("x")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_open_id",
    );
}
