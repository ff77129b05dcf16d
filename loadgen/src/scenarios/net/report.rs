//! What `net` prints, writes as JSON and draws: per system and client group, deliveries
//! per second, latency percentiles, memory per connection, and the verification.

use std::path::Path;

use anyhow::{anyhow, bail};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde_json::{Value, json};

use super::record::Recorder;
use super::run::Outcome;
use super::{NetArgs, System};
use crate::report::thousands;

/// The figures of one group of clients of one run.
#[derive(Debug)]
pub struct Group {
    pub clients: u64,
    pub expected: u64,
    pub received: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub disconnected: u64,
    pub reported_missed: u64,
    /// Clients with every message, once, in order.
    pub verified_clients: u64,
    pub deliveries_per_sec: f64,
    pub latency: Option<Histogram<u64>>,
    /// Slow clients: the longest time from resuming to holding every message sent before
    /// it resumed, in ms.
    pub catch_up_ms: Option<f64>,
}

impl Group {
    fn of<'a>(outcome: &Outcome, clients: impl Iterator<Item = &'a Recorder>) -> Group {
        let mut g = Group {
            clients: 0,
            expected: 0,
            received: 0,
            duplicates: 0,
            out_of_order: 0,
            disconnected: 0,
            reported_missed: 0,
            verified_clients: 0,
            deliveries_per_sec: 0.0,
            latency: None,
            catch_up_ms: None,
        };
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        let mut last_us = 0u64;
        let mut catch_up: Option<f64> = None;
        for c in clients {
            let messages = u64::from(c.messages());
            g.clients += 1;
            g.expected += messages;
            g.received += u64::from(c.distinct);
            g.duplicates += u64::from(c.duplicates);
            g.out_of_order += u64::from(c.out_of_order);
            g.disconnected += u64::from(c.disconnects > 0);
            g.reported_missed += c.reported_missed;
            if u64::from(c.distinct) == messages && c.duplicates == 0 && c.out_of_order == 0 {
                g.verified_clients += 1;
            }
            for s in &c.samples {
                hist.saturating_record(u64::from(s.latency_us).max(1));
                last_us = last_us.max(s.at_us);
            }
            if let Some(resumed) = c.resumed_at {
                // The backlog: messages sent before the client resumed; caught up when the
                // last of them has arrived.
                let resumed_us = resumed.saturating_duration_since(c.base()).as_micros() as u64;
                let drained = c
                    .samples
                    .iter()
                    .filter(|s| s.at_us.saturating_sub(u64::from(s.latency_us)) < resumed_us)
                    .map(|s| s.at_us)
                    .max();
                if let Some(at) = drained {
                    let ms = at.saturating_sub(resumed_us) as f64 / 1e3;
                    catch_up = Some(catch_up.map_or(ms, |m: f64| m.max(ms)));
                }
            }
        }
        let span = last_us.saturating_sub(outcome.first_send_us) as f64 / 1e6;
        g.deliveries_per_sec = if span > 0.0 {
            g.received as f64 / span
        } else {
            0.0
        };
        g.latency = (!hist.is_empty()).then_some(hist);
        g.catch_up_ms = catch_up;
        g
    }

    pub fn lost(&self) -> u64 {
        self.expected - self.received
    }

    pub fn verified(&self) -> bool {
        self.verified_clients == self.clients
    }

    fn percentile(&self, q: f64) -> f64 {
        self.latency
            .as_ref()
            .map_or(f64::NAN, |h| h.value_at_quantile(q) as f64 / 1e3)
    }

    fn max_ms(&self) -> f64 {
        self.latency
            .as_ref()
            .map_or(f64::NAN, |h| h.max() as f64 / 1e3)
    }

    fn latency_json(&self) -> Value {
        json!({
            "p50": self.percentile(0.5), "p90": self.percentile(0.9), "p99": self.percentile(0.99),
            "p999": self.percentile(0.999), "max": self.max_ms(),
        })
    }
}

/// One run summarized: all clients, and the fast and slow ones apart.
#[derive(Debug)]
pub struct Row<'a> {
    pub outcome: &'a Outcome,
    pub all: Group,
    pub fast: Group,
    pub slow: Group,
}

impl Row<'_> {
    fn bytes_per_connection(&self) -> f64 {
        self.outcome
            .rss_idle
            .saturating_sub(self.outcome.rss_before) as f64
            / self.all.clients.max(1) as f64
    }

    fn name(&self) -> &'static str {
        self.outcome.system.name()
    }

    fn result_json(&self) -> Value {
        let o = self.outcome;
        let g = &self.all;
        json!({
            "system": self.name(),
            "deliveries_per_sec": g.deliveries_per_sec,
            "latency_ms": g.latency_json(),
            "bytes_per_connection": self.bytes_per_connection(),
            "lost": g.lost(),
            "duplicates": g.duplicates,
            "out_of_order": g.out_of_order,
            "clients_disconnected": g.disconnected,
            "verified": g.verified(),
            "server_rss_before_bytes": o.rss_before,
            "server_rss_idle_bytes": o.rss_idle,
            "connect_secs": o.connect_secs,
            "send_secs": (o.last_send_us - o.first_send_us) as f64 / 1e6,
            "sends_per_sec": self.sends_per_sec(),
            "send_rate_limit": o.send_rate,
            "client_errors": o.failed,
            "first_client_error": o.first_error,
            "catchup_switches": o.catchup_switches,
        })
    }

    fn sends_per_sec(&self) -> f64 {
        self.outcome.sends_per_sec()
    }
}

/// Every run of a `net` invocation.
#[derive(Debug)]
pub struct Summary<'a> {
    connections: u32,
    messages: u32,
    payload: usize,
    slow_share: f64,
    slow_pause_ms: u64,
    durable: bool,
    rows: Vec<Row<'a>>,
    skipped: Vec<&'static str>,
}

impl<'a> Summary<'a> {
    pub fn new(args: &NetArgs, outcomes: &'a [Outcome], skipped: Vec<&'static str>) -> Self {
        let rows = outcomes
            .iter()
            .map(|o| Row {
                outcome: o,
                all: Group::of(o, o.clients.iter()),
                fast: Group::of(o, o.clients.iter().filter(|c| !c.slow)),
                slow: Group::of(o, o.clients.iter().filter(|c| c.slow)),
            })
            .collect();
        Summary {
            connections: args.connections,
            messages: args.messages,
            payload: args.payload,
            slow_share: args.slow_share,
            slow_pause_ms: args.slow_pause_ms,
            durable: !args.in_memory,
            rows,
            skipped,
        }
    }

    fn baseline_rows(&self) -> impl Iterator<Item = &Row<'a>> {
        self.rows
            .iter()
            .filter(|r| r.outcome.slow_share == 0.0 && r.outcome.paced_as.is_none())
    }

    fn paced_row(&self) -> Option<&Row<'a>> {
        self.rows.iter().find(|r| r.outcome.paced_as.is_some())
    }

    fn slow_rows(&self) -> impl Iterator<Item = &Row<'a>> {
        self.rows.iter().filter(|r| r.outcome.slow_share > 0.0)
    }

    fn baseline(&self, system: System) -> Option<&Row<'a>> {
        self.baseline_rows().find(|r| r.outcome.system == system)
    }

    pub fn print(&self) {
        println!();
        println!(
            "{:<8} {:>14} {:>9} {:>9} {:>9} {:>11} {:>9} {:>6} {:>13} {:>8}",
            "system",
            "deliveries/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "bytes/conn",
            "lost",
            "dup",
            "disconnected",
            "verified"
        );
        for r in self.baseline_rows() {
            let g = &r.all;
            println!(
                "{:<8} {:>14} {:>9.1} {:>9.1} {:>9.1} {:>11.0} {:>9} {:>6} {:>13} {:>8}",
                r.name(),
                thousands(g.deliveries_per_sec as u64),
                g.percentile(0.5),
                g.percentile(0.99),
                g.max_ms(),
                r.bytes_per_connection(),
                thousands(g.lost()),
                g.duplicates,
                g.disconnected,
                if g.verified() { "yes" } else { "NO" },
            );
        }
        if let Some(h) = self.baseline(System::Herald) {
            for other in self
                .baseline_rows()
                .filter(|r| r.outcome.system != System::Herald)
            {
                println!(
                    "herald vs {}: {:.2}× the deliveries/s, p99 {:.2}× theirs, {:.2}× the bytes per connection",
                    other.name(),
                    h.all.deliveries_per_sec / other.all.deliveries_per_sec,
                    h.all.percentile(0.99) / other.all.percentile(0.99),
                    h.bytes_per_connection() / other.bytes_per_connection(),
                );
            }
            if let Some(s) = h.outcome.catchup_switches {
                println!("herald: {s} connections fell behind and caught up from the inbox");
            }
        }
        if let (Some(p), Some(redis)) = (self.paced_row(), self.baseline(System::Redis)) {
            let g = &p.all;
            println!(
                "herald at Redis's pace ({:.1} sends/s): p50 {:.1} ms, p99 {:.1} ms ({:.2}× Redis's), max {:.1} ms; {} deliveries/s; {}",
                p.sends_per_sec(),
                g.percentile(0.5),
                g.percentile(0.99),
                g.percentile(0.99) / redis.all.percentile(0.99),
                g.max_ms(),
                thousands(g.deliveries_per_sec as u64),
                if g.verified() {
                    "verified"
                } else {
                    "NOT VERIFIED"
                },
            );
        }
        if self.slow_share > 0.0 {
            println!();
            println!(
                "with {:.0}% slow clients ({} ms without reading):",
                self.slow_share * 100.0,
                self.slow_pause_ms
            );
            println!(
                "{:<8} {:>14} {:>9} {:>12} {:>9} | {:>5} {:>9} {:>6} {:>9} {:>13} {:>13}",
                "system",
                "others del/s",
                "p99 ms",
                "p99 vs none",
                "lost",
                "slow",
                "lost",
                "dup",
                "disorder",
                "disconnected",
                "catch-up ms"
            );
            for r in self.slow_rows() {
                let ratio = self.baseline(r.outcome.system).map_or(f64::NAN, |b| {
                    r.fast.percentile(0.99) / b.all.percentile(0.99)
                });
                println!(
                    "{:<8} {:>14} {:>9.1} {:>11.2}× {:>9} | {:>5} {:>9} {:>6} {:>9} {:>13} {:>13.0}",
                    r.name(),
                    thousands(r.fast.deliveries_per_sec as u64),
                    r.fast.percentile(0.99),
                    ratio,
                    thousands(r.fast.lost()),
                    r.slow.clients,
                    thousands(r.slow.lost()),
                    r.slow.duplicates,
                    r.slow.out_of_order,
                    r.slow.disconnected,
                    r.slow.catch_up_ms.unwrap_or(f64::NAN),
                );
                if let Some(s) = r.outcome.catchup_switches {
                    println!("herald: {s} connections fell behind and caught up from the inbox");
                }
            }
        }
        for r in &self.rows {
            if let Some(e) = &r.outcome.first_error {
                println!(
                    "{}: {} client(s) failed; the first: {e}",
                    r.name(),
                    r.outcome.failed
                );
            }
        }
        for s in &self.skipped {
            println!("{s}: skipped (not installed)");
        }
    }

    pub fn json(&self) -> Value {
        let slow: Vec<Value> = self
            .slow_rows()
            .map(|r| {
                let base = self.baseline(r.outcome.system);
                json!({
                    "system": r.name(),
                    "others": {
                        "clients": r.fast.clients,
                        "deliveries_per_sec": r.fast.deliveries_per_sec,
                        "latency_ms": r.fast.latency_json(),
                        "p99_vs_no_slow": base.map(|b| r.fast.percentile(0.99) / b.all.percentile(0.99)),
                        "lost": r.fast.lost(),
                        "duplicates": r.fast.duplicates,
                        "verified": r.fast.verified(),
                    },
                    "slow": {
                        "clients": r.slow.clients,
                        "expected": r.slow.expected,
                        "received": r.slow.received,
                        "lost": r.slow.lost(),
                        "duplicates": r.slow.duplicates,
                        "out_of_order": r.slow.out_of_order,
                        "clients_disconnected": r.slow.disconnected,
                        "reported_missed": r.slow.reported_missed,
                        "verified": r.slow.verified(),
                        "catch_up_ms": r.slow.catch_up_ms,
                    },
                    "catchup_switches": r.outcome.catchup_switches,
                })
            })
            .collect();
        json!({
            "scenario": "net",
            "connections": self.connections,
            "messages": self.messages,
            "payload": self.payload,
            "durable": self.durable,
            "results": self.baseline_rows().map(Row::result_json).collect::<Vec<_>>(),
            "slow": if self.slow_share > 0.0 {
                json!({"share": self.slow_share, "pause_ms": self.slow_pause_ms, "results": slow})
            } else {
                Value::Null
            },
            "paced": self.paced_row().map(|p| json!({
                "as": p.outcome.paced_as.map(System::name),
                "send_rate": p.outcome.send_rate,
                "result": p.result_json(),
            })),
            "skipped": self.skipped,
        })
    }

    /// Fails when herald lost, repeated or reordered a message for any client.
    pub fn check(&self) -> anyhow::Result<()> {
        for r in self
            .rows
            .iter()
            .filter(|r| r.outcome.system == System::Herald)
        {
            let g = &r.all;
            if !g.verified() || r.outcome.failed > 0 {
                bail!(
                    "herald failed verification: {} lost, {} duplicated, {} out of order, {} client errors",
                    g.lost(),
                    g.duplicates,
                    g.out_of_order,
                    r.outcome.failed
                );
            }
        }
        Ok(())
    }
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Deliveries per second over time since the first send, and latency percentiles, per
/// system (the runs without slow clients).
pub fn plot(path: &Path, args: &NetArgs, outcomes: &[Outcome]) -> anyhow::Result<()> {
    draw(path, args, outcomes).map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

fn draw(
    path: &Path,
    args: &NetArgs,
    outcomes: &[Outcome],
) -> Result<(), Box<dyn std::error::Error>> {
    let runs: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.slow_share == 0.0 && o.paced_as.is_none())
        .collect();
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "loadgen net: {} connections, {} messages of {} bytes",
        thousands(args.connections.into()),
        args.messages,
        args.payload
    );
    let root = root.titled(&title, ("sans-serif", 17))?;
    let (top, bottom) = root.split_vertically(420);

    let mut series = Vec::new();
    for o in &runs {
        let last = o
            .clients
            .iter()
            .flat_map(|c| c.samples.iter().map(|s| s.at_us))
            .max()
            .unwrap_or(o.first_send_us);
        let span = last.saturating_sub(o.first_send_us).max(1);
        let bin = (span / 100).max(5_000);
        let mut bins = vec![0u64; (span / bin + 1) as usize];
        for s in o.clients.iter().flat_map(|c| &c.samples) {
            let i = (s.at_us.saturating_sub(o.first_send_us) / bin) as usize;
            let last = bins.len() - 1;
            bins[i.min(last)] += 1;
        }
        let points: Vec<(f64, f64)> = bins
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                (
                    (i as u64 * bin) as f64 / 1e6,
                    n as f64 / (bin as f64 / 1e6) / 1e6,
                )
            })
            .collect();
        series.push((o.system.name(), points));
    }
    let t_max = series
        .iter()
        .flat_map(|(_, p)| p.last().map(|x| x.0))
        .fold(0.1f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(0.1f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption("deliveries per second", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first send")
        .y_desc("M deliveries/s")
        .draw()?;
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;

    let quantiles = [0.5, 0.9, 0.99, 0.999, 1.0];
    let names = ["p50", "p90", "p99", "p99.9", "max"];
    let mut lines = Vec::new();
    // The latency panel also shows herald held to Redis's send rate.
    let paced = outcomes.iter().filter(|o| o.paced_as.is_some());
    for o in runs.iter().copied().chain(paced) {
        let g = Group::of(o, o.clients.iter());
        let values: Vec<f64> = quantiles
            .iter()
            .map(|&q| {
                if q == 1.0 {
                    g.max_ms()
                } else {
                    g.percentile(q)
                }
            })
            .collect();
        let name = match o.paced_as {
            Some(_) => "herald at Redis's send rate",
            None => o.system.name(),
        };
        lines.push((name, values));
    }
    let l_max = lines
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("send-to-receipt latency", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..4.0, 0f64..l_max)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| {
            names
                .get(x.round() as usize)
                .copied()
                .unwrap_or("")
                .to_string()
        })
        .y_desc("ms")
        .draw()?;
    for (i, (name, values)) in lines.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = values
            .into_iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(x, v)| (x as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
