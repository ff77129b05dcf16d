//! A small real filesystem for failure tests: a tmpfs of a few MiB mounted on a fresh
//! directory (root only), filled with a ballast file to make writes fail with ENOSPC and
//! emptied again to let them succeed.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB, or says why the test is skipped and returns `None`
    /// (not root, or no `mount`). With `HERALD_REQUIRE_TMPFS` set (CI sets it) a failed
    /// mount fails the test instead: there these tests must run.
    pub fn mount(name: &str, mib: u32) -> Option<SmallDisk> {
        let disk = Self::try_mount(name, mib);
        if disk.is_none() && std::env::var_os("HERALD_REQUIRE_TMPFS").is_some() {
            panic!("{name}: HERALD_REQUIRE_TMPFS is set but no tmpfs could be mounted");
        }
        disk
    }

    fn try_mount(name: &str, mib: u32) -> Option<SmallDisk> {
        let mount = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
        let _ = Command::new("umount").arg("-l").arg(&mount).output();
        let _ = fs::remove_dir_all(&mount);
        fs::create_dir_all(&mount).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(SmallDisk { mount }),
            Ok(out) => {
                eprintln!(
                    "SKIPPED {name}: mounting a tmpfs needs root ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                let _ = fs::remove_dir(&mount);
                None
            }
            Err(e) => {
                eprintln!("SKIPPED {name}: cannot run mount: {e}");
                let _ = fs::remove_dir(&mount);
                None
            }
        }
    }

    /// The engine's data directory on this disk.
    pub fn data_dir(&self) -> PathBuf {
        self.mount.join("data")
    }

    fn ballast(&self) -> PathBuf {
        self.mount.join("ballast")
    }

    /// Fills every free byte with the ballast file (appending to it), so the next write
    /// that needs a new page fails with "no space left on device".
    pub fn fill(&self) {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())
            .unwrap();
        let chunk = vec![0x5a_u8; 4096];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        let _ = file.sync_all();
    }

    /// Removes the ballast: the disk has room again.
    pub fn free(&self) {
        let _ = fs::remove_file(self.ballast());
    }

    pub fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).output();
        let _ = fs::remove_dir(&self.mount);
    }
}

/// A path for a test's data directory under the system's temporary directory, removed
/// if a previous run left it.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Files in `dir` whose names end with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    out.sort();
    out
}
