//! `loadgen fanout`: one account broadcasts to N followers several times; herald's delivery
//! rate, verified recipient by recipient, beside the baselines of `systems/baselines.rs`.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use herald::{Audience, Content, Engine, EngineConfig, Message, SendRequest, UserId};
use roaring::RoaringBitmap;
use serde::Serialize;

use crate::report::{Machine, MeasuredOn, peak_rss_bytes, rate, thousands};
use crate::systems::{Measured, floor_baseline, naive_baseline, tokio_broadcast_baseline};

#[derive(Debug, clap::Args)]
pub struct FanoutArgs {
    /// Followers of the broadcasting account.
    #[arg(long, default_value_t = 10_000_000)]
    pub followers: u32,
    /// Fan-out worker threads (and threads for the baselines that use them).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Broadcasts sent, back to back.
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Also run the naive, tokio-broadcast and floor baselines on the same follower ids.
    #[arg(long)]
    pub compare: bool,
    /// Most followers for tokio-broadcast (one task each costs memory).
    #[arg(long, default_value_t = 1_000_000)]
    pub tokio_max: u64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct JsonReport {
    scenario: &'static str,
    threads: usize,
    results: Vec<JsonResult>,
    #[serde(flatten)]
    measured_on: MeasuredOn,
}

#[derive(Debug, Serialize)]
struct JsonResult {
    system: &'static str,
    followers: u64,
    deliveries_per_sec: f64,
    elapsed_ms: f64,
    verified: bool,
}

impl From<&Measured> for JsonResult {
    fn from(m: &Measured) -> Self {
        JsonResult {
            system: m.system,
            followers: m.followers,
            deliveries_per_sec: per_sec(m.deliveries, m.elapsed),
            elapsed_ms: m.elapsed.as_secs_f64() * 1e3,
            verified: m.verified,
        }
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// Every 100th user does not follow, so verification also proves nobody else receives.
fn is_follower(user: u32) -> bool {
    user % 100 != 99
}

pub fn run_fanout(args: &FanoutArgs) -> anyhow::Result<()> {
    ensure!(args.followers >= 1, "--followers must be at least 1");
    ensure!(
        (1..=1_000).contains(&args.rounds),
        "--rounds must be 1 to 1,000"
    );
    let machine = Machine::detect();
    let threads = args.threads.unwrap_or(machine.cores).max(1);
    println!(
        "loadgen fanout: {} followers, {} rounds, {threads} threads",
        thousands(args.followers.into()),
        args.rounds
    );
    println!("machine: {}", machine.describe());

    // Users 0..U where every 100th does not follow: exactly `followers` followers.
    let users = u64::from(args.followers) * 100 / 99 + 1;
    let users = u32::try_from(users).context("--followers too large for the u32 id space")?;
    let followers: RoaringBitmap = (0..users)
        .filter(|&u| is_follower(u))
        .take(args.followers as usize)
        .collect();
    let users = followers.max().map_or(0, |m| m + 1);

    let herald = run_herald(args, threads, users, &followers)?;
    let mut results = vec![herald];
    if args.compare {
        println!(
            "baselines on the same {} follower ids ...",
            thousands(followers.len())
        );
        results.push(naive_baseline(&followers, args.rounds));
        results.push(tokio_broadcast_baseline(
            &followers,
            args.rounds,
            threads,
            args.tokio_max,
        ));
        results.push(floor_baseline(&followers, args.rounds, threads));
    }
    print_table(&results);
    println!(
        "peak RSS: {:.2} GiB",
        peak_rss_bytes() as f64 / (1u64 << 30) as f64
    );

    if let Some(path) = &args.json {
        let report = JsonReport {
            scenario: "fanout",
            threads,
            results: results.iter().map(JsonResult::from).collect(),
            measured_on: MeasuredOn::new(&machine),
        };
        std::fs::write(path, serde_json::to_string(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    ensure!(
        results.iter().all(|r| r.verified),
        "a system failed verification"
    );
    Ok(())
}

fn run_herald(
    args: &FanoutArgs,
    threads: usize,
    users: u32,
    followers: &RoaringBitmap,
) -> anyhow::Result<Measured> {
    let config = EngineConfig {
        threads,
        inbox_capacity: (args.rounds as usize).max(32),
        history_window: (args.rounds as usize).max(256),
        ..EngineConfig::default()
    };
    let engine = Engine::new(config);
    let built = Instant::now();
    engine.add_users(users)?;
    let account = engine.register_account("loadgen broadcaster")?;
    let ids: Vec<UserId> = followers.iter().map(UserId).collect();
    engine.follow_many(account, &ids)?;
    drop(ids);
    let memory = engine.memory_usage();
    println!(
        "herald: graph built in {:.2} s ({:.2} bytes per edge)",
        built.elapsed().as_secs_f64(),
        memory.graph_bytes_per_edge()
    );

    let start = Instant::now();
    let jobs = (1..=args.rounds)
        .map(|round| {
            let message = Message::Text(format!("broadcast {round}"));
            engine.send(account, SendRequest::new(message, Audience::All))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let reports: Vec<_> = jobs.iter().map(|j| j.wait()).collect();
    let elapsed = reports
        .iter()
        .filter_map(|r| r.finished_at_ms)
        .max()
        .map(|_| start.elapsed())
        .unwrap_or_default();
    let deliveries: u64 = reports.iter().map(|r| r.sent).sum();
    let clean = reports
        .iter()
        .all(|r| r.errors == 0 && r.sent == followers.len());

    let checked = Instant::now();
    let verified = clean && verify(&engine, users, args.rounds, threads);
    println!(
        "herald: verified {} inboxes ({} of them non-followers) in {:.2} s: {}",
        thousands(users.into()),
        thousands(u64::from(users) - followers.len()),
        checked.elapsed().as_secs_f64(),
        if verified {
            "every follower received every broadcast once, in order; nobody else did"
        } else {
            "FAILED"
        }
    );
    Ok(Measured {
        system: "herald",
        followers: followers.len(),
        deliveries,
        elapsed,
        verified,
        note: None,
    })
}

/// Reads every user's inbox: followers hold broadcasts 1..=rounds in order, others nothing.
fn verify(engine: &Engine, users: u32, rounds: u32, threads: usize) -> bool {
    let share = users.div_ceil(threads as u32).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads as u32)
            .map(|t| {
                s.spawn(move || {
                    let lo = t.saturating_mul(share).min(users);
                    let hi = lo.saturating_add(share).min(users);
                    (lo..hi).all(|u| {
                        let Ok(fetched) = engine.fetch(UserId(u), 0, rounds as usize) else {
                            return false;
                        };
                        if !is_follower(u) {
                            return fetched.items.is_empty() && fetched.next_cursor == 0;
                        }
                        fetched.missed == 0
                            && fetched.items.len() == rounds as usize
                            && fetched.items.iter().zip(1..).all(|(item, seq)| {
                                item.seq.0 == seq && matches!(item.content, Content::Message(_))
                            })
                            && fetched.next_cursor == u64::from(rounds)
                    })
                })
            })
            .collect();
        workers.into_iter().all(|w| w.join().unwrap_or(false))
    })
}

fn print_table(results: &[Measured]) {
    let herald = results
        .iter()
        .find(|r| r.system == "herald")
        .map(|r| per_sec(r.deliveries, r.elapsed));
    println!();
    println!(
        "{:<16} {:>12} {:>14} {:>12} {:>9} {:>14}",
        "system", "followers", "deliveries/s", "elapsed", "verified", "herald ÷ it"
    );
    for r in results {
        let rps = per_sec(r.deliveries, r.elapsed);
        let ratio = match herald {
            Some(h) if r.system != "herald" => format!("{:.2}x", h / rps.max(1e-9)),
            _ => "-".to_owned(),
        };
        println!(
            "{:<16} {:>12} {:>14} {:>9.1} ms {:>9} {:>14}",
            r.system,
            thousands(r.followers),
            rate(rps),
            r.elapsed.as_secs_f64() * 1e3,
            if r.verified { "yes" } else { "NO" },
            ratio
        );
        if let Some(note) = &r.note {
            println!("{:<16} note: {note}", "");
        }
    }
}
