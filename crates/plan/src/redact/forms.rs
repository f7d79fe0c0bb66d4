//! Every form in which a secret can reach the evidence, so that the [`Redactor`] finds it
//! whatever happened to it on the way: quoted into a JSON string or a Rust message, escaped as
//! `\uXXXX` by a server that echoes it, percent-encoded into a URL or a form, escaped for HTML,
//! or base64-encoded (alone, or inside a longer value such as the `Basic` header built from a
//! URL's `user:secret`).
//!
//! Base64 turns each 3 bytes into 4 characters, so the characters that encode a secret depend on
//! where in the encoded data it starts. For each of the three offsets, the characters that
//! depend on the secret alone are a form, and so is the whole tail when the secret ends the data
//! (with and without padding): whatever came before the secret, its encoding is found.
//!
//! [`Redactor`]: crate::redact::Redactor

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

/// Bytes kept as they are by URL component encoding (RFC 3986's unreserved characters).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The WHATWG URL standard's fragment percent-encode set: what a URL parser (the `url` crate,
/// every browser) encodes in a fragment. Each set below adds to the one before; a URL written
/// with a secret in it carries the secret in the form its part's set gives.
const URL_FRAGMENT: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'`');
/// The query percent-encode set.
const URL_QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');
/// The special-query percent-encode set (the query of an `http` or `https` URL).
const URL_SPECIAL_QUERY: &AsciiSet = &URL_QUERY.add(b'\'');
/// The path percent-encode set.
const URL_PATH: &AsciiSet = &URL_QUERY.add(b'?').add(b'^').add(b'`').add(b'{').add(b'}');
/// The userinfo percent-encode set.
const URL_USERINFO: &AsciiSet = &URL_PATH
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'|');

/// Bytes kept as they are by `application/x-www-form-urlencoded` (where a space is `+`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// The shortest base64 fragment worth matching: shorter ones could occur by chance.
const MIN_FRAGMENT: usize = 8;

/// Every distinct form of `secret`, itself first. Forms shorter than the secret's own length
/// cannot occur (every encoding here is at least as long as what it encodes, except the
/// base64 fragments, which are kept only from [`MIN_FRAGMENT`] characters).
pub fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let mut add = |form: String| {
        if !form.is_empty() && !out.contains(&form) {
            out.push(form);
        }
    };
    add(json_escaped(secret));
    add(json_ascii_escaped(secret, false));
    add(json_ascii_escaped(secret, true));
    add(debug_escaped(secret));
    for form in percent_forms(secret) {
        add(form);
    }
    // As the HTML report escapes it.
    add(esc(secret));
    for form in base64_forms(secret.as_bytes()) {
        add(form);
    }
    out
}

/// As inside a JSON string written by serde_json: `"`, `\` and control characters escaped.
fn json_escaped(secret: &str) -> String {
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    unquote(&quoted)
}

/// As inside a JSON string written by an encoder that escapes everything beyond ASCII (Python's
/// default), with lower- or upper-case hex digits.
fn json_ascii_escaped(secret: &str, upper: bool) -> String {
    let mut out = String::new();
    for c in json_escaped(secret).chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            if upper {
                out.push_str(&format!("\\u{unit:04X}"));
            } else {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// As inside a Rust `{:?}` of a string (how an observed value is quoted into a message).
fn debug_escaped(secret: &str) -> String {
    unquote(&format!("{secret:?}"))
}

fn unquote(quoted: &str) -> String {
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(quoted)
        .to_string()
}

/// Percent-encoded as each part of a URL encodes it, as a URL component, and as a form, each with
/// upper-case hex digits (as the standards write them) and lower-case ones (as some encoders do).
fn percent_forms(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    let sets = [
        URL_FRAGMENT,
        URL_QUERY,
        URL_SPECIAL_QUERY,
        URL_PATH,
        URL_USERINFO,
        COMPONENT,
    ];
    let encoded = sets
        .into_iter()
        .map(|set| utf8_percent_encode(secret, set).to_string())
        .chain([form_encoded(secret)]);
    for form in encoded {
        let lower = lower_hex(&form);
        out.push(form);
        out.push(lower);
    }
    out
}

/// `text` with the hex digits of every `%XX` in lower case.
fn lower_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// As in a submitted form (`application/x-www-form-urlencoded`).
fn form_encoded(secret: &str) -> String {
    utf8_percent_encode(secret, FORM)
        .to_string()
        .replace("%20", "+")
}

/// The base64 (standard and URL-safe) characters that encode `secret` at each of the three
/// offsets it can start at in longer data, and its whole encoding when it ends the data.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for offset in 0..3 {
        let mut data = vec![0u8; offset];
        data.extend_from_slice(secret);
        // Characters before `skip` also encode the unknown bytes in front of the secret.
        let skip = match offset {
            0 => 0,
            1 => 2,
            _ => 3,
        };
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&data);
            // Whole groups of 3 bytes only: the last partial group also encodes what follows.
            let whole = data.len() / 3 * 4;
            if let Some(fragment) = encoded.get(skip..whole) {
                if fragment.len() >= MIN_FRAGMENT {
                    out.push(fragment.to_string());
                }
            }
            // The secret ends the data: its last group is known too, padded or not.
            if let Some(tail) = encoded.get(skip..) {
                out.push(tail.to_string());
            }
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            if let Some(tail) = engine.encode(&data).get(skip..) {
                out.push(tail.to_string());
            }
        }
    }
    out.retain(|form| form.len() >= MIN_FRAGMENT);
    out
}

/// Escape text and attribute values for HTML and SVG.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than line breaks and tabs are not allowed in XML.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(secret: &str, haystack: &str) -> bool {
        forms(secret).iter().any(|form| haystack.contains(form))
    }

    #[test]
    fn quoted_escaped_and_encoded_forms_are_found() {
        let secret = "pa\"ss\\wörd 1&2";
        let json = serde_json::to_string(&serde_json::json!({ "echo": secret })).unwrap();
        assert!(found(secret, &json), "{json}");
        let python_style = "{\"echo\": \"pa\\\"ss\\\\w\\u00f6rd 1&2\"}";
        assert!(found(secret, python_style));
        assert!(found(secret, &format!("expected {secret:?}")));
        let url = format!("/x?note={}", utf8_percent_encode(secret, COMPONENT));
        assert!(found(secret, &url), "{url}");
        assert!(found(secret, "a=1&note=pa%22ss%5Cw%C3%B6rd+1%262"));
        assert!(found(secret, "<td>pa&quot;ss\\wörd 1&amp;2</td>"));
        assert!(found(secret, "a=1&note=pa%22ss%5cw%c3%b6rd+1%262"));
    }

    #[test]
    fn a_secret_in_any_part_of_a_url_is_found_as_the_url_parser_wrote_it() {
        let secret = "Qz\"Quote\\Back`{Slash}'Xü y";
        for (part, url) in [
            ("query", format!("http://h/x?q={secret}")),
            // In the path of an http URL, `\` is read as `/`: a change, not an encoding.
            ("path", format!("http://h/x/{}", secret.replace('\\', "-"))),
            ("fragment", format!("http://h/x#{secret}")),
        ] {
            let parsed = reqwest::Url::parse(&url).expect("url").to_string();
            let secret = if part == "path" {
                secret.replace('\\', "-")
            } else {
                secret.to_string()
            };
            assert!(found(&secret, &parsed), "{part}: {parsed}");
        }
        let mut url = reqwest::Url::parse("http://h/").expect("url");
        url.set_password(Some(secret)).expect("password");
        assert!(found(secret, url.as_str()), "userinfo: {url}");
    }

    #[test]
    fn base64_is_found_whatever_comes_before_the_secret() {
        let secret = "s3cr3t-canary";
        for user in ["", "a", "ab", "abc", "user", "admin", "operator"] {
            let basic = STANDARD.encode(format!("{user}:{secret}"));
            assert!(found(secret, &basic), "user {user:?}: {basic}");
            let inside = URL_SAFE_NO_PAD.encode(format!("{user}{secret}, and more after it"));
            assert!(found(secret, &inside), "user {user:?}: {inside}");
        }
        assert!(found(secret, &STANDARD.encode(secret)));
    }

    #[test]
    fn every_fragment_is_long_enough_not_to_match_by_chance() {
        for secret in ["12345678", "abcdefgh", "ÿÿÿÿ"] {
            assert!(forms(secret).iter().all(|f| f.len() >= MIN_FRAGMENT));
        }
    }
}
