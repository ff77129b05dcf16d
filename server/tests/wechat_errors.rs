//! Every `/cgi-bin` error is HTTP 200 with `{"errcode","errmsg"}`, as WeChat answers:
//! malformed JSON, empty bodies, wrong methods, unknown APIs, bad tokens; refused input
//! changes nothing, and nothing panics the server.

mod common;
mod wx;

use common::*;
use serde_json::json;
use wx::*;

#[test]
fn errors_are_wechat_shaped() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 2);
    for api in [
        "message/mass/sendall",
        "message/mass/send",
        "message/mass/preview",
        "message/mass/delete",
        "message/mass/get",
        "message/mass/speed/set",
        "tags/create",
        "tags/update",
        "tags/delete",
        "tags/members/batchtagging",
        "tags/members/batchuntagging",
        "tags/getidlist",
        "user/tag/get",
        "media/uploadvideo",
        "material/add_news",
        "stable_token",
    ] {
        failure(raw(&s, api, &a.token, "{\"filter\": ".into()), 47001);
        failure(raw(&s, api, &a.token, "[1, 2]".into()), 47001);
        failure(raw(&s, api, &a.token, "\u{0}\u{1}garbage".into()), 47001);
        if api != "stable_token" {
            failure(raw(&s, api, &a.token, String::new()), 44002);
            failure(raw(&s, api, "bad-token", "{}".into()), 40001);
            failure(raw(&s, api, "", "{}".into()), 41001);
        }
    }
    // Wrong shapes inside valid JSON.
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": 5, "msgtype": "text", "text": {"content": "x"}}),
        ),
        47001,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": {"is_to_all": "perhaps"}, "msgtype": "text", "text": {"content": "x"}}),
        ),
        47001,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": {"is_to_all": true}, "msgtype": "text", "text": "x"}),
        ),
        47001,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": {"is_to_all": true}, "msgtype": "text", "text": {"content": "bell\u{7}"}}),
        ),
        47001,
    );
    // Methods and unknown APIs.
    let r = s
        .client
        .get(s.url(&format!(
            "/cgi-bin/message/mass/sendall?access_token={}",
            a.token
        )))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    failure(r.json().unwrap(), 43002);
    let r = s.client.delete(s.url("/cgi-bin/token")).send().unwrap();
    failure(r.json().unwrap(), 43001);
    for path in [
        "/cgi-bin/menu/create",
        "/cgi-bin",
        "/cgi-bin/message/custom/send",
    ] {
        let r = s.client.post(s.url(path)).body("{}").send().unwrap();
        assert_eq!(r.status(), 200);
        failure(r.json().unwrap(), 48001);
    }
    // A body over the server's limit.
    // (On a client of its own: the server answers before reading the whole body and then
    // closes the connection, which a pooled client would try to reuse.)
    let big = format!("{{\"x\": \"{}\"}}", "y".repeat(2 << 20));
    let r = reqwest::blocking::Client::new()
        .post(s.url(&format!("/cgi-bin/tags/create?access_token={}", a.token)))
        .body(big)
        .send();
    if let Ok(r) = r {
        failure(r.json().unwrap(), 45002);
    }
    // Nothing of the above changed anything.
    assert_eq!(
        success(post(&s, "tags/get", &a.token, json!({})))["tags"],
        json!([])
    );
    err(
        s.get(&format!("/v1/accounts/{}/jobs/0", a.id), &a.token)
            .send()
            .unwrap(),
        404,
        "unknown_job",
    );
    // The server is still up and well.
    ok(s.client.get(s.url("/readyz")).send().unwrap());
}
