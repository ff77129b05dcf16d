//! herald: a message broadcast and fan-out engine for official-account platforms.
//!
//! An account broadcasts a message; herald delivers it to every follower in the audience,
//! once each and in the account's send order, through a work-stealing pool that cuts big
//! audiences into chunks so small sends never wait behind big ones. See the crate README
//! and ARCHITECTURE.md for the design; [`Engine`] is where to start.
//!
//! Layers: the facade ([`Engine`], errors, ids, [`Sink`]), the domain (`domain/`: accounts,
//! graph, messages, audiences, OpenIDs, and the platform's rules: subjects, send policy,
//! corrections, originality, interaction, export), the machinery (`machinery/`: jobs,
//! pool, inbox) and the store (`store/`: write-ahead log, log records, snapshots).

#![deny(unsafe_code)]
#![doc = include_str!("../README.md")]
#![warn(missing_debug_implementations)]

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
mod durable;
mod engine;
mod error;
mod ids;
mod machinery;
mod sink;
mod store;

pub use clock::{Clock, LocalTime, ManualClock, Millis, SystemClock, TimeZone};
pub use config::{DAY_MS, EngineConfig, Limits, Rules};
pub use domain::audience::{Audience, TagExpr};
pub use domain::message::{Article, Media, MediaFormat, MediaKind, Message, Video};
pub use domain::openid::OpenId;
pub use domain::policy::Ban;
pub use domain::send::{SendPurpose, SendRequest};
pub use domain::subject::{AccountKind, Category, Registration, SubjectKind};
pub use durable::SnapshotStats;
pub use engine::{
    AccountProfile, ArticleInfo, Content, Engine, EngineBuilder, ExportSummary, Fetched, Fired,
    FollowChange, FollowerPage, InboundMessage, InboxItem, MemoryUsage, Recovered, ScheduledSend,
    SourceStats, StorageUsage, SubjectInfo, TagInfo, Ticker,
};
pub use error::{
    AccountError, AddUsersError, AudienceError, CorrectError, ExportError, FetchError,
    FollowChangeError, FollowError, InteractError, IoError, MessageError, ParseOpenIdError,
    QueryError, RegisterError, RegistrationError, RetractError, ScheduleError, SendError,
    StorageError, StoreError, SubjectError, TagError, TerminateError, TimeZoneError, UnfollowError,
};
pub use ids::{AccountId, JobId, ScheduleId, Seq, SubjectId, TagId, UserId};
pub use machinery::job::{JobHandle, JobReport, JobStatus};
pub use sink::{Batch, Sink, SinkError};
pub use store::wal::SyncPolicy;
