//! Push gateway clients from crates.io: tungstenite for `/v1/ws`, reqwest reading the
//! `/v1/events` stream line by line.

use super::Server;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// How long a test waits for one frame before it fails.
pub const FRAME_WAIT: Duration = Duration::from_secs(30);

/// A WebSocket client of the gateway.
pub struct Ws {
    pub socket: WebSocket<TcpStream>,
}

/// How a gateway client authenticates.
pub enum Auth<'a> {
    Header(&'a str),
    Query(&'a str),
    None,
}

impl Ws {
    /// Connects with the token in the `Authorization` header; `query` without `?`.
    pub fn connect(server: &Server, token: &str, query: &str) -> Ws {
        Ws::try_connect(server, Auth::Header(token), query, None).unwrap()
    }

    /// Connects; `recv_buffer` sets the socket's receive buffer (a small one makes a client
    /// that stops reading fill up quickly). Errors are tungstenite's (an HTTP refusal is
    /// `Error::Http` with the response).
    pub fn try_connect(
        server: &Server,
        auth: Auth<'_>,
        query: &str,
        recv_buffer: Option<usize>,
    ) -> Result<Ws, Box<tungstenite::Error>> {
        let host = server.base.trim_start_matches("http://");
        let mut url = format!("ws://{host}/v1/ws?{query}");
        if let Auth::Query(token) = auth {
            url.push_str(&format!("&token={token}"));
        }
        let mut request = url.as_str().into_client_request().map_err(Box::new)?;
        if let Auth::Header(token) = auth {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let addr: std::net::SocketAddr = host.parse().unwrap();
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        socket.connect(&addr.into()).unwrap();
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(FRAME_WAIT)).unwrap();
        let (socket, _) = tungstenite::client(request, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => Box::new(e),
            tungstenite::HandshakeError::Interrupted(_) => panic!("blocking handshake"),
        })?;
        Ok(Ws { socket })
    }

    /// The next message, pings and pongs included; `None` once closed (with the close
    /// frame's code and reason printed into the value as `{"close": code, "reason": ..}`).
    pub fn next_message(&mut self) -> Message {
        self.socket.read().expect("a frame within FRAME_WAIT")
    }

    /// The next JSON frame, skipping pings and pongs; a close frame is returned as
    /// `{"type":"close","code":N,"reason":".."}`.
    pub fn next_json(&mut self) -> Value {
        // Pings come in between: the socket's read timeout alone would never fire.
        let deadline = std::time::Instant::now() + FRAME_WAIT;
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "no frame within {FRAME_WAIT:?}"
            );
            match self.next_message() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return serde_json::json!({"type": "close", "code": code, "reason": reason});
                }
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The hello frame, checked; the cursor it starts at.
    pub fn hello(&mut self, user: u32) -> u64 {
        let hello = self.next_json();
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(hello["user"], user, "{hello}");
        hello["cursor"].as_u64().unwrap()
    }

    /// The next `n` entry frames (`message`, `retracted`, `expired`), in order; any
    /// other frame fails the test.
    pub fn entries(&mut self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|_| {
                let frame = self.next_json();
                assert!(
                    ["message", "retracted", "expired"].contains(&frame["type"].as_str().unwrap()),
                    "{frame}"
                );
                frame
            })
            .collect()
    }
}

/// The HTTP status of a refused WebSocket handshake and the error code in its body.
pub fn refused(error: &tungstenite::Error) -> (u16, String) {
    match error {
        tungstenite::Error::Http(response) => {
            let body: Value = response
                .body()
                .as_deref()
                .map(|b| serde_json::from_slice(b).unwrap())
                .unwrap_or(Value::Null);
            (
                response.status().as_u16(),
                body["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }
        other => panic!("not an HTTP refusal: {other}"),
    }
}

/// One Server-Sent Event.
#[derive(Debug, Default, Clone)]
pub struct Event {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A `GET /v1/events` stream.
pub struct Sse {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

impl Sse {
    /// Opens the stream with `token` in the header and `last_event_id` when given.
    pub fn connect(server: &Server, token: &str, query: &str, last_event_id: Option<&str>) -> Sse {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(90))
            .build()
            .unwrap();
        let mut request = client
            .get(server.url(&format!("/v1/events?{query}")))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            lines: BufReader::new(response).lines(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ended.
    pub fn next_event(&mut self) -> Option<Event> {
        let mut event = Event::default();
        let mut any = false;
        for line in self.lines.by_ref() {
            let line = line.ok()?;
            if line.is_empty() {
                if any {
                    return Some(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            any = true;
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event.event = value.to_string(),
                "id" => event.id = Some(value.to_string()),
                "data" => {
                    if !event.data.is_empty() {
                        event.data.push('\n');
                    }
                    event.data.push_str(value)
                }
                "retry" => event.retry = value.parse().ok(),
                _ => {}
            }
        }
        None
    }
}
