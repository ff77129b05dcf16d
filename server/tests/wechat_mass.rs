//! Mass sending through `/cgi-bin/message/mass/*`: sendall to all and to a tag, send to
//! an OpenID list, clientmsgid idempotency, preview, get, delete, speed.

mod common;
mod wx;

use common::*;
use serde_json::json;
use wx::*;

#[test]
fn sendall_reaches_all_followers_or_a_tag() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 5);
    let ids = open_ids(&s, &a.token);
    assert_eq!(ids.len(), 5);

    // To all: is_to_all as a bool.
    let v = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg("hello all", json!({"filter": {"is_to_all": true}})),
    ));
    assert_eq!(v["errmsg"], "send job submission success");
    let all = v["msg_id"].as_u64().unwrap();
    assert!(
        v.get("msg_data_id").is_none(),
        "text has no msg_data_id: {v}"
    );
    assert_eq!(wait_sent(&s, &a.token, all), "SEND_SUCCESS");
    let r = report(&s, &a, all);
    assert_eq!(
        (r["total"].as_u64(), r["sent"].as_u64()),
        (Some(5), Some(5))
    );

    // To a tag: is_to_all absent, or as SDKs' strings; tag_id as a number or a string.
    let tag = success(post(
        &s,
        "tags/create",
        &a.token,
        json!({"tag": {"name": "vip"}}),
    ))["tag"]["id"]
        .as_u64()
        .unwrap();
    success(post(
        &s,
        "tags/members/batchtagging",
        &a.token,
        json!({"openid_list": [ids[0], ids[3]], "tagid": tag}),
    ));
    for filter in [
        json!({"tag_id": tag}),
        json!({"is_to_all": false, "tag_id": tag.to_string()}),
        json!({"is_to_all": "false", "group_id": tag}),
    ] {
        let v = success(post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg(
                "for vips",
                json!({"filter": filter, "send_ignore_reprint": 0}),
            ),
        ));
        let id = v["msg_id"].as_u64().unwrap();
        assert_eq!(wait_sent(&s, &a.token, id), "SEND_SUCCESS");
        assert_eq!(report(&s, &a, id)["sent"], 2);
    }
    // An unknown tag, or none.
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg("x", json!({"filter": {"tag_id": 99}})),
        ),
        45159,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg("x", json!({"filter": {"is_to_all": false}})),
        ),
        45159,
    );
    // Message problems.
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": {"is_to_all": true}, "msgtype": "wxcard", "wxcard": {"card_id": "c"}}),
        ),
        40008,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": {"is_to_all": true}}),
        ),
        40008,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg("", json!({"filter": {"is_to_all": true}})),
        ),
        44004,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg(&"x".repeat(2049), json!({"filter": {"is_to_all": true}})),
        ),
        45002,
    );
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            json!({"filter": {"is_to_all": true}, "msgtype": "image", "image": {"media_id": "nope"}}),
        ),
        40007,
    );
}

#[test]
fn send_takes_a_list_of_two_to_ten_thousand_openids() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 4);
    let ids = open_ids(&s, &a.token);
    let v = success(post(
        &s,
        "message/mass/send",
        &a.token,
        msg("to three", json!({"touser": [ids[0], ids[1], ids[2]]})),
    ));
    let id = v["msg_id"].as_u64().unwrap();
    assert_eq!(wait_sent(&s, &a.token, id), "SEND_SUCCESS");
    let r = report(&s, &a, id);
    assert_eq!(
        (r["total"].as_u64(), r["sent"].as_u64()),
        (Some(3), Some(3))
    );

    failure(
        post(
            &s,
            "message/mass/send",
            &a.token,
            msg("x", json!({"touser": [ids[0]]})),
        ),
        40130,
    );
    failure(
        post(
            &s,
            "message/mass/send",
            &a.token,
            msg("x", json!({"touser": []})),
        ),
        40130,
    );
    failure(
        post(&s, "message/mass/send", &a.token, msg("x", json!({}))),
        40130,
    );
    let too_many: Vec<&str> = std::iter::repeat_n(ids[0].as_str(), 10_001).collect();
    failure(
        post(
            &s,
            "message/mass/send",
            &a.token,
            msg("x", json!({"touser": too_many})),
        ),
        40130,
    );
    // Malformed, forged, or herald's native form: 40003.
    for bad in [
        "short",
        "o".repeat(28).as_str(),
        "0123456789abcdef",
        &ids[0][..27],
    ] {
        failure(
            post(
                &s,
                "message/mass/send",
                &a.token,
                msg("x", json!({"touser": [ids[1], bad]})),
            ),
            40003,
        );
    }
    let mut flipped = ids[0].clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    failure(
        post(
            &s,
            "message/mass/send",
            &a.token,
            msg("x", json!({"touser": [ids[1], flipped]})),
        ),
        40003,
    );
    failure(
        post(
            &s,
            "message/mass/send",
            &a.token,
            msg("x", json!({"touser": [ids[1], 5]})),
        ),
        40003,
    );
    // Someone who stopped following.
    s.client
        .delete(s.url(&format!("/v1/accounts/{}/followers/0", a.id)))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    let now = open_ids(&s, &a.token);
    let gone = ids.iter().find(|i| !now.contains(i)).unwrap();
    failure(
        post(
            &s,
            "message/mass/send",
            &a.token,
            msg("x", json!({"touser": [now[0], gone]})),
        ),
        43004,
    );
}

#[test]
fn clientmsgid_makes_a_send_idempotent() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 3);
    let body = msg(
        "once",
        json!({"filter": {"is_to_all": true}, "clientmsgid": "send-2026-12-02"}),
    );
    let first = success(post(&s, "message/mass/sendall", &a.token, body.clone()));
    let id = first["msg_id"].as_u64().unwrap();
    let again = failure(
        post(&s, "message/mass/sendall", &a.token, body.clone()),
        45065,
    );
    assert_eq!(
        again["msg_id"], id,
        "45065 names the existing send: {again}"
    );
    wait_sent(&s, &a.token, id);
    failure(post(&s, "message/mass/sendall", &a.token, body), 45065);
    // Exactly one send reached the followers.
    let inbox = s.inbox(0, &s.user_token(0), 0);
    assert_eq!(inbox["items"].as_array().map(Vec::len), Some(1), "{inbox}");
    // Too long a key, and a numeric one (taken as its text).
    failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg(
                "x",
                json!({"filter": {"is_to_all": true}, "clientmsgid": "k".repeat(65)}),
            ),
        ),
        45067,
    );
    let n = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg(
            "n",
            json!({"filter": {"is_to_all": true}, "clientmsgid": 42}),
        ),
    ));
    let dup = failure(
        post(
            &s,
            "message/mass/sendall",
            &a.token,
            msg(
                "n",
                json!({"filter": {"is_to_all": true}, "clientmsgid": "42"}),
            ),
        ),
        45065,
    );
    assert_eq!(dup["msg_id"], n["msg_id"]);
}

#[test]
fn preview_get_delete_and_speed() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 3);
    let ids = open_ids(&s, &a.token);
    // Preview to one follower.
    let p = success(post(
        &s,
        "message/mass/preview",
        &a.token,
        msg("check", json!({"touser": ids[1]})),
    ));
    assert_eq!(p["errmsg"], "preview success");
    let pid = p["msg_id"].as_u64().unwrap();
    assert_eq!(wait_sent(&s, &a.token, pid), "SEND_SUCCESS");
    assert_eq!(report(&s, &a, pid)["total"], 1);
    failure(
        post(
            &s,
            "message/mass/preview",
            &a.token,
            msg("x", json!({"towxname": "someone"})),
        ),
        40132,
    );
    failure(
        post(
            &s,
            "message/mass/preview",
            &a.token,
            msg("x", json!({"touser": "bad"})),
        ),
        40003,
    );
    failure(
        post(&s, "message/mass/preview", &a.token, msg("x", json!({}))),
        40003,
    );

    // get: unknown ids.
    let sent = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg("t", json!({"filter": {"is_to_all": true}})),
    ));
    let id = sent["msg_id"].as_u64().unwrap();
    assert_eq!(wait_sent(&s, &a.token, id), "SEND_SUCCESS");
    failure(
        post(
            &s,
            "message/mass/get",
            &a.token,
            json!({"msg_id": id + 1000}),
        ),
        40059,
    );
    failure(post(&s, "message/mass/get", &a.token, json!({})), 40059);
    // msg_id as a string, as some SDKs send it.
    assert_eq!(
        success(post(
            &s,
            "message/mass/get",
            &a.token,
            json!({"msg_id": id.to_string()})
        ))["msg_status"],
        "SEND_SUCCESS"
    );
    // delete: a text send cannot be withdrawn (WeChat deletes articles and videos only).
    failure(
        post(&s, "message/mass/delete", &a.token, json!({"msg_id": id})),
        40008,
    );
    failure(
        post(
            &s,
            "message/mass/delete",
            &a.token,
            json!({"msg_id": id, "article_idx": 2}),
        ),
        40060,
    );
    failure(
        post(
            &s,
            "message/mass/delete",
            &a.token,
            json!({"url": "https://mp.weixin.qq.com/s/x"}),
        ),
        40059,
    );
    // An article can (see wechat_media for the round trip to DELETE).
    let news = news(&s, &a.token, "to withdraw");
    let v = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        json!({"filter": {"is_to_all": true}, "msgtype": "mpnews", "mpnews": {"media_id": news}}),
    ));
    let nid = v["msg_id"].as_u64().unwrap();
    assert_eq!(v["msg_data_id"], nid);
    wait_sent(&s, &a.token, nid);
    success(post(
        &s,
        "message/mass/delete",
        &a.token,
        json!({"msg_id": nid, "article_idx": 0}),
    ));
    assert_eq!(
        success(post(
            &s,
            "message/mass/get",
            &a.token,
            json!({"msg_id": nid})
        ))["msg_status"],
        "DELETE"
    );
    // Deleting again is fine.
    success(post(
        &s,
        "message/mass/delete",
        &a.token,
        json!({"msg_id": nid}),
    ));

    // Speed.
    let v = success(post(&s, "message/mass/speed/get", &a.token, json!({})));
    assert_eq!(
        (v["speed"].as_u64(), v["realspeed"].as_u64()),
        (Some(0), Some(80))
    );
    success(post(
        &s,
        "message/mass/speed/set",
        &a.token,
        json!({"speed": 3}),
    ));
    let v = success(post(&s, "message/mass/speed/get", &a.token, json!({})));
    assert_eq!(
        (v["speed"].as_u64(), v["realspeed"].as_u64()),
        (Some(3), Some(30))
    );
    failure(
        post(&s, "message/mass/speed/set", &a.token, json!({"speed": 5})),
        45083,
    );
    failure(
        post(&s, "message/mass/speed/set", &a.token, json!({"speed": -1})),
        45083,
    );
    failure(
        post(&s, "message/mass/speed/set", &a.token, json!({})),
        45084,
    );
    // Refused changes changed nothing.
    assert_eq!(
        success(post(&s, "message/mass/speed/get", &a.token, json!({})))["speed"],
        3
    );
    // Sends still go at tier 3.
    let v = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg("slow", json!({"filter": {"is_to_all": true}})),
    ));
    assert_eq!(
        wait_sent(&s, &a.token, v["msg_id"].as_u64().unwrap()),
        "SEND_SUCCESS"
    );
}
