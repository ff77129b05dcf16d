//! Log records: every state change as it is written to the write-ahead log, with a
//! hand-written little-endian encoding whose decoder never panics on arbitrary bytes.

use std::fmt;

use crate::domain::audience::{Audience, TagExpr};
use crate::domain::send::SendRequest;
use crate::domain::subject::{AccountKind, Category, Registration, SubjectKind};
use crate::ids::OpenId;
use crate::ids::{AccountId, JobId, Seq, TagId};
use crate::message::{Article, Media, MediaFormat, Message, Video};

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
        /// The audience in roaring's portable format (without the filtered recipients).
        audience: Vec<u8>,
        /// Recipients left out by the monthly cap.
        filtered: u64,
        /// 0 broadcast, 1 preview, 2 reply.
        purpose: u8,
        open_for_reprint: bool,
        /// (account, seq) of the article this one reprints.
        reprint_of: Option<(u32, u32)>,
        /// The scheduled send this send fired.
        schedule: Option<u32>,
    },
    ChunkDone {
        account: u32,
        seq: u32,
        chunk: u32,
        sent: u64,
        errors: u64,
    },
    CreateSubject {
        subject: u32,
        name: String,
        kind: SubjectKind,
    },
    ApproveQuota {
        subject: u32,
        quota: u32,
    },
    RegisterInSubject {
        account: u32,
        subject: u32,
        name: String,
        kind: AccountKind,
        registration: Registration,
    },
    UpdateRegistration {
        account: u32,
        registration: Registration,
    },
    SetVerified {
        account: u32,
        verified: bool,
    },
    Violation {
        account: u32,
        at_ms: u64,
    },
    SetSpeedTier {
        account: u32,
        tier: Option<u8>,
    },
    SetRetention {
        account: u32,
        retention_ms: Option<u64>,
    },
    SetStorageQuota {
        account: u32,
        quota_bytes: Option<u64>,
    },
    /// Messages of the account up to `through` left its history by retention.
    Purge {
        account: u32,
        through: u32,
    },
    Terminate {
        account: u32,
    },
    Schedule {
        account: u32,
        id: u32,
        due_ms: u64,
        request: SendRequest,
    },
    /// A scheduled send was cancelled, or fired and was refused.
    Unschedule {
        account: u32,
        id: u32,
    },
    Retract {
        account: u32,
        seq: u32,
    },
    Correct {
        account: u32,
        seq: u32,
        body: String,
    },
    Inbound {
        account: u32,
        user: u32,
        at_ms: u64,
        message: Message,
    },
    SetAutoReply {
        account: u32,
        keyword: String,
        reply: Message,
    },
    RemoveAutoReply {
        account: u32,
        keyword: String,
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
                filtered,
                purpose,
                open_for_reprint,
                reprint_of,
                schedule,
            } => {
                w.u8(9);
                w.u32(*account);
                w.u32(*seq);
                w.u64(*accepted_ms);
                w.u32(*chunk_target);
                w.opt_str(key.as_deref());
                encode_message(&mut w, message);
                w.bytes(audience);
                w.u64(*filtered);
                w.u8(*purpose);
                w.u8(u8::from(*open_for_reprint));
                w.opt_pair(*reprint_of);
                w.opt_u32(*schedule);
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
            Record::CreateSubject {
                subject,
                name,
                kind,
            } => {
                w.u8(11);
                w.u32(*subject);
                w.str(name);
                w.u8(match kind {
                    SubjectKind::Individual => 0,
                    SubjectKind::Organization => 1,
                });
            }
            Record::ApproveQuota { subject, quota } => {
                w.u8(12);
                w.u32(*subject);
                w.u32(*quota);
            }
            Record::RegisterInSubject {
                account,
                subject,
                name,
                kind,
                registration,
            } => {
                w.u8(13);
                w.u32(*account);
                w.u32(*subject);
                w.str(name);
                w.u8(match kind {
                    AccountKind::Subscription => 0,
                    AccountKind::Service => 1,
                });
                encode_registration(&mut w, registration);
            }
            Record::UpdateRegistration {
                account,
                registration,
            } => {
                w.u8(14);
                w.u32(*account);
                encode_registration(&mut w, registration);
            }
            Record::SetVerified { account, verified } => {
                w.u8(15);
                w.u32(*account);
                w.u8(u8::from(*verified));
            }
            Record::Violation { account, at_ms } => {
                w.u8(16);
                w.u32(*account);
                w.u64(*at_ms);
            }
            Record::SetSpeedTier { account, tier } => {
                w.u8(17);
                w.u32(*account);
                w.u8(tier.unwrap_or(u8::MAX));
            }
            Record::SetRetention {
                account,
                retention_ms,
            } => {
                w.u8(18);
                w.u32(*account);
                w.opt_u64(*retention_ms);
            }
            Record::SetStorageQuota {
                account,
                quota_bytes,
            } => {
                w.u8(19);
                w.u32(*account);
                w.opt_u64(*quota_bytes);
            }
            Record::Purge { account, through } => {
                w.u8(20);
                w.u32(*account);
                w.u32(*through);
            }
            Record::Terminate { account } => {
                w.u8(21);
                w.u32(*account);
            }
            Record::Schedule {
                account,
                id,
                due_ms,
                request,
            } => {
                w.u8(22);
                w.u32(*account);
                w.u32(*id);
                w.u64(*due_ms);
                encode_request(&mut w, request);
            }
            Record::Unschedule { account, id } => {
                w.u8(23);
                w.u32(*account);
                w.u32(*id);
            }
            Record::Retract { account, seq } => {
                w.u8(24);
                w.u32(*account);
                w.u32(*seq);
            }
            Record::Correct { account, seq, body } => {
                w.u8(25);
                w.u32(*account);
                w.u32(*seq);
                w.str(body);
            }
            Record::Inbound {
                account,
                user,
                at_ms,
                message,
            } => {
                w.u8(26);
                w.u32(*account);
                w.u32(*user);
                w.u64(*at_ms);
                encode_message(&mut w, message);
            }
            Record::SetAutoReply {
                account,
                keyword,
                reply,
            } => {
                w.u8(27);
                w.u32(*account);
                w.str(keyword);
                encode_message(&mut w, reply);
            }
            Record::RemoveAutoReply { account, keyword } => {
                w.u8(28);
                w.u32(*account);
                w.str(keyword);
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
                filtered: r.u64()?,
                purpose: match r.u8()? {
                    p @ 0..=2 => p,
                    _ => return Err(DecodeError("unknown send purpose")),
                },
                open_for_reprint: r.bool()?,
                reprint_of: r.opt_pair()?,
                schedule: r.opt_u32()?,
            },
            10 => Record::ChunkDone {
                account: r.u32()?,
                seq: r.u32()?,
                chunk: r.u32()?,
                sent: r.u64()?,
                errors: r.u64()?,
            },
            11 => Record::CreateSubject {
                subject: r.u32()?,
                name: r.string()?,
                kind: match r.u8()? {
                    0 => SubjectKind::Individual,
                    1 => SubjectKind::Organization,
                    _ => return Err(DecodeError("unknown subject kind")),
                },
            },
            12 => Record::ApproveQuota {
                subject: r.u32()?,
                quota: r.u32()?,
            },
            13 => Record::RegisterInSubject {
                account: r.u32()?,
                subject: r.u32()?,
                name: r.string()?,
                kind: match r.u8()? {
                    0 => AccountKind::Subscription,
                    1 => AccountKind::Service,
                    _ => return Err(DecodeError("unknown account kind")),
                },
                registration: decode_registration(&mut r)?,
            },
            14 => Record::UpdateRegistration {
                account: r.u32()?,
                registration: decode_registration(&mut r)?,
            },
            15 => Record::SetVerified {
                account: r.u32()?,
                verified: r.bool()?,
            },
            16 => Record::Violation {
                account: r.u32()?,
                at_ms: r.u64()?,
            },
            17 => Record::SetSpeedTier {
                account: r.u32()?,
                tier: match r.u8()? {
                    u8::MAX => None,
                    t @ 0..=4 => Some(t),
                    _ => return Err(DecodeError("bad speed tier")),
                },
            },
            18 => Record::SetRetention {
                account: r.u32()?,
                retention_ms: r.opt_u64()?,
            },
            19 => Record::SetStorageQuota {
                account: r.u32()?,
                quota_bytes: r.opt_u64()?,
            },
            20 => Record::Purge {
                account: r.u32()?,
                through: r.u32()?,
            },
            21 => Record::Terminate { account: r.u32()? },
            22 => Record::Schedule {
                account: r.u32()?,
                id: r.u32()?,
                due_ms: r.u64()?,
                request: decode_request(&mut r)?,
            },
            23 => Record::Unschedule {
                account: r.u32()?,
                id: r.u32()?,
            },
            24 => Record::Retract {
                account: r.u32()?,
                seq: r.u32()?,
            },
            25 => Record::Correct {
                account: r.u32()?,
                seq: r.u32()?,
                body: r.string()?,
            },
            26 => Record::Inbound {
                account: r.u32()?,
                user: r.u32()?,
                at_ms: r.u64()?,
                message: decode_message(&mut r)?,
            },
            27 => Record::SetAutoReply {
                account: r.u32()?,
                keyword: r.string()?,
                reply: decode_message(&mut r)?,
            },
            28 => Record::RemoveAutoReply {
                account: r.u32()?,
                keyword: r.string()?,
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

pub(crate) fn encode_registration(w: &mut Writer<'_>, r: &Registration) {
    w.str(&r.region);
    w.u8(match r.category {
        None => 0,
        Some(Category::Government) => 1,
        Some(Category::Media) => 2,
        Some(Category::Enterprise) => 3,
        Some(Category::Individual) => 4,
        Some(Category::Other) => 5,
    });
    w.str(&r.contact);
}

pub(crate) fn decode_registration(r: &mut Reader<'_>) -> Result<Registration, DecodeError> {
    Ok(Registration {
        region: r.string()?,
        category: match r.u8()? {
            0 => None,
            1 => Some(Category::Government),
            2 => Some(Category::Media),
            3 => Some(Category::Enterprise),
            4 => Some(Category::Individual),
            5 => Some(Category::Other),
            _ => return Err(DecodeError("unknown category")),
        },
        contact: r.string()?,
    })
}

/// Most nodes a decoded tag expression may have: bounds the decoder's recursion.
const MAX_DECODED_EXPR_NODES: usize = 4_096;

pub(crate) fn encode_request(w: &mut Writer<'_>, req: &SendRequest) {
    encode_message(w, &req.message);
    match &req.audience {
        Audience::All => w.u8(0),
        Audience::Tag(t) => {
            w.u8(1);
            w.u32(t.0);
        }
        Audience::Expr(e) => {
            w.u8(2);
            encode_expr(w, e);
        }
        Audience::OpenIds(ids) => {
            w.u8(3);
            w.u32(ids.len() as u32);
            for id in ids {
                w.u64(id.0);
            }
        }
    }
    w.opt_str(req.idempotency_key.as_deref());
    w.u8(u8::from(req.open_for_reprint));
    w.u8(u8::from(req.continue_as_reprint));
    w.opt_pair(req.reprint_of.map(|j| (j.account.0, j.seq.0)));
}

pub(crate) fn decode_request(r: &mut Reader<'_>) -> Result<SendRequest, DecodeError> {
    let message = decode_message(r)?;
    let audience = match r.u8()? {
        0 => Audience::All,
        1 => Audience::Tag(TagId(r.u32()?)),
        2 => {
            let mut budget = MAX_DECODED_EXPR_NODES;
            Audience::Expr(decode_expr(r, &mut budget)?)
        }
        3 => {
            let n = r.u32()? as usize;
            if n > r.0.len() / 8 {
                return Err(DecodeError("truncated list"));
            }
            Audience::OpenIds(
                (0..n)
                    .map(|_| r.u64().map(OpenId))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => return Err(DecodeError("unknown audience kind")),
    };
    let mut req = SendRequest::new(message, audience);
    req.idempotency_key = r.opt_string()?;
    req.open_for_reprint = r.bool()?;
    req.continue_as_reprint = r.bool()?;
    req.reprint_of = r.opt_pair()?.map(|(a, s)| JobId {
        account: AccountId(a),
        seq: Seq(s),
    });
    Ok(req)
}

fn encode_expr(w: &mut Writer<'_>, e: &TagExpr) {
    match e {
        TagExpr::Tag(t) => {
            w.u8(0);
            w.u32(t.0);
        }
        TagExpr::And(parts) | TagExpr::Or(parts) => {
            w.u8(if matches!(e, TagExpr::And(_)) { 1 } else { 2 });
            w.u32(parts.len() as u32);
            for p in parts {
                encode_expr(w, p);
            }
        }
        TagExpr::Not(inner) => {
            w.u8(3);
            encode_expr(w, inner);
        }
    }
}

fn decode_expr(r: &mut Reader<'_>, budget: &mut usize) -> Result<TagExpr, DecodeError> {
    *budget = budget
        .checked_sub(1)
        .ok_or(DecodeError("tag expression too large"))?;
    Ok(match r.u8()? {
        0 => TagExpr::Tag(TagId(r.u32()?)),
        k @ (1 | 2) => {
            let n = r.u32()? as usize;
            if n > *budget {
                return Err(DecodeError("tag expression too large"));
            }
            let parts = (0..n)
                .map(|_| decode_expr(r, budget))
                .collect::<Result<Vec<_>, _>>()?;
            if k == 1 {
                TagExpr::And(parts)
            } else {
                TagExpr::Or(parts)
            }
        }
        3 => TagExpr::not(decode_expr(r, budget)?),
        _ => return Err(DecodeError("unknown tag expression node")),
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
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u32(x);
            }
        }
    }
    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u64(x);
            }
        }
    }
    fn opt_pair(&mut self, v: Option<(u32, u32)>) {
        match v {
            None => self.u8(0),
            Some((a, b)) => {
                self.u8(1);
                self.u32(a);
                self.u32(b);
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
    fn opt_u32(&mut self) -> Result<Option<u32>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.u32().map(Some),
            _ => Err(DecodeError("bad option tag")),
        }
    }
    fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.u64().map(Some),
            _ => Err(DecodeError("bad option tag")),
        }
    }
    fn opt_pair(&mut self) -> Result<Option<(u32, u32)>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some((self.u32()?, self.u32()?))),
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
                filtered: 4,
                purpose: 0,
                open_for_reprint: true,
                reprint_of: Some((7, 8)),
                schedule: Some(2),
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
                filtered: 0,
                purpose: 2,
                open_for_reprint: false,
                reprint_of: None,
                schedule: None,
            },
            Record::ChunkDone {
                account: 1,
                seq: 2,
                chunk: 0,
                sent: 5,
                errors: 1,
            },
            Record::CreateSubject {
                subject: 0,
                name: "肇庆日报".into(),
                kind: SubjectKind::Organization,
            },
            Record::ApproveQuota {
                subject: 0,
                quota: 5,
            },
            Record::RegisterInSubject {
                account: 3,
                subject: 0,
                name: "n".into(),
                kind: AccountKind::Service,
                registration: Registration::new("Zhaoqing", Category::Media, "a@b.cn"),
            },
            Record::UpdateRegistration {
                account: 3,
                registration: Registration::default(),
            },
            Record::SetVerified {
                account: 3,
                verified: true,
            },
            Record::Violation {
                account: 3,
                at_ms: 42,
            },
            Record::SetSpeedTier {
                account: 3,
                tier: Some(4),
            },
            Record::SetSpeedTier {
                account: 3,
                tier: None,
            },
            Record::SetRetention {
                account: 3,
                retention_ms: Some(1_000),
            },
            Record::SetStorageQuota {
                account: 3,
                quota_bytes: None,
            },
            Record::Purge {
                account: 3,
                through: 9,
            },
            Record::Terminate { account: 3 },
            Record::Schedule {
                account: 3,
                id: 1,
                due_ms: 77,
                request: SendRequest::new(
                    Message::Text("t".into()),
                    Audience::Expr(TagExpr::and([
                        TagExpr::Tag(TagId(1)),
                        TagExpr::not(TagExpr::or([TagExpr::Tag(TagId(2))])),
                    ])),
                )
                .idempotency_key("k")
                .open_for_reprint()
                .continue_as_reprint()
                .reprint_of(JobId {
                    account: AccountId(1),
                    seq: Seq(2),
                }),
            },
            Record::Schedule {
                account: 3,
                id: 2,
                due_ms: 77,
                request: SendRequest::new(
                    Message::Text("t".into()),
                    Audience::OpenIds(vec![OpenId(1), OpenId(u64::MAX)]),
                ),
            },
            Record::Unschedule { account: 3, id: 1 },
            Record::Retract { account: 3, seq: 1 },
            Record::Correct {
                account: 3,
                seq: 1,
                body: "正文".into(),
            },
            Record::Inbound {
                account: 3,
                user: 4,
                at_ms: 5,
                message: Message::Text("hi".into()),
            },
            Record::SetAutoReply {
                account: 3,
                keyword: "hours".into(),
                reply: Message::Text("9-5".into()),
            },
            Record::RemoveAutoReply {
                account: 3,
                keyword: "hours".into(),
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
        fn bit_flips_never_panic(index in 0usize..64, flip in 0usize..4096) {
            let samples = samples();
            let record = &samples[index % samples.len()];
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            let bit = flip % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let _ = Record::decode(&bytes);
        }
    }
}
