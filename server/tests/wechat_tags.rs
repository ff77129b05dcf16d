//! Tags through `/cgi-bin/tags/*` and `user/tag/get`: create, list, rename, delete,
//! tagging in batches, a follower's tags, a tag's followers; refusals change nothing.

mod common;
mod wx;

use common::*;
use serde_json::json;
use wx::*;

#[test]
fn tags_crud_and_membership() {
    let s = Server::start(&[]);
    let a = account(&s, "news");
    followers(&s, a.id, 60);
    let ids = open_ids(&s, &a.token);

    let created = success(post(
        &s,
        "tags/create",
        &a.token,
        json!({"tag": {"name": "广东"}}),
    ));
    assert_eq!(created["tag"]["name"], "广东");
    let gd = created["tag"]["id"].as_u64().unwrap();
    let bj = success(post(
        &s,
        "tags/create",
        &a.token,
        json!({"tag": {"name": "北京"}}),
    ))["tag"]["id"]
        .as_u64()
        .unwrap();
    failure(
        post(
            &s,
            "tags/create",
            &a.token,
            json!({"tag": {"name": "广东"}}),
        ),
        45157,
    );
    failure(
        post(&s, "tags/create", &a.token, json!({"tag": {"name": ""}})),
        45157,
    );
    failure(
        post(
            &s,
            "tags/create",
            &a.token,
            json!({"tag": {"name": "x".repeat(31)}}),
        ),
        45158,
    );
    failure(
        post(&s, "tags/create", &a.token, json!({"name": "flat"})),
        47001,
    );

    // Tagging: 50 at most a call, all or nothing.
    success(post(
        &s,
        "tags/members/batchtagging",
        &a.token,
        json!({"openid_list": ids[..50], "tagid": gd}),
    ));
    failure(
        post(
            &s,
            "tags/members/batchtagging",
            &a.token,
            json!({"openid_list": ids[..51], "tagid": bj}),
        ),
        40032,
    );
    failure(
        post(
            &s,
            "tags/members/batchtagging",
            &a.token,
            json!({"openid_list": [], "tagid": bj}),
        ),
        40032,
    );
    failure(
        post(
            &s,
            "tags/members/batchtagging",
            &a.token,
            json!({"openid_list": [ids[50], "bad"], "tagid": bj}),
        ),
        40003,
    );
    failure(
        post(
            &s,
            "tags/members/batchtagging",
            &a.token,
            json!({"openid_list": [ids[50]], "tagid": 77}),
        ),
        45159,
    );
    success(post(
        &s,
        "tags/members/batchtagging",
        &a.token,
        json!({"openid_list": [ids[0], ids[55]], "tagid": bj.to_string()}),
    ));

    // Counts: the refused batches changed nothing.
    let tags = success(get(
        &s,
        &format!("/cgi-bin/tags/get?access_token={}", a.token),
    ));
    assert_eq!(
        tags["tags"],
        json!([{"id": gd, "name": "广东", "count": 50}, {"id": bj, "name": "北京", "count": 2}])
    );
    // A follower's tags.
    let mut list = success(post(
        &s,
        "tags/getidlist",
        &a.token,
        json!({"openid": ids[0]}),
    ))["tagid_list"]
        .as_array()
        .unwrap()
        .clone();
    list.sort_by_key(|v| v.as_u64());
    assert_eq!(list, vec![json!(gd), json!(bj)]);
    assert_eq!(
        success(post(
            &s,
            "tags/getidlist",
            &a.token,
            json!({"openid": ids[59]})
        ))["tagid_list"],
        json!([])
    );
    failure(
        post(&s, "tags/getidlist", &a.token, json!({"openid": "nope"})),
        40003,
    );

    // A tag's followers, in pages.
    let page = success(post(
        &s,
        "user/tag/get",
        &a.token,
        json!({"tagid": bj, "next_openid": ""}),
    ));
    assert_eq!(page["count"], 2);
    let mut got: Vec<String> = page["data"]["openid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = vec![ids[0].clone(), ids[55].clone()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(page["next_openid"], "");
    let page = success(post(&s, "user/tag/get", &a.token, json!({"tagid": gd})));
    assert_eq!(page["count"], 50);
    failure(
        post(&s, "user/tag/get", &a.token, json!({"tagid": 77})),
        45159,
    );
    failure(
        post(
            &s,
            "user/tag/get",
            &a.token,
            json!({"tagid": gd, "next_openid": "zz"}),
        ),
        40003,
    );

    // Untagging.
    success(post(
        &s,
        "tags/members/batchuntagging",
        &a.token,
        json!({"openid_list": [ids[0], ids[1]], "tagid": gd}),
    ));
    assert_eq!(
        success(post(&s, "user/tag/get", &a.token, json!({"tagid": gd})))["count"],
        48
    );

    // Rename, delete.
    success(post(
        &s,
        "tags/update",
        &a.token,
        json!({"tag": {"id": gd, "name": "广州"}}),
    ));
    failure(
        post(
            &s,
            "tags/update",
            &a.token,
            json!({"tag": {"id": gd, "name": "北京"}}),
        ),
        45157,
    );
    failure(
        post(
            &s,
            "tags/update",
            &a.token,
            json!({"tag": {"id": 77, "name": "z"}}),
        ),
        45159,
    );
    success(post(
        &s,
        "tags/update",
        &a.token,
        json!({"tag": {"id": gd, "name": "广州"}}),
    ));
    success(post(
        &s,
        "tags/delete",
        &a.token,
        json!({"tag": {"id": bj}}),
    ));
    failure(
        post(&s, "tags/delete", &a.token, json!({"tag": {"id": bj}})),
        45159,
    );
    let tags = success(post(&s, "tags/get", &a.token, json!({})));
    assert_eq!(
        tags["tags"],
        json!([{"id": gd, "name": "广州", "count": 48}])
    );
    // The native API sees the new name.
    let native = ok(s
        .get(&format!("/v1/accounts/{}/tags", a.id), &a.token)
        .send()
        .unwrap());
    assert_eq!(native["tags"][0]["name"], "广州");
}

#[test]
fn renames_survive_a_restart() {
    let dir = temp_dir("wx-tags");
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    let a = account(&s, "news");
    let id = success(post(
        &s,
        "tags/create",
        &a.token,
        json!({"tag": {"name": "old"}}),
    ))["tag"]["id"]
        .as_u64()
        .unwrap();
    success(post(
        &s,
        "tags/update",
        &a.token,
        json!({"tag": {"id": id, "name": "new"}}),
    ));
    drop(s); // SIGKILL: the rename is replayed from the log
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    assert_eq!(
        success(post(&s, "tags/get", &a.token, json!({})))["tags"],
        json!([{"id": id, "name": "new", "count": 0}])
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
