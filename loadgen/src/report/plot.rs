//! `--plot FILE.svg` of `mixed` and `compare`: deliveries and churn per second over time,
//! and completion latency percentiles per audience size, for one or more systems (plotters,
//! SVG backend).

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use super::latency::PERCENTILE_NAMES;
use crate::driver::RunResult;
use crate::workload::Bucket;

const SYSTEM_COLORS: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), BLACK];
const BUCKET_COLORS: [RGBColor; 3] = [
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
];

pub fn draw_plot(path: &Path, title: &str, runs: &[(&str, &RunResult)]) -> anyhow::Result<()> {
    draw_inner(path, title, runs).map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

fn draw_inner(
    path: &Path,
    title: &str,
    runs: &[(&str, &RunResult)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1100, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 17))?;
    let (top, rest) = root.split_vertically(360);
    let (middle, bottom) = rest.split_vertically(260);

    let t_max = runs
        .iter()
        .flat_map(|(_, r)| r.timeline.last().map(|s| s.t))
        .fold(1.0f64, f64::max);

    // Deliveries per second over time.
    let d_max = runs
        .iter()
        .flat_map(|(_, r)| r.timeline.iter().map(|s| s.deliveries_per_sec / 1e6))
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption("deliveries per second (250 ms samples)", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..t_max, 0f64..d_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the stream started")
        .y_desc("M deliveries/s")
        .draw()?;
    for (i, (name, r)) in runs.iter().enumerate() {
        let color = SYSTEM_COLORS[i % SYSTEM_COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                r.timeline.iter().map(|s| (s.t, s.deliveries_per_sec / 1e6)),
                color.stroke_width(2),
            ))?
            .label(format!(
                "{name}: {:.1} M/s over the run",
                r.deliveries_per_sec / 1e6
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    // Churn operations per second over time.
    let c_max = runs
        .iter()
        .flat_map(|(_, r)| r.timeline.iter().map(|s| s.churn_ops_per_sec / 1e6))
        .fold(0.1f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&middle)
        .caption("follow/unfollow churn per second", ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..t_max, 0f64..c_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the stream started")
        .y_desc("M ops/s")
        .draw()?;
    for (i, (name, r)) in runs.iter().enumerate() {
        let color = SYSTEM_COLORS[i % SYSTEM_COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                r.timeline.iter().map(|s| (s.t, s.churn_ops_per_sec / 1e6)),
                color.stroke_width(2),
            ))?
            .label(format!("{name}: {:.2} M ops/s", r.churn_ops_per_sec / 1e6))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    // Latency percentiles per audience size, log scale.
    let all: Vec<f64> = runs
        .iter()
        .flat_map(|(_, r)| {
            Bucket::ALL
                .iter()
                .filter_map(|b| r.latencies.percentiles(*b))
                .flat_map(|p| p.values())
        })
        .collect();
    let lo = all.iter().copied().fold(f64::MAX, f64::min).max(0.001) / 1.5;
    let hi = all.iter().copied().fold(0.01f64, f64::max) * 1.5;
    let lo = if lo >= hi { hi / 10.0 } else { lo };
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "send completion latency by audience size (small <= 1,000 < medium < 1,000,000 <= huge)",
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.3f64..4.3f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..5.0).contains(&i) {
                PERCENTILE_NAMES[i as usize].to_owned()
            } else {
                String::new()
            }
        })
        .y_desc("ms (log scale)")
        .draw()?;
    for (i, (name, r)) in runs.iter().enumerate() {
        for b in Bucket::ALL {
            let Some(p) = r.latencies.percentiles(b) else {
                continue;
            };
            let color = BUCKET_COLORS[b as usize];
            let points: Vec<(f64, f64)> = p
                .values()
                .iter()
                .enumerate()
                .map(|(x, v)| (x as f64, v.max(lo)))
                .collect();
            let style = color.stroke_width(if i == 0 { 2 } else { 1 });
            let label = format!("{name} {} ({} sends)", b.name(), p.count);
            if i == 0 {
                chart
                    .draw_series(LineSeries::new(points.clone(), style))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                chart.draw_series(points.iter().map(|&pt| Circle::new(pt, 3, color.filled())))?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], style));
                chart.draw_series(
                    points
                        .iter()
                        .map(|&pt| TriangleMarker::new(pt, 4, color.filled())),
                )?;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
