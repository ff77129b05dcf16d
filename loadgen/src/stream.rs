//! The mixed workload: its settings (flags and TOML), the plan derived from them (graph,
//! tags, account classes), the Poisson send stream and the follow/unfollow churn.
//!
//! Everything here is a pure function of the settings and the seed, so two systems given the
//! same settings see the same graph, the same sends at the same offsets and the same churn
//! operations (`loadgen compare` relies on it). Nothing here touches a system.
//!
//! ## Follower indexes
//! The `i`-th follower of an account is the `i`-th element of its Weyl sequence
//! ([`ZipfGraph::follower_at`]). Tag membership and every random choice name followers by
//! index. Indexes `i` with `i % CHURN_STRIDE == CHURN_STRIDE - 1` belong to the churn (it
//! unfollows and re-follows only those); list audiences pick only the others, so a listed
//! follower always still follows when the send is made.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::workload::ZipfGraph;

/// One follower index in this many is churned; the others are stable.
pub const CHURN_STRIDE: u32 = 16;
/// Audiences of at most this many recipients are "small".
pub const SMALL_MAX: u64 = 1_000;
/// Audiences of at least this many recipients are "huge".
pub const HUGE_MIN: u64 = 1_000_000;

/// The settings of a mixed run. Defaults, then a TOML file, then flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Fan-out worker threads (0: one per core).
    pub threads: usize,
    /// Entries kept per user inbox.
    pub inbox_capacity: usize,
    /// After the stream stops, how long to wait for jobs still running, in seconds.
    pub drain_secs: f64,
}

/// Weights of the audience kinds of a send.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudienceWeights {
    pub all: f64,
    pub tag: f64,
    pub expr: f64,
    pub list: f64,
}

impl Default for AudienceWeights {
    fn default() -> Self {
        AudienceWeights {
            all: 0.4,
            tag: 0.25,
            expr: 0.2,
            list: 0.15,
        }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            accounts: 100_000,
            users: 10_000_000,
            edges: 100_000_000,
            zipf: 1.0,
            seed: 1,
            duration_secs: 20.0,
            max_sends: 0,
            send_rate: 2_000.0,
            huge_share: 0.02,
            medium_share: 0.18,
            audience_weights: AudienceWeights::default(),
            list_max: 10_000,
            tag_min_followers: 1_000,
            tag_fractions: vec![0.1, 0.05, 0.02, 0.01],
            churn_rate: 1_200_000.0,
            churn_threads: 1,
            threads: 0,
            inbox_capacity: 32,
            drain_secs: 10.0,
        }
    }
}

impl Workload {
    /// Reads a TOML workload file; keys are the field names above, all optional.
    pub fn from_toml_file(path: &Path) -> anyhow::Result<Workload> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Workload::from_toml(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Workload> {
        Ok(toml::from_str(text)?)
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
        ensure!(self.churn_rate >= 0.0, "churn_rate must not be negative");
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

/// Size class of an audience (or of an account, by its follower count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Small,
    Medium,
    Huge,
}

impl Bucket {
    pub const ALL: [Bucket; 3] = [Bucket::Small, Bucket::Medium, Bucket::Huge];

    /// `≤ 1,000` small, `≥ 1,000,000` huge, medium between.
    pub fn of(recipients: u64) -> Bucket {
        if recipients <= SMALL_MAX {
            Bucket::Small
        } else if recipients >= HUGE_MIN {
            Bucket::Huge
        } else {
            Bucket::Medium
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Small => "small",
            Bucket::Medium => "medium",
            Bucket::Huge => "huge",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Bucket::Small => "small (<= 1,000)",
            Bucket::Medium => "medium",
            Bucket::Huge => "huge (>= 1,000,000)",
        }
    }
}

/// What the settings generate: the graph, the tags, the classes of accounts.
#[derive(Debug)]
pub struct Plan {
    pub workload: Workload,
    pub graph: ZipfGraph,
    /// Followers per account rank (= account id).
    pub sizes: Vec<u32>,
    /// Weyl sequence of each account.
    pub weyl: Vec<(u64, u64)>,
    /// Account ranks by class of follower count.
    pub classes: [Vec<u32>; 3],
    /// `cumulative[r]` = churnable followers of ranks `0..=r`: churn picks accounts in
    /// proportion to their size.
    cumulative: Vec<u64>,
}

impl Plan {
    pub fn new(workload: &Workload) -> Plan {
        let graph = workload.graph();
        let sizes = graph.sizes();
        let weyl = (0..sizes.len() as u32).map(|r| graph.weyl(r)).collect();
        let mut classes: [Vec<u32>; 3] = Default::default();
        for (rank, &size) in sizes.iter().enumerate() {
            classes[Bucket::of(u64::from(size)) as usize].push(rank as u32);
        }
        let mut total = 0u64;
        let cumulative = sizes
            .iter()
            .map(|&s| {
                total += u64::from(s / CHURN_STRIDE);
                total
            })
            .collect();
        Plan {
            workload: workload.clone(),
            graph,
            sizes,
            weyl,
            classes,
            cumulative,
        }
    }

    pub fn edges(&self) -> u64 {
        self.sizes.iter().map(|&s| u64::from(s)).sum()
    }

    /// The user id of follower `index` of account `rank`.
    pub fn follower(&self, rank: u32, index: u32) -> u32 {
        self.graph.follower_at(self.weyl[rank as usize], index)
    }

    /// Tags of the account of rank `rank` (their ids are `0..n` in creation order).
    pub fn tags_of_account(&self, rank: u32) -> u32 {
        if self.sizes[rank as usize] >= self.workload.tag_min_followers.max(1) {
            self.workload.tag_fractions.len() as u32
        } else {
            0
        }
    }

    /// Whether follower `index` of account `rank` carries tag `tag`.
    pub fn tagged(&self, rank: u32, index: u32, tag: u32) -> bool {
        let h = splitmix(
            self.workload.seed
                ^ (u64::from(rank) << 32 | u64::from(index))
                ^ splitmix(u64::from(tag) + 0x7a67),
        );
        ((h >> 11) as f64 / (1u64 << 53) as f64) < self.workload.tag_fractions[tag as usize]
    }

    /// Churnable (rank, index): picked in proportion to account size.
    fn churn_edge(&self, rng: &mut StdRng, thread: u32, threads: u32) -> Option<(u32, u32)> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        let x = rng.random_range(0..total);
        let rank = self.cumulative.partition_point(|&c| c <= x) as u32;
        let slots = self.sizes[rank as usize] / CHURN_STRIDE;
        // Slot j is index j*STRIDE + STRIDE-1; thread t owns the slots j with j % T == t.
        let mut j = rng.random_range(0..slots);
        j = j - j % threads + thread;
        (j < slots).then_some((rank, j * CHURN_STRIDE + CHURN_STRIDE - 1))
    }
}

/// SplitMix64's finaliser: a cheap, well mixed hash of a u64.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Arrival times of a Poisson process: exponential gaps of mean `1 / rate`.
#[derive(Debug)]
pub struct Arrivals {
    rate: f64,
    at: f64,
    rng: StdRng,
}

impl Arrivals {
    pub fn new(rate: f64, seed: u64) -> Arrivals {
        Arrivals {
            rate,
            at: 0.0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next arrival, as an offset from the start.
    pub fn next_at(&mut self) -> Duration {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u: f64 = self.rng.random();
        self.at += -(1.0 - u).ln() / self.rate;
        Duration::from_secs_f64(self.at)
    }
}

/// A tag expression over an account's tags by index; see [`herald::TagExpr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Tag(u32),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// Who a generated send goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceSpec {
    All,
    Tag(u32),
    Expr(Expr),
    /// Internal user ids, distinct, all following the account.
    List(Vec<u32>),
}

impl AudienceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            AudienceSpec::All => "all",
            AudienceSpec::Tag(_) => "tag",
            AudienceSpec::Expr(_) => "expr",
            AudienceSpec::List(_) => "list",
        }
    }
}

/// One generated send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSpec {
    /// When to make it, from the start of the stream.
    pub at: Duration,
    pub account: u32,
    pub audience: AudienceSpec,
}

/// The stream of sends: Poisson arrivals, sender classes by share, audiences by weight.
#[derive(Debug)]
pub struct SendStream<'a> {
    plan: &'a Plan,
    arrivals: Arrivals,
    rng: StdRng,
}

impl<'a> SendStream<'a> {
    pub fn new(plan: &'a Plan) -> SendStream<'a> {
        let seed = plan.workload.seed;
        SendStream {
            plan,
            arrivals: Arrivals::new(plan.workload.send_rate, splitmix(seed ^ 0x5e4d)),
            rng: StdRng::seed_from_u64(splitmix(seed ^ 0xa0d1)),
        }
    }

    fn pick_account(&mut self) -> u32 {
        let w = &self.plan.workload;
        let x: f64 = self.rng.random();
        let wanted = if x < w.huge_share {
            Bucket::Huge
        } else if x < w.huge_share + w.medium_share {
            Bucket::Medium
        } else {
            Bucket::Small
        };
        // A class without accounts gives its sends to the nearest class that has some.
        let order: [Bucket; 3] = match wanted {
            Bucket::Huge => [Bucket::Huge, Bucket::Medium, Bucket::Small],
            Bucket::Medium => [Bucket::Medium, Bucket::Huge, Bucket::Small],
            Bucket::Small => [Bucket::Small, Bucket::Medium, Bucket::Huge],
        };
        let class = order
            .iter()
            .map(|b| &self.plan.classes[*b as usize])
            .find(|c| !c.is_empty())
            .expect("at least one account");
        class[self.rng.random_range(0..class.len())]
    }

    pub fn next_send(&mut self) -> SendSpec {
        let at = self.arrivals.next_at();
        let account = self.pick_account();
        let audience = self.pick_audience(account);
        SendSpec {
            at,
            account,
            audience,
        }
    }

    fn pick_audience(&mut self, account: u32) -> AudienceSpec {
        let plan = self.plan;
        let size = plan.sizes[account as usize];
        let tags = plan.tags_of_account(account);
        let w = plan.workload.audience_weights;
        let (tag_w, expr_w) = if tags > 0 {
            (w.tag, w.expr)
        } else {
            (0.0, 0.0)
        };
        // A list needs two stable followers.
        let list_w = if size >= 2 * CHURN_STRIDE {
            w.list
        } else {
            0.0
        };
        let total = w.all + tag_w + expr_w + list_w;
        let mut x = self.rng.random::<f64>() * total;
        if x < w.all || total <= w.all {
            return AudienceSpec::All;
        }
        x -= w.all;
        if x < tag_w {
            return AudienceSpec::Tag(self.rng.random_range(0..tags));
        }
        x -= tag_w;
        if x < expr_w {
            return AudienceSpec::Expr(self.pick_expr(tags));
        }
        AudienceSpec::List(self.pick_list(account, size))
    }

    /// One of a few shapes of expression, over random distinct tags.
    fn pick_expr(&mut self, tags: u32) -> Expr {
        let t = |rng: &mut StdRng| Expr::Tag(rng.random_range(0..tags));
        match self.rng.random_range(0..4) {
            // a and not b
            0 => Expr::And(vec![
                t(&mut self.rng),
                Expr::Not(Box::new(t(&mut self.rng))),
            ]),
            // a or b or c
            1 => Expr::Or(vec![t(&mut self.rng), t(&mut self.rng), t(&mut self.rng)]),
            // not a: almost everyone
            2 => Expr::Not(Box::new(t(&mut self.rng))),
            // (a or b) and not c
            _ => Expr::And(vec![
                Expr::Or(vec![t(&mut self.rng), t(&mut self.rng)]),
                Expr::Not(Box::new(t(&mut self.rng))),
            ]),
        }
    }

    /// 2 to `list_max` distinct stable followers, the count log-uniform.
    fn pick_list(&mut self, account: u32, size: u32) -> Vec<u32> {
        let plan = self.plan;
        // Stable indexes: i % STRIDE != STRIDE - 1; there are about size * 15/16 of them.
        let stable = size - size / CHURN_STRIDE;
        let max = plan.workload.list_max.min(stable.saturating_sub(1)).max(2);
        let count = (2f64 * (f64::from(max) / 2.0).powf(self.rng.random::<f64>())).round() as u32;
        let count = count.clamp(2, max);
        let mut picked = HashSet::with_capacity(count as usize);
        let mut users = Vec::with_capacity(count as usize);
        while users.len() < count as usize {
            let i = self.rng.random_range(0..size);
            if i % CHURN_STRIDE == CHURN_STRIDE - 1 || !picked.insert(i) {
                continue;
            }
            users.push(plan.follower(account, i));
        }
        users
    }
}

/// One follow or unfollow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnOp {
    Unfollow { account: u32, user: u32 },
    Follow { account: u32, user: u32 },
}

/// The churn of one thread: it unfollows random churnable edges (accounts picked in
/// proportion to their size) and re-follows the oldest it removed, about half and half.
/// Threads own disjoint edges, so every operation is valid when made: a correct system
/// refuses none.
#[derive(Debug)]
pub struct Churn<'a> {
    plan: &'a Plan,
    thread: u32,
    threads: u32,
    rng: StdRng,
    removed: VecDeque<(u32, u32)>,
    removed_set: HashSet<(u32, u32)>,
}

/// Unfollowed edges a churn thread keeps before it must re-follow.
const CHURN_BACKLOG: usize = 100_000;

impl<'a> Churn<'a> {
    pub fn new(plan: &'a Plan, thread: u32, threads: u32) -> Churn<'a> {
        Churn {
            plan,
            thread,
            threads: threads.max(1),
            rng: StdRng::seed_from_u64(splitmix(
                plan.workload.seed ^ 0xc4 ^ u64::from(thread) << 40,
            )),
            removed: VecDeque::new(),
            removed_set: HashSet::new(),
        }
    }

    /// The next operation; `None` if the graph has nothing to churn.
    pub fn next_op(&mut self) -> Option<ChurnOp> {
        let refollow = match self.removed.len() {
            0 => false,
            n if n >= CHURN_BACKLOG => true,
            _ => self.rng.random::<bool>(),
        };
        if refollow && let Some((rank, index)) = self.removed.pop_front() {
            self.removed_set.remove(&(rank, index));
            return Some(ChurnOp::Follow {
                account: rank,
                user: self.plan.follower(rank, index),
            });
        }
        for _ in 0..64 {
            let Some(edge) = self
                .plan
                .churn_edge(&mut self.rng, self.thread, self.threads)
            else {
                continue;
            };
            if self.removed_set.insert(edge) {
                self.removed.push_back(edge);
                return Some(ChurnOp::Unfollow {
                    account: edge.0,
                    user: self.plan.follower(edge.0, edge.1),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Workload {
        Workload {
            accounts: 2_000,
            users: 2_000_000,
            edges: 4_000_000,
            ..Workload::default()
        }
    }

    #[test]
    fn poisson_gaps_have_the_right_mean_and_spread() {
        let mut a = Arrivals::new(1_000.0, 3);
        let n = 100_000;
        let mut last = 0.0;
        let gaps: Vec<f64> = (0..n)
            .map(|_| {
                let t = a.next_at().as_secs_f64();
                let g = t - last;
                last = t;
                g
            })
            .collect();
        let mean = gaps.iter().sum::<f64>() / n as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 1e-3).abs() < 2e-5, "mean {mean}");
        // Exponential: standard deviation equals the mean.
        assert!(
            (var.sqrt() / mean - 1.0).abs() < 0.03,
            "cv {}",
            var.sqrt() / mean
        );
        assert!(gaps.iter().all(|g| *g >= 0.0));
        // Counts in 1 s windows are Poisson(1000): about 1000 each.
        let mut b = Arrivals::new(1_000.0, 4);
        let mut in_first = 0;
        while b.next_at() < Duration::from_secs(1) {
            in_first += 1;
        }
        assert!((900..1_100).contains(&in_first), "{in_first}");
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
        assert_eq!(w.audience_weights.all, AudienceWeights::default().all);
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
    }

    #[test]
    fn buckets_split_at_1000_and_one_million() {
        assert_eq!(Bucket::of(0), Bucket::Small);
        assert_eq!(Bucket::of(1_000), Bucket::Small);
        assert_eq!(Bucket::of(1_001), Bucket::Medium);
        assert_eq!(Bucket::of(999_999), Bucket::Medium);
        assert_eq!(Bucket::of(1_000_000), Bucket::Huge);
    }

    #[test]
    fn the_stream_is_deterministic_and_valid() {
        let plan = Plan::new(&small());
        let a: Vec<SendSpec> = {
            let mut s = SendStream::new(&plan);
            (0..2_000).map(|_| s.next_send()).collect()
        };
        let mut s = SendStream::new(&plan);
        let b: Vec<SendSpec> = (0..2_000).map(|_| s.next_send()).collect();
        assert_eq!(a, b);
        let mut kinds = HashSet::new();
        for send in &a {
            kinds.insert(send.audience.kind());
            let size = plan.sizes[send.account as usize];
            match &send.audience {
                AudienceSpec::List(users) => {
                    assert!(users.len() >= 2 && users.len() <= 10_000);
                    let set: HashSet<_> = users.iter().collect();
                    assert_eq!(set.len(), users.len(), "distinct");
                    let followers: HashSet<u32> = plan
                        .graph
                        .followers(send.account, size)
                        .into_iter()
                        .collect();
                    assert!(users.iter().all(|u| followers.contains(u)));
                }
                AudienceSpec::Tag(t) => assert!(*t < plan.tags_of_account(send.account)),
                _ => {}
            }
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn churn_unfollows_only_existing_edges_and_refollows_them() {
        let plan = Plan::new(&small());
        let mut following: HashSet<(u32, u32)> = HashSet::new();
        for rank in 0..plan.sizes.len() as u32 {
            for u in plan.graph.followers(rank, plan.sizes[rank as usize]) {
                following.insert((rank, u));
            }
        }
        let mut threads: Vec<Churn> = (0..2).map(|t| Churn::new(&plan, t, 2)).collect();
        for step in 0..20_000 {
            let op = threads[step % 2].next_op().unwrap();
            match op {
                ChurnOp::Unfollow { account, user } => {
                    assert!(following.remove(&(account, user)), "{op:?}")
                }
                ChurnOp::Follow { account, user } => {
                    assert!(following.insert((account, user)), "{op:?}")
                }
            }
        }
    }
}
