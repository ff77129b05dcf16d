//! The account side, under the account's access token: tokens, sends, jobs, tags.

use crate::app::{Body, Params, QueryParams, Shared, blocking};
use crate::error::ApiError;
use crate::wire::{ReportJson, SendJson, parse_open_ids};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald::{AccountId, JobId, OpenId, Seq, TagId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    appid: String,
    secret: String,
}

/// `POST /v1/token {"appid","secret"}` → `{"access_token","expires_in"}`. Each call issues
/// a new token; the previous one stays valid for the overlap (5 minutes), older ones die.
pub async fn token(
    State(state): State<Shared>,
    body: Result<Body<Credentials>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Body(Credentials { appid, secret }) = body?;
    let bad = || ApiError::unauthorized("invalid_credentials", "appid or secret is not valid");
    let account = state.auth.account_of(&appid, &secret).ok_or_else(bad)?;
    // A terminated account's credentials no longer give tokens.
    state
        .engine
        .account_name(AccountId(account))
        .map_err(|_| bad())?;
    // A new generation: the previous token stays valid for the overlap only.
    let auth = Arc::clone(&state);
    let (token, expires_in) =
        tokio::task::spawn_blocking(move || auth.auth.issue_account(account, false))
            .await
            .map_err(|e| ApiError::internal(format!("issuing a token failed: {e}")))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(
        json!({"access_token": token, "expires_in": expires_in}),
    ))
}

/// `POST /v1/accounts/{account}/sends` → 202 `{"account","seq","status"}`.
pub async fn send(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<SendJson>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let Body(send) = body?;
    let request = send.into_request()?;
    // Awaits the log's commit without holding a runtime thread.
    let started = std::time::Instant::now();
    let job = state.engine.send_async(AccountId(account), request).await;
    crate::metrics::send_accepted(started.elapsed(), job.is_ok());
    let job = job?;
    Ok((StatusCode::ACCEPTED, Json(crate::wire::accepted(&job))))
}

/// `GET /v1/accounts/{account}/jobs/{seq}` → the job's report.
pub async fn job(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<Json<ReportJson>, ApiError> {
    let Params((account, seq)) = path?;
    state.auth.account(&headers, account)?;
    let id = JobId {
        account: AccountId(account),
        seq: Seq(seq),
    };
    let job = state.engine.job(id).ok_or_else(|| {
        ApiError::not_found(
            "unknown_job",
            format!("account {account} has no send {seq} in its history window"),
        )
    })?;
    Ok(Json(ReportJson::from(&job.report())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    name: String,
}

/// `POST /v1/accounts/{account}/tags {"name"}` → 201 `{"tag":id}`.
pub async fn create_tag(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<NewTag>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let Body(NewTag { name }) = body?;
    let tag = blocking(
        &state,
        move |e| Ok(e.create_tag(AccountId(account), &name)?),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"tag": tag.0}))))
}

/// `GET /v1/accounts/{account}/tags` → `{"tags":[{"id","name","followers"}]}`.
pub async fn list_tags(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let tags = blocking(&state, move |e| Ok(e.tags(AccountId(account))?)).await?;
    let tags: Vec<Value> = tags
        .iter()
        .map(|t| json!({"id": t.id.0, "name": t.name, "followers": t.followers}))
        .collect();
    Ok(Json(json!({"tags": tags})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    open_ids: Vec<String>,
}

async fn retag(
    state: Shared,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
    body: Result<Body<Members>, ApiError>,
    add: bool,
) -> Result<Json<Value>, ApiError> {
    let Params((account, tag)) = path?;
    state.auth.account(&headers, account)?;
    let Body(Members { open_ids }) = body?;
    let ids = parse_open_ids(&open_ids)?;
    let (account, tag) = (AccountId(account), TagId(tag));
    let changed = blocking(&state, move |e| {
        Ok(if add {
            e.tag_followers(account, tag, &ids)?
        } else {
            e.untag_followers(account, tag, &ids)?
        })
    })
    .await?;
    Ok(Json(json!({"changed": changed})))
}

/// `POST /v1/accounts/{account}/tags/{tag}/members {"open_ids":[..]}` → `{"changed":n}`
/// (how many did not carry the tag yet); all or nothing.
pub async fn tag_members(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
    body: Result<Body<Members>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    retag(state, headers, path, body, true).await
}

/// `POST /v1/accounts/{account}/tags/{tag}/members/delete {"open_ids":[..]}` →
/// `{"changed":n}` (how many carried it); all or nothing.
pub async fn untag_members(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
    body: Result<Body<Members>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    retag(state, headers, path, body, false).await
}

/// `POST /v1/accounts/{account}/jobs/{seq}/retract` → 204: an article or video is withdrawn;
/// readers get a `retracted` tombstone from now on.
pub async fn retract(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let Params((account, seq)) = path?;
    state.auth.account(&headers, account)?;
    let job = JobId {
        account: AccountId(account),
        seq: Seq(seq),
    };
    blocking(&state, move |e| Ok(e.retract(job)?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Speed {
    tier: Option<u8>,
}

/// `PUT /v1/accounts/{account}/speed {"tier":0..4|null}` → `{"tier":..}`: the delivery
/// speed tier of sends accepted from now on (`null`: no limit).
pub async fn set_speed(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<Speed>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let Body(Speed { tier }) = body?;
    blocking(&state, move |e| {
        Ok(e.set_speed_tier(AccountId(account), tier)?)
    })
    .await?;
    Ok(Json(json!({"tier": tier})))
}

/// `GET /v1/accounts/{account}/speed` → `{"tier":..}`.
pub async fn speed(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let profile = blocking(&state, move |e| Ok(e.account_profile(AccountId(account))?)).await?;
    Ok(Json(json!({"tier": profile.speed_tier})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowerQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// Followers per page when `limit` is not given (the platform's page).
const FOLLOWER_PAGE: usize = 10_000;

/// `GET /v1/accounts/{account}/followers?after=OPENID&limit=N` →
/// `{"open_ids":[..],"next":..,"total":n}`, followers in OpenID order.
pub async fn followers(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    query: Result<QueryParams<FollowerQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let QueryParams(q) = query?;
    let after = match q.after.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<OpenId>().map_err(|_| {
            ApiError::bad_request(
                "invalid_open_id",
                format!("{s:?} is not an OpenID (16 hex digits)"),
            )
        })?),
    };
    let limit = q.limit.unwrap_or(FOLLOWER_PAGE);
    let page = blocking(&state, move |e| {
        Ok(e.followers_page(AccountId(account), after, limit)?)
    })
    .await?;
    let open_ids: Vec<String> = page.open_ids.iter().map(ToString::to_string).collect();
    Ok(Json(json!({
        "open_ids": open_ids,
        "next": page.next.map(|o| o.to_string()),
        "total": page.total,
    })))
}
