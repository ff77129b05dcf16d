//! One account's access token cannot read or change another account's data through any
//! `/cgi-bin` route family: OpenIDs, tags, sends, media are all per account.

mod common;
mod wx;

use common::*;
use serde_json::json;
use wx::*;

#[test]
fn an_access_token_reaches_only_its_own_account() {
    let s = Server::start(&[]);
    let a = account(&s, "a");
    let b = account(&s, "b");
    // The same users follow both accounts: their OpenIDs differ per account.
    let first = s.add_users(3);
    s.follow(a.id, &[first, first + 1, first + 2]);
    s.follow(b.id, &[first, first + 1, first + 2]);
    let a_ids = open_ids(&s, &a.token);
    let b_ids = open_ids(&s, &b.token);
    assert_eq!(a_ids.len(), 3);
    assert!(a_ids.iter().all(|id| !b_ids.contains(id)));

    // Users: A's cursor means nothing to B.
    failure(
        get(
            &s,
            &format!(
                "/cgi-bin/user/get?access_token={}&next_openid={}",
                b.token, a_ids[0]
            ),
        ),
        40003,
    );
    // Sends: A's OpenIDs are invalid for B.
    failure(
        post(
            &s,
            "message/mass/send",
            &b.token,
            msg("x", json!({"touser": [a_ids[0], a_ids[1]]})),
        ),
        40003,
    );
    failure(
        post(
            &s,
            "message/mass/preview",
            &b.token,
            msg("x", json!({"touser": a_ids[0]})),
        ),
        40003,
    );
    // A's sends: B can neither read nor delete them.
    let news_a = news(&s, &a.token, "A's article");
    let v = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        json!({"filter": {"is_to_all": true}, "msgtype": "mpnews", "mpnews": {"media_id": news_a}}),
    ));
    let a_msg = v["msg_id"].as_u64().unwrap();
    wait_sent(&s, &a.token, a_msg);
    failure(
        post(&s, "message/mass/get", &b.token, json!({"msg_id": a_msg})),
        40059,
    );
    failure(
        post(
            &s,
            "message/mass/delete",
            &b.token,
            json!({"msg_id": a_msg}),
        ),
        40059,
    );
    assert_eq!(
        success(post(
            &s,
            "message/mass/get",
            &a.token,
            json!({"msg_id": a_msg})
        ))["msg_status"],
        "SEND_SUCCESS"
    );
    // Media: A's media ids do not exist for B.
    failure(
        post(
            &s,
            "message/mass/sendall",
            &b.token,
            json!({"filter": {"is_to_all": true}, "msgtype": "mpnews", "mpnews": {"media_id": news_a}}),
        ),
        40007,
    );
    let image = success(upload(&s, &a.token, "image", "a.png", &png(100)))["media_id"].clone();
    failure(
        get(
            &s,
            &format!(
                "/cgi-bin/media/get?access_token={}&media_id={}",
                b.token,
                image.as_str().unwrap()
            ),
        ),
        40007,
    );
    failure(
        post(
            &s,
            "material/add_news",
            &b.token,
            json!({"articles": [{"title": "t", "thumb_media_id": image, "content": "c"}]}),
        ),
        40007,
    );
    // Tags: B sees none of A's, and cannot tag A's followers.
    let tag = success(post(
        &s,
        "tags/create",
        &a.token,
        json!({"tag": {"name": "a-only"}}),
    ))["tag"]["id"]
        .as_u64()
        .unwrap();
    success(post(
        &s,
        "tags/members/batchtagging",
        &a.token,
        json!({"openid_list": [a_ids[0]], "tagid": tag}),
    ));
    assert_eq!(
        success(post(&s, "tags/get", &b.token, json!({})))["tags"],
        json!([])
    );
    failure(
        post(
            &s,
            "tags/update",
            &b.token,
            json!({"tag": {"id": tag, "name": "taken"}}),
        ),
        45159,
    );
    failure(
        post(&s, "tags/delete", &b.token, json!({"tag": {"id": tag}})),
        45159,
    );
    failure(
        post(&s, "user/tag/get", &b.token, json!({"tagid": tag})),
        45159,
    );
    failure(
        post(&s, "tags/getidlist", &b.token, json!({"openid": a_ids[0]})),
        40003,
    );
    let b_tag = success(post(
        &s,
        "tags/create",
        &b.token,
        json!({"tag": {"name": "b-only"}}),
    ))["tag"]["id"]
        .as_u64()
        .unwrap();
    failure(
        post(
            &s,
            "tags/members/batchtagging",
            &b.token,
            json!({"openid_list": [a_ids[0]], "tagid": b_tag}),
        ),
        40003,
    );
    // Sendall to a tag id B does not have.
    failure(
        post(
            &s,
            "message/mass/sendall",
            &b.token,
            msg("x", json!({"filter": {"tag_id": tag + 1}})),
        ),
        45159,
    );
    // Speed is per account.
    success(post(
        &s,
        "message/mass/speed/set",
        &a.token,
        json!({"speed": 4}),
    ));
    assert_eq!(
        success(post(&s, "message/mass/speed/get", &b.token, json!({})))["speed"],
        0
    );
    // A is untouched by all of it.
    let tags = success(post(&s, "tags/get", &a.token, json!({})));
    assert_eq!(
        tags["tags"],
        json!([{"id": tag, "name": "a-only", "count": 1}])
    );
}
