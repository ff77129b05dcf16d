//! The user side, under a user token: the inbox.

use crate::app::{Params, QueryParams, Shared, blocking};
use crate::auth::Subject;
use crate::error::ApiError;
use crate::wire::ItemJson;
use crate::wire::MessageJson;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use herald::{AccountId, Seq, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

/// Entries per fetch when `limit` is not given.
const DEFAULT_LIMIT: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    cursor: u64,
    #[serde(default)]
    limit: Option<usize>,
}

async fn fetch(state: Shared, user: u32, page: Page) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    let fetched = blocking(&state, move |e| {
        Ok(e.fetch(UserId(user), page.cursor, limit)?)
    })
    .await?;
    let items: Vec<ItemJson> = fetched.items.iter().map(ItemJson::from).collect();
    let missed_from: Vec<Value> = fetched
        .missed_from
        .iter()
        .map(|(a, s)| json!({"account": a.0, "seq": s.0}))
        .collect();
    Ok(Json(json!({
        "items": items,
        "next_cursor": fetched.next_cursor,
        "missed": fetched.missed,
        "missed_from": missed_from,
    })))
}

/// `GET /v1/users/{user}/inbox?cursor=C&limit=L`, with that user's token.
pub async fn inbox(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    query: Result<QueryParams<Page>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(user) = path?;
    state.auth.user(&headers, user)?;
    let QueryParams(page) = query?;
    fetch(state, user, page).await
}

/// `GET /v1/inbox?cursor=C&limit=L`: the inbox of the token's user.
pub async fn own_inbox(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<QueryParams<Page>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let user = match state.auth.token(&headers)? {
        Subject::User(u) => u,
        Subject::Account(_) => {
            return Err(ApiError::forbidden(
                "an account token has no inbox; use a user token",
            ));
        }
    };
    let QueryParams(page) = query?;
    fetch(state, user, page).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    account: u32,
    #[serde(default)]
    after: u32,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/users/{user}/recover?account=A&after=S&limit=L`, with that user's token: the
/// messages account A sent to the user after sequence S, from the account's history (what
/// a fetch reported in `missed_from`).
pub async fn recover(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    query: Result<QueryParams<Recover>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(user) = path?;
    state.auth.user(&headers, user)?;
    let QueryParams(q) = query?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let recovered = blocking(&state, move |e| {
        Ok(e.recover(AccountId(q.account), UserId(user), Seq(q.after), limit)?)
    })
    .await?;
    let messages: Vec<Value> = recovered
        .messages
        .iter()
        .map(|(seq, m)| match MessageJson::from_message(m) {
            Some(message) => json!({"seq": seq.0, "message": message}),
            None => json!({"seq": seq.0, "message": null}),
        })
        .collect();
    Ok(Json(json!({
        "account": q.account,
        "messages": messages,
        "oldest_available": recovered.oldest_available.map(|s| s.0),
    })))
}
