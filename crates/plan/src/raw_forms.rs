//! Raw values that TOML lets an author write in more than one form: a probe as a request line
//! or a table, a status as one code or a list, think time as one duration or a range, and tables
//! whose key order matters.
//!
//! Each has a hand-written visitor rather than `#[serde(untagged)]`: untagged enums buffer the
//! value, which loses the spans `toml::Spanned` needs and hides unknown keys from the unknown-key
//! check, and their error ("data did not match any variant") names neither form.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::targets::raw::RawProbeTable;

/// A TOML table read into a list of `(key, value)` pairs in the order they were written.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// `status = 200` or `status = [200, 201]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusForm(pub Vec<i64>);

impl<'de> Deserialize<'de> for StatusForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = StatusForm;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code or a list of them, e.g. 200 or [200, 201]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StatusForm(vec![v]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StatusForm(vec![i64::try_from(v).unwrap_or(i64::MAX)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut codes = Vec::new();
                while let Some(code) = seq.next_element::<i64>()? {
                    codes.push(code);
                }
                Ok(StatusForm(codes))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

/// `think = "100ms"` or `think = ["50ms", "200ms"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkForm(pub Vec<String>);

impl<'de> Deserialize<'de> for ThinkForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ThinkVisitor;
        impl<'de> Visitor<'de> for ThinkVisitor {
            type Value = ThinkForm;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration or a [min, max] pair, e.g. "100ms" or ["50ms", "200ms"]"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ThinkForm(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(ThinkForm(items))
            }
        }
        deserializer.deserialize_any(ThinkVisitor)
    }
}

/// A probe: `"GET /health"`, or `{ request = "GET /health", status = [200] }`.
#[derive(Debug, Clone)]
pub enum ProbeForm {
    /// The short form: a request line.
    Line(String),
    /// The table form.
    Table(RawProbeTable),
}

impl<'de> Deserialize<'de> for ProbeForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ProbeVisitor;
        impl<'de> Visitor<'de> for ProbeVisitor {
            type Value = ProbeForm;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    r#"a request line like "GET /health" or a table like { request = "GET /health", status = [200] }"#,
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ProbeForm::Line(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawProbeTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ProbeForm::Table)
            }
        }
        deserializer.deserialize_any(ProbeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Holder {
        status: Option<StatusForm>,
        think: Option<ThinkForm>,
        probe: Option<ProbeForm>,
        headers: Option<OrderedMap<String>>,
    }

    fn parse(text: &str) -> Result<Holder, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn both_forms_of_each_value_parse() {
        let h = parse(
            "status = 200\nthink = \"1s\"\nprobe = \"GET /health\"\nheaders = { b = \"1\", a = \"2\" }",
        )
        .expect("parses");
        assert_eq!(h.status, Some(StatusForm(vec![200])));
        assert_eq!(h.think, Some(ThinkForm(vec!["1s".into()])));
        assert!(matches!(h.probe, Some(ProbeForm::Line(ref l)) if l == "GET /health"));
        let keys: Vec<_> = h
            .headers
            .expect("headers")
            .0
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["b", "a"], "the order as written is kept");

        let h = parse(
            "status = [200, 201]\nthink = [\"1s\", \"2s\"]\nprobe = { request = \"GET /x\", status = 204 }",
        )
        .expect("parses");
        assert_eq!(h.status, Some(StatusForm(vec![200, 201])));
        assert_eq!(h.think, Some(ThinkForm(vec!["1s".into(), "2s".into()])));
        match h.probe {
            Some(ProbeForm::Table(t)) => {
                assert_eq!(
                    t.status.map(|s| s.into_inner()),
                    Some(StatusForm(vec![204]))
                );
            }
            other => panic!("expected the table form, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_form_names_both_accepted_forms() {
        let err = parse("probe = 5").expect_err("a number is not a probe");
        assert!(
            err.message().contains("a request line like"),
            "{}",
            err.message()
        );
        let err = parse("status = \"200\"").expect_err("a string is not a status");
        assert!(
            err.message().contains("HTTP status code"),
            "{}",
            err.message()
        );
        let err = parse("think = 5").expect_err("a number is not a duration");
        assert!(err.message().contains("[min, max]"), "{}", err.message());
    }
}
