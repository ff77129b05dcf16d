//! A delivery rate limit: how fast one send's chunks may go out.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

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
