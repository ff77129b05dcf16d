//! `token` and `stable_token`: appid and secret → access token.
//!
//! Both use the server's token generation table (`tokens.rs`), shared with `/v1/token`:
//! `token` always starts a new generation (the previous token stays valid for the overlap,
//! 5 minutes by default); `stable_token` returns the live token again until it expires,
//! and starts a new generation only with `force_refresh`.

use super::reply::{WxError, WxResult, data, flag, json_body, query_param, string};
use crate::app::Shared;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use herald::AccountId;
use serde_json::json;
use std::sync::Arc;

/// Checks the credentials; the account they name.
fn authenticate(
    state: &Shared,
    grant_type: Option<&str>,
    appid: Option<&str>,
    secret: Option<&str>,
) -> Result<u32, WxError> {
    match grant_type {
        Some("client_credential") => {}
        None | Some("") => {
            return Err(WxError::new(
                40002,
                "invalid grant_type: grant_type missing",
            ));
        }
        Some(_) => return Err(WxError::new(40002, "invalid grant_type")),
    }
    let appid = appid
        .filter(|a| !a.is_empty())
        .ok_or_else(|| WxError::new(41002, "appid missing"))?;
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or_else(|| WxError::new(41004, "appsecret missing"))?;
    let invalid_appid = || WxError::new(40013, "invalid appid");
    // `wx` + 8 hex digits of the account + 8 of a MAC (see `auth.rs`).
    let account = appid
        .strip_prefix("wx")
        .filter(|r| r.len() == 16)
        .and_then(|r| r.get(..8))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .filter(|&a| state.auth.appid(a) == appid)
        .ok_or_else(invalid_appid)?;
    // A terminated (or never registered) account has no valid appid.
    state
        .engine
        .account_name(AccountId(account))
        .map_err(|_| invalid_appid())?;
    state.auth.account_of(appid, secret).ok_or_else(|| {
        WxError::new(
            40001,
            "invalid credential, access_token is invalid or not latest: wrong appsecret",
        )
    })
}

async fn issue(state: &Shared, account: u32, reuse: bool) -> WxResult {
    let shared = Arc::clone(state);
    let (token, expires_in) =
        tokio::task::spawn_blocking(move || shared.auth.issue_account(account, reuse))
            .await
            .map_err(WxError::system)?
            .map_err(WxError::system)?;
    data(json!({"access_token": token, "expires_in": expires_in}))
}

/// `GET /cgi-bin/token?grant_type=client_credential&appid=APPID&secret=APPSECRET` →
/// `{"access_token","expires_in":7200}` (POST with the same query too).
pub async fn token(State(state): State<Shared>, RawQuery(query): RawQuery) -> WxResult {
    let q = query.as_deref();
    let account = authenticate(
        &state,
        query_param(q, "grant_type").as_deref(),
        query_param(q, "appid").as_deref(),
        query_param(q, "secret").as_deref(),
    )?;
    issue(&state, account, false).await
}

/// `POST /cgi-bin/stable_token {"grant_type","appid","secret","force_refresh"}` →
/// `{"access_token","expires_in"}`: the live token while it lasts, a new one with
/// `force_refresh`.
pub async fn stable_token(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let body = json_body(body)?;
    let force = flag(body.get("force_refresh"))?.unwrap_or(false);
    let account = authenticate(
        &state,
        string(body.get("grant_type")).as_deref(),
        string(body.get("appid")).as_deref(),
        string(body.get("secret")).as_deref(),
    )?;
    issue(&state, account, !force).await
}
