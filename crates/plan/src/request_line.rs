//! Request lines: `"GET /health"` for a target's own probes, and `"POST api:/api/v1/runs"`
//! (method, target, path) everywhere else.
//!
//! The path is everything after the method (and target), spaces included, because it is a
//! template and `{{ key }}` contains spaces.

use std::ops::Range;

use crate::model::Method;

/// Which request-line form a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `METHOD target:/path`.
    Targeted,
    /// `METHOD /path`: the target is implied (health and preflight probes).
    PathOnly,
}

/// A parsed request line. Ranges are byte ranges in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method.
    pub method: Method,
    /// The target name, in the targeted form.
    pub target: Option<&'a str>,
    /// Where the target name is.
    pub target_range: Range<usize>,
    /// The path (a template source), starting with `/`.
    pub path: &'a str,
    /// Where the path is.
    pub path_range: Range<usize>,
}

/// Why a request line does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLineError {
    /// What is wrong.
    pub message: String,
    /// The offending part of the line.
    pub range: Range<usize>,
}

const METHODS: [(&str, Method); 7] = [
    ("GET", Method::Get),
    ("POST", Method::Post),
    ("PUT", Method::Put),
    ("PATCH", Method::Patch),
    ("DELETE", Method::Delete),
    ("HEAD", Method::Head),
    ("OPTIONS", Method::Options),
];

/// The valid methods, for hints.
pub fn method_names() -> String {
    METHODS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse a request line of the given form.
pub fn parse_request_line(line: &str, form: Form) -> Result<RequestLine<'_>, RequestLineError> {
    let start = line.len() - line.trim_start().len();
    let end = line.trim_end().len();
    let err = |message: String, range: Range<usize>| RequestLineError { message, range };
    if start >= end {
        return Err(err("the request line is empty".into(), 0..line.len()));
    }
    let method_end = line[start..end]
        .find(char::is_whitespace)
        .map_or(end, |i| start + i);
    let word = &line[start..method_end];
    let Some(method) = METHODS.iter().find(|(n, _)| *n == word).map(|(_, m)| *m) else {
        let upper = word.to_ascii_uppercase();
        let message = if METHODS.iter().any(|(n, _)| *n == upper) {
            format!("the method `{word}` must be upper-case: `{upper}`")
        } else {
            format!("`{word}` is not an HTTP method")
        };
        return Err(err(message, start..method_end));
    };
    let spec_start =
        method_end + (line[method_end..end].len() - line[method_end..end].trim_start().len());
    if spec_start >= end {
        return Err(err(
            format!(
                "the request line `{}` has no path after the method",
                line.trim()
            ),
            start..end,
        ));
    }
    let spec = &line[spec_start..end];
    let (target, target_range, path_start) = match spec.find(['/', ':']) {
        Some(colon) if spec.as_bytes()[colon] == b':' => (
            Some(&spec[..colon]),
            spec_start..spec_start + colon,
            spec_start + colon + 1,
        ),
        _ => (None, spec_start..spec_start, spec_start),
    };
    match (form, target) {
        (Form::Targeted, None) => {
            return Err(err(
                format!("`{spec}` names no target: write `{word} target:{spec}`"),
                spec_start..end,
            ));
        }
        (Form::Targeted, Some(t)) if t.is_empty() || t.contains(char::is_whitespace) => {
            return Err(err(format!("`{t}` is not a target name"), target_range));
        }
        (Form::PathOnly, Some(t)) => {
            return Err(err(
                format!(
                    "a probe is sent to its own target, so `{t}:` must go: write `{word} {}`",
                    &line[path_start..end]
                ),
                target_range,
            ));
        }
        _ => {}
    }
    let path = &line[path_start..end];
    if !path.starts_with('/') {
        return Err(err(
            format!("the path `{path}` must start with `/`"),
            path_start..end,
        ));
    }
    Ok(RequestLine {
        method,
        target,
        target_range,
        path,
        path_range: path_start..end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let line = parse_request_line("POST api:/api/v1/runs?key={{ key }}", Form::Targeted)
            .expect("parses");
        assert_eq!(line.method, Method::Post);
        assert_eq!(line.target, Some("api"));
        assert_eq!(line.path, "/api/v1/runs?key={{ key }}");
        assert_eq!(line.path_range, 9..35);
        let line = parse_request_line("  GET   /health ", Form::PathOnly).expect("parses");
        assert_eq!(
            (line.method, line.target, line.path),
            (Method::Get, None, "/health")
        );
    }

    #[test]
    fn each_mistake_is_named_with_its_range() {
        let e = parse_request_line("get api:/x", Form::Targeted).expect_err("lower case");
        assert!(e.message.contains("upper-case: `GET`"), "{}", e.message);
        assert_eq!(e.range, 0..3);
        let e = parse_request_line("FETCH api:/x", Form::Targeted).expect_err("no such method");
        assert!(e.message.contains("`FETCH` is not an HTTP method"));
        let e = parse_request_line("GET /x", Form::Targeted).expect_err("no target");
        assert!(e.message.contains("write `GET target:/x`"), "{}", e.message);
        let e = parse_request_line("GET api:/x", Form::PathOnly).expect_err("target in a probe");
        assert!(e.message.contains("write `GET /x`"), "{}", e.message);
        let e = parse_request_line("GET api:x", Form::Targeted).expect_err("relative path");
        assert!(e.message.contains("must start with `/`"));
        assert_eq!(e.range, 8..9);
        let e = parse_request_line("GET", Form::Targeted).expect_err("no path");
        assert!(e.message.contains("no path"));
        assert!(parse_request_line("   ", Form::PathOnly).is_err());
    }
}
