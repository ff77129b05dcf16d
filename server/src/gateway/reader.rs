//! A connection's reader: its user's inbox from a cursor, live and catching up alike.
//!
//! There is one path, not a live one and a catch-up one: the reader fetches the inbox from
//! its cursor, waits until what it read is durable, and hands out frames; with nothing
//! left it waits for the hub's wake-up. A connection asks for the next batch only when its
//! socket took the previous one, so its outbound buffer is one batch ([`BATCH`] frames)
//! and a slow client holds nothing but its cursor: it catches up from the inbox as its
//! socket drains, nothing dropped and nothing lost. The transports count each switch from
//! live to catching up in `herald_gateway_catchup_switches_total`.
//!
//! Each message is encoded to JSON once per (account, sequence, version) by the
//! [`Encoded`] cache and copied into each recipient's frame, which adds the recipient's
//! cursor.

use crate::wire::MessageJson;
use herald::{Content, Engine, Fetched, InboxItem, Message};
use parking_lot::Mutex;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Frames a connection has in flight at most: its outbound buffer (or the inbox capacity,
/// when that is smaller: a fetch takes at most that many).
pub const BATCH: usize = 64;

/// Cached encodings per shard before the shard is emptied.
const CACHE_PER_SHARD: usize = 1_024;
const CACHE_SHARDS: usize = 16;

/// One shard of the cache: (account, seq) → the message encoded and its JSON.
type Shard = Mutex<HashMap<(u32, u32), (Arc<Message>, Arc<str>)>>;

/// The JSON of each recent message, encoded once for every recipient's frame.
#[derive(Debug)]
pub struct Encoded {
    shards: Box<[Shard]>,
}

impl Default for Encoded {
    fn default() -> Self {
        Encoded {
            shards: (0..CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }
}

impl Encoded {
    /// The JSON of `message`, sent by `account` as `seq`. A corrected article is a new
    /// `Arc`, so a cached encoding of the old version is replaced, not reused.
    fn get(&self, account: u32, seq: u32, message: &Arc<Message>) -> Arc<str> {
        let shard = &self.shards[(account as usize ^ seq as usize) % CACHE_SHARDS];
        if let Some((cached, json)) = shard.lock().get(&(account, seq))
            && Arc::ptr_eq(cached, message)
        {
            return Arc::clone(json);
        }
        let json: Arc<str> = match MessageJson::from_message(message) {
            Some(m) => serde_json::to_string(&m).unwrap_or_else(|_| "null".into()),
            None => "null".into(),
        }
        .into();
        let mut shard = shard.lock();
        if shard.len() >= CACHE_PER_SHARD {
            // Bounded by emptying: a miss only costs one more encoding.
            shard.clear();
        }
        shard.insert((account, seq), (Arc::clone(message), Arc::clone(&json)));
        json
    }
}

/// One frame for the client, in JSON; `cursor` is set for inbox entries (the entry's
/// position: resume from `cursor + 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's JSON text.
    pub json: String,
    /// The entry's inbox cursor, for entries.
    pub cursor: Option<u64>,
    /// Where a client that got this frame resumes (`cursor + 1` for an entry, the first
    /// entry after the gap for `missed`): the SSE event id.
    pub next: Option<u64>,
    /// The SSE event name.
    pub event: &'static str,
}

impl Frame {
    fn entry(item: &InboxItem, encoded: &Encoded) -> Frame {
        let (event, json) = match &item.content {
            Content::Message(m) => {
                let body = encoded.get(item.account.0, item.seq.0, m);
                ("message", Self::message(item, &body))
            }
            Content::Retracted => ("retracted", Self::bare("retracted", item)),
            // Expired and anything a newer engine adds: the entry is there, its content not.
            _ => ("expired", Self::bare("expired", item)),
        };
        Frame {
            json,
            cursor: Some(item.cursor),
            next: Some(item.cursor + 1),
            event,
        }
    }

    /// `{"type":"message","cursor":C,"account":A,"seq":S,"message":BODY}`. Built once per
    /// delivery, so it is one allocation of the exact length: `format!` guesses the length
    /// from its literal pieces and grows the string past the body, and its integer
    /// formatting goes through `fmt`'s padding machinery.
    fn message(item: &InboxItem, body: &str) -> String {
        let (mut cursor, mut account, mut seq) = (
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        );
        [
            r#"{"type":"message","cursor":"#,
            cursor.format(item.cursor),
            r#","account":"#,
            account.format(item.account.0),
            r#","seq":"#,
            seq.format(item.seq.0),
            r#","message":"#,
            body,
            "}",
        ]
        .concat()
    }

    fn bare(kind: &str, item: &InboxItem) -> String {
        format!(
            r#"{{"type":"{kind}","cursor":{},"account":{},"seq":{}}}"#,
            item.cursor, item.account.0, item.seq.0
        )
    }

    fn missed(fetched: &Fetched, resume: u64) -> Frame {
        let from: Vec<_> = fetched
            .missed_from
            .iter()
            .map(|(a, s)| json!({"account": a.0, "seq": s.0}))
            .collect();
        Frame {
            json: json!({
                "type": "missed",
                "count": fetched.missed,
                "from": from,
                "next_cursor": resume,
            })
            .to_string(),
            cursor: None,
            next: Some(resume),
            event: "missed",
        }
    }

    /// The first frame of a connection: who it is and where it starts.
    pub fn hello(user: u32, cursor: u64) -> Frame {
        Frame {
            json: json!({"type": "hello", "user": user, "cursor": cursor}).to_string(),
            cursor: None,
            next: None,
            event: "hello",
        }
    }

    /// The last frame at shutdown: reconnect after `after_ms`.
    pub fn reconnect(after_ms: u64) -> Frame {
        Frame {
            json: json!({"type": "reconnect", "after_ms": after_ms}).to_string(),
            cursor: None,
            next: None,
            event: "reconnect",
        }
    }
}

/// Why a reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The user is gone or the inbox cannot be read; the text says why.
    Fetch(String),
    /// The log cannot be written: what was read is not durable and is not handed out.
    NotDurable(String),
}

/// A connection's position in its user's inbox.
#[derive(Debug)]
pub struct Reader {
    engine: Arc<Engine>,
    encoded: Arc<Encoded>,
    user: u32,
    cursor: u64,
    batch: usize,
    backlogged: bool,
}

impl Reader {
    /// A reader of `user`'s inbox from `cursor` (0: the oldest entry kept).
    pub fn new(engine: Arc<Engine>, encoded: Arc<Encoded>, user: u32, cursor: u64) -> Reader {
        Reader {
            batch: BATCH.min(engine.config().inbox_capacity).max(1),
            engine,
            encoded,
            user,
            cursor,
            backlogged: false,
        }
    }

    /// The user whose inbox this is.
    pub fn user(&self) -> u32 {
        self.user
    }

    /// The next entry to read.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// The last batch was full: more than a batch was waiting in the inbox.
    pub fn backlogged(&self) -> bool {
        self.backlogged
    }

    /// The next batch of frames, durable, oldest first; empty when the inbox has nothing
    /// after the cursor (then wait for the hub's wake-up and call again). Cancel safe: the
    /// cursor moves only when the batch is returned.
    pub async fn next_batch(&mut self) -> Result<Vec<Frame>, ReadError> {
        let fetched = self
            .engine
            .fetch(herald::UserId(self.user), self.cursor, self.batch)
            .map_err(|e| ReadError::Fetch(e.to_string()))?;
        if fetched.items.is_empty() && fetched.missed == 0 && fetched.next_cursor == self.cursor {
            self.backlogged = false;
            return Ok(Vec::new());
        }
        // Never hand out what a crash could take back: a cursor shown to a client must
        // name the same entry after a restart.
        self.engine
            .durable()
            .await
            .map_err(|e| ReadError::NotDurable(e.to_string()))?;
        self.backlogged = fetched.items.len() == self.batch;
        let mut frames = Vec::with_capacity(fetched.items.len() + 1);
        if fetched.missed > 0 {
            let resume = fetched
                .items
                .first()
                .map_or(fetched.next_cursor, |i| i.cursor);
            frames.push(Frame::missed(&fetched, resume));
        }
        frames.extend(
            fetched
                .items
                .iter()
                .map(|item| Frame::entry(item, &self.encoded)),
        );
        self.cursor = fetched.next_cursor;
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::{Audience, EngineConfig, SendRequest};

    #[tokio::test]
    async fn batches_come_in_inbox_order_and_resume_where_they_stopped() {
        let config = EngineConfig {
            inbox_capacity: 128,
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::new(config));
        let users = engine.add_users(2).unwrap();
        let account = engine.register_account("a").unwrap();
        engine.follow(account, users.get(0).unwrap(), None).unwrap();
        for i in 0..(BATCH + 3) {
            let request = SendRequest::new(Message::Text(format!("m{i}")), Audience::All);
            engine.send(account, request).unwrap().wait();
        }
        let encoded = Arc::new(Encoded::default());
        let user = users.get(0).unwrap().0;
        let mut reader = Reader::new(Arc::clone(&engine), Arc::clone(&encoded), user, 0);
        let first = reader.next_batch().await.unwrap();
        assert_eq!(first.len(), BATCH);
        assert_eq!(first[0].cursor, Some(0));
        assert!(
            first[5].json.contains(r#""text":"m5""#),
            "{}",
            first[5].json
        );
        let rest = reader.next_batch().await.unwrap();
        assert_eq!(
            rest.iter().map(|f| f.cursor).collect::<Vec<_>>(),
            (BATCH as u64..BATCH as u64 + 3)
                .map(Some)
                .collect::<Vec<_>>()
        );
        assert!(reader.next_batch().await.unwrap().is_empty());
        // A second reader from the middle sees the same frames, from the same encodings.
        let mut again = Reader::new(engine, encoded, user, BATCH as u64);
        assert_eq!(again.next_batch().await.unwrap(), rest);
    }

    #[tokio::test]
    async fn a_message_frame_is_the_entry_around_the_cached_body() {
        let engine = Arc::new(Engine::new(EngineConfig::default()));
        let users = engine.add_users(1).unwrap();
        let account = engine.register_account("a").unwrap();
        engine.follow(account, users.get(0).unwrap(), None).unwrap();
        for text in ["first", "second \"quoted\" \u{e9}"] {
            let request = SendRequest::new(Message::Text(text.into()), Audience::All);
            engine.send(account, request).unwrap().wait();
        }
        let encoded = Arc::new(Encoded::default());
        let user = users.get(0).unwrap().0;
        let mut reader = Reader::new(Arc::clone(&engine), Arc::clone(&encoded), user, 0);
        let frames = reader.next_batch().await.unwrap();
        let fetched = engine.fetch(users.get(0).unwrap(), 0, 2).unwrap();
        assert_eq!(frames.len(), 2);
        for (frame, item) in frames.iter().zip(&fetched.items) {
            let Content::Message(m) = &item.content else {
                panic!("{item:?} is a message");
            };
            let body = encoded.get(item.account.0, item.seq.0, m);
            let expected = format!(
                r#"{{"type":"message","cursor":{},"account":{},"seq":{},"message":{body}}}"#,
                item.cursor, item.account.0, item.seq.0
            );
            assert_eq!(frame.json, expected);
            let parsed: serde_json::Value = serde_json::from_str(&frame.json).unwrap();
            assert_eq!(parsed["cursor"], item.cursor);
        }
    }
}
