//! Opening a data directory: the directory created and locked (one process at a time),
//! the OpenID secret's fingerprint checked, snapshot temporaries removed, the newest valid
//! snapshot restored (`snapshot.rs`), the log replayed after it (`replay.rs`), the engine's
//! [`Disk`] set, and every unfinished send resumed. What recovery dropped or skipped on the
//! way is kept as warnings ([`Engine::recovery_warnings`]).
//!
//! ## Restart
//! Open = newest valid snapshot + every log record from its LSN, then every unfinished job
//! re-enters its account's lanes in send order with the chunks it had not finished.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::EngineConfig;
use crate::engine::{Disk, Engine, EngineBuilder};
use crate::error::StoreError;
use crate::journal::{LOG_FORMAT, OLDEST_LOG_FORMAT, Record};
use crate::store::snapshot;
use crate::store::wal::{Wal, WalConfig};

impl EngineBuilder {
    /// Opens (or creates) the durable engine whose state lives in `dir`.
    ///
    /// Loads the newest valid snapshot, replays the log after it, and resumes every send
    /// that had not finished. Fails if another process holds the directory, if a file has
    /// a format version this build does not read, or if no intact snapshot and log can
    /// rebuild the state.
    pub fn open(self, dir: impl AsRef<Path>) -> Result<Engine, StoreError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| StoreError::io("creating the data directory", e))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|e| StoreError::io("opening the lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked(dir.display().to_string()));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(StoreError::io("locking the data directory", e));
            }
        }
        let mut engine = self.build();
        check_secret(dir, engine.codec.fingerprint())?;
        let mut warnings = Vec::new();
        for (path, len) in snapshot::remove_temporaries(dir)? {
            warnings.push(format!(
                "removed unfinished snapshot {} ({len} bytes)",
                path.display()
            ));
        }
        let mut from_lsn = 0;
        let snapshots = snapshot::list(dir)?;
        for (lsn, path) in &snapshots {
            match snapshot::open(path, |data| engine.restore(data))? {
                Ok(restored) => {
                    restored
                        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?;
                    from_lsn = *lsn;
                    break;
                }
                Err(reason) => warnings.push(format!("skipped snapshot: {reason}")),
            }
        }
        let config = WalConfig {
            policy: engine.config.sync,
            segment_bytes: engine.config.segment_bytes,
            format: LOG_FORMAT,
            oldest_format: OLDEST_LOG_FORMAT,
        };
        let (wal, recovery) = Wal::open(dir, config, from_lsn, Record::decode, |lsn, record| {
            engine.replay(lsn, record)
        })??; // The log's own error (I/O, a foreign segment), then a record replay refused.
        if from_lsn > 0 && wal.next_lsn() < from_lsn {
            return Err(StoreError::Unrecoverable(format!(
                "the snapshot covers the log up to record {from_lsn}, the log ends at {}",
                wal.next_lsn()
            )));
        }
        warnings.extend(recovery.warnings);
        engine.recovery_warnings = warnings;
        let disk = Disk {
            dir: dir.to_owned(),
            wal,
            gate: RwLock::new(()),
            snapshotting: Mutex::new(()),
            _lock: lock,
        };
        // Sends accepted while the log failed start once a retry writes their records.
        let pool = Arc::downgrade(engine.pool_arc());
        let parked = Arc::downgrade(&engine.parked);
        disk.wal.on_progress(Box::new(move |durable_up_to| {
            if let (Some(pool), Some(parked)) = (pool.upgrade(), parked.upgrade()) {
                parked.start_due(&pool, durable_up_to);
            }
        }));
        if engine.disk.set(disk).is_err() {
            unreachable!("a freshly built engine has no disk");
        }
        engine.resume();
        Ok(engine)
    }
}

/// # Data directories
///
/// A durable engine is opened on a data directory ([`Engine::open`]); what is on disk and
/// what to do after a storage error is in `docs/durability.md`.
impl Engine {
    /// Opens the durable engine in `dir` with `config` (see [`EngineBuilder::open`]).
    pub fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine, StoreError> {
        Engine::builder(config).open(dir)
    }

    /// What recovery had to drop or skip when this engine was opened (empty if nothing).
    pub fn recovery_warnings(&self) -> &[String] {
        &self.recovery_warnings
    }

    /// Whether this engine logs its changes (was opened on a data directory).
    pub fn is_durable(&self) -> bool {
        self.disk.get().is_some()
    }

    /// Writes and fsyncs everything logged so far, whatever the sync policy: after a bulk
    /// import under [`SyncPolicy::None`](crate::SyncPolicy::None), this makes it durable.
    ///
    /// While the log cannot be written ([`Engine::storage_error`]), this retries at once
    /// instead of waiting for the engine's own retry: call it after freeing space. `Ok`
    /// means every change so far is durable, those that reported
    /// [`NotDurable`](crate::StorageError::NotDurable) included, and changes are accepted
    /// again.
    pub fn sync(&self) -> Result<(), StoreError> {
        match self.disk.get() {
            Some(disk) => disk.wal.sync(),
            None => Ok(()),
        }
    }

    /// Puts every unfinished job back into its account's lanes, in send order, and starts
    /// the chunks that may run.
    fn resume(&self) {
        let mut jobs = self.pool().inflight();
        jobs.sort_unstable_by_key(|j| j.id);
        for job in jobs {
            let ready = job.enter_lanes();
            self.start(&job, ready);
        }
    }
}

/// OpenIDs derive from the configured secret, so a directory must always be opened with the
/// one it was created with: `SECRET` holds the secret's fingerprint (never the secret).
fn check_secret(dir: &Path, fingerprint: u64) -> Result<(), StoreError> {
    let path = dir.join("SECRET");
    match fs::read(&path) {
        Ok(bytes) => {
            let stored = <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| StoreError::Corrupt(format!("{} is damaged", path.display())))?;
            if stored != fingerprint {
                return Err(StoreError::SecretMismatch(dir.display().to_string()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let io =
                |e: std::io::Error| StoreError::io("recording the OpenID secret's fingerprint", e);
            let tmp = dir.join("SECRET.tmp");
            let mut file = File::create(&tmp).map_err(io)?;
            std::io::Write::write_all(&mut file, &fingerprint.to_le_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            fs::rename(&tmp, &path).map_err(io)?;
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)
        }
        Err(e) => Err(StoreError::io("reading the OpenID secret's fingerprint", e)),
    }
}
