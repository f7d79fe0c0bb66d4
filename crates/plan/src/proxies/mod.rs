//! Fault proxies: `[proxies.NAME]`, the toxics a timeline adds to them, and where a plan writes
//! a proxy's address.
//!
//! Each domain holds its raw tables (`raw`), its compile step and its model; only the model is
//! seen outside the plan, through [`crate::model`].

pub(crate) mod addr;
pub(crate) mod compile;
pub(crate) mod model;
pub(crate) mod raw;
pub(crate) mod toxic;
