//! Send completion latencies, one HDR histogram per audience size class.
//!
//! A latency is the time from just before the system's send call to the instant the system
//! finished the job, as the system's own worker timestamps it (herald:
//! `JobReport::finished_instant`), so the wake-up of loadgen's report thread is not counted.
//! Measured with `std::time::Instant` (microsecond resolution, three significant digits, up
//! to an hour).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::workload::Bucket;

/// Percentiles of one bucket, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn values(&self) -> [f64; 5] {
        [self.p50, self.p90, self.p99, self.p999, self.max]
    }
}

pub const PERCENTILE_NAMES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// Completion latencies by bucket.
#[derive(Debug, Clone)]
pub struct Latencies {
    histograms: [Histogram<u64>; 3],
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    pub fn new() -> Latencies {
        let h =
            || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid");
        Latencies {
            histograms: [h(), h(), h()],
        }
    }

    /// Records the latency of a send to `recipients` recipients.
    pub fn record(&mut self, recipients: u64, latency: Duration) {
        let h = &mut self.histograms[Bucket::of(recipients) as usize];
        // Clamped into the histogram's range, so recording never fails.
        let micros = (latency.as_micros() as u64).clamp(1, h.high());
        h.saturating_record(micros);
    }

    pub fn count(&self, bucket: Bucket) -> u64 {
        self.histograms[bucket as usize].len()
    }

    /// `None` for a bucket without samples.
    pub fn percentiles(&self, bucket: Bucket) -> Option<Percentiles> {
        let h = &self.histograms[bucket as usize];
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1e3;
        Some(Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_their_bucket_and_percentiles_are_ordered() {
        let mut l = Latencies::new();
        for i in 1..=1_000u64 {
            l.record(10, Duration::from_micros(i * 10));
        }
        l.record(1_000, Duration::from_millis(50));
        l.record(1_001, Duration::from_millis(7));
        l.record(999_999, Duration::from_millis(9));
        l.record(1_000_000, Duration::from_millis(40));
        l.record(5_000_000, Duration::ZERO);
        assert_eq!(l.count(Bucket::Small), 1_001);
        assert_eq!(l.count(Bucket::Medium), 2);
        assert_eq!(l.count(Bucket::Huge), 2);
        let small = l.percentiles(Bucket::Small).unwrap();
        assert!((small.p50 - 5.0).abs() < 0.05, "{small:?}");
        assert!((small.p99 - 9.9).abs() < 0.05, "{small:?}");
        assert!((small.max - 50.0).abs() < 0.1, "{small:?}");
        assert!(small.values().windows(2).all(|w| w[0] <= w[1]));
        let huge = l.percentiles(Bucket::Huge).unwrap();
        assert!(
            huge.p50 >= 0.001 && (huge.max - 40.0).abs() < 0.1,
            "{huge:?}"
        );
        assert!(Latencies::new().percentiles(Bucket::Medium).is_none());
    }
}
