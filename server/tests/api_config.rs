//! Settings: flags over `HERALD_*` variables over the `--config` file over defaults.

mod common;

use common::*;
use serde_json::json;

fn admin_works(s: &Server, key: &str) -> bool {
    s.post("/v1/users", key, json!({"count": 1}))
        .send()
        .unwrap()
        .status()
        .is_success()
}

#[test]
fn flags_override_env_which_overrides_the_file() {
    let dir = temp_dir("config");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald.toml");
    std::fs::write(
        &file,
        "admin_key = \"from-file\"\nbody_limit = 64\ntoken_ttl_secs = 60\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let s = Server::start_raw(&["--config", f]);
    assert!(admin_works(&s, "from-file"));
    assert!(!s.banner.iter().any(|l| l.contains("admin key")));
    // body_limit from the file.
    let big = json!({"name": "x".repeat(100)});
    err(
        s.post("/v1/accounts", "from-file", big).send().unwrap(),
        413,
        "body_too_large",
    );
    drop(s);

    let s = Server::start_env(&["--config", f], &[("HERALD_ADMIN_KEY", "from-env")]);
    assert!(admin_works(&s, "from-env") && !admin_works(&s, "from-file"));
    drop(s);

    let s = Server::start_env(
        &["--config", f, "--admin-key", "from-flag"],
        &[
            ("HERALD_ADMIN_KEY", "from-env"),
            ("HERALD_BODY_LIMIT", "100000"),
        ],
    );
    assert!(admin_works(&s, "from-flag") && !admin_works(&s, "from-env"));
    let a = ok(s
        .post("/v1/accounts", "from-flag", json!({"name": "x".repeat(60)}))
        .send()
        .unwrap());
    let t = ok(s
        .client
        .post(s.url("/v1/token"))
        .json(&json!({"appid": a["appid"], "secret": a["secret"]}))
        .send()
        .unwrap());
    assert_eq!(t["expires_in"], 60, "token_ttl_secs from the file");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn in_memory_generates_and_prints_an_admin_key() {
    let s = Server::start_raw(&[]);
    let key = s
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("admin key (generated for this run): "))
        .expect("printed")
        .to_string();
    assert_eq!(key.len(), 48);
    assert!(admin_works(&s, &key));
}

#[test]
fn a_bad_config_file_is_refused_at_start() {
    let dir = temp_dir("badconfig");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "listen_on = 3\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald-server"))
        .args(["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn logs_hold_no_secret_and_no_token() {
    let dir = temp_dir("logs");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("stderr.log");
    let s = Server::start_logged(&[], &[], Some(&log));
    let key = s
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("admin key (generated for this run): "))
        .unwrap()
        .to_string();
    let a = ok(s
        .post("/v1/accounts", &key, json!({"name": "n"}))
        .send()
        .unwrap());
    let t = ok(s
        .client
        .post(s.url("/v1/token"))
        .json(&json!({"appid": a["appid"], "secret": a["secret"]}))
        .send()
        .unwrap());
    let token = t["access_token"].as_str().unwrap();
    ok(s.get("/v1/accounts/0/tags", token).send().unwrap());
    err(
        s.get("/v1/accounts/0/tags", "not-a-token").send().unwrap(),
        401,
        "invalid_token",
    );
    drop(s);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("serving"), "debug logs were written: {logs}");
    for secret in [key.as_str(), a["secret"].as_str().unwrap(), token] {
        assert!(!logs.contains(secret), "a secret in the logs");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
