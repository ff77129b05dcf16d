//! Time as the engine sees it: a [`Clock`] the embedder provides, so tests move time instead
//! of sleeping, and the platform's [`TimeZone`], whose calendar days and months the send
//! limits count. Calendar arithmetic is jiff's, over its bundled IANA time-zone database.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
    }
}

/// A clock that only moves when told to: for tests and simulations.
///
/// ```
/// use herald::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance_ms(500);
/// assert_eq!(clock.now_ms(), 1_500);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `start_ms` (ms since the epoch) until it is moved.
    pub fn new(start_ms: Millis) -> Self {
        ManualClock {
            now: AtomicU64::new(start_ms),
        }
    }

    /// Sets the time to `now_ms`, forwards or back.
    pub fn set_ms(&self, now_ms: Millis) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by_ms` milliseconds, stopping at the end of time
    /// (`u64::MAX` ms) rather than wrapping to the epoch.
    pub fn advance_ms(&self, by_ms: Millis) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by_ms))
            });
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}

/// The platform's time zone: the zone whose calendar days and months the send limits
/// count (a subscription account's broadcasts per day, previews per day, a service
/// account's broadcasts per follower per month), and in which error texts show times.
///
/// Built only from an IANA zone name found in the time-zone database that herald carries
/// inside itself ([jiff](https://docs.rs/jiff)'s bundled copy of the IANA database), so the
/// host's `/usr/share/zoneinfo` plays no part and an unknown name is refused where the
/// configuration is built, with a [`TimeZoneError`], before any engine exists. The default
/// is `Asia/Shanghai` (UTC+8, no daylight saving time since 1991).
///
/// ```
/// use herald::{Rules, TimeZone};
/// let rules = Rules {
///     time_zone: TimeZone::named("Europe/Berlin")?,
///     ..Rules::default()
/// };
/// assert_eq!(rules.time_zone.name(), "Europe/Berlin");
/// assert_eq!(Rules::default().time_zone.name(), "Asia/Shanghai");
/// assert!(TimeZone::named("Mars/Olympus_Mons").is_err());
/// # Ok::<(), herald::TimeZoneError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    /// The canonical IANA name (the database's spelling of what was asked for).
    name: Arc<str>,
    tz: jiff::tz::TimeZone,
}

/// A calendar day and month of the platform's time zone, as numbers that grow with time:
/// `day` counts days since 1970-01-01 and `month` is `year * 12 + (month - 1)`, both of the
/// local calendar date. Instants before 1970-01-01 local time count as that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    pub(crate) day: u64,
    pub(crate) month: u32,
}

/// The first day jiff's calendar and ours share: day 0.
const EPOCH_DATE: jiff::civil::Date = jiff::civil::Date::constant(1970, 1, 1);

impl TimeZone {
    /// The zone of an IANA name such as `Asia/Shanghai` or `UTC` (matched without regard to
    /// case).
    pub fn named(name: &str) -> Result<TimeZone, TimeZoneError> {
        let tz = jiff::tz::TimeZone::get(name).map_err(|e| TimeZoneError {
            name: name.to_owned(),
            detail: e.to_string(),
        })?;
        let name: Arc<str> = tz.iana_name().unwrap_or(name).into();
        Ok(TimeZone { name, tz })
    }

    /// Coordinated Universal Time, the same as `TimeZone::named("UTC")`.
    pub fn utc() -> TimeZone {
        TimeZone {
            name: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ms` in jiff's range (which ends in the year 9999; later instants are shown and
    /// counted as its end).
    fn timestamp(ms: Millis) -> jiff::Timestamp {
        let max = jiff::Timestamp::MAX.as_millisecond();
        let ms = i64::try_from(ms).unwrap_or(i64::MAX).min(max);
        // In range by the line above.
        jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::MAX)
    }

    /// The local calendar day and month of `ms`.
    pub(crate) fn period(&self, ms: Millis) -> Period {
        let date = self.tz.to_datetime(Self::timestamp(ms)).date();
        let days = date.duration_since(EPOCH_DATE).as_secs() / 86_400;
        let month = i64::from(date.year()) * 12 + i64::from(date.month()) - 1;
        Period {
            day: u64::try_from(days).unwrap_or(0),
            month: u32::try_from(month).unwrap_or(0),
        }
    }

    /// The first instant of local day `day` (as [`Period::day`] numbers it): its midnight,
    /// or the end of the gap when the clocks skip midnight. `Millis::MAX` past year 9999.
    pub(crate) fn day_start(&self, day: u64) -> Millis {
        let start = i64::try_from(day)
            .ok()
            .and_then(|days| EPOCH_DATE.checked_add(jiff::Span::new().days(days)).ok())
            .and_then(|date| date.to_zoned_datetime(self.tz.clone()).ok())
            .map(|zoned| zoned.timestamp().as_millisecond());
        match start {
            Some(ms) => u64::try_from(ms).unwrap_or(0),
            None => Millis::MAX,
        }
    }
}

impl Default for TimeZone {
    /// `Asia/Shanghai`.
    fn default() -> Self {
        match TimeZone::named("Asia/Shanghai") {
            Ok(zone) => zone,
            // Not reached: the bundled database has the zone (a unit test checks). Were it
            // missing, its rules since 1991 are a fixed UTC+8.
            Err(_) => TimeZone {
                name: "Asia/Shanghai".into(),
                tz: jiff::tz::TimeZone::fixed(jiff::tz::offset(8)),
            },
        }
    }
}

impl std::str::FromStr for TimeZone {
    type Err = TimeZoneError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        TimeZone::named(name)
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// An instant shown in a time zone, to the millisecond, with the zone's offset and name:
/// `2024-01-02 00:00:00.000 +08:00 (Asia/Shanghai)`. Error texts show times this way.
///
/// ```
/// use herald::{LocalTime, TimeZone};
/// let zone = TimeZone::default();
/// assert_eq!(
///     LocalTime::new(1_710_320_400_100, &zone).to_string(),
///     "2024-03-13 17:00:00.100 +08:00 (Asia/Shanghai)"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LocalTime<'a> {
    ms: Millis,
    zone: &'a TimeZone,
}

impl<'a> LocalTime<'a> {
    /// The instant `ms` (ms since the epoch) as shown in `zone`.
    pub fn new(ms: Millis, zone: &'a TimeZone) -> Self {
        LocalTime { ms, zone }
    }
}

impl std::fmt::Display for LocalTime<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ts = TimeZone::timestamp(self.ms);
        let offset = self.zone.tz.to_offset(ts);
        let t = self.zone.tz.to_datetime(ts);
        let (h, m) = (offset.seconds() / 3600, offset.seconds().abs() / 60 % 60);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} {}{:02}:{:02} ({})",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond(),
            if offset.seconds() < 0 { '-' } else { '+' },
            h.abs(),
            m,
            self.zone.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_zone_is_in_the_bundled_database() {
        let zone = TimeZone::named("asia/shanghai").unwrap();
        assert_eq!(zone.name(), "Asia/Shanghai");
        assert_eq!(zone, TimeZone::default());
        assert_eq!(TimeZone::named("utc"), Ok(TimeZone::utc()));
    }

    #[test]
    fn days_and_months_roll_over_at_local_midnight() {
        let zone = TimeZone::default();
        // 2024-01-31T23:59:59.999+08:00 and 2024-02-01T00:00:00+08:00.
        let feb_1 = 1_706_716_800_000;
        let jan_31 = zone.period(feb_1 - 1);
        let feb = zone.period(feb_1);
        assert_eq!(jan_31.month, 2024 * 12);
        assert_eq!(feb.month, 2024 * 12 + 1);
        assert_eq!(feb.day, jan_31.day + 1);
        assert_eq!(feb.day, 19_754);
        assert_eq!(zone.day_start(feb.day), feb_1);
        // 2024-02-29 (leap day) is still February; 2024-03-01 is March.
        let utc = TimeZone::named("UTC").unwrap();
        assert_eq!(utc.period(1_709_164_800_000).month, 2024 * 12 + 1);
        assert_eq!(utc.period(1_709_251_200_000).month, 2024 * 12 + 2);
        assert_eq!(
            utc.period(0),
            Period {
                day: 0,
                month: 1970 * 12
            }
        );
        assert_eq!(utc.day_start(1), 86_400_000);
    }

    #[test]
    fn a_day_may_start_after_midnight_and_last_23_or_25_hours() {
        // Sao Paulo skipped 2015-10-18 00:00..01:00 (UTC-3 to UTC-2).
        let zone = TimeZone::named("America/Sao_Paulo").unwrap();
        let day = zone.period(1_445_137_200_000).day; // 2015-10-18T01:00-02:00
        assert_eq!(zone.day_start(day), 1_445_137_200_000);
        assert_eq!(
            zone.day_start(day + 1) - zone.day_start(day),
            23 * 3_600_000
        );
        assert_eq!(
            LocalTime::new(zone.day_start(day), &zone).to_string(),
            "2015-10-18 01:00:00.000 -02:00 (America/Sao_Paulo)"
        );
    }

    #[test]
    fn times_out_of_the_calendar_s_range_neither_panic_nor_wrap() {
        let zone = TimeZone::named("America/New_York").unwrap();
        // Before 1970-01-01 local time: day 0.
        assert_eq!(zone.period(0).day, 0);
        let end = zone.period(u64::MAX);
        assert!(end.month >= 9999 * 12);
        assert_eq!(zone.day_start(u64::MAX), Millis::MAX);
        assert!(
            LocalTime::new(u64::MAX, &zone)
                .to_string()
                .starts_with("9999-12-")
        );
        assert_eq!(
            LocalTime::new(1_500, &TimeZone::named("UTC").unwrap()).to_string(),
            "1970-01-01 00:00:01.500 +00:00 (UTC)"
        );
        for east in ["Asia/Shanghai", "Pacific/Kiritimati"] {
            let zone = TimeZone::named(east).unwrap();
            let end = zone.period(u64::MAX);
            assert_eq!(zone.day_start(end.day.saturating_add(1)), Millis::MAX);
            assert!(
                LocalTime::new(u64::MAX, &zone)
                    .to_string()
                    .starts_with("99")
            );
        }
    }
}

/// A time-zone name that is not in herald's bundled IANA time-zone database (see
/// [`TimeZone::named`](crate::TimeZone::named)). Returned where the configuration is built;
/// nothing else changed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown time zone {name:?}: {detail}")]
#[non_exhaustive]
pub struct TimeZoneError {
    /// The name as given.
    pub name: String,
    /// Why the database refused it.
    pub detail: String,
}
