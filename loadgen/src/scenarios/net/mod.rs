//! `loadgen net`: herald's network delivery path measured the way a user choosing a push
//! system would, beside Redis pub/sub and NATS core in the same run.
//!
//! Each system's server runs as a child process on a loopback port (its own file
//! descriptors); loadgen holds N client connections in its own process on a tokio runtime
//! and sends M broadcasts of a B-byte payload, each call waiting for the system's answer.
//! Measured: deliveries per second (distinct deliveries over the time from the first send
//! call to the last receipt), send-to-receipt latency (HDR histogram), the server's
//! resident memory per idle connection, and every client's messages checked: all of them,
//! each once, in order. With `--slow-share F`, that share of clients stops reading for `--slow-pause-ms` after its first message; each system
//! then runs twice, without and with them, so the others' latency is compared in one run.

mod herald;
mod nats;
mod process;
mod record;
mod redis;
mod report;
mod run;
mod stream;

use std::path::PathBuf;

use anyhow::ensure;

use crate::report::{Machine, MeasuredOn};

/// The systems `net` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Herald,
    Redis,
    Nats,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Herald => "herald",
            System::Redis => "redis",
            System::Nats => "nats",
        }
    }
}

/// A publisher: one broadcast per call, returning once the system has taken it.
pub trait Publish {
    fn publish(&mut self, payload: &str) -> anyhow::Result<()>;
}

#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// Client connections, one user each, all following the one broadcasting account.
    #[arg(long, default_value_t = 10_000)]
    pub connections: u32,
    /// Broadcasts sent, back to back.
    #[arg(long, default_value_t = 100)]
    pub messages: u32,
    /// Bytes of each broadcast's payload: 8 (it starts with the message's index) to 2,048
    /// (a text message's limit).
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Share of clients that stop reading for a while after their first message (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub slow_share: f64,
    /// How long a slow client stops reading.
    #[arg(long, default_value_t = 2_000)]
    pub slow_pause_ms: u64,
    /// Also run Redis pub/sub and NATS core (`redis-server`, `nats-server` from PATH), then
    /// herald again at the send rate Redis achieved, for latency at the same load.
    #[arg(long)]
    pub compare: bool,
    /// Sends per second (default: each as soon as the previous one was accepted).
    #[arg(long)]
    pub send_rate: Option<f64>,
    /// Run herald-server in memory rather than durable in a temporary data directory.
    #[arg(long)]
    pub in_memory: bool,
    /// Inbox entries herald keeps per user (default: at least the messages sent, so a
    /// slow client can catch up on all of them).
    #[arg(long)]
    pub inbox_capacity: Option<usize>,
    /// Seconds without any delivery, after the last send, before what clients lack is
    /// counted as lost.
    #[arg(long, default_value_t = 20)]
    pub drain_secs: u64,
    /// Worker threads of the clients' runtime.
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// The herald-server binary (default: beside loadgen's, built first under cargo).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw deliveries over time and latency percentiles per system to this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

impl NetArgs {
    fn inbox_capacity(&self) -> usize {
        self.inbox_capacity
            .unwrap_or_else(|| (self.messages as usize).max(32))
    }
}

pub fn run_net(args: &NetArgs) -> anyhow::Result<()> {
    ensure!(
        (1..=19_000).contains(&args.connections),
        "--connections must be 1 to 19,000 (loadgen holds them all, in 20,000 file descriptors)"
    );
    ensure!(
        (1..=99_999_999).contains(&args.messages),
        "--messages must be 1 to 99,999,999"
    );
    ensure!(
        (8..=2_048).contains(&args.payload),
        "--payload must be 8 to 2,048 bytes (the platform's longest text message)"
    );
    ensure!(
        (0.0..=1.0).contains(&args.slow_share),
        "--slow-share must be 0 to 1"
    );
    ensure!(
        args.client_threads >= 1,
        "--client-threads must be at least 1"
    );
    let machine = Machine::detect();
    let server_bin = herald::server_binary(args.server_bin.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()?;
    let systems: &[System] = if args.compare {
        &[System::Herald, System::Redis, System::Nats]
    } else {
        &[System::Herald]
    };
    println!(
        "loadgen net: {} connections, {} messages of {} bytes{}; herald {} (inbox capacity {}); clients on {} threads",
        crate::report::thousands(args.connections.into()),
        crate::report::thousands(args.messages.into()),
        args.payload,
        if args.slow_share > 0.0 {
            format!(
                ", then again with {:.0}% slow clients pausing {} ms",
                args.slow_share * 100.0,
                args.slow_pause_ms
            )
        } else {
            String::new()
        },
        if args.in_memory {
            "in memory"
        } else {
            "durable"
        },
        args.inbox_capacity(),
        args.client_threads,
    );
    println!("machine: {}", machine.describe());
    let mut outcomes = Vec::new();
    let mut skipped = Vec::new();
    for &system in systems {
        let shares: &[f64] = if args.slow_share > 0.0 {
            &[0.0, args.slow_share]
        } else {
            &[0.0]
        };
        for &share in shares {
            match run::run(system, args, share, args.send_rate, &server_bin, &runtime)? {
                Some(outcome) => outcomes.push(outcome),
                None => {
                    let (program, package) = match system {
                        System::Redis => (redis::PROGRAM, redis::PACKAGE),
                        _ => (nats::PROGRAM, nats::PACKAGE),
                    };
                    eprintln!(
                        "{}: skipped: `{program}` is not on PATH (install the Debian package `{package}`)",
                        system.name()
                    );
                    skipped.push(system.name());
                    break;
                }
            }
        }
    }
    // Latency at the same load: herald held to the send rate Redis achieved.
    let redis_rate = outcomes
        .iter()
        .find(|o| o.system == System::Redis && o.slow_share == 0.0)
        .map(run::Outcome::sends_per_sec);
    if let (Some(rate), None) = (redis_rate, args.send_rate)
        && let Some(mut outcome) =
            run::run(System::Herald, args, 0.0, Some(rate), &server_bin, &runtime)?
    {
        outcome.paced_as = Some(System::Redis);
        outcomes.push(outcome);
    }
    let summary = report::Summary::new(args, &outcomes, skipped);
    summary.print();
    if let Some(path) = &args.json {
        let mut value = summary.json();
        crate::report::merge(&mut value, serde_json::to_value(MeasuredOn::new(&machine))?);
        std::fs::write(path, serde_json::to_string_pretty(&value)? + "\n")?;
        println!("JSON written to {}", path.display());
    }
    if let Some(path) = &args.plot {
        report::plot(path, args, &outcomes)?;
        println!("plot written to {}", path.display());
    }
    summary.check()
}
