//! The interface the driver drives: [`System`], implemented by herald and by the naive
//! system, and what one send call did ([`SendOutcome`]).

use super::tracker::Tracker;
use crate::workload::{ChurnOp, SendSpec};

/// What a send call did.
#[derive(Debug)]
pub enum SendOutcome {
    Accepted,
    /// Refused because too many jobs are pending: nothing was sent.
    Busy,
    Refused(String),
}

/// A system the mixed workload can drive.
pub trait System: Sync {
    /// Makes one send: builds the request from `spec`, takes `Instant::now()` just before
    /// the send call, and registers the accepted job with `tracker`.
    fn send(&self, seq: u64, spec: &SendSpec, tracker: &Tracker) -> SendOutcome;
    /// Makes one follow or unfollow; false if the system refused it.
    fn churn(&self, op: ChurnOp) -> bool;
    /// Makes follows and unfollows in order; returns how many the system refused. One
    /// `churn` call each, unless the system has a batch call.
    fn churn_batch(&self, ops: &[ChurnOp]) -> u64 {
        ops.iter().filter(|&&op| !self.churn(op)).count() as u64
    }
    /// Deliveries made so far, including those of jobs still running.
    fn delivered(&self, tracker: &Tracker) -> u64;
    /// Called once the stream has stopped and the drain deadline has passed: stop work.
    fn abandon(&self) {}
}
