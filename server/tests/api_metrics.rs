//! `GET /metrics`: the Prometheus exposition of a running server, scraped with reqwest.

mod common;

use common::{Server, temp_dir, text};
use std::time::{Duration, Instant};

fn scrape(s: &Server) -> String {
    let r = s.client.get(s.url("/metrics")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    r.text().unwrap()
}

/// The value of the series `name{labels}` (labels exactly as rendered, in order), if present.
fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let rest = rest.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn has_labels(exposition: &str, name: &str, labels: &[&str]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (set, v) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|l| set.split(',').any(|x| x == *l))
            .then(|| v.trim().parse().ok())?
    })
}

#[test]
fn metrics_count_requests_sends_jobs_and_sample_the_engine() {
    let s = Server::start(&[]);
    let first = s.add_users(5);
    let (account, token) = s.account("metrics");
    let users: Vec<u32> = (first..first + 5).collect();
    s.follow(account, &users);
    let route = r#"route="/v1/accounts/{account}/sends""#;
    let before = scrape(&s);
    let sends_before = has_labels(
        &before,
        "herald_http_requests_total",
        &[route, r#"status="202""#],
    )
    .unwrap_or(0.0);
    let n = 3;
    let mut seqs = Vec::new();
    for i in 0..n {
        seqs.push(s.send(
            account,
            &token,
            serde_json::json!({"message": text(&format!("m{i}")), "audience": {"type": "all"}}),
        ));
    }
    for seq in &seqs {
        s.wait_job(account, &token, *seq);
    }
    // A 404 on a route with ids, and one on no route at all.
    let r = s
        .get(&format!("/v1/accounts/{account}/jobs/999999"), &token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = s.get("/no/such/route/12345", "").send().unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The report reader runs in the background: wait for it to count every job.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = scrape(&s);
        let done =
            has_labels(&m, "herald_jobs_finished_total", &[r#"status="done""#]).unwrap_or(0.0);
        if done >= n as f64 || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    let sends = has_labels(
        &m,
        "herald_http_requests_total",
        &[route, r#"method="POST""#, r#"status="202""#],
    )
    .unwrap();
    assert_eq!(sends - sends_before, n as f64, "{m}");
    assert!(
        has_labels(
            &m,
            "herald_http_requests_total",
            &[
                r#"route="/v1/accounts/{account}/jobs/{seq}""#,
                r#"status="404""#
            ]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        has_labels(
            &m,
            "herald_http_requests_total",
            &[r#"route="unmatched""#, r#"status="404""#]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        has_labels(
            &m,
            "herald_http_request_duration_seconds_count",
            &[route, r#"method="POST""#]
        )
        .unwrap()
            >= n as f64
    );
    // No raw ids in route labels.
    for line in m.lines().filter(|l| l.contains("route=\"")) {
        let route = line
            .split("route=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            !route.contains("12345") && !route.contains("999999"),
            "raw path in {line}"
        );
        assert!(
            !route
                .split('/')
                .any(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit())),
            "raw id in {line}"
        );
    }
    assert_eq!(
        has_labels(
            &m,
            "herald_send_accept_duration_seconds_count",
            &[r#"result="ok""#]
        ),
        Some(n as f64)
    );
    let sum = has_labels(
        &m,
        "herald_send_accept_duration_seconds_sum",
        &[r#"result="ok""#],
    )
    .unwrap();
    assert!(sum > 0.0 && sum < 10.0, "{sum}");
    assert_eq!(
        has_labels(&m, "herald_jobs_finished_total", &[r#"status="done""#]),
        Some(n as f64),
        "{m}"
    );
    assert_eq!(
        has_labels(
            &m,
            "herald_job_duration_seconds_count",
            &[r#"audience="le_1k""#]
        ),
        Some(n as f64)
    );
    assert_eq!(
        value(&m, "herald_deliveries_stored_total"),
        Some(5.0 * n as f64)
    );
    assert_eq!(value(&m, "herald_users"), Some(5.0));
    assert_eq!(value(&m, "herald_accounts"), Some(1.0));
    assert_eq!(value(&m, "herald_follow_edges"), Some(5.0));
    assert_eq!(value(&m, "herald_unfinished_jobs"), Some(0.0));
    assert!(has_labels(&m, "herald_memory_bytes", &[r#"structure="inbox""#]).unwrap() > 0.0);
    assert!(m.contains("# TYPE herald_http_request_duration_seconds histogram"));
    assert!(m.contains("# TYPE herald_jobs_finished_total counter"));
    assert!(m.contains("# TYPE herald_users gauge"));
}

#[test]
fn periodic_snapshots_are_timed() {
    let dir = temp_dir("metrics-snapshots");
    let s = Server::start_durable(
        &dir,
        &[
            "--admin-key",
            common::ADMIN,
            "--snapshot-interval-secs",
            "1",
        ],
    );
    s.add_users(3);
    let deadline = Instant::now() + Duration::from_secs(15);
    let m = loop {
        let m = scrape(&s);
        if has_labels(&m, "herald_snapshots_total", &[r#"result="ok""#]).is_some()
            || Instant::now() > deadline
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        has_labels(&m, "herald_snapshots_total", &[r#"result="ok""#]).unwrap() >= 1.0,
        "{m}"
    );
    assert!(value(&m, "herald_snapshot_duration_seconds_count").unwrap() >= 1.0);
    assert!(value(&m, "herald_snapshot_bytes").unwrap() > 0.0);
    assert_eq!(value(&m, "herald_users"), Some(3.0));
    // The log's fsyncs: adding users waited for at least one.
    let fsyncs = value(&m, "herald_wal_fsync_duration_seconds_count").unwrap();
    assert!(fsyncs >= 1.0, "{m}");
    assert_eq!(
        has_labels(
            &m,
            "herald_wal_fsync_duration_seconds_bucket",
            &[r#"le="+Inf""#]
        ),
        Some(fsyncs)
    );
    assert!(value(&m, "herald_wal_fsync_duration_seconds_sum").unwrap() > 0.0);
}

#[test]
fn an_in_memory_server_has_no_fsync_histogram() {
    let s = Server::start(&[]);
    assert!(!scrape(&s).contains("herald_wal_fsync"));
}
