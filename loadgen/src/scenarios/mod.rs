//! The scenarios, one per `loadgen` subcommand: each parses its flags, runs, prints its
//! results and writes its JSON.

mod compare;
mod crash;
mod fanout;
mod graph;
mod mixed;
mod net;
mod restart;

pub(crate) use compare::{CompareArgs, compare_defaults, run_compare};
pub(crate) use crash::{ChildArgs, CrashArgs, run_crash, run_crash_child};
pub(crate) use fanout::{FanoutArgs, run_fanout};
pub(crate) use graph::{GraphArgs, run_graph};
pub(crate) use mixed::{MixedArgs, run_mixed};
pub(crate) use net::{NetArgs, run_net};
pub(crate) use restart::{RestartArgs, run_restart};
