//! What crashes and full disks leave in a data directory, and how opening it copes.
//!
//! Regressions:
//! - temporary files of snapshots interrupted by a crash were never removed (37 to 40 of
//!   them, about 1 GB, per 48 crash rounds of `loadgen crash`);
//! - a log segment that a full disk left with zero bytes (or a header of zeros) made
//!   `Engine::open` fail with `Corrupt("... is not a herald log segment")` when later
//!   segments followed it, as an engine before the log's retry wrote them.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::disk::{files_ending, fresh_dir as dir};
use herald::{AccountId, Engine, EngineConfig, SyncPolicy, UserId};

fn config(segment_bytes: u64) -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: 8,
        openid_secret: *b"leftover-tests-0",
        sync: SyncPolicy::Always,
        segment_bytes,
        ..EngineConfig::default()
    }
}

#[test]
fn temporary_files_of_interrupted_snapshots_are_removed_on_open() {
    let dir = dir("leftover-tmp");
    let engine = Engine::open(&dir, config(64 << 20)).unwrap();
    engine.add_users(10).unwrap();
    let snapshot = engine.snapshot().unwrap();
    drop(engine);
    // What a process killed while writing snapshots leaves: `*.tmp` beside the snapshots.
    for lsn in [snapshot.lsn + 1, snapshot.lsn + 7] {
        fs::write(
            dir.join(format!("snapshot-{lsn:020}.tmp")),
            vec![0xab; 1 << 20],
        )
        .unwrap();
    }
    let engine = Engine::open(&dir, config(64 << 20)).unwrap();
    assert!(files_ending(&dir, ".tmp").is_empty());
    let warnings = engine.recovery_warnings().join("\n");
    assert_eq!(
        warnings.matches("removed unfinished snapshot").count(),
        2,
        "{warnings}"
    );
    assert_eq!(engine.user_count(), 10);
    drop(engine);
    let _ = fs::remove_dir_all(&dir);
}

/// A directory whose log has one segment per follow, users 0..20 following account 0.
fn one_segment_per_follow(name: &str) -> (PathBuf, Vec<PathBuf>) {
    let dir = dir(name);
    let engine = Engine::open(&dir, config(1)).unwrap();
    engine.add_users(20).unwrap();
    let account = engine.register_account("news").unwrap();
    for u in 0..20 {
        engine.follow(account, UserId(u), None).unwrap();
    }
    drop(engine);
    let segments = files_ending(&dir, ".wal");
    assert!(segments.len() >= 20, "{segments:?}");
    (dir, segments)
}

/// Opens `dir` and returns the users following account 0 and the warnings.
fn reopen(dir: &Path) -> (Vec<u32>, String) {
    let engine = Engine::open(dir, config(1)).expect("a directory the engine wrote opens");
    let following = (0..20)
        .filter(|&u| engine.is_following(AccountId(0), UserId(u)).unwrap())
        .collect();
    (following, engine.recovery_warnings().join("\n"))
}

#[test]
fn a_segment_left_empty_by_a_full_disk_ends_the_log_there() {
    let (dir, segments) = one_segment_per_follow("leftover-empty");
    // The segment of the 11th follow (the last three hold add_users, register and follows
    // 0..10 before it) as a full disk left it: created, its header never written.
    let hole = &segments[segments.len() - 10];
    fs::write(hole, b"").unwrap();
    let (following, warnings) = reopen(&dir);
    assert_eq!(following, (0..10).collect::<Vec<_>>());
    assert!(
        warnings.contains("its header was never written"),
        "{warnings}"
    );
    assert!(warnings.contains("does not continue the log"), "{warnings}");
    // The cut is made once: the directory opens again without warnings, and takes changes.
    let engine = Engine::open(&dir, config(1)).unwrap();
    assert!(
        engine
            .recovery_warnings()
            .iter()
            .all(|w| !w.contains("segment"))
    );
    engine.follow(AccountId(0), UserId(15), None).unwrap();
    drop(engine);
    let (following, _) = reopen(&dir);
    assert_eq!(following.len(), 11);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_segment_whose_header_is_zeros_counts_as_never_written() {
    let (dir, segments) = one_segment_per_follow("leftover-zeros");
    // A crash after the file's size reached the disk but before its bytes did.
    let hole = &segments[segments.len() - 5];
    let len = fs::metadata(hole).unwrap().len() as usize;
    fs::write(hole, vec![0u8; len]).unwrap();
    let (following, warnings) = reopen(&dir);
    assert_eq!(following, (0..15).collect::<Vec<_>>());
    assert!(
        warnings.contains("its header was never written"),
        "{warnings}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Regression (review): a header of zeros before intact records was taken for a segment
/// never written, and it and every later segment were removed with their acknowledged
/// records. The header is fsynced before any record is written: that is damage.
#[test]
fn a_zero_header_before_records_is_damage_not_an_empty_segment() {
    let (dir, segments) = one_segment_per_follow("leftover-zero-header");
    let hole = &segments[segments.len() - 5];
    let mut bytes = fs::read(hole).unwrap();
    assert!(bytes.len() > 16);
    bytes[..16].fill(0);
    fs::write(hole, bytes).unwrap();
    let err = Engine::open(&dir, config(1)).unwrap_err();
    assert!(matches!(err, herald::StoreError::Corrupt(_)), "{err}");
    assert_eq!(
        files_ending(&dir, ".wal").len(),
        segments.len(),
        "nothing removed"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_segment_with_a_foreign_header_is_still_refused() {
    let (dir, segments) = one_segment_per_follow("leftover-foreign");
    let hole = &segments[segments.len() - 5];
    fs::write(hole, b"this is not a log segment at all").unwrap();
    let err = Engine::open(&dir, config(1)).unwrap_err();
    assert!(matches!(err, herald::StoreError::Corrupt(_)), "{err}");
    let _ = fs::remove_dir_all(&dir);
}
