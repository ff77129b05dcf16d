//! herald: a message broadcast and fan-out engine for official-account platforms.
//!
//! An account broadcasts a message; herald delivers it to every follower in the audience,
//! once each and in the account's send order, through a work-stealing pool that cuts big
//! audiences into chunks so small sends never wait behind big ones. See the crate README
//! and ARCHITECTURE.md for the design; [`Engine`] is where to start.
//!
//! Layers, top to bottom: recovery (`recovery/`: opening a data directory, replay,
//! snapshots), the facade ([`Engine`] in `engine/`), the journal (`journal/`: log records
//! and every byte code), the domain (`domain/`: accounts, graph, audiences, OpenIDs, and
//! the platform's rules), the machinery (`machinery/`: jobs, pool, inbox) and the store
//! (`store/`: the write-ahead log's frames, the snapshot file, byte primitives); the base
//! files (errors, ids, messages, [`Sink`], ...) beneath them all. See ARCHITECTURE.md.

#![deny(unsafe_code)]
#![doc = include_str!("../README.md")]
#![warn(missing_debug_implementations)]
#![warn(missing_docs)]

/// The examples in `docs/` run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../docs/rules-api.md")]
pub struct RulesApiDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/durability.md")]
pub struct DurabilityDoctests;

mod clock;
mod config;
mod domain;
mod engine;
mod error;
mod ids;
mod journal;
mod loom;
mod machinery;
mod message;
mod recovery;
mod sink;
mod store;

pub use clock::{Clock, LocalTime, ManualClock, Millis, SystemClock, TimeZone, TimeZoneError};
pub use config::{DAY_MS, EngineConfig, Limits, Rules, SyncPolicy};
pub use domain::audience::{Audience, TagExpr};
pub use domain::send::{SendPurpose, SendRequest};
pub use domain::sent::JobHandle;
pub use domain::subject::{AccountKind, Category, Registration, SubjectKind};
pub use engine::{
    AccountProfile, ArticleInfo, Content, Engine, EngineBuilder, ExportSummary, Fetched, Fired,
    FollowChange, FollowerPage, InboundMessage, InboxItem, MemoryUsage, Recovered, Reports,
    ScheduledSend, SourceStats, StorageUsage, SubjectInfo, TagInfo, Ticker,
};
pub use error::{
    AccountError, AddUsersError, AudienceError, Ban, CorrectError, ExportError, FetchError,
    FollowChangeError, FollowError, InteractError, IoError, QueryError, RegisterError,
    RegistrationError, ReportsError, RetractError, ScheduleError, SendError, StorageError,
    StoreError, SubjectError, TagError, TerminateError, UnfollowError, WatchError,
};
pub use ids::{
    AccountId, JobId, OpenId, ParseOpenIdError, ScheduleId, Seq, SubjectId, TagId, UserId, UserIds,
    UserIdsIter,
};
pub use machinery::job::{JobReport, JobStatus};
pub use message::{Article, Media, MediaFormat, MediaKind, Message, MessageError, Video};
pub use recovery::SnapshotStats;
pub use sink::{Batch, InboxWatcher, Sink, SinkError};
pub use store::wal::LogSyncs;
