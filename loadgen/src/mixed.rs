//! `loadgen mixed`: the realistic mixed workload through herald. A Zipf follow graph with
//! tags, a Poisson stream of sends to mixed audiences (all, tag, tag expression, OpenID
//! list) and follow/unfollow churn at the same time; reports deliveries per second, churn
//! operations per second, completion latency percentiles per audience size, peak RSS and
//! bytes per edge, as a table, JSON (`--json`) and a chart (`--plot`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::baselines::{RandomFloor, random_write_floor};
use crate::driver::{self, RunResult, Tracker};
use crate::herald_system::HeraldSystem;
use crate::latency::Percentiles;
use crate::machine::{Machine, peak_rss_bytes, thousands};
use crate::plot;
use crate::stream::{Bucket, Plan, Workload};

/// Flags that set the workload; each overrides the TOML file, which overrides the default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WorkloadArgs {
    /// TOML workload file (keys: the flags' names with underscores, e.g. `send_rate`, but
    /// `duration_secs` and `drain_secs` for --duration and --drain;
    /// see loadgen/workloads/).
    #[arg(long, value_name = "FILE")]
    pub workload: Option<PathBuf>,
    /// Accounts (default 100,000); their follower counts follow a Zipf law.
    #[arg(long)]
    pub accounts: Option<u32>,
    /// Users (default 10,000,000).
    #[arg(long)]
    pub users: Option<u32>,
    /// Follow edges (default 100,000,000).
    #[arg(long)]
    pub edges: Option<u64>,
    /// Zipf exponent of follower counts (default 1.0).
    #[arg(long)]
    pub zipf: Option<f64>,
    /// Seed of every random choice (default 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds of sends and churn, after the build (default 20).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop the send stream after this many sends (default: no limit).
    #[arg(long)]
    pub max_sends: Option<u64>,
    /// Mean sends per second of the Poisson stream (default 2,400: about 59 M deliveries/s
    /// offered on the default graph).
    #[arg(long)]
    pub send_rate: Option<f64>,
    /// Threads making the sends, as concurrent clients (default 1; in durable mode each
    /// waits for its send's fsync, so raise it to see group commit at work).
    #[arg(long)]
    pub senders: Option<usize>,
    /// Share of sends by accounts with >= 1,000,000 followers (default 0.02).
    #[arg(long)]
    pub huge_share: Option<f64>,
    /// Share of sends by accounts with 1,001..999,999 followers (default 0.18).
    #[arg(long)]
    pub medium_share: Option<f64>,
    /// Largest OpenID list audience, 2..10,000 (default 10,000).
    #[arg(long)]
    pub list_max: Option<u32>,
    /// Accounts with at least this many followers get tags (default 1,000).
    #[arg(long)]
    pub tag_min_followers: Option<u32>,
    /// Target follow+unfollow operations per second, 0 = as fast as possible (default
    /// 1,200,000).
    #[arg(long)]
    pub churn_rate: Option<f64>,
    /// Threads making follows and unfollows (default 1; 0 = no churn).
    #[arg(long)]
    pub churn_threads: Option<usize>,
    /// Follows and unfollows per call, 1..256: 1 makes single `follow`/`unfollow` calls,
    /// more uses the batch call `Engine::change_follows` (default 64).
    #[arg(long)]
    pub churn_batch: Option<usize>,
    /// Fan-out worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// herald delivers sends to at most N recipients on the sending thread, inside the send
    /// call, instead of handing them to a fan-out worker (default 1,024; 0 = never).
    #[arg(long, value_name = "N")]
    pub inline_max: Option<u32>,
    /// Entries kept per user inbox (default 32).
    #[arg(long)]
    pub inbox_capacity: Option<usize>,
    /// Seconds to wait for running jobs after the stream stops (default 10).
    #[arg(long, value_name = "SECS")]
    pub drain: Option<f64>,
}

impl WorkloadArgs {
    /// Defaults, then the file, then the flags.
    pub fn resolve(&self, base: Workload) -> anyhow::Result<Workload> {
        let mut w = match &self.workload {
            Some(path) => Workload::from_toml_file(path)?,
            None => base,
        };
        macro_rules! set {
            ($($flag:ident => $field:ident),* $(,)?) => {
                $(if let Some(v) = self.$flag.clone() { w.$field = v; })*
            };
        }
        set!(
            accounts => accounts, users => users, edges => edges, zipf => zipf, seed => seed,
            duration => duration_secs, max_sends => max_sends, send_rate => send_rate,
            senders => senders,
            huge_share => huge_share, medium_share => medium_share, list_max => list_max,
            tag_min_followers => tag_min_followers, churn_rate => churn_rate,
            churn_threads => churn_threads, churn_batch => churn_batch, threads => threads, inline_max => inline_max,
            inbox_capacity => inbox_capacity, drain => drain_secs,
        );
        w.check()?;
        Ok(w)
    }
}

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

/// The mode a run reports: in memory, or durable in a data directory.
pub fn check_data_dir(data_dir: &Option<PathBuf>) -> anyhow::Result<String> {
    Ok(match data_dir {
        None => "in-memory".to_owned(),
        Some(dir) => format!(
            "durable in {} (write-ahead log with 2 ms group commit, snapshots)",
            dir.display()
        ),
    })
}

pub fn fan_out_threads(w: &Workload, machine: &Machine) -> usize {
    if w.threads == 0 {
        machine.cores
    } else {
        w.threads
    }
    .max(1)
}

pub fn run(args: &MixedArgs) -> anyhow::Result<()> {
    let mode = check_data_dir(&args.data_dir)?;
    let w = args.workload.resolve(Workload::default())?;
    let machine = Machine::detect();
    let threads = fan_out_threads(&w, &machine);
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
    print_targets(&result, threads, &w);
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
        "machine": machine,
        "rustc": machine.rustc,
        "commit": machine.commit,
    });
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
        plot::draw(path, &title, &[("herald", &result)])?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

pub fn print_header(scenario: &str, plan: &Plan, mode: &str, threads: usize, machine: &Machine) {
    let w = &plan.workload;
    println!(
        "loadgen {scenario}: {} accounts, {} users, {} edges (Zipf {}), seed {}, {mode}",
        thousands(w.accounts.into()),
        thousands(w.users.into()),
        thousands(plan.edges()),
        w.zipf,
        w.seed,
    );
    println!(
        "  sends: Poisson {}/s for {} s{}{} (huge accounts {:.0}%, medium {:.0}%); churn: {} ops/s on {} thread(s), {}; {threads} fan-out threads; sends to <= {} delivered in the call",
        w.send_rate,
        w.duration_secs,
        if w.max_sends > 0 {
            format!(" or {} sends", thousands(w.max_sends))
        } else {
            String::new()
        },
        if w.senders > 1 {
            format!(" by {} sender threads", w.senders)
        } else {
            String::new()
        },
        w.huge_share * 100.0,
        w.medium_share * 100.0,
        if w.churn_rate > 0.0 {
            thousands(w.churn_rate as u64)
        } else {
            "max".to_owned()
        },
        w.churn_threads,
        if w.churn_batch > 1 {
            format!("{} per batch call", w.churn_batch)
        } else {
            "single calls".to_owned()
        },
        thousands(w.inline_max.into()),
    );
    println!(
        "  accounts by followers: {} huge (>= 1M), {} medium, {} small (<= 1,000)",
        plan.classes[Bucket::Huge as usize].len(),
        plan.classes[Bucket::Medium as usize].len(),
        plan.classes[Bucket::Small as usize].len()
    );
    println!("machine: {}", machine.describe());
}

pub fn print_result(system: &str, plan: &Plan, r: &RunResult) {
    let w = &plan.workload;
    println!();
    println!(
        "{system}: {:.1} s of stream + {:.1} s of drain; {} sends made (all {}, tag {}, expr {}, list {}): {} accepted, {} busy, {} refused{}",
        r.stream_secs,
        (r.elapsed_secs - r.stream_secs).max(0.0),
        thousands(r.sends_attempted),
        thousands(r.sends_by_kind[0]),
        thousands(r.sends_by_kind[1]),
        thousands(r.sends_by_kind[2]),
        thousands(r.sends_by_kind[3]),
        thousands(r.sends_accepted),
        thousands(r.sends_busy),
        thousands(r.sends_refused),
        r.first_refusal
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
    );
    if r.jobs_unfinished > 0 || r.jobs_late > 0 || r.delivery_errors > 0 {
        println!(
            "  note: {} jobs unfinished at the drain deadline, {} found finished by polling (report missed), {} delivery errors",
            r.jobs_unfinished, r.jobs_late, r.delivery_errors
        );
    }
    if r.sender_lag_max_ms > 5.0 {
        println!(
            "  note: the sender fell behind the Poisson schedule by up to {:.1} ms",
            r.sender_lag_max_ms
        );
    }
    println!(
        "  {:<22} {:>16} {:>14}",
        "throughput", "total", "per second"
    );
    println!(
        "  {:<22} {:>16} {:>12.1} M",
        "deliveries",
        thousands(r.deliveries),
        r.deliveries_per_sec / 1e6
    );
    println!(
        "  {:<22} {:>16} {:>12.2} M   (target rate {}, {} refused)",
        "churn ops",
        thousands(r.churn_ops),
        r.churn_ops_per_sec / 1e6,
        if w.churn_rate > 0.0 {
            format!("{:.2} M/s", w.churn_rate / 1e6)
        } else {
            "max".to_owned()
        },
        thousands(r.churn_refused)
    );
    println!(
        "  {:<22} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency (ms)", "sends", "p50", "p90", "p99", "p99.9", "max"
    );
    for b in Bucket::ALL {
        match r.latencies.percentiles(b) {
            Some(p) => println!(
                "  {:<22} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                b.describe(),
                thousands(p.count),
                p.p50,
                p.p90,
                p.p99,
                p.p999,
                p.max
            ),
            None => println!("  {:<22} {:>8} {:>9}", b.describe(), 0, "-"),
        }
    }
}

fn print_targets(r: &RunResult, threads: usize, w: &Workload) {
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
    let _ = threads;
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

pub fn percentiles_json(p: Option<Percentiles>) -> serde_json::Value {
    match p {
        Some(p) => json!({
            "count": p.count, "p50": p.p50, "p90": p.p90, "p99": p.p99, "p999": p.p999, "max": p.max,
        }),
        None => serde_json::Value::Null,
    }
}

pub fn latency_json(r: &RunResult) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for b in Bucket::ALL {
        m.insert(
            b.name().into(),
            percentiles_json(r.latencies.percentiles(b)),
        );
    }
    m.into()
}

/// The figures of a run beyond the headline ones.
pub fn run_json(r: &RunResult) -> serde_json::Value {
    #[derive(Serialize)]
    struct Sends {
        attempted: u64,
        accepted: u64,
        busy: u64,
        refused: u64,
        first_refusal: Option<String>,
        all: u64,
        tag: u64,
        expr: u64,
        list: u64,
        sender_lag_max_ms: f64,
    }
    json!({
        "stream_secs": r.stream_secs,
        "elapsed_secs": r.elapsed_secs,
        "deliveries": r.deliveries,
        "delivery_errors": r.delivery_errors,
        "churn_ops": r.churn_ops,
        "churn_refused": r.churn_refused,
        "churn_secs": r.churn_secs,
        "jobs": {"finished": r.jobs_finished, "unfinished": r.jobs_unfinished, "late": r.jobs_late},
        "sends": Sends {
            attempted: r.sends_attempted,
            accepted: r.sends_accepted,
            busy: r.sends_busy,
            refused: r.sends_refused,
            first_refusal: r.first_refusal.clone(),
            all: r.sends_by_kind[0],
            tag: r.sends_by_kind[1],
            expr: r.sends_by_kind[2],
            list: r.sends_by_kind[3],
            sender_lag_max_ms: r.sender_lag_max_ms,
        },
        "timeline": r.timeline,
    })
}

pub fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), from) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}
