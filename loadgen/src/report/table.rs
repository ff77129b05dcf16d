//! The tables of a mixed-workload run, shared by `mixed` and `compare`: the header (graph,
//! stream, churn, size classes, machine) and one system's result (sends, throughput,
//! latency percentiles per audience size).

use super::format::thousands;
use super::machine::Machine;
use crate::driver::RunResult;
use crate::workload::{Bucket, Plan};

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
