//! The small disk of `loadgen crash --mode disk-full`: a tmpfs the parent mounts (root
//! only), fills with a ballast file and frees again.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// A tmpfs mounted for `--mode disk-full`, unmounted when dropped.
pub(super) struct SmallDisk {
    pub(super) mount: PathBuf,
}

impl SmallDisk {
    pub(super) fn mount(mib: u32) -> Result<SmallDisk, String> {
        let mount = std::env::temp_dir().join(format!("herald-crash-disk-{}", std::process::id()));
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mount)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&mount);
            return Err(format!(
                "mounting a tmpfs needs root: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { mount })
    }

    pub(super) fn ballast(&self) -> PathBuf {
        self.mount.join("ballast")
    }

    /// Fills every free byte of the disk.
    pub(super) fn fill(&self) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())?;
        let chunk = vec![0x5a_u8; 1 << 16];
        loop {
            match file.write(&chunk) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return Ok(()),
                Err(e) => return Err(e).context("filling the disk"),
            }
        }
    }

    pub(super) fn free(&self) {
        let _ = std::fs::remove_file(self.ballast());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).output();
        let _ = std::fs::remove_dir(&self.mount);
    }
}
