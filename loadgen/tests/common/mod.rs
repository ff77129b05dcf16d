//! What the loadgen integration tests share.

use std::process::Command;

/// Runs `loadgen ARGS --json FILE` and returns the JSON, after checking the run succeeded
/// and that the JSON names its scenario, the machine, the compiler and the commit, as every
/// scenario's JSON does.
pub fn loadgen(args: &[&str]) -> serde_json::Value {
    let name = args
        .join("-")
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "");
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}-{name}", std::process::id()));
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
