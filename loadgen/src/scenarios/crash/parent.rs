//! `loadgen crash`, the parent's side (flags, rounds, the report): kill -9 during follows, unfollows, sends and snapshots, on a disk that
//! fills up, and while accounts are terminated mid-send; then check that nothing
//! acknowledged was lost and nothing was delivered twice.
//!
//! The parent sets up a data directory (users, one big account that everyone follows, a few
//! small ones), then for each round starts a child (`loadgen crash-child`) on it. The child
//! does random operations one at a time and reports each on stdout: `try OP` before it, and
//! after it `ok OP` (acknowledged), `maybe OP` (the engine said `NotDurable`: applied, not
//! yet durable) or `refused OP` (the engine said `Refused`: nothing happened). After a
//! random delay the parent kills the child with SIGKILL, opens the directory itself and
//! checks it against a model built from those lines.
//!
//! The log is a prefix of the operations in order, so after the kill the directory must
//! hold every acknowledged operation, every `maybe` one that an acknowledged one followed,
//! and some prefix of the `maybe` ones after the last acknowledgement (plus, perhaps, the
//! one in flight at the kill). The check tries each such prefix and keeps the one the
//! directory matches; it counts as lost whatever no prefix explains:
//! - the follower sets of every account, and which accounts exist;
//! - every send finishes (the engine resumes it) with `sent == total ==` the follower count
//!   the model had when it was accepted, and each of those followers holds it exactly once
//!   in their inbox, nobody else at all; a terminated account's sends reach nobody's inbox;
//! - no inbox holds any (account, seq) twice;
//! - no job is left unfinished, and no snapshot's temporary file is left after opening.
//!
//! Modes (`--mode`):
//! - `kill`: the above;
//! - `disk-full`: the directory lives on a small tmpfs the parent mounts (root only;
//!   otherwise the run says it is skipped), and during each round the parent fills it with
//!   a ballast file; in half the rounds it frees the space again before the kill, so the
//!   same engine must recover in place; the child keeps going through refusals;
//! - `terminate`: the child also registers accounts, gives them followers and a delivery
//!   speed tier (so their sends are still delivering), sends, terminates them during the
//!   send and snapshots.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use herald::{AccountId, Engine, UserId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::check::check;
use super::disk::SmallDisk;
use super::mode::{BIG, Mode, SMALL_ACCOUNTS, config, mode_name};
use super::model::{Model, Op, Tracker};
use crate::report::{Machine, MeasuredOn};

#[derive(Debug, clap::Args)]
pub struct CrashArgs {
    /// Kill-and-restart rounds.
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// What happens besides the kills.
    #[arg(long, value_enum, default_value_t = Mode::Kill)]
    pub mode: Mode,
    /// Users (all follow the big account at the start).
    #[arg(long, default_value_t = 100_000)]
    pub users: u32,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Longest a child runs before it is killed, in milliseconds.
    #[arg(long, default_value_t = 1_500)]
    pub max_run_ms: u64,
    /// Size of the tmpfs of `--mode disk-full`, in MiB.
    #[arg(long, default_value_t = 64)]
    pub disk_mib: u32,
    /// Data directory (default: a fresh temporary one, removed afterwards; in
    /// `disk-full` mode always a directory on the tmpfs).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}
#[derive(Debug, Serialize)]
struct JsonReport {
    scenario: &'static str,
    mode: Mode,
    /// Why the run did nothing (disk-full mode without root), if it did not run.
    skipped: Option<String>,
    rounds: u32,
    acked_ops: u64,
    /// Operations the engine reported `NotDurable` (applied, durability unknown).
    maybe_ops: u64,
    /// Operations the engine refused because the log could not be written.
    refused_ops: u64,
    /// Rounds in which the disk was filled; those of them in which it was freed again at
    /// least 200 ms before the kill; and those in which the child's engine then
    /// acknowledged a change again without being reopened (must be all of them).
    disk_filled_rounds: u32,
    freed_before_kill_rounds: u32,
    recovered_in_place_rounds: u32,
    terminated_accounts: u64,
    lost: u64,
    duplicates: u64,
    unfinished_jobs: u64,
    temporaries_after_open: u64,
    #[serde(flatten)]
    measured_on: MeasuredOn,
}
pub fn run_crash(args: &CrashArgs) -> anyhow::Result<()> {
    let machine = Machine::detect();
    let mut report = JsonReport {
        scenario: "crash",
        mode: args.mode,
        skipped: None,
        rounds: args.rounds,
        acked_ops: 0,
        maybe_ops: 0,
        refused_ops: 0,
        disk_filled_rounds: 0,
        freed_before_kill_rounds: 0,
        recovered_in_place_rounds: 0,
        terminated_accounts: 0,
        lost: 0,
        duplicates: 0,
        unfinished_jobs: 0,
        temporaries_after_open: 0,
        measured_on: MeasuredOn::new(&machine),
    };
    let disk = match args.mode {
        Mode::DiskFull => match SmallDisk::mount(args.disk_mib) {
            Ok(disk) => Some(disk),
            Err(why) => {
                println!("loadgen crash --mode disk-full: SKIPPED, {why}");
                report.skipped = Some(why);
                report.rounds = 0;
                return write_json(args, &report);
            }
        },
        _ => None,
    };
    let (dir, temporary) = match (&disk, &args.data_dir) {
        (Some(disk), _) => (disk.mount.join("data"), false),
        (None, Some(dir)) => (dir.clone(), false),
        (None, None) => (
            std::env::temp_dir().join(format!("herald-crash-{}", std::process::id())),
            true,
        ),
    };
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "loadgen crash --mode {}: {} rounds, {} users, in {}",
        mode_name(args.mode),
        args.rounds,
        args.users,
        dir.display()
    );
    println!("machine: {}", machine.describe());
    let mut tracker = Tracker {
        model: setup(&dir, args.users, args.mode)?,
        pending: Vec::new(),
        last_ack: None,
        acked: 0,
        maybe: 0,
        refused: 0,
    };
    let mut rng = StdRng::seed_from_u64(args.seed);
    let exe = std::env::current_exe().context("finding the loadgen executable")?;
    for round in 0..args.rounds {
        let run_for = Duration::from_millis(rng.random_range(50..=args.max_run_ms.max(50)));
        // Disk-full rounds: fill somewhere in the first half, free (in half the rounds)
        // somewhere after that but before the kill.
        let fill = disk.as_ref().map(|_| {
            let fill_at = run_for.mul_f64(rng.random_range(0.0..0.5));
            let free_at = rng
                .random_bool(0.5)
                .then(|| fill_at + (run_for - fill_at).mul_f64(rng.random_range(0.2..0.8)));
            (fill_at, free_at)
        });
        let seed = args.seed.wrapping_add(u64::from(round) + 1);
        let before = (tracker.acked, tracker.maybe, tracker.refused);
        let mut freed: Option<Instant> = None;
        run_child(&exe, &dir, seed, args.mode, run_for, &mut tracker, |at| {
            let (Some(disk), Some((fill_at, free_at))) = (&disk, fill) else {
                return Ok(());
            };
            if at >= fill_at && free_at.is_none_or(|f| at < f) {
                if !disk.ballast().exists() {
                    disk.fill()?;
                }
            } else if free_at.is_some_and(|f| at >= f) && freed.is_none() {
                disk.free();
                freed = Some(Instant::now());
            }
            Ok(())
        })?;
        if let (Some(disk), Some((_, free_at))) = (&disk, fill) {
            report.disk_filled_rounds += 1;
            // With time left after the free, the same engine must have taken changes again.
            if let (Some(free_at), Some(freed)) = (free_at, freed)
                && run_for.saturating_sub(free_at) >= Duration::from_millis(200)
            {
                report.freed_before_kill_rounds += 1;
                if tracker.last_ack.is_some_and(|at| at > freed) {
                    report.recovered_in_place_rounds += 1;
                } else {
                    println!("round {round}: the engine took no change after the disk was freed");
                }
            }
            disk.free();
        }
        let check = check(&dir, args.mode, &mut tracker)?;
        println!(
            "round {round}: killed after {} ms, {} acknowledged, {} maybe, {} refused; lost {}, duplicates {}, unfinished jobs {}",
            run_for.as_millis(),
            tracker.acked - before.0,
            tracker.maybe - before.1,
            tracker.refused - before.2,
            check.lost,
            check.duplicates,
            check.unfinished
        );
        report.lost += check.lost;
        report.duplicates += check.duplicates;
        report.unfinished_jobs += check.unfinished;
        report.temporaries_after_open += check.temporaries;
    }
    report.acked_ops = tracker.acked;
    report.maybe_ops = tracker.maybe;
    report.refused_ops = tracker.refused;
    report.terminated_accounts = tracker.model.terminated.len() as u64;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "{} acknowledged, {} maybe and {} refused operations over {} rounds ({} with a full disk, {} of them freed well before the kill, {} of those recovered in place; {} accounts terminated): lost {}, duplicates {}, unfinished jobs {}, snapshot temporaries left {}",
        report.acked_ops,
        report.maybe_ops,
        report.refused_ops,
        report.rounds,
        report.disk_filled_rounds,
        report.freed_before_kill_rounds,
        report.recovered_in_place_rounds,
        report.terminated_accounts,
        report.lost,
        report.duplicates,
        report.unfinished_jobs,
        report.temporaries_after_open
    );
    write_json(args, &report)?;
    ensure!(
        report.lost == 0
            && report.duplicates == 0
            && report.unfinished_jobs == 0
            && report.temporaries_after_open == 0
            && report.recovered_in_place_rounds == report.freed_before_kill_rounds,
        "crash consistency violated"
    );
    Ok(())
}
fn write_json(args: &CrashArgs, report: &JsonReport) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string(report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn setup(dir: &Path, users: u32, mode: Mode) -> anyhow::Result<Model> {
    let engine = Engine::open(dir, config(mode))?;
    ensure!(engine.user_count() == 0, "{} is not empty", dir.display());
    engine.add_users(users)?;
    for i in 0..=SMALL_ACCOUNTS {
        engine.register_account(&format!("account {i}"))?;
    }
    let everyone: Vec<UserId> = (0..users).map(UserId).collect();
    engine.follow_many(AccountId(BIG), &everyone)?;
    let mut model = Model {
        accounts: SMALL_ACCOUNTS + 1,
        ..Model::default()
    };
    for a in 0..=SMALL_ACCOUNTS {
        model.followers.insert(a, BTreeSet::new());
    }
    model.followers.insert(BIG, (0..users).collect());
    Ok(model)
}

/// Runs one child until `run_for` has passed, then kills it; `tick` is called with the
/// time since the child was ready, every few milliseconds. Afterwards the tracker's
/// pending operations include the one in flight at the kill.
fn run_child(
    exe: &Path,
    dir: &Path,
    seed: u64,
    mode: Mode,
    run_for: Duration,
    tracker: &mut Tracker,
    mut tick: impl FnMut(Duration) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // Beside the data directory, not on it: that disk may be full.
    let stderr_path =
        std::env::temp_dir().join(format!("herald-crash-child-{}.stderr", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).context("creating the child's stderr")?;
    let mut child = Command::new(exe)
        .args(["crash-child", "--data-dir"])
        .arg(dir)
        .args(["--seed", &seed.to_string()])
        .args(["--mode", mode_name(mode)])
        .stdout(Stdio::piped())
        .stderr(stderr)
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
    let started = Instant::now();
    let mut in_flight: Option<Op> = None;
    while started.elapsed() < run_for {
        tick(started.elapsed())?;
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(line) => tracker.line(&line, &mut in_flight)?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    let _ = child.kill();
    let status = child.wait().context("waiting for the child")?;
    let _ = reader.join();
    // Lines the child printed before the kill still count.
    while let Ok(line) = rx.try_recv() {
        tracker.line(&line, &mut in_flight)?;
    }
    // Only our SIGKILL may end it: a child that stopped on an error ended its round early.
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_path);
    if std::os::unix::process::ExitStatusExt::signal(&status) != Some(9) {
        bail!("the child stopped by itself ({status}) instead of being killed:\n{stderr}");
    }
    tracker.pending.extend(in_flight);
    Ok(())
}
