//! Followers: `user/get` (all followers) and `user/tag/get` (a tag's followers), 10,000
//! OpenIDs a page, `next_openid` carrying the pass on.
//!
//! As WeChat does, `next_openid` is the last OpenID of the page (empty on the last page),
//! and a page after the last one answers `count` 0 without `data`; both forms end the
//! loops of wechatpy, EasyWeChat and silenceper/wechat. Pages are in herald's OpenId
//! order and exact at the moment of each call (see `Engine::followers_page`).

use super::codes;
use super::reply::{WxError, WxResult, account, data, json_body, query_param, string};
use super::state::{Wx, WxState};
use crate::app::{Shared, blocking};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use herald::{AccountId, FollowerPage, OpenId, TagId};
use serde_json::{Value, json};
use std::sync::Arc;

/// OpenIDs a page.
const PAGE: usize = 10_000;

fn cursor(wx: &WxState, account: u32, next: Option<String>) -> Result<Option<OpenId>, WxError> {
    match next.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => wx
            .openids
            .decode(account, text)
            .map(Some)
            .map_err(|e| WxError::new(40003, format!("next_openid: {e}"))),
    }
}

fn render(wx: &Arc<WxState>, account: u32, page: &FollowerPage, with_total: bool) -> Value {
    let ids: Vec<String> = page
        .open_ids
        .iter()
        .map(|&o| wx.openids.encode(account, o))
        .collect();
    let next = if page.next.is_some() {
        ids.last().cloned().unwrap_or_default()
    } else {
        String::new()
    };
    let mut v = json!({"count": ids.len(), "next_openid": next});
    if with_total {
        v["total"] = json!(page.total);
    }
    if !ids.is_empty() {
        v["data"] = json!({"openid": ids});
    }
    v
}

/// `GET user/get?next_openid=` → `{"total","count","data":{"openid":[..]},"next_openid"}`.
pub async fn get(State(state): State<Shared>, Wx(wx): Wx, RawQuery(query): RawQuery) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let after = cursor(&wx, account, query_param(query.as_deref(), "next_openid"))?;
    // The page and its 10,000 MACs are computed on the blocking pool.
    let rendered = blocking(&state, move |e| {
        Ok(e.followers_page(AccountId(account), after, PAGE)
            .map(|page| render(&wx, account, &page, true)))
    })
    .await
    .map_err(|e| WxError::system(e.message))?
    .map_err(|e| codes::query(&e))?;
    data(rendered)
}

/// `POST user/tag/get {"tagid","next_openid"}` → `{"count","data":{"openid":[..]},
/// "next_openid"}`.
pub async fn tag_get(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let tag = super::reply::uint(body.get("tagid"))
        .and_then(|t| u32::try_from(t).ok())
        .map(TagId)
        .ok_or_else(|| WxError::new(45159, "invalid tag id"))?;
    let after = cursor(&wx, account, string(body.get("next_openid")))?;
    let rendered = blocking(&state, move |e| {
        Ok(e.tag_followers_page(AccountId(account), tag, after, PAGE)
            .map(|page| render(&wx, account, &page, false)))
    })
    .await
    .map_err(|e| WxError::system(e.message))?
    .map_err(|e| codes::query(&e))?;
    data(rendered)
}
