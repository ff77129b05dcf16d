//! What a run does, generated from its settings and seed before anything runs: the Zipf
//! follow graph, the plan of the mixed workload (tags, size classes), its send stream and its
//! churn. Nothing here touches a system, so two systems given the same settings see the same
//! graph, the same sends at the same offsets and the same churn operations.

mod bucket;
mod churn;
mod plan;
mod sends;
mod settings;
mod zipf;

pub(crate) use bucket::Bucket;
pub(crate) use churn::{Churn, ChurnOp};
pub(crate) use plan::Plan;
pub(crate) use sends::{AudienceSpec, Expr, SendSpec, SendStream};
pub(crate) use settings::{Workload, WorkloadArgs};
pub(crate) use zipf::ZipfGraph;
