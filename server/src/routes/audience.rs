//! The follower graph beyond follows and pages: deleting tags, one follower's tags and
//! monthly count, follow sources (account token), and the accounts a user follows (user
//! token).

use crate::app::{Params, Shared, blocking};
use crate::error::ApiError;
use crate::wire::parse_open_id;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald::{AccountId, TagId, UserId};
use serde_json::{Value, json};

/// `DELETE /v1/accounts/{account}/tags/{tag}` → 204; its followers keep following, its id
/// is never reused.
pub async fn delete_tag(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let Params((account, tag)) = path?;
    state.auth.account(&headers, account)?;
    blocking(&state, move |e| {
        Ok(e.delete_tag(AccountId(account), TagId(tag))?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/accounts/{account}/openids/{open_id}` → `{"open_id","tags":[ids],
/// "broadcasts_this_month"}`: one follower as the account sees it.
pub async fn follower(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, String)>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params((account, open_id)) = path?;
    state.auth.account(&headers, account)?;
    let open_id = parse_open_id(&open_id)?;
    let (tags, month) = blocking(&state, move |e| {
        let a = AccountId(account);
        Ok((e.tags_of(a, open_id)?, e.broadcasts_this_month(a, open_id)?))
    })
    .await?;
    let tags: Vec<u32> = tags.iter().map(|t| t.0).collect();
    Ok(Json(json!({
        "open_id": open_id.to_string(),
        "tags": tags,
        "broadcasts_this_month": month,
    })))
}

/// `GET /v1/accounts/{account}/sources` → `{"sources":[{"source","current","total"}]}`:
/// follows per source (a QR code's scene).
pub async fn sources(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let sources = blocking(&state, move |e| Ok(e.follow_sources(AccountId(account))?)).await?;
    let sources: Vec<Value> = sources
        .iter()
        .map(|s| json!({"source": s.source, "current": s.current, "total": s.total}))
        .collect();
    Ok(Json(json!({"sources": sources})))
}

/// `GET /v1/users/{user}/following` (that user's token) → `{"accounts":[{"account",
/// "name"}]}`: the accounts the user follows.
pub async fn following(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(user) = path?;
    state.auth.user(&headers, user)?;
    let accounts = blocking(&state, move |e| {
        let ids = e.following(UserId(user))?;
        // An account terminated between the two reads is left out.
        Ok(ids
            .into_iter()
            .filter_map(|a| e.account_name(a).ok().map(|name| (a, name)))
            .collect::<Vec<_>>())
    })
    .await?;
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|(a, name)| json!({"account": a.0, "name": name}))
        .collect();
    Ok(Json(json!({"accounts": accounts})))
}

/// `GET /v1/accounts/{account}/followers/{user}` (admin) → `{"account","user","open_id",
/// "following"}`: the OpenID under which the account sees the user (whether or not they
/// follow), for the platform, which knows user ids; accounts only ever see OpenIDs.
pub async fn identity(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params((account, user)) = path?;
    let (open_id, following) = blocking(&state, move |e| {
        let (a, u) = (AccountId(account), UserId(user));
        Ok((e.open_id(a, u)?, e.is_following(a, u)?))
    })
    .await?;
    Ok(Json(json!({
        "account": account,
        "user": user,
        "open_id": open_id.to_string(),
        "following": following,
    })))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowAccount {
    account: u32,
    #[serde(default)]
    source: Option<String>,
}

/// `POST /v1/users/{user}/following {"account","source"}` (that user's token) → 201
/// `{"account","name"}`: the user follows the account themselves (e.g. after scanning a QR
/// code whose scene is `source`).
pub async fn follow(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<crate::app::Body<FollowAccount>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Params(user) = path?;
    state.auth.user(&headers, user)?;
    let crate::app::Body(FollowAccount { account, source }) = body?;
    let name = blocking(&state, move |e| {
        e.follow(AccountId(account), UserId(user), source.as_deref())?;
        Ok(e.account_name(AccountId(account))?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"account": account, "name": name})),
    ))
}

/// `DELETE /v1/users/{user}/following/{account}` (that user's token) → 204: the user
/// unfollows.
pub async fn unfollow(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let Params((user, account)) = path?;
    state.auth.user(&headers, user)?;
    blocking(&state, move |e| {
        Ok(e.unfollow(AccountId(account), UserId(user))?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
