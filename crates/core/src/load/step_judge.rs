//! How an HTTP step judges one response: its status, its JSON, the poll condition, the latency
//! bound, the body's contents, and then its captures.

use minijinja::Value;

use super::http::{Exchange, excerpt};
use super::prepared::HttpSpec;
use super::step::EXCERPT;
use super::vu::VirtualUser;
use shakedown_plan::model::StatusSet;

/// What one response means for the step.
pub(super) enum Judgement {
    /// Every expectation held (captures are stored).
    Pass,
    /// The poll condition does not hold yet; the value it saw.
    Pending(String),
    /// An expectation failed.
    Fail(String),
}

impl VirtualUser {
    /// Check one response against the step's expectations and poll condition, and store its
    /// captures if everything held.
    pub(super) fn judge(
        &mut self,
        spec: &HttpSpec,
        ex: &Exchange,
        ctx: Option<&Value>,
    ) -> Judgement {
        if let Some(e) = &ex.error {
            return Judgement::Fail(e.to_string());
        }
        let Some(status) = ex.status else {
            return Judgement::Fail("no response".into());
        };
        if !spec.status.contains(status) {
            return Judgement::Fail(format!(
                "status {status}, expected {}: {}",
                describe(&spec.status),
                excerpt(&self.body, EXCERPT)
            ));
        }
        let doc: Option<serde_json::Value> = if spec.needs_json {
            match serde_json::from_slice(&self.body) {
                Ok(v) => Some(v),
                Err(e) => {
                    return Judgement::Fail(format!(
                        "body is not JSON ({e}): {}",
                        excerpt(&self.body, EXCERPT)
                    ));
                }
            }
        } else {
            None
        };
        if let (Some(poll), Some(doc)) = (&spec.poll, &doc) {
            let seen = poll.until.path.query(doc).first();
            if !seen.is_some_and(|v| poll.until.one_of.contains(v)) {
                return Judgement::Pending(seen.map_or("no match".into(), |v| v.to_string()));
            }
        }
        if let Some(max) = spec.max_latency
            && ex.latency > max
        {
            return Judgement::Fail(format!(
                "latency {}ms over the {}ms bound",
                ex.latency.as_millis(),
                max.as_millis()
            ));
        }
        for needle in &spec.body_contains {
            if !contains(&self.body, needle.as_bytes()) {
                return Judgement::Fail(format!("body does not contain {needle:?}"));
            }
        }
        let Some(doc) = doc else {
            return Judgement::Pass;
        };
        for check in &spec.json {
            let Some(actual) = check.path.query(&doc).first() else {
                return Judgement::Fail(format!("{}: no match in the body", check.source));
            };
            let Some(expected) = &check.equals else {
                continue;
            };
            let want = match expected.render(ctx.unwrap_or(&Value::UNDEFINED)) {
                Ok(v) => v,
                Err(e) => {
                    return Judgement::Fail(format!("expected value of {}: {e}", check.source));
                }
            };
            if !json_matches(actual, &want, !expected.is_literal()) {
                return Judgement::Fail(format!("{}: expected {want}, got {actual}", check.source));
            }
        }
        for capture in &spec.captures {
            match capture.path.query(&doc).first() {
                Some(v) => self.scope.capture(&capture.name, Value::from_serialize(v)),
                None => {
                    return Judgement::Fail(format!(
                        "capture `{}`: no match for {}",
                        capture.name, capture.source
                    ));
                }
            }
        }
        Judgement::Pass
    }
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Equality of a JSON value with an expectation. A templated expectation renders to a string,
/// so it also matches a number or boolean with the same text (`{{ run_id }}` against `42`).
pub(crate) fn json_matches(
    actual: &serde_json::Value,
    expected: &serde_json::Value,
    templated: bool,
) -> bool {
    if actual == expected {
        return true;
    }
    match (actual, expected) {
        (
            serde_json::Value::Number(_) | serde_json::Value::Bool(_),
            serde_json::Value::String(s),
        ) if templated => s.parse::<serde_json::Value>().is_ok_and(|v| v == *actual),
        _ => false,
    }
}

/// A status set as written in messages: `2xx` or `[200, 201]`.
pub(crate) fn describe(set: &StatusSet) -> String {
    match set {
        StatusSet::Success => "2xx".into(),
        StatusSet::Codes(codes) => {
            let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
            format!("[{}]", codes.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templated_expectations_match_numbers_by_text() {
        assert!(json_matches(&json!(42), &json!("42"), true));
        assert!(!json_matches(&json!(42), &json!("42"), false));
        assert!(json_matches(&json!("a"), &json!("a"), false));
        assert!(!json_matches(&json!("a"), &json!("b"), true));
    }

    #[test]
    fn substring_search_on_bytes() {
        assert!(contains(b"event: run_completed\n", b"run_completed"));
        assert!(!contains(b"run_started", b"run_completed"));
        assert!(contains(b"", b""));
    }
}
