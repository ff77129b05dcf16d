//! The send stream: Poisson arrivals, the sending account picked by the size-class shares,
//! and its audience (all followers, one tag, a tag expression, an OpenID list) by the
//! audience weights. A pure function of the plan and the seed: two systems given the same
//! plan see the same sends at the same offsets.

use std::collections::HashSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::bucket::Bucket;
use super::plan::{CHURN_STRIDE, Plan, splitmix};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

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
    fn the_stream_is_deterministic_and_valid() {
        let plan = Plan::new(&Workload::small());
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
}
