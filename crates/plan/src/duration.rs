//! Durations in a plan: `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m 30s"` (humantime's syntax).

use std::time::Duration;

/// The hint shown with every invalid duration.
pub const DURATION_HINT: &str =
    r#"write a number and a unit, e.g. "250ms", "1.5s", "30s", "5m", "1h" or "1m 30s""#;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("a duration cannot be empty")]
    Empty,
    /// Something was written that is not a duration.
    #[error("invalid duration `{text}`: {reason}")]
    Invalid {
        /// What was written.
        text: String,
        /// What is wrong with it.
        reason: humantime::DurationError,
    },
}

/// Parse a duration, with an error saying what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    humantime::parse_duration(trimmed).map_err(|reason| DurationError::Invalid {
        text: text.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 1h "), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn bad_durations_are_rejected_with_the_value() {
        for bad in ["", "5", "five seconds", "-1s", "5 parsecs", "1s2"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.to_string().contains(bad) || bad.is_empty(), "{err}");
        }
    }
}
