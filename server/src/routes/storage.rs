//! Storage rules and export: an account's usage, retention and quota, and the export of
//! all its data as a JSON Lines download.

use crate::app::{Body, Params, Shared, blocking};
use crate::error::ApiError;
use crate::routes::guard::admin_or_account;
use axum::Json;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use herald::{AccountId, StorageUsage};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

fn usage_value(u: &StorageUsage) -> Value {
    json!({
        "used_bytes": u.used_bytes,
        "quota_bytes": u.quota_bytes,
        "retention_ms": u.retention_ms,
        "messages": u.messages,
    })
}

/// `GET /v1/accounts/{account}/storage` (admin or the account) → `{"used_bytes",
/// "quota_bytes","retention_ms","messages"}`.
pub async fn usage(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let Params(account) = path?;
    admin_or_account(&state, &headers, account)?;
    let u = blocking(&state, move |e| Ok(e.storage_usage(AccountId(account))?)).await?;
    Ok(Json(usage_value(&u)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    retention_ms: Option<u64>,
}

/// `PUT /v1/accounts/{account}/storage/retention {"retention_ms":n|null}` (admin) → the
/// usage. Older messages are purged within a second (the server's tick).
pub async fn set_retention(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<Retention>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(account) = path?;
    let Body(Retention { retention_ms }) = body?;
    let u = blocking(&state, move |e| {
        e.set_retention(AccountId(account), retention_ms)?;
        Ok(e.storage_usage(AccountId(account))?)
    })
    .await?;
    Ok(Json(usage_value(&u)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageQuota {
    quota_bytes: Option<u64>,
}

/// `PUT /v1/accounts/{account}/storage/quota {"quota_bytes":n|null}` (admin) → the usage.
/// Sends that would pass the quota are refused (`storage_quota`).
pub async fn set_quota(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
    body: Result<Body<StorageQuota>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    state.auth.admin(&headers)?;
    let Params(account) = path?;
    let Body(StorageQuota { quota_bytes }) = body?;
    let u = blocking(&state, move |e| {
        e.set_storage_quota(AccountId(account), quota_bytes)?;
        Ok(e.storage_usage(AccountId(account))?)
    })
    .await?;
    Ok(Json(usage_value(&u)))
}

/// A new directory only the server's user can enter: herald creates the export file with
/// the default mode, so the directory is what keeps other local users from reading it.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Bytes read from the export file per chunk of the response body.
const EXPORT_CHUNK: usize = 64 * 1024;

/// `GET /v1/accounts/{account}/export` (admin or the account) → 200 the account's data as
/// JSON Lines (`application/x-ndjson`), streamed.
///
/// herald's `Engine::export` reads the account in one consistent moment and writes a file;
/// the server has it write a temporary file in a new directory of mode 0700, unlinks both
/// once the file is open (so nothing is left behind if the client goes away) and streams it
/// in 64 KiB chunks, so
/// neither the engine's lock nor the server's memory grows with the account's size. The
/// counts are in `x-herald-export-*` headers.
pub async fn export(
    State(state): State<Shared>,
    headers: HeaderMap,
    path: Result<Params<u32>, ApiError>,
) -> Result<Response, ApiError> {
    let Params(account) = path?;
    admin_or_account(&state, &headers, account)?;
    let nonce = crate::keys::random::<8>().map_err(ApiError::internal)?;
    let dir = std::env::temp_dir().join(format!("herald-export-{account}-{}", hex::encode(nonce)));
    let (summary, file) = blocking(&state, move |e| {
        private_dir(&dir)
            .map_err(|err| ApiError::internal(format!("creating the export directory: {err}")))?;
        let file_path = dir.join("export.jsonl");
        let opened = e
            .export(AccountId(account), &file_path)
            .map_err(ApiError::from)
            .and_then(|summary| {
                std::fs::File::open(&file_path)
                    .map(|f| (summary, f))
                    .map_err(|err| ApiError::internal(format!("reading the export: {err}")))
            });
        // Unlinked at once: the open handle still reads it, and no path is left behind.
        let _ = std::fs::remove_file(&file_path);
        let _ = std::fs::remove_dir(&dir);
        opened
    })
    .await?;
    let file = tokio::fs::File::from_std(file);
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; EXPORT_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), Some(file)))
            }
            // The client sees a truncated body; the error ends the stream.
            Err(e) => Some((Err(e), None)),
        }
    });
    let mut response = HttpBody::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(summary.bytes));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"herald-account-{account}.jsonl\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    for (name, n) in [
        ("x-herald-export-messages", summary.messages),
        ("x-herald-export-followers", summary.followers),
        ("x-herald-export-tags", summary.tags),
        ("x-herald-export-sources", summary.sources),
    ] {
        h.insert(name, HeaderValue::from(n));
    }
    Ok(response)
}
