//! Helpers for the WeChat-compatible API's tests: accounts with their credentials and
//! access token, `/cgi-bin` calls, multipart uploads, small media files, and a tiny HTTP
//! listener that records callbacks.
#![allow(dead_code)] // each test file uses a part of the helpers

use super::common::{ADMIN, Server, ok};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An account as a WeChat integration knows it.
pub struct WxAccount {
    pub id: u32,
    pub appid: String,
    pub secret: String,
    pub token: String,
}

/// Registers an account and gets its access token through `/cgi-bin/token`.
pub fn account(s: &Server, name: &str) -> WxAccount {
    let a = s.admin("/v1/accounts", json!({"name": name}));
    let appid = a["appid"].as_str().unwrap().to_string();
    let secret = a["secret"].as_str().unwrap().to_string();
    let t = token(s, &appid, &secret);
    WxAccount {
        id: a["account"].as_u64().unwrap() as u32,
        appid,
        secret,
        token: t["access_token"].as_str().expect("a token").to_string(),
    }
}

/// `GET /cgi-bin/token` with these credentials; the JSON answer.
pub fn token(s: &Server, appid: &str, secret: &str) -> Value {
    get(
        s,
        &format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"),
    )
}

/// A GET of `path_and_query`; asserts HTTP 200 and returns the JSON.
pub fn get(s: &Server, path_and_query: &str) -> Value {
    let r = s.client.get(s.url(path_and_query)).send().unwrap();
    json_of(r)
}

/// A POST of JSON `body` to `/cgi-bin/{api}?access_token=`; asserts HTTP 200.
pub fn post(s: &Server, api: &str, token: &str, body: Value) -> Value {
    raw(s, api, token, body.to_string())
}

/// A POST of raw text, as SDKs send it (no JSON content type).
pub fn raw(s: &Server, api: &str, token: &str, body: String) -> Value {
    let r = s
        .client
        .post(s.url(&format!("/cgi-bin/{api}?access_token={token}")))
        .body(body)
        .send()
        .unwrap();
    json_of(r)
}

fn json_of(r: reqwest::blocking::Response) -> Value {
    let status = r.status();
    let text = r.text().unwrap();
    assert_eq!(status.as_u16(), 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The answer's errcode (0 when absent).
pub fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

/// Asserts success (errcode 0 or absent); the answer.
#[track_caller]
pub fn success(v: Value) -> Value {
    assert_eq!(errcode(&v), 0, "{v}");
    v
}

/// Asserts errcode `code`; the answer.
#[track_caller]
pub fn failure(v: Value, code: i64) -> Value {
    assert_eq!(errcode(&v), code, "{v}");
    assert!(v["errmsg"].is_string(), "{v}");
    v
}

/// Adds `n` users who all follow `account` (admin API, 1,000 a request); the first id.
pub fn followers(s: &Server, account: u32, n: u32) -> u32 {
    let first = s.add_users(n);
    let mut next = first;
    while next < first + n {
        let end = (next + 1000).min(first + n);
        let users: Vec<u32> = (next..end).collect();
        s.follow(account, &users);
        next = end;
    }
    first
}

/// Every follower's WeChat OpenID, through `user/get` pages.
pub fn open_ids(s: &Server, token: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut next = String::new();
    loop {
        let page = success(get(
            s,
            &format!("/cgi-bin/user/get?access_token={token}&next_openid={next}"),
        ));
        if let Some(ids) = page["data"]["openid"].as_array() {
            all.extend(ids.iter().map(|o| o.as_str().unwrap().to_string()));
        }
        next = page["next_openid"].as_str().unwrap().to_string();
        if next.is_empty() || page["count"] == 0 {
            return all;
        }
    }
}

/// A text message body with `extra` fields merged in.
pub fn msg(content: &str, extra: Value) -> Value {
    let mut v = json!({"msgtype": "text", "text": {"content": content}});
    if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
        v.extend(extra);
    }
    v
}

/// Polls `mass/get` until the send's status is no longer SENDING; the final status.
pub fn wait_sent(s: &Server, token: &str, msg_id: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = success(post(
            s,
            "message/mass/get",
            token,
            json!({"msg_id": msg_id}),
        ));
        let status = v["msg_status"].as_str().unwrap().to_string();
        if status != "SENDING" {
            return status;
        }
        assert!(Instant::now() < deadline, "send {msg_id} never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The native report of a send (`GET /v1/accounts/{a}/jobs/{seq}`), once finished.
pub fn report(s: &Server, a: &WxAccount, msg_id: u64) -> Value {
    assert_eq!(msg_id >> 32, u64::from(a.id));
    s.wait_job(a.id, &a.token, msg_id as u32)
}

/// `media/upload?type=` with a multipart form whose field `media` holds `bytes`.
pub fn upload(s: &Server, token: &str, kind: &str, filename: &str, bytes: &[u8]) -> Value {
    upload_field(s, "media/upload", token, kind, "media", filename, bytes)
}

/// A multipart upload with the file in form field `field`.
pub fn upload_field(
    s: &Server,
    api: &str,
    token: &str,
    kind: &str,
    field: &str,
    filename: &str,
    bytes: &[u8],
) -> Value {
    let boundary = "----heraldTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = s
        .client
        .post(s.url(&format!("/cgi-bin/{api}?access_token={token}&type={kind}")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .unwrap();
    json_of(r)
}

/// A PNG of `len` bytes (a valid signature; the rest padding).
pub fn png(len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.resize(len.max(8), 0);
    b
}

/// An AMR voice clip of `secs` seconds (mode 7 frames, 50 a second).
pub fn amr(secs: u32) -> Vec<u8> {
    let mut b = b"#!AMR\n".to_vec();
    for _ in 0..secs * 50 {
        b.push(7 << 3);
        b.extend_from_slice(&[0; 31]);
    }
    b
}

/// An MP4 of `len` bytes declaring `secs` seconds.
pub fn mp4(secs: u32, len: usize) -> Vec<u8> {
    let mut mvhd = vec![0u8; 12];
    mvhd.extend_from_slice(&1000u32.to_be_bytes());
    mvhd.extend_from_slice(&(secs * 1000).to_be_bytes());
    let mut b = b"\0\0\0\x10ftypmp42\0\0\0\0".to_vec();
    b.extend_from_slice(&((mvhd.len() + 16) as u32).to_be_bytes());
    b.extend_from_slice(b"moov");
    b.extend_from_slice(&((mvhd.len() + 8) as u32).to_be_bytes());
    b.extend_from_slice(b"mvhd");
    b.extend_from_slice(&mvhd);
    b.resize(len.max(b.len()), 0);
    b
}

/// Uploads a thumb and saves a one-article news with it; the news's media_id.
pub fn news(s: &Server, token: &str, title: &str) -> String {
    let thumb = success(upload(s, token, "thumb", "cover.png", &png(2048)));
    let v = success(post(
        s,
        "material/add_news",
        token,
        json!({"articles": [{
            "title": title,
            "thumb_media_id": thumb["thumb_media_id"],
            "author": "herald",
            "digest": "a summary",
            "show_cover_pic": 1,
            "content": "<p>the body</p>",
            "content_source_url": "https://example.com/",
        }]}),
    ));
    v["media_id"].as_str().unwrap().to_string()
}

/// One HTTP request the listener received.
#[derive(Debug, Clone)]
pub struct Received {
    pub target: String,
    pub content_type: String,
    pub body: String,
}

/// A tiny HTTP/1.1 server on a loopback port that records POSTs; answers 500 to the first
/// `fail_first` requests, 200 afterwards.
pub struct Listener {
    pub url: String,
    pub received: mpsc::Receiver<Received>,
}

impl Listener {
    pub fn start(path: &str, fail_first: usize) -> Listener {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", socket.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut served = 0usize;
            for stream in socket.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split(' ').nth(1).unwrap_or("").to_string();
                let (mut len, mut content_type) = (0usize, String::new());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            "content-type" => content_type = v.trim().to_string(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                served += 1;
                let status = if served <= fail_first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 7\r\nConnection: close\r\n\r\nsuccess"
                    )
                    .as_bytes(),
                );
                if served > fail_first {
                    let _ = tx.send(Received {
                        target,
                        content_type,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
            }
        });
        Listener { url, received: rx }
    }

    /// The next recorded request, within 20 s.
    pub fn next(&self) -> Received {
        self.received
            .recv_timeout(Duration::from_secs(20))
            .expect("a callback within 20 s")
    }
}

/// The text of XML element `name` (CDATA unwrapped).
pub fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let text = &xml[start..end];
    Some(
        text.strip_prefix("<![CDATA[")
            .and_then(|t| t.strip_suffix("]]>"))
            .unwrap_or(text)
            .to_string(),
    )
}

/// The admin key the common helpers use.
pub fn admin() -> &'static str {
    ADMIN
}

/// A successful native answer (re-exported for the test files).
pub fn native_ok(r: reqwest::blocking::Response) -> Value {
    ok(r)
}
