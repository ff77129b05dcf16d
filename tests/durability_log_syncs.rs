//! The write-ahead log's fsync histogram: counted by a durable engine, absent in memory.

mod common;

use herald::{Engine, EngineConfig};

#[test]
fn a_durable_engine_counts_its_fsyncs_in_ascending_cumulative_buckets() {
    assert_eq!(Engine::new(EngineConfig::default()).log_syncs(), None);
    let dir = common::disk::fresh_dir("log-syncs");
    let engine = Engine::open(&dir, EngineConfig::default()).unwrap();
    let before = engine.log_syncs().unwrap().count;
    // Each change waits for the group commit's fsync.
    for i in 0..5 {
        engine.register_account(&format!("a{i}")).unwrap();
    }
    let syncs = engine.log_syncs().unwrap();
    assert!(syncs.count > before, "{syncs:?}");
    assert!(syncs.sum > std::time::Duration::ZERO);
    assert!(
        syncs
            .buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    assert!(syncs.buckets.last().unwrap().1 <= syncs.count);
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}
