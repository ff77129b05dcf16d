//! herald: `herald-server` as a child process, N users following one account, a WebSocket
//! client per user on the push gateway (`GET /v1/ws`), and broadcasts through
//! `POST /v1/accounts/{id}/sends`, each answered once the send is durable (in a temporary
//! data directory, or in memory with `--in-memory`).
//!
//! A client that loses its connection resumes from the cursor after its last entry, as a
//! real client does; each loss is counted as a disconnect.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use memchr::memmem;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::process::{Server, spawn, temp_dir};
use super::record::Recorder;
use super::stream::{Ended, connect};

const ADMIN_KEY: &str = "loadgen-net-admin";
/// A client's WebSocket read buffer (tungstenite's default, 128 KiB, would make the
/// clients' own memory the limit at 10,000 connections).
const CLIENT_READ_BUFFER: usize = 8 << 10;

/// The running server and what its clients and publisher need.
#[derive(Debug)]
pub struct Herald {
    pub server: Server,
    pub addr: SocketAddr,
    base: String,
    account: u64,
    access_token: String,
    /// Per user (= client index), its gateway token.
    pub tokens: Arc<Vec<String>>,
}

/// Where the `herald-server` binary is: `--server-bin`, or beside loadgen's own binary
/// (built first when loadgen runs under cargo, so it matches the sources).
pub fn server_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        ensure!(
            path.is_file(),
            "--server-bin {}: no such file",
            path.display()
        );
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("loadgen's directory")?;
    let path = dir.join("herald-server");
    if let Some(cargo) = std::env::var_os("CARGO") {
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut build = std::process::Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "herald-server",
            "--bin",
            "herald-server",
        ]);
        if release {
            build.arg("--release");
        }
        eprintln!(
            "building herald-server ({})",
            if release { "release" } else { "debug" }
        );
        let status = build
            .status()
            .context("running cargo build -p herald-server")?;
        ensure!(
            status.success(),
            "cargo build -p herald-server failed: {status}"
        );
    }
    ensure!(
        path.is_file(),
        "{} not found: build it with `cargo build --release -p herald-server`, or pass --server-bin",
        path.display()
    );
    Ok(path)
}

impl Herald {
    /// Starts the server and prepares `users` users following one account, a token each.
    pub fn start(
        binary: &Path,
        users: u32,
        inbox_capacity: usize,
        durable: bool,
    ) -> anyhow::Result<Herald> {
        let dir = durable.then(|| temp_dir("herald")).transpose()?;
        let mut args: Vec<String> = [
            "--listen",
            "127.0.0.1:0",
            "--admin-key",
            ADMIN_KEY,
            "--inbox-capacity",
            &inbox_capacity.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(dir) = &dir {
            args.extend(["--data-dir".into(), dir.display().to_string()]);
        }
        let mut child = spawn(binary, &args, Stdio::piped(), Stdio::inherit())?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut server = Server::new(child, dir);
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let base = loop {
            let Some(line) = lines.next() else {
                server.check_alive("herald-server")?;
                bail!("herald-server closed its output before listening");
            };
            if let Some(addr) = line?.strip_prefix("listening on ") {
                break addr.to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        let addr: SocketAddr = base
            .trim_start_matches("http://")
            .parse()
            .context("the server's address")?;
        let http = reqwest::blocking::Client::new();
        let admin = |path: &str, body: Value| -> anyhow::Result<Value> {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(ADMIN_KEY)
                .json(&body)
                .send()?;
            ensure!(r.status().is_success(), "POST {path}: {}", r.status());
            Ok(r.json()?)
        };
        let setup = Instant::now();
        admin("/v1/users", json!({"count": users}))?;
        let account = admin("/v1/accounts", json!({"name": "loadgen-net"}))?;
        let id = account["account"].as_u64().context("account id")?;
        let all: Vec<u32> = (0..users).collect();
        for chunk in all.chunks(1_000) {
            admin(
                &format!("/v1/accounts/{id}/followers"),
                json!({"users": chunk}),
            )?;
        }
        let access_token = http
            .post(format!("{base}/v1/token"))
            .json(&json!({"appid": account["appid"], "secret": account["secret"]}))
            .send()?
            .json::<Value>()?["access_token"]
            .as_str()
            .context("access token")?
            .to_string();
        let followed = setup.elapsed();
        let tokens = user_tokens(&base, users)?;
        eprintln!(
            "herald: {users} users following in {:.1} s, their tokens in {:.1} s",
            followed.as_secs_f64(),
            (setup.elapsed() - followed).as_secs_f64()
        );
        Ok(Herald {
            server,
            addr,
            base,
            account: id,
            access_token,
            tokens: Arc::new(tokens),
        })
    }

    pub fn publisher(&self) -> Publisher {
        Publisher {
            http: reqwest::blocking::Client::new(),
            url: format!("{}/v1/accounts/{}/sends", self.base, self.account),
            access_token: self.access_token.clone(),
        }
    }

    /// The server's count of connections that fell behind and caught up from the inbox.
    pub fn catchup_switches(&self) -> Option<u64> {
        let text = reqwest::blocking::get(format!("{}/metrics", self.base))
            .ok()?
            .text()
            .ok()?;
        let total = text
            .lines()
            .filter(|l| l.starts_with("herald_gateway_catchup_switches_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        Some(total as u64)
    }
}

/// A gateway token per user, fetched by four threads.
fn user_tokens(base: &str, users: u32) -> anyhow::Result<Vec<String>> {
    let threads = 4u32;
    let per = users.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> anyhow::Result<Vec<String>> {
                    let http = reqwest::blocking::Client::new();
                    (t * per..((t + 1) * per).min(users))
                        .map(|u| {
                            let r = http
                                .post(format!("{base}/v1/users/{u}/token"))
                                .bearer_auth(ADMIN_KEY)
                                .json(&json!({}))
                                .send()?;
                            ensure!(r.status().is_success(), "user token: {}", r.status());
                            Ok(r.json::<Value>()?["token"]
                                .as_str()
                                .context("user token")?
                                .to_string())
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(users as usize);
        for part in parts {
            all.extend(part.join().expect("a token thread panicked")?);
        }
        Ok(all)
    })
}

/// Broadcasts through the HTTP API, one request at a time.
#[derive(Debug)]
pub struct Publisher {
    http: reqwest::blocking::Client,
    url: String,
    access_token: String,
}

impl super::Publish for Publisher {
    fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let body =
            json!({"message": {"type": "text", "text": payload}, "audience": {"type": "all"}});
        let r = self
            .http
            .post(&self.url)
            .bearer_auth(&self.access_token)
            .json(&body)
            .send()?;
        ensure!(r.status().is_success(), "send: {}", r.status());
        Ok(())
    }
}

/// One client: connects (again, from its cursor, after a loss) and records every
/// message until it has all of them or the run's deadline passes.
pub async fn client(
    addr: SocketAddr,
    token: &str,
    rec: &mut Recorder,
    subscribed: impl FnOnce(),
) -> anyhow::Result<()> {
    let mut subscribed = Some(subscribed);
    let mut deadline = rec.deadline();
    let mut next_cursor = 0u64;
    loop {
        if *deadline.borrow() {
            return Ok(());
        }
        let stream = connect(addr).await?;
        let mut request =
            format!("ws://{addr}/v1/ws?cursor={next_cursor}").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
        let (mut socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .context("WebSocket handshake")?;
        let ended = loop {
            if *deadline.borrow() {
                break Ended::Done;
            }
            if rec.complete() {
                let _ = deadline.wait_for(|&d| d).await;
                break Ended::Done;
            }
            let frame = tokio::select! {
                frame = socket.next() => frame,
                _ = deadline.changed() => continue,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Ended::Closed,
                Some(Ok(_)) => continue,
            };
            let text = text.as_str();
            // Entries are written with `type` and `cursor` first; the other frames' keys
            // are sorted.
            if let Some(rest) = text.strip_prefix(ENTRY) {
                if let Some(cursor) = leading_number(rest) {
                    next_cursor = cursor + 1;
                }
                if let Some(at) = TEXT.find(rest.as_bytes()) {
                    rec.message(&rest.as_bytes()[at + TEXT.needle().len()..], Instant::now());
                }
            } else if text.contains(r#""type":"hello""#) {
                if let Some(f) = subscribed.take() {
                    f();
                }
            } else if text.contains(r#""type":"missed""#) {
                rec.reported_missed += field(text, r#""count":"#).unwrap_or(0);
            } else if text.contains(r#""type":"reconnect""#) {
                break Ended::Closed;
            }
            if let Some(pause) = rec.after_read() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {},
                    _ = deadline.wait_for(|&d| d) => {},
                }
                rec.resumed();
            }
        };
        match ended {
            Ended::Done => return Ok(()),
            Ended::Closed => {
                if subscribed.is_some() {
                    bail!("the server closed the connection before its hello");
                }
                rec.disconnects += 1;
            }
        }
    }
}

/// How an inbox entry's frame starts.
const ENTRY: &str = r#"{"type":"message","cursor":"#;
/// Where a text message's text starts: searched for once per frame, with a searcher built
/// once.
static TEXT: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(r#""text":""#));

/// The unsigned number after `key` in `text`.
fn field(text: &str, key: &str) -> Option<u64> {
    leading_number(&text[text.find(key)? + key.len()..])
}

/// The unsigned number `text` starts with.
fn leading_number(text: &str) -> Option<u64> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}
