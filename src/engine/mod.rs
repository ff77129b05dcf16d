//! The engine: the public facade, one file per step of a message's path. `build.rs` holds
//! [`Engine`] itself; each other file adds one concern as a further `impl Engine` block and
//! delegates the rule itself to `domain/`.

mod accounts;
mod build;
mod commit;
mod disk;
mod followers;
mod follows;
mod inbox;
mod interaction;
mod publishing;
mod send;
mod storage;
mod tags;
mod users;

pub(crate) use accounts::valid_name;
pub use accounts::{AccountProfile, SubjectInfo};
pub use build::{Engine, EngineBuilder, MemoryUsage};
pub(crate) use commit::ParkedSends;
pub(crate) use disk::Disk;
pub use followers::FollowerPage;
pub use follows::{FollowChange, SourceStats};
pub use inbox::{Content, Fetched, InboxItem, Recovered};
pub use interaction::InboundMessage;
pub use publishing::{ArticleInfo, Fired, ScheduledSend, Ticker};
pub(crate) use send::NewSend;
pub use send::Reports;
pub(crate) use storage::apply_purge;
pub use storage::{ExportSummary, StorageUsage};
pub use tags::TagInfo;
