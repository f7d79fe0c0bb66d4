//! Positions in the plan text by key path, and key paths by position.
//!
//! Serde tells us *which* key was ignored (by path) or *where* a type error is (by span), but not
//! both. The plan is parsed once more with `toml_edit`, which keeps the span of every key and
//! value, to translate between the two.

use std::fmt;
use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key of a table.
    Key(String),
    /// An index into an array.
    Index(usize),
}

/// Render a path the way a plan author writes it: `targets.api.health`, `load[0].thresholds`.
pub struct DisplayPath<'a>(pub &'a [Seg]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Node<'d> {
    Item(&'d Item),
    Value(&'d Value),
    Table(&'d Table),
}

impl<'d> Node<'d> {
    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }

    fn table(self) -> Option<&'d Table> {
        match self {
            Node::Item(Item::Table(t)) | Node::Table(t) => Some(t),
            _ => None,
        }
    }

    fn value(self) -> Option<&'d Value> {
        match self {
            Node::Item(Item::Value(v)) | Node::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The child at `seg`, with the span of its key when it has one.
    fn child(self, seg: &Seg) -> Option<(Option<Range<usize>>, Node<'d>)> {
        match seg {
            Seg::Key(k) => {
                if let Some(t) = self.table() {
                    let (key, item) = t.get_key_value(k)?;
                    return Some((key.span(), Node::Item(item)));
                }
                let inline = self.value()?.as_inline_table()?;
                let (key, item) = inline.get_key_value(k)?;
                Some((key.span(), Node::Item(item)))
            }
            Seg::Index(i) => {
                if let Node::Item(Item::ArrayOfTables(a)) = self {
                    return a.get(*i).map(|t| (None, Node::Table(t)));
                }
                let array = self.value()?.as_array()?;
                array.get(*i).map(|v| (None, Node::Value(v)))
            }
        }
    }

    fn children(self) -> Vec<(Seg, Node<'d>)> {
        if let Some(t) = self.table() {
            return t
                .iter()
                .map(|(k, item)| (Seg::Key(k.to_string()), Node::Item(item)))
                .collect();
        }
        if let Node::Item(Item::ArrayOfTables(a)) = self {
            return a
                .iter()
                .enumerate()
                .map(|(i, t)| (Seg::Index(i), Node::Table(t)))
                .collect();
        }
        match self.value() {
            Some(Value::InlineTable(t)) => t
                .iter()
                .map(|(k, v)| (Seg::Key(k.to_string()), Node::Value(v)))
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Seg::Index(i), Node::Value(v)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Finds spans by key path in one plan text.
pub struct Locator<'a> {
    doc: Option<ImDocument<&'a str>>,
    /// Why the text does not parse, if it does not.
    error: Option<toml_edit::TomlError>,
}

impl<'a> Locator<'a> {
    /// Parse `source`; a text that does not parse locates nothing, and keeps its syntax error
    /// (so the plan's text is parsed here once, not once more to find that error).
    pub fn new(source: &'a str) -> Locator<'a> {
        match ImDocument::parse(source) {
            Ok(doc) => Locator {
                doc: Some(doc),
                error: None,
            },
            Err(error) => Locator {
                doc: None,
                error: Some(error),
            },
        }
    }

    /// The syntax error of the text, if it does not parse.
    pub fn syntax_error(&self) -> Option<&toml_edit::TomlError> {
        self.error.as_ref()
    }

    /// The span of the last key of `path` (or of the array element, for an index), or of the
    /// deepest part of the path that exists.
    pub fn key_span(&self, path: &[Seg]) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        for seg in path {
            let Some((key_span, child)) = node.child(seg) else {
                break;
            };
            best = key_span.or_else(|| child.span()).or(best);
            node = child;
        }
        best
    }

    /// The span of the value at `path`, if it exists and has one.
    pub fn value_span(&self, path: &[Seg]) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut node = Node::Table(doc.as_table());
        for seg in path {
            node = node.child(seg)?.1;
        }
        node.span()
    }

    /// The path of the innermost value whose span contains `span`.
    pub fn path_at(&self, span: &Range<usize>) -> Vec<Seg> {
        let mut path = Vec::new();
        let Some(doc) = self.doc.as_ref() else {
            return path;
        };
        let mut node = Node::Table(doc.as_table());
        'descend: loop {
            for (seg, child) in node.children() {
                let contains = |s: Range<usize>| s.start <= span.start && span.end <= s.end;
                // Implicit tables (`targets` in `[targets.api]`) have no span of their own.
                let inside = match child.span() {
                    Some(s) => contains(s),
                    None => child
                        .children()
                        .iter()
                        .any(|(_, c)| c.span().is_some_and(contains)),
                };
                if inside {
                    path.push(seg);
                    node = child;
                    continue 'descend;
                }
            }
            return path;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"[plan]
name = "x"
limits = { duration = "5m", requests = 10 }

[targets.api]
url = "http://127.0.0.1"

[[load]]
id = "L1"
thresholds = ["a", "b"]
"#;

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    fn text(span: Option<Range<usize>>) -> &'static str {
        span.map(|s| &TEXT[s]).unwrap_or("<none>")
    }

    #[test]
    fn keys_and_values_are_found_by_path() {
        let loc = Locator::new(TEXT);
        assert_eq!(
            text(loc.key_span(&[key("plan"), key("limits"), key("requests")])),
            "requests"
        );
        assert_eq!(text(loc.key_span(&[key("targets"), key("api")])), "api");
        assert_eq!(
            text(loc.value_span(&[key("targets"), key("api"), key("url")])),
            "\"http://127.0.0.1\""
        );
        assert_eq!(
            text(loc.value_span(&[key("load"), Seg::Index(0), key("thresholds"), Seg::Index(1)])),
            "\"b\""
        );
        // A missing key falls back to the deepest key that exists.
        assert_eq!(
            text(loc.key_span(&[key("targets"), key("api"), key("nope")])),
            "api"
        );
        assert_eq!(loc.value_span(&[key("nope")]), None);
    }

    #[test]
    fn paths_are_found_by_span() {
        let loc = Locator::new(TEXT);
        let at = |needle: &str| {
            let start = TEXT.find(needle).expect("present");
            DisplayPath(&loc.path_at(&(start..start + needle.len()))).to_string()
        };
        assert_eq!(at("\"http://127.0.0.1\""), "targets.api.url");
        assert_eq!(at("10"), "plan.limits.requests");
        assert_eq!(at("\"b\""), "load[0].thresholds[1]");
    }
}
