//! Every byte code that reaches the disk, each written once: the record kinds of the log,
//! and the code of every enum a record or a snapshot stores.
//!
//! Each code is a module with a named constant per value, `WHAT` (what the byte is, as
//! errors and `docs/format.md` name it) and `NAMES` (every code with its name, in order:
//! the docs' codes table is checked against it). Enums without data have `encode` and
//! `decode`; `decode` of a byte no build writes is [`DecodeError::UnknownCode`], never a
//! default. Enums with data (messages, audiences, tag expressions) have `of`, the code of a
//! value; their decoders (in `value.rs`) match on the constants.
//!
//! A code never changes meaning within a format version. [`account_kind`] changed in log
//! format 2 (it had 0 subscription, 1 service in format 1, and the snapshot already wrote
//! 1 and 2 with 0 for none): format 1's codes are kept in [`account_kind_v1`], for reading
//! old segments only.
//!
//! In-memory encodings (a job's status in its atomic word) are their own modules' business
//! and never reach the disk.

use crate::domain::audience::{Audience, TagExpr};
use crate::domain::send::SendPurpose;
use crate::domain::subject::{AccountKind, Category, SubjectKind};
use crate::message::{MediaFormat, Message};
use crate::store::codec::DecodeError;

fn unknown(what: &'static str, code: u8) -> DecodeError {
    DecodeError::UnknownCode { what, code }
}

/// An enum without data: its codes, `encode` (an exhaustive match: a new variant without a
/// code does not compile) and a strict `decode`.
macro_rules! codes {
    (
        $(#[$doc:meta])*
        $module:ident: $ty:ty, $what:literal {
            $( $konst:ident = $code:literal => $value:tt, $name:literal; )+
        }
    ) => {
        $(#[$doc])*
        #[allow(
            unused_parens,
            reason = "a value is one token tree, so that it serves as pattern and expression"
        )]
        pub(crate) mod $module {
            #[allow(unused_imports, reason = "each code names the types it needs")]
            use super::*;

            $( pub(crate) const $konst: u8 = $code; )+
            pub(crate) const WHAT: &str = $what;
            /// Every code and its name, in order.
            #[allow(dead_code, reason = "read by the docs check")]
            pub(crate) const NAMES: &[(u8, &str)] = &[$( ($code, $name) ),+];

            pub(crate) fn encode(value: $ty) -> u8 {
                match value {
                    $( $value => $konst, )+
                }
            }

            pub(crate) fn decode(code: u8) -> Result<$ty, DecodeError> {
                match code {
                    $( $konst => Ok($value), )+
                    _ => Err(unknown(WHAT, code)),
                }
            }
        }
    };
}

/// The first byte of a log record: which change it is.
pub(crate) mod record_kind {
    pub(crate) const ADD_USERS: u8 = 1;
    pub(crate) const REGISTER_ACCOUNT: u8 = 2;
    pub(crate) const FOLLOW: u8 = 3;
    pub(crate) const FOLLOW_MANY: u8 = 4;
    pub(crate) const UNFOLLOW: u8 = 5;
    pub(crate) const CREATE_TAG: u8 = 6;
    pub(crate) const DELETE_TAG: u8 = 7;
    pub(crate) const RETAG: u8 = 8;
    pub(crate) const SEND: u8 = 9;
    pub(crate) const CHUNK_DONE: u8 = 10;
    pub(crate) const CREATE_SUBJECT: u8 = 11;
    pub(crate) const APPROVE_QUOTA: u8 = 12;
    pub(crate) const REGISTER_IN_SUBJECT: u8 = 13;
    pub(crate) const UPDATE_REGISTRATION: u8 = 14;
    pub(crate) const SET_VERIFIED: u8 = 15;
    pub(crate) const VIOLATION: u8 = 16;
    pub(crate) const SET_SPEED_TIER: u8 = 17;
    pub(crate) const SET_RETENTION: u8 = 18;
    pub(crate) const SET_STORAGE_QUOTA: u8 = 19;
    pub(crate) const PURGE: u8 = 20;
    pub(crate) const TERMINATE: u8 = 21;
    pub(crate) const SCHEDULE: u8 = 22;
    pub(crate) const UNSCHEDULE: u8 = 23;
    pub(crate) const RETRACT: u8 = 24;
    pub(crate) const CORRECT: u8 = 25;
    pub(crate) const INBOUND: u8 = 26;
    pub(crate) const SET_AUTO_REPLY: u8 = 27;
    pub(crate) const REMOVE_AUTO_REPLY: u8 = 28;
    pub(crate) const RENAME_TAG: u8 = 29;
    pub(crate) const WHAT: &str = "record kind";
    #[allow(dead_code, reason = "read by the docs check")]
    pub(crate) const NAMES: &[(u8, &str)] = &[
        (ADD_USERS, "AddUsers"),
        (REGISTER_ACCOUNT, "RegisterAccount"),
        (FOLLOW, "Follow"),
        (FOLLOW_MANY, "FollowMany"),
        (UNFOLLOW, "Unfollow"),
        (CREATE_TAG, "CreateTag"),
        (DELETE_TAG, "DeleteTag"),
        (RETAG, "Retag"),
        (SEND, "Send"),
        (CHUNK_DONE, "ChunkDone"),
        (CREATE_SUBJECT, "CreateSubject"),
        (APPROVE_QUOTA, "ApproveQuota"),
        (REGISTER_IN_SUBJECT, "RegisterInSubject"),
        (UPDATE_REGISTRATION, "UpdateRegistration"),
        (SET_VERIFIED, "SetVerified"),
        (VIOLATION, "Violation"),
        (SET_SPEED_TIER, "SetSpeedTier"),
        (SET_RETENTION, "SetRetention"),
        (SET_STORAGE_QUOTA, "SetStorageQuota"),
        (PURGE, "Purge"),
        (TERMINATE, "Terminate"),
        (SCHEDULE, "Schedule"),
        (UNSCHEDULE, "Unschedule"),
        (RETRACT, "Retract"),
        (CORRECT, "Correct"),
        (INBOUND, "Inbound"),
        (SET_AUTO_REPLY, "SetAutoReply"),
        (REMOVE_AUTO_REPLY, "RemoveAutoReply"),
        (RENAME_TAG, "RenameTag"),
    ];
}

/// What a message is; its fields follow the code.
pub(crate) mod message_kind {
    use super::*;

    pub(crate) const TEXT: u8 = 1;
    pub(crate) const IMAGE: u8 = 2;
    pub(crate) const VOICE: u8 = 3;
    pub(crate) const VIDEO: u8 = 4;
    pub(crate) const ARTICLE: u8 = 5;
    pub(crate) const WHAT: &str = "message kind";
    #[allow(dead_code, reason = "read by the docs check")]
    pub(crate) const NAMES: &[(u8, &str)] = &[
        (TEXT, "text"),
        (IMAGE, "image"),
        (VOICE, "voice"),
        (VIDEO, "video"),
        (ARTICLE, "article"),
    ];

    pub(crate) fn of(message: &Message) -> u8 {
        match message {
            Message::Text(_) => TEXT,
            Message::Image(_) => IMAGE,
            Message::Voice(_) => VOICE,
            Message::Video(_) => VIDEO,
            Message::Article(_) => ARTICLE,
        }
    }
}

codes! {
    /// A media file's format.
    media_format: MediaFormat, "media format" {
        JPEG = 1 => (MediaFormat::Jpeg), "JPEG";
        PNG = 2 => (MediaFormat::Png), "PNG";
        GIF = 3 => (MediaFormat::Gif), "GIF";
        BMP = 4 => (MediaFormat::Bmp), "BMP";
        MP3 = 5 => (MediaFormat::Mp3), "MP3";
        AMR = 6 => (MediaFormat::Amr), "AMR";
        WMA = 7 => (MediaFormat::Wma), "WMA";
        WAV = 8 => (MediaFormat::Wav), "WAV";
        MP4 = 9 => (MediaFormat::Mp4), "MP4";
    }
}

/// The audience of a scheduled send (its request is stored whole); its fields follow.
pub(crate) mod audience_kind {
    use super::*;

    pub(crate) const ALL: u8 = 0;
    pub(crate) const TAG: u8 = 1;
    pub(crate) const EXPR: u8 = 2;
    pub(crate) const OPEN_IDS: u8 = 3;
    pub(crate) const WHAT: &str = "audience kind";
    #[allow(dead_code, reason = "read by the docs check")]
    pub(crate) const NAMES: &[(u8, &str)] = &[
        (ALL, "all"),
        (TAG, "tag"),
        (EXPR, "tag expression"),
        (OPEN_IDS, "OpenID list"),
    ];

    pub(crate) fn of(audience: &Audience) -> u8 {
        match audience {
            Audience::All => ALL,
            Audience::Tag(_) => TAG,
            Audience::Expr(_) => EXPR,
            Audience::OpenIds(_) => OPEN_IDS,
        }
    }
}

/// A node of a tag expression, written in prefix order.
pub(crate) mod tag_expr_node {
    use super::*;

    pub(crate) const TAG: u8 = 0;
    pub(crate) const AND: u8 = 1;
    pub(crate) const OR: u8 = 2;
    pub(crate) const NOT: u8 = 3;
    pub(crate) const WHAT: &str = "tag expression node";
    #[allow(dead_code, reason = "read by the docs check")]
    pub(crate) const NAMES: &[(u8, &str)] = &[(TAG, "tag"), (AND, "and"), (OR, "or"), (NOT, "not")];

    pub(crate) fn of(expr: &TagExpr) -> u8 {
        match expr {
            TagExpr::Tag(_) => TAG,
            TagExpr::And(_) => AND,
            TagExpr::Or(_) => OR,
            TagExpr::Not(_) => NOT,
        }
    }
}

codes! {
    /// Why a send was made (log records and snapshots).
    send_purpose: SendPurpose, "send purpose" {
        BROADCAST = 0 => (SendPurpose::Broadcast), "broadcast";
        PREVIEW = 1 => (SendPurpose::Preview), "preview";
        REPLY = 2 => (SendPurpose::Reply), "reply";
    }
}

codes! {
    /// Who a subject is (log records and snapshots).
    subject_kind: SubjectKind, "subject kind" {
        INDIVIDUAL = 0 => (SubjectKind::Individual), "individual";
        ORGANIZATION = 1 => (SubjectKind::Organization), "organization";
    }
}

codes! {
    /// An account's kind (log records from format 2, and snapshots, where `NONE` is an
    /// account registered outside any subject).
    account_kind: Option<AccountKind>, "account kind" {
        NONE = 0 => (None), "none";
        SUBSCRIPTION = 1 => (Some(AccountKind::Subscription)), "subscription";
        SERVICE = 2 => (Some(AccountKind::Service)), "service";
    }
}

/// Format 1 of the log and its own codes for the account kind.
pub(crate) mod account_kind_v1 {
    use super::*;

    pub(crate) const SUBSCRIPTION: u8 = 0;
    pub(crate) const SERVICE: u8 = 1;

    /// The account kind of a `RegisterInSubject` record of log format 1.
    pub(crate) fn decode(code: u8) -> Result<AccountKind, DecodeError> {
        match code {
            SUBSCRIPTION => Ok(AccountKind::Subscription),
            SERVICE => Ok(AccountKind::Service),
            _ => Err(unknown(account_kind::WHAT, code)),
        }
    }
}

codes! {
    /// The category of a registration; `NONE` while it is incomplete.
    category: Option<Category>, "registration category" {
        NONE = 0 => (None), "none";
        GOVERNMENT = 1 => (Some(Category::Government)), "government";
        MEDIA = 2 => (Some(Category::Media)), "media";
        ENTERPRISE = 3 => (Some(Category::Enterprise)), "enterprise";
        INDIVIDUAL = 4 => (Some(Category::Individual)), "individual";
        OTHER = 5 => (Some(Category::Other)), "other";
    }
}

/// An account's speed tier: 0 (fastest) to 4, or none. The log writes `NONE` for none;
/// snapshots store an `Option` and the tier.
pub(crate) mod speed_tier {
    use super::*;

    pub(crate) const NONE: u8 = u8::MAX;
    /// The slowest tier; tiers are `0..=MAX`.
    pub(crate) const MAX: u8 = 4;
    pub(crate) const WHAT: &str = "speed tier";

    pub(crate) fn encode(tier: Option<u8>) -> u8 {
        tier.unwrap_or(NONE)
    }

    pub(crate) fn decode(code: u8) -> Result<Option<u8>, DecodeError> {
        match code {
            NONE => Ok(None),
            t @ 0..=MAX => Ok(Some(t)),
            _ => Err(unknown(WHAT, code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte either decodes to a value that encodes back to it, or is refused.
    fn round_trips<T: Copy>(
        names: &[(u8, &str)],
        encode: fn(T) -> u8,
        decode: fn(u8) -> Result<T, DecodeError>,
    ) {
        let mut known = 0;
        for code in 0..=u8::MAX {
            match decode(code) {
                Ok(value) => {
                    assert_eq!(encode(value), code);
                    assert!(names.iter().any(|(c, _)| *c == code), "{code} unnamed");
                    known += 1;
                }
                Err(e) => {
                    assert!(matches!(e, DecodeError::UnknownCode { code: c, .. } if c == code))
                }
            }
        }
        assert_eq!(known, names.len());
    }

    #[test]
    fn every_code_round_trips_and_every_other_byte_is_refused() {
        round_trips(
            media_format::NAMES,
            media_format::encode,
            media_format::decode,
        );
        round_trips(
            send_purpose::NAMES,
            send_purpose::encode,
            send_purpose::decode,
        );
        round_trips(
            subject_kind::NAMES,
            subject_kind::encode,
            subject_kind::decode,
        );
        round_trips(
            account_kind::NAMES,
            account_kind::encode,
            account_kind::decode,
        );
        round_trips(category::NAMES, category::encode, category::decode);
        for code in 0..=u8::MAX {
            if let Ok(tier) = speed_tier::decode(code) {
                assert_eq!(speed_tier::encode(tier), code);
            }
        }
    }

    /// The rows of the codes table in `docs/format.md`, as they must read.
    fn rows() -> Vec<String> {
        let row = |what: &str, names: &[(u8, &str)]| {
            let codes: Vec<String> = names.iter().map(|(c, n)| format!("{c} {n}")).collect();
            format!("| {what} | {} |", codes.join(", "))
        };
        vec![
            row(message_kind::WHAT, message_kind::NAMES),
            row(media_format::WHAT, media_format::NAMES),
            row(audience_kind::WHAT, audience_kind::NAMES),
            row(tag_expr_node::WHAT, tag_expr_node::NAMES),
            row(send_purpose::WHAT, send_purpose::NAMES),
            row(subject_kind::WHAT, subject_kind::NAMES),
            row(account_kind::WHAT, account_kind::NAMES),
            row(category::WHAT, category::NAMES),
        ]
    }

    #[test]
    fn the_format_docs_list_these_codes() {
        let doc = include_str!("../../docs/format.md");
        let missing: Vec<String> = rows().into_iter().filter(|r| !doc.contains(r)).collect();
        assert!(
            missing.is_empty(),
            "docs/format.md's codes table lacks these rows (copy them in):\n{}",
            missing.join("\n")
        );
        for (code, name) in record_kind::NAMES {
            let row = format!("| {code} | {name} ");
            assert!(
                doc.contains(&row),
                "docs/format.md lacks the record row {row:?}"
            );
        }
    }
}
