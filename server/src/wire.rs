//! The JSON shapes of messages, audiences, jobs and inbox entries, and their conversion to
//! and from herald's types.

use crate::error::ApiError;
use herald::{
    Article, Audience, Content, InboxItem, JobId, JobReport, JobStatus, Media, MediaFormat,
    Message, OpenId, SendRequest, TagExpr, TagId, Video,
};
use serde::{Deserialize, Serialize};

/// A media reference: `{"media_id","format","bytes","duration_secs"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaJson {
    pub media_id: String,
    /// `jpeg`, `png`, `gif`, `bmp`, `mp3`, `amr`, `wma`, `wav` or `mp4`.
    pub format: String,
    pub bytes: u64,
    #[serde(default)]
    pub duration_secs: u32,
}

/// A message: `{"type":"text","text":".."}` and the other kinds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MessageJson {
    Text {
        text: String,
    },
    Image {
        media: MediaJson,
    },
    Voice {
        media: MediaJson,
    },
    Video {
        media: MediaJson,
        #[serde(default)]
        title: String,
        #[serde(default)]
        description: String,
    },
    Article {
        title: String,
        #[serde(default)]
        summary: String,
        body: String,
        cover: MediaJson,
    },
}

const FORMATS: [(&str, MediaFormat); 9] = [
    ("jpeg", MediaFormat::Jpeg),
    ("png", MediaFormat::Png),
    ("gif", MediaFormat::Gif),
    ("bmp", MediaFormat::Bmp),
    ("mp3", MediaFormat::Mp3),
    ("amr", MediaFormat::Amr),
    ("wma", MediaFormat::Wma),
    ("wav", MediaFormat::Wav),
    ("mp4", MediaFormat::Mp4),
];

impl MediaJson {
    fn into_media(self) -> Result<Media, ApiError> {
        let format = FORMATS
            .iter()
            .find(|(name, _)| *name == self.format)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_message",
                    format!("unknown media format {:?}", self.format),
                )
            })?;
        Ok(Media {
            media_id: self.media_id,
            format,
            bytes: self.bytes,
            duration_secs: self.duration_secs,
        })
    }

    fn from_media(media: &Media) -> MediaJson {
        let format = FORMATS
            .iter()
            .find(|(_, f)| *f == media.format)
            .map_or("unknown", |(name, _)| name);
        MediaJson {
            media_id: media.media_id.clone(),
            format: format.to_string(),
            bytes: media.bytes,
            duration_secs: media.duration_secs,
        }
    }
}

impl MessageJson {
    /// The herald message (validated later, by the engine).
    pub fn into_message(self) -> Result<Message, ApiError> {
        Ok(match self {
            MessageJson::Text { text } => Message::Text(text),
            MessageJson::Image { media } => Message::Image(media.into_media()?),
            MessageJson::Voice { media } => Message::Voice(media.into_media()?),
            MessageJson::Video {
                media,
                title,
                description,
            } => Message::Video(Video {
                media: media.into_media()?,
                title,
                description,
            }),
            MessageJson::Article {
                title,
                summary,
                body,
                cover,
            } => Message::Article(Article {
                title,
                summary,
                body,
                cover: cover.into_media()?,
            }),
        })
    }

    /// The JSON form of a message; `None` for a kind this server does not know yet.
    pub fn from_message(message: &Message) -> Option<MessageJson> {
        Some(match message {
            Message::Text(text) => MessageJson::Text { text: text.clone() },
            Message::Image(m) => MessageJson::Image {
                media: MediaJson::from_media(m),
            },
            Message::Voice(m) => MessageJson::Voice {
                media: MediaJson::from_media(m),
            },
            Message::Video(v) => MessageJson::Video {
                media: MediaJson::from_media(&v.media),
                title: v.title.clone(),
                description: v.description.clone(),
            },
            Message::Article(a) => MessageJson::Article {
                title: a.title.clone(),
                summary: a.summary.clone(),
                body: a.body.clone(),
                cover: MediaJson::from_media(&a.cover),
            },
            _ => return None,
        })
    }
}

/// A tag expression: `{"tag":1}`, `{"and":[..]}`, `{"or":[..]}`, `{"not":{..}}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ExprJson {
    Tag(u32),
    And(Vec<ExprJson>),
    Or(Vec<ExprJson>),
    Not(Box<ExprJson>),
}

impl ExprJson {
    fn into_expr(self) -> TagExpr {
        match self {
            ExprJson::Tag(t) => TagExpr::Tag(TagId(t)),
            ExprJson::And(parts) => TagExpr::and(parts.into_iter().map(ExprJson::into_expr)),
            ExprJson::Or(parts) => TagExpr::or(parts.into_iter().map(ExprJson::into_expr)),
            ExprJson::Not(inner) => TagExpr::not(inner.into_expr()),
        }
    }

    fn from_expr(expr: &TagExpr) -> ExprJson {
        match expr {
            TagExpr::Tag(t) => ExprJson::Tag(t.0),
            TagExpr::And(parts) => ExprJson::And(parts.iter().map(ExprJson::from_expr).collect()),
            TagExpr::Or(parts) => ExprJson::Or(parts.iter().map(ExprJson::from_expr).collect()),
            TagExpr::Not(inner) => ExprJson::Not(Box::new(ExprJson::from_expr(inner))),
        }
    }
}

/// An audience: `{"type":"all"}`, `{"type":"tag","tag":1}`,
/// `{"type":"expr","expr":{..}}`, `{"type":"open_ids","open_ids":[".."]}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AudienceJson {
    All,
    Tag { tag: u32 },
    Expr { expr: ExprJson },
    OpenIds { open_ids: Vec<String> },
}

/// Parses OpenIDs in herald's display form (16 hex digits).
pub fn parse_open_ids(ids: &[String]) -> Result<Vec<OpenId>, ApiError> {
    ids.iter().map(|s| parse_open_id(s)).collect()
}

impl AudienceJson {
    /// The herald audience.
    pub fn into_audience(self) -> Result<Audience, ApiError> {
        Ok(match self {
            AudienceJson::All => Audience::All,
            AudienceJson::Tag { tag } => Audience::Tag(TagId(tag)),
            AudienceJson::Expr { expr } => Audience::Expr(expr.into_expr()),
            AudienceJson::OpenIds { open_ids } => Audience::OpenIds(parse_open_ids(&open_ids)?),
        })
    }

    /// The JSON form of an audience (a scheduled send's, as listed back).
    pub fn from_audience(audience: &Audience) -> AudienceJson {
        match audience {
            Audience::All => AudienceJson::All,
            Audience::Tag(t) => AudienceJson::Tag { tag: t.0 },
            Audience::Expr(e) => AudienceJson::Expr {
                expr: ExprJson::from_expr(e),
            },
            Audience::OpenIds(ids) => AudienceJson::OpenIds {
                open_ids: ids.iter().map(ToString::to_string).collect(),
            },
        }
    }
}

/// Parses one OpenID (a path or body field).
pub fn parse_open_id(s: &str) -> Result<OpenId, ApiError> {
    s.parse::<OpenId>().map_err(|_| {
        ApiError::bad_request(
            "invalid_open_id",
            format!("{s:?} is not an OpenID (16 hex digits)"),
        )
    })
}

/// The answer to an accepted send, preview or reply: `{"account","seq","status"}`.
pub fn accepted(job: &herald::JobHandle) -> serde_json::Value {
    let id = job.id();
    serde_json::json!({"account": id.account.0, "seq": id.seq.0, "status": status_name(job.status())})
}

/// A message as JSON, `null` for a kind this server does not know yet.
pub fn message_value(message: &Message) -> serde_json::Value {
    MessageJson::from_message(message)
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A send of another account named in a request: `{"account":A,"seq":S}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub account: u32,
    pub seq: u32,
}

impl JobRef {
    /// herald's job id.
    pub fn id(self) -> JobId {
        JobId {
            account: herald::AccountId(self.account),
            seq: herald::Seq(self.seq),
        }
    }
}

/// A send's body: message, audience and options (`POST .../sends`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendJson {
    pub message: MessageJson,
    pub audience: AudienceJson,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The article may be reprinted by other accounts.
    #[serde(default)]
    pub open_for_reprint: bool,
    /// The article reprints this one (which must be open for reprint).
    #[serde(default)]
    pub reprint_of: Option<JobRef>,
    /// Send a matching article as a reprint instead of refusing it as unoriginal.
    #[serde(default)]
    pub continue_as_reprint: bool,
}

impl SendJson {
    /// herald's send request.
    pub fn into_request(self) -> Result<SendRequest, ApiError> {
        let mut request =
            SendRequest::new(self.message.into_message()?, self.audience.into_audience()?);
        request.idempotency_key = self.idempotency_key;
        request.open_for_reprint = self.open_for_reprint;
        request.reprint_of = self.reprint_of.map(JobRef::id);
        request.continue_as_reprint = self.continue_as_reprint;
        Ok(request)
    }

    /// The JSON form of a request (a scheduled send's, listed back).
    pub fn request_value(request: &SendRequest) -> serde_json::Value {
        serde_json::json!({
            "message": message_value(&request.message),
            "audience": AudienceJson::from_audience(&request.audience),
            "idempotency_key": request.idempotency_key,
            "open_for_reprint": request.open_for_reprint,
            "reprint_of": request.reprint_of.map(|j| JobRef { account: j.account.0, seq: j.seq.0 }),
            "continue_as_reprint": request.continue_as_reprint,
        })
    }
}

/// A job status as a snake_case word.
pub fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "queued",
        JobStatus::Sending => "sending",
        JobStatus::Done => "done",
        JobStatus::Failed => "failed",
        JobStatus::Retracted => "retracted",
        JobStatus::Interrupted => "interrupted",
        JobStatus::Cancelled => "cancelled",
        _ => "unknown",
    }
}

/// A job's report.
#[derive(Debug, Serialize)]
pub struct ReportJson {
    pub account: u32,
    pub seq: u32,
    pub status: &'static str,
    pub total: u64,
    pub filtered: u64,
    pub sent: u64,
    pub errors: u64,
    pub cancelled: u64,
    pub last_error: Option<String>,
    pub accepted_at_ms: u64,
    pub finished_at_ms: Option<u64>,
}

impl From<&JobReport> for ReportJson {
    fn from(r: &JobReport) -> ReportJson {
        ReportJson {
            account: r.job.account.0,
            seq: r.job.seq.0,
            status: status_name(r.status),
            total: r.total,
            filtered: r.filtered,
            sent: r.sent,
            errors: r.errors,
            cancelled: r.cancelled,
            last_error: r.last_error.clone(),
            accepted_at_ms: r.accepted_at_ms,
            finished_at_ms: r.finished_at_ms,
        }
    }
}

/// An inbox entry's content.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentJson {
    Message { message: MessageJson },
    Retracted,
    Expired,
    Unknown,
}

/// One inbox entry.
#[derive(Debug, Serialize)]
pub struct ItemJson {
    pub cursor: u64,
    pub account: u32,
    pub seq: u32,
    pub content: ContentJson,
}

impl From<&InboxItem> for ItemJson {
    fn from(item: &InboxItem) -> ItemJson {
        let content = match &item.content {
            Content::Message(m) => match MessageJson::from_message(m) {
                Some(message) => ContentJson::Message { message },
                None => ContentJson::Unknown,
            },
            Content::Retracted => ContentJson::Retracted,
            Content::Expired => ContentJson::Expired,
        };
        ItemJson {
            cursor: item.cursor,
            account: item.account.0,
            seq: item.seq.0,
            content,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_parse() {
        let a: AudienceJson = serde_json::from_str(
            r#"{"type":"expr","expr":{"and":[{"tag":1},{"not":{"or":[{"tag":2},{"tag":3}]}}]}}"#,
        )
        .unwrap();
        let expected = TagExpr::and([
            TagExpr::Tag(TagId(1)),
            TagExpr::not(TagExpr::or([
                TagExpr::Tag(TagId(2)),
                TagExpr::Tag(TagId(3)),
            ])),
        ]);
        assert_eq!(a.into_audience().unwrap(), Audience::Expr(expected));
        let ids: AudienceJson =
            serde_json::from_str(r#"{"type":"open_ids","open_ids":["00000000000000ff"]}"#).unwrap();
        assert_eq!(
            ids.into_audience().unwrap(),
            Audience::OpenIds(vec![OpenId(255)])
        );
        assert!(serde_json::from_str::<AudienceJson>(r#"{"type":"everyone"}"#).is_err());
    }

    #[test]
    fn messages_round_trip() {
        let json = r#"{"type":"article","title":"T","summary":"S","body":"B","cover":{"media_id":"c","format":"jpeg","bytes":5,"duration_secs":0}}"#;
        let m: MessageJson = serde_json::from_str(json).unwrap();
        let message = m.into_message().unwrap();
        let back = serde_json::to_value(MessageJson::from_message(&message).unwrap()).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
