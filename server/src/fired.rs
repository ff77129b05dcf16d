//! What became of the scheduled sends the server fired: herald's `run_due` reports each
//! one once (a job, or why it was refused) and keeps no record, so the server keeps the
//! latest outcomes for `GET /v1/accounts/{account}/schedules/{schedule}`.
//!
//! **Invariant:** the log holds at most [`KEEP`] outcomes (the oldest are forgotten first)
//! and lives in memory: outcomes of sends fired before the server started are not known.

use crate::error::ApiError;
use herald::Fired;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Outcomes kept; older ones are forgotten.
pub const KEEP: usize = 100_000;

/// What a due scheduled send became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent: the job's sequence number.
    Sent(u32),
    /// Refused when due, with the error a send would have answered.
    Refused {
        /// The API error code.
        code: &'static str,
        /// Why.
        message: String,
    },
}

/// Outcomes by (account, schedule).
#[derive(Debug, Default)]
pub struct FiredLog {
    /// Written by the tick task, read by the schedule route; the lock is held for one
    /// insertion or lookup.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    outcomes: HashMap<(u32, u32), Outcome>,
    /// Insertion order, for forgetting the oldest.
    order: VecDeque<(u32, u32)>,
}

impl FiredLog {
    /// Records what `run_due` did with one send (a later outcome of the same schedule, after
    /// a passing refusal, replaces the earlier one).
    pub fn record(&self, fired: &Fired) {
        let key = (fired.account.0, fired.schedule.0);
        let outcome = match &fired.result {
            Ok(job) => Outcome::Sent(job.id().seq.0),
            Err(e) => {
                let api = ApiError::from(e.clone());
                Outcome::Refused {
                    code: api.code,
                    message: api.message,
                }
            }
        };
        self.insert(key, outcome);
    }

    fn insert(&self, key: (u32, u32), outcome: Outcome) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.outcomes.insert(key, outcome).is_none() {
            inner.order.push_back(key);
            while inner.order.len() > KEEP {
                if let Some(old) = inner.order.pop_front() {
                    inner.outcomes.remove(&old);
                }
            }
        }
    }

    /// The outcome of account `account`'s schedule `schedule`, if it fired since the server
    /// started.
    pub fn get(&self, account: u32, schedule: u32) -> Option<Outcome> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.outcomes.get(&(account, schedule)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_outcome_wins_and_the_oldest_are_forgotten() {
        let log = FiredLog::default();
        let refused = Outcome::Refused {
            code: "busy",
            message: "busy".into(),
        };
        log.insert((0, 0), refused.clone());
        assert_eq!(log.get(0, 0), Some(refused));
        log.insert((0, 0), Outcome::Sent(7));
        assert_eq!(log.get(0, 0), Some(Outcome::Sent(7)));
        for i in 1..=KEEP as u32 {
            log.insert((1, i), Outcome::Sent(i));
        }
        assert_eq!(log.get(0, 0), None, "the oldest is forgotten past KEEP");
        assert_eq!(log.get(1, 1), Some(Outcome::Sent(1)));
        assert_eq!(log.get(1, KEEP as u32), Some(Outcome::Sent(KEEP as u32)));
        assert_eq!(log.get(2, 0), None);
    }
}
