//! herald: a message broadcast and fan-out engine for official-account platforms.
//!
//! An account broadcasts a message; herald delivers it to every follower in the audience,
//! once each and in the account's send order, through a work-stealing pool that cuts big
//! audiences into chunks so small sends never wait behind big ones. See the crate README
//! and ARCHITECTURE.md for the design; [`Engine`] is where to start.
//!
//! Layers: the facade ([`Engine`], errors, ids, [`Sink`]), the domain (`domain/`: accounts,
//! graph, messages, audiences, OpenIDs) and the machinery (`machinery/`: jobs, pool, inbox).

#![deny(unsafe_code)]
#![doc = include_str!("../README.md")]
#![warn(missing_debug_implementations)]

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

pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use config::{EngineConfig, Limits};
pub use domain::audience::{Audience, TagExpr};
pub use domain::message::{Article, Media, MediaFormat, MediaKind, Message, Video};
pub use domain::openid::OpenId;
pub use durable::SnapshotStats;
pub use engine::{
    Content, Engine, EngineBuilder, Fetched, FollowerPage, InboxItem, MemoryUsage, Recovered,
    SendRequest, SourceStats, TagInfo,
};
pub use error::{
    AddUsersError, AudienceError, FetchError, FollowError, MessageError, ParseOpenIdError,
    QueryError, RegisterError, SendError, StoreError, TagError, UnfollowError,
};
pub use ids::{AccountId, JobId, Seq, TagId, UserId};
pub use machinery::job::{JobHandle, JobReport, JobStatus};
pub use sink::{Batch, Sink, SinkError};
pub use store::wal::SyncPolicy;
