//! The Zipf follow graph: account sizes that follow a Zipf law, and each account's followers.
//!
//! Account of rank `r` (1-based) gets `E / (H(A, s) * r^s)` followers, capped at the user
//! count, where `H(A, s) = sum over r of 1 / r^s`. Its followers are a Weyl sequence over the
//! users, `(start + i * stride) mod U` with `stride` coprime to `U`: distinct, spread evenly
//! over the id space like real followers, and computable without keeping any state. Every
//! choice comes from the seed, so the same flags build the same graph.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
pub struct ZipfGraph {
    pub accounts: u32,
    pub users: u32,
    pub edges: u64,
    pub exponent: f64,
    pub seed: u64,
}

impl ZipfGraph {
    /// Followers per account, largest first; sums to about `edges`.
    pub fn sizes(&self) -> Vec<u32> {
        let accounts = self.accounts.max(1);
        let harmonic: f64 = (1..=accounts)
            .map(|r| (r as f64).powf(-self.exponent))
            .sum();
        let top = self.edges as f64 / harmonic;
        (1..=accounts)
            .map(|r| {
                let size = (top * (r as f64).powf(-self.exponent)).round();
                size.min(f64::from(self.users)) as u32
            })
            .collect()
    }

    /// The followers of the account of 0-based rank `rank` with `size` followers, ascending.
    pub fn followers(&self, rank: u32, size: u32) -> Vec<u32> {
        let users = u64::from(self.users.max(1));
        let (start, stride) = self.weyl(rank);
        let mut out: Vec<u32> = (0..u64::from(size))
            .map(|i| ((start + i * stride) % users) as u32)
            .collect();
        out.sort_unstable();
        out
    }

    /// The Weyl sequence `(start, stride)` of the account of rank `rank`: its `i`-th follower
    /// (in generation order, not id order) is `(start + i * stride) mod users`.
    pub fn weyl(&self, rank: u32) -> (u64, u64) {
        let users = u64::from(self.users.max(1));
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ u64::from(rank).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let start = rng.random_range(0..users);
        let stride = loop {
            let s = rng.random_range(1..users.max(2));
            if gcd(s, users) == 1 {
                break s;
            }
        };
        (start, stride)
    }

    /// The `i`-th follower (generation order) of an account whose Weyl sequence is `weyl`.
    pub fn follower_at(&self, weyl: (u64, u64), i: u32) -> u32 {
        let users = u64::from(self.users.max(1));
        ((weyl.0 + u64::from(i) * weyl.1) % users) as u32
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_law_and_followers_are_distinct() {
        let g = ZipfGraph {
            accounts: 1_000,
            users: 10_000,
            edges: 100_000,
            exponent: 1.0,
            seed: 7,
        };
        let sizes = g.sizes();
        let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
        assert!((95_000..=105_000).contains(&total), "{total}");
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
        // Rank 1 is capped at the 10,000 users; ranks 2 and 4 are not.
        assert_eq!(sizes[0], 10_000, "capped at the user count");
        assert!(
            (i64::from(sizes[1]) / 2 - i64::from(sizes[3])).abs() <= 1,
            "rank 4 has half of rank 2"
        );
        let f = g.followers(0, sizes[0]);
        assert_eq!(f.len(), sizes[0] as usize);
        assert!(f.windows(2).all(|w| w[0] < w[1]), "distinct and sorted");
        assert!(*f.last().unwrap() < 10_000);
        assert_eq!(f, g.followers(0, sizes[0]), "deterministic");
        let weyl = g.weyl(0);
        let mut by_index: Vec<u32> = (0..sizes[0]).map(|i| g.follower_at(weyl, i)).collect();
        by_index.sort_unstable();
        assert_eq!(by_index, f, "follower_at enumerates the same set");
    }
}
