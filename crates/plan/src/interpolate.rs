//! `${VAR}` and `${VAR:-default}` interpolation of plan strings from the environment.
//!
//! It runs on the parsed string values (never on the TOML text, so a variable's value can never
//! break the TOML syntax), before templating. `$${` writes a literal `${`. As in a shell, the
//! default applies when the variable is unset or empty; a variable that is unset and has no
//! default is an error naming it.

use std::ops::Range;

/// Why a string could not be interpolated. Ranges are byte ranges in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${NAME}` with `NAME` unset and no default.
    Missing {
        /// The variable.
        name: String,
        /// Where `${NAME}` is.
        range: Range<usize>,
    },
    /// `${` without a closing `}`.
    Unterminated {
        /// From the `${` to the end of the string.
        range: Range<usize>,
    },
    /// `${...}` whose name is not a valid variable name.
    BadName {
        /// The text between the braces.
        name: String,
        /// Where `${...}` is.
        range: Range<usize>,
    },
}

/// Whether `name` is a valid environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Interpolate every `${VAR}` and `${VAR:-default}` in `input`, reporting every problem.
pub fn interpolate(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<InterpolationError>> {
    let mut out = String::with_capacity(input.len());
    let mut errors = Vec::new();
    let mut i = 0;
    while let Some(rel) = input[i..].find('$') {
        let at = i + rel;
        out.push_str(&input[i..at]);
        let rest = &input[at..];
        if rest.starts_with("$${") {
            out.push_str("${");
            i = at + 3;
        } else if rest.starts_with("${") {
            let Some(close) = rest.find('}') else {
                errors.push(InterpolationError::Unterminated {
                    range: at..input.len(),
                });
                return Err(errors);
            };
            let inner = &rest[2..close];
            let range = at..at + close + 1;
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if !is_var_name(name) {
                errors.push(InterpolationError::BadName {
                    name: inner.to_string(),
                    range,
                });
            } else {
                match (env(name), default) {
                    (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                    (Some(value), _) => out.push_str(&value),
                    (None, Some(default)) => out.push_str(default),
                    (None, None) => errors.push(InterpolationError::Missing {
                        name: name.to_string(),
                        range,
                    }),
                }
            }
            i = at + close + 1;
        } else {
            out.push('$');
            i = at + 1;
        }
    }
    out.push_str(&input[i..]);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A plan string after interpolation, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The interpolated value.
    pub value: String,
    /// The span of the whole string value (quotes included) in the plan text.
    pub span: Range<usize>,
    /// Where the string's contents start in the plan text, when they are written there byte for
    /// byte (no escapes, no interpolation), so that a position inside the value maps back.
    exact_start: Option<usize>,
}

impl Text {
    /// A text whose value came from `raw` at `span` in `source`, before any interpolation.
    pub fn from_source(raw: &str, span: Range<usize>, source: &str) -> Text {
        let quote = match source.get(span.clone()) {
            Some(s) if s.starts_with("\"\"\"") || s.starts_with("'''") => 3,
            _ => 1,
        };
        let inner = span.start + quote..span.end.saturating_sub(quote);
        let exact_start = (source.get(inner.clone()) == Some(raw)).then_some(inner.start);
        Text {
            value: raw.to_string(),
            span,
            exact_start,
        }
    }

    /// The plan-text span of `range` (a byte range in the value), or of the whole string when the
    /// value is not written byte for byte.
    pub fn sub_span(&self, range: Range<usize>) -> Range<usize> {
        match self.exact_start {
            Some(start) if range.end <= self.value.len() => start + range.start..start + range.end,
            _ => self.span.clone(),
        }
    }

    /// The part of this text at `range` (a byte range in the value), as a text of its own.
    pub fn slice(&self, range: Range<usize>) -> Text {
        Text {
            value: self
                .value
                .get(range.clone())
                .unwrap_or_default()
                .to_string(),
            span: self.sub_span(range.clone()),
            exact_start: self.exact_start.map(|start| start + range.start),
        }
    }

    /// Replace the value after interpolation; positions inside stop mapping if it changed.
    pub fn with_value(mut self, value: String) -> Text {
        if value != self.value {
            self.exact_start = None;
        }
        self.value = value;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("127.0.0.1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_defaults_and_escapes() {
        let run = |s: &str| interpolate(s, &env);
        assert_eq!(run("http://${HOST}:80/"), Ok("http://127.0.0.1:80/".into()));
        assert_eq!(run("${UNSET:-http://x}"), Ok("http://x".into()));
        assert_eq!(run("${EMPTY:-fallback}"), Ok("fallback".into()));
        assert_eq!(run("[${EMPTY}]"), Ok("[]".into()));
        assert_eq!(run("$${HOST} costs $5"), Ok("${HOST} costs $5".into()));
        assert_eq!(run("no variables"), Ok("no variables".into()));
        assert_eq!(run("${HOST:-}"), Ok("127.0.0.1".into()));
    }

    #[test]
    fn every_problem_is_reported_with_its_range() {
        let errors = interpolate("${A}/${HOST}/${B}", &env).expect_err("A and B are unset");
        assert_eq!(
            errors,
            vec![
                InterpolationError::Missing {
                    name: "A".into(),
                    range: 0..4
                },
                InterpolationError::Missing {
                    name: "B".into(),
                    range: 13..17
                },
            ]
        );
        let errors = interpolate("x ${HOST", &env).expect_err("unterminated");
        assert_eq!(
            errors,
            vec![InterpolationError::Unterminated { range: 2..8 }]
        );
        let errors = interpolate("${not a name}", &env).expect_err("bad name");
        assert!(
            matches!(&errors[0], InterpolationError::BadName { name, .. } if name == "not a name")
        );
    }

    #[test]
    fn positions_inside_a_value_map_back_to_the_source_only_when_exact() {
        let source = r#"url = "${API}/x""#;
        let span = 6..source.len();
        let text = Text::from_source("${API}/x", span.clone(), source);
        assert_eq!(&source[text.sub_span(0..6)], "${API}");
        let escaped = Text::from_source("a\tb", 0..8, "\"a\\tb\"  ");
        assert_eq!(
            escaped.sub_span(0..1),
            0..8,
            "escapes make the value inexact"
        );
        let part = text.slice(2..5);
        assert_eq!(
            (part.value.as_str(), &source[part.sub_span(0..3)]),
            ("API", "API")
        );
        let changed = text.with_value("http://x/x".into());
        assert_eq!(changed.sub_span(0..2), span);
    }
}
