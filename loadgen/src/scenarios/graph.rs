//! `loadgen graph`: builds a Zipf follow graph of E edges and reports what it costs: build
//! rate, bytes per edge (the engine's own accounting and the process's resident memory), and
//! a spot check of the edges against the generator.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, ensure};
use herald::{AccountId, Batch, Engine, EngineConfig, Sink, SinkError, UserId};
use serde::Serialize;

use crate::report::{Machine, MeasuredOn, peak_rss_bytes, rss_bytes, thousands};
use crate::systems::follow_zipf_graph;
use crate::workload::ZipfGraph;

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Follow edges to build.
    #[arg(long, default_value_t = 100_000_000)]
    pub edges: u64,
    /// Accounts; their follower counts follow a Zipf law.
    #[arg(long, default_value_t = 100_000)]
    pub accounts: u32,
    /// Users.
    #[arg(long, default_value_t = 10_000_000)]
    pub users: u32,
    /// Zipf exponent.
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads building the graph.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct JsonReport {
    scenario: &'static str,
    accounts: u32,
    users: u32,
    edges: u64,
    build_ms: f64,
    edges_per_sec: f64,
    engine_bytes_per_edge: f64,
    rss_bytes_per_edge: f64,
    peak_rss_bytes: u64,
    verified: bool,
    #[serde(flatten)]
    measured_on: MeasuredOn,
}

/// The graph scenario delivers nothing; a sink that drops batches keeps the inbox out of the
/// memory measured.
struct Discard;

impl Sink for Discard {
    fn deliver(&self, _batch: &Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

pub fn run_graph(args: &GraphArgs) -> anyhow::Result<()> {
    ensure!(
        args.users >= 1 && args.accounts >= 1,
        "--users and --accounts must be at least 1"
    );
    let machine = Machine::detect();
    let threads = args.threads.unwrap_or(machine.cores).max(1);
    let spec = ZipfGraph {
        accounts: args.accounts,
        users: args.users,
        edges: args.edges,
        exponent: args.zipf,
        seed: args.seed,
    };
    println!(
        "loadgen graph: {} edges over {} accounts (Zipf {}) and {} users, {threads} threads",
        thousands(args.edges),
        thousands(args.accounts.into()),
        args.zipf,
        thousands(args.users.into())
    );
    println!("machine: {}", machine.describe());

    let rss_before = rss_bytes();
    let engine = Engine::builder(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    })
    .sink(Arc::new(Discard))
    .build();
    engine.add_users(args.users)?;
    for i in 0..args.accounts {
        engine.register_account(&format!("account {i}"))?;
    }
    let sizes = spec.sizes();
    let start = Instant::now();
    follow_zipf_graph(&engine, &spec, &sizes, threads)?;
    let build = start.elapsed();
    let edges = engine.follow_edges();
    let rss_after = rss_bytes();
    let memory = engine.memory_usage();
    let engine_per_edge = memory.graph_bytes_per_edge();
    let rss_per_edge = rss_after.saturating_sub(rss_before) as f64 / edges.max(1) as f64;

    let verified = spot_check(&engine, &spec, &sizes);
    println!(
        "built {} edges in {:.2} s ({:.2} M edges/s)",
        thousands(edges),
        build.as_secs_f64(),
        edges as f64 / build.as_secs_f64() / 1e6
    );
    println!(
        "bytes per edge: {engine_per_edge:.2} by the engine's accounting (forward {:.2}, reverse {:.2}), {rss_per_edge:.2} by resident memory",
        memory.forward_bytes as f64 / edges.max(1) as f64,
        memory.reverse_bytes as f64 / edges.max(1) as f64,
    );
    println!(
        "peak RSS: {:.2} GiB; spot check of edges: {}",
        peak_rss_bytes() as f64 / (1u64 << 30) as f64,
        if verified { "ok" } else { "FAILED" }
    );
    if let Some(path) = &args.json {
        let report = JsonReport {
            scenario: "graph",
            accounts: args.accounts,
            users: args.users,
            edges,
            build_ms: build.as_secs_f64() * 1e3,
            edges_per_sec: edges as f64 / build.as_secs_f64(),
            engine_bytes_per_edge: engine_per_edge,
            rss_bytes_per_edge: rss_per_edge,
            peak_rss_bytes: peak_rss_bytes(),
            verified,
            measured_on: MeasuredOn::new(&machine),
        };
        std::fs::write(path, serde_json::to_string(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    ensure!(verified, "the graph does not match the generator");
    Ok(())
}

/// Checks a sample of accounts (the largest, and some from the tail) edge by edge.
fn spot_check(engine: &Engine, spec: &ZipfGraph, sizes: &[u32]) -> bool {
    let n = sizes.len();
    [0, 1, n / 100, n / 10, n / 2, n - 1]
        .into_iter()
        .filter(|&r| r < n)
        .all(|rank| {
            let account = AccountId(rank as u32);
            let expected = spec.followers(rank as u32, sizes[rank]);
            engine.follower_count(account).ok() == Some(expected.len() as u64)
                && expected
                    .iter()
                    .step_by(97)
                    .all(|&u| engine.is_following(account, UserId(u)) == Ok(true))
                && expected.iter().step_by(997).all(|&u| {
                    engine
                        .following(UserId(u))
                        .is_ok_and(|a| a.contains(&account))
                })
        })
}
