//! The push gateway end to end: live delivery, resume from a cursor with nothing lost,
//! several devices, isolation, missed entries, pings, a slow client during a send to a
//! million followers, SIGKILL and SIGTERM. Clients are tungstenite and reqwest.

mod common;

use common::gw::{Auth, Sse, Ws, refused};
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An account with `followers` users following it, from user 0; (account, its token).
fn setup(s: &Server, followers: u32) -> (u32, String) {
    s.add_users(followers);
    let (account, token) = s.account("news");
    s.follow(account, &(0..followers).collect::<Vec<_>>());
    (account, token)
}

fn send_text(s: &Server, account: u32, token: &str, text_: &str) -> u32 {
    s.send(
        account,
        token,
        json!({"message": text(text_), "audience": {"type": "all"}}),
    )
}

/// (cursor, account, seq, text) of a message frame.
fn entry(frame: &Value) -> (u64, u32, u32, String) {
    assert_eq!(frame["type"], "message", "{frame}");
    (
        frame["cursor"].as_u64().unwrap(),
        frame["account"].as_u64().unwrap() as u32,
        frame["seq"].as_u64().unwrap() as u32,
        frame["message"]["text"].as_str().unwrap_or("").to_string(),
    )
}

fn metric(s: &Server, name_and_labels: &str) -> f64 {
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn websocket_delivers_live_and_resumes_from_its_cursor() {
    let s = Server::start(&[]);
    let (account, token) = setup(&s, 2);
    let user_token = s.user_token(0);
    let mut ws = Ws::connect(&s, &user_token, "cursor=0");
    assert_eq!(ws.hello(0), 0);
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(send_text(&s, account, &token, &format!("live {i}")));
    }
    let got: Vec<_> = ws.entries(5).iter().map(entry).collect();
    for (i, (cursor, a, seq, text)) in got.iter().enumerate() {
        assert_eq!(
            (*cursor, *a, *seq, text.as_str()),
            (i as u64, account, seqs[i], format!("live {i}").as_str())
        );
    }
    ws.socket.close(None).unwrap();
    drop(ws);

    // Sent while the client is away: it resumes after the last cursor it saw.
    for i in 5..8 {
        seqs.push(send_text(&s, account, &token, &format!("away {i}")));
    }
    let mut ws = Ws::connect(&s, &user_token, "cursor=5");
    assert_eq!(ws.hello(0), 5);
    let back: Vec<_> = ws.entries(3).iter().map(entry).collect();
    assert_eq!(
        back.iter().map(|e| (e.0, e.2)).collect::<Vec<_>>(),
        vec![(5, seqs[5]), (6, seqs[6]), (7, seqs[7])]
    );
    // Then live again, on the same connection.
    let last = send_text(&s, account, &token, "after");
    assert_eq!(entry(&ws.entries(1)[0]), (8, account, last, "after".into()));
    assert!(
        metric(
            &s,
            "herald_gateway_deliveries_pushed_total{transport=\"ws\"}"
        ) >= 9.0
    );
}

#[test]
fn every_device_of_a_user_gets_every_delivery() {
    let s = Server::start(&[]);
    let (account, token) = setup(&s, 3);
    let user_token = s.user_token(1);
    let mut phone = Ws::connect(&s, &user_token, "cursor=0");
    let mut laptop = Ws::try_connect(&s, Auth::Query(&user_token), "cursor=0", None).unwrap();
    let mut browser = Sse::connect(&s, &user_token, "cursor=0", None);
    phone.hello(1);
    laptop.hello(1);
    assert_eq!(browser.next_event().unwrap().event, "hello");
    let seqs: Vec<u32> = (0..10)
        .map(|i| send_text(&s, account, &token, &format!("m{i}")))
        .collect();
    let expect: Vec<(u64, u32)> = seqs
        .iter()
        .enumerate()
        .map(|(i, &q)| (i as u64, q))
        .collect();
    for device in [&mut phone, &mut laptop] {
        let got: Vec<_> = device
            .entries(10)
            .iter()
            .map(entry)
            .map(|e| (e.0, e.2))
            .collect();
        assert_eq!(got, expect);
    }
    let got: Vec<_> = (0..10)
        .map(|_| {
            let e = browser.next_event().unwrap();
            assert_eq!(e.event, "message");
            let frame = e.json();
            // The event id is where to resume: the entry's cursor + 1.
            let (cursor, _, seq, _) = entry(&frame);
            assert_eq!(e.id.as_deref(), Some((cursor + 1).to_string().as_str()));
            (cursor, seq)
        })
        .collect();
    assert_eq!(got, expect);
    assert_eq!(
        metric(&s, "herald_gateway_connections{transport=\"ws\"}"),
        2.0
    );
    assert_eq!(
        metric(&s, "herald_gateway_connections{transport=\"sse\"}"),
        1.0
    );
}

#[test]
fn event_stream_resumes_from_last_event_id() {
    let s = Server::start(&[]);
    let (account, token) = setup(&s, 1);
    let user_token = s.user_token(0);
    let seqs: Vec<u32> = (0..6)
        .map(|i| send_text(&s, account, &token, &format!("m{i}")))
        .collect();
    let mut first = Sse::connect(&s, &user_token, "", None);
    assert_eq!(first.next_event().unwrap().event, "hello");
    let mut last_id = None;
    for _ in 0..4 {
        last_id = first.next_event().unwrap().id;
    }
    drop(first);
    // Last-Event-ID wins over ?cursor=.
    let mut again = Sse::connect(&s, &user_token, "cursor=0", last_id.as_deref());
    let hello = again.next_event().unwrap().json();
    assert_eq!(hello["cursor"], 4);
    let rest: Vec<u32> = (0..2)
        .map(|_| entry(&again.next_event().unwrap().json()).2)
        .collect();
    assert_eq!(rest, seqs[4..]);
    let r = s
        .get("/v1/events", &user_token)
        .header("last-event-id", "not a cursor")
        .send()
        .unwrap();
    err(r, 400, "invalid_last_event_id");
}

#[test]
fn the_gateway_takes_only_the_users_own_token() {
    let s = Server::start(&[]);
    s.add_users(2);
    let (news, news_token) = s.account("news");
    let (sport, sport_token) = s.account("sport");
    s.follow(news, &[0]);
    s.follow(sport, &[1]);
    let zero = s.user_token(0);
    let one = s.user_token(1);

    let no_token = Ws::try_connect(&s, Auth::None, "cursor=0", None)
        .err()
        .unwrap();
    assert_eq!(refused(&no_token), (401, "missing_token".into()));
    let forged = zero.replacen("u.0.", "u.1.", 1);
    let e = Ws::try_connect(&s, Auth::Header(&forged), "cursor=0", None)
        .err()
        .unwrap();
    assert_eq!(refused(&e), (401, "invalid_token".into()));
    let e = Ws::try_connect(&s, Auth::Query(&forged), "cursor=0", None)
        .err()
        .unwrap();
    assert_eq!(refused(&e), (401, "invalid_token".into()));
    let e = Ws::try_connect(&s, Auth::Header(&news_token), "cursor=0", None)
        .err()
        .unwrap();
    assert_eq!(refused(&e), (403, "forbidden".into()));
    let e = Ws::try_connect(&s, Auth::Header(ADMIN), "cursor=0", None)
        .err()
        .unwrap();
    assert_eq!(refused(&e), (401, "invalid_token".into()));
    let e = Ws::try_connect(&s, Auth::Header(&zero), "cursor=x", None)
        .err()
        .unwrap();
    assert_eq!(refused(&e), (400, "invalid_query".into()));
    let e = Ws::try_connect(&s, Auth::Header(&zero), "user=1", None)
        .err()
        .unwrap();
    assert_eq!(refused(&e), (400, "invalid_query".into()));
    err(
        s.get("/v1/events", &news_token).send().unwrap(),
        403,
        "forbidden",
    );
    err(
        s.get("/v1/events", "nope").send().unwrap(),
        401,
        "invalid_token",
    );
    // A plain GET of the WebSocket route is refused, not upgraded.
    err(
        s.get("/v1/ws", &zero).send().unwrap(),
        400,
        "not_a_websocket",
    );

    // Each user's connection carries its own inbox only.
    let mut ws0 = Ws::connect(&s, &zero, "cursor=0");
    let mut ws1 = Ws::try_connect(&s, Auth::Query(&one), "cursor=0", None).unwrap();
    ws0.hello(0);
    ws1.hello(1);
    let to_news = send_text(&s, news, &news_token, "for zero");
    let to_sport = send_text(&s, sport, &sport_token, "for one");
    assert_eq!(
        entry(&ws1.entries(1)[0]),
        (0, sport, to_sport, "for one".into())
    );
    assert_eq!(
        entry(&ws0.entries(1)[0]),
        (0, news, to_news, "for zero".into())
    );
    // Nothing else arrives at user 0 (a later send to its account comes next, in order).
    let next = send_text(&s, news, &news_token, "second");
    assert_eq!(entry(&ws0.entries(1)[0]), (1, news, next, "second".into()));
}

#[test]
fn entries_evicted_before_the_client_came_back_arrive_as_missed() {
    let s = Server::start(&[]);
    let (account, token) = setup(&s, 1);
    let user_token = s.user_token(0);
    // The default inbox keeps 32 entries: 40 sends evict some.
    let seqs: Vec<u32> = (0..40)
        .map(|i| send_text(&s, account, &token, &format!("m{i}")))
        .collect();
    // Sends are acknowledged when accepted; an account's jobs finish in order.
    s.wait_job(account, &token, *seqs.last().unwrap());
    // The gateway says what a fetch from cursor 0 says: what was evicted, then the rest.
    let page = s.inbox(0, &user_token, 0);
    let evicted = page["missed"].as_u64().unwrap();
    assert!(evicted > 0, "{page}");
    let kept = 40 - evicted as usize;
    let mut ws = Ws::connect(&s, &user_token, "cursor=0");
    ws.hello(0);
    let missed = ws.next_json();
    assert_eq!(missed["type"], "missed", "{missed}");
    assert_eq!(missed["count"], evicted);
    assert_eq!(missed["next_cursor"], evicted);
    assert_eq!(missed["from"], page["missed_from"]);
    assert_eq!(
        missed["from"],
        json!([{"account": account, "seq": seqs[evicted as usize - 1]}])
    );
    let got: Vec<_> = ws.entries(kept).iter().map(entry).collect();
    assert_eq!(
        got.iter().map(|e| (e.0, e.2)).collect::<Vec<_>>(),
        (evicted as usize..40)
            .map(|i| (i as u64, seqs[i]))
            .collect::<Vec<_>>()
    );
    // What was missed comes back through the account's history.
    let after = seqs[0].saturating_sub(1);
    let recovered = ok(s
        .get(
            &format!("/v1/users/0/recover?account={account}&after={after}&limit={evicted}"),
            &user_token,
        )
        .send()
        .unwrap());
    let got: Vec<u64> = recovered["messages"]
        .as_array()
        .expect("recovered messages")
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    let expect: Vec<u64> = seqs
        .iter()
        .filter(|&&q| q > after)
        .take(evicted as usize)
        .map(|&q| u64::from(q))
        .collect();
    assert_eq!(got, expect, "{recovered}");
}

#[test]
fn pings_are_sent_and_a_silent_client_is_closed() {
    let s = Server::start(&["--ping-interval-secs", "1", "--pong-timeout-secs", "1"]);
    setup(&s, 1);
    let user_token = s.user_token(0);
    // A client that reads answers pings (tungstenite queues the pong and sends it with
    // its next read) and stays connected.
    let mut alive = Ws::connect(&s, &user_token, "cursor=0");
    alive.hello(0);
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_millis(3500) {
        alive
            .socket
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match alive.socket.read() {
            Ok(tungstenite::Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(pings >= 2, "{pings} pings in 3.5 s at a 1 s interval");

    // A client that never reads never answers: closed with 1008 after the pong timeout.
    let mut silent = Ws::connect(&s, &user_token, "cursor=0");
    std::thread::sleep(Duration::from_millis(3000));
    silent.hello(0);
    let close = silent.next_json();
    assert_eq!(
        (close["type"].as_str(), close["code"].as_u64()),
        (Some("close"), Some(1008)),
        "{close}"
    );
}

/// A 60 KB article (20,000 three-byte characters: the largest body).
fn big_article(i: usize) -> Value {
    json!({
        "type": "article",
        "title": format!("issue {i}"),
        "summary": "s",
        "body": "文".repeat(19_990) + &format!("{i:>10}"),
        "cover": {"media_id": "cover", "format": "jpeg", "bytes": 1000, "duration_secs": 0},
    })
}

#[test]
fn a_slow_client_stalls_nobody_and_catches_up_with_everything() {
    const FOLLOWERS: u32 = 1_000_000;
    const SENDS: usize = 30; // within the 32 entries an inbox keeps
    let s = Server::start(&[]);
    s.add_users(FOLLOWERS);
    let (account, token) = s.account("big");
    for chunk in (0..FOLLOWERS).collect::<Vec<_>>().chunks(1_000) {
        let r = s
            .post(
                &format!("/v1/accounts/{account}/followers"),
                ADMIN,
                json!({"users": chunk}),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let slow_user = 500_000;
    let fast_users = [0, 250_000, 999_999];
    // A small receive buffer: the slow client's socket fills after a few frames.
    let mut slow = Ws::try_connect(
        &s,
        Auth::Header(&s.user_token(slow_user)),
        "cursor=0",
        Some(4096),
    )
    .unwrap();
    slow.hello(slow_user);
    let fast: Vec<_> = fast_users
        .iter()
        .map(|&u| {
            let mut ws = Ws::connect(&s, &s.user_token(u), "cursor=0");
            ws.hello(u);
            std::thread::spawn(move || {
                let frames = ws.entries(SENDS);
                (
                    Instant::now(),
                    frames
                        .iter()
                        .map(|f| f["seq"].as_u64().unwrap())
                        .collect::<Vec<_>>(),
                )
            })
        })
        .collect();
    // The slow client stops reading now.
    let mut seqs = Vec::new();
    for i in 0..SENDS {
        let seq = s.send(
            account,
            &token,
            json!({"message": big_article(i), "audience": {"type": "all"}}),
        );
        seqs.push(seq as u64);
    }
    let sent = Instant::now();
    for handle in fast {
        let (done, got) = handle.join().unwrap();
        assert_eq!(got, seqs, "a fast client got every send, in order");
        // On time: while the slow one still has not read anything.
        assert!(done.duration_since(sent) < Duration::from_secs(20));
    }
    // The slow one reads again: every send, in order, once; no `missed`.
    let frames = slow.entries(SENDS);
    let got: Vec<_> = frames
        .iter()
        .map(|f| (f["cursor"].as_u64().unwrap(), f["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        got,
        seqs.iter()
            .enumerate()
            .map(|(i, &q)| (i as u64, q))
            .collect::<Vec<_>>()
    );
    for (i, frame) in frames.iter().enumerate() {
        let body = frame["message"]["body"].as_str().unwrap();
        assert!(body.ends_with(&format!("{i:>10}")));
    }
    let job = s.wait_job(account, &token, *seqs.last().unwrap() as u32);
    assert_eq!(job["sent"], FOLLOWERS as u64, "{job}");
}

#[test]
fn a_client_whose_socket_fills_switches_to_catching_up_and_loses_nothing() {
    // More than the kernel's socket buffers hold (up to 4 MiB on the sending side): the
    // server's writes to the slow client block, and what follows waits in its inbox.
    const SENDS: usize = 120; // 120 × 60 KB
    let s = Server::start(&["--inbox-capacity", "256"]);
    let (account, token) = setup(&s, 2);
    let mut slow =
        Ws::try_connect(&s, Auth::Header(&s.user_token(0)), "cursor=0", Some(4096)).unwrap();
    slow.hello(0);
    let mut fast = Ws::connect(&s, &s.user_token(1), "cursor=0");
    fast.hello(1);
    let reader = std::thread::spawn(move || fast.entries(SENDS).len());
    let switches =
        |s: &Server| metric(s, "herald_gateway_catchup_switches_total{transport=\"ws\"}");
    let before = switches(&s);
    let seqs: Vec<u64> = (0..SENDS)
        .map(|i| {
            let body = json!({"message": big_article(i), "audience": {"type": "all"}});
            u64::from(s.send(account, &token, body))
        })
        .collect();
    assert_eq!(
        reader.join().unwrap(),
        SENDS,
        "the fast client got everything meanwhile"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while switches(&s) <= before {
        if Instant::now() > deadline {
            let text = s
                .client
                .get(s.url("/metrics"))
                .send()
                .unwrap()
                .text()
                .unwrap();
            let gw: Vec<_> = text.lines().filter(|l| l.contains("gateway")).collect();
            panic!("no switch to catching up was counted: {gw:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let got: Vec<(u64, u64)> = slow
        .entries(SENDS)
        .iter()
        .map(|f| (f["cursor"].as_u64().unwrap(), f["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        got,
        seqs.iter()
            .enumerate()
            .map(|(i, &q)| (i as u64, q))
            .collect::<Vec<_>>()
    );
}

#[cfg(unix)]
#[test]
fn after_sigkill_clients_resume_gap_free() {
    let dir = temp_dir("gateway-kill");
    // Inboxes that hold every send of the test: the resumed client must get all of them.
    let args = ["--admin-key", ADMIN, "--inbox-capacity", "4096"];
    let s = Server::start_durable(&dir, &args);
    let (account, token) = setup(&s, 3);
    let user_token = s.user_token(2);
    let mut ws = Ws::connect(&s, &user_token, "cursor=0");
    ws.hello(2);
    // Sends run from another thread while the client reads; the server is killed in the
    // middle of them.
    let base = s.base.clone();
    let sender = {
        let token = token.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut acked = Vec::new();
            for i in 0..1000 {
                let r = client
                    .post(format!("{base}/v1/accounts/{account}/sends"))
                    .bearer_auth(&token)
                    .json(&json!({"message": text(&format!("m{i}")), "audience": {"type": "all"}}))
                    .send();
                match r {
                    Ok(r) if r.status().is_success() => {
                        acked.push(r.json::<Value>().unwrap()["seq"].as_u64().unwrap())
                    }
                    _ => break,
                }
            }
            acked
        })
    };
    let mut seen: Vec<(u64, u64)> = Vec::new();
    while seen.len() < 20 {
        let f = ws.next_json();
        seen.push((f["cursor"].as_u64().unwrap(), f["seq"].as_u64().unwrap()));
    }
    let mut s = s;
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
    let acked = sender.join().unwrap();
    // Whatever else the old connection had received before the kill counts as seen.
    loop {
        match ws.socket.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let f: Value = serde_json::from_str(t.as_str()).unwrap();
                if f["type"] == "message" {
                    seen.push((f["cursor"].as_u64().unwrap(), f["seq"].as_u64().unwrap()));
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    drop(s);
    let s = Server::start_durable(&dir, &args);
    let resume = seen.last().unwrap().0 + 1;
    let mut ws = Ws::connect(&s, &user_token, &format!("cursor={resume}"));
    assert_eq!(ws.hello(2), resume);
    // Every acknowledged send is in the inbox after a restart; entries of sends that were
    // in flight at the kill may be there too (durable but not yet acknowledged).
    let in_inbox = {
        let mut all = Vec::new();
        let mut cursor = resume;
        loop {
            let page = s.inbox(2, &user_token, cursor);
            let items = page["items"].as_array().unwrap().clone();
            if items.is_empty() {
                break;
            }
            cursor = page["next_cursor"].as_u64().unwrap();
            all.extend(items);
        }
        all.len()
    };
    seen.extend(
        ws.entries(in_inbox)
            .iter()
            .map(|f| (f["cursor"].as_u64().unwrap(), f["seq"].as_u64().unwrap())),
    );
    // Gap-free and once: cursors 0, 1, 2, ... and sequences ascending without repeats.
    for (i, (cursor, _)) in seen.iter().enumerate() {
        assert_eq!(*cursor, i as u64, "{seen:?}");
    }
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "{seen:?}");
    let seqs: std::collections::HashSet<u64> = seen.iter().map(|e| e.1).collect();
    let lost: Vec<_> = acked.iter().filter(|q| !seqs.contains(q)).collect();
    assert!(lost.is_empty(), "acknowledged and never received: {lost:?}");
    assert!(acked.len() >= 20);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn sigterm_sends_each_client_a_reconnect_hint() {
    let dir = temp_dir("gateway-term");
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    let (account, token) = setup(&s, 1);
    let user_token = s.user_token(0);
    let mut ws = Ws::connect(&s, &user_token, "cursor=0");
    ws.hello(0);
    let mut sse = Sse::connect(&s, &user_token, "cursor=0", None);
    assert_eq!(sse.next_event().unwrap().event, "hello");
    let seq = send_text(&s, account, &token, "before");
    assert_eq!(ws.entries(1)[0]["seq"], seq);
    assert_eq!(sse.next_event().unwrap().event, "message");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let hint = ws.next_json();
    assert_eq!(hint["type"], "reconnect", "{hint}");
    assert!(hint["after_ms"].as_u64().unwrap() < 5000);
    let close = ws.next_json();
    assert_eq!(
        (close["type"].as_str(), close["code"].as_u64()),
        (Some("close"), Some(1001))
    );
    let event = sse.next_event().unwrap();
    assert_eq!(event.event, "reconnect");
    assert!(event.retry.unwrap() < 5000);
    assert!(sse.next_event().is_none(), "the stream ends after the hint");
    let mut s = s;
    let exit = s.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
