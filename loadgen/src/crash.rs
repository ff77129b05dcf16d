//! `loadgen crash`: kill -9 during follows, unfollows, sends and snapshots, on a disk that
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use herald::{
    AccountError, AccountId, Audience, Engine, EngineConfig, FollowError, JobId, Message,
    RegisterError, SendError, SendRequest, Seq, StorageError, TerminateError, UnfollowError,
    UserId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::machine::Machine;

const BIG: u32 = 0;
const SMALL_ACCOUNTS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Kill -9 at random moments.
    Kill,
    /// Also fill the disk (a tmpfs mounted by loadgen, root only) during each round.
    DiskFull,
    /// Also terminate accounts while their sends are delivering, and snapshot.
    Terminate,
}

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

#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Mode::Kill)]
    pub mode: Mode,
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
    machine: Machine,
    rustc: &'static str,
    commit: &'static str,
}

pub fn config(mode: Mode) -> EngineConfig {
    let base = EngineConfig {
        threads: 2,
        inbox_capacity: 256,
        history_window: 4_096,
        openid_secret: *b"loadgen-crash-00",
        ..EngineConfig::default()
    };
    match mode {
        // Small inboxes keep snapshots a few MiB, so the tmpfs holds several; small
        // segments make the disk fill as often at a segment's creation as inside one.
        Mode::DiskFull => EngineConfig {
            inbox_capacity: 16,
            segment_bytes: 64 << 10,
            ..base
        },
        // One chunk per block of ids, so a paced send is still delivering when its
        // account is terminated.
        Mode::Terminate => EngineConfig {
            chunk_target: 1,
            ..base
        },
        Mode::Kill => base,
    }
}

/// One operation as the child reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Follow {
        user: u32,
        account: u32,
    },
    Unfollow {
        user: u32,
        account: u32,
    },
    /// Users `from..to` in steps of `step` follow `account`.
    FollowRange {
        account: u32,
        from: u32,
        to: u32,
        step: u32,
    },
    Register {
        account: u32,
    },
    Speed {
        account: u32,
    },
    Send {
        account: u32,
    },
    Terminate {
        account: u32,
    },
    Snapshot,
}

impl Op {
    fn parse(text: &str) -> anyhow::Result<Op> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let num = |i: usize| -> anyhow::Result<u32> {
            parts
                .get(i)
                .with_context(|| format!("short line: {text}"))?
                .parse()
                .with_context(|| format!("bad number: {text}"))
        };
        Ok(match parts.first().copied() {
            Some("follow") => Op::Follow {
                user: num(1)?,
                account: num(2)?,
            },
            Some("unfollow") => Op::Unfollow {
                user: num(1)?,
                account: num(2)?,
            },
            Some("follow-range") => Op::FollowRange {
                account: num(1)?,
                from: num(2)?,
                to: num(3)?,
                step: num(4)?.max(1),
            },
            Some("register") => Op::Register { account: num(1)? },
            Some("speed") => Op::Speed { account: num(1)? },
            Some("send") => Op::Send { account: num(1)? },
            Some("terminate") => Op::Terminate { account: num(1)? },
            Some("snapshot") => Op::Snapshot,
            _ => bail!("unexpected operation from the child: {text}"),
        })
    }
}

/// What the directory must hold, from acknowledgements.
#[derive(Debug, Clone, Default)]
struct Model {
    /// Registered accounts (ids `0..accounts`).
    accounts: u32,
    followers: BTreeMap<u32, BTreeSet<u32>>,
    terminated: BTreeSet<u32>,
    last_seq: HashMap<u32, u32>,
    /// (account, seq) -> audience.
    sends: HashMap<(u32, u32), BTreeSet<u32>>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Follow { user, account } => {
                self.followers.entry(account).or_default().insert(user);
            }
            Op::Unfollow { user, account } => {
                self.followers.entry(account).or_default().remove(&user);
            }
            Op::FollowRange {
                account,
                from,
                to,
                step,
            } => {
                let set = self.followers.entry(account).or_default();
                set.extend((from..to).step_by(step as usize));
            }
            Op::Register { account } => {
                self.accounts = self.accounts.max(account + 1);
                self.followers.entry(account).or_default();
            }
            Op::Send { account } => {
                let seq = self.last_seq.get(&account).copied().unwrap_or(0) + 1;
                self.last_seq.insert(account, seq);
                let audience = self.followers.get(&account).cloned().unwrap_or_default();
                self.sends.insert((account, seq), audience);
            }
            Op::Terminate { account } => {
                self.terminated.insert(account);
                self.followers.remove(&account);
            }
            Op::Speed { .. } | Op::Snapshot => {}
        }
    }

    fn live(&self, account: u32) -> bool {
        account < self.accounts && !self.terminated.contains(&account)
    }
}

/// The model, plus the operations whose durability is not known: `maybe` ones after the
/// last acknowledgement, and the one in flight at a kill.
struct Tracker {
    model: Model,
    pending: Vec<Op>,
    /// When the latest acknowledgement arrived.
    last_ack: Option<Instant>,
    acked: u64,
    maybe: u64,
    refused: u64,
}

impl Tracker {
    fn line(&mut self, line: &str, in_flight: &mut Option<Op>) -> anyhow::Result<()> {
        if let Some(op) = line.strip_prefix("try ") {
            *in_flight = Some(Op::parse(op)?);
        } else if let Some(rest) = line.strip_prefix("ok ") {
            let op = Op::parse(rest)?;
            // An acknowledged record is durable, so is every record before it.
            for earlier in std::mem::take(&mut self.pending) {
                self.model.apply(&earlier);
            }
            if let Op::Send { account } = op {
                // `ok send ACCOUNT SEQ TOTAL`: the child's view must be the model's.
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let seq: u32 = parts.get(2).context("short send line")?.parse()?;
                let total: usize = parts.get(3).context("short send line")?.parse()?;
                let expected_seq = self.model.last_seq.get(&account).copied().unwrap_or(0) + 1;
                let audience = self.model.followers.get(&account).map_or(0, |s| s.len());
                ensure!(
                    seq == expected_seq && total == audience,
                    "send {account}/{seq} of {total} recipients; the model expected {account}/{expected_seq} of {audience}"
                );
            }
            self.model.apply(&op);
            self.acked += 1;
            self.last_ack = Some(Instant::now());
            *in_flight = None;
        } else if let Some(op) = line.strip_prefix("maybe ") {
            self.pending.push(Op::parse(op)?);
            self.maybe += 1;
            *in_flight = None;
        } else if line.starts_with("refused ") {
            self.refused += 1;
            *in_flight = None;
        } else {
            bail!("unexpected line from the child: {line}");
        }
        Ok(())
    }
}

/// A tmpfs mounted for `--mode disk-full`, unmounted when dropped.
struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    fn mount(mib: u32) -> Result<SmallDisk, String> {
        let mount = std::env::temp_dir().join(format!("herald-crash-disk-{}", std::process::id()));
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&mount);
            return Err(format!(
                "mounting a tmpfs needs root: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { mount })
    }

    fn ballast(&self) -> PathBuf {
        self.mount.join("ballast")
    }

    /// Fills every free byte of the disk.
    fn fill(&self) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())?;
        let chunk = vec![0x5a_u8; 1 << 16];
        loop {
            match file.write(&chunk) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return Ok(()),
                Err(e) => return Err(e).context("filling the disk"),
            }
        }
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.ballast());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).output();
        let _ = std::fs::remove_dir(&self.mount);
    }
}

pub fn run(args: &CrashArgs) -> anyhow::Result<()> {
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
        rustc: machine.rustc,
        commit: machine.commit,
        machine: machine.clone(),
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

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Kill => "kill",
        Mode::DiskFull => "disk-full",
        Mode::Terminate => "terminate",
    }
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

struct Check {
    lost: u64,
    duplicates: u64,
    unfinished: u64,
    temporaries: u64,
}

/// What the reopened directory holds, read once.
struct Observed {
    /// Per account id below `account_count`: its followers, or `None` if it does not exist.
    accounts: Vec<Option<BTreeSet<u32>>>,
    /// (account, seq) -> users holding it in their inbox.
    received: HashMap<(u32, u32), BTreeSet<u32>>,
    /// Users whose inbox evicted entries (they may miss some).
    lagging: BTreeSet<u32>,
    duplicates: u64,
}

fn observe(engine: &Engine, capacity: usize) -> anyhow::Result<Observed> {
    let users = engine.user_count() as u32;
    let mut accounts = Vec::new();
    for a in 0..engine.account_count() as u32 {
        let account = AccountId(a);
        if engine.account_name(account).is_err() {
            accounts.push(None);
            continue;
        }
        let mut set = BTreeSet::new();
        for u in 0..users {
            if engine.is_following(account, UserId(u))? {
                set.insert(u);
            }
        }
        accounts.push(Some(set));
    }
    let mut duplicates = 0u64;
    let mut received: HashMap<(u32, u32), BTreeSet<u32>> = HashMap::new();
    let mut lagging = BTreeSet::new();
    for u in 0..users {
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            let fetched = engine.fetch(UserId(u), cursor, capacity)?;
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
    Ok(Observed {
        accounts,
        received,
        lagging,
        duplicates,
    })
}

/// How far the directory departs from `model`: follower differences, accounts that should
/// (not) exist, sends missing, extra or delivered wrongly.
fn mismatches(engine: &Engine, seen: &Observed, model: &Model) -> u64 {
    let mut lost = 0u64;
    let known = (seen.accounts.len() as u32).max(model.accounts);
    for a in 0..known {
        let actual = seen.accounts.get(a as usize).and_then(Option::as_ref);
        match (model.live(a), actual) {
            (true, Some(actual)) => {
                let expected = model.followers.get(&a).cloned().unwrap_or_default();
                lost += expected.symmetric_difference(actual).count() as u64;
            }
            (false, None) => {}
            _ => lost += 1,
        }
    }
    for (&(account, seq), audience) in &model.sends {
        let got = seen
            .received
            .get(&(account, seq))
            .cloned()
            .unwrap_or_default();
        if !model.live(account) {
            // A terminated account's messages are gone from every inbox.
            lost += got.len() as u64;
            continue;
        }
        let Some(job) = engine.job(JobId {
            account: AccountId(account),
            seq: Seq(seq),
        }) else {
            lost += 1;
            continue;
        };
        let report = job.report();
        if report.total != audience.len() as u64
            || (report.status.is_finished() && report.sent != report.total)
        {
            lost += 1;
        }
        let missing = audience
            .iter()
            .filter(|u| !got.contains(u) && !seen.lagging.contains(u))
            .count();
        let extra = got.iter().filter(|u| !audience.contains(u)).count();
        lost += (missing + extra) as u64;
    }
    // A send the model does not have (neither acknowledged nor possibly durable).
    for a in 0..model.accounts {
        if !model.live(a) {
            continue;
        }
        let next = model.last_seq.get(&a).copied().unwrap_or(0) + 1;
        if engine
            .job(JobId {
                account: AccountId(a),
                seq: Seq(next),
            })
            .is_some()
        {
            lost += 1;
        }
    }
    lost
}

fn check(dir: &Path, mode: Mode, tracker: &mut Tracker) -> anyhow::Result<Check> {
    let config = config(mode);
    let engine = Engine::open(dir, config.clone()).context("reopening after the kill")?;
    let temporaries = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count() as u64;
    // Resumed jobs finish; give them a bounded time.
    let waited = Instant::now();
    while engine.unfinished_jobs() > 0 && waited.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let unfinished = engine.unfinished_jobs() as u64;
    let seen = observe(&engine, config.inbox_capacity)?;
    // The directory holds the model plus some prefix of the pending operations: keep the
    // prefix it matches best (a perfect match, unless something was lost).
    let mut best: Option<(u64, Model)> = None;
    let mut candidate = tracker.model.clone();
    for k in 0..=tracker.pending.len() {
        if k > 0 {
            candidate.apply(&tracker.pending[k - 1]);
        }
        let lost = mismatches(&engine, &seen, &candidate);
        if best.as_ref().is_none_or(|(b, _)| lost < *b) {
            best = Some((lost, candidate.clone()));
        }
    }
    let (lost, model) = best.expect("at least the empty prefix");
    tracker.model = model;
    tracker.pending.clear();
    // A snapshot now keeps the next child's open short (and puts snapshots between kills).
    engine.snapshot()?;
    Ok(Check {
        lost,
        duplicates: seen.duplicates,
        unfinished,
        temporaries,
    })
}

/// How an operation ended, for the child's report line.
enum Outcome {
    Ok(String),
    Maybe,
    Refused,
}

fn outcome<T, E: std::fmt::Display>(
    result: Result<T, E>,
    storage: fn(&E) -> Option<&StorageError>,
    ok: impl FnOnce(T) -> String,
) -> anyhow::Result<Outcome> {
    match result {
        Ok(value) => Ok(Outcome::Ok(ok(value))),
        Err(e) => match storage(&e) {
            Some(StorageError::NotDurable(_)) => Ok(Outcome::Maybe),
            Some(_) => Ok(Outcome::Refused),
            None => bail!("unexpected error: {e}"),
        },
    }
}

fn follow_storage(e: &FollowError) -> Option<&StorageError> {
    match e {
        FollowError::Storage(s) => Some(s),
        _ => None,
    }
}

fn unfollow_storage(e: &UnfollowError) -> Option<&StorageError> {
    match e {
        UnfollowError::Storage(s) => Some(s),
        _ => None,
    }
}

fn register_storage(e: &RegisterError) -> Option<&StorageError> {
    match e {
        RegisterError::Storage(s) => Some(s),
        _ => None,
    }
}

fn account_storage(e: &AccountError) -> Option<&StorageError> {
    match e {
        AccountError::Storage(s) => Some(s),
        _ => None,
    }
}

fn terminate_storage(e: &TerminateError) -> Option<&StorageError> {
    match e {
        TerminateError::Storage(s) => Some(s),
        _ => None,
    }
}

fn send_storage(e: &SendError) -> Option<&StorageError> {
    match e {
        SendError::Storage(s) => Some(s),
        _ => None,
    }
}

/// The child: random operations until killed, each reported before and after.
pub fn child(args: &ChildArgs) -> anyhow::Result<()> {
    let engine = Engine::open(&args.data_dir, config(args.mode))?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let users = engine.user_count() as u32;
    let out = std::io::stdout();
    let say = |line: String| {
        let mut out = out.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    // Runs one operation: `try`, then `ok`/`maybe`/`refused`. While the log is refused,
    // ask the engine to retry it now and then instead of spinning.
    let mut refusals = 0u32;
    let mut report = |op: String, outcome: anyhow::Result<Outcome>| -> anyhow::Result<bool> {
        match outcome? {
            Outcome::Ok(detail) => {
                say(format!("ok {op}{detail}"));
                refusals = 0;
                Ok(true)
            }
            Outcome::Maybe => {
                say(format!("maybe {op}"));
                Ok(false)
            }
            Outcome::Refused => {
                say(format!("refused {op}"));
                refusals += 1;
                std::thread::sleep(Duration::from_millis(1));
                if refusals.is_multiple_of(20) {
                    let _ = engine.sync();
                }
                Ok(false)
            }
        }
    };
    say("ready".into());
    let mut n = 0u64;
    loop {
        n += 1;
        let roll = rng.random_range(0..100);
        if args.mode == Mode::Terminate && roll < 8 {
            // An account that is terminated while its send is still delivering.
            // The child is the only writer: the next account gets the next id.
            let account = engine.account_count() as u32;
            let op = format!("register {account}");
            say(format!("try {op}"));
            let result = engine.register_account(&format!("temporary {n}"));
            let registered = report(op, outcome(result, register_storage, |_| String::new()))?;
            if !registered {
                continue;
            }
            // About 4,000 followers spread over every block of ids from `from` on: a send
            // of several chunks, paced by the speed tier.
            let from = rng.random_range(0..users / 4);
            let to = users;
            let step = ((to - from) / 4_000).max(1);
            let op = format!("follow-range {account} {from} {to} {step}");
            say(format!("try {op}"));
            let range: Vec<UserId> = (from..to).step_by(step as usize).map(UserId).collect();
            if !report(
                op.clone(),
                outcome(
                    engine.follow_many(AccountId(account), &range),
                    follow_storage,
                    |_| String::new(),
                ),
            )? {
                continue;
            }
            let op = format!("speed {account}");
            say(format!("try {op}"));
            report(
                op,
                outcome(
                    engine.set_speed_tier(AccountId(account), Some(rng.random_range(0..=4))),
                    account_storage,
                    |_| String::new(),
                ),
            )?;
            send(&engine, account, n, &say, &mut report)?;
            let op = format!("terminate {account}");
            say(format!("try {op}"));
            report(
                op,
                outcome(
                    engine.terminate_account(AccountId(account)),
                    terminate_storage,
                    |_| String::new(),
                ),
            )?;
            if rng.random_bool(0.5) {
                snapshot(&engine, &say);
            }
        } else if roll < 80 {
            let user = rng.random_range(0..users);
            let account = rng.random_range(0..=SMALL_ACCOUNTS);
            if engine.is_following(AccountId(account), UserId(user))? {
                let op = format!("unfollow {user} {account}");
                say(format!("try {op}"));
                let result = engine.unfollow(AccountId(account), UserId(user));
                report(op, outcome(result, unfollow_storage, |_| String::new()))?;
            } else {
                let op = format!("follow {user} {account}");
                say(format!("try {op}"));
                let result = engine.follow(AccountId(account), UserId(user), None);
                report(op, outcome(result, follow_storage, |_| String::new()))?;
            }
        } else if roll < 98 {
            let account = if roll < 84 {
                BIG
            } else {
                rng.random_range(1..=SMALL_ACCOUNTS)
            };
            send(&engine, account, n, &say, &mut report)?;
        } else {
            snapshot(&engine, &say);
        }
    }
}

fn send(
    engine: &Engine,
    account: u32,
    n: u64,
    say: &impl Fn(String),
    report: &mut impl FnMut(String, anyhow::Result<Outcome>) -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    let op = format!("send {account}");
    say(format!("try {op}"));
    let result = engine.send(
        AccountId(account),
        SendRequest::new(Message::Text(format!("crash test {n}")), Audience::All),
    );
    report(
        op,
        outcome(result, send_storage, |job| {
            format!(" {} {}", job.id().seq.0, job.report().total)
        }),
    )
}

/// A snapshot changes nothing the model tracks; one that fails (a full disk) is refused.
fn snapshot(engine: &Engine, say: &impl Fn(String)) {
    say("try snapshot".into());
    match engine.snapshot() {
        Ok(_) => say("ok snapshot".into()),
        Err(_) => say("refused snapshot".into()),
    }
}
