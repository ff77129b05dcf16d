//! The `/v1` route table: every route of the native JSON API, in one place.
//!
//! The table is written once, in the `table!` invocation below, and yields both the
//! [`router`] and [`OPERATIONS`], the list of `(method, path)` pairs it serves; a test
//! (`server/tests/api_native_openapi.rs`) checks that `server/openapi.json`, served at
//! `GET /v1/openapi.json`, describes exactly these operations.

use crate::app::Shared;
use crate::gateway;
use crate::routes::{account, admin, audience, interaction, publishing, storage, subjects, user};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::MethodRouter;

/// The OpenAPI 3.1 description of the `/v1` API (hand-kept, checked against the table).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /v1/openapi.json`: the API description, no credentials needed.
async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Builds [`router`] and [`OPERATIONS`] from one list of `path => { method handler, .. }`.
macro_rules! table {
    ($( $path:literal => { $( $method:ident $handler:expr ),+ $(,)? } ),* $(,)?) => {
        /// Every `/v1` operation this server routes, as `(METHOD, path template)`.
        pub const OPERATIONS: &[(&str, &str)] = &[
            $( $( (table!(@upper $method), $path), )+ )*
        ];

        /// The `/v1` routes, to be merged into the application's router.
        pub fn router() -> Router<Shared> {
            Router::new()
                $( .route($path, MethodRouter::new() $( .$method($handler) )+ ) )*
        }
    };
    (@upper get) => { "GET" };
    (@upper post) => { "POST" };
    (@upper put) => { "PUT" };
    (@upper delete) => { "DELETE" };
}

table! {
    "/v1/openapi.json" => { get openapi },

    // ----- admin: users, subjects, accounts, follows ---------------------------------------
    "/v1/users" => { post admin::add_users },
    "/v1/users/{user}/token" => { post admin::user_token },
    "/v1/subjects" => { post subjects::create_subject },
    "/v1/subjects/{subject}" => { get subjects::subject },
    "/v1/subjects/{subject}/quota" => { put subjects::approve_quota },
    "/v1/subjects/{subject}/accounts" => { post subjects::register_in_subject },
    "/v1/accounts" => { post admin::register_account },
    "/v1/accounts/{account}" => { get subjects::profile, delete subjects::terminate },
    "/v1/accounts/{account}/registration" => { put subjects::update_registration },
    "/v1/accounts/{account}/verification" => { put subjects::set_verified },
    "/v1/accounts/{account}/violations" => { post subjects::record_violation },
    "/v1/accounts/{account}/followers" => { post admin::follow, get account::followers },
    "/v1/accounts/{account}/followers/{user}" => {
        get audience::identity,
        delete admin::unfollow,
    },

    // ----- account: token, sends and jobs ---------------------------------------------------
    "/v1/token" => { post account::token },
    "/v1/accounts/{account}/sends" => { post account::send },
    "/v1/accounts/{account}/jobs/{seq}" => { get account::job },
    "/v1/accounts/{account}/jobs/{seq}/message" => { get publishing::message },
    "/v1/accounts/{account}/jobs/{seq}/retract" => { post account::retract },
    "/v1/accounts/{account}/jobs/{seq}/correction" => { post publishing::correct },
    "/v1/accounts/{account}/previews" => { post publishing::preview },
    "/v1/accounts/{account}/schedules" => {
        post publishing::schedule,
        get publishing::schedules,
    },
    "/v1/accounts/{account}/schedules/{schedule}" => {
        get publishing::schedule_status,
        delete publishing::cancel_schedule,
    },
    "/v1/accounts/{account}/speed" => { get account::speed, put account::set_speed },

    // ----- account: audience ----------------------------------------------------------------
    "/v1/accounts/{account}/tags" => { post account::create_tag, get account::list_tags },
    "/v1/accounts/{account}/tags/{tag}" => { delete audience::delete_tag },
    "/v1/accounts/{account}/tags/{tag}/members" => { post account::tag_members },
    "/v1/accounts/{account}/tags/{tag}/members/delete" => { post account::untag_members },
    "/v1/accounts/{account}/openids/{open_id}" => { get audience::follower },
    "/v1/accounts/{account}/sources" => { get audience::sources },

    // ----- account: interaction -------------------------------------------------------------
    "/v1/accounts/{account}/inbound" => { get interaction::inbound },
    "/v1/accounts/{account}/replies" => { post interaction::reply },
    "/v1/accounts/{account}/auto-replies" => { get interaction::auto_replies },
    "/v1/accounts/{account}/auto-replies/{keyword}" => {
        put interaction::set_auto_reply,
        delete interaction::remove_auto_reply,
    },

    // ----- account: storage -----------------------------------------------------------------
    "/v1/accounts/{account}/storage" => { get storage::usage },
    "/v1/accounts/{account}/storage/retention" => { put storage::set_retention },
    "/v1/accounts/{account}/storage/quota" => { put storage::set_quota },
    "/v1/accounts/{account}/export" => { get storage::export },

    // ----- user -----------------------------------------------------------------------------
    "/v1/inbox" => { get user::own_inbox },
    "/v1/users/{user}/inbox" => { get user::inbox },
    "/v1/users/{user}/recover" => { get user::recover },
    "/v1/users/{user}/following" => { get audience::following, post audience::follow },
    "/v1/users/{user}/following/{account}" => { delete audience::unfollow },
    "/v1/users/{user}/messages" => { post interaction::message_account },

    // ----- push gateway (user token) --------------------------------------------------------
    "/v1/ws" => { get gateway::ws::ws },
    "/v1/events" => { get gateway::sse::events },
}
