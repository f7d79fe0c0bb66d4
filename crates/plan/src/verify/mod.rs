//! Verification after settle: `[[verify]]` checks (HTTP, SQL, Redis, object store, artifacts)
//! and the `[oracles]` they and tracked work read.
//!
//! Each domain holds its raw tables (`raw`), its compile step and its model; only the model is
//! seen outside the plan, through [`crate::model`].

pub(crate) mod compile;
#[cfg(test)]
mod compile_tests;
pub(crate) mod http;
pub(crate) mod model;
pub(crate) mod raw;
pub(crate) mod stores;
