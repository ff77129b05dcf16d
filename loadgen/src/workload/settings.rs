//! The settings of the mixed workload (`loadgen mixed` and `loadgen compare`) and where
//! they come from: the defaults, then a TOML workload file (`--workload`), then the flags;
//! each overrides the one before.
//!
//! The defaults have one source: `loadgen/workloads/mixed.toml`, compiled in. It must set
//! every key, so a field added here without its default there fails every test. The flags
//! are `Option`s that override; `--help` shows each flag's default, read from the same
//! place ([`WorkloadArgs::show_defaults`]).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{Context, ensure};
use serde::{Deserialize, Serialize};

use super::zipf::ZipfGraph;

/// The defaults of every setting.
const DEFAULTS_TOML: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/mixed.toml"));

static DEFAULTS: LazyLock<Workload> = LazyLock::new(|| {
    toml::from_str(DEFAULTS_TOML).expect("workloads/mixed.toml sets every setting")
});

/// The settings of a mixed run. Every field is a key of `workloads/mixed.toml`, which sets
/// them all; a workload file sets some of them; a flag of [`WorkloadArgs`] sets one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Accounts; follower counts follow a Zipf law.
    pub accounts: u32,
    /// Users.
    pub users: u32,
    /// Follow edges (about; the Zipf sizes are rounded and capped at `users`).
    pub edges: u64,
    /// Zipf exponent of the follower counts.
    pub zipf: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Length of the send stream and the churn, in seconds (the build is not included).
    pub duration_secs: f64,
    /// Stop the send stream after this many sends (0: no limit).
    pub max_sends: u64,
    /// Mean sends per second of the Poisson stream.
    pub send_rate: f64,
    /// Threads making the stream's sends, each taking the next send when it is free: 1 is
    /// one client waiting for each send's answer (on a durable engine, its fsync); more model
    /// concurrent clients, whose sends a durable engine commits together.
    pub senders: usize,
    /// Share of sends made by accounts with at least 1,000,000 followers.
    pub huge_share: f64,
    /// Share of sends made by accounts with 1,001 to 999,999 followers (the rest: by
    /// accounts with at most 1,000).
    pub medium_share: f64,
    /// Relative weights of the audience kinds: all followers, one tag, a tag expression, an
    /// OpenID list. Accounts without tags draw only between all and list.
    pub audience_weights: AudienceWeights,
    /// Largest OpenID list (the platform allows 2 to 10,000).
    pub list_max: u32,
    /// Accounts with at least this many followers get tags.
    pub tag_min_followers: u32,
    /// Each tagged account has one tag per entry; each follower carries tag `k` with
    /// probability `tag_fractions[k]`, independently.
    pub tag_fractions: Vec<f64>,
    /// Target follow + unfollow operations per second, over all churn threads (0: as fast
    /// as the threads go).
    pub churn_rate: f64,
    /// Threads making follow/unfollow calls.
    pub churn_threads: usize,
    /// Follows and unfollows per call: 1 makes single calls; more hands them to the
    /// system's batch call (herald's `Engine::change_follows`) that many at a time.
    pub churn_batch: usize,
    /// Fan-out worker threads (0: one per core).
    pub threads: usize,
    /// herald delivers sends to at most this many recipients on the sending thread, inside
    /// the send call (`EngineConfig::inline_max_recipients`; 0: every send through the
    /// fan-out workers).
    pub inline_max: u32,
    /// Entries kept per user inbox.
    pub inbox_capacity: usize,
    /// After the stream stops, how long to wait for jobs still running, in seconds.
    pub drain_secs: f64,
}

/// Weights of the audience kinds of a send.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceWeights {
    pub all: f64,
    pub tag: f64,
    pub expr: f64,
    pub list: f64,
}

/// The defaults: `workloads/mixed.toml`.
impl Default for Workload {
    fn default() -> Self {
        DEFAULTS.clone()
    }
}

impl Workload {
    /// A graph small enough for unit tests to plan in milliseconds.
    #[cfg(test)]
    pub fn small() -> Workload {
        Workload {
            accounts: 2_000,
            users: 2_000_000,
            edges: 4_000_000,
            ..Workload::default()
        }
    }

    /// Reads a TOML workload file over the defaults; keys are the field names above, all
    /// optional.
    #[cfg(test)]
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Workload> {
        Workload::from_toml_file_over(path, &Workload::default())
    }

    /// Reads a TOML workload file over `base` (a scenario's own defaults).
    pub fn from_toml_file_over(path: &Path, base: &Workload) -> anyhow::Result<Workload> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Workload::from_toml_over(&text, base).with_context(|| format!("parsing {}", path.display()))
    }

    /// The defaults with the keys of `text` over them (a table such as `audience_weights`
    /// key by key).
    #[cfg(test)]
    pub fn from_toml(text: &str) -> anyhow::Result<Workload> {
        let mut table: toml::Table = toml::from_str(DEFAULTS_TOML)?;
        merge_toml(&mut table, toml::from_str(text)?);
        Ok(toml::Value::Table(table).try_into()?)
    }

    /// `base` with the keys of `text` over it.
    pub fn from_toml_over(text: &str, base: &Workload) -> anyhow::Result<Workload> {
        let toml::Value::Table(mut table) = toml::Value::try_from(base)? else {
            anyhow::bail!("a workload serializes as a table");
        };
        merge_toml(&mut table, toml::from_str(text)?);
        Ok(toml::Value::Table(table).try_into()?)
    }

    /// The same workload at `1 / factor` of the graph size (accounts, users, edges) and
    /// send rate.
    pub fn scaled_down(&self, factor: u32) -> Workload {
        let f = factor.max(1);
        Workload {
            accounts: (self.accounts / f).max(1),
            users: (self.users / f).max(1),
            edges: self.edges / u64::from(f),
            send_rate: self.send_rate / f64::from(f),
            churn_rate: self.churn_rate / f64::from(f),
            ..self.clone()
        }
    }

    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(self.accounts >= 1, "accounts must be at least 1");
        ensure!(self.users >= 2, "users must be at least 2");
        ensure!(self.zipf >= 0.0, "zipf must not be negative");
        ensure!(
            self.duration_secs > 0.0 && self.duration_secs <= 3_600.0,
            "duration must be between 0 and 3,600 seconds"
        );
        ensure!(self.send_rate > 0.0, "send_rate must be positive");
        ensure!(
            (1..=1_024).contains(&self.senders),
            "senders must be 1 to 1,024"
        );
        ensure!(self.churn_rate >= 0.0, "churn_rate must not be negative");
        ensure!(
            (1..=256).contains(&self.churn_batch),
            "churn_batch must be 1 to 256"
        );
        ensure!(
            (0.0..=1.0).contains(&self.huge_share)
                && (0.0..=1.0).contains(&self.medium_share)
                && self.huge_share + self.medium_share <= 1.0,
            "huge_share and medium_share must be shares adding up to at most 1"
        );
        let w = self.audience_weights;
        ensure!(
            [w.all, w.tag, w.expr, w.list].iter().all(|x| *x >= 0.0) && w.all + w.list > 0.0,
            "audience weights must not be negative, and all + list must be positive"
        );
        ensure!(
            (2..=10_000).contains(&self.list_max),
            "list_max must be 2 to 10,000 (the platform's limits)"
        );
        ensure!(
            self.tag_fractions.len() <= 20
                && self.tag_fractions.iter().all(|f| (0.0..=1.0).contains(f)),
            "tag_fractions: at most 20 fractions, each between 0 and 1"
        );
        ensure!(
            self.inbox_capacity >= 1,
            "inbox_capacity must be at least 1"
        );
        ensure!(self.drain_secs >= 0.0, "drain_secs must not be negative");
        Ok(())
    }

    /// Fan-out threads: `threads`, or one per core when it is 0.
    pub fn fan_out_threads(&self, cores: usize) -> usize {
        if self.threads == 0 {
            cores
        } else {
            self.threads
        }
        .max(1)
    }

    pub fn graph(&self) -> ZipfGraph {
        ZipfGraph {
            accounts: self.accounts,
            users: self.users,
            edges: self.edges,
            exponent: self.zipf,
            seed: self.seed,
        }
    }
}

/// Puts the keys of `over` into `into`; a table present in both is merged key by key.
fn merge_toml(into: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge_toml(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Flags that set the workload; each overrides the TOML file, which overrides the defaults.
///
/// Each field is named as the setting it overrides (the key in TOML and in `Workload`), so
/// [`WorkloadArgs::resolve`] and [`WorkloadArgs::show_defaults`] need no list of them.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct WorkloadArgs {
    /// TOML workload file (keys: the flags' names with underscores, e.g. `send_rate`, but
    /// `duration_secs` and `drain_secs` for --duration and --drain; the defaults are
    /// loadgen/workloads/mixed.toml).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub workload: Option<PathBuf>,
    /// Accounts; their follower counts follow a Zipf law.
    #[arg(long)]
    pub accounts: Option<u32>,
    /// Users.
    #[arg(long)]
    pub users: Option<u32>,
    /// Follow edges.
    #[arg(long)]
    pub edges: Option<u64>,
    /// Zipf exponent of follower counts.
    #[arg(long, value_parser = finite)]
    pub zipf: Option<f64>,
    /// Seed of every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds of sends and churn, after the build.
    #[arg(long = "duration", value_name = "SECS", value_parser = finite)]
    pub duration_secs: Option<f64>,
    /// Stop the send stream after this many sends (0: no limit).
    #[arg(long)]
    pub max_sends: Option<u64>,
    /// Mean sends per second of the Poisson stream (mixed's default offers about 59 M
    /// deliveries/s on its default graph).
    #[arg(long, value_parser = finite)]
    pub send_rate: Option<f64>,
    /// Threads making the sends, as concurrent clients (on a durable engine each waits for its
    /// send's fsync, so raise it to see group commit at work).
    #[arg(long)]
    pub senders: Option<usize>,
    /// Share of sends by accounts with >= 1,000,000 followers.
    #[arg(long, value_parser = finite)]
    pub huge_share: Option<f64>,
    /// Share of sends by accounts with 1,001..999,999 followers.
    #[arg(long, value_parser = finite)]
    pub medium_share: Option<f64>,
    /// Largest OpenID list audience, 2..10,000.
    #[arg(long)]
    pub list_max: Option<u32>,
    /// Accounts with at least this many followers get tags.
    #[arg(long)]
    pub tag_min_followers: Option<u32>,
    /// Target follow+unfollow operations per second, 0 = as fast as possible.
    #[arg(long, value_parser = finite)]
    pub churn_rate: Option<f64>,
    /// Threads making follows and unfollows (0 = no churn).
    #[arg(long)]
    pub churn_threads: Option<usize>,
    /// Follows and unfollows per call, 1..256: 1 makes single `follow`/`unfollow` calls,
    /// more uses the batch call `Engine::change_follows`.
    #[arg(long)]
    pub churn_batch: Option<usize>,
    /// Fan-out worker threads (0 = one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// herald delivers sends to at most N recipients on the sending thread, inside the send
    /// call, instead of handing them to a fan-out worker (0 = never).
    #[arg(long, value_name = "N")]
    pub inline_max: Option<u32>,
    /// Entries kept per user inbox.
    #[arg(long)]
    pub inbox_capacity: Option<usize>,
    /// Seconds to wait for running jobs after the stream stops.
    #[arg(long = "drain", value_name = "SECS", value_parser = finite)]
    pub drain_secs: Option<f64>,
}

impl WorkloadArgs {
    /// `base`, or the `--workload` file over the defaults, then the flags given over either.
    pub fn resolve(&self, base: Workload) -> anyhow::Result<Workload> {
        let start = match &self.workload {
            Some(path) => Workload::from_toml_file_over(path, &base)?,
            None => base,
        };
        // Flags not given serialize as null and leave their setting alone (a flag given is
        // never null: floats are finite, see `finite`).
        let mut settings = serde_json::to_value(start)?;
        let flags = serde_json::to_value(self)?;
        if let (Some(settings), serde_json::Value::Object(flags)) =
            (settings.as_object_mut(), flags)
        {
            settings.extend(flags.into_iter().filter(|(_, v)| !v.is_null()));
        }
        let w: Workload = serde_json::from_value(settings)?;
        w.check()?;
        Ok(w)
    }

    /// Appends to the help of each workload flag of `command` its default from `defaults`,
    /// as clap shows defaults: `[default: 100000]`.
    pub fn show_defaults(command: clap::Command, defaults: &Workload) -> clap::Command {
        let values = serde_json::to_value(defaults).expect("settings serialize");
        command.mut_args(|arg| match values.get(arg.get_id().as_str()) {
            Some(value) => {
                let help = arg.get_help().map(|h| format!("{h} ")).unwrap_or_default();
                arg.help(format!("{help}[default: {value}]"))
            }
            None => arg,
        })
    }
}

/// Parses a float flag, refusing NaN and infinities (which no setting accepts).
fn finite(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err("must be a finite number".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn a_file_over_scaled_down_defaults_keeps_the_scale_down() {
        let base = Workload::default().scaled_down(10);
        let w =
            Workload::from_toml_over("seed = 7\n[audience_weights]\nlist = 1.0\n", &base).unwrap();
        assert_eq!(w.seed, 7);
        assert_eq!(
            (w.accounts, w.users, w.edges),
            (base.accounts, base.users, base.edges)
        );
        assert_eq!(w.send_rate, base.send_rate);
        assert!(Workload::from_toml_over("userz = 3", &base).is_err());
    }

    #[test]
    fn toml_overrides_defaults_and_rejects_unknown_keys() {
        let w = Workload::from_toml(
            "users = 1000\nsend_rate = 50.5\ntag_fractions = [0.5]\n[audience_weights]\nlist = 1.0\n",
        )
        .unwrap();
        assert_eq!(w.users, 1_000);
        assert_eq!(w.send_rate, 50.5);
        assert_eq!(w.tag_fractions, vec![0.5]);
        assert_eq!(w.audience_weights.list, 1.0);
        assert_eq!(
            w.audience_weights.all,
            Workload::default().audience_weights.all
        );
        assert_eq!(w.accounts, Workload::default().accounts);
        assert!(Workload::from_toml("userz = 3").is_err());
        assert!(Workload::from_toml("users = \"many\"").is_err());
        assert_eq!(Workload::from_toml("").unwrap(), Workload::default());
    }

    #[test]
    fn example_workload_files_parse_and_check() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let w = Workload::from_toml_file(&path).unwrap();
                w.check().unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 1);
        let spelled_out = Workload::from_toml_file(&Path::new(dir).join("mixed.toml")).unwrap();
        assert_eq!(
            spelled_out,
            Workload::default(),
            "mixed.toml is the defaults"
        );
    }

    #[test]
    fn the_defaults_are_mixed_toml_and_follow_herald() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/mixed.toml"))
                .unwrap();
        // Strict: no default filled in for a key the file does not set.
        let spelled_out: Workload = toml::from_str(&text).unwrap();
        assert_eq!(spelled_out, Workload::default());
        Workload::default().check().unwrap();
        assert_eq!(
            Workload::default().inline_max,
            herald::EngineConfig::default().inline_max_recipients,
            "mixed.toml's inline_max is herald's default inline_max_recipients"
        );
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        workload: WorkloadArgs,
    }

    /// Every flag is named as a setting, shows that setting's default in `--help` and
    /// overrides that setting alone: no flag can be forgotten by `resolve` or by the help.
    #[test]
    fn every_flag_overrides_its_setting_and_shows_its_default() {
        let defaults = serde_json::to_value(Workload::default()).unwrap();
        let command = WorkloadArgs::show_defaults(Cli::command(), &Workload::default());
        let mut flags = 0;
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "workload" || id == "help" {
                continue;
            }
            let default = defaults
                .get(id)
                .unwrap_or_else(|| panic!("--{id} is no setting"));
            let help = arg.get_help().unwrap().to_string();
            assert!(help.ends_with(&format!("[default: {default}]")), "{help}");
            // A value other than the default that still passes `check`.
            let value = match (default.as_u64(), default.as_f64()) {
                (Some(0 | 1), _) => serde_json::json!(default.as_u64().unwrap() + 1),
                (Some(n), _) => serde_json::json!(n - 1),
                (None, Some(x)) => serde_json::json!(x / 2.0),
                _ => panic!("--{id}: default {default}"),
            };
            let long = arg.get_long().unwrap();
            let cli =
                Cli::try_parse_from(["loadgen", &format!("--{long}"), &value.to_string()]).unwrap();
            let got =
                serde_json::to_value(cli.workload.resolve(Workload::default()).unwrap()).unwrap();
            let mut want = defaults.clone();
            want[id] = value;
            assert_eq!(got, want, "--{long}");
            flags += 1;
        }
        assert_eq!(flags, 20);
        assert!(Cli::try_parse_from(["loadgen", "--send-rate", "NaN"]).is_err());
        assert!(Cli::try_parse_from(["loadgen", "--drain", "inf"]).is_err());
    }

    #[test]
    fn a_workload_file_lies_between_the_defaults_and_the_flags() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads");
        let cli = Cli::try_parse_from([
            "loadgen",
            "--workload",
            &format!("{dir}/small.toml"),
            "--users",
            "5000",
        ])
        .unwrap();
        let w = cli
            .workload
            .resolve(Workload::default().scaled_down(10))
            .unwrap();
        let small = Workload::from_toml_file(&Path::new(dir).join("small.toml")).unwrap();
        assert_eq!(
            w,
            Workload {
                users: 5_000,
                ..small
            }
        );
        assert_eq!(small.accounts, 1_000, "from the file");
        assert_eq!(small.seed, Workload::default().seed, "from the defaults");
    }
}
