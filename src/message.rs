//! Messages an account sends: text, image, voice, video and article, validated against
//! [`Limits`].
//!
//! A message is validated once, when the send is accepted, and then shared by reference
//! (`Arc<Message>`) with every job, sink batch and inbox read: it is never copied per
//! recipient.

use crate::config::Limits;
use thiserror::Error;

/// File formats the platform accepts for media, each belonging to one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaFormat {
    /// JPEG image.
    Jpeg,
    /// PNG image.
    Png,
    /// GIF image.
    Gif,
    /// BMP image.
    Bmp,
    /// MP3 voice clip.
    Mp3,
    /// AMR voice clip.
    Amr,
    /// WMA voice clip.
    Wma,
    /// WAV voice clip.
    Wav,
    /// MP4 video.
    Mp4,
}

/// What a media file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// A picture: JPEG, PNG, GIF or BMP.
    Image,
    /// A voice clip: MP3, AMR, WMA or WAV.
    Voice,
    /// A video: MP4.
    Video,
}

impl MediaFormat {
    /// The kind of media this format holds.
    pub fn kind(self) -> MediaKind {
        match self {
            MediaFormat::Jpeg | MediaFormat::Png | MediaFormat::Gif | MediaFormat::Bmp => {
                MediaKind::Image
            }
            MediaFormat::Mp3 | MediaFormat::Amr | MediaFormat::Wma | MediaFormat::Wav => {
                MediaKind::Voice
            }
            MediaFormat::Mp4 => MediaKind::Video,
        }
    }
}

/// A reference to an uploaded media file: herald stores the reference, not the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Media {
    /// The media store's id for the file.
    pub media_id: String,
    /// The file's format, which must be of the kind the message expects.
    pub format: MediaFormat,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Play time in seconds (voice and video; 0 for images).
    pub duration_secs: u32,
}

/// A long-form article.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Article {
    /// The title: not blank, at most
    /// [`title_max_chars`](Limits::title_max_chars) characters (default 64), one line.
    pub title: String,
    /// The summary: may be empty, at most
    /// [`summary_max_chars`](Limits::summary_max_chars) characters (default 120), one line.
    pub summary: String,
    /// The body: not blank, at most [`body_max_chars`](Limits::body_max_chars) characters
    /// (default 20,000); may hold line breaks and tabs.
    pub body: String,
    /// The cover image.
    pub cover: Media,
}

/// A video with its caption.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Video {
    /// The video file, in MP4.
    pub media: Media,
    /// The title: may be empty, at most
    /// [`title_max_chars`](Limits::title_max_chars) characters (default 64), one line.
    pub title: String,
    /// The caption: may be empty, at most
    /// [`summary_max_chars`](Limits::summary_max_chars) characters (default 120); may hold
    /// line breaks and tabs.
    pub description: String,
}

/// One broadcast message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Message {
    /// Plain text: not blank, at most [`text_max_bytes`](Limits::text_max_bytes) bytes of
    /// UTF-8 (default 2,048); may hold line breaks and tabs.
    Text(String),
    /// An image (JPEG, PNG, GIF or BMP) of at most
    /// [`image_max_bytes`](Limits::image_max_bytes) (default 10 MiB).
    Image(Media),
    /// A voice clip (MP3, AMR, WMA or WAV) of at most
    /// [`voice_max_bytes`](Limits::voice_max_bytes) (default 2 MiB) and
    /// [`voice_max_secs`](Limits::voice_max_secs) (default 60 s).
    Voice(Media),
    /// A video (MP4) of at most [`video_max_bytes`](Limits::video_max_bytes) (default 10 MiB),
    /// with its title and caption.
    Video(Video),
    /// A long-form article with a cover image.
    Article(Article),
}

impl Message {
    /// Checks the message against `limits`; `Ok` means it may be sent as it is.
    pub fn validate(&self, limits: &Limits) -> Result<(), MessageError> {
        match self {
            Message::Text(text) => {
                non_empty("text", text)?;
                at_most("text", text.len(), limits.text_max_bytes, "bytes")?;
                no_control("text", text, true)
            }
            Message::Image(media) => check_media("image", media, MediaKind::Image, limits),
            Message::Voice(media) => check_media("voice", media, MediaKind::Voice, limits),
            Message::Video(video) => {
                check_media("video", &video.media, MediaKind::Video, limits)?;
                chars_at_most("video title", &video.title, limits.title_max_chars)?;
                no_control("video title", &video.title, false)?;
                chars_at_most(
                    "video description",
                    &video.description,
                    limits.summary_max_chars,
                )?;
                no_control("video description", &video.description, true)
            }
            Message::Article(article) => {
                non_empty("title", &article.title)?;
                chars_at_most("title", &article.title, limits.title_max_chars)?;
                no_control("title", &article.title, false)?;
                chars_at_most("summary", &article.summary, limits.summary_max_chars)?;
                no_control("summary", &article.summary, false)?;
                non_empty("body", &article.body)?;
                chars_at_most("body", &article.body, limits.body_max_chars)?;
                no_control("body", &article.body, true)?;
                check_media("cover", &article.cover, MediaKind::Image, limits)
            }
        }
    }

    /// Bytes this message takes in storage (text and references; media bytes are counted
    /// by their declared size, since they are stored once by the media store).
    pub fn stored_bytes(&self) -> u64 {
        let media = |m: &Media| m.media_id.len() as u64 + m.bytes;
        match self {
            Message::Text(t) => t.len() as u64,
            Message::Image(m) | Message::Voice(m) => media(m),
            Message::Video(v) => media(&v.media) + (v.title.len() + v.description.len()) as u64,
            Message::Article(a) => {
                media(&a.cover) + (a.title.len() + a.summary.len() + a.body.len()) as u64
            }
        }
    }
}

fn non_empty(field: &'static str, s: &str) -> Result<(), MessageError> {
    if s.trim().is_empty() {
        return Err(MessageError::Empty { field });
    }
    Ok(())
}

fn at_most(
    field: &'static str,
    len: usize,
    max: usize,
    unit: &'static str,
) -> Result<(), MessageError> {
    if len > max {
        return Err(MessageError::TooLong {
            field,
            len: len as u64,
            max: max as u64,
            unit,
        });
    }
    Ok(())
}

fn chars_at_most(field: &'static str, s: &str, max: usize) -> Result<(), MessageError> {
    // Byte length bounds the character count from above: skip the count when it cannot fail.
    if s.len() <= max {
        return Ok(());
    }
    at_most(field, s.chars().count(), max, "characters")
}

/// Control characters are refused; multi-line fields may hold line breaks and tabs.
fn no_control(field: &'static str, s: &str, multiline: bool) -> Result<(), MessageError> {
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if s.chars().any(bad) {
        return Err(MessageError::ControlCharacter { field });
    }
    Ok(())
}

fn check_media(
    field: &'static str,
    media: &Media,
    kind: MediaKind,
    limits: &Limits,
) -> Result<(), MessageError> {
    if media.format.kind() != kind {
        let expected = match kind {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
        };
        return Err(MessageError::WrongMediaKind {
            field,
            expected,
            got: media.format,
        });
    }
    non_empty("media id", &media.media_id)?;
    at_most(
        "media id",
        media.media_id.len(),
        limits.media_id_max_bytes,
        "bytes",
    )?;
    no_control("media id", &media.media_id, false)?;
    if media.bytes == 0 {
        return Err(MessageError::Empty { field });
    }
    let max_bytes = match kind {
        MediaKind::Image => limits.image_max_bytes,
        MediaKind::Voice => limits.voice_max_bytes,
        MediaKind::Video => limits.video_max_bytes,
    };
    if media.bytes > max_bytes {
        return Err(MessageError::TooLong {
            field,
            len: media.bytes,
            max: max_bytes,
            unit: "bytes",
        });
    }
    if kind == MediaKind::Voice && media.duration_secs > limits.voice_max_secs {
        return Err(MessageError::TooLong {
            field,
            len: u64::from(media.duration_secs),
            max: u64::from(limits.voice_max_secs),
            unit: "seconds",
        });
    }
    Ok(())
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A required field is empty or only whitespace, or a media file's declared size is 0.
    #[error("{field} is empty")]
    Empty {
        /// The field: `"text"`, `"title"`, `"body"`, `"media id"`, or a media file by its
        /// role (`"image"`, `"voice"`, `"video"`, `"cover"`).
        field: &'static str,
    },
    /// A field or a media file is over its limit in [`Limits`].
    #[error("{field} is {len} {unit}, over the limit of {max}")]
    TooLong {
        /// The field: `"text"`, `"title"`, `"summary"`, `"body"`, `"video title"`,
        /// `"video description"`, `"media id"`, or a media file by its role (`"image"`,
        /// `"voice"`, `"video"`, `"cover"`).
        field: &'static str,
        /// Its length, in `unit`.
        len: u64,
        /// The limit, in `unit`.
        max: u64,
        /// `"bytes"`, `"characters"` or `"seconds"`.
        unit: &'static str,
    },
    /// A media file is of the wrong kind, e.g. an MP3 as an image or as an article's cover.
    #[error("{field} must be {expected} media, got a {got:?} file")]
    WrongMediaKind {
        /// The media's role: `"image"`, `"voice"`, `"video"` or `"cover"`.
        field: &'static str,
        /// The kind it must be: `"image"`, `"voice"` or `"video"`.
        expected: &'static str,
        /// The file's format.
        got: MediaFormat,
    },
    /// A field holds a control character. Text, an article's body and a video's caption may
    /// hold line breaks (`\n`, `\r`) and tabs; other fields hold none.
    #[error("{field} contains a control character")]
    ControlCharacter {
        /// The field: `"text"`, `"title"`, `"summary"`, `"body"`, `"video title"`,
        /// `"video description"` or `"media id"`.
        field: &'static str,
    },
}
