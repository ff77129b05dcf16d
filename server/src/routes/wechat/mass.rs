//! Mass sending: `message/mass/sendall`, `send`, `preview`, `delete`, `get`, and
//! `speed/get|set`.
//!
//! A WeChat `msg_id` is herald's job id: `(account << 32) | seq`, so it names its account
//! and a `msg_id` of another account is refused (40059) without a lookup. `msg_data_id`
//! (the article's id for statistics) is the same number for `mpnews` sends.

use super::codes;
use super::message;
use super::reply::{WxError, WxResult, account, data, flag, json_body, string, success, uint};
use super::state::{Sending, Wx, WxState};
use crate::app::{Shared, blocking};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use herald::{AccountId, Audience, JobId, JobStatus, Message, OpenId, SendRequest, Seq, TagId};
use serde_json::{Map, Value, json};

/// The WeChat `msg_id` of a job.
pub fn msg_id(job: JobId) -> u64 {
    u64::from(job.account.0) << 32 | u64::from(job.seq.0)
}

/// The job a `msg_id` names, if it is one of `account`'s.
fn job_of(account: u32, body: &Map<String, Value>) -> Result<JobId, WxError> {
    let id = uint(body.get("msg_id")).ok_or_else(|| {
        if body.contains_key("url") {
            WxError::new(
                40059,
                "invalid msg id: herald deletes by msg_id only, not by url",
            )
        } else {
            WxError::new(40059, "invalid msg id: msg_id missing")
        }
    })?;
    if id >> 32 != u64::from(account) {
        return Err(WxError::new(
            40059,
            "invalid msg id: not a send of this account",
        ));
    }
    Ok(JobId {
        account: AccountId(account),
        seq: Seq(id as u32),
    })
}

/// One OpenID of `account`, WeChat-shaped.
fn open_id(wx: &WxState, account: u32, value: &Value) -> Result<OpenId, WxError> {
    let text = value
        .as_str()
        .ok_or_else(|| WxError::new(40003, format!("invalid openid {value}")))?;
    wx.openids
        .decode(account, text)
        .map_err(|e| WxError::new(40003, e.to_string()))
}

/// Accepts a broadcast: `message` to `audience`, with the body's `clientmsgid` and
/// `send_ignore_reprint`.
async fn submit(
    state: &Shared,
    wx: &WxState,
    account: u32,
    body: &Map<String, Value>,
    message: (Message, bool),
    audience: Audience,
) -> WxResult {
    let (message, is_news) = message;
    let ignore_reprint = flag(body.get("send_ignore_reprint"))?.unwrap_or(false);
    let key = string(body.get("clientmsgid")).filter(|k| !k.is_empty());
    let max = state.engine.config().limits.idempotency_key_max_bytes;
    if let Some(k) = &key
        && k.len() > max
    {
        return Err(WxError::new(
            45067,
            format!(
                "clientmsgid size out of limit: {} bytes, at most {max}",
                k.len()
            ),
        ));
    }
    let _claim = match &key {
        Some(k) => Some(Sending::claim(wx, account, k).ok_or_else(|| {
            WxError::new(
                45066,
                "same clientmsgid retry too fast: a send with it is being accepted",
            )
        })?),
        None => None,
    };
    let window = state.engine.config().limits.idempotency_window_ms;
    let now = state.engine.now_ms();
    let repeated = |job: JobId| {
        let id = msg_id(job);
        let mut fields = json!({"msg_id": id});
        if is_news {
            fields["msg_data_id"] = json!(id);
        }
        let mut err = WxError::new(
            45065,
            "clientmsgid exist: a send with this clientmsgid was accepted in the last 24 hours",
        );
        err.extra = fields.as_object().cloned();
        err
    };
    if let Some(k) = &key
        && let Some(job) = wx.sent_key(account, k, now, window)
    {
        return Err(repeated(job));
    }
    let mut request = SendRequest::new(message, audience);
    if let Some(k) = &key {
        request = request.idempotency_key(k.clone());
    }
    if ignore_reprint {
        request = request.continue_as_reprint();
    }
    let started = std::time::Instant::now();
    let job = state.engine.send_async(AccountId(account), request).await;
    crate::metrics::send_accepted(started.elapsed(), job.is_ok());
    let job = job.map_err(|e| codes::send(&e))?;
    if let Some(k) = key {
        // The engine answers a repeated key with the earlier send: one accepted before
        // this request began (before a restart, since this process has not seen the key).
        let earlier = job.report().accepted_at_ms < now;
        wx.record_key(account, k, job.id(), now, window);
        if earlier {
            return Err(repeated(job.id()));
        }
    }
    let id = msg_id(job.id());
    let mut fields = json!({"msg_id": id});
    if is_news {
        fields["msg_data_id"] = json!(id);
    }
    if let Some(notifier) = &wx.notifier {
        notifier.track(job.id());
    }
    success("send job submission success", fields)
}

/// `POST message/mass/sendall {filter:{is_to_all,tag_id}, msgtype, <type>, clientmsgid,
/// send_ignore_reprint}` → `{msg_id, msg_data_id}`.
pub async fn sendall(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let filter = match body.get("filter") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(f)) => f.clone(),
        Some(_) => return Err(WxError::bad_json("filter must be an object")),
    };
    let audience = if flag(filter.get("is_to_all"))?.unwrap_or(false) {
        Audience::All
    } else {
        // `group_id`: the same field before tags replaced groups.
        let tag = filter
            .get("tag_id")
            .or_else(|| filter.get("group_id"))
            .ok_or_else(|| WxError::new(45159, "invalid tag id: tag_id missing"))?;
        let tag = uint(Some(tag))
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| WxError::new(45159, format!("invalid tag id {tag}")))?;
        Audience::Tag(TagId(tag))
    };
    let message = message::build(&body, account, &wx.media)?;
    submit(&state, &wx, account, &body, message, audience).await
}

/// `POST message/mass/send {touser:[openid..], msgtype, <type>, clientmsgid,
/// send_ignore_reprint}` → `{msg_id, msg_data_id}`; 2 to 10,000 OpenIDs.
pub async fn send(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let list = body
        .get("touser")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            WxError::new(
                40130,
                "invalid openid list size, at least two openid: touser must be a list",
            )
        })?;
    let limits = &state.engine.config().limits;
    if list.len() < limits.openid_list_min || list.len() > limits.openid_list_max {
        return Err(WxError::new(
            40130,
            format!(
                "invalid openid list size, at least two openid: {} given, {} to {} taken",
                list.len(),
                limits.openid_list_min,
                limits.openid_list_max
            ),
        ));
    }
    // Up to 10,000 MAC checks: on the blocking pool.
    let (ids, wx) = {
        let list = list.clone();
        tokio::task::spawn_blocking(move || {
            let ids = list
                .iter()
                .map(|v| open_id(&wx, account, v))
                .collect::<Result<Vec<_>, _>>();
            (ids, wx)
        })
        .await
        .map_err(WxError::system)?
    };
    let ids = ids?;
    let message = message::build(&body, account, &wx.media)?;
    submit(&state, &wx, account, &body, message, Audience::OpenIds(ids)).await
}

/// `POST message/mass/preview {touser, msgtype, <type>}` → `{msg_id}`: to one follower.
pub async fn preview(
    State(state): State<Shared>,
    Wx(wx): Wx,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let to = match body.get("touser") {
        Some(v) => open_id(&wx, account, v)?,
        None if body.contains_key("towxname") => {
            return Err(WxError::new(
                40132,
                "invalid username: herald previews to an OpenID (touser), not to a WeChat ID",
            ));
        }
        None => return Err(WxError::new(40003, "invalid openid: touser missing")),
    };
    let (message, _) = message::build(&body, account, &wx.media)?;
    let job = blocking(&state, move |e| {
        Ok(e.preview(AccountId(account), to, message))
    })
    .await
    .map_err(|e| WxError::system(e.message))?
    .map_err(|e| codes::send(&e))?;
    success("preview success", json!({"msg_id": msg_id(job.id())}))
}

/// `POST message/mass/delete {msg_id, article_idx}` → ok: the send's article or video is
/// withdrawn (its readers get a tombstone). Deleting again is ok.
pub async fn delete(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let job = job_of(account, &body)?;
    match body.get("article_idx") {
        None | Some(Value::Null) => {}
        idx => match uint(idx) {
            Some(0 | 1) => {}
            _ => {
                return Err(WxError::new(
                    40060,
                    "invalid article_idx: herald's articles are single (0 or 1)",
                ));
            }
        },
    }
    let result = blocking(&state, move |e| Ok(e.retract(job)))
        .await
        .map_err(|e| WxError::system(e.message))?;
    match result {
        Ok(()) | Err(herald::RetractError::AlreadyRetracted(_)) => success("ok", json!({})),
        Err(e) => Err(codes::retract(&e)),
    }
}

/// WeChat's `msg_status` words.
fn status_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued | JobStatus::Sending => "SENDING",
        JobStatus::Done => "SEND_SUCCESS",
        JobStatus::Retracted => "DELETE",
        _ => "SEND_FAIL",
    }
}

/// `POST message/mass/get {msg_id}` → `{msg_id, msg_status}`.
pub async fn get(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let id = job_of(account, &body)?;
    let job = state
        .engine
        .job(id)
        .ok_or_else(|| WxError::new(40059, "invalid msg id: no such send in the history window"))?;
    data(json!({"msg_id": msg_id(id), "msg_status": status_word(job.status())}))
}

/// `POST message/mass/speed/get` → `{speed, realspeed}` (realspeed in ten thousands per
/// minute). An account without a tier (herald's default, unlimited) reports tier 0, the
/// fastest WeChat has.
pub async fn speed_get(State(state): State<Shared>, RawQuery(query): RawQuery) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let profile = blocking(&state, move |e| Ok(e.account_profile(AccountId(account))))
        .await
        .map_err(|e| WxError::system(e.message))?
        .map_err(|e| codes::query(&e))?;
    let tier = profile.speed_tier.unwrap_or(0);
    let per_minute = state
        .engine
        .config()
        .rules
        .speed_tiers_per_minute
        .get(usize::from(tier))
        .copied()
        .unwrap_or(0);
    data(json!({"speed": tier, "realspeed": per_minute / 10_000}))
}

/// `POST message/mass/speed/set {speed: 0..4}` → ok; 45083 out of range, 45084 missing.
pub async fn speed_set(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> WxResult {
    let account = account(&state, query.as_deref())?;
    let body = json_body(body)?;
    let speed = match body.get("speed") {
        None | Some(Value::Null) => return Err(WxError::new(45084, "no speed")),
        v => uint(v)
            .and_then(|s| u8::try_from(s).ok())
            .ok_or_else(|| WxError::new(45083, "speed out of range: 0 to 4"))?,
    };
    blocking(&state, move |e| {
        Ok(e.set_speed_tier(AccountId(account), Some(speed)))
    })
    .await
    .map_err(|e| WxError::system(e.message))?
    .map_err(|e| codes::account(&e))?;
    success("ok", json!({}))
}
