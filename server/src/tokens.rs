//! The access-token generation table: which account tokens are still valid.
//!
//! WeChat's token model: an appid and secret give an access token valid for 7,200 s;
//! asking for a new one leaves the previous one valid for 5 more minutes only. herald keeps,
//! per account, the current *generation* of its tokens, the current generation's expiry,
//! and until when the previous generation stays valid. An account token names its
//! generation (`a.<account>.<generation>.<expiry>.<mac>`, see `auth.rs`); it is valid while
//! unexpired and either of the current generation, or of the one before while the overlap
//! lasts. Every older generation is dead at once.
//!
//! ## Persistence
//! A durable server keeps the table in `DATA_DIR/tokens.json`, rewritten whole on every
//! issue (temporary file, fsync, rename, fsync of the directory), so tokens survive a
//! restart and a crash leaves the old or the new table, never a mix. The new generation is
//! on disk before it is handed out, and in the table only after that: a failed write
//! changes nothing. Issues are rare (one per account per two hours with well-behaved
//! clients), so a whole-file rewrite is cheap. Without a data directory the table lives in
//! memory and tokens die with the process.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// One account's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// The current generation (starts at 1).
    pub generation: u64,
    /// Unix seconds at which the current generation's token expires.
    pub expires_at: u64,
    /// Unix seconds until which generation `generation - 1` stays valid.
    pub previous_valid_until: u64,
}

/// A token the table issued: its generation, its expiry, and whether it is a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issued {
    /// The token's generation.
    pub generation: u64,
    /// Unix seconds at which it expires.
    pub expires_at: u64,
}

/// Why a token could not be issued. The table is left as it was.
#[derive(Debug, thiserror::Error)]
#[error("writing {path}: {source}")]
pub struct PersistError {
    path: String,
    #[source]
    source: std::io::Error,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    accounts: HashMap<u32, Generation>,
}

/// Per-account token generations.
#[derive(Debug)]
pub struct TokenTable {
    /// Read by every request with an account token, written by issues (after the file).
    rows: RwLock<HashMap<u32, Generation>>,
    /// Held by an issue from reading the row to installing the new one, so that issues are
    /// serialized and the file is written in the order the rows change; readers never wait
    /// for the file.
    issuing: Mutex<()>,
    /// `DATA_DIR/tokens.json`, or `None` in memory.
    path: Option<PathBuf>,
    /// How long the previous generation stays valid after a new issue.
    overlap: Duration,
}

impl TokenTable {
    /// In memory.
    pub fn in_memory(overlap: Duration) -> TokenTable {
        TokenTable {
            rows: RwLock::default(),
            issuing: Mutex::new(()),
            path: None,
            overlap,
        }
    }

    /// Durable in `dir/tokens.json`, read if it exists.
    pub fn open(dir: &Path, overlap: Duration) -> Result<TokenTable, String> {
        let path = dir.join("tokens.json");
        let rows = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: File = serde_json::from_str(&text)
                    .map_err(|e| format!("parsing {}: {e}", path.display()))?;
                if file.version != 1 {
                    return Err(format!(
                        "{}: unknown version {}",
                        path.display(),
                        file.version
                    ));
                }
                file.accounts
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(TokenTable {
            rows: RwLock::new(rows),
            issuing: Mutex::new(()),
            path: Some(path),
            overlap,
        })
    }

    /// The overlap of two generations.
    pub fn overlap(&self) -> Duration {
        self.overlap
    }

    fn row(&self, account: u32) -> Option<Generation> {
        // A poisoned lock only means a panic elsewhere while holding it; the map itself
        // is always consistent (rows are replaced whole).
        let rows = self.rows.read().unwrap_or_else(|p| p.into_inner());
        rows.get(&account).copied()
    }

    /// Whether a token of `account`, generation `generation`, expiring at `expires_at`,
    /// is valid at `now` (unix seconds).
    pub fn is_valid(&self, account: u32, generation: u64, expires_at: u64, now: u64) -> bool {
        if now >= expires_at {
            return false;
        }
        match self.row(account) {
            Some(row) if generation == row.generation => true,
            Some(row) => generation + 1 == row.generation && now < row.previous_valid_until,
            None => false,
        }
    }

    /// Issues a token of lifetime `ttl` at `now`. With `reuse`, the current generation's
    /// token is returned again while it has not expired (WeChat's `stable_token` without
    /// `force_refresh`); otherwise a new generation starts and the previous one stays valid
    /// for the overlap (and never past its own expiry).
    pub fn issue(
        &self,
        account: u32,
        now: u64,
        ttl: Duration,
        reuse: bool,
    ) -> Result<Issued, PersistError> {
        let _issuing = self.issuing.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.row(account);
        if reuse && let Some(row) = old.filter(|r| r.expires_at > now) {
            return Ok(Issued {
                generation: row.generation,
                expires_at: row.expires_at,
            });
        }
        let new = match old {
            Some(row) => Generation {
                generation: row.generation + 1,
                expires_at: now + ttl.as_secs(),
                previous_valid_until: row.expires_at.min(now + self.overlap.as_secs()),
            },
            None => Generation {
                generation: 1,
                expires_at: now + ttl.as_secs(),
                previous_valid_until: 0,
            },
        };
        if let Some(path) = &self.path {
            let mut accounts = self.rows.read().unwrap_or_else(|p| p.into_inner()).clone();
            accounts.insert(account, new);
            write_atomically(
                path,
                &serde_json::to_vec(&File {
                    version: 1,
                    accounts,
                })
                // Serializing a map of integers and plain structs cannot fail.
                .expect("the token table serializes"),
            )
            .map_err(|source| PersistError {
                path: path.display().to_string(),
                source,
            })?;
        }
        self.rows
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account, new);
        Ok(Issued {
            generation: new.generation,
            expires_at: new.expires_at,
        })
    }
}

/// Replaces `path` with `bytes`: a temporary file, fsync, rename over `path`, fsync of the
/// directory, so that a crash leaves the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(7200);

    #[test]
    fn a_new_issue_leaves_the_previous_generation_the_overlap() {
        let t = TokenTable::in_memory(Duration::from_secs(300));
        let a = t.issue(1, 1000, TTL, false).unwrap();
        assert!(t.is_valid(1, a.generation, a.expires_at, 1000));
        let b = t.issue(1, 2000, TTL, false).unwrap();
        assert_eq!(b.generation, a.generation + 1);
        assert!(t.is_valid(1, a.generation, a.expires_at, 2299));
        assert!(!t.is_valid(1, a.generation, a.expires_at, 2300));
        assert!(t.is_valid(1, b.generation, b.expires_at, 2300));
        let c = t.issue(1, 2001, TTL, false).unwrap();
        // Two generations back: dead at once.
        assert!(!t.is_valid(1, a.generation, a.expires_at, 2001));
        assert!(t.is_valid(1, b.generation, b.expires_at, 2001));
        assert!(!t.is_valid(1, c.generation, c.expires_at, c.expires_at));
        // Another account's table row does not validate this one's tokens.
        assert!(!t.is_valid(2, c.generation, c.expires_at, 2001));
    }

    #[test]
    fn reuse_returns_the_live_token() {
        let t = TokenTable::in_memory(Duration::from_secs(300));
        let a = t.issue(1, 1000, TTL, true).unwrap();
        assert_eq!(t.issue(1, 1500, TTL, true).unwrap(), a);
        let b = t.issue(1, a.expires_at, TTL, true).unwrap();
        assert_eq!(b.generation, a.generation + 1);
    }

    #[test]
    fn the_table_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("herald-tokens-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = TokenTable::open(&dir, Duration::from_secs(300)).unwrap();
        let a = t.issue(7, 1000, TTL, false).unwrap();
        let b = t.issue(7, 1001, TTL, false).unwrap();
        drop(t);
        let t = TokenTable::open(&dir, Duration::from_secs(300)).unwrap();
        assert!(t.is_valid(7, a.generation, a.expires_at, 1100));
        assert!(t.is_valid(7, b.generation, b.expires_at, 1100));
        assert!(!t.is_valid(7, a.generation, a.expires_at, 1301));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
