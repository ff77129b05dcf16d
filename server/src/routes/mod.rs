//! The handlers, by who calls them.

pub mod account;
pub mod admin;
pub mod user;
pub mod wechat;
