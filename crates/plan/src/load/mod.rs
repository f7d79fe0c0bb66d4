//! Load tests: `[[load]]`, their scenario or mix, executors (closed and open models), samplers
//! and thresholds.
//!
//! Each domain holds its raw tables (`raw`), its compile step and its model; only the model is
//! seen outside the plan, through [`crate::model`].

pub(crate) mod compile;
pub(crate) mod compile_thresholds;
pub(crate) mod model;
pub(crate) mod model_open;
pub(crate) mod open;
#[cfg(test)]
mod open_tests;
pub(crate) mod raw;
pub(crate) mod raw_open;
pub(crate) mod threshold;
pub(crate) mod threshold_default;
pub(crate) mod threshold_scope;
