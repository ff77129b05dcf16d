//! Starts the real `herald-server` binary on a free loopback port and talks to it with
//! reqwest.
#![allow(dead_code)] // each test file uses a part of the helpers

pub mod cdp;
pub mod gw;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "test-admin-key";

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// The lines it printed to stdout before listening.
    pub banner: Vec<String>,
    pub client: Client,
}

impl Server {
    /// In memory, with the test admin key and `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        let mut args = vec!["--admin-key", ADMIN];
        args.extend_from_slice(extra);
        Server::start_raw(&args)
    }

    /// Durable in `dir`, with `extra` flags (no admin key unless given).
    pub fn start_durable(dir: &Path, extra: &[&str]) -> Server {
        let dir = dir.to_str().unwrap().to_string();
        let mut args = vec!["--data-dir", dir.as_str()];
        args.extend_from_slice(extra);
        Server::start_raw(&args)
    }

    pub fn start_raw(args: &[&str]) -> Server {
        Server::start_env(args, &[])
    }

    /// With `args` and environment variables `env`.
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_logged(args, env, None)
    }

    /// With the logs (stderr) at `RUST_LOG=debug` written to `log` when given.
    pub fn start_logged(args: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Server {
        let (level, stderr) = match log {
            Some(path) => ("debug", Stdio::from(std::fs::File::create(path).unwrap())),
            None => ("warn", Stdio::inherit()),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", level)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start herald-server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .expect("herald-server exited before listening")
                .unwrap();
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.to_string();
            }
            banner.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            banner,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
    }

    pub fn put(&self, path: &str, token: &str, body: Value) -> RequestBuilder {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(&body)
    }

    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(token)
    }

    /// GET with `token`, expecting success; the JSON answer.
    pub fn get_ok(&self, path: &str, token: &str) -> Value {
        ok(self.get(path, token).send().unwrap())
    }

    /// POST with `token`, expecting success; the JSON answer (`null` for 204).
    pub fn post_ok(&self, path: &str, token: &str, body: Value) -> Value {
        ok(self.post(path, token, body).send().unwrap())
    }

    /// The items of a user's whole inbox (up to 32 entries), from cursor 0.
    pub fn inbox_items(&self, user: u32, token: &str) -> Vec<Value> {
        self.inbox(user, token, 0)["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// POST as admin, expecting success; the JSON answer.
    pub fn admin(&self, path: &str, body: Value) -> Value {
        ok(self.post(path, ADMIN, body).send().unwrap())
    }

    /// Adds `n` users; the first id.
    pub fn add_users(&self, n: u32) -> u32 {
        self.admin("/v1/users", json!({"count": n}))["first"]
            .as_u64()
            .unwrap() as u32
    }

    /// Registers an account; (id, access token).
    pub fn account(&self, name: &str) -> (u32, String) {
        let a = self.admin("/v1/accounts", json!({"name": name}));
        let id = a["account"].as_u64().unwrap() as u32;
        let t = ok(self
            .post(
                "/v1/token",
                "",
                json!({"appid": a["appid"], "secret": a["secret"]}),
            )
            .send()
            .unwrap());
        (id, t["access_token"].as_str().unwrap().to_string())
    }

    /// The users follow the account; their OpenIDs.
    pub fn follow(&self, account: u32, users: &[u32]) -> Vec<String> {
        let v = self.admin(
            &format!("/v1/accounts/{account}/followers"),
            json!({"users": users}),
        );
        v["open_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect()
    }

    pub fn user_token(&self, user: u32) -> String {
        self.admin(&format!("/v1/users/{user}/token"), json!({}))["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Sends; (seq, answer).
    pub fn send(&self, account: u32, token: &str, body: Value) -> u32 {
        let v = ok(self
            .post(&format!("/v1/accounts/{account}/sends"), token, body)
            .send()
            .unwrap());
        v["seq"].as_u64().unwrap() as u32
    }

    /// Polls a job until it is finished; its report.
    pub fn wait_job(&self, account: u32, token: &str, seq: u32) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = ok(self
                .get(&format!("/v1/accounts/{account}/jobs/{seq}"), token)
                .send()
                .unwrap());
            if !["queued", "sending"].contains(&r["status"].as_str().unwrap()) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "job {account}/{seq} never finished"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn inbox(&self, user: u32, token: &str, cursor: u64) -> Value {
        ok(self
            .get(
                &format!("/v1/users/{user}/inbox?cursor={cursor}&limit=32"),
                token,
            )
            .send()
            .unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 2xx answer's JSON (panics with the body otherwise).
pub fn ok(r: Response) -> Value {
    let status = r.status();
    let text = r.text().unwrap();
    assert!(status.is_success(), "{status}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// Asserts an error answer's status and code; its message.
pub fn err(r: Response, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let v: Value = r.json().expect("error body is JSON");
    assert_eq!(
        (got, v["error"]["code"].as_str().unwrap_or("")),
        (status, code),
        "{v}"
    );
    v["error"]["message"].as_str().unwrap().to_string()
}

pub fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// A media reference of `format` and `bytes`.
pub fn media(id: &str, format: &str, bytes: u64) -> Value {
    json!({"media_id": id, "format": format, "bytes": bytes})
}

/// An article with a PNG cover.
pub fn article(title: &str, body: &str) -> Value {
    json!({"type": "article", "title": title, "summary": "s", "body": body,
           "cover": media("cover", "png", 1000)})
}

/// Milliseconds since the Unix epoch, by this machine's clock (the server's clock too).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Polls `check` every 50 ms for up to `secs` seconds; panics with `what` if it never holds.
pub fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh empty directory under the target's temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
