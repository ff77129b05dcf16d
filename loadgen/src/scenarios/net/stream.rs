//! The subscriber side of the byte-stream protocols (Redis's RESP, NATS's text protocol):
//! one task per connection reads into a small buffer, parses every complete frame in it,
//! and records the messages. Also the connect step all three systems' clients share.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::record::Recorder;

/// Bytes read at once; grows only for a frame larger than this.
const READ_CHUNK: usize = 4 << 10;

/// Opens a TCP connection to `addr`, retrying while the server's listen queue overflows
/// (thousands of clients connect at once).
///
/// Slow clients keep the kernel's default buffers: a small receive buffer is what a client
/// on a poor network has, but on loopback (a 64 KiB MSS) a window that small falls back on
/// the sender's zero-window probes, whose backoff stalled some connections for tens of
/// seconds.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut delay = Duration::from_millis(20);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let socket = TcpSocket::new_v4()?;
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e).with_context(|| format!("connecting to {addr}")),
        }
    }
}

/// What a parser found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The subscription is in place.
    Subscribed,
    /// A message, its payload.
    Message(&'a [u8]),
    /// The server asks for this reply (NATS's PING).
    Reply(&'static [u8]),
    /// Anything else, skipped.
    Other,
}

/// A byte-stream protocol: the bytes that subscribe, and a parser of one frame.
pub trait Protocol {
    /// Written once after connecting.
    fn subscribe(&self) -> Vec<u8>;
    /// The first frame in `buf` and its length, `Ok(None)` when it is not complete yet.
    fn parse<'a>(&self, buf: &'a [u8]) -> anyhow::Result<Option<(Event<'a>, usize)>>;
}

/// How a stream client ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// It had every message, or the run's deadline passed.
    Done,
    /// The server closed the connection first.
    Closed,
}

/// Subscribes over `stream` and records messages until every one has arrived (then it
/// keeps the connection open, idle, until the deadline) or the server closes it.
/// `subscribed` is called once the subscription is confirmed.
pub async fn run<P: Protocol>(
    protocol: &P,
    mut stream: TcpStream,
    rec: &mut Recorder,
    subscribed: impl FnOnce(),
) -> anyhow::Result<Ended> {
    let mut deadline = rec.deadline();
    stream.write_all(&protocol.subscribe()).await?;
    let mut subscribed = Some(subscribed);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        if *deadline.borrow() {
            return Ok(Ended::Done);
        }
        if rec.complete() {
            let _ = deadline.wait_for(|&d| d).await;
            return Ok(Ended::Done);
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let read = tokio::select! {
            read = stream.read_buf(&mut buf) => read,
            _ = deadline.changed() => continue,
        };
        match read {
            Ok(0) | Err(_) => return Ok(Ended::Closed),
            Ok(_) => {}
        }
        let now = Instant::now();
        let mut at = 0;
        while let Some((event, len)) = protocol.parse(&buf[at..])? {
            match event {
                Event::Subscribed => {
                    if let Some(f) = subscribed.take() {
                        f();
                    }
                }
                Event::Message(payload) => rec.message(payload, now),
                Event::Reply(bytes) => stream.write_all(bytes).await?,
                Event::Other => {}
            }
            at += len;
        }
        buf.drain(..at);
        if buf.capacity() > 4 * READ_CHUNK && buf.len() < READ_CHUNK {
            buf.shrink_to(READ_CHUNK);
        }
        if let Some(pause) = rec.after_read() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {},
                _ = deadline.wait_for(|&d| d) => {},
            }
            rec.resumed();
        }
        if subscribed.is_some() && rec.distinct > 0 {
            bail!("a message arrived before the subscription was confirmed");
        }
    }
}

/// The line at the start of `buf`, without its CRLF, and the length with it.
pub fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

/// A decimal number.
pub fn number(digits: &[u8]) -> anyhow::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not a number: {:?}", String::from_utf8_lossy(digits)))
}
