//! `user/get`: followers 10,000 a page with `next_openid`, as WeChat SDKs loop over them.

mod common;
mod wx;

use common::*;
use std::collections::HashSet;
use wx::*;

#[test]
fn user_get_pages_over_ten_thousand_followers() {
    let s = Server::start(&[]);
    let a = account(&s, "big");
    followers(&s, a.id, 10_050);
    let first = success(get(
        &s,
        &format!("/cgi-bin/user/get?access_token={}", a.token),
    ));
    assert_eq!(first["total"], 10_050);
    assert_eq!(first["count"], 10_000);
    let page: Vec<&str> = first["data"]["openid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(page.len(), 10_000);
    assert!(page.iter().all(|o| o.len() == 28 && o.starts_with('o')));
    // next_openid is the page's last OpenID.
    let next = first["next_openid"].as_str().unwrap();
    assert_eq!(next, *page.last().unwrap());
    let second = success(get(
        &s,
        &format!(
            "/cgi-bin/user/get?access_token={}&next_openid={next}",
            a.token
        ),
    ));
    assert_eq!(
        (second["total"].as_u64(), second["count"].as_u64()),
        (Some(10_050), Some(50))
    );
    assert_eq!(second["next_openid"], "");
    // A whole pass: every follower once.
    let all = open_ids(&s, &a.token);
    assert_eq!(all.len(), 10_050);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 10_050);
    // POST works too (some SDKs), and a bad cursor is 40003.
    let r = s
        .client
        .post(s.url(&format!(
            "/cgi-bin/user/get?access_token={}&next_openid={next}",
            a.token
        )))
        .send()
        .unwrap();
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["count"], 50);
    failure(
        get(
            &s,
            &format!("/cgi-bin/user/get?access_token={}&next_openid=abc", a.token),
        ),
        40003,
    );
    // An account without followers.
    let b = account(&s, "empty");
    let v = success(get(
        &s,
        &format!("/cgi-bin/user/get?access_token={}", b.token),
    ));
    assert_eq!(
        (v["total"].as_u64(), v["count"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(v.get("data").is_none());
    assert_eq!(v["next_openid"], "");
}
