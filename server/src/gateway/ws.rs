//! `GET /v1/ws?cursor=C[&token=T]`: the WebSocket transport. One task per connection
//! reads the inbox (see [`Reader`]), writes a batch, and otherwise waits for the hub's
//! wake-up, the client's frames, the ping timer or shutdown.

use super::reader::{BATCH, Frame, ReadError, Reader};
use super::{Connected, Gateway, user_of};
use crate::app::{QueryParams, Shared};
use crate::error::ApiError;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{FutureExt, SinkExt};
use serde::Deserialize;
use std::sync::Arc;
use tokio::time::Instant;

/// The socket's read buffer: clients send only pongs and close frames, and its capacity
/// stays with every idle connection (tungstenite's default is 128 KiB; the measured cost
/// per connection is in docs/performance.md).
const READ_BUFFER: usize = 1 << 10;
/// Bytes collected before a write reaches the socket: a batch of small frames is one
/// write. Kept small: the buffer's capacity stays with an idle connection.
const WRITE_BUFFER: usize = 4 << 10;
/// The largest frame a client may send.
const MAX_INCOMING: usize = 4 << 10;

/// Query parameters of `GET /v1/ws` and `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// The first inbox entry to send (0, the default: the oldest kept); resume with the last
    /// frame's `cursor + 1`.
    #[serde(default)]
    pub cursor: Option<u64>,
    /// The user token, for clients that cannot set `Authorization`.
    #[serde(default)]
    pub token: Option<String>,
}

/// `GET /v1/ws`.
pub async fn ws(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<QueryParams<Connect>, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let QueryParams(connect) = query?;
    let user = user_of(&state, &headers, connect.token.as_deref())?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::bad_request(
            "not_a_websocket",
            format!("this route takes a WebSocket upgrade: {e}"),
        )
    })?;
    let cursor = connect.cursor.unwrap_or(0);
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .on_upgrade(move |socket| {
            // Spawned here, not inside the returned future: that future stays as small as
            // the handle it waits on (the server's graceful shutdown waits for it).
            let connection = state
                .gateway
                .spawn(run(socket, Arc::clone(&state), user, cursor));
            async move {
                let _ = connection.await;
            }
        }))
}

/// Why a connection ended, for the logs.
#[derive(Debug)]
enum End {
    ClientLeft,
    PongTimeout,
    WriteTimeout,
    Shutdown,
    Read(ReadError),
}

async fn run(mut socket: WebSocket, state: Shared, user: u32, cursor: u64) {
    let gateway = &state.gateway;
    let connected = Connected::new("ws");
    let registration = gateway.hub.register(user);
    let mut reader = Reader::new(
        Arc::clone(&state.engine),
        Arc::clone(&gateway.encoded),
        user,
        cursor,
    );
    let end = session(&mut socket, gateway, &connected, &registration, &mut reader).await;
    tracing::debug!(user, cursor = reader.cursor(), ?end, "websocket closed");
    let close = match &end {
        End::ClientLeft | End::WriteTimeout => None,
        End::PongTimeout => Some((close_code::POLICY, "no pong")),
        End::Shutdown => Some((close_code::AWAY, "server shutting down; reconnect")),
        End::Read(e) => {
            tracing::warn!(user, "closing a websocket: {e:?}");
            Some((close_code::ERROR, "the inbox cannot be read now; reconnect"))
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            gateway.pong_timeout,
            socket.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

async fn session(
    socket: &mut WebSocket,
    gateway: &Gateway,
    connected: &Connected,
    registration: &super::hub::Registration,
    reader: &mut Reader,
) -> End {
    let mut shutdown = gateway.shutdown.subscribe();
    let mut catching_up = false;
    if write(
        socket,
        gateway,
        vec![Frame::hello(reader.user(), reader.cursor())],
        &mut catching_up,
    )
    .await
    .is_err()
    {
        return End::WriteTimeout;
    }
    let mut next_ping = Instant::now() + gateway.ping_interval;
    let mut pong_due: Option<Instant> = None;
    let mut more = true;
    // `catching_up` is set when the socket could not take a batch at once: the client is
    // behind, and what arrives meanwhile waits in its inbox, not in a buffer.
    loop {
        if *shutdown.borrow_and_update() {
            let hint = Frame::reconnect(gateway.reconnect_after().as_millis() as u64);
            let _ = write(socket, gateway, vec![hint], &mut catching_up).await;
            return End::Shutdown;
        }
        if more {
            match reader.next_batch().await {
                Ok(frames) if frames.is_empty() => {
                    more = false;
                    catching_up = false;
                }
                Ok(frames) => {
                    let entries = frames.iter().filter(|f| f.cursor.is_some()).count();
                    if write(socket, gateway, frames, &mut catching_up)
                        .await
                        .is_err()
                    {
                        return End::WriteTimeout;
                    }
                    connected.pushed(entries);
                    continue;
                }
                Err(e) => return End::Read(e),
            }
        }
        let pong_deadline = pong_due.unwrap_or_else(|| Instant::now() + gateway.ping_interval);
        tokio::select! {
            () = registration.waker().woken() => more = true,
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::ClientLeft,
                // Any frame proves the client alive; pings are answered by the library.
                Some(Ok(_)) => pong_due = None,
            },
            () = tokio::time::sleep_until(next_ping), if pong_due.is_none() => {
                if write_raw(socket, gateway, Message::Ping(Default::default())).await.is_err() {
                    return End::WriteTimeout;
                }
                pong_due = Some(Instant::now() + gateway.pong_timeout);
                next_ping = Instant::now() + gateway.ping_interval;
            },
            () = tokio::time::sleep_until(pong_deadline), if pong_due.is_some() => {
                return End::PongTimeout;
            },
            _ = shutdown.changed() => {},
        }
    }
}

/// Writes `frames` as one flush, within the write timeout. When the socket cannot take
/// them at once (its buffers are full: the client reads slower than it receives), the
/// connection is catching up from then on, counted once per switch.
async fn write(
    socket: &mut WebSocket,
    gateway: &Gateway,
    frames: Vec<Frame>,
    catching_up: &mut bool,
) -> Result<(), ()> {
    debug_assert!(frames.len() <= BATCH + 1);
    let all = async {
        for frame in frames {
            socket.feed(Message::Text(frame.json.into())).await?;
        }
        socket.flush().await
    };
    let all = tokio::time::timeout(gateway.write_timeout, all);
    tokio::pin!(all);
    let result = match all.as_mut().now_or_never() {
        Some(result) => result,
        None => {
            if !*catching_up {
                *catching_up = true;
                super::catchup_switch("ws");
            }
            all.await
        }
    };
    match result {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn write_raw(socket: &mut WebSocket, gateway: &Gateway, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(gateway.write_timeout, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
