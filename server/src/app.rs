//! The router and the state every handler shares, the JSON, path and query extractors that
//! answer with [`ApiError`]s, and the helper that runs engine calls off the runtime.

use crate::auth::Auth;
use crate::error::ApiError;
use crate::routes;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use herald::Engine;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What every handler sees.
#[derive(Debug)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Keys and tokens.
    pub auth: Auth,
    /// Set when a shutdown signal arrived: `/readyz` answers 503 from then on.
    pub shutting_down: AtomicBool,
    /// The push gateway's connections and settings.
    pub gateway: crate::gateway::Gateway,
    /// What the scheduled sends fired since the start became.
    pub fired: crate::fired::FiredLog,
}

/// Shared state handle.
pub type Shared = Arc<AppState>;

/// A JSON body; rejections become `malformed_json`, `invalid_body`,
/// `unsupported_media_type` or `body_too_large`.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Path parameters; a bad one is `invalid_path`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Params<T>(pub T);

/// Query parameters; a bad one is `invalid_query`.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// Runs an engine call on tokio's blocking pool: a durable engine's changes wait for the
/// log's group commit (about 2 ms), which must not hold a runtime worker.
pub async fn blocking<T, F>(state: &Shared, call: F) -> Result<T, ApiError>
where
    F: FnOnce(&Engine) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let engine = Arc::clone(&state.engine);
    tokio::task::spawn_blocking(move || call(&engine))
        .await
        .map_err(|e| ApiError::internal(format!("engine call failed: {e}")))?
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(state): State<Shared>) -> Result<impl IntoResponse, ApiError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ));
    }
    if let Some(cause) = state.engine.storage_error() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_failing",
            format!("the log cannot be written: {cause}"),
        ));
    }
    Ok(axum::Json(serde_json::json!({"status": "ready"})))
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method",
    )
}

/// The whole HTTP API.
pub fn router(state: Shared, body_limit: usize) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::render))
        // The web console: static files, outside the `/v1` table and its OpenAPI file.
        .route("/console", get(crate::console::index))
        .route("/console/{file}", get(crate::console::file))
        .merge(routes::v1::router())
        .merge(routes::wechat::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .with_state(state)
}
