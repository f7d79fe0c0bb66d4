//! The scope of a threshold, written in braces after its metric: `{step=NAME}`,
//! `{window=10s..20s}`, `{window=30s..}`, `{window=during_fault}`, `{window=after_recovery}`, `{window=outside_fault}`,
//! or a step and a window together, `{step=create, window=5s..}`.
//!
//! Window bounds are offsets from the start of the test, in the plan's duration syntax; the
//! windows are whole seconds, so the bounds are rounded down to the second.

use std::ops::Range;
use std::time::Duration;

use crate::duration::{DurationError, parse_duration};
use crate::load::model_open::WindowScope;

/// What the braces said.
#[derive(Debug, Default, PartialEq)]
pub struct Scope {
    /// `step=NAME`.
    pub step: Option<String>,
    /// `window=...`.
    pub window: Option<WindowScope>,
}

/// How a scope is written, for errors.
pub const SCOPE_GRAMMAR: &str = "a scope is written `{step=NAME}`, `{window=10s..20s}`, \
`{window=30s..}`, `{window=during_fault}`, `{window=after_recovery}`, `{window=outside_fault}`, or `{step=NAME, window=...}`";

/// Parse the text between `{` and `}` (exclusive); `offset` is its position in the threshold,
/// for error ranges.
pub fn parse_scope(text: &str, offset: usize) -> Result<Scope, (String, Range<usize>)> {
    let mut scope = Scope::default();
    let mut at = 0;
    for part in text.split(',') {
        let range = offset + at..offset + at + part.len();
        at += part.len() + 1;
        let Some((key, value)) = part.split_once('=') else {
            return Err((SCOPE_GRAMMAR.into(), range));
        };
        let value = value.trim();
        match key.trim() {
            "step" => {
                if value.is_empty() || !value.chars().all(is_name_char) {
                    return Err(("`{step=}` needs a step name".into(), range));
                }
                if scope.step.replace(value.to_string()).is_some() {
                    return Err(("the scope names `step` twice".into(), range));
                }
            }
            "window" => {
                let window = parse_window(value).map_err(|e| (e.to_string(), range.clone()))?;
                if scope.window.replace(window).is_some() {
                    return Err(("the scope names `window` twice".into(), range));
                }
            }
            other => {
                return Err((format!("unknown scope `{other}`: {SCOPE_GRAMMAR}"), range));
            }
        }
    }
    Ok(scope)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// Why a `window=` scope could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum WindowError {
    /// Neither a named window nor `FROM..TO`.
    #[error(
        "`{0}` is not a window: write FROM..TO (e.g. 10s..20s), FROM.. (to the end), \
         during_fault, after_recovery or outside_fault"
    )]
    NotAWindow(String),
    /// A bound that is not a duration.
    #[error("window bound `{bound}`: {error}")]
    Bound {
        /// The bound as written.
        bound: String,
        /// Why it is not a duration.
        error: DurationError,
    },
    /// An end less than a second after the start.
    #[error("the window {0} is empty: its end must be at least a second after its start")]
    Empty(String),
}

fn parse_window(text: &str) -> Result<WindowScope, WindowError> {
    match text {
        "during_fault" => return Ok(WindowScope::DuringFault),
        "after_recovery" => return Ok(WindowScope::AfterRecovery),
        "outside_fault" => return Ok(WindowScope::OutsideFault),
        _ => {}
    }
    let Some((from, to)) = text.split_once("..") else {
        return Err(WindowError::NotAWindow(text.to_string()));
    };
    let bound = |t: &str| -> Result<Duration, WindowError> {
        parse_duration(t.trim()).map_err(|error| WindowError::Bound {
            bound: t.trim().to_string(),
            error,
        })
    };
    let from = bound(from)?;
    let to = if to.trim().is_empty() {
        None
    } else {
        Some(bound(to)?)
    };
    if let Some(to) = to
        && to.as_secs() <= from.as_secs()
    {
        return Err(WindowError::Empty(text.to_string()));
    }
    Ok(WindowScope::Range { from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn steps_windows_and_both() {
        assert_eq!(
            parse_scope("step=create", 0).unwrap().step.as_deref(),
            Some("create")
        );
        assert_eq!(
            parse_scope("window=10s..20s", 0).unwrap().window,
            Some(WindowScope::Range {
                from: secs(10),
                to: Some(secs(20))
            })
        );
        let both = parse_scope(" step = create , window = 1m.. ", 0).unwrap();
        assert_eq!(both.step.as_deref(), Some("create"));
        assert_eq!(
            both.window,
            Some(WindowScope::Range {
                from: secs(60),
                to: None
            })
        );
        assert_eq!(
            parse_scope("window=during_fault", 0).unwrap().window,
            Some(WindowScope::DuringFault)
        );
        assert_eq!(
            parse_scope("window=after_recovery", 0).unwrap().window,
            Some(WindowScope::AfterRecovery)
        );
    }

    #[test]
    fn mistakes_are_located_and_explained() {
        let (m, r) = parse_scope("step=a,window=20s..10s", 10).unwrap_err();
        assert!(m.contains("empty"), "{m}");
        assert_eq!(r, 17..32);
        let (m, _) = parse_scope("window=soon", 0).unwrap_err();
        assert!(m.contains("FROM..TO"), "{m}");
        let (m, _) = parse_scope("window=5x..", 0).unwrap_err();
        assert!(m.contains("window bound `5x`"), "{m}");
        let (m, _) = parse_scope("tag=x", 0).unwrap_err();
        assert!(m.contains("unknown scope `tag`"), "{m}");
        let (m, _) = parse_scope("step=a,step=b", 0).unwrap_err();
        assert!(m.contains("twice"), "{m}");
        let (m, _) = parse_scope("create", 0).unwrap_err();
        assert!(m.contains("{step=NAME}"), "{m}");
    }
}
