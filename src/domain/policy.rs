//! Send limits and penalties: the daily broadcast limit of subscription accounts, the
//! monthly per-follower cap of service accounts, the daily preview limit, like-collection
//! bans, and the optional delivery speed.
//!
//! ## Calendar
//! Days and months are UTC calendar days and months of the engine's clock
//! ([`month_of`] uses Howard Hinnant's `civil_from_days`).
//!
//! ## The monthly cap without a counter per follower
//! For the current month a service account keeps `cap` bitmaps: `levels[k]` holds the
//! followers who received at least `k + 1` broadcasts this month. A broadcast's audience
//! loses `audience ∩ levels[cap - 1]` (counted as filtered); then, from the top level down,
//! `levels[k] |= levels[k - 1] ∩ audience` and `levels[0] |= audience`. Every step is a
//! roaring operation over containers: no loop over recipients. A new month starts empty.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roaring::RoaringBitmap;

use crate::clock::Millis;
use crate::config::{DAY_MS, Rules};

/// The UTC calendar day of `ms`: days since 1970-01-01.
pub(crate) fn day_of(ms: Millis) -> u64 {
    ms / DAY_MS
}

/// The UTC calendar month of `ms`, as `year * 12 + (month - 1)`.
pub(crate) fn month_of(ms: Millis) -> u32 {
    let (year, month, _) = crate::clock::utc_date(ms);
    (year * 12 + i64::from(month) - 1) as u32
}

/// A ban on sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ban {
    /// Sending is refused before this time (ms since the epoch) and allowed from it on.
    Until(Millis),
    Permanent,
}

impl Ban {
    pub fn is_active(self, now: Millis) -> bool {
        match self {
            Ban::Until(until) => now < until,
            Ban::Permanent => true,
        }
    }
}

/// Per-account state of the send rules. Written under the account's shard lock.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    /// The day of `broadcasts_today` and `previews_today`.
    pub(crate) day: u64,
    pub(crate) broadcasts_today: u32,
    pub(crate) previews_today: u32,
    /// The month of `levels`.
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
    fn roll_day(&mut self, now: Millis) {
        let day = day_of(now);
        if day != self.day {
            self.day = day;
            self.broadcasts_today = 0;
            self.previews_today = 0;
        }
    }

    fn roll_month(&mut self, now: Millis) {
        let month = month_of(now);
        if month != self.month {
            self.month = month;
            self.levels.clear();
        }
    }

    /// Broadcasts sent today, as of `now`.
    pub(crate) fn broadcasts_on(&self, now: Millis) -> u32 {
        if self.day == day_of(now) {
            self.broadcasts_today
        } else {
            0
        }
    }

    pub(crate) fn previews_on(&self, now: Millis) -> u32 {
        if self.day == day_of(now) {
            self.previews_today
        } else {
            0
        }
    }

    pub(crate) fn count_broadcast(&mut self, now: Millis) {
        self.roll_day(now);
        self.broadcasts_today += 1;
    }

    pub(crate) fn count_preview(&mut self, now: Millis) {
        self.roll_day(now);
        self.previews_today += 1;
    }

    /// The followers of `audience` already at the monthly cap, as of `now`.
    pub(crate) fn over_cap(
        &self,
        audience: &RoaringBitmap,
        cap: u32,
        now: Millis,
    ) -> RoaringBitmap {
        if cap == 0 {
            return audience.clone();
        }
        if self.month != month_of(now) {
            return RoaringBitmap::new();
        }
        match self.levels.get(cap as usize - 1) {
            Some(top) => audience & top,
            None => RoaringBitmap::new(),
        }
    }

    /// Counts one broadcast to `audience` (already without the followers over the cap).
    pub(crate) fn count_monthly(&mut self, audience: &RoaringBitmap, cap: u32, now: Millis) {
        self.roll_month(now);
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

    /// Broadcasts `follower` received in the month of `now` (0..=cap).
    pub(crate) fn received_this_month(&self, follower: u32, now: Millis) -> u32 {
        if self.month != month_of(now) {
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

/// A delivery rate, enforced per chunk: the generic cell rate algorithm (GCRA) with a burst
/// of one chunk. A chunk may start once the time its predecessors paid for has passed; it
/// then pays `recipients / rate`. Real (monotonic) time, since it paces real deliveries.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u64,
    /// When the next chunk may start.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u64) -> Self {
        RateLimiter {
            per_minute: per_minute.max(1),
            next: Mutex::new(None),
        }
    }

    /// Takes the right to deliver `recipients` now, or says when to ask again.
    pub(crate) fn try_acquire(&self, recipients: u32) -> Result<(), Instant> {
        let now = Instant::now();
        let mut next = self.next.lock();
        if let Some(at) = *next
            && at > now
        {
            return Err(at);
        }
        let cost = Duration::from_secs_f64(f64::from(recipients) * 60.0 / self.per_minute as f64);
        *next = Some(now + cost);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_follow_the_utc_calendar() {
        // 2024-01-31T23:59:59.999Z and 2024-02-01T00:00:00Z
        assert_eq!(month_of(1_706_745_599_999), 2024 * 12);
        assert_eq!(month_of(1_706_745_600_000), 2024 * 12 + 1);
        // 2024-02-29 (leap day) is still February; 2024-03-01 is March.
        assert_eq!(month_of(1_709_164_800_000), 2024 * 12 + 1);
        assert_eq!(month_of(1_709_251_200_000), 2024 * 12 + 2);
        assert_eq!(month_of(0), 1970 * 12);
    }

    #[test]
    fn levels_count_broadcasts_per_follower() {
        let mut p = Policy::default();
        let a: RoaringBitmap = (0..10).collect();
        let b: RoaringBitmap = (5..15).collect();
        p.count_monthly(&a, 4, 0);
        p.count_monthly(&b, 4, 0);
        assert_eq!(p.received_this_month(0, 0), 1);
        assert_eq!(p.received_this_month(7, 0), 2);
        assert_eq!(p.received_this_month(20, 0), 0);
        assert!(p.over_cap(&a, 2, 0).iter().eq(5..10));
    }
}
