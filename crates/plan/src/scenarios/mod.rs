//! Scenarios and their steps: `[scenarios.NAME]`, HTTP steps with their captures, expectations
//! and polls, think time, and `track`, which registers a unit of work in the ledger.
//!
//! Each domain holds its raw tables (`raw`), its compile step and its model; only the model is
//! seen outside the plan, through [`crate::model`].

pub(crate) mod model;
pub(crate) mod raw;
pub(crate) mod step;
pub(crate) mod track;
pub(crate) mod track_oracle;
