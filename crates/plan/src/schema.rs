//! The shape of the plan file as data: every table, its keys, their types, defaults and `///`
//! docs.
//!
//! The raw structs in `raw.rs` are declared through `raw_table!`, which emits
//! both the serde struct and its [`TableSchema`]. The schema is what lists the valid keys when an
//! unknown key is rejected, names a field's type when a value has the wrong one, and generates
//! `docs/plan.md`: the doc comments on the raw structs are the single source of the reference.

/// How a key may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The key must be present.
    Required,
    /// The key may be left out, and then nothing happens.
    Optional,
    /// The key may be left out, and then it takes this value (as written in TOML).
    DefaultsTo(&'static str),
}

/// How a nested table hangs off a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `key = { ... }` or `[parent.key]`.
    Table,
    /// `[key.NAME]`: a table of named tables.
    MapOfTables,
    /// `key = [{ ... }, ...]` or `[[key]]`: a list of tables.
    ListOfTables,
}

/// A key's nested table, as the `raw_table!` declarations write it.
pub(crate) const fn nested(shape: Shape, table: &'static TableSchema) -> Nested {
    Nested { shape, table }
}

/// A table nested under a key.
#[derive(Debug, Clone, Copy)]
pub struct Nested {
    /// How it hangs off the key.
    pub shape: Shape,
    /// Its schema.
    pub table: &'static TableSchema,
}

/// One key of a table.
#[derive(Debug, Clone, Copy)]
pub struct FieldSchema {
    /// The Rust field name (a raw identifier keeps its `r#`).
    pub ident: &'static str,
    /// The field's `///` doc, one line per doc line.
    pub doc: &'static str,
    /// Its type as a plan author reads it (`duration`, `string`, `list of probes`).
    pub kind: &'static str,
    /// Whether it may be left out, and its default.
    pub presence: Presence,
    /// The table under it, if it is (or holds) a table.
    pub nested: Option<Nested>,
}

impl FieldSchema {
    /// The key as written in TOML.
    pub fn key(&self) -> &'static str {
        self.ident.strip_prefix("r#").unwrap_or(self.ident)
    }
}

/// One table of the plan file.
#[derive(Debug, Clone, Copy)]
pub struct TableSchema {
    /// How the table is written in a plan, e.g. `[targets.NAME]`.
    pub title: &'static str,
    /// The Rust struct name, to reword serde messages ("expected struct RawTarget").
    pub rust_name: &'static str,
    /// The struct's `///` doc.
    pub doc: &'static str,
    /// Its keys, in declaration order.
    pub fields: &'static [FieldSchema],
}

impl TableSchema {
    /// The field for `key`, if it is a valid key of this table.
    pub fn field(&self, key: &str) -> Option<&'static FieldSchema> {
        self.fields.iter().find(|f| f.key() == key)
    }

    /// Every valid key, in declaration order.
    pub fn keys(&self) -> Vec<&'static str> {
        self.fields.iter().map(FieldSchema::key).collect()
    }
}

/// Turn the doc text that `concat!` built from `#[doc]` attributes into plain lines.
pub fn doc_text(raw: &str) -> String {
    raw.lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// Declare a raw plan table: a serde struct whose fields are all documented, plus its
/// [`TableSchema`] as the associated constant `SCHEMA`.
///
/// Each field is written `/// doc` then `name: Type = "kind", presence [, nested];` where
/// `presence` is a [`Presence`] and `nested` a [`Nested`].
macro_rules! raw_table {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident as $title:literal {
            $(
                $(#[doc = $fdoc:literal])+
                $field:ident : $ty:ty = $kind:literal, $presence:expr $(, $nested:expr)? ;
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        $vis struct $name {
            $(
                $(#[doc = $fdoc])+
                pub $field: $ty,
            )*
        }

        impl $name {
            /// This table's keys, types, defaults and docs.
            pub const SCHEMA: $crate::schema::TableSchema = $crate::schema::TableSchema {
                title: $title,
                rust_name: stringify!($name),
                doc: concat!($($doc, "\n"),*),
                fields: &[
                    $(
                        $crate::schema::FieldSchema {
                            ident: stringify!($field),
                            doc: concat!($($fdoc, "\n"),+),
                            kind: $kind,
                            presence: $presence,
                            nested: $crate::schema::raw_table!(@nested $($nested)?),
                        },
                    )*
                ],
            };
        }
    };
    (@nested) => { None };
    (@nested $nested:expr) => { Some($nested) };
}
pub(crate) use raw_table;

#[cfg(test)]
mod tests {
    use super::*;

    raw_table! {
        /// A table for the test.
        pub struct Example as "[example]" {
            /// The first key.
            /// Second line.
            first: Option<String> = "string", Presence::Required;
            /// A keyword key.
            r#in: Option<Vec<String>> = "list of strings", Presence::DefaultsTo("[]");
        }
    }

    #[test]
    fn the_macro_records_docs_keys_and_defaults() {
        let schema = Example::SCHEMA;
        assert_eq!(schema.title, "[example]");
        assert_eq!(schema.rust_name, "Example");
        assert_eq!(doc_text(schema.doc), "A table for the test.");
        assert_eq!(schema.keys(), vec!["first", "in"]);
        let first = schema.field("first").map(|f| doc_text(f.doc));
        assert_eq!(first.as_deref(), Some("The first key.\nSecond line."));
        assert_eq!(
            schema.field("in").map(|f| f.presence),
            Some(Presence::DefaultsTo("[]"))
        );
        assert!(schema.field("missing").is_none());
        let parsed: Example = toml::from_str("first = \"a\"\nin = [\"b\"]").expect("parses");
        assert_eq!(parsed.first.as_deref(), Some("a"));
        assert_eq!(parsed.r#in, Some(vec!["b".to_string()]));
    }
}
