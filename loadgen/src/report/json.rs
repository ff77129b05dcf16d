//! The JSON of a mixed-workload run, shared by `mixed` and `compare`: latency percentiles per
//! audience size, the run's figures beyond the headline ones, and merging objects.

use serde::Serialize;
use serde_json::json;

use super::latency::Percentiles;
use crate::driver::RunResult;
use crate::workload::Bucket;

fn percentiles_json(p: Option<Percentiles>) -> serde_json::Value {
    match p {
        Some(p) => json!({
            "count": p.count, "p50": p.p50, "p90": p.p90, "p99": p.p99, "p999": p.p999, "max": p.max,
        }),
        None => serde_json::Value::Null,
    }
}

pub fn latency_json(r: &RunResult) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for b in Bucket::ALL {
        m.insert(
            b.name().into(),
            percentiles_json(r.latencies.percentiles(b)),
        );
    }
    m.into()
}

/// The figures of a run beyond the headline ones.
pub fn run_json(r: &RunResult) -> serde_json::Value {
    #[derive(Serialize)]
    struct Sends {
        attempted: u64,
        accepted: u64,
        busy: u64,
        refused: u64,
        first_refusal: Option<String>,
        all: u64,
        tag: u64,
        expr: u64,
        list: u64,
        sender_lag_max_ms: f64,
    }
    json!({
        "stream_secs": r.stream_secs,
        "elapsed_secs": r.elapsed_secs,
        "deliveries": r.deliveries,
        "delivery_errors": r.delivery_errors,
        "churn_ops": r.churn_ops,
        "churn_refused": r.churn_refused,
        "churn_secs": r.churn_secs,
        "jobs": {"finished": r.jobs_finished, "unfinished": r.jobs_unfinished, "late": r.jobs_late},
        "sends": Sends {
            attempted: r.sends_attempted,
            accepted: r.sends_accepted,
            busy: r.sends_busy,
            refused: r.sends_refused,
            first_refusal: r.first_refusal.clone(),
            all: r.sends_by_kind[0],
            tag: r.sends_by_kind[1],
            expr: r.sends_by_kind[2],
            list: r.sends_by_kind[3],
            sender_lag_max_ms: r.sender_lag_max_ms,
        },
        "timeline": r.timeline,
    })
}

pub fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), from) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}
