//! `loadgen compare`: the mixed workload through herald, then through the naive system
//! (`systems/naive.rs`), on the same generated graph, send stream and churn, in one process;
//! prints both results and herald's ratio to the naive system on every figure.
//!
//! Default size: a tenth of `mixed` (10,000 accounts, 1,000,000 users, 10,000,000 edges, a
//! tenth of the send and churn rates), so that the naive system, which keeps sorted `Vec`s
//! and a `HashMap` of per-user inboxes, fits beside herald's peak and finishes in time.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use crate::driver::{self, RunResult, Tracker};
use crate::report::{
    Machine, MeasuredOn, draw_plot, gib, latency_json, merge, peak_rss_bytes, print_header,
    print_result, run_json, thousands,
};
use crate::systems::{HeraldSystem, NaiveSystem};
use crate::workload::{Bucket, Plan, Workload, WorkloadArgs};

/// `--scale-down` when not given.
const DEFAULT_SCALE_DOWN: u32 = 10;

/// The defaults of `compare`: mixed's, divided by the default `--scale-down` (what
/// `--help` shows).
pub fn compare_defaults() -> Workload {
    Workload::default().scaled_down(DEFAULT_SCALE_DOWN)
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Start from the mixed defaults divided by this (graph size, send and churn rates);
    /// flags and --workload override.
    #[arg(long, default_value_t = DEFAULT_SCALE_DOWN)]
    pub scale_down: u32,
    /// Run herald with the write-ahead log and snapshots in DIR (an empty directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Write every figure of both systems as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw both systems' throughput and latency percentiles to FILE.svg.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// Resets the process's peak RSS (VmHWM), so each system's peak is its own.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Side {
    result: RunResult,
    peak_rss: u64,
    /// Graph bytes (follower and tag sets, reverse index for herald) by the system's own
    /// accounting: resident memory cannot tell, the second system reuses the first's pages.
    graph_bytes: u64,
    edges: u64,
}

pub fn run_compare(args: &CompareArgs) -> anyhow::Result<()> {
    let mode = HeraldSystem::mode(args.data_dir.as_deref());
    let w = args
        .workload
        .resolve(Workload::default().scaled_down(args.scale_down))?;
    let machine = Machine::detect();
    let threads = w.fan_out_threads(machine.cores);
    let plan = Plan::new(&w);
    print_header("compare", &plan, &mode, threads, &machine);

    // herald
    reset_peak_rss();
    let herald = {
        let (system, build) =
            HeraldSystem::build(&plan, threads, machine.cores, args.data_dir.as_deref())?;
        println!(
            "herald: built in {:.1} s",
            build.users_secs + build.follow_secs + build.tag_secs
        );
        let tracker = Arc::new(Tracker::new());
        system.track_completions(Arc::clone(&tracker));
        let result = driver::run("herald", &plan, &system, &tracker, true);
        Side {
            result,
            peak_rss: peak_rss_bytes(),
            graph_bytes: build.engine_graph_bytes,
            edges: build.edges,
        }
    };
    // The engine is dropped here, before the naive system is built.
    let separate_peaks = reset_peak_rss();
    let naive = {
        let tracker = Arc::new(Tracker::new());
        let max_pending = herald::EngineConfig::default().max_unfinished_jobs;
        let (system, build) = NaiveSystem::build(
            &plan,
            threads,
            max_pending,
            machine.cores,
            Arc::clone(&tracker),
        )?;
        println!("naive: built in {:.1} s", build.secs);
        let result = driver::run("naive", &plan, &system, &tracker, false);
        Side {
            result,
            peak_rss: peak_rss_bytes(),
            graph_bytes: build.graph_bytes,
            edges: build.edges,
        }
    };

    print_result("herald", &plan, &herald.result);
    print_result("naive", &plan, &naive.result);
    print_ratios(&herald, &naive, separate_peaks);

    if let Some(path) = &args.json {
        let side = |name: &str, s: &Side| {
            let mut v = json!({
                "system": name,
                "deliveries_per_sec": s.result.deliveries_per_sec,
                "churn_ops_per_sec": s.result.churn_ops_per_sec,
                "latency_ms": latency_json(&s.result),
                "peak_rss_bytes": s.peak_rss,
                "bytes_per_edge": s.graph_bytes as f64 / s.edges.max(1) as f64,
            });
            merge(&mut v, run_json(&s.result));
            v
        };
        let mut report = json!({
            "scenario": "compare",
            "mode": mode,
            "accounts": w.accounts,
            "users": w.users,
            "edges": plan.edges(),
            "seed": w.seed,
            "threads": threads,
            "herald": side("herald", &herald),
            "naive": side("naive", &naive),
            "ratios": {
                "deliveries_per_sec": ratio(herald.result.deliveries_per_sec, naive.result.deliveries_per_sec),
                "churn_ops_per_sec": ratio(herald.result.churn_ops_per_sec, naive.result.churn_ops_per_sec),
            },
            "separate_peak_rss": separate_peaks,
            "workload": w,
        });
        merge(
            &mut report,
            serde_json::to_value(MeasuredOn::new(&machine))?,
        );
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "loadgen compare: herald vs naive, {} accounts, {} users, {} edges, {} threads, commit {}",
            thousands(w.accounts.into()),
            thousands(w.users.into()),
            thousands(plan.edges()),
            threads,
            machine.commit
        );
        draw_plot(
            path,
            &title,
            &[("herald", &herald.result), ("naive", &naive.result)],
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::INFINITY }
}

fn print_ratios(h: &Side, n: &Side, separate_peaks: bool) {
    println!();
    println!(
        "{:<34} {:>14} {:>14} {:>12}",
        "figure", "herald", "naive", "herald is"
    );
    let row = |name: &str, a: String, b: String, r: String| {
        println!("{name:<34} {a:>14} {b:>14} {r:>12}");
    };
    row(
        "deliveries per second",
        format!("{:.2} M", h.result.deliveries_per_sec / 1e6),
        format!("{:.2} M", n.result.deliveries_per_sec / 1e6),
        format!(
            "{:.1}x",
            ratio(h.result.deliveries_per_sec, n.result.deliveries_per_sec)
        ),
    );
    row(
        "churn ops per second",
        format!("{:.3} M", h.result.churn_ops_per_sec / 1e6),
        format!("{:.3} M", n.result.churn_ops_per_sec / 1e6),
        format!(
            "{:.1}x",
            ratio(h.result.churn_ops_per_sec, n.result.churn_ops_per_sec)
        ),
    );
    for b in Bucket::ALL {
        for (label, pick) in [("p50", 0usize), ("p99", 2)] {
            let (hp, np) = (
                h.result.latencies.percentiles(b),
                n.result.latencies.percentiles(b),
            );
            let fmt = |p: Option<f64>| p.map_or("-".to_owned(), |v| format!("{v:.3} ms"));
            let hv = hp.map(|p| p.values()[pick]);
            let nv = np.map(|p| p.values()[pick]);
            let r = match (hv, nv) {
                (Some(a), Some(b)) if a > 0.0 => format!("{:.1}x faster", b / a),
                _ => "-".to_owned(),
            };
            row(
                &format!("latency {} {label}", b.name()),
                fmt(hv),
                fmt(nv),
                r,
            );
        }
    }
    row(
        "jobs unfinished at the deadline",
        h.result.jobs_unfinished.to_string(),
        n.result.jobs_unfinished.to_string(),
        String::new(),
    );
    row(
        "sends refused as busy",
        thousands(h.result.sends_busy),
        thousands(n.result.sends_busy),
        String::new(),
    );
    row(
        "graph bytes per edge (accounting)",
        format!("{:.1}", h.graph_bytes as f64 / h.edges.max(1) as f64),
        format!("{:.1}", n.graph_bytes as f64 / n.edges.max(1) as f64),
        String::new(),
    );
    row(
        if separate_peaks {
            "peak RSS"
        } else {
            "peak RSS (naive: of the process)"
        },
        format!("{:.2} GiB", gib(h.peak_rss)),
        format!("{:.2} GiB", gib(n.peak_rss)),
        String::new(),
    );
    if h.result.sends_busy == 0
        && n.result.sends_busy == 0
        && h.result.jobs_unfinished == 0
        && n.result.jobs_unfinished == 0
    {
        println!(
            "(both systems kept up with the offered load, so deliveries per second is the offered \
             rate for both; raise --send-rate to compare capacity)"
        );
    }
    println!(
        "(latency: lower is better; a system that cannot keep up shows growing latencies, \
         busy refusals and unfinished jobs rather than a higher rate)"
    );
}
