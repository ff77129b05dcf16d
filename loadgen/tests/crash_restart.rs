//! The durability scenarios, small: a real child process killed with SIGKILL mid-work
//! (`loadgen crash`), and a snapshot-and-reopen of a Zipf graph (`loadgen restart`). Both
//! verify their own results and exit non-zero on any violation; these tests also read the
//! JSON they write.

use std::process::Command;

fn loadgen(args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}-{}", std::process::id(), args[0]));
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
    let value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    value
}

#[test]
fn kill_9_loses_nothing_acknowledged_and_repeats_no_delivery() {
    let report = loadgen(&[
        "crash",
        "--rounds",
        "4",
        "--users",
        "30000",
        "--max-run-ms",
        "700",
        "--seed",
        "7",
    ]);
    assert_eq!(report["scenario"], "crash");
    assert_eq!(report["rounds"], 4);
    assert!(report["acked_ops"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["lost"], 0);
    assert_eq!(report["duplicates"], 0);
    assert_eq!(report["unfinished_jobs"], 0);
}

#[test]
fn a_snapshot_restores_every_edge() {
    let report = loadgen(&[
        "restart",
        "--edges",
        "300000",
        "--accounts",
        "2000",
        "--users",
        "50000",
    ]);
    assert_eq!(report["scenario"], "restart");
    assert_eq!(report["verified"], true);
    let edges = report["edges"].as_u64().unwrap();
    assert!((290_000..=310_000).contains(&edges), "{report}");
    assert!(report["snapshot_bytes"].as_u64().unwrap() > 0);
}
