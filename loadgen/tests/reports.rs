//! The measuring scenarios at a tiny size (`fanout`, `graph`, `mixed`, `compare`): each runs,
//! verifies what it checks, and writes JSON that names the scenario, the machine, the
//! compiler and the commit, the same way in every scenario (`crash` and `restart` are run by
//! `crash_restart.rs`, which checks the same fields).

mod common;

use common::loadgen;

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
