//! Authentication and isolation: the admin key, account access tokens, user tokens.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn admin_routes_need_the_admin_key() {
    let s = Server::start(&[]);
    let no_key = s
        .client
        .post(s.url("/v1/users"))
        .json(&json!({"count": 1}))
        .send()
        .unwrap();
    err(no_key, 401, "missing_token");
    err(
        s.post("/v1/users", "wrong", json!({"count": 1}))
            .send()
            .unwrap(),
        401,
        "invalid_token",
    );
    let basic = s
        .client
        .post(s.url("/v1/users"))
        .header("Authorization", "Basic abc")
        .json(&json!({"count": 1}))
        .send()
        .unwrap();
    err(basic, 401, "invalid_token");
    // Auth is checked before the body is read.
    let bad_body = s.client.post(s.url("/v1/users")).body("{").send().unwrap();
    err(bad_body, 401, "missing_token");
    // An account token is not the admin key.
    let (_, t) = s.account("news");
    err(
        s.post("/v1/users", &t, json!({"count": 1})).send().unwrap(),
        401,
        "invalid_token",
    );
}

#[test]
fn credentials_give_tokens_and_old_tokens_stay_valid() {
    let s = Server::start(&[]);
    let a = s.admin("/v1/accounts", json!({"name": "news"}));
    let creds = json!({"appid": a["appid"], "secret": a["secret"]});
    let t1 = ok(s
        .client
        .post(s.url("/v1/token"))
        .json(&creds)
        .send()
        .unwrap());
    assert_eq!(t1["expires_in"], 7200);
    std::thread::sleep(Duration::from_millis(1100)); // a later expiry, so another token
    let t2 = ok(s
        .client
        .post(s.url("/v1/token"))
        .json(&creds)
        .send()
        .unwrap());
    assert_ne!(t1["access_token"], t2["access_token"]);
    for t in [&t1, &t2] {
        ok(
            s.get("/v1/accounts/0/tags", t["access_token"].as_str().unwrap())
                .send()
                .unwrap(),
        );
    }
    let wrong = json!({"appid": a["appid"], "secret": "0".repeat(32)});
    err(
        s.client
            .post(s.url("/v1/token"))
            .json(&wrong)
            .send()
            .unwrap(),
        401,
        "invalid_credentials",
    );
    let unknown = json!({"appid": "wx0000000700000000", "secret": a["secret"]});
    err(
        s.client
            .post(s.url("/v1/token"))
            .json(&unknown)
            .send()
            .unwrap(),
        401,
        "invalid_credentials",
    );
}

#[test]
fn tokens_expire() {
    // Expiry is in whole seconds: a 2 s token is valid for more than 1 s after issue.
    let s = Server::start(&["--token-ttl-secs", "2"]);
    s.add_users(1);
    let (a, t) = s.account("news");
    let u = s.user_token(0);
    ok(s.get(&format!("/v1/accounts/{a}/tags"), &t).send().unwrap());
    std::thread::sleep(Duration::from_millis(3100));
    err(
        s.get(&format!("/v1/accounts/{a}/tags"), &t).send().unwrap(),
        401,
        "token_expired",
    );
    err(s.get("/v1/inbox", &u).send().unwrap(), 401, "token_expired");
}

#[test]
fn an_account_token_reaches_only_its_own_account() {
    let s = Server::start(&[]);
    s.add_users(2);
    let (a, ta) = s.account("a");
    let (b, tb) = s.account("b");
    s.follow(b, &[0, 1]);
    let send = json!({"message": text("hi"), "audience": {"type": "all"}});
    let seq = s.send(b, &tb, send.clone());
    let routes = [
        s.post(&format!("/v1/accounts/{b}/sends"), &ta, send.clone()),
        s.get(&format!("/v1/accounts/{b}/jobs/{seq}"), &ta),
        s.post(&format!("/v1/accounts/{b}/tags"), &ta, json!({"name": "x"})),
        s.get(&format!("/v1/accounts/{b}/tags"), &ta),
        s.get(&format!("/v1/accounts/{b}/followers"), &ta),
        s.get(&format!("/v1/accounts/{b}/speed"), &ta),
        s.client
            .put(s.url(&format!("/v1/accounts/{b}/speed")))
            .bearer_auth(&ta)
            .json(&json!({"tier": 1})),
        s.post(
            &format!("/v1/accounts/{b}/jobs/{seq}/retract"),
            &ta,
            json!({}),
        ),
        s.post(
            &format!("/v1/accounts/{b}/tags/0/members"),
            &ta,
            json!({"open_ids": []}),
        ),
        s.post(
            &format!("/v1/accounts/{b}/tags/0/members/delete"),
            &ta,
            json!({"open_ids": []}),
        ),
    ];
    for r in routes {
        err(r.send().unwrap(), 403, "forbidden");
    }
    // A user token is no account token either.
    let u = s.user_token(0);
    err(
        s.get(&format!("/v1/accounts/{a}/tags"), &u).send().unwrap(),
        403,
        "forbidden",
    );
    // Nothing was sent by A's attempts: B's only send is `seq`.
    let tu = s.user_token(1);
    s.wait_job(b, &tb, seq);
    assert_eq!(s.inbox(1, &tu, 0)["items"].as_array().unwrap().len(), 1);
}

#[test]
fn a_user_token_reads_only_its_own_inbox() {
    let s = Server::start(&[]);
    s.add_users(2);
    let (_, t) = s.account("a");
    let u0 = s.user_token(0);
    ok(s.get("/v1/users/0/inbox", &u0).send().unwrap());
    err(
        s.get("/v1/users/1/inbox", &u0).send().unwrap(),
        403,
        "forbidden",
    );
    err(
        s.get("/v1/users/0/inbox", &t).send().unwrap(),
        403,
        "forbidden",
    );
    err(s.get("/v1/inbox", &t).send().unwrap(), 403, "forbidden");
    err(
        s.client.get(s.url("/v1/inbox")).send().unwrap(),
        401,
        "missing_token",
    );
    // A forged token (user 1's id under user 0's signature).
    let forged = u0.replacen("u.0.", "u.1.", 1);
    err(
        s.get("/v1/users/1/inbox", &forged).send().unwrap(),
        401,
        "invalid_token",
    );
    err(s.admin_err("/v1/users/9/token"), 404, "unknown_user");
}

trait AdminErr {
    fn admin_err(&self, path: &str) -> reqwest::blocking::Response;
}

impl AdminErr for Server {
    fn admin_err(&self, path: &str) -> reqwest::blocking::Response {
        self.post(path, ADMIN, json!({})).send().unwrap()
    }
}
