//! Targets and their control: `[targets.NAME]`, its probes, identity and the driver that
//! starts, stops, kills, pauses or restarts it.
//!
//! Each domain holds its raw tables (`raw`), its compile step and its model; only the model is
//! seen outside the plan, through [`crate::model`].

pub(crate) mod compile;
#[cfg(test)]
mod compile_tests;
pub(crate) mod control;
pub(crate) mod model;
pub(crate) mod raw;
