//! Prometheus metrics: the recorder, the HTTP middleware, the job-report reader, and
//! `GET /metrics`, which samples the engine's gauges and renders everything. See the
//! Metrics section of `docs/http-api.md` for the series.

use crate::app::Shared;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald::{Engine, ReportsError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Latency buckets, in seconds, for every histogram but job durations.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Job duration buckets, in seconds.
const JOB_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; the handle that renders it.
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "herald_job_duration_seconds".to_string(),
                ),
                JOB_BUCKETS,
            )
        })
        .map_err(|e| format!("metrics buckets: {e}"))?
        .install_recorder()
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "herald_http_requests_total",
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        "herald_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_histogram!(
        "herald_send_accept_duration_seconds",
        Unit::Seconds,
        "Time of the engine's send_async call in the send route (log commit included)"
    );
    describe_counter!(
        "herald_jobs_finished_total",
        "Jobs finished, by final status"
    );
    describe_histogram!(
        "herald_job_duration_seconds",
        Unit::Seconds,
        "Job duration, accepted to finished, by audience size"
    );
    describe_counter!(
        "herald_deliveries_stored_total",
        "Deliveries stored in inboxes: the sum of finished jobs' sent counts"
    );
    describe_counter!(
        "herald_job_reports_missed_total",
        "Job reports the metrics reader fell behind on and never saw"
    );
    describe_gauge!("herald_users", "Users in the engine");
    describe_gauge!("herald_accounts", "Accounts in the engine");
    describe_gauge!("herald_follow_edges", "Follow edges, (user, account) pairs");
    describe_gauge!(
        "herald_unfinished_jobs",
        "Jobs accepted and not yet finished"
    );
    describe_gauge!(
        "herald_memory_bytes",
        Unit::Bytes,
        "Memory held by the engine's main structures, by structure"
    );
    describe_counter!(
        "herald_snapshots_total",
        "Periodic snapshots taken, by result"
    );
    describe_histogram!(
        "herald_snapshot_duration_seconds",
        Unit::Seconds,
        "Periodic snapshot time: capture, encoding and writing, fsync included"
    );
    describe_histogram!(
        "herald_snapshot_pause_seconds",
        Unit::Seconds,
        "How long a periodic snapshot held back changes and sends"
    );
    describe_gauge!(
        "herald_gateway_connections",
        "Push gateway connections open now, by transport (ws, sse)"
    );
    describe_counter!(
        "herald_gateway_connections_total",
        "Push gateway connections opened, by transport"
    );
    describe_counter!(
        "herald_gateway_deliveries_pushed_total",
        "Inbox entries written to push gateway connections, by transport"
    );
    describe_counter!(
        "herald_gateway_catchup_switches_total",
        "Switches of a connection from live to catching up from its inbox (its socket could not take a batch at once, or more than a batch was waiting), by transport"
    );
    describe_gauge!(
        "herald_snapshot_bytes",
        Unit::Bytes,
        "Size of the last periodic snapshot file"
    );
}

/// Middleware: counts each request by route template (never the raw path) and status, and
/// times it. Requests that matched no route are labelled `route="unmatched"`.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    metrics::counter!("herald_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!("herald_http_request_duration_seconds", "route" => route, "method" => method).record(elapsed);
    response
}

/// Records the time of one `send_async` call.
pub fn send_accepted(elapsed: Duration, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::histogram!("herald_send_accept_duration_seconds", "result" => result)
        .record(elapsed.as_secs_f64());
}

/// The audience-size bucket of a job of `total` recipients.
pub fn audience_bucket(total: u64) -> &'static str {
    match total {
        0..=1_000 => "le_1k",
        1_001..=100_000 => "le_100k",
        _ => "gt_100k",
    }
}

/// Reads every finished job's report into the job metrics, until the engine is dropped.
/// Takes the subscription made before serving, so that no early job is missed.
pub async fn read_reports(mut reports: herald::Reports) {
    loop {
        match reports.next().await {
            Ok(report) => {
                let status = crate::wire::status_name(report.status);
                metrics::counter!("herald_jobs_finished_total", "status" => status).increment(1);
                metrics::counter!("herald_deliveries_stored_total").increment(report.sent);
                if let Some(finished) = report.finished_at_ms {
                    let ms = finished.saturating_sub(report.accepted_at_ms);
                    metrics::histogram!(
                        "herald_job_duration_seconds",
                        "audience" => audience_bucket(report.total)
                    )
                    .record(ms as f64 / 1000.0);
                }
            }
            Err(ReportsError::Missed(n)) => {
                metrics::counter!("herald_job_reports_missed_total").increment(n);
            }
            Err(_) => return,
        }
    }
}

/// Records one periodic snapshot's outcome.
pub fn snapshot_taken(stats: Option<&herald::SnapshotStats>) {
    match stats {
        Some(stats) => {
            metrics::counter!("herald_snapshots_total", "result" => "ok").increment(1);
            metrics::histogram!("herald_snapshot_duration_seconds")
                .record(stats.total.as_secs_f64());
            metrics::histogram!("herald_snapshot_pause_seconds").record(stats.pause.as_secs_f64());
            metrics::gauge!("herald_snapshot_bytes").set(stats.bytes as f64);
        }
        None => metrics::counter!("herald_snapshots_total", "result" => "error").increment(1),
    }
}

fn sample(engine: &Engine) {
    metrics::gauge!("herald_users").set(engine.user_count() as f64);
    metrics::gauge!("herald_accounts").set(engine.account_count() as f64);
    metrics::gauge!("herald_unfinished_jobs").set(engine.unfinished_jobs() as f64);
    let memory = engine.memory_usage();
    metrics::gauge!("herald_follow_edges").set(memory.follow_edges as f64);
    for (structure, bytes) in [
        ("forward", memory.forward_bytes),
        ("reverse", memory.reverse_bytes),
        ("inbox", memory.inbox_bytes),
        ("follower_cache", memory.follower_cache_bytes),
    ] {
        metrics::gauge!("herald_memory_bytes", "structure" => structure).set(bytes as f64);
    }
}

/// The engine's fsync histogram in the exposition format. It is kept by herald itself (the
/// flusher thread counts into fixed buckets), so it is written out here rather than
/// recorded through the `metrics` facade.
fn log_syncs_text(syncs: &herald::LogSyncs, out: &mut String) {
    use std::fmt::Write;
    let name = "herald_wal_fsync_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time of the write-ahead log's fsyncs (the group commit's disk time)"
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (bound, n) in &syncs.buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {n}", bound.as_secs_f64());
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", syncs.count);
    let _ = writeln!(out, "{name}_sum {}", syncs.sum.as_secs_f64());
    let _ = writeln!(out, "{name}_count {}", syncs.count);
}

/// `GET /metrics` → the Prometheus text exposition; no credentials needed.
pub async fn render(State(state): State<Shared>) -> impl IntoResponse {
    let engine = Arc::clone(&state.engine);
    let _ = tokio::task::spawn_blocking(move || sample(&engine)).await;
    let mut body = HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    if let Some(syncs) = state.engine.log_syncs() {
        log_syncs_text(&syncs, &mut body);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
