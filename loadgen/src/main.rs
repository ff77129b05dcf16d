//! loadgen: drives herald with realistic workloads and compares it with other ways of doing
//! the same job, in one process, on one machine.

/// Every run here allocates through mimalloc, herald and the baselines alike. glibc's
/// malloc gave a copied bitmap's pages back to the kernel and faulted fresh zeroed ones in
/// for the next copy: about 6% of both cores in `mixed` went to clearing pages. The library
/// itself picks no allocator; an embedder chooses its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod baselines;
mod compare;
mod crash;
mod driver;
mod fanout;
mod graph;
mod herald_system;
mod latency;
mod machine;
mod mixed;
mod naive_engine;
mod plot;
mod restart;
mod stream;
mod workload;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Load generator and comparisons for the herald fan-out engine"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One account broadcasts to N followers; deliveries per second, verified.
    Fanout(fanout::FanoutArgs),
    /// Builds a Zipf follow graph; build rate and bytes per edge.
    Graph(graph::GraphArgs),
    /// Zipf graph with tags, Poisson sends to mixed audiences and follow/unfollow churn at
    /// once; deliveries/s, churn ops/s, latency percentiles per audience size, memory.
    Mixed(Box<mixed::MixedArgs>),
    /// The mixed workload through herald and through the naive system, on the same graph,
    /// sends and churn, in one run; prints ratios.
    Compare(Box<compare::CompareArgs>),
    /// Builds a Zipf graph on a durable engine, snapshots it, reopens it, verifies every
    /// edge; snapshot write time, restore time, bytes per edge.
    Restart(restart::RestartArgs),
    /// Kills a durable engine with SIGKILL at random moments; checks nothing acknowledged
    /// was lost and nothing was delivered twice.
    Crash(crash::CrashArgs),
    /// The child process of `crash` (not for direct use).
    #[command(hide = true)]
    CrashChild(crash::ChildArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().scenario {
        Scenario::Fanout(args) => fanout::run(&args),
        Scenario::Graph(args) => graph::run(&args),
        Scenario::Mixed(args) => mixed::run(&args),
        Scenario::Compare(args) => compare::run(&args),
        Scenario::Restart(args) => restart::run(&args),
        Scenario::Crash(args) => crash::run(&args),
        Scenario::CrashChild(args) => crash::child(&args),
    }
}
