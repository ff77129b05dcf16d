//! The domain: accounts, the subscription graph, messages, audiences, identities, and the
//! platform's rules (subjects, send limits, corrections, originality, interaction).

pub(crate) mod account;
pub(crate) mod admission;
pub(crate) mod audience;
pub(crate) mod correction;
pub(crate) mod export;
pub(crate) mod follower_order;
pub(crate) mod graph;
pub(crate) mod interaction;
pub(crate) mod openid;
pub(crate) mod originality;
pub(crate) mod policy;
pub(crate) mod send;
pub(crate) mod sent;
pub(crate) mod subject;
