//! The modes of `loadgen crash`, the engine configuration each runs with, and the accounts
//! every directory starts with.

use herald::EngineConfig;
use serde::Serialize;

/// The big account, followed by every user at the start.
pub(super) const BIG: u32 = 0;
/// Small accounts, ids `1..=SMALL_ACCOUNTS`, without followers at the start.
pub(super) const SMALL_ACCOUNTS: u32 = 4;

/// What happens besides the kills (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Kill -9 at random moments.
    Kill,
    /// Also fill the disk (a tmpfs mounted by loadgen, root only) during each round.
    DiskFull,
    /// Also terminate accounts while their sends are delivering, and snapshot.
    Terminate,
}

/// The engine configuration of the parent and the child in `mode`.
pub(super) fn config(mode: Mode) -> EngineConfig {
    let base = EngineConfig {
        threads: 2,
        inbox_capacity: 256,
        history_window: 4_096,
        openid_secret: *b"loadgen-crash-00",
        ..EngineConfig::default()
    };
    match mode {
        // Small inboxes keep snapshots a few MiB, so the tmpfs holds several; small
        // segments make the disk fill as often at a segment's creation as inside one.
        Mode::DiskFull => EngineConfig {
            inbox_capacity: 16,
            segment_bytes: 64 << 10,
            ..base
        },
        // One chunk per block of ids, so a paced send is still delivering when its
        // account is terminated.
        Mode::Terminate => EngineConfig {
            chunk_target: 1,
            ..base
        },
        Mode::Kill => base,
    }
}

/// The `--mode` value of `mode`.
pub(super) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Kill => "kill",
        Mode::DiskFull => "disk-full",
        Mode::Terminate => "terminate",
    }
}
