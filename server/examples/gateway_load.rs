//! Holds N WebSocket clients on the push gateway of a `herald-server` it starts, measures
//! the server's resident memory per idle connection, then sends M broadcasts to all of them
//! and measures deliveries pushed per second and send-to-receipt latency, checking that
//! every client got every message once, in order.
//!
//! ```bash
//! cargo build --release -p herald-server --examples
//! target/release/examples/gateway_load [CONNECTIONS] [MESSAGES]   # default 10000 20
//! ```
//!
//! The server runs as a child process (its own file descriptors), in memory, started from
//! the `herald-server` binary next to this example's directory. The network benchmark
//! (`loadgen net`) is the full comparison; this is the gateway's own measurement.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ADMIN: &str = "gateway-load-admin";

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let connections: u32 = args
        .next()
        .map_or(10_000, |a| a.parse().expect("CONNECTIONS"));
    let messages: usize = args.next().map_or(20, |a| a.parse().expect("MESSAGES"));
    let exe = std::env::current_exe().unwrap();
    let server_bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("herald-server");
    let mut child = Command::new(&server_bin)
        .args(["--listen", "127.0.0.1:0", "--admin-key", ADMIN])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", server_bin.display()));
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    // Users, one account they all follow, a token each.
    let http = reqwest::blocking::Client::new();
    let admin = |path: &str, body: Value| -> Value {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().unwrap()
    };
    admin("/v1/users", json!({"count": connections}));
    let account = admin("/v1/accounts", json!({"name": "load"}));
    let id = account["account"].as_u64().unwrap();
    let users: Vec<u32> = (0..connections).collect();
    for chunk in users.chunks(1000) {
        admin(
            &format!("/v1/accounts/{id}/followers"),
            json!({"users": chunk}),
        );
    }
    let access = http
        .post(format!("{base}/v1/token"))
        .json(&json!({"appid": account["appid"], "secret": account["secret"]}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens: Vec<String> = users
        .iter()
        .map(|u| {
            admin(&format!("/v1/users/{u}/token"), json!({}))["token"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let rss_before = rss_bytes(pid);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let host = base.trim_start_matches("http://").to_string();
    let sent_at: Arc<Vec<std::sync::OnceLock<Instant>>> =
        Arc::new((0..messages).map(|_| std::sync::OnceLock::new()).collect());
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let start_connect = Instant::now();
    let clients: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let host = host.clone();
            let connected = connected_tx.clone();
            let sent_at = Arc::clone(&sent_at);
            runtime.spawn(async move {
                let mut request = format!("ws://{host}/v1/ws?cursor=0")
                    .into_client_request()
                    .unwrap();
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                let (mut socket, _) = loop {
                    match tokio_tungstenite::connect_async(request.clone()).await {
                        Ok(ok) => break ok,
                        // The listen backlog overflows while thousands connect at once.
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                };
                let mut latencies = Vec::with_capacity(messages);
                let mut seqs = Vec::with_capacity(messages);
                let mut hello = false;
                while seqs.len() < messages {
                    let Some(Ok(frame)) = socket.next().await else {
                        panic!("connection lost");
                    };
                    let Message::Text(text) = frame else { continue };
                    let v: Value = serde_json::from_str(text.as_str()).unwrap();
                    match v["type"].as_str() {
                        Some("hello") if !hello => {
                            hello = true;
                            let _ = connected.send(());
                        }
                        Some("message") => {
                            let now = Instant::now();
                            let i: usize = v["message"]["text"].as_str().unwrap()[..8]
                                .trim()
                                .parse()
                                .unwrap();
                            latencies.push(now - *sent_at[i].get().unwrap());
                            seqs.push(v["seq"].as_u64().unwrap());
                        }
                        other => panic!("unexpected frame {other:?}"),
                    }
                }
                (Instant::now(), latencies, seqs, socket)
            })
        })
        .collect();
    drop(connected_tx);
    runtime.block_on(async {
        for _ in 0..connections {
            connected_rx.recv().await.expect("a client failed");
        }
    });
    let connect_time = start_connect.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle = rss_bytes(pid);

    // M broadcasts of a 64-byte text, as fast as the API takes them.
    let t0 = Instant::now();
    let mut seqs_sent = Vec::new();
    for (i, at) in sent_at.iter().enumerate() {
        let text = format!("{i:>8}{}", "x".repeat(56));
        at.set(Instant::now()).unwrap();
        let r = http
            .post(format!("{base}/v1/accounts/{id}/sends"))
            .bearer_auth(&access)
            .json(&json!({"message": {"type": "text", "text": text}, "audience": {"type": "all"}}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "send: {}", r.status());
        seqs_sent.push(r.json::<Value>().unwrap()["seq"].as_u64().unwrap());
    }
    let results = runtime.block_on(async {
        let mut all = Vec::new();
        for c in clients {
            all.push(c.await.unwrap());
        }
        all
    });
    let last = results.iter().map(|r| r.0).max().unwrap();
    let elapsed = last - t0;
    let mut latencies: Vec<Duration> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    latencies.sort_unstable();
    let wrong = results.iter().filter(|r| r.2 != seqs_sent).count();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let deliveries = u64::from(connections) * messages as u64;
    println!(
        "connections held: {connections} (connected in {:.2} s)",
        connect_time.as_secs_f64()
    );
    println!(
        "server RSS: {:.1} MiB before connecting, {:.1} MiB idle with them: {:.0} bytes per idle connection",
        rss_before as f64 / 1048576.0,
        rss_idle as f64 / 1048576.0,
        (rss_idle.saturating_sub(rss_before)) as f64 / f64::from(connections)
    );
    println!(
        "{messages} broadcasts × {connections} clients = {deliveries} deliveries in {:.3} s: {:.0} deliveries pushed/s",
        elapsed.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64()
    );
    println!(
        "send-to-receipt latency ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    println!("clients with a gap, a repeat or a wrong order: {wrong}");
    drop(results);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(wrong, 0);
}
