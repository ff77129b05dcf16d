//! Adding more users than memory allows.
//!
//! Regression: `add_users(1_000_000_000)` under an address-space limit aborted the whole
//! process with "memory allocation of N bytes failed" instead of returning an error: the
//! reverse index and the inboxes were sized by the caller's number with infallible
//! allocations. Now the memory is reserved fallibly before anything is logged, and the
//! call returns `AddUsersError::OutOfMemory`, changing nothing.
//!
//! The limit applies to the whole process, so the test runs itself again in a child with
//! `ulimit -v` (the shell's `setrlimit(RLIMIT_AS)`).

use std::process::Command;

use herald::{AddUsersError, Engine, EngineConfig, UserId};

const CHILD: &str = "HERALD_OOM_CHILD";

/// 3 GiB of address space: enough for the test harness and an engine, far from enough for
/// a billion users (8 bytes each in the reverse index alone).
const LIMIT_KIB: u64 = 3 << 20;

#[test]
fn adding_more_users_than_memory_allows_is_an_error_not_an_abort() {
    if std::env::var_os(CHILD).is_some() {
        in_the_child();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {LIMIT_KIB} && exec \"$0\" --exact adding_more_users_than_memory_allows_is_an_error_not_an_abort --nocapture --test-threads 1"
        ))
        .arg(&exe)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

fn in_the_child() {
    let engine = Engine::new(EngineConfig {
        threads: 2,
        ..EngineConfig::default()
    });
    let users = engine.add_users(1_000).unwrap();
    let account = engine.register_account("news").unwrap();
    engine.follow(account, users.first(), None).unwrap();
    let before = engine.memory_usage();
    // 100M users: their 800 MB of reverse index fit, their 28 GB of inboxes do not; the
    // first reservation is given back when the second fails.
    match engine.add_users(100_000_000) {
        Err(AddUsersError::OutOfMemory { existing, asked }) => {
            assert_eq!((existing, asked), (1_000, 100_000_000));
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    let after = engine.memory_usage();
    assert_eq!(
        (after.reverse_bytes, after.inbox_bytes),
        (before.reverse_bytes, before.inbox_bytes)
    );
    // A billion: already the reverse index does not fit.
    match engine.add_users(1_000_000_000) {
        Err(AddUsersError::OutOfMemory { existing, asked }) => {
            assert_eq!((existing, asked), (1_000, 1_000_000_000));
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // Nothing changed, and what was reserved on the way was given back: the engine goes on.
    assert_eq!(engine.user_count(), 1_000);
    let more = engine.add_users(1_000).unwrap();
    assert_eq!((more.first(), more.len()), (UserId(1_000), 1_000));
    engine.follow(account, UserId(1_500), None).unwrap();
    assert_eq!(engine.follower_count(account).unwrap(), 2);
}
