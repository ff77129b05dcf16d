//! Audience size classes: small (at most 1,000 recipients), medium, huge (at least
//! 1,000,000). Latencies are reported per class, and senders are picked by the class of
//! their follower count.

use serde::Serialize;

/// Audiences of at most this many recipients are "small".
pub const SMALL_MAX: u64 = 1_000;
/// Audiences of at least this many recipients are "huge".
pub const HUGE_MIN: u64 = 1_000_000;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_at_1000_and_one_million() {
        assert_eq!(Bucket::of(0), Bucket::Small);
        assert_eq!(Bucket::of(1_000), Bucket::Small);
        assert_eq!(Bucket::of(1_001), Bucket::Medium);
        assert_eq!(Bucket::of(999_999), Bucket::Medium);
        assert_eq!(Bucket::of(1_000_000), Bucket::Huge);
    }
}
