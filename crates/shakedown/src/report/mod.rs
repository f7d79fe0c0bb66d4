//! The report model and its exporters (JSON, Markdown, JUnit), one file each.
//!
//! [`model`] holds the one [`Report`](model::Report), computed once; [`verdict`] decides its
//! verdict and reasons; the exporters behind [`export::Exporter`] only render it; [`bundle`]
//! writes them, redacted and atomically, into the run directory.

pub mod bundle;
pub mod export;
#[cfg(test)]
mod fixtures;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod redact;
pub mod table;
pub mod verdict;

pub use export::{Exporter, exporters};
