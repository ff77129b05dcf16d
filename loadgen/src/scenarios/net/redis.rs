//! Redis pub/sub: `redis-server` from PATH (Debian package `redis-server`), every client
//! subscribed to one channel, the publisher's `PUBLISH` answered with the receiver count.
//! Started with its defaults but for persistence (off: pub/sub keeps nothing) and enough
//! `maxclients`; a slow subscriber meets its own `client-output-buffer-limit`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use anyhow::{Context, bail};

use super::process::{Server, start_from_path};
use super::stream::{Event, Protocol, line, number};

pub const PROGRAM: &str = "redis-server";
pub const PACKAGE: &str = "redis-server";
const CHANNEL: &str = "herald-net";

/// Starts `redis-server` for `clients` subscribers; `None` when it is not installed.
pub fn start(clients: u32) -> anyhow::Result<Option<(Server, SocketAddr)>> {
    start_from_path(PROGRAM, |port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxclients",
            &(clients + 64).to_string(),
            "--loglevel",
            "warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    })
}

/// RESP: `SUBSCRIBE`'s confirmation and `message` pushes.
#[derive(Debug, Default)]
pub struct Resp;

impl Protocol for Resp {
    fn subscribe(&self) -> Vec<u8> {
        command(&[b"SUBSCRIBE", CHANNEL.as_bytes()])
    }

    fn parse<'a>(&self, buf: &'a [u8]) -> anyhow::Result<Option<(Event<'a>, usize)>> {
        let Some((head, mut at)) = line(buf) else {
            return Ok(None);
        };
        if head.first() != Some(&b'*') {
            bail!("unexpected RESP frame {:?}", String::from_utf8_lossy(head));
        }
        let count = number(&head[1..])?;
        let mut items: [&[u8]; 3] = [&[]; 3];
        for i in 0..count.max(0) as usize {
            let Some((item, len)) = line(&buf[at..]) else {
                return Ok(None);
            };
            at += len;
            let value = match item.first() {
                Some(b'$') => {
                    let n = number(&item[1..])? as usize;
                    if buf.len() < at + n + 2 {
                        return Ok(None);
                    }
                    let v = &buf[at..at + n];
                    at += n + 2;
                    v
                }
                Some(b':') => &item[1..],
                _ => bail!("unexpected RESP item {:?}", String::from_utf8_lossy(item)),
            };
            if i < items.len() {
                items[i] = value;
            }
        }
        let event = match items[0] {
            b"message" => Event::Message(items[2]),
            b"subscribe" => Event::Subscribed,
            _ => Event::Other,
        };
        Ok(Some((event, at)))
    }
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `PUBLISH` over one connection, each waiting for its reply.
#[derive(Debug)]
pub struct Publisher {
    write: TcpStream,
    read: BufReader<TcpStream>,
    line: String,
}

impl Publisher {
    pub fn connect(addr: SocketAddr) -> anyhow::Result<Publisher> {
        let write = TcpStream::connect(addr).context("connecting the Redis publisher")?;
        write.set_nodelay(true)?;
        Ok(Publisher {
            read: BufReader::new(write.try_clone()?),
            write,
            line: String::new(),
        })
    }
}

impl super::Publish for Publisher {
    fn publish(&mut self, payload: &str) -> anyhow::Result<()> {
        self.write.write_all(&command(&[
            b"PUBLISH",
            CHANNEL.as_bytes(),
            payload.as_bytes(),
        ]))?;
        self.line.clear();
        self.read.read_line(&mut self.line)?;
        if !self.line.starts_with(':') {
            bail!("PUBLISH answered {:?}", self.line.trim_end());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp_pushes_parse_whole_or_not_at_all() {
        let confirm = b"*3\r\n$9\r\nsubscribe\r\n$10\r\nherald-net\r\n:1\r\n";
        let push = b"*3\r\n$7\r\nmessage\r\n$10\r\nherald-net\r\n$5\r\nhello\r\n";
        let mut both = confirm.to_vec();
        both.extend_from_slice(push);
        let (event, len) = Resp.parse(&both).unwrap().unwrap();
        assert_eq!((event, len), (Event::Subscribed, confirm.len()));
        let (event, len) = Resp.parse(&both[len..]).unwrap().unwrap();
        assert_eq!((event, len), (Event::Message(b"hello"), push.len()));
        for cut in 0..push.len() {
            assert_eq!(Resp.parse(&push[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(Resp.parse(b"-ERR no\r\n").is_err());
    }
}
