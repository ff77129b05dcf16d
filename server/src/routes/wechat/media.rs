//! Media: `media/upload` (multipart, form field `media`), `media/uploadvideo`,
//! `material/add_news` and `media/uploadnews`, and `media/get` to read a file back.
//!
//! Files are checked as WeChat checks them: the `type` (`image`, `voice`, `video`,
//! `thumb`), the format (sniffed from the bytes, not trusted from the file name: JPEG, PNG,
//! GIF, BMP for images and thumbs; MP3, AMR, WMA, WAV for voice; MP4 for video) and the
//! size limits of the engine's [`Limits`](herald::Limits) (image 10 MiB, voice 2 MiB and
//! 60 s, video 10 MiB) plus WeChat's 64 KiB for thumbs. A voice clip's play time is read
//! from its headers (WAV, AMR, WMA exactly; MP3 from its first frame's bit rate, exact for
//! constant bit rate files); a video's from its MP4 `mvhd` box.

use super::codes;
use super::multipart;
use super::reply::{WxError, WxResult, account, data, json_body, query_param, string};
use super::state::Wx;
use super::store::{Entry, Kind, NewsArticle};
use crate::app::Shared;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use herald::{Article, Message};
use serde_json::{Value, json};

/// Largest thumb, as WeChat has it.
pub const THUMB_MAX_BYTES: u64 = 64 * 1024;

/// A file format: its name in the store and its kind.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| bytes.starts_with(p);
    Some(if starts(&[0xFF, 0xD8, 0xFF]) {
        "jpeg"
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "gif"
    } else if starts(b"BM") && bytes.len() > 14 {
        "bmp"
    } else if starts(b"#!AMR\n") {
        "amr"
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        "wav"
    } else if starts(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) {
        "wma"
    } else if bytes.get(4..8) == Some(b"ftyp") {
        "mp4"
    } else if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        "mp3"
    } else {
        return None;
    })
}

/// `N` bytes at `at`, if the file has them (offsets come from the file: no overflow).
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    bytes_at(b, at).map(u32::from_le_bytes)
}

fn u32_be(b: &[u8], at: usize) -> Option<u32> {
    bytes_at(b, at).map(u32::from_be_bytes)
}

fn u64_le(b: &[u8], at: usize) -> Option<u64> {
    bytes_at(b, at).map(u64::from_le_bytes)
}

fn u64_be(b: &[u8], at: usize) -> Option<u64> {
    bytes_at(b, at).map(u64::from_be_bytes)
}

/// Play time in whole seconds, rounded up; `None` when the headers do not say.
fn duration_secs(format: &str, b: &[u8]) -> Option<u32> {
    let ceil = |num: u64, den: u64| (den > 0).then(|| num.div_ceil(den) as u32);
    match format {
        "wav" => {
            // RIFF chunks after the 12-byte header: "fmt " holds the byte rate, "data" the
            // samples.
            let (mut at, mut rate, mut size) = (12usize, None, None);
            while let (Some(id), Some(len)) =
                (bytes_at::<4>(b, at), u32_le(b, at.saturating_add(4)))
            {
                match &id {
                    b"fmt " => rate = u32_le(b, at.saturating_add(16)),
                    b"data" => size = Some(len),
                    _ => {}
                }
                at = at
                    .checked_add(8)?
                    .checked_add(len as usize)?
                    .checked_add(len as usize & 1)?;
            }
            ceil(u64::from(size?), u64::from(rate?))
        }
        "amr" => {
            // AMR-NB storage format (RFC 4867 §5): 20 ms frames, each a TOC byte whose mode
            // gives its size.
            const SIZES: [usize; 16] = [13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1];
            let (mut at, mut frames) = (6usize, 0u64);
            while let Some(&toc) = b.get(at) {
                at += SIZES[usize::from(toc >> 3 & 0x0F)];
                frames += 1;
            }
            ceil(frames * 20, 1000)
        }
        "wma" => {
            // ASF File Properties Object: play duration (100 ns units) at 64, preroll (ms)
            // at 80.
            const GUID: [u8; 16] = [
                0xA1, 0xDC, 0xAB, 0x8C, 0x47, 0xA9, 0xCF, 0x11, 0x8E, 0xE4, 0x00, 0xC0, 0x0C, 0x20,
                0x53, 0x65,
            ];
            let at = b.windows(16).position(|w| w == GUID)?;
            let play = u64_le(b, at + 64)?;
            let preroll = u64_le(b, at + 80)?;
            ceil(
                play.saturating_sub(preroll.saturating_mul(10_000)),
                10_000_000,
            )
        }
        "mp3" => {
            let mut at = 0usize;
            if b.starts_with(b"ID3") {
                let size = b
                    .get(6..10)?
                    .iter()
                    .fold(0usize, |s, &x| s << 7 | usize::from(x & 0x7F));
                at = 10 + size;
            }
            let h = b.get(at..at + 4)?;
            if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
                return None;
            }
            let mpeg1 = h[1] >> 3 & 3 == 3;
            let layer3 = h[1] >> 1 & 3 == 1;
            const V1L3: [u64; 15] = [
                0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
            ];
            const V2L3: [u64; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
            let index = usize::from(h[2] >> 4);
            if !layer3 || index == 0 || index >= 15 {
                return None;
            }
            let kbps = if mpeg1 { V1L3[index] } else { V2L3[index] };
            ceil((b.len() - at) as u64 * 8, kbps * 1000)
        }
        "mp4" => {
            // moov/mvhd: timescale and duration (ISO/IEC 14496-12 §8.2.2).
            let find_box = |b: &[u8], name: &[u8; 4]| -> Option<(usize, usize)> {
                let mut at = 0usize;
                while let Some(size) = u32_be(b, at) {
                    let (header, size) = match size {
                        1 => (16, usize::try_from(u64_be(b, at + 8)?).ok()?),
                        0 => (8, b.len() - at),
                        s => (8, s as usize),
                    };
                    if size < header {
                        return None;
                    }
                    if &bytes_at::<4>(b, at + 4)? == name {
                        let end = at.checked_add(size)?.min(b.len());
                        return Some((at + header, end.max(at + header).min(b.len())));
                    }
                    at = at.checked_add(size)?;
                }
                None
            };
            let (start, end) = find_box(b, b"moov")?;
            let moov = b.get(start..end)?;
            let (start, _) = find_box(moov, b"mvhd")?;
            let mvhd = moov.get(start..)?;
            let (scale, duration) = if *mvhd.first()? == 1 {
                (u64::from(u32_be(mvhd, 20)?), u64_be(mvhd, 24)?)
            } else {
                (u64::from(u32_be(mvhd, 12)?), u64::from(u32_be(mvhd, 16)?))
            };
            ceil(duration, scale)
        }
        _ => None,
    }
}

/// `POST media/upload?type=image|voice|video|thumb` (multipart, field `media`) →
/// `{"type","media_id","created_at"}` (`thumb_media_id` too for thumbs).
/// `material/add_material` takes the same and answers the same (plus an empty `url`).
pub async fn upload(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let kind = match query_param(query.as_deref(), "type").as_deref() {
        Some("image") => Kind::Image,
        Some("voice") => Kind::Voice,
        Some("video") => Kind::Video,
        Some("thumb") => Kind::Thumb,
        other => {
            return Err(WxError::new(
                40004,
                format!("invalid media type {other:?}: image, voice, video or thumb"),
            ));
        }
    };
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            WxError::new(40006, "invalid meida size: the upload is too large")
        } else {
            WxError::new(41005, format!("media data missing: {}", e.body_text()))
        }
    })?;
    let missing = || {
        WxError::new(
            41005,
            "media data missing: a multipart form field \"media\" is required",
        )
    };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart::boundary)
        .ok_or_else(missing)?;
    let part = multipart::part(&body, &boundary, "media").ok_or_else(missing)?;
    if part.data.is_empty() {
        return Err(WxError::new(40006, "invalid meida size: the file is empty"));
    }
    let format = sniff(part.data).ok_or_else(|| {
        WxError::new(
            40005,
            "invalid file type: not a JPEG, PNG, GIF, BMP, MP3, AMR, WMA, WAV or MP4 file",
        )
    })?;
    let allowed: &[&str] = match kind {
        Kind::Image | Kind::Thumb => &["jpeg", "png", "gif", "bmp"],
        Kind::Voice => &["mp3", "amr", "wma", "wav"],
        _ => &["mp4"],
    };
    if !allowed.contains(&format) {
        return Err(WxError::new(
            40005,
            format!("invalid file type: a {format} file is no {}", kind.name()),
        ));
    }
    let limits = &state.engine.config().limits;
    let (max, code) = match kind {
        Kind::Image => (limits.image_max_bytes, 40009),
        Kind::Thumb => (THUMB_MAX_BYTES, 40012),
        Kind::Voice => (limits.voice_max_bytes, 40010),
        _ => (limits.video_max_bytes, 40011),
    };
    let bytes = part.data.len() as u64;
    if bytes > max {
        return Err(WxError::new(
            code,
            format!("invalid {} size: {bytes} bytes, at most {max}", kind.name()),
        ));
    }
    let duration = match kind {
        Kind::Voice | Kind::Video => duration_secs(format, part.data).unwrap_or(0),
        _ => 0,
    };
    if kind == Kind::Voice && duration > limits.voice_max_secs {
        return Err(WxError::new(
            45007,
            format!(
                "playtime out of limit: {duration} s, at most {}",
                limits.voice_max_secs
            ),
        ));
    }
    let created_at = crate::auth::now_secs();
    let entry = Entry {
        account,
        kind,
        format: format.to_string(),
        bytes,
        duration_secs: duration,
        created_at,
        video: None,
        articles: Vec::new(),
    };
    let data_bytes = part.data.to_vec();
    let wx2 = std::sync::Arc::clone(&wx);
    let id = tokio::task::spawn_blocking(move || wx2.media.put(entry, Some(&data_bytes)))
        .await
        .map_err(WxError::system)?
        .map_err(WxError::system)?;
    let mut answer = json!({"type": kind.name(), "media_id": id, "created_at": created_at});
    if kind == Kind::Thumb {
        answer["thumb_media_id"] = json!(id);
    }
    data(answer)
}

/// `POST material/add_material?type=` (multipart, field `media`): as `media/upload`, plus
/// an empty `url` (herald serves files through `media/get` only).
pub async fn add_material(
    state: State<Shared>,
    wx: Wx,
    query: RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let mut answer = upload(state, wx, query, headers, body).await?;
    answer.0["url"] = json!("");
    Ok(answer)
}

/// `POST media/uploadvideo {"media_id","title","description"}` → `{"type":"video",
/// "media_id","created_at"}`: the media id to send as `mpvideo`.
pub async fn upload_video(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let id = string(body.get("media_id"))
        .ok_or_else(|| WxError::new(40007, "invalid media_id: media_id missing"))?;
    let file = wx
        .media
        .get(account, &id)
        .filter(|e| e.kind == Kind::Video)
        .ok_or_else(|| {
            WxError::new(
                40007,
                format!("invalid media_id {id:?}: no video of this account"),
            )
        })?;
    let title = string(body.get("title")).unwrap_or_default();
    let description = string(body.get("description")).unwrap_or_default();
    // Checked now, as a send of it would be.
    let probe = Message::Video(herald::Video {
        media: herald::Media {
            media_id: id.clone(),
            format: herald::MediaFormat::Mp4,
            bytes: file.bytes,
            duration_secs: file.duration_secs,
        },
        title: title.clone(),
        description: description.clone(),
    });
    probe
        .validate(&state.engine.config().limits)
        .map_err(|e| codes::message(&e))?;
    let created_at = crate::auth::now_secs();
    let entry = Entry {
        account,
        kind: Kind::MpVideo,
        format: file.format.clone(),
        bytes: file.bytes,
        duration_secs: file.duration_secs,
        created_at,
        video: Some((id, title, description)),
        articles: Vec::new(),
    };
    let wx2 = std::sync::Arc::clone(&wx);
    let new_id = tokio::task::spawn_blocking(move || wx2.media.put(entry, None))
        .await
        .map_err(WxError::system)?
        .map_err(WxError::system)?;
    data(json!({"type": "video", "media_id": new_id, "created_at": created_at}))
}

fn text_field(v: &serde_json::Map<String, Value>, key: &str) -> String {
    string(v.get(key)).unwrap_or_default()
}

/// `POST material/add_news {"articles":[{title, thumb_media_id, author, digest,
/// show_cover_pic, content, content_source_url}]}` → `{"media_id"}` (`media/uploadnews`
/// the same, with `type` and `created_at`): one article (45008 for more).
pub async fn add_news(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let articles = body
        .get("articles")
        .and_then(Value::as_array)
        .ok_or_else(|| WxError::new(44003, "empty news data: articles missing"))?;
    let a = match articles.as_slice() {
        [] => return Err(WxError::new(44003, "empty news data")),
        [one] => one
            .as_object()
            .ok_or_else(|| WxError::bad_json("an article is an object"))?,
        _ => {
            return Err(WxError::new(
                45008,
                "article size out of limit: herald sends one article per message",
            ));
        }
    };
    let article = NewsArticle {
        title: text_field(a, "title"),
        thumb_media_id: text_field(a, "thumb_media_id"),
        author: text_field(a, "author"),
        digest: text_field(a, "digest"),
        content: text_field(a, "content"),
        content_source_url: text_field(a, "content_source_url"),
        show_cover_pic: super::reply::flag(a.get("show_cover_pic"))?.unwrap_or(false),
    };
    let cover = wx
        .media
        .get(account, &article.thumb_media_id)
        .filter(|e| matches!(e.kind, Kind::Thumb | Kind::Image))
        .ok_or_else(|| {
            WxError::new(
                40007,
                format!(
                    "invalid media_id {:?}: thumb_media_id must be a thumb or image of this account",
                    article.thumb_media_id
                ),
            )
        })?;
    let format = super::message::format_of(&cover.format)
        .ok_or_else(|| WxError::new(40007, "invalid media_id: the cover is not an image"))?;
    Message::Article(Article {
        title: article.title.clone(),
        summary: article.digest.clone(),
        body: article.content.clone(),
        cover: herald::Media {
            media_id: article.thumb_media_id.clone(),
            format,
            bytes: cover.bytes,
            duration_secs: 0,
        },
    })
    .validate(&state.engine.config().limits)
    .map_err(|e| codes::message(&e))?;
    let created_at = crate::auth::now_secs();
    let entry = Entry {
        account,
        kind: Kind::News,
        format: String::new(),
        bytes: 0,
        duration_secs: 0,
        created_at,
        video: None,
        articles: vec![article],
    };
    let wx2 = std::sync::Arc::clone(&wx);
    let id = tokio::task::spawn_blocking(move || wx2.media.put(entry, None))
        .await
        .map_err(WxError::system)?
        .map_err(WxError::system)?;
    data(json!({"type": "news", "media_id": id, "created_at": created_at}))
}

/// `GET media/get?media_id=` → the file's bytes (errcode JSON for anything but a file of
/// this account).
pub async fn get(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
) -> Result<Response, WxError> {
    let account = account(&state, query.as_deref())?;
    let id = query_param(query.as_deref(), "media_id").unwrap_or_default();
    let entry = wx
        .media
        .get(account, &id)
        .ok_or_else(|| WxError::new(40007, "invalid media_id"))?;
    let wx2 = std::sync::Arc::clone(&wx);
    let id2 = id.clone();
    let bytes = tokio::task::spawn_blocking(move || wx2.media.bytes(account, &id2))
        .await
        .map_err(WxError::system)?
        .map_err(WxError::system)?
        .ok_or_else(|| WxError::new(40007, "invalid media_id: not a file"))?;
    let content_type = match entry.format.as_str() {
        "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "mp3" => "audio/mpeg",
        "amr" => "audio/amr",
        "wma" => "audio/x-ms-wma",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    };
    let disposition = format!("attachment; filename=\"{id}.{}\"", entry.format);
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from(bytes.to_vec()),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_sniffed() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some("jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("png"));
        assert_eq!(sniff(b"#!AMR\n"), Some("amr"));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42"), Some("mp4"));
        assert_eq!(sniff(b"hello"), None);
    }

    #[test]
    fn durations_are_read() {
        // WAV: 8000 bytes/s, 20000 bytes of data: 2.5 s → 3.
        let mut wav = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        wav.extend_from_slice(&[1, 0, 1, 0]);
        wav.extend_from_slice(&8000u32.to_le_bytes());
        wav.extend_from_slice(&8000u32.to_le_bytes());
        wav.extend_from_slice(&[1, 0, 8, 0]);
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&20000u32.to_le_bytes());
        assert_eq!(duration_secs("wav", &wav), Some(3));
        // AMR: 100 frames of mode 7 (32 bytes): 2 s.
        let mut amr = b"#!AMR\n".to_vec();
        for _ in 0..100 {
            amr.push(7 << 3);
            amr.extend_from_slice(&[0; 31]);
        }
        assert_eq!(duration_secs("amr", &amr), Some(2));
        // MP3: MPEG-1 layer III at 128 kbit/s, 16000 bytes: 1 s.
        let mut mp3 = vec![0xFF, 0xFB, 0x90, 0x00];
        mp3.resize(16000, 0);
        assert_eq!(duration_secs("mp3", &mp3), Some(1));
        // MP4: moov/mvhd v0, timescale 1000, duration 61500: 62 s.
        let mut mvhd = vec![0u8; 4 + 4 + 4];
        mvhd.extend_from_slice(&1000u32.to_be_bytes());
        mvhd.extend_from_slice(&61500u32.to_be_bytes());
        let mut mvhd_box = ((mvhd.len() + 8) as u32).to_be_bytes().to_vec();
        mvhd_box.extend_from_slice(b"mvhd");
        mvhd_box.extend_from_slice(&mvhd);
        let mut mp4 = b"\0\0\0\x10ftypmp42\0\0\0\0".to_vec();
        mp4.extend_from_slice(&((mvhd_box.len() + 8) as u32).to_be_bytes());
        mp4.extend_from_slice(b"moov");
        mp4.extend_from_slice(&mvhd_box);
        assert_eq!(duration_secs("mp4", &mp4), Some(62));
        assert_eq!(duration_secs("mp3", b"ID3"), None);
    }

    #[test]
    fn garbage_never_panics() {
        // xorshift64*: deterministic noise, with real headers in front to reach the parsers.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let heads: [&[u8]; 6] = [
            b"RIFF\0\0\0\0WAVE",
            b"#!AMR\n",
            &[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11],
            b"\0\0\0\x10ftyp",
            b"ID3",
            &[0xFF, 0xFB],
        ];
        for round in 0..20_000 {
            let len = (next() % 300) as usize;
            let mut b = heads[round % heads.len()].to_vec();
            b.extend((0..len).map(|_| {
                // Mostly 0 and 0xFF, which make sizes of 0, 1 and huge.
                match next() % 4 {
                    0 => 0,
                    1 => 0xFF,
                    2 => 1,
                    _ => next() as u8,
                }
            }));
            if let Some(format) = sniff(&b) {
                let _ = duration_secs(format, &b);
            }
            for format in ["wav", "amr", "wma", "mp3", "mp4"] {
                let _ = duration_secs(format, &b);
            }
        }
    }
}
