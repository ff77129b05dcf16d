//! What a run reports and how: latency histograms, the machine, compiler and commit it ran
//! on, the process's memory, tables, JSON and the SVG plot.

mod format;
mod json;
mod latency;
mod machine;
mod plot;
mod table;

pub(crate) use format::{gib, rate, thousands};
pub(crate) use json::{latency_json, merge, run_json};
pub(crate) use latency::Latencies;
pub(crate) use machine::{Machine, MeasuredOn, peak_rss_bytes, rss_bytes, rss_bytes_of};
pub(crate) use plot::draw_plot;
pub(crate) use table::{print_header, print_result};
