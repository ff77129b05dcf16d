//! `GET /v1/events?cursor=C[&token=T]`: the Server-Sent Events transport, for clients that
//! only speak HTTP (a browser's `EventSource`, curl). The same [`Reader`] as the WebSocket:
//! each inbox entry is an event whose `id` is where to resume (the entry's cursor + 1), so
//! a reconnecting `EventSource` sends it back as `Last-Event-ID` and misses nothing.
//!
//! The body is a stream that hyper polls only when its connection buffer has room, so a
//! slow client holds at most one batch plus hyper's buffer and otherwise only its cursor.

use super::reader::{Frame, ReadError, Reader};
use super::ws::Connect;
use super::{Connected, Gateway, user_of};
use crate::app::{QueryParams, Shared};
use crate::error::ApiError;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::watch;

/// `GET /v1/events`. `Last-Event-ID` (sent by a reconnecting `EventSource`) wins over
/// `?cursor=`.
pub async fn events(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<QueryParams<Connect>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    let QueryParams(connect) = query?;
    let user = user_of(&state, &headers, connect.token.as_deref())?;
    let cursor = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_last_event_id",
                    "Last-Event-ID must be an event id this server sent (a cursor)",
                )
            })?,
        None => connect.cursor.unwrap_or(0),
    };
    let keep_alive = KeepAlive::new().interval(state.gateway.ping_interval);
    Ok(Sse::new(stream_of(state, user, cursor)).keep_alive(keep_alive))
}

/// A connection's state between events.
struct Session {
    state: Shared,
    reader: Reader,
    registration: super::hub::Registration,
    shutdown: watch::Receiver<bool>,
    connected: Connected,
    /// The next batch should be read without waiting (a wake-up came, or the last batch
    /// was not the end).
    more: bool,
    /// Counted once per switch from live to catching up.
    catching_up: bool,
    done: bool,
}

fn stream_of(
    state: Shared,
    user: u32,
    cursor: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let gateway = &state.gateway;
    // Registered before the first read: see the hub's invariant.
    let registration = gateway.hub.register(user);
    let reader = Reader::new(
        Arc::clone(&state.engine),
        Arc::clone(&gateway.encoded),
        user,
        cursor,
    );
    let session = Session {
        shutdown: gateway.shutdown.subscribe(),
        state: Arc::clone(&state),
        reader,
        registration,
        connected: Connected::new("sse"),
        more: true,
        catching_up: false,
        done: false,
    };
    let hello = event(&Frame::hello(user, cursor));
    stream::once(async move { vec![hello] })
        .chain(stream::unfold(session, next_events))
        .flat_map(|events| stream::iter(events.into_iter().map(Ok)))
}

/// The next events of a session: a batch from the inbox, or the reconnect hint at
/// shutdown; `None` ends the stream.
async fn next_events(mut session: Session) -> Option<(Vec<Event>, Session)> {
    if session.done {
        return None;
    }
    loop {
        if *session.shutdown.borrow_and_update() {
            session.done = true;
            return Some((vec![reconnect(&session.state.gateway)], session));
        }
        if session.more {
            match session.reader.next_batch().await {
                Ok(frames) if frames.is_empty() => {
                    session.more = false;
                    session.catching_up = false;
                }
                Ok(frames) => {
                    // hyper asks for events only as its buffer drains: a full batch means
                    // more was waiting than one batch, the client is behind.
                    if session.reader.backlogged() && !session.catching_up {
                        session.catching_up = true;
                        super::catchup_switch("sse");
                    }
                    let entries = frames.iter().filter(|f| f.cursor.is_some()).count();
                    session.connected.pushed(entries);
                    return Some((frames.iter().map(event).collect(), session));
                }
                Err(e) => {
                    tracing::debug!(
                        user = session.reader.user(),
                        cursor = session.reader.cursor(),
                        "event stream closed: {e:?}"
                    );
                    session.done = true;
                    let error = error_event(&e, &session.state.gateway);
                    return Some((vec![error], session));
                }
            }
            continue;
        }
        tokio::select! {
            () = session.registration.waker().woken() => session.more = true,
            _ = session.shutdown.changed() => {},
        }
    }
}

fn event(frame: &Frame) -> Event {
    let event = Event::default().event(frame.event).data(&frame.json);
    match frame.next {
        Some(next) => event.id(next.to_string()),
        None => event,
    }
}

/// The reconnect hint: SSE's own `retry` field (which `EventSource` obeys) and a
/// `reconnect` event for clients that read events themselves.
fn reconnect(gateway: &Gateway) -> Event {
    let after = gateway.reconnect_after();
    event(&Frame::reconnect(after.as_millis() as u64)).retry(after)
}

fn error_event(error: &ReadError, gateway: &Gateway) -> Event {
    let message = match error {
        ReadError::Fetch(why) | ReadError::NotDurable(why) => why.as_str(),
    };
    Event::default()
        .event("error")
        .data(serde_json::json!({"type": "error", "message": message}).to_string())
        .retry(gateway.reconnect_after())
}
