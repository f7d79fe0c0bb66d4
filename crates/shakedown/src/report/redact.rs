//! Redaction: every byte shakedown writes (reports, history, logs, the effective plan, error
//! messages) passes through a [`Redactor`] first.
//!
//! It replaces secret values wherever they appear, the values of credential-bearing headers
//! (`Authorization`, `X-API-Key`, cookies, anything named like a token or key), and credentials in
//! URLs (userinfo, and query parameters named like a token or key).

use std::borrow::Cow;

use crate::plan::model::Secrets;

/// The placeholder written instead of a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// Replaces secrets and credentials in text before it is written anywhere.
#[derive(Clone, Default)]
pub struct Redactor {
    /// (secret name, value), longest value first so that overlapping secrets redact fully.
    values: Vec<(String, String)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.values.len())
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
        let mut values: Vec<(String, String)> = secrets
            .values
            .iter()
            .filter(|(_, v)| !v.value.is_empty())
            .map(|(name, v)| (name.clone(), v.value.clone()))
            .collect();
        values.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        Redactor { values }
    }

    /// Replace every secret value in `text`, and credentials in any URLs it contains.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for (name, value) in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), &format!("[REDACTED:{name}]")));
            }
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
    use crate::plan::model::SecretValue;

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
}
