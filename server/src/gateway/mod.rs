//! The push gateway: `GET /v1/ws` (WebSocket) and `GET /v1/events` (Server-Sent Events).
//! A client receives its user's deliveries live, resumes from its inbox cursor after a
//! disconnect, and catches up from the inbox when it is slow; see `docs/http-api.md` for
//! the protocol and ARCHITECTURE.md for why it is built this way.

pub mod hub;
pub mod reader;
pub mod sse;
pub mod ws;

use crate::app::Shared;
use crate::auth::Subject;
use crate::error::ApiError;
use axum::http::HeaderMap;
use hub::Hub;
use reader::Encoded;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The gateway's shared parts and settings.
#[derive(Debug)]
pub struct Gateway {
    /// Connected users, woken by the engine's deliveries.
    pub hub: Arc<Hub>,
    /// Messages encoded once for every frame.
    pub encoded: Arc<Encoded>,
    /// Becomes true at shutdown: every connection sends its reconnect hint and closes.
    pub shutdown: watch::Sender<bool>,
    /// Interval of WebSocket pings and SSE keep-alive comments.
    pub ping_interval: Duration,
    /// A WebSocket that has not answered a ping within this is closed.
    pub pong_timeout: Duration,
    /// A connection whose socket takes no frame for this long is closed (its client
    /// resumes from its cursor when it comes back).
    pub write_timeout: Duration,
    /// Reconnect hints at shutdown are spread uniformly over this.
    pub reconnect_jitter: Duration,
    /// Where WebSocket connections run: a runtime of their own, so that a broadcast's
    /// thousands of wake-ups never queue the control API's requests (a send) behind them.
    connections: tokio::runtime::Handle,
    /// Owns that runtime; shuts it down when the gateway goes.
    _runtime: ConnectionRuntime,
}

/// The gateway's own runtime, shut down without blocking when the gateway is dropped
/// (which may happen inside the server's runtime).
#[derive(Debug)]
struct ConnectionRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ConnectionRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Gateway {
    /// A gateway with these timings and a runtime for its connections (a worker per core);
    /// nothing is connected yet.
    pub fn new(
        ping_interval: Duration,
        pong_timeout: Duration,
        write_timeout: Duration,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("herald-gateway")
            .enable_all()
            .build()?;
        Ok(Gateway {
            hub: Arc::new(Hub::default()),
            encoded: Arc::new(Encoded::default()),
            shutdown: watch::channel(false).0,
            ping_interval,
            pong_timeout,
            write_timeout,
            reconnect_jitter: Duration::from_secs(5),
            connections: runtime.handle().clone(),
            _runtime: ConnectionRuntime(Some(runtime)),
        })
    }

    /// A delay for one client's reconnect hint, uniform in `0..reconnect_jitter`, so that
    /// the clients of a stopped server do not all come back in the same millisecond.
    pub fn reconnect_after(&self) -> Duration {
        let random = crate::keys::random::<8>().map_or(0, u64::from_le_bytes);
        let span = self.reconnect_jitter.as_millis().max(1) as u64;
        Duration::from_millis(random % span)
    }

    /// Starts a connection on the gateway's runtime.
    pub fn spawn<F>(&self, connection: F) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.connections.spawn(connection)
    }
}

/// The user a gateway request is for: its user token from `Authorization: Bearer` or, for
/// browsers (whose WebSocket and EventSource cannot set headers), `?token=`. The user must
/// exist.
pub fn user_of(state: &Shared, headers: &HeaderMap, token: Option<&str>) -> Result<u32, ApiError> {
    let subject = match token {
        Some(token) if !headers.contains_key(axum::http::header::AUTHORIZATION) => {
            state.auth.token_str(token)?
        }
        _ => state.auth.token(headers)?,
    };
    match subject {
        Subject::User(user) if u64::from(user) < state.engine.user_count() => Ok(user),
        Subject::User(user) => Err(ApiError::not_found(
            "unknown_user",
            format!("user {user} does not exist"),
        )),
        Subject::Account(_) => Err(ApiError::forbidden(
            "the gateway takes a user token, not an account's",
        )),
    }
}

/// Counts a connection's switch from live to catching up from its inbox.
pub fn catchup_switch(transport: &'static str) {
    metrics::counter!("herald_gateway_catchup_switches_total", "transport" => transport)
        .increment(1);
}

/// Counts a connection in `herald_gateway_connections` while it lives.
#[derive(Debug)]
pub struct Connected {
    transport: &'static str,
    /// `herald_gateway_deliveries_pushed_total` for this transport, looked up once.
    pushed: metrics::Counter,
}

impl Connected {
    /// A connection of `transport` (`ws` or `sse`) opened.
    pub fn new(transport: &'static str) -> Connected {
        metrics::gauge!("herald_gateway_connections", "transport" => transport).increment(1.0);
        metrics::counter!("herald_gateway_connections_total", "transport" => transport)
            .increment(1);
        Connected {
            transport,
            pushed: metrics::counter!("herald_gateway_deliveries_pushed_total", "transport" => transport),
        }
    }

    /// Counts `n` inbox entries written to this connection's socket.
    pub fn pushed(&self, n: usize) {
        self.pushed.increment(n as u64);
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::gauge!("herald_gateway_connections", "transport" => self.transport).decrement(1.0);
    }
}
