//! WeChat's message objects (`msgtype` and its object) as herald messages, resolving
//! `media_id`s through the media store.
//!
//! Taken: `text {content}`, `image {media_id}`, `images {media_ids:[one]}`,
//! `voice {media_id}`, `mpvideo {media_id, title?, description?}` (`video` accepted as a
//! synonym), `mpnews {media_id}`. Refused with 40008: `wxcard` and anything else, and
//! `images` with more than one picture (a herald message holds one).

use super::reply::{WxError, string};
use super::store::{Entry, Kind, MediaStore};
use herald::{Article, Media, MediaFormat, Message, Video};
use serde_json::{Map, Value};

/// The herald format of a stored format name.
pub fn format_of(name: &str) -> Option<MediaFormat> {
    Some(match name {
        "jpeg" => MediaFormat::Jpeg,
        "png" => MediaFormat::Png,
        "gif" => MediaFormat::Gif,
        "bmp" => MediaFormat::Bmp,
        "mp3" => MediaFormat::Mp3,
        "amr" => MediaFormat::Amr,
        "wma" => MediaFormat::Wma,
        "wav" => MediaFormat::Wav,
        "mp4" => MediaFormat::Mp4,
        _ => return None,
    })
}

fn invalid_media(id: &str, why: &str) -> WxError {
    WxError::new(40007, format!("invalid media_id {id:?}: {why}"))
}

/// The herald media of file entry `id`.
fn media(id: &str, entry: &Entry) -> Result<Media, WxError> {
    let format = format_of(&entry.format).ok_or_else(|| invalid_media(id, "not a file"))?;
    Ok(Media {
        media_id: id.to_string(),
        format,
        bytes: entry.bytes,
        duration_secs: entry.duration_secs,
    })
}

/// The entry `id` of `account`, of one of `kinds`.
fn lookup(
    store: &MediaStore,
    account: u32,
    id: &str,
    kinds: &[Kind],
) -> Result<std::sync::Arc<Entry>, WxError> {
    let entry = store
        .get(account, id)
        .ok_or_else(|| invalid_media(id, "no such media of this account"))?;
    if !kinds.contains(&entry.kind) {
        let expected: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        return Err(invalid_media(
            id,
            &format!(
                "it is {}, this message needs {}",
                entry.kind.name(),
                expected.join(" or ")
            ),
        ));
    }
    Ok(entry)
}

fn object<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>, WxError> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| WxError::bad_json(format!("msgtype {key} needs a {key:?} object")))
}

fn media_id(obj: &Map<String, Value>) -> Result<String, WxError> {
    string(obj.get("media_id"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WxError::new(40007, "invalid media_id: media_id missing"))
}

/// The article of news entry `id` as a herald article.
pub fn article(store: &MediaStore, account: u32, id: &str) -> Result<Article, WxError> {
    let news = lookup(store, account, id, &[Kind::News])?;
    let first = news
        .articles
        .first()
        .ok_or_else(|| invalid_media(id, "the news holds no article"))?;
    let cover_id = &first.thumb_media_id;
    let cover = lookup(store, account, cover_id, &[Kind::Thumb, Kind::Image])?;
    Ok(Article {
        title: first.title.clone(),
        summary: first.digest.clone(),
        body: first.content.clone(),
        cover: media(cover_id, &cover)?,
    })
}

/// The message of a send body; whether it is an article (`mpnews`).
pub fn build(
    body: &Map<String, Value>,
    account: u32,
    store: &MediaStore,
) -> Result<(Message, bool), WxError> {
    let msgtype = string(body.get("msgtype"))
        .ok_or_else(|| WxError::new(40008, "invalid message type: msgtype missing"))?;
    let message = match msgtype.as_str() {
        "text" => {
            let content = string(object(body, "text")?.get("content")).unwrap_or_default();
            Message::Text(content)
        }
        "image" | "images" => {
            let id = if msgtype == "image" {
                media_id(object(body, "image")?)?
            } else {
                let ids = object(body, "images")?
                    .get("media_ids")
                    .and_then(Value::as_array)
                    .ok_or_else(|| WxError::bad_json("images needs media_ids"))?;
                match ids.as_slice() {
                    [one] => string(Some(one))
                        .ok_or_else(|| WxError::bad_json("media_ids holds strings"))?,
                    [] => return Err(WxError::new(40007, "invalid media_id: media_ids is empty")),
                    _ => {
                        return Err(WxError::new(
                            40008,
                            "invalid message type: herald sends one image per message",
                        ));
                    }
                }
            };
            let entry = lookup(store, account, &id, &[Kind::Image])?;
            Message::Image(media(&id, &entry)?)
        }
        "voice" => {
            let id = media_id(object(body, "voice")?)?;
            let entry = lookup(store, account, &id, &[Kind::Voice])?;
            Message::Voice(media(&id, &entry)?)
        }
        "mpvideo" | "video" => {
            let obj = object(body, &msgtype)?;
            let id = media_id(obj)?;
            let entry = lookup(store, account, &id, &[Kind::MpVideo, Kind::Video])?;
            let (file_id, title, description) = match &entry.video {
                Some((file, title, description)) => {
                    (file.clone(), title.clone(), description.clone())
                }
                None => (id.clone(), String::new(), String::new()),
            };
            let file = lookup(store, account, &file_id, &[Kind::Video])?;
            Message::Video(Video {
                media: media(&file_id, &file)?,
                title: string(obj.get("title")).unwrap_or(title),
                description: string(obj.get("description")).unwrap_or(description),
            })
        }
        "mpnews" => {
            let id = media_id(object(body, "mpnews")?)?;
            Message::Article(article(store, account, &id)?)
        }
        other => {
            return Err(WxError::new(
                40008,
                format!(
                    "invalid message type {other:?}: herald sends text, image, voice, mpvideo and mpnews"
                ),
            ));
        }
    };
    let is_news = matches!(message, Message::Article(_));
    Ok((message, is_news))
}
