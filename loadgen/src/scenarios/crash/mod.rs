//! `loadgen crash`: kill -9 a durable engine in a child process at random moments, then check
//! that nothing acknowledged was lost and nothing was delivered twice. The parent's run is in
//! `parent.rs`, the child's in `child.rs`.

mod check;
mod child;
mod disk;
mod mode;
mod model;
mod parent;

pub(crate) use child::{ChildArgs, run_crash_child};
pub(crate) use parent::{CrashArgs, run_crash};
