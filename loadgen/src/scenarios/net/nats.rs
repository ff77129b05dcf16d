//! NATS core: `nats-server` from PATH (Debian package `nats-server`) with its defaults,
//! every client subscribed to one subject, each publish followed by a `PING` whose `PONG`
//! says the server has taken it. A slow subscriber meets the server's own slow-consumer
//! rule (its pending bytes and write deadline).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use anyhow::{Context, bail};

use super::process::{Server, start_from_path};
use super::stream::{Event, Protocol, line, number};

pub const PROGRAM: &str = "nats-server";
pub const PACKAGE: &str = "nats-server";
const SUBJECT: &str = "herald.net";
const CONNECT: &str = r#"CONNECT {"verbose":false,"pedantic":false,"echo":false}"#;

/// Starts `nats-server`; `None` when it is not installed.
pub fn start() -> anyhow::Result<Option<(Server, SocketAddr)>> {
    start_from_path(PROGRAM, |port| {
        vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ]
    })
}

/// The NATS client protocol: `MSG`, `PING`, and the `PONG` that confirms the subscription.
#[derive(Debug, Default)]
pub struct Nats;

impl Protocol for Nats {
    fn subscribe(&self) -> Vec<u8> {
        format!("{CONNECT}\r\nSUB {SUBJECT} 1\r\nPING\r\n").into_bytes()
    }

    fn parse<'a>(&self, buf: &'a [u8]) -> anyhow::Result<Option<(Event<'a>, usize)>> {
        let Some((head, len)) = line(buf) else {
            return Ok(None);
        };
        if let Some(rest) = head.strip_prefix(b"MSG ") {
            let size = rest.rsplit(|&b| b == b' ').next().unwrap_or_default();
            let size = number(size)? as usize;
            if buf.len() < len + size + 2 {
                return Ok(None);
            }
            return Ok(Some((
                Event::Message(&buf[len..len + size]),
                len + size + 2,
            )));
        }
        let event = match head {
            b"PING" => Event::Reply(b"PONG\r\n"),
            b"PONG" => Event::Subscribed,
            h if h.starts_with(b"-ERR") => bail!("NATS: {}", String::from_utf8_lossy(h)),
            _ => Event::Other,
        };
        Ok(Some((event, len)))
    }
}

/// `PUB` and `PING` over one connection, each publish waiting for its `PONG`.
#[derive(Debug)]
pub struct Publisher {
    write: TcpStream,
    read: BufReader<TcpStream>,
    line: String,
}

impl Publisher {
    pub fn connect(addr: SocketAddr) -> anyhow::Result<Publisher> {
        let mut write = TcpStream::connect(addr).context("connecting the NATS publisher")?;
        write.set_nodelay(true)?;
        write.write_all(format!("{CONNECT}\r\n").as_bytes())?;
        Ok(Publisher {
            read: BufReader::new(write.try_clone()?),
            write,
            line: String::new(),
        })
    }
}

impl super::Publish for Publisher {
    fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        let frame = format!("PUB {SUBJECT} {}\r\n{payload}\r\nPING\r\n", payload.len());
        self.write.write_all(frame.as_bytes())?;
        loop {
            self.line.clear();
            if self.read.read_line(&mut self.line)? == 0 {
                bail!("the NATS server closed the publisher's connection");
            }
            match self.line.trim_end() {
                "PONG" => return Ok(()),
                "PING" => self.write.write_all(b"PONG\r\n")?,
                l if l.starts_with("-ERR") => bail!("NATS: {l}"),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_frames_parse_whole_or_not_at_all() {
        let msg = b"MSG herald.net 1 5\r\nhello\r\n";
        assert_eq!(
            Nats.parse(msg).unwrap(),
            Some((Event::Message(b"hello"), msg.len()))
        );
        for cut in 0..msg.len() {
            assert_eq!(Nats.parse(&msg[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(
            Nats.parse(b"PING\r\nMSG").unwrap(),
            Some((Event::Reply(b"PONG\r\n"), 6))
        );
        assert_eq!(
            Nats.parse(b"PONG\r\n").unwrap(),
            Some((Event::Subscribed, 6))
        );
        assert_eq!(Nats.parse(b"INFO {}\r\n").unwrap(), Some((Event::Other, 9)));
        assert!(Nats.parse(b"-ERR 'Slow Consumer'\r\n").is_err());
    }
}
