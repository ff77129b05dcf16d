//! `loadgen crash`: kill -9 during follows, unfollows, sends and snapshots, then check that
//! nothing acknowledged was lost and nothing was delivered twice.
//!
//! The parent sets up a data directory (users, one big account that everyone follows, a few
//! small ones), then for each round starts a child (`loadgen crash-child`) on it. The child
//! does random operations one at a time and reports each on stdout: `try ...` before it,
//! `ok ...` once the engine acknowledged it. After a random delay the parent kills the child
//! with SIGKILL, opens the directory itself and checks, against a model built from the
//! acknowledgements:
//! - every acknowledged follow and unfollow is in the graph (the one operation in flight at
//!   the kill may or may not be);
//! - every acknowledged send finishes (the engine resumes it) with `sent == total ==` the
//!   follower count the model had when it was acknowledged, and each of those followers
//!   holds it exactly once in their inbox, nobody else at all;
//! - no inbox holds any (account, seq) twice;
//! - no job is left unfinished.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use herald::{AccountId, Audience, Engine, EngineConfig, JobId, Message, SendRequest, Seq, UserId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::machine::Machine;

const BIG: u32 = 0;
const SMALL_ACCOUNTS: u32 = 4;

#[derive(Debug, clap::Args)]
pub struct CrashArgs {
    /// Kill-and-restart rounds.
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// Users (all follow the big account at the start).
    #[arg(long, default_value_t = 100_000)]
    pub users: u32,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Longest a child runs before it is killed, in milliseconds.
    #[arg(long, default_value_t = 1_500)]
    pub max_run_ms: u64,
    /// Data directory (default: a fresh temporary one, removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub seed: u64,
}

#[derive(Debug, Default, Serialize)]
struct JsonReport {
    scenario: &'static str,
    rounds: u32,
    acked_ops: u64,
    lost: u64,
    duplicates: u64,
    unfinished_jobs: u64,
}

pub fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: 256,
        history_window: 4_096,
        openid_secret: *b"loadgen-crash-00",
        ..EngineConfig::default()
    }
}

/// What the parent knows from acknowledgements.
struct Model {
    followers: Vec<BTreeSet<u32>>,
    /// (account, seq) -> expected audience.
    sends: HashMap<(u32, u32), BTreeSet<u32>>,
}

pub fn run(args: &CrashArgs) -> anyhow::Result<()> {
    let machine = Machine::detect();
    let (dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("herald-crash-{}", std::process::id())),
            true,
        ),
    };
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "loadgen crash: {} rounds, {} users, in {}",
        args.rounds,
        args.users,
        dir.display()
    );
    println!("machine: {}", machine.describe());
    let mut model = setup(&dir, args.users)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut report = JsonReport {
        scenario: "crash",
        rounds: args.rounds,
        ..JsonReport::default()
    };
    let exe = std::env::current_exe().context("finding the loadgen executable")?;
    for round in 0..args.rounds {
        let run_for = Duration::from_millis(rng.random_range(50..=args.max_run_ms.max(50)));
        let (acked, in_flight) = run_child(
            &exe,
            &dir,
            args.seed.wrapping_add(u64::from(round) + 1),
            run_for,
            &mut model,
        )?;
        report.acked_ops += acked;
        let check = check(&dir, &mut model, in_flight.as_deref())?;
        println!(
            "round {round}: killed after {} ms, {acked} acknowledged ops; lost {}, duplicates {}, unfinished jobs {}",
            run_for.as_millis(),
            check.lost,
            check.duplicates,
            check.unfinished
        );
        report.lost += check.lost;
        report.duplicates += check.duplicates;
        report.unfinished_jobs += check.unfinished;
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "{} acknowledged operations over {} rounds: lost {}, duplicates {}, unfinished jobs {}",
        report.acked_ops, report.rounds, report.lost, report.duplicates, report.unfinished_jobs
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    ensure!(
        report.lost == 0 && report.duplicates == 0 && report.unfinished_jobs == 0,
        "crash consistency violated"
    );
    Ok(())
}

fn setup(dir: &Path, users: u32) -> anyhow::Result<Model> {
    let engine = Engine::open(dir, config())?;
    ensure!(engine.user_count() == 0, "{} is not empty", dir.display());
    engine.add_users(users)?;
    for i in 0..=SMALL_ACCOUNTS {
        engine.register_account(&format!("account {i}"))?;
    }
    let everyone: Vec<UserId> = (0..users).map(UserId).collect();
    engine.follow_many(AccountId(BIG), &everyone)?;
    let mut followers = vec![BTreeSet::new(); SMALL_ACCOUNTS as usize + 1];
    followers[BIG as usize] = (0..users).collect();
    Ok(Model {
        followers,
        sends: HashMap::new(),
    })
}

/// Runs one child until `run_for` has passed, then kills it. Returns the acknowledged ops
/// and the operation that was in flight at the kill, if any.
fn run_child(
    exe: &Path,
    dir: &Path,
    seed: u64,
    run_for: Duration,
    model: &mut Model,
) -> anyhow::Result<(u64, Option<String>)> {
    let mut child = Command::new(exe)
        .args(["crash-child", "--data-dir"])
        .arg(dir)
        .args(["--seed", &seed.to_string()])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .context("starting the child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The child's run starts once it has opened the directory and says so.
    let opened = Instant::now();
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(line) if line == "ready" => {}
        Ok(line) => bail!("unexpected line from the child before it was ready: {line}"),
        Err(_) => bail!(
            "the child did not open the data directory within {:?}",
            opened.elapsed()
        ),
    }
    let deadline = Instant::now() + run_for;
    let mut acked = 0;
    let mut in_flight: Option<String> = None;
    let mut handle =
        |line: String, model: &mut Model, in_flight: &mut Option<String>| -> anyhow::Result<()> {
            if let Some(op) = line.strip_prefix("try ") {
                *in_flight = Some(op.to_owned());
            } else if let Some(op) = line.strip_prefix("ok ") {
                apply(model, op)?;
                *in_flight = None;
                acked += 1;
            }
            Ok(())
        };
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(line) => handle(line, model, &mut in_flight)?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    let _ = child.kill();
    let status = child.wait().context("waiting for the child")?;
    let _ = reader.join();
    // Lines the child printed before the kill still count: they were acknowledged.
    while let Ok(line) = rx.try_recv() {
        handle(line, model, &mut in_flight)?;
    }
    if status.success() {
        bail!("the child exited by itself instead of being killed");
    }
    Ok((acked, in_flight))
}

fn apply(model: &mut Model, op: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = op.split_whitespace().collect();
    let num = |i: usize| -> anyhow::Result<u32> {
        parts
            .get(i)
            .context("short line")?
            .parse()
            .context("bad number")
    };
    match parts.first().copied() {
        Some("follow") => {
            model.followers[num(2)? as usize].insert(num(1)?);
        }
        Some("unfollow") => {
            model.followers[num(2)? as usize].remove(&num(1)?);
        }
        Some("send") => {
            let (account, seq, total) = (num(1)?, num(2)?, num(3)?);
            let audience = model.followers[account as usize].clone();
            ensure!(
                audience.len() == total as usize,
                "send {account}/{seq}: child says {total} recipients, model has {}",
                audience.len()
            );
            model.sends.insert((account, seq), audience);
        }
        Some("snapshot") => {}
        _ => bail!("unexpected line from the child: {op}"),
    }
    Ok(())
}

struct Check {
    lost: u64,
    duplicates: u64,
    unfinished: u64,
}

fn check(dir: &Path, model: &mut Model, in_flight: Option<&str>) -> anyhow::Result<Check> {
    let engine = Engine::open(dir, config()).context("reopening after the kill")?;
    // Resumed jobs finish; give them a bounded time.
    let waited = Instant::now();
    while engine.pending_jobs() > 0 && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let unfinished = engine.pending_jobs() as u64;
    let mut lost = 0u64;
    let ambiguous: Option<(u32, u32)> = in_flight.and_then(|op| {
        let p: Vec<&str> = op.split_whitespace().collect();
        match p.as_slice() {
            ["follow" | "unfollow", u, a] => Some((u.parse().ok()?, a.parse().ok()?)),
            _ => None,
        }
    });
    for (a, set) in model.followers.iter_mut().enumerate() {
        let account = AccountId(a as u32);
        for u in 0..engine.user_count() as u32 {
            let actual = engine.is_following(UserId(u), account)?;
            if actual != set.contains(&u) {
                if ambiguous == Some((u, a as u32)) {
                    // The operation in flight at the kill happened or not; both are allowed.
                    if actual {
                        set.insert(u)
                    } else {
                        set.remove(&u)
                    };
                } else {
                    lost += 1;
                }
            }
        }
    }
    // Inboxes: nothing twice; every acknowledged send exactly at its audience.
    let mut duplicates = 0u64;
    let mut received: HashMap<(u32, u32), BTreeSet<u32>> = HashMap::new();
    let mut lagging = BTreeSet::new();
    for u in 0..engine.user_count() as u32 {
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            let fetched = engine.fetch(UserId(u), cursor, 256)?;
            if fetched.missed > 0 {
                lagging.insert(u);
            }
            for item in &fetched.items {
                if !seen.insert((item.account.0, item.seq.0)) {
                    duplicates += 1;
                }
                received
                    .entry((item.account.0, item.seq.0))
                    .or_default()
                    .insert(u);
            }
            if fetched.items.is_empty() {
                break;
            }
            cursor = fetched.next_cursor;
        }
    }
    for ((account, seq), audience) in &model.sends {
        let job = engine.job(JobId {
            account: AccountId(*account),
            seq: Seq(*seq),
        });
        let Some(job) = job else {
            lost += 1;
            continue;
        };
        let report = job.report();
        if report.total != audience.len() as u64
            || (report.status.is_finished() && report.sent != report.total)
        {
            lost += 1;
        }
        let got = received.get(&(*account, *seq)).cloned().unwrap_or_default();
        let missing = audience
            .iter()
            .filter(|u| !got.contains(u) && !lagging.contains(u))
            .count();
        let extra = got.iter().filter(|u| !audience.contains(u)).count();
        lost += (missing + extra) as u64;
    }
    // A snapshot now keeps the next child's open short (and puts snapshots between kills).
    engine.snapshot()?;
    Ok(Check {
        lost,
        duplicates,
        unfinished,
    })
}

/// The child: random operations until killed, each reported before and after.
pub fn child(args: &ChildArgs) -> anyhow::Result<()> {
    let engine = Engine::open(&args.data_dir, config())?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let users = engine.user_count() as u32;
    let out = std::io::stdout();
    let say = |line: String| {
        let mut out = out.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    say("ready".into());
    let mut n = 0u64;
    loop {
        n += 1;
        let roll = rng.random_range(0..100);
        if roll < 80 {
            let user = rng.random_range(0..users);
            let account = rng.random_range(0..=SMALL_ACCOUNTS);
            if engine.is_following(UserId(user), AccountId(account))? {
                say(format!("try unfollow {user} {account}"));
                engine.unfollow(UserId(user), AccountId(account))?;
                say(format!("ok unfollow {user} {account}"));
            } else {
                say(format!("try follow {user} {account}"));
                engine.follow(UserId(user), AccountId(account), None)?;
                say(format!("ok follow {user} {account}"));
            }
        } else if roll < 98 {
            let account = if roll < 84 {
                BIG
            } else {
                rng.random_range(1..=SMALL_ACCOUNTS)
            };
            say(format!("try send {account}"));
            let job = engine.send(
                AccountId(account),
                SendRequest::new(Message::Text(format!("crash test {n}")), Audience::All),
            )?;
            let total = job.report().total;
            say(format!("ok send {account} {} {total}", job.id().seq.0));
        } else {
            say("try snapshot".into());
            engine.snapshot()?;
            say("ok snapshot".into());
        }
    }
}
