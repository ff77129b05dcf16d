//! Publishing beyond the plain send, under the account's token: previews, scheduled sends,
//! corrections of sent articles and what is known about a sent message.

use crate::app::{Body, Params, Shared, blocking};
use crate::error::ApiError;
use crate::fired::Outcome;
use crate::wire::{JobRef, MessageJson, SendJson, accepted, message_value, parse_open_id};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald::{AccountId, JobHandle, JobId, Message, ScheduleId, SendPurpose, Seq};
use serde::Deserialize;
use serde_json::{Value, json};

/// A message for one follower: a preview, or a reply within the reply window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToFollower {
    open_id: String,
    message: MessageJson,
}

/// The body of a route that sends one message to one follower of the token's account,
/// checked, then `call` on the blocking pool → 202 the job.
pub(crate) async fn to_follower(
    state: Shared,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<ToFollower>, ApiError>,
    call: fn(&herald::Engine, AccountId, herald::OpenId, Message) -> Result<JobHandle, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let Body(ToFollower { open_id, message }) = body?;
    let open_id = parse_open_id(&open_id)?;
    let message = message.into_message()?;
    let job = blocking(&state, move |e| {
        call(e, AccountId(account), open_id, message)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted(&job))))
}

/// `POST /v1/accounts/{account}/previews {"open_id","message"}` → 202 the job: the message
/// goes to that one follower only, to check it before broadcasting.
pub async fn preview(
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
        |e, account, open_id, message| Ok(e.preview(account, open_id, message)?),
    )
    .await
}

/// A scheduled send's body: a send's fields and `due_ms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// When to send, in ms since the Unix epoch (after now).
    due_ms: u64,
    message: MessageJson,
    audience: crate::wire::AudienceJson,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    open_for_reprint: bool,
    #[serde(default)]
    reprint_of: Option<JobRef>,
    #[serde(default)]
    continue_as_reprint: bool,
}

/// `POST /v1/accounts/{account}/schedules {"due_ms",…a send's fields}` → 201
/// `{"schedule","due_ms"}`. Checked now; the audience is fixed and the send limits applied
/// when it fires (the server looks for due sends every second).
pub async fn schedule(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<NewSchedule>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let Body(s) = body?;
    let due_ms = s.due_ms;
    let request = SendJson {
        message: s.message,
        audience: s.audience,
        idempotency_key: s.idempotency_key,
        open_for_reprint: s.open_for_reprint,
        reprint_of: s.reprint_of,
        continue_as_reprint: s.continue_as_reprint,
    }
    .into_request()?;
    let id = blocking(&state, move |e| {
        Ok(e.schedule(AccountId(account), request, due_ms)?)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"schedule": id.0, "due_ms": due_ms})),
    ))
}

/// `GET /v1/accounts/{account}/schedules` → `{"schedules":[{"schedule","due_ms",…the
/// send}]}`: the sends not fired yet, by id.
pub async fn schedules(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    state.auth.account(&headers, account)?;
    let pending = blocking(&state, move |e| Ok(e.scheduled(AccountId(account))?)).await?;
    let list: Vec<Value> = pending
        .iter()
        .map(|s| {
            let mut v = SendJson::request_value(&s.request);
            v["schedule"] = json!(s.id.0);
            v["due_ms"] = json!(s.due_ms);
            v
        })
        .collect();
    Ok(Json(json!({"schedules": list})))
}

/// `GET /v1/accounts/{account}/schedules/{schedule}` → `{"schedule","state":"pending",
/// "due_ms",…the send}`, `{"schedule","state":"fired","job":{"account","seq"}}` or
/// `{"schedule","state":"refused","error":{"code","message"}}`. Fired and refused sends are
/// known from the server's own record (since it started); anything else is
/// `unknown_schedule`.
pub async fn schedule_status(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params((account, id)) = path?;
    state.auth.account(&headers, account)?;
    let pending = blocking(&state, move |e| Ok(e.scheduled(AccountId(account))?)).await?;
    // Pending first: a send refused for a passing reason stays scheduled and is retried.
    if let Some(s) = pending.iter().find(|s| s.id.0 == id) {
        let mut v = SendJson::request_value(&s.request);
        v["schedule"] = json!(id);
        v["state"] = json!("pending");
        v["due_ms"] = json!(s.due_ms);
        return Ok(Json(v));
    }
    match state.fired.get(account, id) {
        Some(Outcome::Sent(seq)) => Ok(Json(json!({
            "schedule": id,
            "state": "fired",
            "job": {"account": account, "seq": seq},
        }))),
        Some(Outcome::Refused { code, message }) => Ok(Json(json!({
            "schedule": id,
            "state": "refused",
            "error": {"code": code, "message": message},
        }))),
        None => Err(ApiError::not_found(
            "unknown_schedule",
            format!(
                "account {account} has no pending schedule {id}, and none fired as {id} since the server started"
            ),
        )),
    }
}

/// `DELETE /v1/accounts/{account}/schedules/{schedule}` → 204: cancelled before it fired.
pub async fn cancel_schedule(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let Params((account, id)) = path?;
    state.auth.account(&headers, account)?;
    blocking(&state, move |e| {
        Ok(e.cancel_schedule(AccountId(account), ScheduleId(id))?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn purpose_name(p: SendPurpose) -> &'static str {
    match p {
        SendPurpose::Broadcast => "broadcast",
        SendPurpose::Preview => "preview",
        SendPurpose::Reply => "reply",
    }
}

fn job_id(account: u32, seq: u32) -> JobId {
    JobId {
        account: AccountId(account),
        seq: Seq(seq),
    }
}

fn message_info(info: &herald::ArticleInfo) -> Value {
    json!({
        "account": info.job.account.0,
        "seq": info.job.seq.0,
        "purpose": purpose_name(info.purpose),
        "open_for_reprint": info.open_for_reprint,
        "reprint_of": info.reprint_of.map(|j| JobRef { account: j.account.0, seq: j.seq.0 }),
        "corrections": info.corrections,
        "retracted": info.retracted,
        "message": message_value(&info.message),
    })
}

/// `GET /v1/accounts/{account}/jobs/{seq}/message` → the message as readers get it now
/// (corrected, if it was), its purpose, reprint attribution, corrections and retraction.
pub async fn message(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params((account, seq)) = path?;
    state.auth.account(&headers, account)?;
    let info = blocking(&state, move |e| Ok(e.article(job_id(account, seq))?)).await?;
    Ok(Json(message_info(&info)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    body: String,
}

/// `POST /v1/accounts/{account}/jobs/{seq}/correction {"body"}` → 200 the message as
/// readers get it from now on. Only an article's body may change, by at most 10 characters
/// (the engine's rule), once.
pub async fn correct(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<(u32, u32)>, ApiError>,
    body: Result<Body<Correction>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params((account, seq)) = path?;
    state.auth.account(&headers, account)?;
    let Body(Correction { body }) = body?;
    let job = job_id(account, seq);
    let info = blocking(&state, move |e| {
        // The title, summary and cover never change: they are taken from the article as
        // readers get it now, so a correction names only its new body.
        let current = e.article(job)?;
        let Message::Article(article) = &*current.message else {
            return Err(ApiError::bad_request(
                "not_an_article",
                "only articles can be corrected",
            ));
        };
        let mut corrected = article.clone();
        corrected.body = body;
        e.correct_article(job, corrected)?;
        Ok(e.article(job)?)
    })
    .await?;
    Ok(Json(message_info(&info)))
}
