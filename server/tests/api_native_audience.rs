//! The follower graph over HTTP beyond follows and pages: deleting tags, one follower's
//! tags, follow sources; isolation and malformed input.

mod common;

use common::*;
use serde_json::json;

#[test]
fn tags_followers_and_sources() {
    let s = Server::start(&[]);
    let u = s.add_users(3);
    let (a, token) = s.account("a");
    let from_qr = s.admin(
        &format!("/v1/accounts/{a}/followers"),
        json!({"users": [u, u + 1], "source": "qr:station-3"}),
    )["open_ids"]
        .clone();
    let plain = s.follow(a, &[u + 2]);
    let tag = s.post_ok(
        &format!("/v1/accounts/{a}/tags"),
        &token,
        json!({"name": "vip"}),
    )["tag"]
        .clone();
    let other = s.post_ok(
        &format!("/v1/accounts/{a}/tags"),
        &token,
        json!({"name": "new"}),
    )["tag"]
        .clone();
    s.post_ok(
        &format!("/v1/accounts/{a}/tags/{tag}/members"),
        &token,
        json!({"open_ids": [from_qr[0]]}),
    );
    s.post_ok(
        &format!("/v1/accounts/{a}/tags/{other}/members"),
        &token,
        json!({"open_ids": [from_qr[0]]}),
    );
    let one = s.get_ok(
        &format!("/v1/accounts/{a}/openids/{}", from_qr[0].as_str().unwrap()),
        &token,
    );
    assert_eq!(one["tags"], json!([tag, other]));
    assert_eq!(one["broadcasts_this_month"], 0);
    let none = s.get_ok(&format!("/v1/accounts/{a}/openids/{}", plain[0]), &token);
    assert_eq!(none["tags"], json!([]));
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/sources"), &token),
        json!({"sources": [{"source": "qr:station-3", "current": 2, "total": 2}]})
    );
    ok(s.delete(&format!("/v1/accounts/{a}/followers/{u}"), ADMIN)
        .send()
        .unwrap());
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/sources"), &token)["sources"][0]["current"],
        1
    );
    // Deleting a tag: gone from the list and from the follower, who still follows.
    ok(s.delete(&format!("/v1/accounts/{a}/tags/{tag}"), &token)
        .send()
        .unwrap());
    err(
        s.delete(&format!("/v1/accounts/{a}/tags/{tag}"), &token)
            .send()
            .unwrap(),
        404,
        "unknown_tag",
    );
    let tags = s.get_ok(&format!("/v1/accounts/{a}/tags"), &token)["tags"].clone();
    assert_eq!(tags, json!([{"id": other, "name": "new", "followers": 0}]));
    err(
        s.post(
            &format!("/v1/accounts/{a}/sends"),
            &token,
            json!({"message": text("x"), "audience": {"type": "tag", "tag": tag}}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_tag",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/followers"), &token)["total"],
        2
    );
}

#[test]
fn audience_routes_are_isolated_and_checked() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, token) = s.account("a");
    let (b, b_token) = s.account("b");
    let ids = s.follow(a, &[u]);
    let b_ids = s.follow(b, &[u]);
    let ut = s.user_token(u);
    let tag = s.post_ok(
        &format!("/v1/accounts/{a}/tags"),
        &token,
        json!({"name": "t"}),
    )["tag"]
        .clone();
    for t in [&b_token, &ut] {
        err(
            s.delete(&format!("/v1/accounts/{a}/tags/{tag}"), t)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.get(&format!("/v1/accounts/{a}/openids/{}", ids[0]), t)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.get(&format!("/v1/accounts/{a}/sources"), t)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
    }
    // Another account's OpenID means nothing here.
    assert_ne!(ids[0], b_ids[0]);
    err(
        s.get(&format!("/v1/accounts/{a}/openids/{}", b_ids[0]), &token)
            .send()
            .unwrap(),
        400,
        "invalid_open_id",
    );
    err(
        s.get(&format!("/v1/accounts/{a}/openids/xyz"), &token)
            .send()
            .unwrap(),
        400,
        "invalid_open_id",
    );
    err(
        s.delete(&format!("/v1/accounts/{a}/tags/nope"), &token)
            .send()
            .unwrap(),
        400,
        "invalid_path",
    );
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/tags"), &token)["tags"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
