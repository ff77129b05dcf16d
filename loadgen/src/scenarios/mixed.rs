//! `loadgen mixed`: the realistic mixed workload through herald. A Zipf follow graph with
//! tags, a Poisson stream of sends to mixed audiences (all, tag, tag expression, OpenID
//! list) and follow/unfollow churn at the same time; reports deliveries per second, churn
//! operations per second, completion latency percentiles per audience size, peak RSS and
//! bytes per edge, as a table, JSON (`--json`) and a chart (`--plot`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use crate::driver::{self, RunResult, Tracker};
use crate::report::{
    Machine, MeasuredOn, draw_plot, gib, latency_json, merge, peak_rss_bytes, print_header,
    print_result, run_json, thousands,
};
use crate::systems::{HeraldSystem, RandomFloor, random_write_floor};
use crate::workload::{Bucket, Plan, Workload, WorkloadArgs};

#[derive(Debug, clap::Args)]
pub struct MixedArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Run with the write-ahead log and snapshots in DIR (an empty directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Write every figure as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw throughput over time and latency percentiles per audience size to FILE.svg.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

pub fn run_mixed(args: &MixedArgs) -> anyhow::Result<()> {
    let mode = HeraldSystem::mode(args.data_dir.as_deref());
    let w = args.workload.resolve(Workload::default())?;
    let machine = Machine::detect();
    let threads = w.fan_out_threads(machine.cores);
    let plan = Plan::new(&w);
    print_header("mixed", &plan, &mode, threads, &machine);

    let (system, build) =
        HeraldSystem::build(&plan, threads, machine.cores, args.data_dir.as_deref())?;
    println!(
        "herald: built in {:.1} s: users and inboxes {:.1} s, {} follows {:.1} s ({:.2} M/s), {} tag memberships on {} accounts {:.1} s",
        build.users_secs + build.follow_secs + build.tag_secs,
        build.users_secs,
        thousands(build.edges),
        build.follow_secs,
        build.edges as f64 / build.follow_secs.max(1e-9) / 1e6,
        thousands(build.tag_memberships),
        thousands(build.tagged_accounts),
        build.tag_secs,
    );
    let tracker = Arc::new(Tracker::new());
    system.track_completions(Arc::clone(&tracker));
    let result = driver::run("herald", &plan, &system, &tracker, true);
    let peak = peak_rss_bytes();
    let edges = build.edges;
    drop(system);

    print_result("herald", &plan, &result);
    let bytes_per_edge = build.engine_graph_bytes as f64 / edges.max(1) as f64;
    let rss_per_edge = build.graph_rss_bytes as f64 / edges.max(1) as f64;
    println!(
        "memory: peak RSS {:.2} GiB; graph {:.2} bytes per edge by the engine's accounting, {:.2} by resident memory; inboxes {:.2} GiB",
        gib(peak),
        bytes_per_edge,
        rss_per_edge,
        gib(build.inbox_bytes)
    );
    print_targets(&result, &w);
    let floor = memory_floor(build.inbox_bytes, threads, result.deliveries_per_sec);

    let mut report = json!({
        "scenario": "mixed",
        "mode": mode,
        "system": "herald",
        "accounts": w.accounts,
        "users": w.users,
        "edges": edges,
        "seed": w.seed,
        "threads": threads,
        "deliveries_per_sec": result.deliveries_per_sec,
        "churn_ops_per_sec": result.churn_ops_per_sec,
        "latency_ms": latency_json(&result),
        "peak_rss_bytes": peak,
        "bytes_per_edge": bytes_per_edge,
        "rss_bytes_per_edge": rss_per_edge,
        "inbox_bytes": build.inbox_bytes,
        "random_write_floor_per_sec": floor.writes_per_sec,
        "build": {
            "users_secs": build.users_secs,
            "follow_secs": build.follow_secs,
            "tag_secs": build.tag_secs,
            "tag_memberships": build.tag_memberships,
            "tagged_accounts": build.tagged_accounts,
        },
        "workload": w,
    });
    merge(
        &mut report,
        serde_json::to_value(MeasuredOn::new(&machine))?,
    );
    merge(&mut report, run_json(&result));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "loadgen mixed: herald, {} accounts, {} users, {} edges, {} threads ({} cores), commit {}",
            thousands(w.accounts.into()),
            thousands(w.users.into()),
            thousands(edges),
            threads,
            machine.cores,
            machine.commit
        );
        draw_plot(path, &title, &[("herald", &result)])?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn print_targets(r: &RunResult, w: &Workload) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let small_p99 = r.latencies.percentiles(Bucket::Small).map(|p| p.p99);
    let huge = r.latencies.count(Bucket::Huge);
    println!(
        "targets: deliveries >= 50 M/s: {} ({:.1} M/s); small p99 < 5 ms while huge sends run: {} ({} huge sends, small p99 {}); churn >= 1 M ops/s: {} ({:.2} M/s{})",
        verdict(r.deliveries_per_sec >= 50e6),
        r.deliveries_per_sec / 1e6,
        verdict(huge > 0 && small_p99.is_some_and(|p| p < 5.0)),
        huge,
        small_p99.map_or("-".to_owned(), |p| format!("{p:.3} ms")),
        verdict(r.churn_ops_per_sec >= 1e6),
        r.churn_ops_per_sec / 1e6,
        if w.churn_rate > 0.0 && w.churn_rate < 1e6 {
            ", target rate set below 1 M/s"
        } else {
            ""
        }
    );
}

/// Measures, after the run and in the same process, how many random 8-byte writes per
/// second this machine makes into an array the size of the inboxes with the fan-out's
/// threads, and prints herald's deliveries as a fraction of it.
fn memory_floor(inbox_bytes: u64, threads: usize, deliveries_per_sec: f64) -> RandomFloor {
    // About a second of writes on a machine like the development one; small workloads
    // get a small array and as few writes.
    let writes = (inbox_bytes / 8).clamp(1_000_000, 30_000_000);
    let floor = random_write_floor(inbox_bytes.max(8 << 20), writes, threads);
    println!(
        "memory floor: {threads} threads writing 8 bytes at random places of {:.2} GiB ({:.0}% of its words hit): {:.1} M writes/s; herald's deliveries are {:.2}x of it",
        gib(inbox_bytes.max(8 << 20)),
        floor.touched as f64 * 100.0 / floor.words as f64,
        floor.writes_per_sec / 1e6,
        deliveries_per_sec / floor.writes_per_sec.max(1e-9)
    );
    floor
}
