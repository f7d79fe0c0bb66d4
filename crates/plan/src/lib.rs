//! The plan: raw serde structs mirroring the TOML, a compile step that reports every error with
//! its span, and the validated model the engine runs.
//!
//! [`load`] and [`compile_str`] are the entry points: TOML text goes in, a [`model::Plan`] or
//! [`PlanErrors`] (every problem of the file, rendered with positions and hints) comes out. The
//! environment is injected, so that tests are deterministic.

mod bounds;
#[cfg(test)]
mod bounds_tests;
mod compile;
#[cfg(test)]
mod compile_fuzz_tests;
#[cfg(test)]
mod compile_tests;
pub mod diagnostics;
pub mod docs;
pub mod duration;
pub mod expr;
mod faults;
mod interpolate;
mod load;
mod locate;
pub mod model;
mod parse;
mod plan_section;
mod proxies;
mod raw;
mod raw_forms;
pub mod redact;
mod request_line;
mod scenarios;
mod schema;
mod scope;
mod settle;
#[cfg(test)]
mod settle_tests;
mod streams;
mod targets;
pub mod template;
mod verify;

use std::path::Path;

pub use bounds::{BYTES_PER_USER, MAX_CONCURRENCY, USER_MEMORY_BUDGET, why_capped};
pub use diagnostics::{Diagnostic, PlanErrors};

/// Read and compile the plan at `path`. `env` reads environment variables (the CLI passes
/// `|name| std::env::var(name).ok()`).
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<model::Plan, PlanErrors> {
    match std::fs::read(path) {
        Ok(bytes) => compile_bytes(bytes, path, env),
        Err(err) => Err(PlanErrors::new(
            path,
            "",
            vec![
                Diagnostic::new(
                    None,
                    format!("cannot read the plan {}: {err}", path.display()),
                )
                .hint("check the path; a plan is a TOML file (see docs/plan.md)"),
            ],
        )),
    }
}

/// Compile the bytes of a plan file: UTF-8 text, or an error at the first byte that is not.
pub fn compile_bytes(
    bytes: Vec<u8>,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<model::Plan, PlanErrors> {
    match String::from_utf8(bytes) {
        Ok(text) => compile_str(&text, path, env),
        Err(err) => Err(not_utf8(path, &err)),
    }
}

/// The error for a plan that is not UTF-8: the line and column of the first bad byte (counted
/// in the valid text before it).
fn not_utf8(path: &Path, err: &std::string::FromUtf8Error) -> PlanErrors {
    let bytes = err.as_bytes();
    let at = err.utf8_error().valid_up_to();
    let valid = String::from_utf8_lossy(&bytes[..at]).into_owned();
    let bad: Vec<String> = bytes[at..]
        .iter()
        .take(4)
        .map(|b| format!("{b:#04x}"))
        .collect();
    PlanErrors::new(
        path,
        &valid,
        vec![
            Diagnostic::new(
                Some(at..at),
                format!(
                    "the plan is not UTF-8: byte {at} ({}) is not valid UTF-8",
                    bad.join(" ")
                ),
            )
            .label("invalid UTF-8 starts here")
            .hint("save the plan as UTF-8 (TOML files are UTF-8); look for a character pasted from another encoding"),
        ],
    )
}

/// Compile plan text. `path` is where it came from (for messages and `Plan::source`).
pub fn compile_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<model::Plan, PlanErrors> {
    let locator = locate::Locator::new(text);
    let (raw, unknown_keys) = match parse::parse_raw(text, &locator) {
        Ok(parsed) => parsed,
        Err(diagnostic) => return Err(PlanErrors::new(path, text, vec![*diagnostic])),
    };
    compile::compile(&raw, text, path, env, &locator, unknown_keys)
        .map_err(|diagnostics| PlanErrors::new(path, text, diagnostics))
}
