//! The first stage: TOML text to [`RawPlanFile`], with diagnostics for syntax errors, wrong types
//! and every unknown key.
//!
//! Syntax and type errors stop this stage (serde cannot go on past them). Unknown keys do not:
//! the raw structs accept and record them through `serde_ignored`, so that all of a file's unknown
//! keys are reported at once, together with the compile step's errors, each with the valid keys
//! of its table.

use std::ops::Range;

use crate::diagnostics::Diagnostic;
use crate::locate::{DisplayPath, Locator, Seg};
use crate::raw::{ALL_TABLES, RawPlanFile};
use crate::schema::{FieldSchema, Shape, TableSchema, doc_text};

/// The hint for TOML syntax errors.
const SYNTAX_HINT: &str = "fix the TOML syntax here: strings are quoted, an inline table `{ ... }` \
stays on one line, and a key is written once per table";

/// Parse `source` into the raw plan (`locator` is made from `source`, and holds its syntax
/// error if it has one). On success, also returns a diagnostic for every unknown key.
pub fn parse_raw(
    source: &str,
    locator: &Locator<'_>,
) -> Result<(RawPlanFile, Vec<Diagnostic>), Box<Diagnostic>> {
    if let Some(err) = locator.syntax_error() {
        // An unclosed string or table can run to the end of the file: point at where it starts.
        let span = err.span().map(|s| {
            let line_end = source
                .get(s.start..)
                .and_then(|rest| rest.find('\n'))
                .map_or(source.len(), |i| s.start + i);
            s.start..s.end.min(line_end).max(s.start)
        });
        let diagnostic = Diagnostic::new(span, format!("invalid TOML: {}", err.message().trim()))
            .label("here")
            .hint(SYNTAX_HINT);
        return Err(Box::new(diagnostic));
    }
    let mut ignored: Vec<Vec<Seg>> = Vec::new();
    let deserializer = toml::Deserializer::new(source);
    let raw: Result<RawPlanFile, toml::de::Error> =
        serde_ignored::deserialize(deserializer, |path| ignored.push(segments(&path)));
    match raw {
        Ok(raw) => {
            let unknown = ignored
                .iter()
                .map(|path| unknown_key(path, locator))
                .collect();
            Ok((raw, unknown))
        }
        Err(err) => Err(Box::new(type_error(&err, locator))),
    }
}

/// A serde_ignored path as key segments, without the `Option` and `Spanned` layers.
fn segments(path: &serde_ignored::Path<'_>) -> Vec<Seg> {
    let mut out = match path {
        serde_ignored::Path::Root => return Vec::new(),
        serde_ignored::Path::Seq { parent, .. }
        | serde_ignored::Path::Map { parent, .. }
        | serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => segments(parent),
    };
    match path {
        serde_ignored::Path::Seq { index, .. } => out.push(Seg::Index(*index)),
        serde_ignored::Path::Map { key, .. } if !key.starts_with("$__serde_spanned_private") => {
            out.push(Seg::Key(key.clone()));
        }
        _ => {}
    }
    out
}

/// Walk the schema along `path`: the table holding the last key, and that key's field if valid.
fn schema_at(path: &[Seg]) -> Option<(&'static TableSchema, Option<&'static FieldSchema>)> {
    let mut table = ALL_TABLES.first().copied()?;
    let mut i = 0;
    loop {
        let Seg::Key(key) = path.get(i)? else {
            return None;
        };
        let Some(field) = table.field(key) else {
            return Some((table, None));
        };
        let skip = match field.nested {
            Some(n) if n.shape == Shape::Table => 1,
            Some(_) => 2,
            None => return Some((table, Some(field))),
        };
        if i + skip >= path.len() || path[i + 1..].iter().all(|s| matches!(s, Seg::Index(_))) {
            return Some((table, Some(field)));
        }
        table = field.nested?.table;
        i += skip;
    }
}

fn unknown_key(path: &[Seg], locator: &Locator<'_>) -> Diagnostic {
    let key = match path.last() {
        Some(Seg::Key(k)) => k.clone(),
        _ => String::new(),
    };
    let parent = DisplayPath(&path[..path.len().saturating_sub(1)]).to_string();
    let place = if parent.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in `{parent}`")
    };
    let message = format!("unknown key `{key}` {place}");
    let diagnostic = Diagnostic::new(locator.key_span(path), message);
    match schema_at(path) {
        Some((table, _)) => {
            let keys = table.keys();
            let suggestion = closest(&key, &keys)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            diagnostic
                .label(format!("not a key of {}", table.title))
                .hint(format!(
                    "{suggestion}the keys of {} are: {}",
                    table.title,
                    keys.join(", ")
                ))
        }
        None => diagnostic.label("unknown key").hint("remove it"),
    }
}

fn type_error(err: &toml::de::Error, locator: &Locator<'_>) -> Diagnostic {
    let mut message = err.message().trim().to_string();
    for table in ALL_TABLES {
        message = message.replace(
            &format!("struct {}", table.rust_name),
            &format!("a table ({})", table.title),
        );
    }
    let span: Option<Range<usize>> = err.span();
    let path = span
        .as_ref()
        .map(|s| locator.path_at(s))
        .unwrap_or_default();
    let field = schema_at(&path).and_then(|(_, f)| f);
    let shown = DisplayPath(&path).to_string();
    let message = if shown.is_empty() {
        message
    } else {
        format!("`{shown}` has the wrong type: {message}")
    };
    let diagnostic = Diagnostic::new(span, message).label("wrong type");
    match field {
        Some(f) => {
            let doc = doc_text(f.doc).replace('\n', " ");
            let first = doc
                .split(". ")
                .next()
                .unwrap_or_default()
                .trim_end_matches('.');
            diagnostic.hint(format!("`{}` expects {}: {first}", f.key(), f.kind))
        }
        None => diagnostic.hint("see docs/plan.md for the type of each key"),
    }
}

/// The valid key closest to `key` by edit distance, if it is close enough to be a typo.
fn closest<'k>(key: &str, keys: &[&'k str]) -> Option<&'k str> {
    keys.iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= (k.len().max(key.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<(RawPlanFile, Vec<Diagnostic>), Box<Diagnostic>> {
        parse_raw(source, &Locator::new(source))
    }

    #[test]
    fn every_unknown_key_is_reported_with_the_valid_keys() {
        let source = "[plan]\nname = \"x\"\nlimits = { duration = \"1m\", requests = 1, reqs = 2 }\n\
            [targets.api]\nurl = \"http://127.0.0.1\"\nhelth = \"GET /\"\n\
            health = { request = \"GET /\", stauts = 200 }\npreflight = [\"GET /a\", { request = \"GET /b\", header = {} }]\n\
            [scenarios.s]\nsteps = [{ request = \"GET api:/\", expct = { status = 200 } }, { think = \"1s\", track = { key = \"k\", extra = 1 } }]\n\
            [[load]]\nid = \"L1\"\nexecutor = { vus = { count = 1, iterations = 1, ramp = 2 } }\n\
            [bogus]\n";
        let (_, unknown) = parse(source).expect("parses");
        let messages: Vec<&str> = unknown.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "unknown key `reqs` in `plan.limits`",
                "unknown key `helth` in `targets.api`",
                "unknown key `stauts` in `targets.api.health`",
                "unknown key `header` in `targets.api.preflight[1]`",
                "unknown key `expct` in `scenarios.s.steps[0]`",
                "unknown key `extra` in `scenarios.s.steps[1].track`",
                "unknown key `ramp` in `load[0].executor.vus`",
                "unknown key `bogus` at the top level",
            ]
        );
        let helth = &unknown[1];
        assert_eq!(helth.span.clone().map(|s| &source[s]), Some("helth"));
        assert!(
            helth.hint.starts_with(
                "did you mean `health`? the keys of [targets.NAME] are: url, headers, health"
            ),
            "{}",
            helth.hint
        );
        let stauts = &unknown[2].hint;
        assert!(
            stauts.contains("did you mean `status`? the keys of probe are"),
            "{stauts}"
        );
        assert!(unknown[4].hint.contains("did you mean `expect`?"));
        assert!(
            unknown[7]
                .hint
                .contains("plan, settle, vars, secrets, targets, scenarios, load")
        );
    }

    #[test]
    fn a_type_error_names_the_key_and_its_type() {
        let source = "[plan]\nname = \"x\"\n[targets.api]\nurl = 5\n";
        let err = parse(source).expect_err("wrong type");
        assert!(
            err.message
                .starts_with("`targets.api.url` has the wrong type: invalid type: integer `5`"),
            "{}",
            err.message
        );
        assert!(
            err.hint.starts_with("`url` expects string (URL): Base URL, `http` or `https`, usually from the environment (`"),
            "{}",
            err.hint
        );
        assert_eq!(err.span.map(|s| &source[s]), Some("5"));

        let err = parse("[secrets]\nkey = \"VAR\"\n").expect_err("a secret is a table");
        assert!(
            err.message.contains("expected a table ([secrets] NAME)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_syntax_error_is_located() {
        let source = "[plan]\nname = \"x\n";
        let err = parse(source).expect_err("unterminated string");
        assert!(err.message.starts_with("invalid TOML"), "{}", err.message);
        assert!(err.span.is_some());
        assert!(err.hint.contains("TOML syntax"));
    }

    #[test]
    fn typos_are_matched_by_edit_distance() {
        assert_eq!(edit_distance("helth", "health"), 1);
        assert_eq!(closest("helth", &["url", "health"]), Some("health"));
        assert_eq!(closest("zzzzzz", &["url", "health"]), None);
    }
}
