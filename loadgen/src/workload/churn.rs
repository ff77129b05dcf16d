//! The follow/unfollow churn: per thread, unfollows of random churnable edges (accounts
//! picked in proportion to their size) and re-follows of the oldest removed, about half and
//! half. A pure function of the plan, the seed and the thread: every operation is valid
//! when made.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::plan::{CHURN_STRIDE, Plan, splitmix};

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
    use std::collections::{HashMap, HashSet, VecDeque};

    use super::*;
    use crate::workload::Workload;

    #[test]
    fn churn_unfollows_only_existing_edges_and_refollows_them() {
        let plan = Plan::new(&Workload::small());
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
        let plan = Plan::new(&Workload::small());
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
        let plan = Plan::new(&Workload::small());
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
        let plan = Plan::new(&Workload::small());
        let ops = |plan: &Plan, thread| {
            let mut c = Churn::new(plan, thread, 2);
            (0..5_000).map(|_| c.next_op().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(ops(&plan, 0), ops(&plan, 0));
        assert_ne!(ops(&plan, 0), ops(&plan, 1));
        let other = Plan::new(&Workload {
            seed: 2,
            ..Workload::small()
        });
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
