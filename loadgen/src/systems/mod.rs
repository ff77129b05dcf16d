//! The systems under test: herald and the naive system (both driven through the mixed
//! workload by the driver), the baselines of `fanout --compare`, and how generated graphs
//! are built into them.

mod baselines;
mod build;
mod herald;
mod naive;

pub(crate) use self::baselines::{
    Measured, RandomFloor, floor_baseline, naive_baseline, random_write_floor,
    tokio_broadcast_baseline,
};
pub(crate) use self::build::follow_zipf_graph;
pub(crate) use self::herald::HeraldSystem;
pub(crate) use self::naive::NaiveSystem;
