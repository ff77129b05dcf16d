//! Log records: every state change as it is written to the write-ahead log, with a
//! hand-written little-endian encoding whose decoder never panics on arbitrary bytes.

use std::fmt;

use crate::domain::message::{Article, Media, MediaFormat, Message, Video};

/// One state change. Records carry only validated input: applying one cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    AddUsers {
        count: u32,
    },
    RegisterAccount {
        account: u32,
        name: String,
    },
    Follow {
        user: u32,
        account: u32,
        source: Option<String>,
    },
    /// A bulk import: only the users that were not following yet.
    FollowMany {
        account: u32,
        users: Vec<u32>,
    },
    Unfollow {
        user: u32,
        account: u32,
    },
    CreateTag {
        account: u32,
        tag: u32,
        name: String,
    },
    DeleteTag {
        account: u32,
        tag: u32,
    },
    Retag {
        account: u32,
        tag: u32,
        add: bool,
        users: Vec<u32>,
    },
    SendAccepted {
        account: u32,
        seq: u32,
        accepted_ms: u64,
        chunk_target: u32,
        key: Option<String>,
        message: Message,
        /// The audience in roaring's portable format.
        audience: Vec<u8>,
    },
    ChunkDone {
        account: u32,
        seq: u32,
        chunk: u32,
        sent: u64,
        errors: u64,
    },
}

/// Bytes that are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed record: {}", self.0)
    }
}

impl Record {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        match self {
            Record::AddUsers { count } => {
                w.u8(1);
                w.u32(*count);
            }
            Record::RegisterAccount { account, name } => {
                w.u8(2);
                w.u32(*account);
                w.str(name);
            }
            Record::Follow {
                user,
                account,
                source,
            } => {
                w.u8(3);
                w.u32(*user);
                w.u32(*account);
                w.opt_str(source.as_deref());
            }
            Record::FollowMany { account, users } => {
                w.u8(4);
                w.u32(*account);
                w.u32s(users);
            }
            Record::Unfollow { user, account } => {
                w.u8(5);
                w.u32(*user);
                w.u32(*account);
            }
            Record::CreateTag { account, tag, name } => {
                w.u8(6);
                w.u32(*account);
                w.u32(*tag);
                w.str(name);
            }
            Record::DeleteTag { account, tag } => {
                w.u8(7);
                w.u32(*account);
                w.u32(*tag);
            }
            Record::Retag {
                account,
                tag,
                add,
                users,
            } => {
                w.u8(8);
                w.u32(*account);
                w.u32(*tag);
                w.u8(u8::from(*add));
                w.u32s(users);
            }
            Record::SendAccepted {
                account,
                seq,
                accepted_ms,
                chunk_target,
                key,
                message,
                audience,
            } => {
                w.u8(9);
                w.u32(*account);
                w.u32(*seq);
                w.u64(*accepted_ms);
                w.u32(*chunk_target);
                w.opt_str(key.as_deref());
                encode_message(&mut w, message);
                w.bytes(audience);
            }
            Record::ChunkDone {
                account,
                seq,
                chunk,
                sent,
                errors,
            } => {
                w.u8(10);
                w.u32(*account);
                w.u32(*seq);
                w.u32(*chunk);
                w.u64(*sent);
                w.u64(*errors);
            }
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut r = Reader(bytes);
        let record = match r.u8()? {
            1 => Record::AddUsers { count: r.u32()? },
            2 => Record::RegisterAccount {
                account: r.u32()?,
                name: r.string()?,
            },
            3 => Record::Follow {
                user: r.u32()?,
                account: r.u32()?,
                source: r.opt_string()?,
            },
            4 => Record::FollowMany {
                account: r.u32()?,
                users: r.u32s()?,
            },
            5 => Record::Unfollow {
                user: r.u32()?,
                account: r.u32()?,
            },
            6 => Record::CreateTag {
                account: r.u32()?,
                tag: r.u32()?,
                name: r.string()?,
            },
            7 => Record::DeleteTag {
                account: r.u32()?,
                tag: r.u32()?,
            },
            8 => Record::Retag {
                account: r.u32()?,
                tag: r.u32()?,
                add: r.bool()?,
                users: r.u32s()?,
            },
            9 => Record::SendAccepted {
                account: r.u32()?,
                seq: r.u32()?,
                accepted_ms: r.u64()?,
                chunk_target: r.u32()?,
                key: r.opt_string()?,
                message: decode_message(&mut r)?,
                audience: r.bytes()?.to_vec(),
            },
            10 => Record::ChunkDone {
                account: r.u32()?,
                seq: r.u32()?,
                chunk: r.u32()?,
                sent: r.u64()?,
                errors: r.u64()?,
            },
            _ => return Err(DecodeError("unknown record kind")),
        };
        if !r.0.is_empty() {
            return Err(DecodeError("trailing bytes"));
        }
        Ok(record)
    }
}

pub(crate) fn encode_message(w: &mut Writer<'_>, message: &Message) {
    match message {
        Message::Text(text) => {
            w.u8(1);
            w.str(text);
        }
        Message::Image(m) => {
            w.u8(2);
            encode_media(w, m);
        }
        Message::Voice(m) => {
            w.u8(3);
            encode_media(w, m);
        }
        Message::Video(v) => {
            w.u8(4);
            encode_media(w, &v.media);
            w.str(&v.title);
            w.str(&v.description);
        }
        Message::Article(a) => {
            w.u8(5);
            w.str(&a.title);
            w.str(&a.summary);
            w.str(&a.body);
            encode_media(w, &a.cover);
        }
    }
}

pub(crate) fn decode_message(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match r.u8()? {
        1 => Message::Text(r.string()?),
        2 => Message::Image(decode_media(r)?),
        3 => Message::Voice(decode_media(r)?),
        4 => Message::Video(Video {
            media: decode_media(r)?,
            title: r.string()?,
            description: r.string()?,
        }),
        5 => Message::Article(Article {
            title: r.string()?,
            summary: r.string()?,
            body: r.string()?,
            cover: decode_media(r)?,
        }),
        _ => return Err(DecodeError("unknown message kind")),
    })
}

fn encode_media(w: &mut Writer<'_>, m: &Media) {
    w.str(&m.media_id);
    w.u8(match m.format {
        MediaFormat::Jpeg => 1,
        MediaFormat::Png => 2,
        MediaFormat::Gif => 3,
        MediaFormat::Bmp => 4,
        MediaFormat::Mp3 => 5,
        MediaFormat::Amr => 6,
        MediaFormat::Wma => 7,
        MediaFormat::Wav => 8,
        MediaFormat::Mp4 => 9,
    });
    w.u64(m.bytes);
    w.u32(m.duration_secs);
}

fn decode_media(r: &mut Reader<'_>) -> Result<Media, DecodeError> {
    let media_id = r.string()?;
    let format = match r.u8()? {
        1 => MediaFormat::Jpeg,
        2 => MediaFormat::Png,
        3 => MediaFormat::Gif,
        4 => MediaFormat::Bmp,
        5 => MediaFormat::Mp3,
        6 => MediaFormat::Amr,
        7 => MediaFormat::Wma,
        8 => MediaFormat::Wav,
        9 => MediaFormat::Mp4,
        _ => return Err(DecodeError("unknown media format")),
    };
    Ok(Media {
        media_id,
        format,
        bytes: r.u64()?,
        duration_secs: r.u32()?,
    })
}

pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    pub(crate) fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_str(&mut self, v: Option<&str>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u32(v.len() as u32);
        for x in v {
            self.u32(*x);
        }
    }
}

pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError("bad boolean")),
        }
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| DecodeError("invalid UTF-8"))
    }
    fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err(DecodeError("bad option tag")),
        }
    }
    fn u32s(&mut self) -> Result<Vec<u32>, DecodeError> {
        let n = self.u32()? as usize;
        if n > self.0.len() / 4 {
            return Err(DecodeError("truncated list"));
        }
        (0..n).map(|_| self.u32()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples() -> Vec<Record> {
        let media = Media {
            media_id: "m1".into(),
            format: MediaFormat::Png,
            bytes: 10,
            duration_secs: 0,
        };
        vec![
            Record::AddUsers { count: 7 },
            Record::RegisterAccount {
                account: 1,
                name: "新闻".into(),
            },
            Record::Follow {
                user: 3,
                account: 1,
                source: Some("qr".into()),
            },
            Record::Follow {
                user: 3,
                account: 1,
                source: None,
            },
            Record::FollowMany {
                account: 2,
                users: vec![1, 2, 3],
            },
            Record::Unfollow {
                user: 3,
                account: 1,
            },
            Record::CreateTag {
                account: 1,
                tag: 0,
                name: "t".into(),
            },
            Record::DeleteTag { account: 1, tag: 0 },
            Record::Retag {
                account: 1,
                tag: 0,
                add: true,
                users: vec![5],
            },
            Record::SendAccepted {
                account: 1,
                seq: 2,
                accepted_ms: 99,
                chunk_target: 16,
                key: Some("k".into()),
                message: Message::Article(Article {
                    title: "t".into(),
                    summary: "s".into(),
                    body: "b".into(),
                    cover: media.clone(),
                }),
                audience: vec![1, 2, 3],
            },
            Record::SendAccepted {
                account: 1,
                seq: 3,
                accepted_ms: 99,
                chunk_target: 16,
                key: None,
                message: Message::Video(Video {
                    media: Media {
                        format: MediaFormat::Mp4,
                        ..media
                    },
                    title: "v".into(),
                    description: "d".into(),
                }),
                audience: vec![],
            },
            Record::ChunkDone {
                account: 1,
                seq: 2,
                chunk: 0,
                sent: 5,
                errors: 1,
            },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        for record in samples() {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            assert_eq!(Record::decode(&bytes), Ok(record.clone()));
            // Every strict prefix is refused, never misread.
            for cut in 0..bytes.len() {
                assert!(
                    Record::decode(&bytes[..cut]).is_err(),
                    "{record:?} cut at {cut}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Record::decode(&bytes);
        }

        #[test]
        fn bit_flips_never_panic(index in 0usize..12, flip in 0usize..4096) {
            let record = &samples()[index];
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            let bit = flip % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let _ = Record::decode(&bytes);
        }
    }
}
