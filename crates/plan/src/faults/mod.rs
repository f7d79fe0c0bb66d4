//! Fault tests: `[[faults]]`, their timelines, expectations and recovery, and `[safety]`.
//!
//! Each domain holds its raw tables (`raw`), its compile step and its model; only the model is
//! seen outside the plan, through [`crate::model`].

pub(crate) mod compile;
#[cfg(test)]
mod compile_tests;
pub(crate) mod model;
pub(crate) mod raw;
pub(crate) mod threshold;
