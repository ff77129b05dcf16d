//! Tags: `tags/create|get|update|delete`, `tags/members/batchtagging|batchuntagging`,
//! `tags/getidlist`. herald's tag ids are the WeChat `id`s (herald has no reserved tags
//! 0, 1 and 2: its first tag is 0).

use super::codes;
use super::reply::{WxError, WxResult, account, data, json_body, string, success, uint};
use super::state::Wx;
use crate::app::{Shared, blocking};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use herald::{AccountId, TagId};
use serde_json::{Map, Value, json};

fn tag_object(body: &Map<String, Value>) -> Result<&Map<String, Value>, WxError> {
    body.get("tag")
        .and_then(Value::as_object)
        .ok_or_else(|| WxError::bad_json("a \"tag\" object is required"))
}

fn tag_id(v: Option<&Value>) -> Result<TagId, WxError> {
    uint(v)
        .and_then(|t| u32::try_from(t).ok())
        .map(TagId)
        .ok_or_else(|| WxError::new(45159, "invalid tag id"))
}

fn name(tag: &Map<String, Value>) -> Result<String, WxError> {
    string(tag.get("name"))
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| WxError::new(45157, "invalid tag name: name missing or empty"))
}

/// `POST tags/create {"tag":{"name"}}` → `{"tag":{"id","name"}}`.
pub async fn create(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let name = name(tag_object(&body)?)?;
    let n = name.clone();
    let id = blocking(&state, move |e| Ok(e.create_tag(AccountId(account), &n)))
        .await
        .map_err(|e| WxError::system(e.message))?
        .map_err(|e| codes::tag(&e))?;
    data(json!({"tag": {"id": id.0, "name": name}}))
}

/// `GET|POST tags/get` → `{"tags":[{"id","name","count"}]}`.
pub async fn get(State(state): State<Shared>, RawQuery(query): RawQuery) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let tags = blocking(&state, move |e| Ok(e.tags(AccountId(account))))
        .await
        .map_err(|e| WxError::system(e.message))?
        .map_err(|e| codes::query(&e))?;
    let tags: Vec<Value> = tags
        .iter()
        .map(|t| json!({"id": t.id.0, "name": t.name, "count": t.followers}))
        .collect();
    data(json!({"tags": tags}))
}

/// `POST tags/update {"tag":{"id","name"}}` → ok.
pub async fn update(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let tag = tag_object(&body)?;
    let (id, name) = (tag_id(tag.get("id"))?, name(tag)?);
    blocking(&state, move |e| {
        Ok(e.rename_tag(AccountId(account), id, &name))
    })
    .await
    .map_err(|e| WxError::system(e.message))?
    .map_err(|e| codes::tag(&e))?;
    success("ok", json!({}))
}

/// `POST tags/delete {"tag":{"id"}}` → ok; the tag's followers keep following.
pub async fn delete(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let id = tag_id(tag_object(&body)?.get("id"))?;
    blocking(&state, move |e| Ok(e.delete_tag(AccountId(account), id)))
        .await
        .map_err(|e| WxError::system(e.message))?
        .map_err(|e| codes::tag(&e))?;
    success("ok", json!({}))
}

async fn retag(
    state: Shared,
    wx: Wx,
    query: Option<String>,
    body: Result<Bytes, BytesRejection>,
    add: bool,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let tag = tag_id(body.get("tagid"))?;
    let list = body
        .get("openid_list")
        .and_then(Value::as_array)
        .ok_or_else(|| WxError::new(40032, "invalid openid list size: openid_list missing"))?;
    let max = state.engine.config().limits.tag_batch_max;
    if list.is_empty() || list.len() > max {
        return Err(WxError::new(
            40032,
            format!(
                "invalid openid list size: {} given, 1 to {max} taken",
                list.len()
            ),
        ));
    }
    let ids = list
        .iter()
        .map(|v| {
            let text = v
                .as_str()
                .ok_or_else(|| WxError::new(40003, format!("invalid openid {v}")))?;
            wx.0.openids
                .decode(account, text)
                .map_err(|e| WxError::new(40003, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    blocking(&state, move |e| {
        Ok(if add {
            e.tag_followers(AccountId(account), tag, &ids)
        } else {
            e.untag_followers(AccountId(account), tag, &ids)
        })
    })
    .await
    .map_err(|e| WxError::system(e.message))?
    .map_err(|e| codes::tag(&e))?;
    success("ok", json!({}))
}

/// `POST tags/members/batchtagging {"openid_list":[..],"tagid"}` → ok; all or nothing, at
/// most 50 OpenIDs.
pub async fn batch_tag(
    State(state): State<Shared>,
    wx: Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    retag(state, wx, query, body, true).await
}

/// `POST tags/members/batchuntagging {"openid_list":[..],"tagid"}` → ok.
pub async fn batch_untag(
    State(state): State<Shared>,
    wx: Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    retag(state, wx, query, body, false).await
}

/// `POST tags/getidlist {"openid"}` → `{"tagid_list":[..]}`.
pub async fn id_list(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let text = string(body.get("openid"))
        .ok_or_else(|| WxError::new(40003, "invalid openid: openid missing"))?;
    let open_id = wx
        .openids
        .decode(account, &text)
        .map_err(|e| WxError::new(40003, e.to_string()))?;
    let tags = blocking(&state, move |e| Ok(e.tags_of(AccountId(account), open_id)))
        .await
        .map_err(|e| WxError::system(e.message))?
        .map_err(|e| codes::query(&e))?;
    let ids: Vec<u32> = tags.iter().map(|t| t.0).collect();
    data(json!({"tagid_list": ids}))
}
