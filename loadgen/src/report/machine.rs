//! What a result was measured on: cores, memory, compiler, commit ([`Machine`], and
//! [`MeasuredOn`], the fields every scenario's JSON carries); and the process's memory.

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

/// The fields every scenario's JSON ends with, the same in each: `machine` (cores,
/// memory, rustc, commit), and `rustc` and `commit` again at the top level. Flattened into
/// a report struct, or merged into a `json!` report.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredOn {
    pub machine: Machine,
    pub rustc: &'static str,
    pub commit: &'static str,
}

impl MeasuredOn {
    pub fn new(machine: &Machine) -> MeasuredOn {
        MeasuredOn {
            machine: machine.clone(),
            rustc: machine.rustc,
            commit: machine.commit,
        }
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

/// Process `pid`'s current resident set, in bytes (0 when it cannot be read).
pub fn rss_bytes_of(pid: u32) -> u64 {
    read_kib(&format!("/proc/{pid}/status"), "VmRSS:").map_or(0, |k| k * 1024)
}

/// The process's peak resident set, in bytes.
pub fn peak_rss_bytes() -> u64 {
    read_kib("/proc/self/status", "VmHWM:").map_or(0, |k| k * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_names_the_machine_the_compiler_and_the_commit() {
        let machine = Machine::detect();
        let v = serde_json::to_value(MeasuredOn::new(&machine)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["commit", "machine", "rustc"]);
        assert_eq!(v["rustc"], machine.rustc);
        assert_eq!(v["commit"], machine.commit);
        assert_eq!(v["machine"]["commit"], machine.commit);
        assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
    }
}
