//! The child process of `loadgen crash` (`loadgen crash-child`): random operations on the
//! directory until it is killed, each reported on stdout before (`try OP`) and after (`ok`,
//! `maybe` or `refused`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use herald::{
    AccountError, AccountId, Audience, Engine, FollowError, Message, RegisterError, SendError,
    SendRequest, StorageError, TerminateError, UnfollowError, UserId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::mode::{BIG, Mode, SMALL_ACCOUNTS, config};

#[derive(Debug, clap::Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Mode::Kill)]
    pub mode: Mode,
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
pub fn run_crash_child(args: &ChildArgs) -> anyhow::Result<()> {
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
