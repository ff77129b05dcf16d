//! The built-in web console at `/console`: three static files (`server/console/`) compiled
//! into the binary, served as they are.
//!
//! The console is plain HTML, vanilla JavaScript and CSS with no build step and nothing
//! fetched from elsewhere, so the binary alone serves it and a checkout runs it as it is.
//! Everything it shows comes from the public API on the same origin: the `/v1` routes with
//! the credentials the person types in, the push gateway (`/v1/ws?token=`), `/metrics` and
//! `/readyz`. It holds no state on the server and has no credentials of its own.

use crate::app::Params;
use crate::error::ApiError;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../console/index.html"),
};

/// The files under `/console/{file}`; the page refers to them by these absolute paths.
const FILES: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../console/style.css"),
    },
];

/// The page may load its own script and style and talk to its own origin only (`'self'`
/// covers `ws:`/`wss:` to the same host in CSP 3); it never frames or is framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

fn serve(asset: &Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // The files change with the binary and carry no version in their names: a
            // browser revalidates instead of running a stale script against a new server.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        asset.body,
    )
        .into_response()
}

/// `GET /console`: the page.
pub async fn index() -> Response {
    serve(&INDEX)
}

/// `GET /console/{file}`: the script or the style sheet; anything else is 404 `not_found`.
pub async fn file(Params(name): Params<String>) -> Result<Response, ApiError> {
    FILES
        .iter()
        .chain(std::iter::once(&INDEX))
        .find(|a| a.name == name)
        .map(serve)
        .ok_or_else(|| ApiError::not_found("not_found", "no such console file"))
}
