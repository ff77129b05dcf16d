//! The engine: the public facade, split by concern. `facade.rs` holds the engine itself
//! (construction, users, follows, tags, the send path, inboxes); the other files add the
//! platform's rules and follower paging (`followers.rs`) as further `impl Engine` blocks,
//! each delegating the rule itself to `domain/`.

mod accounts;
mod facade;
mod followers;
mod interaction;
mod publishing;
mod storage;

pub(crate) use facade::{Accept, purpose_code, purpose_of, valid_name};
pub use facade::{
    Content, Engine, EngineBuilder, Fetched, FollowChange, FollowerPage, InboxItem, MemoryUsage,
    Recovered, SourceStats, TagInfo,
};

pub use accounts::{AccountProfile, SubjectInfo};
pub use interaction::InboundMessage;
pub use publishing::{ArticleInfo, Fired, ScheduledSend, Ticker};
pub(crate) use storage::apply_purge;
pub use storage::{ExportSummary, StorageUsage};
