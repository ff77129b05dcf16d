//! The plan: what the settings generate before anything runs. The Zipf graph (follower
//! counts per account and each account's Weyl sequence), which accounts carry tags and which
//! followers hold each tag, and the accounts grouped by size class.
//!
//! ## Follower indexes
//! The `i`-th follower of an account is the `i`-th element of its Weyl sequence
//! ([`ZipfGraph::follower_at`]). Tag membership and every random choice name followers by
//! index. Indexes `i` with `i % CHURN_STRIDE == CHURN_STRIDE - 1` belong to the churn (it
//! unfollows and re-follows only those); list audiences pick only the others, so a listed
//! follower always still follows when the send is made.

use super::bucket::Bucket;
use super::settings::Workload;
use super::zipf::ZipfGraph;

/// One follower index in this many is churned; the others are stable.
pub const CHURN_STRIDE: u32 = 16;

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
