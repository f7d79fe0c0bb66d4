//! The report model and its exporters (JSON, Markdown, JUnit), one file each.
//!
//! [`model`] holds the one [`Report`](model::Report), computed once; [`verdict`] decides its
//! verdict and reasons; the exporters behind [`export::Exporter`] only render it; [`bundle`]
//! writes them, redacted and atomically, into the run directory.

pub mod attest;
pub mod bundle;
pub mod diff;
mod diff_markdown;
#[cfg(test)]
mod diff_tests;
pub mod dsse;
pub mod evidence;
pub mod export;
pub mod fault;
pub mod fault_windows;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod html;
pub mod html_chart;
mod html_fault;
mod html_style;
#[cfg(test)]
mod html_tests;
mod html_verify;
pub mod json;
pub mod junit;
pub mod manifest;
pub mod markdown;
pub mod markdown_fault;
mod markdown_verify;
pub mod model;
pub mod table;
pub mod verdict;
pub mod verify_section;

pub use export::{Exporter, exporters};
