//! The plan: raw serde structs mirroring the TOML, a compile step that reports every error with
//! its span, and the validated model the engine runs.

pub mod model;
