//! Bad requests get JSON errors with the right status, never a panic, and change nothing.

mod common;

use common::*;
use serde_json::json;

#[test]
fn malformed_json_wrong_content_type_and_oversize_bodies() {
    let s = Server::start(&["--body-limit", "4096"]);
    let post = |body: &'static str, content_type: &str| {
        s.client
            .post(s.url("/v1/users"))
            .bearer_auth(ADMIN)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .unwrap()
    };
    err(
        post("{\"count\":", "application/json"),
        400,
        "malformed_json",
    );
    err(post("not json", "application/json"), 400, "malformed_json");
    err(
        post("{\"count\":\"two\"}", "application/json"),
        400,
        "invalid_body",
    );
    err(
        post("{\"count\":1,\"extra\":1}", "application/json"),
        400,
        "invalid_body",
    );
    err(
        post("{\"count\":1}", "text/plain"),
        415,
        "unsupported_media_type",
    );
    let no_type = s
        .client
        .post(s.url("/v1/users"))
        .bearer_auth(ADMIN)
        .body("{\"count\":1}")
        .send()
        .unwrap();
    err(no_type, 415, "unsupported_media_type");
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(10_000));
    let r = s
        .client
        .post(s.url("/v1/accounts"))
        .bearer_auth(ADMIN)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .unwrap();
    err(r, 413, "body_too_large");
    err(
        post("{\"count\":0}", "application/json"),
        400,
        "invalid_count",
    );
    // None of it added a user or an account.
    assert_eq!(s.add_users(1), 0);
    assert_eq!(s.admin("/v1/accounts", json!({"name": "n"}))["account"], 0);
}

#[test]
fn bad_paths_queries_and_unknown_routes() {
    let s = Server::start(&[]);
    s.add_users(1);
    let (a, t) = s.account("news");
    err(
        s.get("/v1/accounts/x/jobs/1", &t).send().unwrap(),
        400,
        "invalid_path",
    );
    err(
        s.get("/v1/accounts/1/jobs/-1", &t).send().unwrap(),
        400,
        "invalid_path",
    );
    let u = s.user_token(0);
    err(
        s.get("/v1/inbox?cursor=abc", &u).send().unwrap(),
        400,
        "invalid_query",
    );
    err(
        s.get("/v1/inbox?limit=0", &u).send().unwrap(),
        400,
        "invalid_limit",
    );
    err(
        s.get("/v1/inbox?limit=100000", &u).send().unwrap(),
        400,
        "invalid_limit",
    );
    err(
        s.client.get(s.url("/v2/nothing")).send().unwrap(),
        404,
        "not_found",
    );
    err(
        s.client.put(s.url("/v1/users")).send().unwrap(),
        405,
        "method_not_allowed",
    );
    err(
        s.get(&format!("/v1/accounts/{a}/jobs/5"), &t)
            .send()
            .unwrap(),
        404,
        "unknown_job",
    );
}

#[test]
fn engine_refusals_map_to_codes() {
    let s = Server::start(&[]);
    s.add_users(3);
    let (a, t) = s.account("news");
    let open = s.follow(a, &[0, 1]);
    let send = |message: serde_json::Value, audience: serde_json::Value| {
        s.post(
            &format!("/v1/accounts/{a}/sends"),
            &t,
            json!({"message": message, "audience": audience}),
        )
        .send()
        .unwrap()
    };
    let all = json!({"type": "all"});
    err(send(text(""), all.clone()), 400, "invalid_message");
    err(
        send(text(&"x".repeat(3000)), all.clone()),
        400,
        "invalid_message",
    );
    err(
        send(
            json!({"type": "image", "media": {"media_id": "m", "format": "mp3", "bytes": 5}}),
            all.clone(),
        ),
        400,
        "invalid_message",
    );
    err(
        send(
            json!({"type": "image", "media": {"media_id": "m", "format": "tiff", "bytes": 5}}),
            all.clone(),
        ),
        400,
        "invalid_message",
    );
    err(
        send(json!({"type": "sticker"}), all.clone()),
        400,
        "invalid_body",
    );
    err(
        send(text("x"), json!({"type": "tag", "tag": 9})),
        404,
        "unknown_tag",
    );
    err(
        send(text("x"), json!({"type": "open_ids", "open_ids": ["zz"]})),
        400,
        "invalid_open_id",
    );
    err(
        send(text("x"), json!({"type": "expr", "expr": {"and": []}})),
        400,
        "invalid_expression",
    );
    // An OpenID list needs at least two ids (the platform's rule).
    err(
        send(
            text("x"),
            json!({"type": "open_ids", "open_ids": [open[0]]}),
        ),
        400,
        "invalid_list_size",
    );
    let bad_key = s
        .post(
            &format!("/v1/accounts/{a}/sends"),
            &t,
            json!({"message": text("x"), "audience": all, "idempotency_key": "k".repeat(200)}),
        )
        .send()
        .unwrap();
    err(bad_key, 400, "invalid_idempotency_key");
    err(
        s.post(&format!("/v1/accounts/{a}/tags"), &t, json!({"name": ""}))
            .send()
            .unwrap(),
        400,
        "invalid_name",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/tags/7/members"),
            &t,
            json!({"open_ids": [open[0]]}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_tag",
    );
    err(
        s.post("/v1/accounts/0/followers", ADMIN, json!({"users": [2, 2]}))
            .send()
            .unwrap(),
        400,
        "duplicate_user",
    );
    err(
        s.post(
            "/v1/accounts/0/followers",
            ADMIN,
            json!({"users": [2], "source": "a\u{7}b"}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_source",
    );
    err(
        s.post("/v1/accounts", ADMIN, json!({"name": ""}))
            .send()
            .unwrap(),
        400,
        "invalid_name",
    );
    // Nothing of the refused sends happened.
    let u = s.user_token(0);
    assert_eq!(s.inbox(0, &u, 0)["items"], json!([]));
}
