//! `loadgen restart`: builds a Zipf follow graph on a durable engine, snapshots it, drops the
//! engine, opens the directory again and verifies every edge. Reports how long the snapshot
//! took to write, how long the restore took (open to ready for sends), and its size.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, ensure};
use herald::{AccountId, Engine, EngineConfig, SyncPolicy, UserId};
use serde::Serialize;

use crate::report::{Machine, MeasuredOn, peak_rss_bytes, thousands};
use crate::systems::follow_zipf_graph;
use crate::workload::ZipfGraph;

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    /// Follow edges to build.
    #[arg(long, default_value_t = 100_000_000)]
    pub edges: u64,
    /// Accounts; their follower counts follow a Zipf law.
    #[arg(long, default_value_t = 100_000)]
    pub accounts: u32,
    /// Users.
    #[arg(long, default_value_t = 10_000_000)]
    pub users: u32,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Data directory (default: a fresh one under the system's temporary directory,
    /// removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct JsonReport {
    scenario: &'static str,
    edges: u64,
    snapshot_write_ms: f64,
    restore_ms: f64,
    snapshot_bytes: u64,
    bytes_per_edge: f64,
    verified: bool,
    #[serde(flatten)]
    measured_on: MeasuredOn,
}

pub fn run_restart(args: &RestartArgs) -> anyhow::Result<()> {
    ensure!(
        args.users >= 1 && args.accounts >= 1,
        "--users and --accounts must be at least 1"
    );
    let machine = Machine::detect();
    let (dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("herald-restart-{}", std::process::id())),
            true,
        ),
    };
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "loadgen restart: {} edges over {} accounts and {} users in {}",
        thousands(args.edges),
        thousands(args.accounts.into()),
        thousands(args.users.into()),
        dir.display()
    );
    println!("machine: {}", machine.describe());
    let config = || EngineConfig {
        // Building 100M edges is a bulk import: the snapshot below is what makes it
        // durable, so the log need not be forced to disk during it.
        sync: SyncPolicy::None,
        openid_secret: *b"loadgen-restart!",
        ..EngineConfig::default()
    };
    let spec = ZipfGraph {
        accounts: args.accounts,
        users: args.users,
        edges: args.edges,
        exponent: 1.0,
        seed: args.seed,
    };
    let sizes = spec.sizes();

    let engine = Engine::open(&dir, config()).context("opening the data directory")?;
    ensure!(engine.user_count() == 0, "{} is not empty", dir.display());
    let started = Instant::now();
    engine.add_users(args.users)?;
    for i in 0..args.accounts {
        engine.register_account(&format!("account {i}"))?;
    }
    follow_zipf_graph(&engine, &spec, &sizes, machine.cores)?;
    let edges = engine.follow_edges();
    println!(
        "built {} edges in {:.1} s",
        thousands(edges),
        started.elapsed().as_secs_f64()
    );
    let synced = Instant::now();
    engine.sync()?;
    println!(
        "log of the import fsynced in {:.0} ms",
        synced.elapsed().as_secs_f64() * 1e3
    );
    let stats = engine.snapshot()?;
    println!(
        "snapshot: {:.1} MB in {:.0} ms (changes paused for {:.1} ms)",
        stats.bytes as f64 / 1e6,
        stats.total.as_secs_f64() * 1e3,
        stats.pause.as_secs_f64() * 1e3
    );
    drop(engine);

    let opened = Instant::now();
    let engine = Engine::open(&dir, config()).context("reopening the data directory")?;
    let restore = opened.elapsed();
    println!("restored in {:.0} ms", restore.as_secs_f64() * 1e3);
    for w in engine.recovery_warnings() {
        println!("warning: {w}");
    }
    let checked = Instant::now();
    let verified = verify(&engine, &spec, &sizes, machine.cores);
    println!(
        "verified every edge in {:.1} s: {}",
        checked.elapsed().as_secs_f64(),
        if verified { "ok" } else { "FAILED" }
    );
    let per_edge = stats.bytes as f64 / edges.max(1) as f64;
    println!(
        "snapshot bytes per edge: {per_edge:.2}; peak RSS {:.2} GiB",
        peak_rss_bytes() as f64 / (1u64 << 30) as f64
    );
    drop(engine);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Some(path) = &args.json {
        let report = JsonReport {
            scenario: "restart",
            edges,
            snapshot_write_ms: stats.total.as_secs_f64() * 1e3,
            restore_ms: restore.as_secs_f64() * 1e3,
            snapshot_bytes: stats.bytes,
            bytes_per_edge: per_edge,
            verified,
            measured_on: MeasuredOn::new(&machine),
        };
        std::fs::write(path, serde_json::to_string(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    ensure!(verified, "the restored graph differs from the one built");
    Ok(())
}

/// Every edge of every account, both directions' counts, and a sample of reverse lists.
fn verify(engine: &Engine, spec: &ZipfGraph, sizes: &[u32], threads: usize) -> bool {
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut edges = 0u64;
                    for rank in (t..sizes.len()).step_by(threads) {
                        let account = AccountId(rank as u32);
                        let expected = spec.followers(rank as u32, sizes[rank]);
                        if engine.follower_count(account).ok() != Some(expected.len() as u64) {
                            return None;
                        }
                        if !expected
                            .iter()
                            .all(|&u| engine.is_following(account, UserId(u)) == Ok(true))
                        {
                            return None;
                        }
                        if !expected.iter().step_by(4_099).all(|&u| {
                            engine
                                .following(UserId(u))
                                .is_ok_and(|a| a.contains(&account))
                        }) {
                            return None;
                        }
                        edges += expected.len() as u64;
                    }
                    Some(edges)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().ok().flatten())
            .sum::<Option<u64>>()
    })
    .unwrap_or(u64::MAX);
    total == engine.follow_edges()
}
