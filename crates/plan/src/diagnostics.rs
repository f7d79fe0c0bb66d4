//! Plan diagnostics: one per problem, each with a position, the offending value and a hint, and
//! [`PlanErrors`], which holds every diagnostic of a file and renders them together.
//!
//! Rendering uses codespan-reporting without colour, so the text is the same on a terminal, in a
//! CI log and in a test assertion.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Chars, Config};

/// One problem in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, naming the field and the offending value.
    pub message: String,
    /// 1-based line of the problem; 0 when the problem has no position (an unreadable file).
    pub line: usize,
    /// 1-based column (in characters) of the problem; 0 when it has no position.
    pub column: usize,
    /// Byte range in the plan text, when the problem has a position.
    pub span: Option<Range<usize>>,
    /// The offending text as written in the plan, when there is one.
    pub value: Option<String>,
    /// A short note under the highlighted span.
    pub label: String,
    /// How to fix it.
    pub hint: String,
}

impl Diagnostic {
    /// A diagnostic at `span` (a byte range in the plan text); position and value are filled in
    /// when the diagnostics are collected into [`PlanErrors`].
    pub fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            line: 0,
            column: 0,
            span,
            value: None,
            label: String::new(),
            hint: String::new(),
        }
    }

    /// Set the hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = hint.into();
        self
    }

    /// Set the label shown under the span.
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Fill `line`, `column` and `value` from the plan text, starting from `cursor` (the
    /// position of the previous diagnostic in file order), so that locating every diagnostic of
    /// a file is linear in its size.
    fn locate(&mut self, source: &str, cursor: &mut Cursor) {
        let Some(span) = self.span.clone() else {
            return;
        };
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
        self.span = Some(start..end);
        cursor.advance(source, start);
        self.line = cursor.line;
        self.column = cursor.column;
        if self.value.is_none() && end > start {
            let text = &source[start..end];
            let first_line = text.lines().next().unwrap_or_default();
            let mut value: String = first_line.chars().take(120).collect();
            if value.len() < text.len() {
                value.push_str(" ...");
            }
            self.value = Some(value);
        }
    }
}

/// A position in the plan text, moved forward only: byte offset, 1-based line and column.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    offset: usize,
    line: usize,
    column: usize,
}

impl Cursor {
    fn new() -> Cursor {
        Cursor {
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    /// Move to `to` (a char boundary at or after the cursor).
    fn advance(&mut self, source: &str, to: usize) {
        if to < self.offset {
            *self = Cursor::new();
        }
        for c in source[self.offset..to].chars() {
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.offset = to;
    }
}

/// Most characters of a message, label or hint: a hint that lists every declared name of a
/// large plan is cut, not printed whole.
const MAX_TEXT: usize = 2_000;
/// Lines longer than this are not quoted under a diagnostic: its position and value are shown.
const MAX_QUOTED_LINE: usize = 240;

fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{} ...", &text[..cut]),
        None => text.to_string(),
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Every problem found in one plan file. Its `Display` renders all of them.
#[derive(Debug, Clone)]
pub struct PlanErrors {
    path: PathBuf,
    source: String,
    diagnostics: Vec<Diagnostic>,
}

impl PlanErrors {
    /// Collect `diagnostics` for the plan at `path` whose text is `source`, in file order.
    pub fn new(path: &Path, source: &str, mut diagnostics: Vec<Diagnostic>) -> PlanErrors {
        diagnostics.sort_by_key(|d| d.span.as_ref().map(|s| s.start));
        let mut cursor = Cursor::new();
        for d in &mut diagnostics {
            d.message = capped(&d.message);
            d.label = capped(&d.label);
            d.hint = capped(&d.hint);
            d.locate(source, &mut cursor);
        }
        PlanErrors {
            path: path.to_path_buf(),
            source: source.to_string(),
            diagnostics,
        }
    }

    /// The plan file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every diagnostic, in file order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Render `d` against `file` (made once for all of them: making it indexes the lines).
    fn render_as(
        &self,
        file: &SimpleFile<String, &str>,
        d: &Diagnostic,
        report: Report<()>,
    ) -> String {
        let name = self.path.display().to_string();
        let mut notes = Vec::new();
        if !d.hint.is_empty() {
            notes.push(format!("hint: {}", d.hint));
        }
        match &d.span {
            Some(span) if !self.long_line(span.start) => {
                let report = report
                    .with_message(d.message.as_str())
                    .with_labels(vec![
                        Label::primary((), span.clone()).with_message(d.label.as_str()),
                    ])
                    .with_notes(notes);
                let config = Config {
                    chars: Chars::ascii(),
                    ..Config::default()
                };
                term::emit_into_string(&config, file, &report)
                    .unwrap_or_else(|_| self.render_plain(&name, d))
            }
            _ => self.render_plain(&name, d),
        }
    }

    /// Whether the line holding byte `at` is too long to quote.
    fn long_line(&self, at: usize) -> bool {
        let at = floor_char_boundary(&self.source, at.min(self.source.len()));
        let start = self.source[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = self.source[at..]
            .find('\n')
            .map_or(self.source.len(), |i| at + i);
        end - start > MAX_QUOTED_LINE
    }

    fn file(&self) -> SimpleFile<String, &str> {
        SimpleFile::new(self.path.display().to_string(), self.source.as_str())
    }

    /// Each diagnostic rendered, in file order, identical ones (same message, label and hint)
    /// once with how many more there were.
    fn rendered(&self, report: fn() -> Report<()>) -> Vec<String> {
        let file = self.file();
        let mut seen: std::collections::HashMap<(&str, &str, &str), usize> =
            std::collections::HashMap::new();
        let mut out: Vec<(String, usize)> = Vec::new();
        for d in &self.diagnostics {
            let key = (d.message.as_str(), d.label.as_str(), d.hint.as_str());
            match seen.get(&key) {
                Some(&i) => out[i].1 += 1,
                None => {
                    seen.insert(key, out.len());
                    out.push((self.render_as(&file, d, report()), 0));
                }
            }
        }
        out.into_iter()
            .map(|(text, more)| match more {
                0 => text.trim_end().to_string(),
                n => format!("{}\n  = and {n} more like this", text.trim_end()),
            })
            .collect()
    }

    fn render_plain(&self, name: &str, d: &Diagnostic) -> String {
        let mut out = format!("error: {}\n", d.message);
        if d.line > 0 {
            out.push_str(&format!("  --> {name}:{}:{}\n", d.line, d.column));
            if let Some(value) = &d.value {
                out.push_str(&format!("  = at: {value}\n"));
            }
        } else {
            out.push_str(&format!("  --> {name}\n"));
        }
        if !d.hint.is_empty() {
            out.push_str(&format!("  = hint: {}\n", d.hint));
        }
        out
    }
}

/// Render `warnings` of the plan at `path` (whose text is `source`) in file order, one block
/// each, like errors but marked `warning`.
pub fn render_warnings(path: &Path, source: &str, warnings: Vec<Diagnostic>) -> Vec<String> {
    let set = PlanErrors::new(path, source, warnings);
    set.rendered(Report::warning)
        .into_iter()
        .map(|text| match text.strip_prefix("error: ") {
            Some(rest) => format!("warning: {rest}"),
            None => text,
        })
        .collect()
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for text in self.rendered(Report::error) {
            writeln!(f, "{text}\n")?;
        }
        let n = self.diagnostics.len();
        write!(
            f,
            "error: the plan {} has {n} error{}",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for PlanErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_value_and_hint_are_rendered() {
        let source = "[plan]\nname = \"x\"\nhelth = \"GET /\"\n";
        let start = source.find("helth").expect("present");
        let errors = PlanErrors::new(
            Path::new("plans/p.toml"),
            source,
            vec![
                Diagnostic::new(Some(start..start + 5), "unknown key `helth`")
                    .label("not a key of [plan]")
                    .hint("valid keys are: name, environment"),
                Diagnostic::new(None, "the plan has no [plan] table").hint("add one"),
            ],
        );
        let d = &errors.diagnostics()[1];
        assert_eq!((d.line, d.column), (3, 1));
        assert_eq!(d.value.as_deref(), Some("helth"));
        let text = errors.to_string();
        assert!(text.contains("plans/p.toml:3:1"), "{text}");
        assert!(
            text.contains("hint: valid keys are: name, environment"),
            "{text}"
        );
        assert!(text.contains("not a key of [plan]"), "{text}");
        assert!(text.contains("hint: add one"), "{text}");
        assert!(
            text.ends_with("the plan plans/p.toml has 2 errors"),
            "{text}"
        );
    }

    #[test]
    fn columns_count_characters_and_spans_are_clamped() {
        let source = "a = \"é\"\nb = 1";
        let errors = PlanErrors::new(
            Path::new("p.toml"),
            source,
            vec![Diagnostic::new(Some(13..99), "bad")],
        );
        let d = &errors.diagnostics()[0];
        assert_eq!((d.line, d.column), (2, 5));
        assert_eq!(d.value.as_deref(), Some("1"));
    }

    #[test]
    fn identical_errors_are_shown_once_with_how_many_more_and_long_lines_are_not_quoted() {
        let line = format!("url = \"{}\"", "${X}".repeat(100));
        let source = format!("[targets.api]\n{line}\n");
        let first = source.find("${X}").expect("present");
        let diagnostics: Vec<Diagnostic> = (0..100)
            .map(|i| {
                let at = first + i * 4;
                Diagnostic::new(Some(at..at + 4), "`X` is not set")
                    .label("no default")
                    .hint("export X")
            })
            .collect();
        let errors = PlanErrors::new(Path::new("p.toml"), &source, diagnostics);
        let last = &errors.diagnostics()[99];
        assert_eq!(
            (last.line, last.column),
            (2, 8 + 99 * 4),
            "located in one pass"
        );
        let text = errors.to_string();
        assert_eq!(text.matches("`X` is not set").count(), 1, "{text}");
        assert!(text.contains("= and 99 more like this"), "{text}");
        assert!(text.contains("--> p.toml:2:8"), "{text}");
        assert!(
            !text.contains(&line),
            "a 500-character line is not quoted: {text}"
        );
    }

    #[test]
    fn a_message_is_capped() {
        let long = "name, ".repeat(1000);
        let errors = PlanErrors::new(
            Path::new("p.toml"),
            "x = 1\n",
            vec![Diagnostic::new(Some(0..1), "bad").hint(format!("declared: {long}"))],
        );
        let hint = &errors.diagnostics()[0].hint;
        assert!(hint.chars().count() <= MAX_TEXT + 4, "{}", hint.len());
        assert!(hint.ends_with(" ..."));
    }
}
