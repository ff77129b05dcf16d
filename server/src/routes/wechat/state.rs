//! What the `/cgi-bin` handlers share besides the server's state: the OpenID codec, the
//! media store, the `clientmsgid`s being sent, and the job-finished notifier.

use super::openid::WxOpenIds;
use super::reply::WxError;
use super::store::MediaStore;
use crate::callback::Notifier;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use herald::JobId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The WeChat API's own state, reached by handlers as an [`axum::Extension`].
#[derive(Debug)]
pub struct WxState {
    /// WeChat-shaped OpenIDs.
    pub openids: WxOpenIds,
    /// Uploaded media and saved articles.
    pub media: MediaStore,
    /// (account, clientmsgid) of sends being accepted right now: a second request with the
    /// same pair meanwhile is refused with 45066 instead of racing the first. Inserted and
    /// removed by the send handlers only.
    pub sending: Mutex<HashSet<(u32, String)>>,
    /// (account, clientmsgid) → the send it named and when (engine milliseconds), for
    /// this process's sends: a repeat is told apart from a new send even within the same
    /// millisecond. The engine's own idempotency window, which survives restarts, backs
    /// it up (see `mass.rs`). Entries older than the window are pruned on insert.
    pub sent_keys: Mutex<HashMap<(u32, String), (JobId, u64)>>,
    /// Job-finished events, when a callback URL is configured.
    pub notifier: Option<Arc<Notifier>>,
}

impl WxState {
    /// The state of a server with `signing_key`, its media in `media`.
    pub fn new(
        signing_key: &[u8; 32],
        media: MediaStore,
        notifier: Option<Arc<Notifier>>,
    ) -> WxState {
        WxState {
            openids: WxOpenIds::new(signing_key),
            media,
            sending: Mutex::default(),
            sent_keys: Mutex::default(),
            notifier,
        }
    }
}

/// The extractor handlers use: the [`WxState`] extension, or errcode -1 if the router was
/// built without it.
#[derive(Debug, Clone)]
pub struct Wx(pub Arc<WxState>);

impl<S: Send + Sync> FromRequestParts<S> for Wx {
    type Rejection = WxError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Wx, WxError> {
        parts
            .extensions
            .get::<Arc<WxState>>()
            .cloned()
            .map(Wx)
            .ok_or_else(|| WxError::system("the WeChat API is not configured on this server"))
    }
}

impl WxState {
    /// The send `key` named within the last `window_ms` before `now`, if this process saw it.
    pub fn sent_key(&self, account: u32, key: &str, now: u64, window_ms: u64) -> Option<JobId> {
        let keys = self.sent_keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(&(account, key.to_string()))
            .filter(|(_, at)| now.saturating_sub(*at) < window_ms)
            .map(|(job, _)| *job)
    }

    /// Records that `key` named `job` at `now`, dropping entries older than the window.
    pub fn record_key(&self, account: u32, key: String, job: JobId, now: u64, window_ms: u64) {
        let mut keys = self.sent_keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= 1024 && keys.len().is_power_of_two() {
            keys.retain(|_, (_, at)| now.saturating_sub(*at) < window_ms);
        }
        keys.insert((account, key), (job, now));
    }
}

/// Holds an (account, clientmsgid) in [`WxState::sending`] until dropped.
#[derive(Debug)]
pub struct Sending<'a> {
    state: &'a WxState,
    key: (u32, String),
}

impl<'a> Sending<'a> {
    /// Claims the pair; `None` if a request with it is being accepted right now.
    pub fn claim(state: &'a WxState, account: u32, key: &str) -> Option<Sending<'a>> {
        let pair = (account, key.to_string());
        let mut sending = state.sending.lock().unwrap_or_else(|p| p.into_inner());
        sending
            .insert(pair.clone())
            .then_some(Sending { state, key: pair })
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.state
            .sending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}
