//! The credentials among `hit`'s flags, kept out of its plan's text.
//!
//! `hit` builds a plan from its flags and runs it like any plan, and the run seals that plan's
//! text as `plan.toml`. The password of the URL's userinfo, the values of query parameters named
//! like a credential, every `-H` value of a credential header and the `--body` are therefore
//! declared as the plan's secrets and written into its text as `${VAR}` references, read through
//! the compiler's variable lookup: the sealed plan holds the references, and the run's redactor
//! knows the values, so that they are redacted from every file and from stdout like a plan's own
//! secrets.

use std::collections::BTreeMap;

use anyhow::bail;

use shakedown_plan::redact::{MIN_SECRET_CHARS, Redactor, is_credential_name};

/// The secrets of one `hit` invocation: each with the variable its plan text reads it from.
#[derive(Default)]
pub struct HitSecrets {
    /// secret name -> (variable, value).
    secrets: BTreeMap<String, (String, String)>,
}

impl std::fmt::Debug for HitSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.secrets.keys()).finish()
    }
}

impl HitSecrets {
    /// Declare `value` (from the flag `what`) as the secret `name`, and return the reference to
    /// write in the plan's text. A value too short to be redacted safely is refused.
    pub fn reference(&mut self, name: &str, value: &str, what: &str) -> anyhow::Result<String> {
        let count = value.chars().count();
        if count < MIN_SECRET_CHARS {
            bail!(
                "{what} is a credential of {count} character{}, too short to keep out of the \
evidence (at least {MIN_SECRET_CHARS}, since a shorter value would also match ordinary words and \
figures); use a real credential",
                if count == 1 { "" } else { "s" }
            );
        }
        let name = format!("{name}_{}", self.secrets.len() + 1);
        let var = format!("HIT_{}", name.to_ascii_uppercase());
        self.secrets.insert(name, (var.clone(), value.to_string()));
        Ok(format!("${{{var}}}"))
    }

    /// The `[secrets]` section of the plan (empty without secrets).
    pub fn section(&self) -> String {
        if self.secrets.is_empty() {
            return String::new();
        }
        let mut out = String::from("[secrets]\n");
        for (name, (var, _)) in &self.secrets {
            out.push_str(&format!("{name} = {{ env = \"{var}\" }}\n"));
        }
        out
    }

    /// The value of the variable `var`, for the plan compiler's lookup.
    pub fn lookup(&self, var: &str) -> Option<String> {
        self.secrets
            .values()
            .find(|(v, _)| v == var)
            .map(|(_, value)| value.clone())
    }

    /// The URL's path and query, with the value of every query parameter named like a
    /// credential replaced by a reference.
    pub fn path_and_query(&mut self, url: &reqwest::Url) -> anyhow::Result<String> {
        let mut out = url.path().to_string();
        let Some(query) = url.query() else {
            return Ok(out);
        };
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, value)) if is_credential_name(name) && !value.is_empty() => {
                    let what = format!("the query parameter `{name}` of the URL");
                    let reference = self.reference("query", value, &what)?;
                    out.push_str(&format!("{name}={reference}"));
                }
                _ => out.push_str(pair),
            }
        }
        Ok(out)
    }

    /// The target's base URL (scheme, userinfo, host and port), with the userinfo's password
    /// replaced by a reference. The password is kept as written (percent-encoded) for the URL,
    /// and also decoded (how a `Basic` header carries it) when that differs.
    pub fn base(&mut self, url: &reqwest::Url) -> anyhow::Result<String> {
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("the URL has no host"))?;
        let mut out = format!("{}://", url.scheme());
        if let Some(password) = url.password() {
            let what = "the password in the URL";
            let reference = self.reference("url_password", password, what)?;
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
            if decoded != password {
                self.reference("url_password", &decoded, what)?;
            }
            out.push_str(&format!("{}:{reference}@", url.username()));
        } else if !url.username().is_empty() {
            out.push_str(&format!("{}@", url.username()));
        }
        out.push_str(host);
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
        Ok(out)
    }
}

/// `url` as `hit` may show it: the userinfo and credential query values redacted. For a URL
/// that does not parse too, since the message saying so quotes it.
pub fn shown_url(url: &str) -> String {
    Redactor::default().redact(url).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_references_and_the_rest_stays() {
        let mut s = HitSecrets::default();
        let url = reqwest::Url::parse(
            "http://ops:p%40ss-word-1@127.0.0.1:8080/x?page=2&api_key=k3y-k3y-k3y&q=a=b",
        )
        .expect("url");
        assert_eq!(
            s.base(&url).expect("base"),
            "http://ops:${HIT_URL_PASSWORD_1}@127.0.0.1:8080"
        );
        assert_eq!(
            s.path_and_query(&url).expect("path"),
            "/x?page=2&api_key=${HIT_QUERY_3}&q=a=b"
        );
        assert_eq!(
            s.lookup("HIT_URL_PASSWORD_1").as_deref(),
            Some("p%40ss-word-1")
        );
        assert_eq!(
            s.lookup("HIT_URL_PASSWORD_2").as_deref(),
            Some("p@ss-word-1")
        );
        assert_eq!(s.lookup("HIT_QUERY_3").as_deref(), Some("k3y-k3y-k3y"));
        let section = s.section();
        assert!(
            section.contains("query_3 = { env = \"HIT_QUERY_3\" }"),
            "{section}"
        );
        assert!(!section.contains("k3y"), "{section}");
    }

    #[test]
    fn a_short_credential_is_refused_without_showing_it() {
        let mut s = HitSecrets::default();
        let err = s
            .reference("header", "abc", "the value of -H X-Api-Key")
            .expect_err("too short");
        let text = err.to_string();
        assert!(text.contains("3 characters"), "{text}");
        assert!(!text.contains("abc"), "{text}");
    }

    #[test]
    fn the_shown_url_hides_userinfo_and_credential_values() {
        assert_eq!(
            shown_url("http://u:hunter22@127.0.0.1/x?token=abc&page=2"),
            "http://[REDACTED]@127.0.0.1/x?token=[REDACTED]&page=2"
        );
    }
}
