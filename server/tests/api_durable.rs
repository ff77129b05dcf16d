//! A durable server: its keys and credentials survive a restart, acknowledged changes
//! survive SIGKILL, and SIGTERM stops it cleanly (exit 0, final snapshot).

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn admin_key_of(s: &Server) -> String {
    s.banner
        .iter()
        .find_map(|l| {
            l.strip_prefix("admin key (generated, kept in ")
                .map(|r| r.split(": ").nth(1).unwrap().to_string())
        })
        .expect("the generated admin key is printed at first start")
}

#[test]
fn acknowledged_sends_survive_sigkill() {
    let dir = temp_dir("kill");
    let s = Server::start_durable(&dir, &[]);
    assert!(s.banner.iter().any(|l| l.starts_with("durable engine in")));
    let admin = admin_key_of(&s);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["admin.key", "server.key"] {
            let mode = std::fs::metadata(dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    let post = |s: &Server, path: &str, body: serde_json::Value| {
        ok(s.post(path, &admin, body).send().unwrap())
    };
    post(&s, "/v1/users", json!({"count": 3}));
    let a = post(&s, "/v1/accounts", json!({"name": "news"}));
    let creds = json!({"appid": a["appid"], "secret": a["secret"]});
    let open =
        post(&s, "/v1/accounts/0/followers", json!({"users": [0, 1, 2]}))["open_ids"].clone();
    let token = ok(s
        .client
        .post(s.url("/v1/token"))
        .json(&creds)
        .send()
        .unwrap())["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let user_token = post(&s, "/v1/users/1/token", json!({}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seqs = Vec::new();
    for i in 0..20 {
        let body = json!({"message": text(&format!("m{i}")), "audience": {"type": "all"}});
        seqs.push(s.send(0, &token, body));
    }
    drop(s); // SIGKILL, right after the last acknowledgement

    let s = Server::start_durable(&dir, &[]);
    assert!(
        !s.banner.iter().any(|l| l.contains("admin key")),
        "printed once only: {:?}",
        s.banner
    );
    // Same admin key, same credentials, same tokens, same OpenIDs.
    err(
        s.post("/v1/accounts/0/followers", &admin, json!({"users": [0]}))
            .send()
            .unwrap(),
        409,
        "already_following",
    );
    ok(s.client
        .post(s.url("/v1/token"))
        .json(&creds)
        .send()
        .unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    for &seq in &seqs {
        loop {
            let r = ok(s
                .get(&format!("/v1/accounts/0/jobs/{seq}"), &token)
                .send()
                .unwrap());
            if r["status"] == "done" {
                assert_eq!(r["sent"], 3);
                break;
            }
            assert!(Instant::now() < deadline, "job {seq}: {r}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let inbox = s.inbox(1, &user_token, 0);
    let texts: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content"]["message"]["text"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected, "every acknowledged send once, in order");
    // OpenIDs are stable: tagging with the OpenIDs from before the kill works.
    let tag = ok(s
        .post("/v1/accounts/0/tags", &token, json!({"name": "t"}))
        .send()
        .unwrap())["tag"]
        .clone();
    let changed = ok(s
        .post(
            &format!("/v1/accounts/0/tags/{tag}/members"),
            &token,
            json!({"open_ids": open}),
        )
        .send()
        .unwrap());
    assert_eq!(changed["changed"], 3);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn follows_survive_sigkill_and_sigterm_exits_cleanly() {
    let dir = temp_dir("term");
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    assert!(
        !std::fs::exists(dir.join("admin.key")).unwrap(),
        "a given admin key is not stored"
    );
    s.add_users(2);
    let (a, _) = s.account("news");
    let open = s.follow(a, &[0, 1]);
    drop(s);

    let mut s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    err(
        s.post(
            &format!("/v1/accounts/{a}/followers"),
            ADMIN,
            json!({"users": [1]}),
        )
        .send()
        .unwrap(),
        409,
        "already_following",
    );
    let (b, _) = s.account("other");
    assert_eq!(b, a + 1);
    assert_eq!(s.follow(b, &[0]).len(), 1);
    assert_eq!(open.len(), 2);

    #[cfg(unix)]
    {
        let pid = s.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = s.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        let snapshots = std::fs::read_dir(dir.join("engine"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("snap")
            })
            .count();
        assert!(snapshots > 0, "a final snapshot was taken");
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn snapshot_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("engine"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("snap")
        })
        .count()
}

#[test]
fn a_durable_server_snapshots_periodically() {
    let dir = temp_dir("periodic");
    let s = Server::start_durable(
        &dir,
        &["--admin-key", ADMIN, "--snapshot-interval-secs", "1"],
    );
    s.add_users(2);
    let before = snapshot_count(&dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    while snapshot_count(&dir) == before {
        assert!(Instant::now() < deadline, "no periodic snapshot");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_sends_to_a_durable_server_all_arrive_in_order() {
    let dir = temp_dir("concurrent");
    let s = Server::start_durable(&dir, &["--admin-key", ADMIN]);
    s.add_users(3);
    let accounts: Vec<(u32, String)> = (0..2).map(|i| s.account(&format!("a{i}"))).collect();
    for (a, _) in &accounts {
        s.follow(*a, &[0, 1, 2]);
    }
    let seqs: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|thread| {
                let (a, t) = accounts[thread % 2].clone();
                let s = &s;
                scope.spawn(move || {
                    (0..4)
                        .map(|i| {
                            let body = json!({"message": text(&format!("t{thread}-{i}")), "audience": {"type": "all"}});
                            (a, s.send(a, &t, body))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut per_account = vec![Vec::new(), Vec::new()];
        for h in handles {
            for (a, seq) in h.join().unwrap() {
                per_account[a as usize].push(seq);
            }
        }
        per_account
    });
    for (a, t) in &accounts {
        for &seq in &seqs[*a as usize] {
            s.wait_job(*a, t, seq);
        }
    }
    let u = s.user_token(2);
    let items = s.inbox(2, &u, 0)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 32);
    for (a, _) in &accounts {
        let got: Vec<u64> = items
            .iter()
            .filter(|i| i["account"] == *a)
            .map(|i| i["seq"].as_u64().unwrap())
            .collect();
        let mut expected: Vec<u64> = seqs[*a as usize].iter().map(|&s| u64::from(s)).collect();
        expected.sort_unstable();
        assert_eq!(
            got, expected,
            "account {a}: every send once, in sequence order"
        );
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
