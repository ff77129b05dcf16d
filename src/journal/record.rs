//! Log records: every state change as it is written to the write-ahead log, and its
//! encoding. A record is its kind's code (`codes::record_kind`) and its fields; the values
//! inside (messages, registrations, requests) are encoded by `value.rs`. Decoding is
//! strict and never panics: an unknown code, a truncated field, invalid UTF-8 or a byte
//! left over is a [`DecodeError`].
//!
//! The log's format version (in each segment's header) says how to read a record:
//! [`Record::decode`] reads every version listed in `docs/format.md` and
//! [`Record::encode`] writes [`LOG_FORMAT`].

use crate::domain::send::{SendPurpose, SendRequest};
use crate::domain::subject::{AccountKind, Registration, SubjectKind};
use crate::journal::codes::{
    account_kind, account_kind_v1, record_kind, send_purpose, speed_tier, subject_kind,
};
use crate::journal::value::{
    decode_message, decode_registration, decode_request, encode_message, encode_registration,
    encode_request,
};
use crate::message::Message;
use crate::store::codec::{DecodeError, Encode, Reader, Writer};

/// The log format this build writes (the version in a new segment's header).
///
/// Format 2 writes the account kind of `RegisterInSubject` as the snapshot does (1
/// subscription, 2 service); format 1 wrote 0 and 1. Format 3 adds `RenameTag`, which
/// formats 1 and 2 do not have (a build of format 2 refuses a format-3 segment by its
/// version instead of taking the new record for damage).
pub(crate) const LOG_FORMAT: u32 = 3;
/// The oldest log format this build reads.
pub(crate) const OLDEST_LOG_FORMAT: u32 = 1;

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
    RenameTag {
        account: u32,
        tag: u32,
        name: String,
    },
    Retag {
        account: u32,
        tag: u32,
        add: bool,
        users: Vec<u32>,
    },
    /// A send accepted: its audience fixed, its sequence number taken.
    Send {
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
        purpose: SendPurpose,
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

impl Encode for Record {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        match self {
            Record::AddUsers { count } => {
                w.u8(record_kind::ADD_USERS);
                w.u32(*count);
            }
            Record::RegisterAccount { account, name } => {
                w.u8(record_kind::REGISTER_ACCOUNT);
                w.u32(*account);
                w.str(name);
            }
            Record::Follow {
                user,
                account,
                source,
            } => {
                w.u8(record_kind::FOLLOW);
                w.u32(*user);
                w.u32(*account);
                w.opt_str(source.as_deref());
            }
            Record::FollowMany { account, users } => {
                w.u8(record_kind::FOLLOW_MANY);
                w.u32(*account);
                w.u32s(users);
            }
            Record::Unfollow { user, account } => {
                w.u8(record_kind::UNFOLLOW);
                w.u32(*user);
                w.u32(*account);
            }
            Record::CreateTag { account, tag, name } => {
                w.u8(record_kind::CREATE_TAG);
                w.u32(*account);
                w.u32(*tag);
                w.str(name);
            }
            Record::DeleteTag { account, tag } => {
                w.u8(record_kind::DELETE_TAG);
                w.u32(*account);
                w.u32(*tag);
            }
            Record::Retag {
                account,
                tag,
                add,
                users,
            } => {
                w.u8(record_kind::RETAG);
                w.u32(*account);
                w.u32(*tag);
                w.bool(*add);
                w.u32s(users);
            }
            Record::Send {
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
                w.u8(record_kind::SEND);
                w.u32(*account);
                w.u32(*seq);
                w.u64(*accepted_ms);
                w.u32(*chunk_target);
                w.opt_str(key.as_deref());
                encode_message(&mut w, message);
                w.bytes(audience);
                w.u64(*filtered);
                w.u8(send_purpose::encode(*purpose));
                w.bool(*open_for_reprint);
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
                w.u8(record_kind::CHUNK_DONE);
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
                w.u8(record_kind::CREATE_SUBJECT);
                w.u32(*subject);
                w.str(name);
                w.u8(subject_kind::encode(*kind));
            }
            Record::ApproveQuota { subject, quota } => {
                w.u8(record_kind::APPROVE_QUOTA);
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
                w.u8(record_kind::REGISTER_IN_SUBJECT);
                w.u32(*account);
                w.u32(*subject);
                w.str(name);
                w.u8(account_kind::encode(Some(*kind)));
                encode_registration(&mut w, registration);
            }
            Record::UpdateRegistration {
                account,
                registration,
            } => {
                w.u8(record_kind::UPDATE_REGISTRATION);
                w.u32(*account);
                encode_registration(&mut w, registration);
            }
            Record::SetVerified { account, verified } => {
                w.u8(record_kind::SET_VERIFIED);
                w.u32(*account);
                w.bool(*verified);
            }
            Record::Violation { account, at_ms } => {
                w.u8(record_kind::VIOLATION);
                w.u32(*account);
                w.u64(*at_ms);
            }
            Record::SetSpeedTier { account, tier } => {
                w.u8(record_kind::SET_SPEED_TIER);
                w.u32(*account);
                w.u8(speed_tier::encode(*tier));
            }
            Record::SetRetention {
                account,
                retention_ms,
            } => {
                w.u8(record_kind::SET_RETENTION);
                w.u32(*account);
                w.opt_u64(*retention_ms);
            }
            Record::SetStorageQuota {
                account,
                quota_bytes,
            } => {
                w.u8(record_kind::SET_STORAGE_QUOTA);
                w.u32(*account);
                w.opt_u64(*quota_bytes);
            }
            Record::Purge { account, through } => {
                w.u8(record_kind::PURGE);
                w.u32(*account);
                w.u32(*through);
            }
            Record::Terminate { account } => {
                w.u8(record_kind::TERMINATE);
                w.u32(*account);
            }
            Record::Schedule {
                account,
                id,
                due_ms,
                request,
            } => {
                w.u8(record_kind::SCHEDULE);
                w.u32(*account);
                w.u32(*id);
                w.u64(*due_ms);
                encode_request(&mut w, request);
            }
            Record::Unschedule { account, id } => {
                w.u8(record_kind::UNSCHEDULE);
                w.u32(*account);
                w.u32(*id);
            }
            Record::Retract { account, seq } => {
                w.u8(record_kind::RETRACT);
                w.u32(*account);
                w.u32(*seq);
            }
            Record::Correct { account, seq, body } => {
                w.u8(record_kind::CORRECT);
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
                w.u8(record_kind::INBOUND);
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
                w.u8(record_kind::SET_AUTO_REPLY);
                w.u32(*account);
                w.str(keyword);
                encode_message(&mut w, reply);
            }
            Record::RemoveAutoReply { account, keyword } => {
                w.u8(record_kind::REMOVE_AUTO_REPLY);
                w.u32(*account);
                w.str(keyword);
            }
            Record::RenameTag { account, tag, name } => {
                w.u8(record_kind::RENAME_TAG);
                w.u32(*account);
                w.u32(*tag);
                w.str(name);
            }
        }
    }
}

impl Record {
    /// Reads a record written at log format `format` (which the segment's header gave and
    /// the log checked to be at least [`OLDEST_LOG_FORMAT`] and at most [`LOG_FORMAT`]).
    pub(crate) fn decode(format: u32, bytes: &[u8]) -> Result<Record, DecodeError> {
        let mut r = Reader(bytes);
        let record = match r.u8()? {
            record_kind::ADD_USERS => Record::AddUsers { count: r.u32()? },
            record_kind::REGISTER_ACCOUNT => Record::RegisterAccount {
                account: r.u32()?,
                name: r.string()?,
            },
            record_kind::FOLLOW => Record::Follow {
                user: r.u32()?,
                account: r.u32()?,
                source: r.opt_string()?,
            },
            record_kind::FOLLOW_MANY => Record::FollowMany {
                account: r.u32()?,
                users: r.u32s()?,
            },
            record_kind::UNFOLLOW => Record::Unfollow {
                user: r.u32()?,
                account: r.u32()?,
            },
            record_kind::CREATE_TAG => Record::CreateTag {
                account: r.u32()?,
                tag: r.u32()?,
                name: r.string()?,
            },
            record_kind::DELETE_TAG => Record::DeleteTag {
                account: r.u32()?,
                tag: r.u32()?,
            },
            record_kind::RETAG => Record::Retag {
                account: r.u32()?,
                tag: r.u32()?,
                add: r.bool()?,
                users: r.u32s()?,
            },
            record_kind::SEND => Record::Send {
                account: r.u32()?,
                seq: r.u32()?,
                accepted_ms: r.u64()?,
                chunk_target: r.u32()?,
                key: r.opt_string()?,
                message: decode_message(&mut r)?,
                audience: r.bytes()?.to_vec(),
                filtered: r.u64()?,
                purpose: send_purpose::decode(r.u8()?)?,
                open_for_reprint: r.bool()?,
                reprint_of: r.opt_pair()?,
                schedule: r.opt_u32()?,
            },
            record_kind::CHUNK_DONE => Record::ChunkDone {
                account: r.u32()?,
                seq: r.u32()?,
                chunk: r.u32()?,
                sent: r.u64()?,
                errors: r.u64()?,
            },
            record_kind::CREATE_SUBJECT => Record::CreateSubject {
                subject: r.u32()?,
                name: r.string()?,
                kind: subject_kind::decode(r.u8()?)?,
            },
            record_kind::APPROVE_QUOTA => Record::ApproveQuota {
                subject: r.u32()?,
                quota: r.u32()?,
            },
            record_kind::REGISTER_IN_SUBJECT => Record::RegisterInSubject {
                account: r.u32()?,
                subject: r.u32()?,
                name: r.string()?,
                kind: decode_account_kind(format, r.u8()?)?,
                registration: decode_registration(&mut r)?,
            },
            record_kind::UPDATE_REGISTRATION => Record::UpdateRegistration {
                account: r.u32()?,
                registration: decode_registration(&mut r)?,
            },
            record_kind::SET_VERIFIED => Record::SetVerified {
                account: r.u32()?,
                verified: r.bool()?,
            },
            record_kind::VIOLATION => Record::Violation {
                account: r.u32()?,
                at_ms: r.u64()?,
            },
            record_kind::SET_SPEED_TIER => Record::SetSpeedTier {
                account: r.u32()?,
                tier: speed_tier::decode(r.u8()?)?,
            },
            record_kind::SET_RETENTION => Record::SetRetention {
                account: r.u32()?,
                retention_ms: r.opt_u64()?,
            },
            record_kind::SET_STORAGE_QUOTA => Record::SetStorageQuota {
                account: r.u32()?,
                quota_bytes: r.opt_u64()?,
            },
            record_kind::PURGE => Record::Purge {
                account: r.u32()?,
                through: r.u32()?,
            },
            record_kind::TERMINATE => Record::Terminate { account: r.u32()? },
            record_kind::SCHEDULE => Record::Schedule {
                account: r.u32()?,
                id: r.u32()?,
                due_ms: r.u64()?,
                request: decode_request(&mut r)?,
            },
            record_kind::UNSCHEDULE => Record::Unschedule {
                account: r.u32()?,
                id: r.u32()?,
            },
            record_kind::RETRACT => Record::Retract {
                account: r.u32()?,
                seq: r.u32()?,
            },
            record_kind::CORRECT => Record::Correct {
                account: r.u32()?,
                seq: r.u32()?,
                body: r.string()?,
            },
            record_kind::INBOUND => Record::Inbound {
                account: r.u32()?,
                user: r.u32()?,
                at_ms: r.u64()?,
                message: decode_message(&mut r)?,
            },
            record_kind::SET_AUTO_REPLY => Record::SetAutoReply {
                account: r.u32()?,
                keyword: r.string()?,
                reply: decode_message(&mut r)?,
            },
            record_kind::REMOVE_AUTO_REPLY => Record::RemoveAutoReply {
                account: r.u32()?,
                keyword: r.string()?,
            },
            record_kind::RENAME_TAG if format >= 3 => Record::RenameTag {
                account: r.u32()?,
                tag: r.u32()?,
                name: r.string()?,
            },
            code => {
                return Err(DecodeError::UnknownCode {
                    what: record_kind::WHAT,
                    code,
                });
            }
        };
        r.finish()?;
        Ok(record)
    }
}

/// The account kind of a `RegisterInSubject` record: format 1 had codes of its own.
fn decode_account_kind(format: u32, code: u8) -> Result<AccountKind, DecodeError> {
    if format == 1 {
        return account_kind_v1::decode(code);
    }
    account_kind::decode(code)?.ok_or(DecodeError::UnknownCode {
        what: account_kind::WHAT,
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audience::{Audience, TagExpr};
    use crate::domain::subject::Category;
    use crate::ids::{AccountId, JobId, OpenId, Seq, TagId};
    use crate::message::{Article, Media, MediaFormat, Video};
    use proptest::prelude::*;

    pub(crate) fn samples() -> Vec<Record> {
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
            Record::Send {
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
                purpose: SendPurpose::Broadcast,
                open_for_reprint: true,
                reprint_of: Some((7, 8)),
                schedule: Some(2),
            },
            Record::Send {
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
                purpose: SendPurpose::Reply,
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
            Record::RenameTag {
                account: 1,
                tag: 0,
                name: "u".into(),
            },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        for record in samples() {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            assert_eq!(Record::decode(LOG_FORMAT, &bytes), Ok(record.clone()));
            // Every strict prefix is refused, never misread.
            for cut in 0..bytes.len() {
                assert!(
                    Record::decode(LOG_FORMAT, &bytes[..cut]).is_err(),
                    "{record:?} cut at {cut}"
                );
            }
        }
    }

    /// The samples a format has: `RenameTag` came with format 3.
    fn samples_of(format: u32) -> Vec<Record> {
        samples()
            .into_iter()
            .filter(|r| format >= 3 || !matches!(r, Record::RenameTag { .. }))
            .collect()
    }

    /// Checks `tests/data/records-v{format}.bin`: every sample record of `format`, each as
    /// its length (u32 LE) and its bytes. Committed: a change that moves one byte of the
    /// encoding fails here. A new format writes a file of its own (`HERALD_WRITE_GOLDEN=1`
    /// writes the current format's) and keeps the old ones, which must keep decoding.
    fn check_committed_samples(format: u32, path: &str) {
        let mut encoded = Vec::new();
        for record in samples_of(format) {
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            Writer(&mut encoded).bytes(&bytes);
        }
        if format == LOG_FORMAT && std::env::var_os("HERALD_WRITE_GOLDEN").is_some() {
            std::fs::write(path, &encoded).unwrap();
        }
        let committed = std::fs::read(path).unwrap();
        let mut r = Reader(&committed);
        for record in samples_of(format) {
            assert_eq!(Record::decode(format, r.bytes().unwrap()), Ok(record));
        }
        r.finish().unwrap();
        assert!(
            committed == encoded,
            "the encoding of format {format} changed"
        );
    }

    #[test]
    fn the_samples_encode_to_the_committed_bytes_of_format_2() {
        check_committed_samples(
            2,
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/records-v2.bin"),
        );
    }

    #[test]
    fn the_samples_encode_to_the_committed_bytes_of_format_3() {
        check_committed_samples(
            3,
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/records-v3.bin"),
        );
    }

    #[test]
    fn formats_before_3_have_no_rename_tag() {
        let mut bytes = Vec::new();
        Record::RenameTag {
            account: 1,
            tag: 0,
            name: "u".into(),
        }
        .encode(&mut bytes);
        assert!(Record::decode(2, &bytes).is_err());
        assert!(Record::decode(1, &bytes).is_err());
        assert!(Record::decode(3, &bytes).is_ok());
    }

    #[test]
    fn format_1_reads_its_own_account_kinds() {
        let record = |kind: u8| {
            let mut bytes = Vec::new();
            let mut w = Writer(&mut bytes);
            w.u8(record_kind::REGISTER_IN_SUBJECT);
            w.u32(3);
            w.u32(0);
            w.str("n");
            w.u8(kind);
            encode_registration(&mut w, &Registration::default());
            bytes
        };
        let kind = |format: u32, code: u8| match Record::decode(format, &record(code)) {
            Ok(Record::RegisterInSubject { kind, .. }) => Ok(kind),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(kind(1, 0), Ok(AccountKind::Subscription));
        assert_eq!(kind(1, 1), Ok(AccountKind::Service));
        assert!(kind(1, 2).is_err());
        assert!(kind(2, 0).is_err(), "0 is no account kind in a record");
        assert_eq!(kind(2, 1), Ok(AccountKind::Subscription));
        assert_eq!(kind(2, 2), Ok(AccountKind::Service));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Record::decode(LOG_FORMAT, &bytes);
        }

        #[test]
        fn bit_flips_never_panic(index in 0usize..64, flip in 0usize..4096) {
            let samples = samples();
            let record = &samples[index % samples.len()];
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            let bit = flip % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let _ = Record::decode(LOG_FORMAT, &bytes);
        }
    }
}
