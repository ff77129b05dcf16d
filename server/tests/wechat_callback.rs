//! Job-finished callbacks: WeChat's MASSSENDJOBFINISH XML event POSTed to
//! `--callback-url` for `/cgi-bin` sends (signed when `--callback-token` is set, retried
//! when the receiver fails), and the JSON form for native integrations.

mod common;
mod wx;

use common::*;
use serde_json::json;
use wx::*;

/// The query parameters of a request target.
fn query_of(target: &str) -> std::collections::HashMap<String, String> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn sendall_and_send_post_masssendjobfinish() {
    let listener = Listener::start("/wechat?from=herald", 1);
    let s = Server::start(&[
        "--callback-url",
        &listener.url,
        "--callback-token",
        "integration-token",
        "--callback-retry-ms",
        "50",
    ]);
    let a = account(&s, "news");
    followers(&s, a.id, 3);
    let v = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg("hello", json!({"filter": {"is_to_all": true}})),
    ));
    let msg_id = v["msg_id"].as_u64().unwrap();
    // The first attempt was answered 500; the retry is recorded.
    let got = listener.next();
    assert!(got.content_type.starts_with("text/xml"), "{got:?}");
    let xml = &got.body;
    assert_eq!(
        xml_field(xml, "ToUserName").as_deref(),
        Some(a.appid.as_str())
    );
    assert_eq!(xml_field(xml, "FromUserName").as_deref(), Some("mphelper"));
    assert_eq!(xml_field(xml, "MsgType").as_deref(), Some("event"));
    assert_eq!(
        xml_field(xml, "Event").as_deref(),
        Some("MASSSENDJOBFINISH")
    );
    assert_eq!(xml_field(xml, "MsgID"), Some(msg_id.to_string()));
    assert_eq!(xml_field(xml, "Status").as_deref(), Some("send success"));
    assert_eq!(xml_field(xml, "TotalCount").as_deref(), Some("3"));
    assert_eq!(xml_field(xml, "FilterCount").as_deref(), Some("3"));
    assert_eq!(xml_field(xml, "SentCount").as_deref(), Some("3"));
    assert_eq!(xml_field(xml, "ErrorCount").as_deref(), Some("0"));
    assert!(
        xml_field(xml, "CreateTime")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1_700_000_000
    );
    assert!(xml_field(xml, "CopyrightCheckResult").is_some());
    // The URL's own query is kept; WeChat's signature parameters are added.
    let q = query_of(&got.target);
    assert_eq!(q.get("from").map(String::as_str), Some("herald"));
    assert_eq!(q["signature"].len(), 40);
    assert!(q["timestamp"].parse::<u64>().is_ok() && !q["nonce"].is_empty());

    // A send to a list, and its counts.
    let ids = open_ids(&s, &a.token);
    let v = success(post(
        &s,
        "message/mass/send",
        &a.token,
        msg("two", json!({"touser": [ids[0], ids[2]]})),
    ));
    let got = listener.next();
    assert_eq!(
        xml_field(&got.body, "MsgID"),
        Some(v["msg_id"].as_u64().unwrap().to_string())
    );
    assert_eq!(xml_field(&got.body, "TotalCount").as_deref(), Some("2"));
    assert_eq!(xml_field(&got.body, "SentCount").as_deref(), Some("2"));

    // Previews and native sends have no WeChat event.
    success(post(
        &s,
        "message/mass/preview",
        &a.token,
        msg("p", json!({"touser": ids[1]})),
    ));
    s.send(
        a.id,
        &a.token,
        json!({"message": text("native"), "audience": {"type": "all"}}),
    );
    let v = success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg("last", json!({"filter": {"is_to_all": true}})),
    ));
    let got = listener.next();
    assert_eq!(
        xml_field(&got.body, "MsgID"),
        Some(v["msg_id"].as_u64().unwrap().to_string())
    );
}

#[test]
fn the_signature_is_wechats() {
    // signature = sha1 of the token, timestamp and nonce, sorted and concatenated.
    let listener = Listener::start("/wx", 0);
    let s = Server::start(&["--callback-url", &listener.url, "--callback-token", "tok"]);
    let a = account(&s, "news");
    followers(&s, a.id, 2);
    success(post(
        &s,
        "message/mass/sendall",
        &a.token,
        msg("x", json!({"filter": {"is_to_all": true}})),
    ));
    let got = listener.next();
    let q = query_of(&got.target);
    // Recompute with the system's sha1sum, independent of the server's code.
    let mut parts = [
        "tok".to_string(),
        q["timestamp"].clone(),
        q["nonce"].clone(),
    ];
    parts.sort();
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(parts.concat().as_bytes())?;
            child.wait_with_output()
        });
    if let Ok(out) = out {
        let digest = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            digest.split_whitespace().next(),
            Some(q["signature"].as_str())
        );
    }
}

#[test]
fn json_callbacks_carry_every_jobs_report() {
    // Configured through the config file this time.
    let listener = Listener::start("/jobs", 0);
    let dir = temp_dir("wx-callback-config");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald.toml");
    std::fs::write(
        &file,
        format!(
            "callback_url = \"{}\"\ncallback_format = \"json\"\n",
            listener.url
        ),
    )
    .unwrap();
    let s = Server::start(&["--config", file.to_str().unwrap()]);
    let a = account(&s, "news");
    followers(&s, a.id, 4);
    let seq = s.send(
        a.id,
        &a.token,
        json!({"message": text("native"), "audience": {"type": "all"}}),
    );
    let got = listener.next();
    assert_eq!(got.content_type, "application/json");
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(v["event"], "job_finished");
    assert_eq!(
        (v["account"].as_u64(), v["seq"].as_u64()),
        (Some(u64::from(a.id)), Some(u64::from(seq)))
    );
    assert_eq!(
        (
            v["status"].as_str(),
            v["total"].as_u64(),
            v["sent"].as_u64()
        ),
        (Some("done"), Some(4), Some(4))
    );
    assert_eq!(v["msg_id"], u64::from(a.id) << 32 | u64::from(seq));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_callback_configuration_is_refused_at_start() {
    for args in [
        &["--callback-url", "https://example.com/x"][..],
        &[
            "--callback-url",
            "http://127.0.0.1:1/x",
            "--callback-format",
            "soap",
        ][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald-server"))
            .args(["--listen", "127.0.0.1:0", "--admin-key", ADMIN])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
