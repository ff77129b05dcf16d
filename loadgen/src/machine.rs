//! What a result was measured on: cores, memory, compiler, commit; and the process's memory.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: u64,
    pub rustc: &'static str,
    pub commit: &'static str,
}

impl Machine {
    pub fn detect() -> Machine {
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: meminfo_kib("MemTotal:").map_or(0, |k| k * 1024),
            rustc: env!("LOADGEN_RUSTC"),
            commit: env!("LOADGEN_COMMIT"),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} cores, {:.1} GiB, {}, commit {}",
            self.cores,
            self.memory_bytes as f64 / (1u64 << 30) as f64,
            self.rustc,
            self.commit
        )
    }
}

fn meminfo_kib(field: &str) -> Option<u64> {
    read_kib("/proc/meminfo", field)
}

fn read_kib(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// The process's current resident set, in bytes.
pub fn rss_bytes() -> u64 {
    read_kib("/proc/self/status", "VmRSS:").map_or(0, |k| k * 1024)
}

/// The process's peak resident set, in bytes.
pub fn peak_rss_bytes() -> u64 {
    read_kib("/proc/self/status", "VmHWM:").map_or(0, |k| k * 1024)
}

/// `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate in millions per second, `123.4 M/s`.
pub fn rate(per_sec: f64) -> String {
    format!("{:.1} M/s", per_sec / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
