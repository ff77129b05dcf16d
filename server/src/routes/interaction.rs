//! Interaction: a follower writes to an account (user token); the account reads those
//! messages, replies within the reply window and keeps keyword auto-replies (account
//! token).

use crate::app::{Body, Params, QueryParams, Shared, blocking};
use crate::error::ApiError;
use crate::routes::publishing::{ToFollower, to_follower};
use crate::wire::{MessageJson, accepted, message_value};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald::{AccountId, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToAccount {
    account: u32,
    message: MessageJson,
}

/// `POST /v1/users/{user}/messages {"account","message"}` (that user's token) → 201
/// `{"auto_reply":job|null}`: the user, a follower, writes to the account; a text holding
/// one of the account's keywords is answered at once by its auto-reply.
pub async fn message_account(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<ToAccount>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Params(user) = path?;
    state.auth.user(&headers, user)?;
    let Body(ToAccount { account, message }) = body?;
    let message = message.into_message()?;
    let auto = blocking(&state, move |e| {
        Ok(e.message_account(UserId(user), AccountId(account), message)?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"auto_reply": auto.as_ref().map(accepted)})),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundQuery {
    #[serde(default)]
    limit: Option<usize>,
}

/// Follower messages per read when `limit` is not given.
const INBOUND_PAGE: usize = 100;

/// `GET /v1/accounts/{account}/inbound?limit=N` → `{"messages":[{"open_id","at_ms",
/// "message"}]}`: the latest follower messages the account keeps, oldest first.
pub async fn inbound(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    query: Result<QueryParams<InboundQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let QueryParams(q) = query?;
    let limit = q.limit.unwrap_or(INBOUND_PAGE);
    if limit == 0 {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be at least 1",
        ));
    }
    let messages = blocking(&state, move |e| {
        Ok(e.follower_messages(AccountId(account), limit)?)
    })
    .await?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "open_id": m.open_id.to_string(),
                "at_ms": m.at_ms,
                "message": message_value(&m.message),
            })
        })
        .collect();
    Ok(Json(json!({"messages": messages})))
}

/// `POST /v1/accounts/{account}/replies {"open_id","message"}` → 202 the job: a message to
/// one follower, allowed within the reply window after their last message.
pub async fn reply(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<ToFollower>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    to_follower(
        state,
        headers,
        path,
        body,
        |e, account, open_id, message| Ok(e.reply(account, open_id, message)?),
    )
    .await
}

/// `GET /v1/accounts/{account}/auto-replies` → `{"auto_replies":[{"keyword","reply"}]}`,
/// in the order they apply.
pub async fn auto_replies(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let rules = blocking(&state, move |e| Ok(e.auto_replies(AccountId(account))?)).await?;
    let rules: Vec<Value> = rules
        .iter()
        .map(|(k, m)| json!({"keyword": k, "reply": message_value(m)}))
        .collect();
    Ok(Json(json!({"auto_replies": rules})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoReply {
    reply: MessageJson,
}

/// `PUT /v1/accounts/{account}/auto-replies/{keyword} {"reply":message}` → 200
/// `{"keyword","reply"}` (replaces an earlier reply for the keyword).
pub async fn set_auto_reply(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, String)>, ApiError>,
    body: Result<Body<AutoReply>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params((account, keyword)) = path?;
    state.auth.account(&headers, account)?;
    let Body(AutoReply { reply }) = body?;
    let reply = reply.into_message()?;
    let answer = json!({"keyword": keyword, "reply": message_value(&reply)});
    blocking(&state, move |e| {
        Ok(e.set_auto_reply(AccountId(account), &keyword, reply)?)
    })
    .await?;
    Ok(Json(answer))
}

/// `DELETE /v1/accounts/{account}/auto-replies/{keyword}` → 204.
pub async fn remove_auto_reply(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, String)>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let Params((account, keyword)) = path?;
    state.auth.account(&headers, account)?;
    blocking(&state, move |e| {
        Ok(e.remove_auto_reply(AccountId(account), &keyword)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
