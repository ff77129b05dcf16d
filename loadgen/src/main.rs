//! loadgen: drives herald with realistic workloads and compares it with other ways of doing
//! the same job, in one process, on one machine.

/// Every run here allocates through mimalloc, herald and the baselines alike. glibc's
/// malloc gave a copied bitmap's pages back to the kernel and faulted fresh zeroed ones in
/// for the next copy: about 6% of both cores in `mixed` went to clearing pages. The library
/// itself picks no allocator; an embedder chooses its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod driver;
mod report;
mod scenarios;
mod systems;
mod workload;

use clap::{CommandFactory, FromArgMatches, Subcommand};

use crate::scenarios::{
    ChildArgs, CompareArgs, CrashArgs, FanoutArgs, GraphArgs, MixedArgs, NetArgs, RestartArgs,
};
use crate::workload::{Workload, WorkloadArgs};

#[derive(Debug, clap::Parser)]
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
    Fanout(FanoutArgs),
    /// Builds a Zipf follow graph; build rate and bytes per edge.
    Graph(GraphArgs),
    /// Zipf graph with tags, Poisson sends to mixed audiences and follow/unfollow churn at
    /// once; deliveries/s, churn ops/s, latency percentiles per audience size, memory.
    Mixed(Box<MixedArgs>),
    /// The mixed workload through herald and through the naive system, on the same graph,
    /// sends and churn, in one run; prints ratios.
    Compare(Box<CompareArgs>),
    /// Builds a Zipf graph on a durable engine, snapshots it, reopens it, verifies every
    /// edge; snapshot write time, restore time, bytes per edge.
    Restart(RestartArgs),
    /// Kills a durable engine with SIGKILL at random moments; checks nothing acknowledged
    /// was lost and nothing was delivered twice.
    Crash(CrashArgs),
    /// herald-server's push gateway over the network: N WebSocket clients, M broadcasts;
    /// deliveries/s, send-to-receipt latency, memory per connection, verified; with
    /// `--compare`, Redis pub/sub and NATS core in the same run; `--slow-share` slow clients.
    Net(Box<NetArgs>),
    /// The child process of `crash` (not for direct use).
    #[command(hide = true)]
    CrashChild(ChildArgs),
}

/// The command line, with the defaults of the workload flags of `mixed` and `compare` in
/// their help, from the one place they are set.
fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("mixed", |c| {
            WorkloadArgs::show_defaults(c, &Workload::default())
        })
        .mut_subcommand("compare", |c| {
            WorkloadArgs::show_defaults(c, &scenarios::compare_defaults())
        })
}

fn main() -> anyhow::Result<()> {
    let mut command = command();
    let cli = Cli::from_arg_matches(&command.get_matches_mut())
        .unwrap_or_else(|e| e.format(&mut command).exit());
    match cli.scenario {
        Scenario::Fanout(args) => scenarios::run_fanout(&args),
        Scenario::Graph(args) => scenarios::run_graph(&args),
        Scenario::Mixed(args) => scenarios::run_mixed(&args),
        Scenario::Compare(args) => scenarios::run_compare(&args),
        Scenario::Restart(args) => scenarios::run_restart(&args),
        Scenario::Net(args) => scenarios::run_net(&args),
        Scenario::Crash(args) => scenarios::run_crash(&args),
        Scenario::CrashChild(args) => scenarios::run_crash_child(&args),
    }
}
