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

    /// Fill `line`, `column` and `value` from the plan text.
    fn locate(&mut self, source: &str) {
        let Some(span) = self.span.clone() else {
            return;
        };
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let end = floor_char_boundary(source, span.end.clamp(start, source.len()));
        self.span = Some(start..end);
        let before = &source[..start];
        self.line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.column = source[line_start..start].chars().count() + 1;
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
        for d in &mut diagnostics {
            d.locate(source);
        }
        diagnostics.sort_by_key(|d| d.span.as_ref().map(|s| s.start));
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

    fn render_one(&self, d: &Diagnostic) -> String {
        self.render_as(d, Report::error())
    }

    fn render_as(&self, d: &Diagnostic, report: Report<()>) -> String {
        let name = self.path.display().to_string();
        let mut notes = Vec::new();
        if !d.hint.is_empty() {
            notes.push(format!("hint: {}", d.hint));
        }
        match &d.span {
            Some(span) => {
                let file = SimpleFile::new(name.as_str(), self.source.as_str());
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
                term::emit_into_string(&config, &file, &report)
                    .unwrap_or_else(|_| self.render_plain(&name, d))
            }
            None => self.render_plain(&name, d),
        }
    }

    fn render_plain(&self, name: &str, d: &Diagnostic) -> String {
        let mut out = format!("error: {}\n", d.message);
        if d.line > 0 {
            out.push_str(&format!("  --> {name}:{}:{}\n", d.line, d.column));
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
    set.diagnostics
        .iter()
        .map(|d| {
            set.render_as(d, Report::warning()).trim_end().replacen(
                "error: ",
                "warning: ",
                usize::from(d.span.is_none()),
            )
        })
        .collect()
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}\n", self.render_one(d).trim_end())?;
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
}
