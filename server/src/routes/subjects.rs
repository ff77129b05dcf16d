//! Subjects and the lifecycle of accounts: subjects and their quotas, registration under a
//! subject, an account's profile and registration information, verification, violations
//! and bans, termination.

use crate::app::{Body, Params, Shared, blocking};
use crate::error::ApiError;
use crate::routes::guard::admin_or_account;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use herald::{
    AccountId, AccountKind, AccountProfile, Ban, Category, Registration, SubjectId, SubjectInfo,
    SubjectKind,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Category names, in the form the API uses.
const CATEGORIES: [(&str, Category); 5] = [
    ("government", Category::Government),
    ("media", Category::Media),
    ("enterprise", Category::Enterprise),
    ("individual", Category::Individual),
    ("other", Category::Other),
];

fn subject_kind(name: &str) -> Result<SubjectKind, ApiError> {
    match name {
        "individual" => Ok(SubjectKind::Individual),
        "organization" => Ok(SubjectKind::Organization),
        other => Err(ApiError::bad_request(
            "invalid_kind",
            format!("kind {other:?} is neither \"individual\" nor \"organization\""),
        )),
    }
}

fn subject_kind_name(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::Individual => "individual",
        SubjectKind::Organization => "organization",
    }
}

fn account_kind(name: &str) -> Result<AccountKind, ApiError> {
    match name {
        "subscription" => Ok(AccountKind::Subscription),
        "service" => Ok(AccountKind::Service),
        other => Err(ApiError::bad_request(
            "invalid_kind",
            format!("kind {other:?} is neither \"subscription\" nor \"service\""),
        )),
    }
}

fn account_kind_name(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Subscription => "subscription",
        AccountKind::Service => "service",
    }
}

/// Registration information: `{"region","category","contact"}`; each may be absent (the
/// account is then restricted until it is completed).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationJson {
    #[serde(default)]
    region: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    contact: String,
}

impl RegistrationJson {
    fn into_registration(self) -> Result<Registration, ApiError> {
        let category = match self.category.as_deref() {
            None => None,
            Some(name) => Some(
                CATEGORIES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, c)| *c)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_registration",
                            format!(
                                "category {name:?} is not one of government, media, enterprise, individual, other"
                            ),
                        )
                    })?,
            ),
        };
        Ok(Registration {
            region: self.region,
            category,
            contact: self.contact,
        })
    }
}

fn registration_value(r: &Registration) -> Value {
    let category = r.category.map(|c| {
        CATEGORIES
            .iter()
            .find(|(_, k)| *k == c)
            .map_or("other", |(n, _)| n)
    });
    json!({"region": r.region, "category": category, "contact": r.contact})
}

/// A ban as JSON: `null`, `{"permanent":true,"until_ms":null}` or
/// `{"permanent":false,"until_ms":n}`.
pub fn ban_value(ban: Option<Ban>) -> Value {
    match ban {
        None => Value::Null,
        Some(Ban::Permanent) => json!({"permanent": true, "until_ms": null}),
        Some(Ban::Until(ms)) => json!({"permanent": false, "until_ms": ms}),
    }
}

fn subject_value(s: &SubjectInfo) -> Value {
    let accounts: Vec<u32> = s.accounts.iter().map(|a| a.0).collect();
    json!({
        "subject": s.id.0,
        "name": s.name,
        "kind": subject_kind_name(s.kind),
        "quota": s.quota,
        "accounts": accounts,
    })
}

fn profile_value(p: &AccountProfile) -> Value {
    json!({
        "account": p.id.0,
        "name": p.name,
        "subject": p.subject.map(|s| s.0),
        "kind": p.kind.map(account_kind_name),
        "verified": p.verified,
        "registration": p.registration.as_ref().map(registration_value),
        "missing": p.missing,
        "violations": p.violations,
        "ban": ban_value(p.ban),
        "speed_tier": p.speed_tier,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubject {
    name: String,
    kind: String,
}

/// `POST /v1/subjects {"name","kind"}` (admin) → 201 the subject.
pub async fn create_subject(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Body<NewSubject>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.auth.admin(&headers)?;
    let Body(NewSubject { name, kind }) = body?;
    let kind = subject_kind(&kind)?;
    let info = blocking(&state, move |e| {
        let id = e.create_subject(&name, kind)?;
        Ok(e.subject(id)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(subject_value(&info))))
}

/// `GET /v1/subjects/{subject}` (admin) → the subject: name, kind, quota, live accounts.
pub async fn subject(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(subject) = path?;
    let info = blocking(&state, move |e| Ok(e.subject(SubjectId(subject))?)).await?;
    Ok(Json(subject_value(&info)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    quota: u32,
}

/// `PUT /v1/subjects/{subject}/quota {"quota":n}` (admin): an approved application for a
/// different account limit → the subject.
pub async fn approve_quota(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<Quota>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(subject) = path?;
    let Body(Quota { quota }) = body?;
    let info = blocking(&state, move |e| {
        e.approve_quota(SubjectId(subject), quota)?;
        Ok(e.subject(SubjectId(subject))?)
    })
    .await?;
    Ok(Json(subject_value(&info)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    name: String,
    kind: String,
    #[serde(default)]
    registration: RegistrationJson,
}

/// `POST /v1/subjects/{subject}/accounts {"name","kind","registration"}` (admin) → 201
/// `{"account","appid","secret","missing"}`, within the subject's quota.
pub async fn register_in_subject(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<NewAccount>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.auth.admin(&headers)?;
    let Params(subject) = path?;
    let Body(NewAccount {
        name,
        kind,
        registration,
    }) = body?;
    let kind = account_kind(&kind)?;
    let registration = registration.into_registration()?;
    let missing = registration.missing();
    let account = blocking(&state, move |e| {
        Ok(e.register_in_subject(SubjectId(subject), &name, kind, registration)?)
    })
    .await?;
    tracing::info!(
        account = account.0,
        subject,
        "account registered under a subject"
    );
    let a = account.0;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "account": a,
            "appid": state.auth.appid(a),
            "secret": state.auth.secret(a),
            "missing": missing,
        })),
    ))
}

/// `GET /v1/accounts/{account}` (admin or the account) → its profile.
pub async fn profile(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    admin_or_account(&state, &headers, account)?;
    let p = blocking(&state, move |e| Ok(e.account_profile(AccountId(account))?)).await?;
    Ok(Json(profile_value(&p)))
}

/// `PUT /v1/accounts/{account}/registration {"region","category","contact"}` (admin or the
/// account) → its profile; completing the information lifts the send restriction.
pub async fn update_registration(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<RegistrationJson>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    admin_or_account(&state, &headers, account)?;
    let Body(registration) = body?;
    let registration = registration.into_registration()?;
    let p = blocking(&state, move |e| {
        e.update_registration(AccountId(account), registration)?;
        Ok(e.account_profile(AccountId(account))?)
    })
    .await?;
    Ok(Json(profile_value(&p)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    verified: bool,
}

/// `PUT /v1/accounts/{account}/verification {"verified":bool}` (admin) → its profile.
pub async fn set_verified(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<Verification>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(account) = path?;
    let Body(Verification { verified }) = body?;
    let p = blocking(&state, move |e| {
        e.set_verified(AccountId(account), verified)?;
        Ok(e.account_profile(AccountId(account))?)
    })
    .await?;
    Ok(Json(profile_value(&p)))
}

/// `POST /v1/accounts/{account}/violations` (admin, no body): records a like-collection
/// violation now → 201 `{"violations":n,"ban":..}`, the ban it earned.
pub async fn record_violation(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.auth.admin(&headers)?;
    let Params(account) = path?;
    let (ban, p) = blocking(&state, move |e| {
        let ban = e.record_violation(AccountId(account))?;
        Ok((ban, e.account_profile(AccountId(account))?))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"violations": p.violations, "ban": ban_value(Some(ban))})),
    ))
}

/// `DELETE /v1/accounts/{account}` (admin or the account) → 204: the account and all its
/// data are deleted; its credentials stop giving tokens.
pub async fn terminate(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let Params(account) = path?;
    admin_or_account(&state, &headers, account)?;
    blocking(
        &state,
        move |e| Ok(e.terminate_account(AccountId(account))?),
    )
    .await?;
    tracing::info!(account, "account terminated");
    Ok(StatusCode::NO_CONTENT)
}
