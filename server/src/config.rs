//! The server's settings: command-line flags, `HERALD_*` environment variables, a TOML
//! file (`--config`), then defaults, in that order of precedence.

use clap::Parser;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line flags. Every flag also reads an environment variable (`HERALD_*`) and a
/// key of the same name (dashes as underscores) in the `--config` file.
#[derive(Debug, Parser, Default)]
#[command(
    name = "herald-server",
    version,
    about = "herald as a service: HTTP control API over the fan-out engine"
)]
pub struct Flags {
    /// TOML file with any of the keys below (flags and environment variables override it).
    #[arg(long, env = "HERALD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Durable engine in DIR (created if missing); without it the server runs in memory and
    /// loses everything when it stops.
    #[arg(long, env = "HERALD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port (printed).
    #[arg(long, env = "HERALD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Admin bearer key. Without it one is generated at first start, printed once and kept
    /// in DIR/admin.key (in memory: generated and printed at every start).
    #[arg(
        long,
        env = "HERALD_ADMIN_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub admin_key: Option<String>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "HERALD_BODY_LIMIT", value_name = "BYTES")]
    pub body_limit: Option<usize>,
    /// Lifetime of access and user tokens in seconds [default: 7200].
    #[arg(long, env = "HERALD_TOKEN_TTL_SECS", value_name = "SECS")]
    pub token_ttl_secs: Option<u64>,
    /// On SIGTERM/SIGINT, how long to wait for running sends before the final snapshot
    /// [default: 30].
    #[arg(long, env = "HERALD_SHUTDOWN_TIMEOUT_SECS", value_name = "SECS")]
    pub shutdown_timeout_secs: Option<u64>,
    /// A durable engine snapshots every SECS seconds (0: only at shutdown) [default: 300].
    #[arg(long, env = "HERALD_SNAPSHOT_INTERVAL_SECS", value_name = "SECS")]
    pub snapshot_interval_secs: Option<u64>,
    /// Push gateway: seconds between WebSocket pings and SSE keep-alive comments
    /// [default: 25].
    #[arg(long, env = "HERALD_PING_INTERVAL_SECS", value_name = "SECS")]
    pub ping_interval_secs: Option<u64>,
    /// Push gateway: a WebSocket that answers no ping within SECS seconds is closed
    /// [default: 10].
    #[arg(long, env = "HERALD_PONG_TIMEOUT_SECS", value_name = "SECS")]
    pub pong_timeout_secs: Option<u64>,
    /// Push gateway: a WebSocket whose client takes no data for SECS seconds is closed; it
    /// resumes from its cursor when it comes back [default: 60].
    #[arg(long, env = "HERALD_WRITE_TIMEOUT_SECS", value_name = "SECS")]
    pub write_timeout_secs: Option<u64>,
    /// Entries each user's inbox keeps, 1 to 65536; older ones are evicted (a client that
    /// comes back later gets them as `missed`). Memory grows with it for every user. A
    /// durable engine keeps the capacity it was created with [default: 32].
    #[arg(long, env = "HERALD_INBOX_CAPACITY", value_name = "N")]
    pub inbox_capacity: Option<usize>,
    /// Job-finished events are POSTed to URL (http:// only): WeChat's MASSSENDJOBFINISH
    /// XML for sends made through /cgi-bin, or every job's report as JSON.
    #[arg(long, env = "HERALD_CALLBACK_URL", value_name = "URL")]
    pub callback_url: Option<String>,
    /// `xml` (WeChat's event, /cgi-bin sends only) or `json` (every job's report)
    /// [default: xml].
    #[arg(long, env = "HERALD_CALLBACK_FORMAT", value_name = "FORMAT")]
    pub callback_format: Option<String>,
    /// The Token configured on the integration's side: XML events then carry WeChat's
    /// `signature`, `timestamp` and `nonce` query parameters.
    #[arg(
        long,
        env = "HERALD_CALLBACK_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub callback_token: Option<String>,
    /// How long a replaced access token stays valid [default: 300] (tests shorten it).
    #[arg(
        long,
        env = "HERALD_TOKEN_OVERLAP_SECS",
        value_name = "SECS",
        hide = true
    )]
    pub token_overlap_secs: Option<u64>,
    /// The first retry delay of a failed callback, doubled at each retry [default: 1000].
    #[arg(long, env = "HERALD_CALLBACK_RETRY_MS", value_name = "MS", hide = true)]
    pub callback_retry_ms: Option<u64>,
}

/// The payload of job-finished callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackFormat {
    /// WeChat's `MASSSENDJOBFINISH` event, for jobs sent through `/cgi-bin`.
    Xml,
    /// Every job's report, as JSON.
    Json,
}

/// Where and how job-finished events go.
#[derive(Debug, Clone)]
pub struct Callback {
    /// `http://host[:port]/path[?query]`.
    pub url: String,
    /// The payload.
    pub format: CallbackFormat,
    /// WeChat's signature token, if any.
    pub token: Option<String>,
    /// The first retry delay.
    pub retry: Duration,
}

/// The `--config` file: the same keys as the flags.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    admin_key: Option<String>,
    body_limit: Option<usize>,
    token_ttl_secs: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
    snapshot_interval_secs: Option<u64>,
    ping_interval_secs: Option<u64>,
    pong_timeout_secs: Option<u64>,
    write_timeout_secs: Option<u64>,
    inbox_capacity: Option<usize>,
    callback_url: Option<String>,
    callback_format: Option<String>,
    callback_token: Option<String>,
    token_overlap_secs: Option<u64>,
    callback_retry_ms: Option<u64>,
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Durable engine directory, or `None` for in memory.
    pub data_dir: Option<PathBuf>,
    /// Listening address.
    pub listen: SocketAddr,
    /// Admin key given by the operator (else generated or read from the data dir).
    pub admin_key: Option<String>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Token lifetime.
    pub token_ttl: Duration,
    /// Bound on the wait for running sends at shutdown.
    pub shutdown_timeout: Duration,
    /// Period of a durable engine's snapshots; `None`: only at shutdown.
    pub snapshot_interval: Option<Duration>,
    /// Gateway ping (WebSocket) and keep-alive (SSE) period.
    pub ping_interval: Duration,
    /// Gateway: how long a ping may go unanswered.
    pub pong_timeout: Duration,
    /// Gateway: how long a socket may take no data.
    pub write_timeout: Duration,
    /// Entries per user inbox.
    pub inbox_capacity: usize,
    /// Job-finished events, if configured.
    pub callback: Option<Callback>,
    /// How long a replaced access token stays valid.
    pub token_overlap: Duration,
}

impl Settings {
    /// Merges flags (which already include the environment) over the `--config` file over
    /// the defaults.
    pub fn resolve(flags: Flags) -> Result<Settings, String> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("parsing {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let token_ttl_secs = flags.token_ttl_secs.or(file.token_ttl_secs).unwrap_or(7200);
        if token_ttl_secs == 0 {
            return Err("token_ttl_secs must be at least 1".into());
        }
        let at_least_one = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(format!("{name} must be at least 1")),
            value => Ok(Duration::from_secs(value.unwrap_or(default))),
        };
        let ping_interval = at_least_one(
            "ping_interval_secs",
            flags.ping_interval_secs.or(file.ping_interval_secs),
            25,
        )?;
        let pong_timeout = at_least_one(
            "pong_timeout_secs",
            flags.pong_timeout_secs.or(file.pong_timeout_secs),
            10,
        )?;
        let write_timeout = at_least_one(
            "write_timeout_secs",
            flags.write_timeout_secs.or(file.write_timeout_secs),
            60,
        )?;
        let inbox_capacity = flags.inbox_capacity.or(file.inbox_capacity).unwrap_or(32);
        if !(1..=65_536).contains(&inbox_capacity) {
            return Err(format!(
                "inbox_capacity must be 1 to 65536, got {inbox_capacity}"
            ));
        }
        let callback_format = match flags
            .callback_format
            .or(file.callback_format)
            .as_deref()
            .unwrap_or("xml")
        {
            "xml" => CallbackFormat::Xml,
            "json" => CallbackFormat::Json,
            other => {
                return Err(format!(
                    "callback_format must be xml or json, not {other:?}"
                ));
            }
        };
        let callback = match flags.callback_url.or(file.callback_url) {
            Some(url) => {
                if !url.starts_with("http://") {
                    return Err(format!(
                        "callback_url must be an http:// URL (put a TLS proxy in front for https), not {url:?}"
                    ));
                }
                Some(Callback {
                    url,
                    format: callback_format,
                    token: flags.callback_token.or(file.callback_token),
                    retry: Duration::from_millis(
                        flags
                            .callback_retry_ms
                            .or(file.callback_retry_ms)
                            .unwrap_or(1000)
                            .max(1),
                    ),
                })
            }
            None => None,
        };
        Ok(Settings {
            callback,
            token_overlap: Duration::from_secs(
                flags
                    .token_overlap_secs
                    .or(file.token_overlap_secs)
                    .unwrap_or(300),
            ),
            data_dir: flags.data_dir.or(file.data_dir),
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_key: flags.admin_key.or(file.admin_key),
            body_limit: flags.body_limit.or(file.body_limit).unwrap_or(1 << 20),
            token_ttl: Duration::from_secs(token_ttl_secs),
            shutdown_timeout: Duration::from_secs(
                flags
                    .shutdown_timeout_secs
                    .or(file.shutdown_timeout_secs)
                    .unwrap_or(30),
            ),
            snapshot_interval: match flags
                .snapshot_interval_secs
                .or(file.snapshot_interval_secs)
                .unwrap_or(300)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            ping_interval,
            pong_timeout,
            write_timeout,
            inbox_capacity,
        })
    }
}
