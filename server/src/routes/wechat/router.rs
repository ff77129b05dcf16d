//! The `/cgi-bin` routes. Every answer, errors included, is HTTP 200 with WeChat's JSON:
//! wrong methods and unknown paths answer errcodes too (48001 for an API herald does not
//! implement), never herald's native error shape.

use super::reply::WxError;
use super::{mass, media, tags, token, users};
use crate::app::Shared;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{MethodRouter, on, post};

async fn require_post(method: Method, uri: Uri) -> WxError {
    WxError::new(
        43002,
        format!(
            "require POST method: {} takes POST, not {method}",
            uri.path()
        ),
    )
}

async fn require_get(method: Method, uri: Uri) -> WxError {
    WxError::new(
        43001,
        format!(
            "require GET method: {} takes GET (or POST), not {method}",
            uri.path()
        ),
    )
}

async fn unknown_api(uri: Uri) -> WxError {
    WxError::new(
        48001,
        format!("api unauthorized: herald does not implement {}", uri.path()),
    )
}

fn post_only<H, T>(handler: H) -> MethodRouter<Shared>
where
    H: Handler<T, Shared>,
    T: 'static,
{
    post(handler).fallback(require_post)
}

fn get_or_post<H, T>(handler: H) -> MethodRouter<Shared>
where
    H: Handler<T, Shared> + Clone,
    T: 'static,
{
    on(
        axum::routing::MethodFilter::GET.or(axum::routing::MethodFilter::POST),
        handler,
    )
    .fallback(require_get)
}

/// The WeChat-compatible API. Handlers reach their [`WxState`](super::WxState) as an
/// [`axum::Extension`] layered on the server's router.
pub fn router() -> Router<Shared> {
    // Uploads are bounded by the largest media the engine takes, plus the form's framing.
    let uploads = DefaultBodyLimit::max(16 << 20);
    Router::new()
        .route("/cgi-bin/token", get_or_post(token::token))
        .route("/cgi-bin/stable_token", post_only(token::stable_token))
        .route("/cgi-bin/message/mass/sendall", post_only(mass::sendall))
        .route("/cgi-bin/message/mass/send", post_only(mass::send))
        .route("/cgi-bin/message/mass/preview", post_only(mass::preview))
        .route("/cgi-bin/message/mass/delete", post_only(mass::delete))
        .route("/cgi-bin/message/mass/get", post_only(mass::get))
        .route(
            "/cgi-bin/message/mass/speed/get",
            get_or_post(mass::speed_get),
        )
        .route(
            "/cgi-bin/message/mass/speed/set",
            post_only(mass::speed_set),
        )
        .route("/cgi-bin/tags/create", post_only(tags::create))
        .route("/cgi-bin/tags/get", get_or_post(tags::get))
        .route("/cgi-bin/tags/update", post_only(tags::update))
        .route("/cgi-bin/tags/delete", post_only(tags::delete))
        .route(
            "/cgi-bin/tags/members/batchtagging",
            post_only(tags::batch_tag),
        )
        .route(
            "/cgi-bin/tags/members/batchuntagging",
            post_only(tags::batch_untag),
        )
        .route("/cgi-bin/tags/getidlist", post_only(tags::id_list))
        .route("/cgi-bin/user/get", get_or_post(users::get))
        .route("/cgi-bin/user/tag/get", post_only(users::tag_get))
        .route(
            "/cgi-bin/media/upload",
            post(media::upload).fallback(require_post).layer(uploads),
        )
        .route(
            "/cgi-bin/material/add_material",
            post(media::add_material)
                .fallback(require_post)
                .layer(uploads),
        )
        .route("/cgi-bin/media/uploadvideo", post_only(media::upload_video))
        .route("/cgi-bin/material/add_news", post_only(media::add_news))
        .route("/cgi-bin/media/uploadnews", post_only(media::add_news))
        .route("/cgi-bin/media/get", get_or_post(media::get))
        .route("/cgi-bin", axum::routing::any(unknown_api))
        .route("/cgi-bin/{*rest}", axum::routing::any(unknown_api))
}
