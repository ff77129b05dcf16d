//! The machinery: fan-out jobs, the work-stealing pool and the embedded inbox store.

pub(crate) mod deliver;
pub(crate) mod inbox;
pub(crate) mod job;
pub(crate) mod pool;
pub(crate) mod prefetch;
pub(crate) mod rate;
