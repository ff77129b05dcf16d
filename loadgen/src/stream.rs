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
use rand::{Rng, RngCore, SeedableRng};
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
    /// Threads making the stream's sends, each taking the next send when it is free: 1 is
    /// one client waiting for each send's answer (in durable mode, its fsync); more model
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
            send_rate: 2_400.0,
            senders: 1,
            huge_share: 0.02,
            medium_share: 0.18,
            audience_weights: AudienceWeights::default(),
            list_max: 10_000,
            tag_min_followers: 1_000,
            tag_fractions: vec![0.1, 0.05, 0.02, 0.01],
            churn_rate: 1_200_000.0,
            churn_threads: 1,
            churn_batch: 64,
            threads: 0,
            inline_max: herald::EngineConfig::default().inline_max_recipients,
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
        Plan {
            workload: workload.clone(),
            graph,
            sizes,
            weyl,
            classes,
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
///
/// ## Slots
/// Churn slot `j` of an account is its follower index `j * CHURN_STRIDE + CHURN_STRIDE - 1`;
/// an account of `size` followers has `size / CHURN_STRIDE` slots, and thread `t` of `T`
/// owns the slots with `j % T == t`. The thread numbers its own slots `0..total`, account
/// after account (`accounts[r].first`), so that
/// - a uniform draw in `0..total` picks an account in proportion to its size (its slots),
///   and one of its slots uniformly;
/// - the slots unfollowed and not yet re-followed are a bitset over `0..total`;
/// - the account of a slot is a guide-table lookup (`guide`) and a short forward scan.
///
/// So an operation costs no hashing, no binary search and no division but the follower's
/// `mod users`. Memory per thread: 16 bytes per account, 4 per guide entry (about one per
/// account), a bit per slot and 16 bytes per backlog entry: about 4 MB for the default
/// graph (100,000 accounts, 6.25 million slots).
#[derive(Debug)]
pub struct Churn<'a> {
    plan: &'a Plan,
    thread: u32,
    threads: u32,
    rng: StdRng,
    /// `accounts[r].first..accounts[r + 1].first`: this thread's slot numbers of account
    /// `r`; one more entry than there are accounts.
    accounts: Vec<ChurnAccount>,
    /// `guide[b]`: the account of slot `b << shift`; the account of slot `x` is
    /// `guide[x >> shift]` or a little after it.
    guide: Vec<u32>,
    shift: u32,
    /// This thread's slots: `accounts.last().first`.
    total: u64,
    /// Draws whose low product word is below this are redrawn (Lemire's method, with the
    /// threshold computed once): `draw_slot` is exactly uniform.
    redraw_below: u64,
    /// Bit `x` set: slot `x` is unfollowed, waiting in `backlog`.
    out: Vec<u64>,
    /// The unfollowed slots, oldest first; allocated once, at its largest.
    backlog: VecDeque<Removed>,
    /// At this many unfollowed, every operation re-follows: `CHURN_BACKLOG` (tests lower it).
    cap: usize,
    /// Unused random bits for the refollow coin, and how many are left.
    coins: u64,
    coins_left: u32,
}

/// An account as a churn thread sees it: where its slots start and its Weyl sequence, side by
/// side so that finding the account of a slot and its follower touches one cache line.
#[derive(Debug, Clone, Copy)]
struct ChurnAccount {
    first: u64,
    /// The Weyl sequence `(start, stride)`; both are below the user count.
    start: u32,
    stride: u32,
}

/// An unfollowed edge in the backlog, kept with its user so that the re-follow costs no
/// lookup.
#[derive(Debug, Clone, Copy)]
struct Removed {
    slot: u64,
    account: u32,
    user: u32,
}

/// Unfollowed edges a churn thread keeps before it must re-follow.
const CHURN_BACKLOG: usize = 100_000;
/// Guide-table entries per account with slots: enough that the scan after the lookup is
/// short (about one step), few enough that the table stays in cache.
const GUIDE_PER_ACCOUNT: u64 = 1;
/// Draws tried for a slot not already unfollowed before re-following instead.
const UNFOLLOW_TRIES: usize = 64;

impl<'a> Churn<'a> {
    pub fn new(plan: &'a Plan, thread: u32, threads: u32) -> Churn<'a> {
        let threads = threads.max(1);
        let mut accounts = Vec::with_capacity(plan.sizes.len() + 1);
        let mut total = 0u64;
        let mut nonempty = 0u64;
        for (&size, &(start, stride)) in plan.sizes.iter().zip(&plan.weyl) {
            accounts.push(ChurnAccount {
                first: total,
                start: u32::try_from(start).expect("below the user count"),
                stride: u32::try_from(stride).expect("below the user count"),
            });
            let slots = size / CHURN_STRIDE;
            // The j in 0..slots with j % threads == thread.
            let own = if slots > thread {
                (slots - thread - 1) / threads + 1
            } else {
                0
            };
            total += u64::from(own);
            nonempty += u64::from(own > 0);
        }
        accounts.push(ChurnAccount {
            first: total,
            start: 0,
            stride: 0,
        });
        let mut shift = 0;
        while total >> shift > GUIDE_PER_ACCOUNT * nonempty {
            shift += 1;
        }
        let mut guide = Vec::new();
        if total > 0 {
            let buckets = ((total - 1) >> shift) + 1;
            guide.reserve_exact(buckets as usize);
            let mut r = 0;
            for b in 0..buckets {
                while accounts[r + 1].first <= b << shift {
                    r += 1;
                }
                guide.push(r as u32);
            }
        }
        let backlog_len = CHURN_BACKLOG.min(usize::try_from(total).unwrap_or(usize::MAX));
        Churn {
            plan,
            thread,
            threads,
            rng: StdRng::seed_from_u64(splitmix(
                plan.workload.seed ^ 0xc4 ^ u64::from(thread) << 40,
            )),
            accounts,
            guide,
            shift,
            total,
            redraw_below: if total > 0 {
                total.wrapping_neg() % total
            } else {
                0
            },
            out: vec![0; total.div_ceil(64) as usize],
            backlog: VecDeque::with_capacity(backlog_len),
            cap: CHURN_BACKLOG,
            coins: 0,
            coins_left: 0,
        }
    }

    /// The next operation; `None` if the graph has nothing to churn (for this thread).
    pub fn next_op(&mut self) -> Option<ChurnOp> {
        let refollow = match self.backlog.len() {
            0 => false,
            n if n >= self.cap => true,
            _ => self.coin(),
        };
        if !refollow && let Some(op) = self.unfollow() {
            return Some(op);
        }
        // Also when no slot still followed was found, which takes nearly all of the thread's
        // slots in the backlog (a graph with fewer slots than the cap).
        self.refollow()
    }

    fn unfollow(&mut self) -> Option<ChurnOp> {
        if self.total == 0 {
            return None;
        }
        for _ in 0..UNFOLLOW_TRIES {
            let x = self.draw_slot();
            let (word, bit) = ((x >> 6) as usize, 1u64 << (x & 63));
            if self.out[word] & bit != 0 {
                continue;
            }
            self.out[word] |= bit;
            let rank = self.account_of(x);
            let a = self.accounts[rank];
            let j = self.thread + self.threads * (x - a.first) as u32;
            let account = rank as u32;
            // As `Plan::follower`, without the separate `weyl` lookup.
            let user = self.plan.graph.follower_at(
                (u64::from(a.start), u64::from(a.stride)),
                j * CHURN_STRIDE + CHURN_STRIDE - 1,
            );
            self.backlog.push_back(Removed {
                slot: x,
                account,
                user,
            });
            return Some(ChurnOp::Unfollow { account, user });
        }
        None
    }

    fn refollow(&mut self) -> Option<ChurnOp> {
        let e = self.backlog.pop_front()?;
        self.out[(e.slot >> 6) as usize] &= !(1u64 << (e.slot & 63));
        Some(ChurnOp::Follow {
            account: e.account,
            user: e.user,
        })
    }

    /// A slot of this thread, uniformly; `total` must be positive.
    fn draw_slot(&mut self) -> u64 {
        loop {
            let m = u128::from(self.rng.next_u64()) * u128::from(self.total);
            if m as u64 >= self.redraw_below {
                return (m >> 64) as u64;
            }
        }
    }

    /// The account (rank) of slot `x`.
    fn account_of(&self, x: u64) -> usize {
        let mut r = self.guide[(x >> self.shift) as usize] as usize;
        while self.accounts[r + 1].first <= x {
            r += 1;
        }
        r
    }

    /// A fair coin, one random bit at a time.
    fn coin(&mut self) -> bool {
        if self.coins_left == 0 {
            self.coins = self.rng.next_u64();
            self.coins_left = 64;
        }
        let heads = self.coins & 1 != 0;
        self.coins >>= 1;
        self.coins_left -= 1;
        heads
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

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
        let spelled_out = Workload::from_toml_file(&Path::new(dir).join("mixed.toml")).unwrap();
        assert_eq!(
            spelled_out,
            Workload::default(),
            "mixed.toml is the defaults"
        );
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

    /// (account, user) → follower index, for every churnable edge of the graph.
    fn churn_index(plan: &Plan) -> HashMap<(u32, u32), u32> {
        let mut index = HashMap::new();
        for rank in 0..plan.sizes.len() as u32 {
            for i in (CHURN_STRIDE - 1..plan.sizes[rank as usize]).step_by(CHURN_STRIDE as usize) {
                index.insert((rank, plan.follower(rank, i)), i);
            }
        }
        index
    }

    /// Runs `ops` operations of thread `thread` of `threads` with the backlog capped at
    /// `cap`, checking each against a model: unfollows are churnable edges of the graph in
    /// the thread's own slots, never one already unfollowed; re-follows are the unfollowed
    /// edges, oldest first; the cap holds. Returns the edges unfollowed, the re-follows
    /// among operations made below the cap (where a coin decides) and those operations, and
    /// the operations made at the cap.
    fn run_checked(
        plan: &Plan,
        index: &HashMap<(u32, u32), u32>,
        (thread, threads): (u32, u32),
        cap: usize,
        ops: usize,
    ) -> (HashSet<(u32, u32)>, usize, usize, usize) {
        let mut churn = Churn::new(plan, thread, threads);
        churn.cap = cap;
        let mut out: VecDeque<(u32, u32)> = VecDeque::new();
        let mut out_set = HashSet::new();
        let mut unfollowed = HashSet::new();
        let (mut coin_follows, mut coin_ops, mut at_cap) = (0, 0, 0);
        for _ in 0..ops {
            let before = out.len();
            let op = churn.next_op().expect("something to churn");
            match op {
                ChurnOp::Unfollow { account, user } => {
                    let i = *index.get(&(account, user)).expect("a churnable edge");
                    assert_eq!(i % CHURN_STRIDE, CHURN_STRIDE - 1, "{op:?}");
                    assert_eq!(i / CHURN_STRIDE % threads, thread, "own slot: {op:?}");
                    assert!(out_set.insert((account, user)), "unfollowed twice: {op:?}");
                    assert!(before < cap, "unfollow at the cap");
                    out.push_back((account, user));
                    unfollowed.insert((account, user));
                }
                ChurnOp::Follow { account, user } => {
                    assert_eq!(out.pop_front(), Some((account, user)), "oldest first");
                    out_set.remove(&(account, user));
                }
            }
            if before >= cap {
                at_cap += 1;
            } else if before > 0 {
                coin_ops += 1;
                coin_follows += usize::from(matches!(op, ChurnOp::Follow { .. }));
            }
            assert_eq!(churn.backlog.len(), out.len());
        }
        (unfollowed, coin_follows, coin_ops, at_cap)
    }

    #[test]
    fn churn_unfollows_own_slots_once_and_refollows_them_oldest_first() {
        let plan = Plan::new(&small());
        let index = churn_index(&plan);
        for threads in [1, 3] {
            for thread in 0..threads {
                // A backlog of 100 is reached in about 100² operations of the random walk.
                let (unfollowed, follows, coin_ops, at_cap) =
                    run_checked(&plan, &index, (thread, threads), 100, 60_000);
                assert!(unfollowed.len() > 10_000, "{}", unfollowed.len());
                assert!(at_cap > 0, "the cap was reached");
                let share = follows as f64 / coin_ops as f64;
                assert!((share - 0.5).abs() < 0.02, "re-follow share {share}");
            }
        }
    }

    #[test]
    fn churn_threads_never_share_an_edge() {
        let plan = Plan::new(&small());
        let index = churn_index(&plan);
        let sets: Vec<HashSet<(u32, u32)>> = (0..3)
            .map(|t| run_checked(&plan, &index, (t, 3), CHURN_BACKLOG, 40_000).0)
            .collect();
        for a in 0..3 {
            assert!(sets[a].len() > 10_000);
            for b in a + 1..3 {
                assert!(sets[a].is_disjoint(&sets[b]), "threads {a} and {b}");
            }
        }
    }

    #[test]
    fn churn_on_a_graph_smaller_than_the_backlog_keeps_going() {
        // Sizes 327, 164 and 109: 20 + 10 + 6 = 36 slots, all unfollowed at times.
        let w = Workload {
            accounts: 3,
            users: 1_000,
            edges: 600,
            ..Workload::default()
        };
        let plan = Plan::new(&w);
        let index = churn_index(&plan);
        assert_eq!(index.len(), 36);
        for (thread, threads) in [(0, 1), (1, 2), (3, 4)] {
            let (unfollowed, ..) =
                run_checked(&plan, &index, (thread, threads), CHURN_BACKLOG, 20_000);
            let own = index
                .values()
                .filter(|&&i| i / CHURN_STRIDE % threads == thread)
                .count();
            assert_eq!(unfollowed.len(), own, "every own slot churned");
        }
        // Nothing to churn: no account has CHURN_STRIDE followers, or the thread owns no slot.
        let none = Plan::new(&Workload {
            accounts: 5,
            users: 100,
            edges: 20,
            ..Workload::default()
        });
        assert_eq!(Churn::new(&none, 0, 1).next_op(), None);
        assert_eq!(Churn::new(&plan, 20, 21).next_op(), None);
    }

    #[test]
    fn churn_is_deterministic_per_seed_and_thread() {
        let plan = Plan::new(&small());
        let ops = |plan: &Plan, thread| {
            let mut c = Churn::new(plan, thread, 2);
            (0..5_000).map(|_| c.next_op().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(ops(&plan, 0), ops(&plan, 0));
        assert_ne!(ops(&plan, 0), ops(&plan, 1));
        let other = Plan::new(&Workload { seed: 2, ..small() });
        assert_ne!(ops(&plan, 0), ops(&other, 0));
    }

    #[test]
    fn churn_picks_accounts_in_proportion_to_size() {
        // 2.5 million slots: the backlog stays a small part of them.
        let plan = Plan::new(&Workload {
            accounts: 2_000,
            users: 2_000_000,
            edges: 40_000_000,
            ..Workload::default()
        });
        let (thread, threads) = (1, 2);
        let mut churn = Churn::new(&plan, thread, threads);
        let mut counts = vec![0u64; plan.sizes.len()];
        let mut n = 0u64;
        for _ in 0..400_000 {
            if let Some(ChurnOp::Unfollow { account, .. }) = churn.next_op() {
                counts[account as usize] += 1;
                n += 1;
            }
        }
        // Thread 1 of 2 owns the odd slots of each account.
        let own: Vec<u64> = plan
            .sizes
            .iter()
            .map(|&s| u64::from(s / CHURN_STRIDE / 2))
            .collect();
        let total: u64 = own.iter().sum();
        let biggest = (0..counts.len()).max_by_key(|&r| counts[r]).unwrap();
        assert_eq!(biggest, 0, "the biggest account churns most");
        for (r, (&c, &o)) in counts.iter().zip(&own).enumerate() {
            assert!(o > 0 || c == 0, "account {r} has no slot of the thread");
        }
        // Shares of single big accounts and of rank ranges, against their share of slots.
        let ranges = [0..1, 1..2, 4..5, 0..10, 10..100, 100..1_000, 1_000..2_000];
        for range in ranges {
            let got = counts[range.clone()].iter().sum::<u64>() as f64 / n as f64;
            let want = own[range.clone()].iter().sum::<u64>() as f64 / total as f64;
            assert!(
                (got / want - 1.0).abs() < 0.05,
                "ranks {range:?}: {got:.4} of unfollows, {want:.4} of slots"
            );
        }
    }

    /// `cargo test --release -p loadgen --bin loadgen churn_next_op_ns_per_op -- --ignored
    /// --nocapture`: the generator alone, on the default graph, one thread.
    #[test]
    #[ignore = "timing; run with --release --ignored --nocapture"]
    fn churn_next_op_ns_per_op() {
        let plan = Plan::new(&Workload::default());
        let ops = 10_000_000u64;
        for round in 0..3 {
            let mut churn = Churn::new(&plan, 0, 1);
            let mut sink = 0u64;
            let t = std::time::Instant::now();
            for _ in 0..ops {
                match churn.next_op().unwrap() {
                    ChurnOp::Unfollow { account, user } | ChurnOp::Follow { account, user } => {
                        sink = sink.wrapping_add(u64::from(account ^ user))
                    }
                }
            }
            let ns = t.elapsed().as_nanos() as f64 / ops as f64;
            let sink = std::hint::black_box(sink);
            println!(
                "round {round}: {ns:.1} ns/op (backlog {}, sink {sink})",
                churn.backlog.len()
            );
        }
    }
}
