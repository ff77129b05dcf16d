//! The WeChat-compatible API under `/cgi-bin`: WeChat Official Account integrations and
//! SDKs work against herald with only the API base URL changed. See the WeChat section of
//! `docs/http-api.md` for the endpoints, shapes and errcodes.

mod codes;
mod mass;
mod media;
mod message;
mod multipart;
mod openid;
mod reply;
mod router;
mod state;
mod store;
mod tags;
mod token;
mod users;

pub use mass::msg_id;
pub use openid::{BadOpenId, WxOpenIds};
pub use router::router;
pub use state::WxState;
pub use store::MediaStore;
