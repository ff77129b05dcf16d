//! The server's secrets: the admin key, the token signing key and the engine's OpenID
//! secret. A durable server keeps them in its data directory (files of mode 0600) so that
//! tokens, account credentials and OpenIDs stay valid across restarts; an in-memory server
//! draws new ones at every start.

use std::fs;
use std::io::Write;
use std::path::Path;

/// The secrets in force.
pub struct Keys {
    /// The admin bearer key.
    pub admin_key: String,
    /// Whether the admin key was generated now (and must be printed, once).
    pub admin_key_generated: bool,
    /// HMAC-SHA256 key for tokens and account credentials.
    pub signing_key: [u8; 32],
    /// The engine's OpenID secret.
    pub openid_secret: [u8; 16],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { .. }") // never print secrets
    }
}

/// Random bytes from the operating system's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| format!("system random generator: {e}"))?;
    Ok(bytes)
}

impl Keys {
    /// In memory: everything new.
    pub fn ephemeral(admin_key: Option<String>) -> Result<Keys, String> {
        let generated = admin_key.is_none();
        Ok(Keys {
            admin_key: match admin_key {
                Some(k) => k,
                None => hex::encode(random::<24>()?),
            },
            admin_key_generated: generated,
            signing_key: random()?,
            openid_secret: random()?,
        })
    }

    /// Durable: read `dir/admin.key` and `dir/server.key`, creating what is missing.
    pub fn load_or_create(dir: &Path, admin_key: Option<String>) -> Result<Keys, String> {
        let server_key = dir.join("server.key");
        let (signing_key, openid_secret) = match read_secret(&server_key)? {
            Some(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == 48)
                    .ok_or_else(|| format!("{} is not 96 hex digits", server_key.display()))?;
                let mut s = [0u8; 32];
                let mut o = [0u8; 16];
                s.copy_from_slice(&bytes[..32]);
                o.copy_from_slice(&bytes[32..]);
                (s, o)
            }
            None => {
                let s: [u8; 32] = random()?;
                let o: [u8; 16] = random()?;
                write_secret(
                    &server_key,
                    &format!("{}{}\n", hex::encode(s), hex::encode(o)),
                )?;
                (s, o)
            }
        };
        let (admin_key, admin_key_generated) = match admin_key {
            Some(k) => (k, false),
            None => {
                let path = dir.join("admin.key");
                match read_secret(&path)? {
                    Some(text) => (text.trim().to_string(), false),
                    None => {
                        let key = hex::encode(random::<24>()?);
                        write_secret(&path, &format!("{key}\n"))?;
                        (key, true)
                    }
                }
            }
        };
        if admin_key.is_empty() {
            return Err("the admin key is empty".into());
        }
        Ok(Keys {
            admin_key,
            admin_key_generated,
            signing_key,
            openid_secret,
        })
    }
}

fn read_secret(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

/// Writes a new secret file with mode 0600, durably (temporary file, fsync, rename, fsync
/// of the directory), so a crash leaves either no file or the whole one.
fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    let err = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}
