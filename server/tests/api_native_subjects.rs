//! Subjects and account lifecycle over HTTP: subjects and quotas, registration under a
//! subject, completing registration, verification, violations and bans, termination.

mod common;

use common::*;
use serde_json::{Value, json};

const REG: &str = r#"{"region":"Zhaoqing","category":"media","contact":"press@city.gov.cn"}"#;

fn reg() -> Value {
    serde_json::from_str(REG).unwrap()
}

/// Registers an account under `subject`; (id, token, answer).
fn register(s: &Server, subject: u32, name: &str, registration: Value) -> (u32, String, Value) {
    let a = ok(s
        .post(
            &format!("/v1/subjects/{subject}/accounts"),
            ADMIN,
            json!({"name": name, "kind": "subscription", "registration": registration}),
        )
        .send()
        .unwrap());
    let id = a["account"].as_u64().unwrap() as u32;
    let t = s.post_ok(
        "/v1/token",
        "",
        json!({"appid": a["appid"], "secret": a["secret"]}),
    );
    (id, t["access_token"].as_str().unwrap().to_string(), a)
}

#[test]
fn subjects_hold_accounts_within_their_quota() {
    let s = Server::start(&[]);
    let person = s.admin(
        "/v1/subjects",
        json!({"name": "Li Wei", "kind": "individual"}),
    );
    assert_eq!(
        person,
        json!({"subject": 0, "name": "Li Wei", "kind": "individual", "quota": 1, "accounts": []})
    );
    let (a, _, answer) = register(&s, 0, "Li's notes", reg());
    assert_eq!(answer["missing"], json!([]));
    assert!(answer["appid"].as_str().unwrap().starts_with("wx"));
    // The individual's one place is taken: refused, and nothing registered.
    let refused = s
        .post(
            "/v1/subjects/0/accounts",
            ADMIN,
            json!({"name": "second", "kind": "service", "registration": reg()}),
        )
        .send()
        .unwrap();
    err(refused, 409, "quota_reached");
    assert_eq!(s.get_ok("/v1/subjects/0", ADMIN)["accounts"], json!([a]));
    // An approved application raises it.
    let raised = ok(s
        .put("/v1/subjects/0/quota", ADMIN, json!({"quota": 2}))
        .send()
        .unwrap());
    assert_eq!(raised["quota"], 2);
    let (b, _, _) = register(&s, 0, "second", reg());
    assert_eq!(b, a + 1, "the refused registration used no id");
    assert_eq!(s.get_ok("/v1/subjects/0", ADMIN)["accounts"], json!([a, b]));

    // Terminating an account frees its place; its credentials stop giving tokens.
    let org = s.admin(
        "/v1/subjects",
        json!({"name": "City", "kind": "organization"}),
    );
    assert_eq!(
        (org["subject"].clone(), org["quota"].clone()),
        (json!(1), json!(2))
    );
    let (c, c_token, c_answer) = register(&s, 1, "city news", reg());
    ok(s.delete(&format!("/v1/accounts/{c}"), &c_token)
        .send()
        .unwrap());
    assert_eq!(s.get_ok("/v1/subjects/1", ADMIN)["accounts"], json!([]));
    err(
        s.post(
            "/v1/token",
            "",
            json!({"appid": c_answer["appid"], "secret": c_answer["secret"]}),
        )
        .send()
        .unwrap(),
        401,
        "invalid_credentials",
    );
    err(
        s.get(&format!("/v1/accounts/{c}"), ADMIN).send().unwrap(),
        404,
        "unknown_account",
    );
}

#[test]
fn incomplete_registration_restricts_sending_until_completed() {
    let s = Server::start(&[]);
    s.admin(
        "/v1/subjects",
        json!({"name": "Shop", "kind": "organization"}),
    );
    let (a, token, answer) = register(&s, 0, "shop", json!({"region": "Shenzhen"}));
    assert_eq!(answer["missing"], json!(["category", "contact"]));
    let u = s.add_users(1);
    s.follow(a, &[u]);
    let send = json!({"message": text("hi"), "audience": {"type": "all"}});
    err(
        s.post(&format!("/v1/accounts/{a}/sends"), &token, send.clone())
            .send()
            .unwrap(),
        409,
        "registration_incomplete",
    );
    // An invalid contact is refused and changes nothing.
    err(
        s.put(
            &format!("/v1/accounts/{a}/registration"),
            &token,
            json!({"region": "Shenzhen", "category": "enterprise", "contact": "call me"}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_registration",
    );
    err(
        s.put(
            &format!("/v1/accounts/{a}/registration"),
            &token,
            json!({"region": "Shenzhen", "category": "shop", "contact": "+86 755 1234"}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_registration",
    );
    let p = s.get_ok(&format!("/v1/accounts/{a}"), &token);
    assert_eq!(p["missing"], json!(["category", "contact"]));
    assert_eq!(p["registration"]["region"], "Shenzhen");
    // The account completes it itself.
    let p = ok(s
        .put(
            &format!("/v1/accounts/{a}/registration"),
            &token,
            json!({"region": "Shenzhen", "category": "enterprise", "contact": "+86 755 1234"}),
        )
        .send()
        .unwrap());
    assert_eq!(p["missing"], json!([]));
    assert_eq!(p["kind"], "subscription");
    assert_eq!(p["subject"], 0);
    s.send(a, &token, send);
}

#[test]
fn verification_violations_and_bans() {
    let s = Server::start(&[]);
    s.admin(
        "/v1/subjects",
        json!({"name": "Paper", "kind": "organization"}),
    );
    let (a, token, _) = register(&s, 0, "paper", reg());
    let u = s.add_users(1);
    s.follow(a, &[u]);
    let p = ok(s
        .put(
            &format!("/v1/accounts/{a}/verification"),
            ADMIN,
            json!({"verified": true}),
        )
        .send()
        .unwrap());
    assert_eq!(p["verified"], true);
    // Only the platform verifies and records violations.
    err(
        s.put(
            &format!("/v1/accounts/{a}/verification"),
            &token,
            json!({"verified": false}),
        )
        .send()
        .unwrap(),
        401,
        "invalid_token",
    );
    err(
        s.post(&format!("/v1/accounts/{a}/violations"), &token, json!({}))
            .send()
            .unwrap(),
        401,
        "invalid_token",
    );
    let before = now_ms();
    let v = s.post_ok(&format!("/v1/accounts/{a}/violations"), ADMIN, json!({}));
    assert_eq!(v["violations"], 1);
    assert_eq!(v["ban"]["permanent"], false);
    let until = v["ban"]["until_ms"].as_u64().unwrap();
    let week = 7 * 24 * 3600 * 1000;
    assert!(until >= before + week && until <= now_ms() + week, "{v}");
    let p = s.get_ok(&format!("/v1/accounts/{a}"), &token);
    assert_eq!(
        (p["violations"].clone(), p["ban"].clone()),
        (json!(1), v["ban"].clone())
    );
    let refused = s
        .post(
            &format!("/v1/accounts/{a}/sends"),
            &token,
            json!({"message": text("hi"), "audience": {"type": "all"}}),
        )
        .send()
        .unwrap();
    let message = err(refused, 403, "banned");
    assert!(message.contains("until"), "{message}");
}

#[test]
fn only_the_admin_and_the_account_itself_see_its_profile() {
    let s = Server::start(&[]);
    let (a, a_token) = s.account("a");
    let (_, b_token) = s.account("b");
    let u = s.add_users(1);
    let user_token = s.user_token(u);
    // A low-level account has no subject, kind or registration.
    let p = s.get_ok(&format!("/v1/accounts/{a}"), ADMIN);
    assert_eq!(
        (
            p["subject"].clone(),
            p["kind"].clone(),
            p["registration"].clone()
        ),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(p, s.get_ok(&format!("/v1/accounts/{a}"), &a_token));
    for token in [&b_token, &user_token] {
        err(
            s.get(&format!("/v1/accounts/{a}"), token).send().unwrap(),
            403,
            "forbidden",
        );
        err(
            s.delete(&format!("/v1/accounts/{a}"), token)
                .send()
                .unwrap(),
            403,
            "forbidden",
        );
        err(
            s.put(
                &format!("/v1/accounts/{a}/registration"),
                token,
                json!({"region": "x"}),
            )
            .send()
            .unwrap(),
            403,
            "forbidden",
        );
    }
    err(
        s.get(&format!("/v1/accounts/{a}"), "").send().unwrap(),
        401,
        "invalid_token",
    );
    // Subjects are the admin's: an account token is not the admin key.
    for token in [&a_token, &user_token] {
        err(
            s.post(
                "/v1/subjects",
                token,
                json!({"name": "x", "kind": "individual"}),
            )
            .send()
            .unwrap(),
            401,
            "invalid_token",
        );
        err(
            s.get("/v1/subjects/0", token).send().unwrap(),
            401,
            "invalid_token",
        );
    }
    // A low-level account has no registration to update.
    err(
        s.put(&format!("/v1/accounts/{a}/registration"), &a_token, reg())
            .send()
            .unwrap(),
        409,
        "no_registration",
    );
    // It still exists after all the refused calls.
    s.get_ok(&format!("/v1/accounts/{a}"), &a_token);
}

#[test]
fn malformed_subject_input_is_refused_and_changes_nothing() {
    let s = Server::start(&[]);
    let cases = [
        (json!({"name": "x", "kind": "company"}), 400, "invalid_kind"),
        (
            json!({"name": "   ", "kind": "individual"}),
            400,
            "invalid_name",
        ),
        (json!({"name": "x"}), 400, "invalid_body"),
        (
            json!({"name": "x", "kind": "individual", "extra": 1}),
            400,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        err(
            s.post("/v1/subjects", ADMIN, body).send().unwrap(),
            status,
            code,
        );
    }
    err(
        s.get("/v1/subjects/0", ADMIN).send().unwrap(),
        404,
        "unknown_subject",
    );
    err(
        s.get("/v1/subjects/zero", ADMIN).send().unwrap(),
        400,
        "invalid_path",
    );
    err(
        s.put("/v1/subjects/5/quota", ADMIN, json!({"quota": 3}))
            .send()
            .unwrap(),
        404,
        "unknown_subject",
    );
    s.admin("/v1/subjects", json!({"name": "x", "kind": "individual"}));
    let bad_accounts = [
        (
            json!({"name": "n", "kind": "newsletter", "registration": reg()}),
            400,
            "invalid_kind",
        ),
        (
            json!({"name": "n", "kind": "service", "registration": {"category": "bakery"}}),
            400,
            "invalid_registration",
        ),
        (
            json!({"name": "n", "kind": "service", "registration": {"contact": "nope"}}),
            400,
            "invalid_registration",
        ),
        (json!({"name": "", "kind": "service"}), 400, "invalid_name"),
    ];
    for (body, status, code) in bad_accounts {
        err(
            s.post("/v1/subjects/0/accounts", ADMIN, body)
                .send()
                .unwrap(),
            status,
            code,
        );
    }
    err(
        s.post(
            "/v1/subjects/9/accounts",
            ADMIN,
            json!({"name": "n", "kind": "service"}),
        )
        .send()
        .unwrap(),
        404,
        "unknown_subject",
    );
    // The first subject is 0 and holds nothing; the first account is 0.
    let subject = s.get_ok("/v1/subjects/0", ADMIN);
    assert_eq!(subject["accounts"], json!([]));
    let (a, _, _) = register(&s, 0, "first", reg());
    assert_eq!(a, 0);
    err(
        s.post("/v1/accounts/9/violations", ADMIN, json!({}))
            .send()
            .unwrap(),
        404,
        "unknown_account",
    );
    err(
        s.put(
            "/v1/accounts/0/verification",
            ADMIN,
            json!({"verified": "yes"}),
        )
        .send()
        .unwrap(),
        400,
        "invalid_body",
    );
    let p = s.get_ok("/v1/accounts/0", ADMIN);
    assert_eq!(
        (p["verified"].clone(), p["violations"].clone()),
        (json!(false), json!(0))
    );
}

#[test]
fn account_kinds_carry_their_send_limits() {
    let s = Server::start(&[]);
    s.admin(
        "/v1/subjects",
        json!({"name": "Bureau", "kind": "organization"}),
    );
    let u = s.add_users(1);
    // A subscription account broadcasts once a day.
    let (sub, sub_token, _) = register(&s, 0, "daily", reg());
    s.follow(sub, &[u]);
    let send = json!({"message": text("today"), "audience": {"type": "all"}});
    s.send(sub, &sub_token, send.clone());
    err(
        s.post(
            &format!("/v1/accounts/{sub}/sends"),
            &sub_token,
            send.clone(),
        )
        .send()
        .unwrap(),
        429,
        "daily_limit",
    );
    // A service account: each follower gets at most 4 broadcasts a month; the rest are
    // counted as filtered.
    let a = ok(s
        .post(
            "/v1/subjects/0/accounts",
            ADMIN,
            json!({"name": "service", "kind": "service", "registration": reg()}),
        )
        .send()
        .unwrap());
    let svc = a["account"].as_u64().unwrap() as u32;
    let svc_token = s.post_ok(
        "/v1/token",
        "",
        json!({"appid": a["appid"], "secret": a["secret"]}),
    )["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = s.follow(svc, &[u]);
    let mut last = Value::Null;
    for _ in 0..5 {
        let seq = s.send(svc, &svc_token, send.clone());
        last = s.wait_job(svc, &svc_token, seq);
    }
    assert_eq!(
        (
            last["total"].clone(),
            last["filtered"].clone(),
            last["sent"].clone()
        ),
        (json!(1), json!(1), json!(0)),
        "{last}"
    );
    let follower = s.get_ok(
        &format!("/v1/accounts/{svc}/openids/{}", ids[0]),
        &svc_token,
    );
    assert_eq!(follower["broadcasts_this_month"], 4);
    assert_eq!(
        s.get_ok(&format!("/v1/accounts/{svc}"), &svc_token)["kind"],
        "service"
    );
}
