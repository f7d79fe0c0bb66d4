//! The report model and its exporters (JSON, Markdown, JUnit), one file each.

pub mod model;
pub mod redact;
