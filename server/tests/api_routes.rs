//! Every route family of the native API, driven over HTTP against the real binary.

mod common;

use common::*;
use serde_json::json;

#[test]
fn health_and_readiness() {
    let s = Server::start(&[]);
    assert!(s.banner.iter().any(|l| l.contains("running in memory")));
    assert_eq!(
        ok(s.client.get(s.url("/healthz")).send().unwrap())["status"],
        "ok"
    );
    assert_eq!(
        ok(s.client.get(s.url("/readyz")).send().unwrap())["status"],
        "ready"
    );
}

#[test]
fn users_accounts_follows_and_unfollows() {
    let s = Server::start(&[]);
    assert_eq!(s.add_users(5), 0);
    assert_eq!(s.add_users(2), 5);
    let a = s.admin("/v1/accounts", json!({"name": "city news"}));
    let appid = a["appid"].as_str().unwrap();
    assert!(appid.starts_with("wx") && appid.len() == 18);
    assert_eq!(a["secret"].as_str().unwrap().len(), 32);
    let (b, _) = s.account("weather");
    assert_eq!(b, a["account"].as_u64().unwrap() as u32 + 1);

    let ids = s.admin(
        "/v1/accounts/0/followers",
        json!({"users": [0, 1, 2], "source": "qr:station-3"}),
    )["open_ids"]
        .clone();
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter()
            .all(|o| o.len() == 16 && o.bytes().all(|c| c.is_ascii_hexdigit()))
    );
    // OpenIDs are per account.
    let other = s.follow(b, &[0]);
    assert_ne!(other[0], ids[0]);

    // Already following: 409, and nothing of the list is followed.
    err(
        s.post("/v1/accounts/0/followers", ADMIN, json!({"users": [3, 0]}))
            .send()
            .unwrap(),
        409,
        "already_following",
    );
    s.follow(0, &[3]); // 3 was not followed by the refused request
    err(
        s.post("/v1/accounts/0/followers", ADMIN, json!({"users": [99]}))
            .send()
            .unwrap(),
        404,
        "unknown_user",
    );
    err(
        s.post("/v1/accounts/77/followers", ADMIN, json!({"users": [1]}))
            .send()
            .unwrap(),
        404,
        "unknown_account",
    );

    let r = s
        .client
        .delete(s.url("/v1/accounts/0/followers/1"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    err(
        s.client
            .delete(s.url("/v1/accounts/0/followers/1"))
            .bearer_auth(ADMIN)
            .send()
            .unwrap(),
        409,
        "not_following",
    );
}

#[test]
fn sends_of_every_kind_and_audience_reach_the_inbox() {
    let s = Server::start(&[]);
    s.add_users(4);
    let (a, t) = s.account("news");
    let open = s.follow(a, &[0, 1, 2, 3]);

    let tag = ok(s
        .post(
            &format!("/v1/accounts/{a}/tags"),
            &t,
            json!({"name": "sports"}),
        )
        .send()
        .unwrap())["tag"]
        .as_u64()
        .unwrap();
    let changed = ok(s
        .post(
            &format!("/v1/accounts/{a}/tags/{tag}/members"),
            &t,
            json!({"open_ids": [open[0], open[1]]}),
        )
        .send()
        .unwrap());
    assert_eq!(changed["changed"], 2);
    let untagged = ok(s
        .post(
            &format!("/v1/accounts/{a}/tags/{tag}/members/delete"),
            &t,
            json!({"open_ids": [open[1]]}),
        )
        .send()
        .unwrap());
    assert_eq!(untagged["changed"], 1);
    let tags = ok(s.get(&format!("/v1/accounts/{a}/tags"), &t).send().unwrap());
    assert_eq!(
        tags["tags"],
        json!([{"id": tag, "name": "sports", "followers": 1}])
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/tags"),
            &t,
            json!({"name": "sports"}),
        )
        .send()
        .unwrap(),
        409,
        "duplicate_name",
    );

    let image = json!({"media_id": "m1", "format": "png", "bytes": 1000});
    let cases = [
        (text("to all"), json!({"type": "all"}), 4),
        (
            json!({"type": "image", "media": image}),
            json!({"type": "tag", "tag": tag}),
            1,
        ),
        (
            json!({"type": "voice", "media": {"media_id": "v", "format": "mp3", "bytes": 10, "duration_secs": 3}}),
            json!({"type": "expr", "expr": {"not": {"tag": tag}}}),
            3,
        ),
        (
            json!({"type": "video", "media": {"media_id": "x", "format": "mp4", "bytes": 10, "duration_secs": 3}, "title": "t", "description": "d"}),
            json!({"type": "open_ids", "open_ids": [open[2], open[3]]}),
            2,
        ),
        (
            json!({"type": "article", "title": "T", "summary": "S", "body": "B", "cover": image}),
            json!({"type": "expr", "expr": {"or": [{"tag": tag}, {"not": {"tag": tag}}]}}),
            4,
        ),
    ];
    let mut seqs = Vec::new();
    for (message, audience, expected) in cases {
        let seq = s.send(a, &t, json!({"message": message, "audience": audience}));
        let report = s.wait_job(a, &t, seq);
        assert_eq!(
            (report["status"].as_str(), report["sent"].as_u64()),
            (Some("done"), Some(expected)),
            "{report}"
        );
        seqs.push(seq);
    }

    // User 0 is tagged: all, image, article. User 3: all, voice, video, article.
    let u0 = s.user_token(0);
    let inbox = s.inbox(0, &u0, 0);
    let kinds: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content"]["message"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "image", "article"]);
    assert_eq!(inbox["items"][0]["content"]["message"]["text"], "to all");
    assert_eq!(
        inbox["items"][1]["content"]["message"]["media"],
        json!({"media_id": "m1", "format": "png", "bytes": 1000, "duration_secs": 0})
    );
    assert_eq!(inbox["items"][2]["seq"], seqs[4]);
    assert_eq!(inbox["missed"], 0);
    // The cursor pages.
    let next = inbox["next_cursor"].as_u64().unwrap();
    assert_eq!(s.inbox(0, &u0, next)["items"], json!([]));
    let page = ok(s.get("/v1/inbox?cursor=1&limit=1", &u0).send().unwrap());
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["cursor"], 1);
    assert_eq!(page["next_cursor"], 2);

    let u3 = s.user_token(3);
    let kinds3: Vec<String> = s.inbox(3, &u3, 0)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["content"]["message"]["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds3, ["text", "voice", "video", "article"]);
}

#[test]
fn idempotency_key_returns_the_first_job_and_unknown_jobs_are_404() {
    let s = Server::start(&[]);
    s.add_users(2);
    let (a, t) = s.account("news");
    s.follow(a, &[0, 1]);
    let body =
        json!({"message": text("once"), "audience": {"type": "all"}, "idempotency_key": "k-1"});
    let first = s.send(a, &t, body.clone());
    let again = s.send(a, &t, body);
    assert_eq!(first, again);
    s.wait_job(a, &t, first);
    let u1 = s.user_token(1);
    assert_eq!(s.inbox(1, &u1, 0)["items"].as_array().unwrap().len(), 1);
    err(
        s.get(&format!("/v1/accounts/{a}/jobs/999"), &t)
            .send()
            .unwrap(),
        404,
        "unknown_job",
    );
}

#[test]
fn evicted_entries_are_reported_and_recovered_from_the_history() {
    let s = Server::start(&[]);
    s.add_users(2);
    let (a, t) = s.account("news");
    s.follow(a, &[0, 1]);
    let mut last = 0;
    for i in 0..40 {
        last = s.send(
            a,
            &t,
            json!({"message": text(&format!("m{i}")), "audience": {"type": "all"}}),
        );
    }
    s.wait_job(a, &t, last);
    let u = s.user_token(0);
    let inbox = s.inbox(0, &u, 0);
    assert_eq!(inbox["missed"], 8, "an inbox keeps 32 entries: {inbox}");
    let from = &inbox["missed_from"][0];
    assert_eq!(from["account"], a);
    let latest_missed = from["seq"].as_u64().unwrap();
    let first_seq = inbox["items"][0]["seq"].as_u64().unwrap();
    assert_eq!(latest_missed + 1, first_seq);

    let r = ok(s
        .get(
            &format!("/v1/users/0/recover?account={a}&after=0&limit=32"),
            &u,
        )
        .send()
        .unwrap());
    let texts: Vec<&str> = r["messages"]
        .as_array()
        .unwrap()
        .iter()
        .take(8)
        .map(|m| m["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    assert_eq!(r["messages"][7]["seq"], latest_missed);
    err(
        s.get(&format!("/v1/users/1/recover?account={a}"), &u)
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
    err(
        s.get("/v1/users/0/recover?account=9", &u).send().unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.get("/v1/users/0/recover", &u).send().unwrap(),
        400,
        "invalid_query",
    );
}

#[test]
fn follower_pages_retraction_and_speed_tiers() {
    let s = Server::start(&[]);
    s.add_users(3);
    let (a, t) = s.account("news");
    let mut open = s.follow(a, &[0, 1, 2]);
    open.sort();

    let first = ok(s
        .get(&format!("/v1/accounts/{a}/followers?limit=2"), &t)
        .send()
        .unwrap());
    assert_eq!(first["total"], 3);
    assert_eq!(first["open_ids"], json!([open[0], open[1]]));
    let next = first["next"].as_str().unwrap();
    let second = ok(s
        .get(
            &format!("/v1/accounts/{a}/followers?after={next}&limit=2"),
            &t,
        )
        .send()
        .unwrap());
    assert_eq!(second["open_ids"], json!([open[2]]));
    assert_eq!(second["next"], json!(null));
    let all = ok(s
        .get(&format!("/v1/accounts/{a}/followers"), &t)
        .send()
        .unwrap());
    assert_eq!(all["open_ids"].as_array().unwrap().len(), 3);
    err(
        s.get(&format!("/v1/accounts/{a}/followers?after=xyz"), &t)
            .send()
            .unwrap(),
        400,
        "invalid_open_id",
    );
    err(
        s.get(&format!("/v1/accounts/{a}/followers?limit=0"), &t)
            .send()
            .unwrap(),
        400,
        "invalid_page_size",
    );

    let cover = json!({"media_id": "c", "format": "jpeg", "bytes": 10});
    let article = json!({"type": "article", "title": "T", "body": "B", "cover": cover});
    let seq = s.send(
        a,
        &t,
        json!({"message": article, "audience": {"type": "all"}}),
    );
    s.wait_job(a, &t, seq);
    let r = s
        .client
        .post(s.url(&format!("/v1/accounts/{a}/jobs/{seq}/retract")))
        .bearer_auth(&t)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(s.wait_job(a, &t, seq)["status"], "retracted");
    let u = s.user_token(0);
    assert_eq!(
        s.inbox(0, &u, 0)["items"][0]["content"],
        json!({"type": "retracted"})
    );
    let retract_again = s
        .client
        .post(s.url(&format!("/v1/accounts/{a}/jobs/{seq}/retract")))
        .bearer_auth(&t)
        .send()
        .unwrap();
    err(retract_again, 409, "already_retracted");
    let text_seq = s.send(
        a,
        &t,
        json!({"message": text("t"), "audience": {"type": "all"}}),
    );
    let retract_text = s
        .client
        .post(s.url(&format!("/v1/accounts/{a}/jobs/{text_seq}/retract")))
        .bearer_auth(&t)
        .send()
        .unwrap();
    err(retract_text, 409, "not_retractable");

    let speed = format!("/v1/accounts/{a}/speed");
    assert_eq!(ok(s.get(&speed, &t).send().unwrap())["tier"], json!(null));
    let set = s
        .client
        .put(s.url(&speed))
        .bearer_auth(&t)
        .json(&json!({"tier": 2}))
        .send()
        .unwrap();
    assert_eq!(ok(set)["tier"], 2);
    assert_eq!(ok(s.get(&speed, &t).send().unwrap())["tier"], 2);
    let bad = s
        .client
        .put(s.url(&speed))
        .bearer_auth(&t)
        .json(&json!({"tier": 5}))
        .send()
        .unwrap();
    err(bad, 400, "invalid_speed_tier");
    let lift = s
        .client
        .put(s.url(&speed))
        .bearer_auth(&t)
        .json(&json!({"tier": null}))
        .send()
        .unwrap();
    assert_eq!(ok(lift)["tier"], json!(null));
}
