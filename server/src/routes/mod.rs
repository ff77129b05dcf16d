//! The handlers, by who calls them and by concern; `v1.rs` is the `/v1` route table.

pub mod account;
pub mod admin;
pub mod audience;
pub mod guard;
pub mod interaction;
pub mod publishing;
pub mod storage;
pub mod subjects;
pub mod user;
pub mod v1;
pub mod wechat;
