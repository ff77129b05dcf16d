//! Access rules shared by the route families: who may call a route beyond the three kinds
//! `Auth` checks alone (admin key, an account's token, a user's token).

use crate::app::Shared;
use crate::error::ApiError;
use axum::http::HeaderMap;

/// The admin key or account `account`'s own token: routes the platform operator and the
/// account's owner both use (profile, registration, storage, export, termination). Without a
/// valid credential 401; another account's or a user's token 403.
pub fn admin_or_account(state: &Shared, headers: &HeaderMap, account: u32) -> Result<(), ApiError> {
    if state.auth.admin(headers).is_ok() {
        return Ok(());
    }
    state.auth.account(headers, account)
}
