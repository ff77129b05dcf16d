//! Authentication: the admin key, account credentials (appid and secret) and the signed
//! tokens of accounts and users.
//!
//! Nothing per token or per account is stored: an account's appid is `wx` + its id in 8 hex
//! digits + 8 hex digits of an HMAC of it, and its secret is an HMAC of the account id, both
//! under the server's signing key (kept in the data dir), so credentials survive a restart
//! with no table to keep in step with the engine.
//!
//! A user token is `u.<id>.<expiry unix secs>.<HMAC-SHA256 hex>` and stays valid until its
//! expiry. An account (access) token is `a.<id>.<generation>.<expiry>.<HMAC-SHA256 hex>`:
//! besides its MAC and expiry it must name a live generation of the account's tokens in the
//! [`TokenTable`] (`tokens.rs`): a new token leaves the previous one valid for the overlap
//! (5 minutes by default) only, as WeChat's access tokens do.

use crate::error::ApiError;
use crate::tokens::{PersistError, TokenTable};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
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
    /// The live generations of account tokens.
    tokens: Arc<TokenTable>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// The current unix time in seconds.
pub fn now_secs() -> u64 {
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
    /// `ttl`: the lifetime of tokens issued. Account tokens use an in-memory generation
    /// table with WeChat's 5-minute overlap until [`with_tokens`](Self::with_tokens).
    pub fn new(admin_key: String, key: [u8; 32], ttl: Duration) -> Auth {
        Auth {
            admin_key,
            key,
            ttl,
            tokens: Arc::new(TokenTable::in_memory(Duration::from_secs(300))),
        }
    }

    /// The same, with account tokens checked against `tokens`.
    pub fn with_tokens(self, tokens: Arc<TokenTable>) -> Auth {
        Auth { tokens, ..self }
    }

    /// A new access token of `account` (a new generation; the previous one stays valid for
    /// the overlap), or with `reuse` the live one if there is one; with its lifetime left
    /// in seconds. Blocks on the table's file in a durable server.
    pub fn issue_account(&self, account: u32, reuse: bool) -> Result<(String, u64), PersistError> {
        let now = now_secs();
        let issued = self.tokens.issue(account, now, self.ttl, reuse)?;
        let body = format!("a.{account}.{}.{}", issued.generation, issued.expires_at);
        Ok((self.sign(body), issued.expires_at.saturating_sub(now)))
    }

    fn sign(&self, body: String) -> String {
        let tag = self
            .mac(&[b"token", body.as_bytes()])
            .finalize()
            .into_bytes();
        format!("{body}.{}", hex::encode(tag))
    }

    /// The subject of a token given as a string (WeChat's `access_token` query parameter;
    /// the gateway's `?token=`, as a browser's WebSocket or EventSource cannot set headers):
    /// as [`token`](Self::token) does for a bearer header.
    pub fn token_str(&self, token: &str) -> Result<Subject, ApiError> {
        self.verify(token, now_secs())
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

    /// A token for `subject`, valid for the configured lifetime. An account token starts a
    /// new generation, as [`issue_account`](Self::issue_account) does (prefer that, which
    /// reports a failure to persist the table; here such a failure is logged and the
    /// returned token is empty, which no check accepts).
    pub fn issue(&self, subject: Subject) -> String {
        match subject {
            Subject::Account(account) => match self.issue_account(account, false) {
                Ok((token, _)) => token,
                Err(e) => {
                    tracing::error!("issuing an access token: {e}");
                    String::new()
                }
            },
            Subject::User(_) => self.issue_until(subject, now_secs() + self.ttl.as_secs()),
        }
    }

    fn issue_until(&self, subject: Subject, expiry: u64) -> String {
        let (kind, id) = subject.prefix();
        self.sign(format!("{kind}.{id}.{expiry}"))
    }

    /// The subject of the request's bearer token: 401 when missing, malformed, forged or
    /// expired.
    pub fn token(&self, headers: &HeaderMap) -> Result<Subject, ApiError> {
        let token = bearer(headers)?;
        self.verify(token, now_secs())
    }

    fn verify(&self, token: &str, now: u64) -> Result<Subject, ApiError> {
        let invalid = || ApiError::unauthorized("invalid_token", "the token is not valid");
        let (body, tag) = token.rsplit_once('.').ok_or_else(invalid)?;
        let tag = hex::decode(tag).map_err(|_| invalid())?;
        self.mac(&[b"token", body.as_bytes()])
            .verify_slice(&tag)
            .map_err(|_| invalid())?;
        let parts: Vec<&str> = body.split('.').collect();
        let number = |s: &str| s.parse::<u64>().ok();
        let expired =
            || ApiError::unauthorized("token_expired", "the token has expired; get a new one");
        match parts.as_slice() {
            ["u", id, expiry] => {
                let id: u32 = id.parse().map_err(|_| invalid())?;
                let expiry = number(expiry).ok_or_else(invalid)?;
                if now >= expiry {
                    return Err(expired());
                }
                Ok(Subject::User(id))
            }
            ["a", id, generation, expiry] => {
                let id: u32 = id.parse().map_err(|_| invalid())?;
                let generation = number(generation).ok_or_else(invalid)?;
                let expiry = number(expiry).ok_or_else(invalid)?;
                if now >= expiry {
                    return Err(expired());
                }
                if !self.tokens.is_valid(id, generation, expiry, now) {
                    return Err(ApiError::unauthorized(
                        "token_replaced",
                        "a newer access token replaced this one; get a new one",
                    ));
                }
                Ok(Subject::Account(id))
            }
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
        let t = a.issue_until(Subject::User(3), 100);
        assert_eq!(a.verify(&t, 99).unwrap(), Subject::User(3));
        assert_eq!(a.verify(&t, 100).unwrap_err().code, "token_expired");
        let forged = t.replacen("u.3", "u.4", 1);
        assert_eq!(a.verify(&forged, 99).unwrap_err().code, "invalid_token");
        let other = Auth::new("admin".into(), [8; 32], Duration::from_secs(60));
        assert!(other.verify(&t, 99).is_err());
    }

    #[test]
    fn account_tokens_need_a_live_generation() {
        let a = auth();
        let (t1, ttl) = a.issue_account(3, false).unwrap();
        assert_eq!(ttl, 60);
        assert_eq!(a.token_str(&t1).unwrap(), Subject::Account(3));
        let (t2, _) = a.issue_account(3, false).unwrap();
        let (t3, _) = a.issue_account(3, false).unwrap();
        // t2 is the previous generation, t1 two back.
        assert_eq!(a.token_str(&t1).unwrap_err().code, "token_replaced");
        assert_eq!(a.token_str(&t2).unwrap(), Subject::Account(3));
        assert_eq!(a.token_str(&t3).unwrap(), Subject::Account(3));
        // Reuse hands the live token out again.
        assert_eq!(a.issue_account(3, true).unwrap().0, t3);
        let forged = t3.replacen("a.3", "a.4", 1);
        assert_eq!(a.token_str(&forged).unwrap_err().code, "invalid_token");
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
