//! The domain: accounts, the subscription graph, messages, audiences and identities.

pub(crate) mod account;
pub(crate) mod audience;
pub(crate) mod graph;
pub(crate) mod message;
pub(crate) mod openid;
