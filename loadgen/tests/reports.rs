//! The measuring scenarios at a tiny size (`fanout`, `graph`, `mixed`, `compare`): each runs,
//! verifies what it checks, and writes JSON that names the scenario, the machine, the
//! compiler and the commit, the same way in every scenario (`crash` and `restart` are run by
//! `crash_restart.rs`, which checks the same fields).

use std::process::Command;

fn loadgen(args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!(
        "loadgen-report-test-{}-{}",
        std::process::id(),
        args[0]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("out.json");
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "loadgen {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(value["scenario"], args[0], "{value}");
    assert!(value["machine"]["cores"].as_u64().unwrap() >= 1, "{value}");
    assert!(value["machine"]["memory_bytes"].is_u64(), "{value}");
    assert!(
        value["rustc"].as_str().unwrap().starts_with("rustc"),
        "{value}"
    );
    assert!(!value["commit"].as_str().unwrap().is_empty(), "{value}");
    assert_eq!(value["rustc"], value["machine"]["rustc"], "{value}");
    assert_eq!(value["commit"], value["machine"]["commit"], "{value}");
    value
}

/// A mixed workload small enough to build and run in about a second.
const TINY: [&str; 16] = [
    "--accounts",
    "20",
    "--users",
    "2000",
    "--edges",
    "20000",
    "--duration",
    "0.5",
    "--drain",
    "2",
    "--send-rate",
    "200",
    "--churn-rate",
    "2000",
    "--threads",
    "2",
];

#[test]
fn fanout_reports_verified_results() {
    let report = loadgen(&[
        "fanout",
        "--followers",
        "5000",
        "--rounds",
        "2",
        "--compare",
    ]);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{report}");
    assert!(results.iter().all(|r| r["verified"] == true), "{report}");
}

#[test]
fn graph_reports_a_verified_build() {
    let report = loadgen(&[
        "graph",
        "--edges",
        "50000",
        "--users",
        "5000",
        "--accounts",
        "100",
    ]);
    assert_eq!(report["verified"], true, "{report}");
}

#[test]
fn mixed_reports_its_workload_and_run() {
    let mut args = vec!["mixed"];
    args.extend(TINY);
    let report = loadgen(&args);
    assert_eq!(report["workload"]["users"], 2000, "{report}");
    assert_eq!(
        report["workload"]["seed"], 1,
        "the default, from mixed.toml"
    );
    assert!(
        report["sends"]["accepted"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["sends"]["refused"], 0, "{report}");
    assert_eq!(report["churn_refused"], 0, "{report}");
}

#[test]
fn compare_reports_both_systems() {
    let mut args = vec!["compare"];
    args.extend(TINY);
    let report = loadgen(&args);
    for system in ["herald", "naive"] {
        assert_eq!(report[system]["system"], system, "{report}");
        assert!(report[system]["sends"]["accepted"].as_u64().unwrap() > 0);
    }
    assert!(
        report["ratios"]["deliveries_per_sec"].is_number(),
        "{report}"
    );
}
