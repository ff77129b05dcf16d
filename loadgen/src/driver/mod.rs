//! The driver: runs one system through the mixed workload (sender and churn threads, the
//! throughput sampler and live progress) and measures it, the same way for every system.

mod clients;
mod runner;
mod system;
mod tracker;

pub(crate) use runner::{RunResult, run};
pub(crate) use system::{SendOutcome, System};
pub(crate) use tracker::Tracker;
