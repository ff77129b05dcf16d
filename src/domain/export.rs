//! The export format: an account's data as JSON Lines (one JSON object per line, UTF-8),
//! written without a JSON library. Every line has a `"type"`; see the README's
//! "Platform rules" section for the fields of each type.

use std::fmt::Write;

use crate::message::{Media, Message};

/// One JSON object, built field by field.
#[derive(Debug, Default)]
pub(crate) struct Obj(String);

impl Obj {
    pub(crate) fn new(kind: &str) -> Obj {
        let mut o = Obj(String::from("{"));
        o.str("type", kind);
        o
    }

    /// An object without a `"type"` field.
    pub(crate) fn plain() -> Obj {
        Obj(String::from("{"))
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        quote(&mut self.0, key);
        self.0.push(':');
    }

    pub(crate) fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.key(key);
        quote(&mut self.0, v);
        self
    }

    pub(crate) fn num(&mut self, key: &str, v: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.0, "{v}");
        self
    }

    pub(crate) fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }

    pub(crate) fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.0.push_str("null");
        self
    }

    /// A value that is already JSON.
    pub(crate) fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.0.push_str(json);
        self
    }

    pub(crate) fn strs<'a>(
        &mut self,
        key: &str,
        vs: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        self.key(key);
        self.0.push('[');
        for (i, v) in vs.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            quote(&mut self.0, v);
        }
        self.0.push(']');
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        let mut s = std::mem::take(&mut self.0);
        s.push('}');
        s
    }
}

/// Appends `s` as a JSON string (RFC 8259 escapes).
pub(crate) fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn media(m: &Media) -> String {
    Obj(String::from("{"))
        .str("media_id", &m.media_id)
        .str("format", &format!("{:?}", m.format).to_lowercase())
        .num("bytes", m.bytes)
        .num("duration_secs", u64::from(m.duration_secs))
        .finish()
}

/// A message as a JSON object: `{"kind": "text"|"image"|"voice"|"video"|"article", ...}`.
pub(crate) fn message(m: &Message) -> String {
    let mut o = Obj(String::from("{"));
    match m {
        Message::Text(t) => o.str("kind", "text").str("text", t),
        Message::Image(x) => o.str("kind", "image").raw("media", &media(x)),
        Message::Voice(x) => o.str("kind", "voice").raw("media", &media(x)),
        Message::Video(v) => o
            .str("kind", "video")
            .raw("media", &media(&v.media))
            .str("title", &v.title)
            .str("description", &v.description),
        Message::Article(a) => o
            .str("kind", "article")
            .str("title", &a.title)
            .str("summary", &a.summary)
            .str("body", &a.body)
            .raw("cover", &media(&a.cover)),
    };
    o.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        quote(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(
            Obj::new("x").num("n", 1).bool("b", true).finish(),
            r#"{"type":"x","n":1,"b":true}"#
        );
    }
}
