//! `loadgen net` at CI size: 200 WebSocket clients of a real `herald-server` child process,
//! 20 broadcasts, 10% slow clients; every client verified, and the JSON the README's table
//! comes from. With `redis-server` and `nats-server` on PATH (`.ci/run` installs them),
//! `--compare` runs them too, so their clients are checked as well.

mod common;

use common::loadgen;
use serde_json::Value;

/// The `herald-server` built beside this test (`cargo test --workspace` builds it for the
/// server's own tests).
fn server_bin() -> String {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("herald-server");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin.display().to_string()
}

fn assert_verified(result: &Value) {
    assert_eq!(result["verified"], true, "{result}");
    assert_eq!(result["lost"], 0, "{result}");
    assert_eq!(result["duplicates"], 0, "{result}");
    assert_eq!(result["out_of_order"], 0, "{result}");
    assert!(
        result["deliveries_per_sec"].as_f64().unwrap() > 0.0,
        "{result}"
    );
    let latency = &result["latency_ms"];
    let p50 = latency["p50"].as_f64().unwrap();
    assert!(
        p50 > 0.0 && p50 <= latency["p99"].as_f64().unwrap(),
        "{result}"
    );
    assert!(latency["p99"].as_f64().unwrap() <= latency["max"].as_f64().unwrap());
    assert!(result["bytes_per_connection"].as_f64().unwrap().is_finite());
    assert!(result["sends_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn herald_delivers_every_message_once_in_order_to_fast_and_slow_clients() {
    let bin = server_bin();
    let report = loadgen(&[
        "net",
        "--connections",
        "200",
        "--messages",
        "20",
        "--slow-share",
        "0.1",
        "--slow-pause-ms",
        "300",
        "--server-bin",
        &bin,
    ]);
    assert_eq!(report["connections"], 200);
    assert_eq!(report["messages"], 20);
    assert_eq!(report["payload"], 64);
    assert_eq!(report["durable"], true);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{report}");
    assert_eq!(results[0]["system"], "herald");
    assert_verified(&results[0]);
    let slow = &report["slow"];
    assert_eq!(slow["share"], 0.1);
    let run = &slow["results"][0];
    assert_eq!(run["system"], "herald", "{slow}");
    assert_eq!(run["slow"]["clients"], 20, "{slow}");
    assert_eq!(run["slow"]["expected"], 20 * 20);
    assert_eq!(run["slow"]["received"], 20 * 20, "{slow}");
    assert_eq!(run["slow"]["verified"], true, "{slow}");
    assert_eq!(run["others"]["clients"], 180);
    assert_eq!(run["others"]["verified"], true, "{slow}");
}

#[test]
fn compare_runs_redis_and_nats_when_installed_and_herald_at_redis_pace() {
    let bin = server_bin();
    let report = loadgen(&[
        "net",
        "--connections",
        "100",
        "--messages",
        "10",
        "--payload",
        "100",
        "--in-memory",
        "--compare",
        "--server-bin",
        &bin,
    ]);
    assert_eq!(report["durable"], false);
    let on_path = |p: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap()).any(|d| d.join(p).is_file())
    };
    let mut expected = vec!["herald"];
    let mut skipped = vec![];
    for (system, program) in [("redis", "redis-server"), ("nats", "nats-server")] {
        if on_path(program) {
            expected.push(system);
        } else {
            skipped.push(system);
        }
    }
    let systems: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["system"].as_str().unwrap())
        .collect();
    assert_eq!(systems, expected, "{report}");
    assert_eq!(report["skipped"], serde_json::json!(skipped));
    for result in report["results"].as_array().unwrap() {
        assert_verified(result);
    }
    if expected.contains(&"redis") {
        let paced = &report["paced"];
        assert_eq!(paced["as"], "redis", "{report}");
        assert_verified(&paced["result"]);
        let redis_rate = report["results"][1]["sends_per_sec"].as_f64().unwrap();
        assert_eq!(paced["send_rate"].as_f64().unwrap(), redis_rate);
    } else {
        assert!(report["paced"].is_null());
    }
}
