//! Send limits and penalties: the daily broadcast limit of subscription accounts, the
//! monthly per-follower cap of service accounts, the daily preview limit, like-collection
//! bans, and the optional delivery speed.
//!
//! ## Calendar
//! Days and months are calendar days and months of the platform's time zone
//! ([`Rules::time_zone`], default `Asia/Shanghai`) at the engine's clock, numbered by
//! [`Period`]: a day as days since 1970-01-01, a month as `year * 12 + (month - 1)`, both of
//! the local date. The calendar is jiff's, over its bundled IANA database: a day starts at
//! local midnight (or where a daylight-saving gap ends) and may last 23 or 25 hours.
//!
//! ## A clock that steps back
//! The counters belong to the latest day and the latest month seen. A time whose day (or
//! month) is earlier than theirs, because the clock stepped back, is counted against that
//! latest period, as if it belonged to it: a step back can neither let a period's count pass
//! its limit (the latest period's count is checked and raised) nor wipe a later period's
//! counts (only a later period starts new ones). The price is that a stepped-back send may
//! be refused, or filtered, by the later period's count.
//!
//! ## Stored periods
//! Snapshots keep `day` and `month` as these numbers. Before the time zone was a setting
//! they were UTC dates; an old snapshot's numbers are read as the same calendar dates in the
//! configured zone (no format change: a number names a date either way). Zones east of UTC
//! see no step back from this; in a zone west of UTC a count kept for a UTC date may be
//! carried for up to a day into the local date of that number, by the rule above.
//!
//! ## The monthly cap without a counter per follower
//! For the current month a service account keeps `cap` bitmaps: `levels[k]` holds the
//! followers who received at least `k + 1` broadcasts this month. A broadcast's audience
//! loses `audience ∩ levels[cap - 1]` (counted as filtered); then, from the top level down,
//! `levels[k] |= levels[k - 1] ∩ audience` and `levels[0] |= audience`. Every step is a
//! roaring operation over containers: no loop over recipients. A new month starts empty.

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::clock::{Millis, Period};
use crate::config::Rules;
use crate::error::Ban;
use crate::machinery::rate::RateLimiter;

/// Per-account state of the send rules. Written under the account's shard lock.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// The day of `broadcasts_today` and `previews_today`: the latest seen (see the module
    /// doc on clocks that step back).
    pub(crate) day: u64,
    pub(crate) broadcasts_today: u32,
    pub(crate) previews_today: u32,
    /// The month of `levels`: the latest seen.
    pub(crate) month: u32,
    /// `levels[k]`: followers who received at least `k + 1` broadcasts in `month`.
    pub(crate) levels: Vec<RoaringBitmap>,
    /// Like-collection violations ever recorded, with their time.
    pub(crate) violations: Vec<Millis>,
    pub(crate) ban: Option<Ban>,
    /// Delivery speed tier, 0..=4; `None` is unlimited.
    pub(crate) speed_tier: Option<u8>,
    /// The limiter of the tier, shared with the account's jobs; `None` when unlimited.
    pub(crate) limiter: Option<Arc<RateLimiter>>,
}

impl Policy {
    /// Starts new day counters if `at` is a later day than theirs; an earlier day (a clock
    /// that stepped back) counts against the latest.
    fn roll_day(&mut self, at: Period) {
        if at.day > self.day {
            self.day = at.day;
            self.broadcasts_today = 0;
            self.previews_today = 0;
        }
    }

    fn roll_month(&mut self, at: Period) {
        if at.month > self.month {
            self.month = at.month;
            self.levels.clear();
        }
    }

    /// The day whose counts apply at `at`: its own, or the latest seen if later.
    pub(crate) fn counting_day(&self, at: Period) -> u64 {
        at.day.max(self.day)
    }

    /// Broadcasts counted for the day of `at`.
    pub(crate) fn broadcasts_on(&self, at: Period) -> u32 {
        if at.day > self.day {
            0
        } else {
            self.broadcasts_today
        }
    }

    /// Previews counted for the day of `at`.
    pub(crate) fn previews_on(&self, at: Period) -> u32 {
        if at.day > self.day {
            0
        } else {
            self.previews_today
        }
    }

    pub(crate) fn count_broadcast(&mut self, at: Period) {
        self.roll_day(at);
        self.broadcasts_today = self.broadcasts_today.saturating_add(1);
    }

    pub(crate) fn count_preview(&mut self, at: Period) {
        self.roll_day(at);
        self.previews_today = self.previews_today.saturating_add(1);
    }

    /// The followers of `audience` already at the monthly cap, in the month of `at`.
    pub(crate) fn over_cap(&self, audience: &RoaringBitmap, cap: u32, at: Period) -> RoaringBitmap {
        if cap == 0 {
            return audience.clone();
        }
        if at.month > self.month {
            return RoaringBitmap::new();
        }
        match self.levels.get(cap as usize - 1) {
            Some(top) => audience & top,
            None => RoaringBitmap::new(),
        }
    }

    /// Counts one broadcast to `audience` (already without the followers over the cap).
    pub(crate) fn count_monthly(&mut self, audience: &RoaringBitmap, cap: u32, at: Period) {
        self.roll_month(at);
        let cap = cap as usize;
        if cap == 0 {
            return;
        }
        if self.levels.len() < cap {
            self.levels.resize_with(cap, RoaringBitmap::new);
        }
        for k in (1..cap).rev() {
            let (lower, upper) = self.levels.split_at_mut(k);
            upper[0] |= &lower[k - 1] & audience;
        }
        self.levels[0] |= audience;
    }

    /// Broadcasts `follower` received in the month of `at` (0..=cap).
    pub(crate) fn received_this_month(&self, follower: u32, at: Period) -> u32 {
        if at.month > self.month {
            return 0;
        }
        self.levels.iter().filter(|l| l.contains(follower)).count() as u32
    }

    /// Records a violation at `at` and sets the ban it earns: the n-th violation bans for
    /// `rules.ban_durations_ms[n - 1]`, from `at` (or from the end of a longer running ban),
    /// and any violation past the list bans permanently.
    pub(crate) fn record_violation(&mut self, at: Millis, rules: &Rules) -> Ban {
        self.violations.push(at);
        let n = self.violations.len();
        let ban = match rules.ban_durations_ms.get(n - 1) {
            Some(&len) => {
                let until = at.saturating_add(len);
                match self.ban {
                    Some(Ban::Permanent) => Ban::Permanent,
                    Some(Ban::Until(old)) if old > until => Ban::Until(old),
                    _ => Ban::Until(until),
                }
            }
            None => Ban::Permanent,
        };
        self.ban = Some(ban);
        ban
    }

    /// The ban in force at `now`, if any (bans lift by themselves).
    pub(crate) fn active_ban(&self, now: Millis) -> Option<Ban> {
        self.ban.filter(|b| b.is_active(now))
    }

    pub(crate) fn set_speed_tier(&mut self, tier: Option<u8>, rules: &Rules) {
        self.speed_tier = tier;
        self.limiter = tier.map(|t| {
            Arc::new(RateLimiter::new(
                rules.speed_tiers_per_minute[usize::from(t).min(4)],
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN: Period = Period {
        day: 19_723,
        month: 2024 * 12,
    };
    const FEB: Period = Period {
        day: 19_754,
        month: 2024 * 12 + 1,
    };

    #[test]
    fn a_stepped_back_time_counts_against_the_latest_period() {
        let mut p = Policy::default();
        let one: RoaringBitmap = std::iter::once(1).collect();
        for _ in 0..2 {
            p.count_monthly(&one, 2, JAN);
        }
        p.count_monthly(&one, 2, FEB);
        p.count_broadcast(FEB);
        // Back in January: February's counts apply, and stay.
        assert_eq!(p.over_cap(&one, 2, JAN).len(), 0);
        p.count_monthly(&one, 2, JAN);
        p.count_broadcast(JAN);
        assert_eq!(p.received_this_month(1, FEB), 2);
        assert_eq!(p.over_cap(&one, 2, FEB).len(), 1);
        assert_eq!(p.broadcasts_on(FEB), 2);
        assert_eq!(p.counting_day(JAN), FEB.day);
    }

    #[test]
    fn levels_count_broadcasts_per_follower() {
        let mut p = Policy::default();
        let a: RoaringBitmap = (0..10).collect();
        let b: RoaringBitmap = (5..15).collect();
        p.count_monthly(&a, 4, JAN);
        p.count_monthly(&b, 4, JAN);
        assert_eq!(p.received_this_month(0, JAN), 1);
        assert_eq!(p.received_this_month(7, JAN), 2);
        assert_eq!(p.received_this_month(20, JAN), 0);
        assert!(p.over_cap(&a, 2, JAN).iter().eq(5..10));
        assert_eq!(p.received_this_month(7, FEB), 0);
    }
}
