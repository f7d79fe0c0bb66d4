//! Redaction: every byte shakedown writes (reports, history, logs, the effective plan, error
//! messages) passes through a [`Redactor`] first.
//!
//! It replaces secret values wherever they appear, in every form they can take on the way
//! ([`redact_forms`]: quoted, escaped, percent-encoded, base64), the values of credential-bearing
//! headers (`Authorization`, `X-API-Key`, cookies, anything named like a token or key), and
//! credentials in URLs (userinfo, and query parameters named like a token or key).
//!
//! Structured evidence is redacted by structure: [`Redactor::redact_json`] rewrites the string
//! values of a JSON document before it is serialised, so a replacement can never break the
//! document's syntax or touch a word of the report itself (a key, a status, a figure). Plain text
//! (the console, logs, captured process output) is redacted as text. A secret shorter than
//! [`MIN_SECRET_CHARS`] is refused by `validate`, since as text it would also match ordinary
//! words and figures; one that reaches a redactor anyway is replaced only where it is a whole
//! value.
//!
//! [`redact_forms`]: crate::redact::forms

pub mod forms;
pub mod stream;

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::model::Secrets;

/// The placeholder written instead of a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// The fewest characters a secret may have: shorter values are refused by `validate`.
pub const MIN_SECRET_CHARS: usize = 8;

/// Replaces secrets and credentials in text before it is written anywhere.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form of every secret long enough to search for, and what replaces each.
    search: Option<Arc<Search>>,
    /// (value, replacement) of secrets too short to search for: replaced only as whole values.
    whole: Vec<(String, String)>,
}

/// One automaton over every form of every secret, leftmost-longest, so that the longest form
/// found at a place (an escaped form over the bare one it begins with) is the one replaced.
struct Search {
    /// `None` only if the automaton could not be built, when each form is replaced in turn.
    automaton: Option<AhoCorasick>,
    /// Every form, longest first.
    patterns: Vec<String>,
    /// The replacement of each pattern, by pattern index.
    replacements: Vec<String>,
}

impl Search {
    fn new(mut forms: Vec<(String, String)>) -> Option<Search> {
        if forms.is_empty() {
            return None;
        }
        forms.sort_by_key(|(form, _)| std::cmp::Reverse(form.len()));
        let (patterns, replacements): (Vec<String>, Vec<String>) = forms.into_iter().unzip();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .map_err(|e| tracing::warn!(error = %e, "secret search: replacing form by form"))
            .ok();
        Some(Search {
            automaton,
            patterns,
            replacements,
        })
    }

    fn replace<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.automaton {
            Some(automaton) if automaton.is_match(text) => {
                Cow::Owned(automaton.replace_all(text, &self.replacements))
            }
            Some(_) => Cow::Borrowed(text),
            None => {
                let mut out = Cow::Borrowed(text);
                for (form, replacement) in self.patterns.iter().zip(&self.replacements) {
                    if out.contains(form.as_str()) {
                        out = Cow::Owned(out.replace(form.as_str(), replacement));
                    }
                }
                out
            }
        }
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field(
                "forms",
                &self.search.as_ref().map_or(0, |s| s.patterns.len()),
            )
            .field("whole_values", &self.whole.len())
            .finish()
    }
}

/// Whether a header or parameter name looks like it carries a credential.
pub fn is_credential_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "authorization"
        || lower == "proxy-authorization"
        || lower == "cookie"
        || lower == "set-cookie"
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "api-key",
            "api_key",
            "apikey",
            "x-api-key",
            "access_key",
            "session",
        ]
        .iter()
        .any(|needle| lower.contains(needle))
}

impl Redactor {
    /// A redactor for the plan's secrets.
    pub fn new(secrets: &Secrets) -> Redactor {
        let mut forms = Vec::new();
        let mut whole = Vec::new();
        let named = secrets
            .values
            .iter()
            .map(|(name, secret)| (name, &secret.value))
            .chain(&secrets.url_passwords);
        for (name, value) in named {
            let replacement = format!("[REDACTED:{name}]");
            if value.chars().count() < MIN_SECRET_CHARS {
                if !value.is_empty() {
                    whole.push((value.clone(), replacement));
                }
                continue;
            }
            for form in crate::redact::forms::forms(value) {
                forms.push((form, replacement.clone()));
            }
        }
        Redactor {
            search: Search::new(forms).map(Arc::new),
            whole,
        }
    }

    /// Replace every secret value in `text`, and credentials in any URLs it contains.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        if let Some((_, replacement)) = self.whole.iter().find(|(value, _)| value == text) {
            return Cow::Owned(replacement.clone());
        }
        if let Some(search) = &self.search {
            out = search.replace(text);
        }
        if out.contains("://") || out.contains('?') {
            let redacted = redact_url_credentials(&out);
            if redacted != out {
                out = Cow::Owned(redacted);
            }
        }
        out
    }

    /// The value to write for header `name`: fully redacted for credential headers, otherwise
    /// with secrets redacted.
    pub fn header_value(&self, name: &str, value: &str) -> String {
        if is_credential_name(name) {
            REDACTED.to_string()
        } else {
            self.redact(value).into_owned()
        }
    }

    /// `value` as one line of JSON, its values redacted before it is serialised (see
    /// [`Redactor::redact_json`]).
    pub fn json_line<T: serde::Serialize + ?Sized>(&self, value: &T) -> std::io::Result<String> {
        let mut json = serde_json::to_value(value).map_err(std::io::Error::other)?;
        self.redact_json(&mut json);
        serde_json::to_string(&json).map_err(std::io::Error::other)
    }

    /// A TOML document (the effective plan) with its secrets redacted. As text first, which keeps
    /// its comments and layout; if a replacement broke its syntax (a secret written as a bare
    /// number, say), value by value instead, every string and every scalar that holds a secret.
    pub fn redact_toml(&self, source: &str) -> String {
        let text = self.redact(source);
        let Cow::Owned(text) = text else {
            return source.to_string();
        };
        if text.parse::<toml::Table>().is_ok() {
            return text;
        }
        let Ok(mut table) = source.parse::<toml::Table>() else {
            // Not TOML to begin with: there is no structure to keep.
            return text;
        };
        self.redact_toml_table(&mut table);
        toml::to_string(&table).unwrap_or_else(|_| REDACTED.to_string())
    }

    fn redact_toml_table(&self, table: &mut toml::Table) {
        let entries = std::mem::take(table);
        for (key, mut value) in entries {
            self.redact_toml_value(&mut value);
            table.insert(self.redact(&key).into_owned(), value);
        }
    }

    fn redact_toml_value(&self, value: &mut toml::Value) {
        match value {
            toml::Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_toml_value(v)),
            toml::Value::Table(table) => self.redact_toml_table(table),
            scalar => {
                if let Cow::Owned(r) = self.redact(&scalar.to_string()) {
                    *scalar = toml::Value::String(r);
                }
            }
        }
    }

    /// Redact every string inside a JSON value, and whole values under credential-like keys.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    // A number under a name like `total_tokens` counts tokens (LLM usage);
                    // it is not a credential.
                    let token_count = v.is_number() && k.to_ascii_lowercase().ends_with("tokens");
                    if is_credential_name(k)
                        && !token_count
                        && !v.is_null()
                        && !v.is_object()
                        && !v.is_array()
                    {
                        *v = serde_json::Value::String(REDACTED.to_string());
                    } else {
                        self.redact_json(v);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Redact `user:password@` in URLs and the values of credential-like query parameters.
fn redact_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // userinfo: scheme://user:pass@host
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        if let Some(at) = authority.rfind('@') {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        } else {
            out.push_str(authority);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    redact_query_params(&out)
}

fn redact_query_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text;
    let mut last = 0;
    for (i, c) in text.char_indices() {
        // Inside a value already redacted (it may hold a `?` of its own): nothing to do.
        if i < last || (c != '?' && c != '&') {
            continue;
        }
        let start = i + 1;
        let Some(eq_rel) = bytes[start..].find('=') else {
            continue;
        };
        let name = &bytes[start..start + eq_rel];
        if name.is_empty()
            || name.contains(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
        {
            continue;
        }
        if !is_credential_name(name) {
            continue;
        }
        let value_start = start + eq_rel + 1;
        let value_end = bytes[value_start..]
            .find(|ch: char| ch == '&' || ch == '#' || ch.is_whitespace() || ch == '"')
            .map(|e| value_start + e)
            .unwrap_or(bytes.len());
        out.push_str(&bytes[last..value_start]);
        out.push_str(REDACTED);
        last = value_end;
    }
    out.push_str(&bytes[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretValue;

    fn redactor() -> Redactor {
        let mut secrets = Secrets::default();
        secrets.values.insert(
            "ops_key".into(),
            SecretValue {
                env: "OPS_KEY".into(),
                value: "s3cr3t-canary".into(),
            },
        );
        Redactor::new(&secrets)
    }

    #[test]
    fn secret_values_are_replaced_everywhere() {
        let r = redactor();
        let out = r.redact("key s3cr3t-canary and again s3cr3t-canary");
        assert!(!out.contains("s3cr3t-canary"));
        assert!(out.contains("[REDACTED:ops_key]"));
    }

    #[test]
    fn credential_headers_and_url_credentials_are_redacted() {
        let r = redactor();
        assert_eq!(r.header_value("Authorization", "Bearer abc"), REDACTED);
        assert_eq!(r.header_value("Accept", "text/plain"), "text/plain");
        let url = r.redact("GET http://user:pw@127.0.0.1:80/x?token=abc&page=2");
        assert_eq!(
            url,
            "GET http://[REDACTED]@127.0.0.1:80/x?token=[REDACTED]&page=2"
        );
    }

    #[test]
    fn a_credential_value_holding_another_query_is_redacted_once() {
        let r = redactor();
        assert_eq!(
            r.redact("GET /x?token=a?api_key=bc&page=2"),
            "GET /x?token=[REDACTED]&page=2"
        );
        assert_eq!(r.redact("?token=x?token=y"), "?token=[REDACTED]");
    }

    #[test]
    fn token_counts_are_not_credentials_but_token_strings_are() {
        let r = Redactor::new(&Secrets::default());
        let mut doc = serde_json::json!({"tokens": 6, "total_tokens": 9, "tokens_str": "abc", "access_token": "xyz"});
        r.redact_json(&mut doc);
        assert_eq!(doc["tokens"], 6);
        assert_eq!(doc["total_tokens"], 9);
        assert_eq!(doc["tokens_str"], REDACTED);
        assert_eq!(doc["access_token"], REDACTED);
    }

    #[test]
    fn text_without_secrets_or_credentials_is_borrowed_unchanged() {
        let r = redactor();
        let text = "GET http://127.0.0.1:8080/health?page=2 returned 200";
        assert!(matches!(r.redact(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn json_credential_keys_are_redacted() {
        let r = redactor();
        let mut v =
            serde_json::json!({"password": "hunter2", "nested": {"note": "s3cr3t-canary"}, "n": 1});
        r.redact_json(&mut v);
        assert_eq!(v["password"], REDACTED);
        assert_eq!(v["nested"]["note"], "[REDACTED:ops_key]");
        assert_eq!(v["n"], 1);
    }

    fn redactor_of(name: &str, value: &str) -> Redactor {
        let mut secrets = Secrets::default();
        secrets.values.insert(
            name.into(),
            SecretValue {
                env: "X".into(),
                value: value.into(),
            },
        );
        Redactor::new(&secrets)
    }

    #[test]
    fn escaped_and_encoded_forms_are_replaced_whole() {
        let r = redactor_of("pw", "qu\"ote\\ö-secret");
        let quoted = format!("expected {:?}", "qu\"ote\\ö-secret");
        assert_eq!(r.redact(&quoted), "expected \"[REDACTED:pw]\"");
        let python = r#"{"echo": "qu\"ote\\\u00f6-secret"}"#;
        assert_eq!(r.redact(python), r#"{"echo": "[REDACTED:pw]"}"#);
    }

    #[test]
    fn a_json_document_stays_valid_and_its_figures_untouched() {
        let r = redactor_of("pin", "12345678");
        let mut doc = serde_json::json!({
            "requests": 123456789,
            "note": "pin 12345678 sent",
            "verdict": "GO",
        });
        r.redact_json(&mut doc);
        assert_eq!(doc["requests"], 123456789);
        assert_eq!(doc["note"], "pin [REDACTED:pin] sent");
        assert_eq!(doc["verdict"], "GO");
        let line = r.json_line(&doc).expect("encodes");
        assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok());
    }

    #[test]
    fn a_plan_holding_a_secret_as_a_bare_number_stays_valid_toml() {
        let r = redactor_of("pin", "12345678");
        let source = "# pin 12345678\n[plan]\nname = \"x 12345678\"\nseed = 12345678\n";
        let out = r.redact_toml(source);
        let table: toml::Table = out.parse().expect("still TOML");
        assert_eq!(table["plan"]["seed"].as_str(), Some("[REDACTED:pin]"));
        assert!(!out.contains("12345678"), "{out}");
        // Where text redaction keeps the syntax, the layout and comments are kept too.
        let kept = r.redact_toml("# pin 12345678\nname = \"12345678\"\n");
        assert_eq!(kept, "# pin [REDACTED:pin]\nname = \"[REDACTED:pin]\"\n");
    }

    #[test]
    fn a_short_value_is_replaced_only_where_it_is_the_whole_value() {
        let r = redactor_of("p", "GO");
        assert_eq!(r.redact("GO"), "[REDACTED:p]");
        assert_eq!(r.redact("verdict: GO"), "verdict: GO");
    }
}
