//! herald's typed errors as WeChat errcodes. Each mapping is per operation family, since
//! WeChat reuses codes differently across APIs; variants added to herald's
//! `#[non_exhaustive]` enums later answer -1 (system error) until mapped here.

use super::reply::WxError;
use herald::{
    AccountError, AudienceError, MessageError, QueryError, RetractError, SendError, TagError,
};

fn w(code: i64, wechat: &str, detail: impl std::fmt::Display) -> WxError {
    WxError::new(code, format!("{wechat}: {detail}"))
}

/// A message the engine refused.
pub fn message(err: &MessageError) -> WxError {
    match err {
        MessageError::Empty { field } => match *field {
            "text" => w(44004, "empty content", err),
            "title" | "body" => w(44003, "empty news data", err),
            _ => w(40007, "invalid media_id", err),
        },
        MessageError::TooLong { field, unit, .. } => match (*field, *unit) {
            ("text" | "body", _) => w(45002, "content size out of limit", err),
            ("title" | "video title", _) => w(45003, "title size out of limit", err),
            ("summary" | "video description", _) => w(45004, "description size out of limit", err),
            (_, "seconds") => w(45007, "playtime out of limit", err),
            ("media id", _) => w(40007, "invalid media_id", err),
            _ => w(40006, "invalid meida size", err),
        },
        MessageError::WrongMediaKind { .. } => w(40007, "invalid media_id", err),
        MessageError::ControlCharacter { .. } => w(47001, "data format error", err),
        _ => WxError::system(err),
    }
}

/// A send (`sendall`, `send`, `preview`) the engine refused.
pub fn send(err: &SendError) -> WxError {
    match err {
        SendError::UnknownAccount(_) => w(
            40001,
            "invalid credential, access_token is invalid or not latest",
            err,
        ),
        SendError::InvalidMessage(m) => message(m),
        SendError::InvalidAudience(a) => audience(a),
        SendError::InvalidIdempotencyKey { .. } => w(45067, "clientmsgid size out of limit", err),
        SendError::Busy { .. } | SendError::ShuttingDown | SendError::Storage(_) => {
            WxError::system(err)
        }
        SendError::SequenceExhausted(_) | SendError::DailyLimit { .. } => {
            w(45028, "has no masssend quota", err)
        }
        SendError::StorageQuota { .. } => w(45028, "has no masssend quota", err),
        SendError::PreviewLimit { .. } => w(45009, "reach max api daily quota limit", err),
        SendError::RegistrationIncomplete { .. } | SendError::Banned { .. } => {
            w(48001, "api unauthorized", err)
        }
        SendError::Unoriginal { .. } => w(
            45166,
            "article judged a reprint; set send_ignore_reprint to 1 to send it as one",
            err,
        ),
        SendError::UnknownOriginal(_)
        | SendError::ReprintNotOpen(_)
        | SendError::NotAnArticle
        | SendError::ScheduleGone(_)
        | SendError::ReplyWindowClosed { .. } => w(40008, "invalid message type", err),
        _ => WxError::system(err),
    }
}

/// An audience the engine refused.
pub fn audience(err: &AudienceError) -> WxError {
    match err {
        AudienceError::UnknownTag(_) => w(45159, "invalid tag id", err),
        AudienceError::ListSize { .. } | AudienceError::ListTooLong { .. } => {
            w(40130, "invalid openid list size, at least two openid", err)
        }
        AudienceError::InvalidOpenId(_) => w(40003, "invalid openid", err),
        AudienceError::NotFollowing { .. } => w(43004, "require subscribe", err),
        _ => WxError::system(err),
    }
}

/// A tag operation the engine refused.
pub fn tag(err: &TagError) -> WxError {
    match err {
        TagError::UnknownAccount(_) => w(
            40001,
            "invalid credential, access_token is invalid or not latest",
            err,
        ),
        TagError::UnknownTag(_) => w(45159, "invalid tag id", err),
        TagError::InvalidName { .. } => w(45158, "tag name too long", err),
        TagError::DuplicateName(_) => w(45157, "invalid tag name", err),
        TagError::TooManyTags { .. } => w(45056, "too many tags", err),
        TagError::TooManyTagsOnFollower { .. } => w(45059, "user has too many tags", err),
        TagError::InvalidOpenId(_) => w(40003, "invalid openid", err),
        TagError::NotFollowing(_) => w(43004, "require subscribe", err),
        TagError::BatchSize { .. } => w(40032, "invalid openid list size", err),
        _ => WxError::system(err),
    }
}

/// A read the engine refused.
pub fn query(err: &QueryError) -> WxError {
    match err {
        QueryError::UnknownAccount(_) => w(
            40001,
            "invalid credential, access_token is invalid or not latest",
            err,
        ),
        QueryError::UnknownTag(_) => w(45159, "invalid tag id", err),
        QueryError::InvalidOpenId(_) | QueryError::UnknownUser(_) => {
            w(40003, "invalid openid", err)
        }
        QueryError::UnknownJob(_) => w(40059, "invalid msg id", err),
        QueryError::PageSize { .. } => w(40035, "invalid args", err),
        _ => WxError::system(err),
    }
}

/// A deletion (`mass/delete`) the engine refused.
pub fn retract(err: &RetractError) -> WxError {
    match err {
        RetractError::UnknownAccount(_) => w(
            40001,
            "invalid credential, access_token is invalid or not latest",
            err,
        ),
        RetractError::UnknownJob(_) => w(40059, "invalid msg id", err),
        RetractError::NotRetractable => w(
            40008,
            "invalid message type: only mpnews and video sends can be deleted",
            err,
        ),
        _ => WxError::system(err),
    }
}

/// A speed change the engine refused.
pub fn account(err: &AccountError) -> WxError {
    match err {
        AccountError::UnknownAccount(_) => w(
            40001,
            "invalid credential, access_token is invalid or not latest",
            err,
        ),
        AccountError::InvalidSpeedTier(_) => w(45083, "speed out of range", err),
        _ => WxError::system(err),
    }
}
