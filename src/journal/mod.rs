//! The journal: what the log says. Log records and their encoding (`record.rs`), the
//! encodings of the values records and snapshots carry (`value.rs`), and every byte code
//! that reaches the disk, each written once and decoded strictly (`codes.rs`).

mod codes;
mod record;
mod value;

pub(crate) use codes::{account_kind, send_purpose, speed_tier, subject_kind};
pub(crate) use record::{LOG_FORMAT, OLDEST_LOG_FORMAT, Record};
pub(crate) use value::{
    message_bytes, message_from_bytes, registration_bytes, registration_from_bytes, request_bytes,
    request_from_bytes,
};
