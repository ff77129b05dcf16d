//! Publishing over HTTP: every message kind to every audience kind, idempotency, job
//! reports, retraction, correction, previews, scheduled sends, reprints; each with its
//! isolation and malformed-input cases.

mod common;

use common::*;
use serde_json::{Value, json};

/// The message of each inbox item, `None` for tombstones.
fn messages(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|i| i["content"]["message"].clone())
        .collect()
}

#[test]
fn every_message_kind_reaches_every_audience_kind() {
    let s = Server::start(&[]);
    let first = s.add_users(4);
    let users: Vec<u32> = (first..first + 4).collect();
    let (a, token) = s.account("city");
    let open_ids = s.follow(a, &users);
    let tokens: Vec<String> = users.iter().map(|&u| s.user_token(u)).collect();
    // Tags: sports = {0, 1}, news = {1, 2}.
    let tag = |name: &str| {
        ok(s.post(
            &format!("/v1/accounts/{a}/tags"),
            &token,
            json!({"name": name}),
        )
        .send()
        .unwrap())["tag"]
            .as_u64()
            .unwrap()
    };
    let (sports, news) = (tag("sports"), tag("news"));
    s.post_ok(
        &format!("/v1/accounts/{a}/tags/{sports}/members"),
        &token,
        json!({"open_ids": [open_ids[0], open_ids[1]]}),
    );
    s.post_ok(
        &format!("/v1/accounts/{a}/tags/{news}/members"),
        &token,
        json!({"open_ids": [open_ids[1], open_ids[2]]}),
    );
    let kinds = [
        text("t"),
        json!({"type": "image", "media": media("i", "jpeg", 5000)}),
        json!({"type": "voice", "media": {"media_id": "v", "format": "amr", "bytes": 900, "duration_secs": 12}}),
        json!({"type": "video", "media": media("v", "mp4", 90000), "title": "clip", "description": "d"}),
        article("A title", "A body"),
    ];
    let audiences = [
        (json!({"type": "all"}), vec![0, 1, 2, 3]),
        (json!({"type": "tag", "tag": sports}), vec![0, 1]),
        (
            json!({"type": "expr", "expr": {"and": [{"tag": news}, {"not": {"tag": sports}}]}}),
            vec![2],
        ),
        (
            json!({"type": "expr", "expr": {"or": [{"tag": news}, {"tag": sports}]}}),
            vec![0, 1, 2],
        ),
        (
            json!({"type": "open_ids", "open_ids": [open_ids[3], open_ids[0]]}),
            vec![0, 3],
        ),
    ];
    let mut expected: Vec<Vec<Value>> = vec![Vec::new(); 4];
    for message in &kinds {
        for (audience, members) in &audiences {
            let seq = s.send(a, &token, json!({"message": message, "audience": audience}));
            let report = s.wait_job(a, &token, seq);
            assert_eq!(report["status"], "done", "{report}");
            assert_eq!(report["total"], members.len() as u64);
            assert_eq!(report["sent"], members.len() as u64);
            for &m in members {
                expected[m].push(message.clone());
            }
        }
    }
    for (i, &u) in users.iter().enumerate() {
        let mut got = Vec::new();
        let mut cursor = 0;
        loop {
            let page = s.inbox(u, &tokens[i], cursor);
            let items = page["items"].as_array().unwrap();
            if items.is_empty() {
                break;
            }
            got.extend(messages(items));
            cursor = page["next_cursor"].as_u64().unwrap();
        }
        let normalize = |v: &Value| {
            let mut v = v.clone();
            for key in ["media", "cover"] {
                if v.get(key).is_some() && v[key].get("duration_secs").is_none() {
                    v[key]["duration_secs"] = json!(0);
                }
            }
            v
        };
        let want: Vec<Value> = expected[i].iter().map(normalize).collect();
        assert_eq!(got, want, "user {u}'s inbox");
    }
}

#[test]
fn idempotency_keys_and_job_reports() {
    let s = Server::start(&[]);
    let u = s.add_users(2);
    let (a, token) = s.account("a");
    s.follow(a, &[u, u + 1]);
    let body =
        json!({"message": text("once"), "audience": {"type": "all"}, "idempotency_key": "k-1"});
    let first = s.send(a, &token, body.clone());
    let again = s.send(a, &token, body);
    assert_eq!(first, again, "the repeated key returns the first job");
    let report = s.wait_job(a, &token, first);
    assert_eq!(
        (
            report["account"].clone(),
            report["total"].clone(),
            report["sent"].clone(),
            report["errors"].clone()
        ),
        (json!(a), json!(2), json!(2), json!(0))
    );
    assert!(
        report["finished_at_ms"].as_u64().unwrap() >= report["accepted_at_ms"].as_u64().unwrap()
    );
    assert_eq!(s.inbox_items(u, &s.user_token(u)).len(), 1);
    // A key too long: refused, nothing sent.
    err(
        s.post(
            &format!("/v1/accounts/{a}/sends"),
            &token,
            json!({"message": text("x"), "audience": {"type": "all"}, "idempotency_key": "k".repeat(65)}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_idempotency_key",
    );
    err(
        s.get(&format!("/v1/accounts/{a}/jobs/{}", first + 1), &token)
            .send()
            .unwrap(),
        404,
        "unknown_job",
    );
    let info = s.get_ok(&format!("/v1/accounts/{a}/jobs/{first}/message"), &token);
    assert_eq!(info["purpose"], "broadcast");
    assert_eq!(info["message"], text("once"));
}

#[test]
fn retraction_and_correction_of_articles() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, token) = s.account("a");
    s.follow(a, &[u]);
    let ut = s.user_token(u);
    let seq = s.send(a, &token, json!({"message": article("News", "The mayor opened the bridge."), "audience": {"type": "all"}}));
    s.wait_job(a, &token, seq);
    let path = format!("/v1/accounts/{a}/jobs/{seq}/correction");
    // Too many changes: refused, the article unchanged.
    err(
        s.post(
            &path,
            &token,
            json!({"body": "Something else entirely, rewritten."}),
        )
        .send()
        .unwrap(),
        400,
        "too_many_changes",
    );
    err(
        s.post(
            &path,
            &token,
            json!({"body": "The mayor opened the bridge."}),
        )
        .send()
        .unwrap(),
        400,
        "unchanged",
    );
    err(
        s.post(&path, &token, json!({"body": ""})).send().unwrap(),
        400,
        "invalid_message",
    );
    err(
        s.post(&path, &token, json!({"text": "x"})).send().unwrap(),
        400,
        "invalid_body",
    );
    let info = s.get_ok(&format!("/v1/accounts/{a}/jobs/{seq}/message"), &token);
    assert_eq!(
        (info["corrections"].clone(), info["message"]["body"].clone()),
        (json!(0), json!("The mayor opened the bridge."))
    );
    // A correction of a few characters; readers get it.
    let corrected = s.post_ok(
        &path,
        &token,
        json!({"body": "The mayor opened the new bridge."}),
    );
    assert_eq!(corrected["corrections"], 1);
    assert_eq!(corrected["message"]["title"], "News");
    let items = s.inbox_items(u, &ut);
    assert_eq!(
        items[0]["content"]["message"]["body"],
        "The mayor opened the new bridge."
    );
    // Once only.
    err(
        s.post(
            &path,
            &token,
            json!({"body": "The mayor opened the old bridge."}),
        )
        .send()
        .unwrap(),
        409,
        "already_corrected",
    );
    // Text cannot be corrected or retracted.
    let t = s.send(
        a,
        &token,
        json!({"message": text("plain"), "audience": {"type": "all"}}),
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/jobs/{t}/correction"),
            &token,
            json!({"body": "plain!"}),
        )
        .send()
        .unwrap(),
        400,
        "not_an_article",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/jobs/{t}/retract"),
            &token,
            json!({}),
        )
        .send()
        .unwrap(),
        409,
        "not_retractable",
    );
    // Retraction: the job says so, the reader gets a tombstone, a correction is refused.
    ok(s.post(
        &format!("/v1/accounts/{a}/jobs/{seq}/retract"),
        &token,
        json!({}),
    )
    .send()
    .unwrap());
    assert_eq!(s.wait_job(a, &token, seq)["status"], "retracted");
    assert_eq!(
        s.inbox_items(u, &ut)[0]["content"],
        json!({"type": "retracted"})
    );
    err(
        s.post(
            &path,
            &token,
            json!({"body": "The mayor opened the red bridge."}),
        )
        .send()
        .unwrap(),
        409,
        "already_retracted",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/jobs/{seq}/retract"),
            &token,
            json!({}),
        )
        .send()
        .unwrap(),
        409,
        "already_retracted",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/jobs/99/correction"),
            &token,
            json!({"body": "x"}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_job",
    );
}

#[test]
fn previews_reach_one_follower() {
    let s = Server::start(&[]);
    let u = s.add_users(2);
    let (a, token) = s.account("a");
    let ids = s.follow(a, &[u, u + 1]);
    let r = ok(s
        .post(
            &format!("/v1/accounts/{a}/previews"),
            &token,
            json!({"open_id": ids[1], "message": text("draft")}),
        )
        .send()
        .unwrap());
    let seq = r["seq"].as_u64().unwrap() as u32;
    let report = s.wait_job(a, &token, seq);
    assert_eq!(
        (report["total"].clone(), report["sent"].clone()),
        (json!(1), json!(1))
    );
    assert!(s.inbox_items(u, &s.user_token(u)).is_empty());
    assert_eq!(s.inbox_items(u + 1, &s.user_token(u + 1)).len(), 1);
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/jobs/{seq}/message"), &token)["purpose"],
        "preview"
    );
    // Malformed: a bad OpenID, an OpenID of nobody following; nothing sent.
    err(
        s.post(
            &format!("/v1/accounts/{a}/previews"),
            &token,
            json!({"open_id": "zz", "message": text("x")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_open_id",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/previews"),
            &token,
            json!({"open_id": "0123456789abcdef", "message": text("x")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_open_id",
    );
    err(
        s.post(
            &format!("/v1/accounts/{a}/previews"),
            &token,
            json!({"open_id": ids[0], "message": text("")}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_message",
    );
    assert!(s.inbox_items(u, &s.user_token(u)).is_empty());
    err(
        s.get(&format!("/v1/accounts/{a}/jobs/{}", seq + 1), &token)
            .send()
            .unwrap(),
        404,
        "unknown_job",
    );
}

#[test]
fn scheduled_sends_fire_when_due_and_can_be_cancelled() {
    let s = Server::start(&[]);
    let u = s.add_users(2);
    let (a, token) = s.account("a");
    s.follow(a, &[u, u + 1]);
    let ut = s.user_token(u);
    let path = format!("/v1/accounts/{a}/schedules");
    let due = now_ms() + 1500;
    let first = ok(s
        .post(&path, &token, json!({"due_ms": due, "message": text("evening news"), "audience": {"type": "all"}, "idempotency_key": "evening"}))
        .send()
        .unwrap());
    assert_eq!(first["due_ms"], due);
    let second = ok(s
        .post(
            &path,
            &token,
            json!({"due_ms": due, "message": text("never"), "audience": {"type": "all"}}),
        )
        .send()
        .unwrap());
    let listed = s.get_ok(&path, &token)["schedules"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["schedule"], first["schedule"]);
    assert_eq!(listed[0]["message"], text("evening news"));
    assert_eq!(listed[0]["audience"], json!({"type": "all"}));
    assert_eq!(listed[0]["idempotency_key"], "evening");
    let status = s.get_ok(&format!("{path}/{}", first["schedule"]), &token);
    assert_eq!(
        (status["state"].clone(), status["due_ms"].clone()),
        (json!("pending"), json!(due))
    );
    // Cancel the second before it is due.
    ok(s.delete(&format!("{path}/{}", second["schedule"]), &token)
        .send()
        .unwrap());
    err(
        s.delete(&format!("{path}/{}", second["schedule"]), &token)
            .send()
            .unwrap(),
        404,
        "unknown_schedule",
    );
    err(
        s.get(&format!("{path}/{}", second["schedule"]), &token)
            .send()
            .unwrap(),
        404,
        "unknown_schedule",
    );
    // A third names a tag that is deleted before it is due: refused when due.
    let tag = s.post_ok(
        &format!("/v1/accounts/{a}/tags"),
        &token,
        json!({"name": "gone"}),
    )["tag"]
        .clone();
    let third = s.post_ok(&path, &token, json!({"due_ms": due, "message": text("to a tag"), "audience": {"type": "tag", "tag": tag}}));
    ok(s.delete(&format!("/v1/accounts/{a}/tags/{tag}"), &token)
        .send()
        .unwrap());
    // Malformed or impossible schedules: refused, nothing scheduled.
    let bad = [
        (
            json!({"due_ms": now_ms() - 1000, "message": text("x"), "audience": {"type": "all"}}),
            400,
            "not_in_future",
        ),
        (
            json!({"due_ms": due, "message": text(""), "audience": {"type": "all"}}),
            400,
            "invalid_message",
        ),
        (
            json!({"due_ms": due, "message": text("x"), "audience": {"type": "tag", "tag": 9}}),
            404,
            "unknown_tag",
        ),
        (
            json!({"message": text("x"), "audience": {"type": "all"}}),
            400,
            "invalid_body",
        ),
        (
            json!({"due_ms": "soon", "message": text("x"), "audience": {"type": "all"}}),
            400,
            "invalid_body",
        ),
    ];
    for (body, status, code) in bad {
        err(s.post(&path, &token, body).send().unwrap(), status, code);
    }
    assert_eq!(
        s.get_ok(&path, &token)["schedules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // It fires within a tick of being due; the cancelled one never does.
    eventually(10, "the scheduled send arrives", || {
        s.inbox_items(u, &ut).len() == 1
    });
    assert!(now_ms() >= due);
    assert_eq!(
        s.inbox_items(u, &ut)[0]["content"]["message"],
        text("evening news")
    );
    eventually(10, "both due schedules are handled", || {
        s.get_ok(&path, &token)["schedules"] == json!([])
    });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(s.inbox_items(u, &ut).len(), 1);
    // Its status names the job it became; the refused one says why.
    let status = s.get_ok(&format!("{path}/{}", first["schedule"]), &token);
    assert_eq!(status["state"], "fired");
    assert_eq!(status["job"]["account"], a);
    let seq = status["job"]["seq"].as_u64().unwrap() as u32;
    let report = s.wait_job(a, &token, seq);
    assert_eq!(
        (report["total"].clone(), report["sent"].clone()),
        (json!(2), json!(2))
    );
    let status = s.get_ok(&format!("{path}/{}", third["schedule"]), &token);
    assert_eq!(status["state"], "refused", "{status}");
    assert_eq!(status["error"]["code"], "unknown_tag");
    // Another account cannot see them.
    let (_, b_token) = s.account("b");
    err(
        s.get(&format!("{path}/{}", first["schedule"]), &b_token)
            .send()
            .unwrap(),
        403,
        "forbidden",
    );
}

#[test]
fn reprints_need_an_open_original() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, a_token) = s.account("original");
    let (b, b_token) = s.account("reprinter");
    s.follow(a, &[u]);
    s.follow(b, &[u]);
    let story = article("Floods", "The river rose two metres overnight.");
    let closed = s.send(
        a,
        &a_token,
        json!({"message": story, "audience": {"type": "all"}}),
    );
    let open_story = article("Harvest", "The rice harvest began early this year.");
    let open = s.send(
        a,
        &a_token,
        json!({"message": open_story, "audience": {"type": "all"}, "open_for_reprint": true}),
    );
    s.wait_job(a, &a_token, open);
    // The same article without a declaration is unoriginal; a reprint of a closed one is
    // refused; nothing is sent.
    err(
        s.post(
            &format!("/v1/accounts/{b}/sends"),
            &b_token,
            json!({"message": story, "audience": {"type": "all"}}),
        )
        .send()
        .unwrap(),
        409,
        "unoriginal",
    );
    err(
        s.post(&format!("/v1/accounts/{b}/sends"), &b_token, json!({"message": story, "audience": {"type": "all"}, "reprint_of": {"account": a, "seq": closed}})).send().unwrap(),
        409,
        "reprint_not_open",
    );
    err(
        s.post(
            &format!("/v1/accounts/{b}/sends"),
            &b_token,
            json!({"message": text("x"), "audience": {"type": "all"}, "open_for_reprint": true}),
        )
        .send()
        .unwrap(),
        400,
        "not_an_article",
    );
    err(
        s.get(&format!("/v1/accounts/{b}/jobs/1"), &b_token)
            .send()
            .unwrap(),
        404,
        "unknown_job",
    );
    let seq = s.send(b, &b_token, json!({"message": open_story, "audience": {"type": "all"}, "reprint_of": {"account": a, "seq": open}}));
    let info = s.get_ok(&format!("/v1/accounts/{b}/jobs/{seq}/message"), &b_token);
    assert_eq!(info["reprint_of"], json!({"account": a, "seq": open}));
    let info = s.get_ok(&format!("/v1/accounts/{a}/jobs/{open}/message"), &a_token);
    assert_eq!(info["open_for_reprint"], true);
}

#[test]
fn publishing_routes_belong_to_their_account() {
    let s = Server::start(&[]);
    let u = s.add_users(1);
    let (a, a_token) = s.account("a");
    let (_, b_token) = s.account("b");
    let ids = s.follow(a, &[u]);
    let user_token = s.user_token(u);
    let seq = s.send(
        a,
        &a_token,
        json!({"message": article("T", "Body text here."), "audience": {"type": "all"}}),
    );
    s.wait_job(a, &a_token, seq);
    s.post_ok(&format!("/v1/accounts/{a}/schedules"), &a_token, json!({"due_ms": now_ms() + 3_600_000, "message": text("later"), "audience": {"type": "all"}}));
    for token in [&b_token, &user_token] {
        let posts = [
            (
                format!("/v1/accounts/{a}/sends"),
                json!({"message": text("x"), "audience": {"type": "all"}}),
            ),
            (
                format!("/v1/accounts/{a}/previews"),
                json!({"open_id": ids[0], "message": text("x")}),
            ),
            (
                format!("/v1/accounts/{a}/schedules"),
                json!({"due_ms": now_ms() + 60_000, "message": text("x"), "audience": {"type": "all"}}),
            ),
            (
                format!("/v1/accounts/{a}/jobs/{seq}/correction"),
                json!({"body": "Body text her."}),
            ),
            (format!("/v1/accounts/{a}/jobs/{seq}/retract"), json!({})),
        ];
        for (path, body) in posts {
            err(s.post(&path, token, body).send().unwrap(), 403, "forbidden");
        }
        for path in [
            format!("/v1/accounts/{a}/schedules"),
            format!("/v1/accounts/{a}/jobs/{seq}"),
            format!("/v1/accounts/{a}/jobs/{seq}/message"),
        ] {
            err(s.get(&path, token).send().unwrap(), 403, "forbidden");
        }
        err(
            s.delete(&format!("/v1/accounts/{a}/schedules/0"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
    }
    // Nothing of that happened.
    assert_eq!(s.inbox_items(u, &user_token).len(), 1);
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{a}/schedules"), &a_token)["schedules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let info = s.get_ok(&format!("/v1/accounts/{a}/jobs/{seq}/message"), &a_token);
    assert_eq!(
        (info["corrections"].clone(), info["retracted"].clone()),
        (json!(0), json!(false))
    );
}

#[test]
fn a_scheduled_send_survives_a_crash_and_fires_after_restart() {
    let dir = temp_dir("native-schedule");
    let (a, token, u, ut, due) = {
        let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
        let u = s.add_users(1);
        let (a, token) = s.account("a");
        s.follow(a, &[u]);
        let ut = s.user_token(u);
        let due = now_ms() + 2500;
        s.post_ok(
            &format!("/v1/accounts/{a}/schedules"),
            &token,
            json!({"due_ms": due, "message": text("after the crash"), "audience": {"type": "all"}}),
        );
        (a, token, u, ut, due)
        // Dropped: SIGKILL, before it is due.
    };
    assert!(
        now_ms() < due,
        "the server was killed before the send was due"
    );
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    let pending = s.get_ok(&format!("/v1/accounts/{a}/schedules"), &token)["schedules"].clone();
    assert_eq!(
        pending.as_array().unwrap().len(),
        1,
        "the acknowledged schedule survived"
    );
    eventually(15, "the scheduled send arrives after restart", || {
        s.inbox_items(u, &ut).len() == 1
    });
    assert!(now_ms() >= due);
    assert_eq!(
        s.inbox_items(u, &ut)[0]["content"]["message"],
        text("after the crash")
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
