//! Platform operations, under the admin key: users, accounts, follows, user tokens.

use crate::app::{Body, Params, Shared, blocking};
use crate::auth::Subject;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald::{AccountId, FollowError, QueryError, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

/// Most users one follow request may name.
pub const MAX_FOLLOWS_PER_REQUEST: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddUsers {
    count: u32,
}

/// `POST /v1/users {"count":N}` → `{"first":u,"count":N}`.
pub async fn add_users(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Body<AddUsers>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Body(AddUsers { count }) = body?;
    if count == 0 {
        return Err(ApiError::bad_request(
            "invalid_count",
            "count must be at least 1",
        ));
    }
    let users = blocking(&state, move |e| Ok(e.add_users(count)?)).await?;
    Ok(Json(
        json!({"first": users.first().0, "count": users.len()}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    name: String,
}

/// `POST /v1/accounts {"name":".."}` → `{"account","appid","secret"}`.
pub async fn register_account(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Body<Register>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.auth.admin(&headers)?;
    let Body(Register { name }) = body?;
    let account = blocking(&state, move |e| Ok(e.register_account(&name)?)).await?;
    tracing::info!(account = account.0, "account registered");
    let a = account.0;
    Ok((
        StatusCode::CREATED,
        Json(json!({"account": a, "appid": state.auth.appid(a), "secret": state.auth.secret(a)})),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Follow {
    users: Vec<u32>,
    #[serde(default)]
    source: Option<String>,
}

/// `POST /v1/accounts/{account}/followers {"users":[..],"source":".."}` → the users'
/// OpenIDs, in order. Checked before anything changes (unknown user, already following,
/// a user named twice); a check passed but a follow refused later (a concurrent follow of
/// the same user, a storage error) leaves the earlier users of the list followed.
pub async fn follow(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<Follow>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(account) = path?;
    let Body(Follow { users, source }) = body?;
    if users.is_empty() || users.len() > MAX_FOLLOWS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "invalid_list_size",
            format!(
                "users must hold 1 to {MAX_FOLLOWS_PER_REQUEST} ids, got {}",
                users.len()
            ),
        ));
    }
    let account = AccountId(account);
    let open_ids = blocking(&state, move |e| {
        let mut seen = std::collections::HashSet::with_capacity(users.len());
        for &u in &users {
            if !seen.insert(u) {
                return Err(ApiError::bad_request(
                    "duplicate_user",
                    format!("user {u} is named twice"),
                ));
            }
            let following = e.is_following(account, UserId(u)).map_err(|q| match q {
                QueryError::UnknownUser(_) => FollowError::UnknownUser(UserId(u)).into(),
                other => ApiError::from(other),
            })?;
            if following {
                return Err(FollowError::AlreadyFollowing {
                    account,
                    user: UserId(u),
                }
                .into());
            }
        }
        if source.is_none() {
            // One log record and one commit for the whole list, not one per user.
            let ids: Vec<UserId> = users.iter().map(|&u| UserId(u)).collect();
            e.follow_many(account, &ids)?;
            return users
                .iter()
                .map(|&u| Ok(e.open_id(account, UserId(u))?.to_string()))
                .collect();
        }
        let mut open_ids = Vec::with_capacity(users.len());
        for u in users {
            open_ids.push(e.follow(account, UserId(u), source.as_deref())?.to_string());
        }
        Ok(open_ids)
    })
    .await?;
    Ok(Json(json!({"open_ids": open_ids})))
}

/// `DELETE /v1/accounts/{account}/followers/{user}` → 204.
pub async fn unfollow(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<StatusCode, ApiError> {
    state.auth.admin(&headers)?;
    let Params((account, user)) = path?;
    blocking(&state, move |e| {
        Ok(e.unfollow(AccountId(account), UserId(user))?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/users/{user}/token` → `{"token","expires_in"}`.
pub async fn user_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(user) = path?;
    if u64::from(user) >= state.engine.user_count() {
        return Err(ApiError::not_found(
            "unknown_user",
            format!("unknown user {user}"),
        ));
    }
    let token = state.auth.issue(Subject::User(user));
    Ok(Json(
        json!({"token": token, "expires_in": state.auth.ttl_secs()}),
    ))
}
