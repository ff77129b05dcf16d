//! Authentication: the admin key, account credentials (appid and secret) and the signed
//! tokens of accounts and users.
//!
//! Nothing per token or per account is stored: an account's appid is `wx` + its id in 8 hex
//! digits + 8 hex digits of an HMAC of it, and its secret is an HMAC of the account id, both
//! under the server's signing key (kept in the data dir), so credentials survive a restart
//! with no table to keep in step with the engine. A token is
//! `<kind>.<id>.<expiry unix secs>.<HMAC-SHA256 hex>`; every token issued stays valid until
//! its expiry, so an old and a new one overlap.

use crate::error::ApiError;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// An account's access token.
    Account(u32),
    /// A user's token (inbox reads).
    User(u32),
}

impl Subject {
    fn prefix(self) -> (&'static str, u32) {
        match self {
            Subject::Account(a) => ("a", a),
            Subject::User(u) => ("u", u),
        }
    }
}

/// Signs and checks tokens and credentials.
pub struct Auth {
    admin_key: String,
    key: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Byte-wise comparison whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "an Authorization: Bearer header is required",
            )
        })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "the Authorization header must be `Bearer <token>`",
            )
        })
}

impl Auth {
    /// `ttl`: the lifetime of tokens issued.
    pub fn new(admin_key: String, key: [u8; 32], ttl: Duration) -> Auth {
        Auth {
            admin_key,
            key,
            ttl,
        }
    }

    /// Token lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // A key of any length is valid for HMAC: `new_from_slice` cannot fail here.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac
    }

    /// Checks the admin key.
    pub fn admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = bearer(headers)?;
        if constant_time_eq(token.as_bytes(), self.admin_key.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "invalid_token",
                "the admin key is not valid",
            ))
        }
    }

    /// An account's appid.
    pub fn appid(&self, account: u32) -> String {
        let tag = self
            .mac(&[b"appid", &account.to_le_bytes()])
            .finalize()
            .into_bytes();
        format!("wx{account:08x}{}", hex::encode(&tag[..4]))
    }

    /// An account's secret.
    pub fn secret(&self, account: u32) -> String {
        let tag = self
            .mac(&[b"secret", &account.to_le_bytes()])
            .finalize()
            .into_bytes();
        hex::encode(&tag[..16])
    }

    /// The account an appid and secret belong to, if they match.
    pub fn account_of(&self, appid: &str, secret: &str) -> Option<u32> {
        let hex_id = appid
            .strip_prefix("wx")
            .filter(|r| r.len() == 16)?
            .get(..8)?;
        let account = u32::from_str_radix(hex_id, 16).ok()?;
        let ok = constant_time_eq(appid.as_bytes(), self.appid(account).as_bytes())
            & constant_time_eq(secret.as_bytes(), self.secret(account).as_bytes());
        ok.then_some(account)
    }

    /// A token for `subject`, valid for the configured lifetime.
    pub fn issue(&self, subject: Subject) -> String {
        self.issue_until(subject, now_secs() + self.ttl.as_secs())
    }

    fn issue_until(&self, subject: Subject, expiry: u64) -> String {
        let (kind, id) = subject.prefix();
        let body = format!("{kind}.{id}.{expiry}");
        let tag = self
            .mac(&[b"token", body.as_bytes()])
            .finalize()
            .into_bytes();
        format!("{body}.{}", hex::encode(tag))
    }

    /// The subject of the request's bearer token: 401 when missing, malformed, forged or
    /// expired.
    pub fn token(&self, headers: &HeaderMap) -> Result<Subject, ApiError> {
        let token = bearer(headers)?;
        self.verify(token, now_secs())
    }

    /// The subject of a token given outside the `Authorization` header (a browser's
    /// WebSocket or EventSource cannot set headers, so the gateway also takes `?token=`).
    pub fn token_str(&self, token: &str) -> Result<Subject, ApiError> {
        self.verify(token, now_secs())
    }

    fn verify(&self, token: &str, now: u64) -> Result<Subject, ApiError> {
        let invalid = || ApiError::unauthorized("invalid_token", "the token is not valid");
        let (body, tag) = token.rsplit_once('.').ok_or_else(invalid)?;
        let tag = hex::decode(tag).map_err(|_| invalid())?;
        self.mac(&[b"token", body.as_bytes()])
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        let mut parts = body.split('.');
        let (kind, id, expiry) = (parts.next(), parts.next(), parts.next());
        let id: u32 = id.and_then(|s| s.parse().ok()).ok_or_else(invalid)?;
        let expiry: u64 = expiry.and_then(|s| s.parse().ok()).ok_or_else(invalid)?;
        if now >= expiry {
            return Err(ApiError::unauthorized(
                "token_expired",
                "the token has expired; get a new one",
            ));
        }
        match kind {
            Some("a") => Ok(Subject::Account(id)),
            Some("u") => Ok(Subject::User(id)),
            _ => Err(invalid()),
        }
    }

    /// The request must carry account `account`'s token: 401 without a valid token, 403
    /// with another account's or a user's.
    pub fn account(&self, headers: &HeaderMap, account: u32) -> Result<(), ApiError> {
        match self.token(headers)? {
            Subject::Account(a) if a == account => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "this token does not give access to account {account}"
            ))),
        }
    }

    /// The request must carry user `user`'s token (403 with anyone else's).
    pub fn user(&self, headers: &HeaderMap, user: u32) -> Result<(), ApiError> {
        match self.token(headers)? {
            Subject::User(u) if u == user => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "this token does not give access to user {user}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new("admin".into(), [7; 32], Duration::from_secs(60))
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let a = auth();
        let t = a.issue_until(Subject::Account(3), 100);
        assert_eq!(a.verify(&t, 99).unwrap(), Subject::Account(3));
        assert_eq!(a.verify(&t, 100).unwrap_err().code, "token_expired");
        let forged = t.replacen("a.3", "a.4", 1);
        assert_eq!(a.verify(&forged, 99).unwrap_err().code, "invalid_token");
        let other = Auth::new("admin".into(), [8; 32], Duration::from_secs(60));
        assert!(other.verify(&t, 99).is_err());
    }

    #[test]
    fn credentials_name_their_account() {
        let a = auth();
        let (appid, secret) = (a.appid(42), a.secret(42));
        assert_eq!(appid.len(), 18);
        assert_eq!(a.account_of(&appid, &secret), Some(42));
        assert_eq!(a.account_of(&appid, &a.secret(41)), None);
        assert_eq!(a.account_of(&a.appid(41), &secret), None);
        assert_eq!(a.account_of("wx", ""), None);
    }
}
