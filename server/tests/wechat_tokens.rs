//! WeChat's token model: `token` and `stable_token`, the overlap of a replaced token, the
//! credential errors, and tokens surviving a restart of a durable server.

mod common;
mod wx;

use common::*;
use serde_json::json;
use std::time::Duration;
use wx::*;

fn tags_ok(s: &Server, token: &str) -> bool {
    errcode(&get(s, &format!("/cgi-bin/tags/get?access_token={token}"))) == 0
}

fn tags_code(s: &Server, token: &str) -> i64 {
    errcode(&get(s, &format!("/cgi-bin/tags/get?access_token={token}")))
}

#[test]
fn a_new_token_leaves_the_previous_one_the_overlap_only() {
    let s = Server::start(&["--token-overlap-secs", "2"]);
    let a = account(&s, "news");
    let t1 = a.token.clone();
    assert!(tags_ok(&s, &t1));
    let v = success(token(&s, &a.appid, &a.secret));
    assert_eq!(v["expires_in"], 7200);
    let t2 = v["access_token"].as_str().unwrap().to_string();
    assert_ne!(t1, t2);
    // Both valid during the overlap...
    assert!(tags_ok(&s, &t1) && tags_ok(&s, &t2));
    // ...and a third token kills the first at once (two generations back).
    let t3 = success(token(&s, &a.appid, &a.secret))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(tags_code(&s, &t1), 40001);
    assert!(tags_ok(&s, &t2) && tags_ok(&s, &t3));
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(tags_code(&s, &t2), 40001);
    assert!(tags_ok(&s, &t3));

    // stable_token: the live token again, until force_refresh.
    let body = json!({"grant_type": "client_credential", "appid": a.appid, "secret": a.secret});
    let same = success(post(&s, "stable_token", "", body.clone()));
    assert_eq!(same["access_token"], t3.as_str());
    assert!(same["expires_in"].as_u64().unwrap() <= 7200);
    let mut forced = body.clone();
    forced["force_refresh"] = json!(true);
    let t4 = success(post(&s, "stable_token", "", forced))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(t4, t3);
    assert!(tags_ok(&s, &t3) && tags_ok(&s, &t4));
    // Without force_refresh (given as false, or as SDKs' strings), t4 again.
    let mut unforced = body.clone();
    unforced["force_refresh"] = json!("false");
    assert_eq!(
        success(post(&s, "stable_token", "", unforced))["access_token"],
        t4.as_str()
    );

    // The native /v1/token route shares the table: a new token there replaces t4.
    let native = ok(s
        .client
        .post(s.url("/v1/token"))
        .json(&json!({"appid": a.appid, "secret": a.secret}))
        .send()
        .unwrap());
    let t5 = native["access_token"].as_str().unwrap();
    assert!(tags_ok(&s, t5) && tags_ok(&s, &t4));
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(tags_code(&s, &t4), 40001);
    assert!(tags_ok(&s, t5));
}

#[test]
fn credentials_and_tokens_are_checked() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    let b = account(&s, "other");
    failure(token(&s, &a.appid, &b.secret), 40001);
    failure(token(&s, "wx0000000000000000", &a.secret), 40013);
    failure(token(&s, "not-an-appid", &a.secret), 40013);
    failure(token(&s, &a.appid, ""), 41004);
    failure(
        get(
            &s,
            &format!(
                "/cgi-bin/token?grant_type=client_credential&secret={}",
                a.secret
            ),
        ),
        41002,
    );
    failure(
        get(
            &s,
            &format!("/cgi-bin/token?appid={}&secret={}", a.appid, a.secret),
        ),
        40002,
    );
    failure(
        get(
            &s,
            &format!(
                "/cgi-bin/token?grant_type=password&appid={}&secret={}",
                a.appid, a.secret
            ),
        ),
        40002,
    );
    failure(
        post(
            &s,
            "stable_token",
            "",
            json!({"grant_type": "client_credential", "appid": a.appid, "secret": "x"}),
        ),
        40001,
    );
    failure(raw(&s, "stable_token", "", "{not json".into()), 47001);
    // Tokens: missing, forged, of a user, of another server.
    failure(get(&s, "/cgi-bin/tags/get"), 41001);
    failure(get(&s, "/cgi-bin/tags/get?access_token="), 41001);
    failure(get(&s, "/cgi-bin/tags/get?access_token=nonsense"), 40001);
    let forged = a
        .token
        .replacen(&format!("a.{}.", a.id), &format!("a.{}.", b.id), 1);
    failure(
        get(&s, &format!("/cgi-bin/tags/get?access_token={forged}")),
        40001,
    );
    s.add_users(1);
    let user = s.user_token(0);
    failure(
        get(&s, &format!("/cgi-bin/tags/get?access_token={user}")),
        40001,
    );
    let other = Server::start(&[]);
    failure(
        get(
            &other,
            &format!("/cgi-bin/tags/get?access_token={}", a.token),
        ),
        40001,
    );
    // The access token works on the native API too.
    ok(s.get(&format!("/v1/accounts/{}/tags", a.id), &a.token)
        .send()
        .unwrap());
}

#[test]
fn tokens_expire_with_42001() {
    let s = Server::start(&["--token-ttl-secs", "1"]);
    let a = account(&s, "news");
    std::thread::sleep(Duration::from_millis(2100));
    failure(
        get(&s, &format!("/cgi-bin/tags/get?access_token={}", a.token)),
        42001,
    );
    // stable_token gives a fresh one once the live one has expired.
    let v = success(post(
        &s,
        "stable_token",
        "",
        json!({"grant_type": "client_credential", "appid": a.appid, "secret": a.secret}),
    ));
    assert_ne!(v["access_token"], a.token.as_str());
    assert!(tags_ok(&s, v["access_token"].as_str().unwrap()));
}

#[test]
fn tokens_survive_a_restart() {
    let dir = temp_dir("wx-tokens");
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    let a = account(&s, "news");
    let t2 = success(token(&s, &a.appid, &a.secret))["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dir.join("tokens.json").exists());
    drop(s); // SIGKILL
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    // The current and the previous generation, as before the restart.
    assert!(tags_ok(&s, &t2));
    assert!(tags_ok(&s, &a.token));
    let body = json!({"grant_type": "client_credential", "appid": a.appid, "secret": a.secret});
    assert_eq!(
        success(post(&s, "stable_token", "", body))["access_token"],
        t2.as_str()
    );
    let _t3 = success(token(&s, &a.appid, &a.secret));
    assert_eq!(tags_code(&s, &a.token), 40001);
    assert!(tags_ok(&s, &t2));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
