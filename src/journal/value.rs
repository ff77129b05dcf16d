//! The encodings of the domain's values inside log records and snapshots: messages (with
//! their media), registrations and send requests (with audiences and tag expressions). One
//! encoder and one strict decoder per type; every code comes from `codes.rs`.

use crate::domain::audience::{Audience, TagExpr};
use crate::domain::send::SendRequest;
use crate::domain::subject::Registration;
use crate::ids::{AccountId, JobId, OpenId, Seq, TagId};
use crate::journal::codes::{audience_kind, category, media_format, message_kind, tag_expr_node};
use crate::message::{Article, Media, Message, Video};
use crate::store::codec::{DecodeError, Reader, Writer};

/// Most nodes a decoded tag expression may have: bounds the decoder's recursion.
const MAX_DECODED_EXPR_NODES: usize = 4_096;

pub(crate) fn encode_message(w: &mut Writer<'_>, message: &Message) {
    w.u8(message_kind::of(message));
    match message {
        Message::Text(text) => w.str(text),
        Message::Image(m) | Message::Voice(m) => encode_media(w, m),
        Message::Video(v) => {
            encode_media(w, &v.media);
            w.str(&v.title);
            w.str(&v.description);
        }
        Message::Article(a) => {
            w.str(&a.title);
            w.str(&a.summary);
            w.str(&a.body);
            encode_media(w, &a.cover);
        }
    }
}

pub(crate) fn decode_message(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match r.u8()? {
        message_kind::TEXT => Message::Text(r.string()?),
        message_kind::IMAGE => Message::Image(decode_media(r)?),
        message_kind::VOICE => Message::Voice(decode_media(r)?),
        message_kind::VIDEO => Message::Video(Video {
            media: decode_media(r)?,
            title: r.string()?,
            description: r.string()?,
        }),
        message_kind::ARTICLE => Message::Article(Article {
            title: r.string()?,
            summary: r.string()?,
            body: r.string()?,
            cover: decode_media(r)?,
        }),
        code => {
            return Err(DecodeError::UnknownCode {
                what: message_kind::WHAT,
                code,
            });
        }
    })
}

/// A message on its own, as a snapshot stores it.
pub(crate) fn message_bytes(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    encode_message(&mut Writer(&mut out), message);
    out
}

/// A message stored on its own: every byte must belong to it.
pub(crate) fn message_from_bytes(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader(bytes);
    let message = decode_message(&mut r)?;
    r.finish()?;
    Ok(message)
}

pub(crate) fn encode_registration(w: &mut Writer<'_>, r: &Registration) {
    w.str(&r.region);
    w.u8(category::encode(r.category));
    w.str(&r.contact);
}

pub(crate) fn decode_registration(r: &mut Reader<'_>) -> Result<Registration, DecodeError> {
    Ok(Registration {
        region: r.string()?,
        category: category::decode(r.u8()?)?,
        contact: r.string()?,
    })
}

/// A registration on its own, as a snapshot stores it.
pub(crate) fn registration_bytes(registration: &Registration) -> Vec<u8> {
    let mut out = Vec::new();
    encode_registration(&mut Writer(&mut out), registration);
    out
}

pub(crate) fn registration_from_bytes(bytes: &[u8]) -> Result<Registration, DecodeError> {
    let mut r = Reader(bytes);
    let registration = decode_registration(&mut r)?;
    r.finish()?;
    Ok(registration)
}

pub(crate) fn encode_request(w: &mut Writer<'_>, req: &SendRequest) {
    encode_message(w, &req.message);
    w.u8(audience_kind::of(&req.audience));
    match &req.audience {
        Audience::All => {}
        Audience::Tag(t) => w.u32(t.0),
        Audience::Expr(e) => encode_expr(w, e),
        Audience::OpenIds(ids) => {
            w.len(ids.len());
            for id in ids {
                w.u64(id.0);
            }
        }
    }
    w.opt_str(req.idempotency_key.as_deref());
    w.bool(req.open_for_reprint);
    w.bool(req.continue_as_reprint);
    w.opt_pair(req.reprint_of.map(|j| (j.account.0, j.seq.0)));
}

pub(crate) fn decode_request(r: &mut Reader<'_>) -> Result<SendRequest, DecodeError> {
    let message = decode_message(r)?;
    let audience = match r.u8()? {
        audience_kind::ALL => Audience::All,
        audience_kind::TAG => Audience::Tag(TagId(r.u32()?)),
        audience_kind::EXPR => {
            let mut budget = MAX_DECODED_EXPR_NODES;
            Audience::Expr(decode_expr(r, &mut budget)?)
        }
        audience_kind::OPEN_IDS => {
            let n = r.len(8)?;
            Audience::OpenIds(
                (0..n)
                    .map(|_| r.u64().map(OpenId))
                    .collect::<Result<_, _>>()?,
            )
        }
        code => {
            return Err(DecodeError::UnknownCode {
                what: audience_kind::WHAT,
                code,
            });
        }
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

/// A send request on its own, as a snapshot stores a scheduled send.
pub(crate) fn request_bytes(request: &SendRequest) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(&mut Writer(&mut out), request);
    out
}

pub(crate) fn request_from_bytes(bytes: &[u8]) -> Result<SendRequest, DecodeError> {
    let mut r = Reader(bytes);
    let request = decode_request(&mut r)?;
    r.finish()?;
    Ok(request)
}

fn encode_expr(w: &mut Writer<'_>, e: &TagExpr) {
    w.u8(tag_expr_node::of(e));
    match e {
        TagExpr::Tag(t) => w.u32(t.0),
        TagExpr::And(parts) | TagExpr::Or(parts) => {
            w.len(parts.len());
            for p in parts {
                encode_expr(w, p);
            }
        }
        TagExpr::Not(inner) => encode_expr(w, inner),
    }
}

fn decode_expr(r: &mut Reader<'_>, budget: &mut usize) -> Result<TagExpr, DecodeError> {
    *budget = budget
        .checked_sub(1)
        .ok_or(DecodeError::TooLarge("tag expression"))?;
    Ok(match r.u8()? {
        tag_expr_node::TAG => TagExpr::Tag(TagId(r.u32()?)),
        kind @ (tag_expr_node::AND | tag_expr_node::OR) => {
            let n = r.u32()? as usize;
            if n > *budget {
                return Err(DecodeError::TooLarge("tag expression"));
            }
            let parts = (0..n)
                .map(|_| decode_expr(r, budget))
                .collect::<Result<Vec<_>, _>>()?;
            if kind == tag_expr_node::AND {
                TagExpr::And(parts)
            } else {
                TagExpr::Or(parts)
            }
        }
        tag_expr_node::NOT => TagExpr::not(decode_expr(r, budget)?),
        code => {
            return Err(DecodeError::UnknownCode {
                what: tag_expr_node::WHAT,
                code,
            });
        }
    })
}

fn encode_media(w: &mut Writer<'_>, m: &Media) {
    w.str(&m.media_id);
    w.u8(media_format::encode(m.format));
    w.u64(m.bytes);
    w.u32(m.duration_secs);
}

fn decode_media(r: &mut Reader<'_>) -> Result<Media, DecodeError> {
    Ok(Media {
        media_id: r.string()?,
        format: media_format::decode(r.u8()?)?,
        bytes: r.u64()?,
        duration_secs: r.u32()?,
    })
}
