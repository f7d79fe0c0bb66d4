//! The raw `[proxies.NAME]` table: an embedded fault proxy in front of a dependency. Like
//! `raw.rs`, every key is optional here; `compile_proxy.rs` reports what is missing. The `///`
//! comments are the plan reference (`docs/plan.md`).

use crate::raw::Str;
use crate::schema::Presence::{DefaultsTo, Required};
use crate::schema::raw_table;

raw_table! {
    /// A fault proxy: shakedown listens on `listen` and forwards every connection to
    /// `upstream`, so that fault tests can put network faults (toxics) between a service and its
    /// dependency: `[proxies.db] listen = "127.0.0.1:0", upstream = "127.0.0.1:5432"`. The
    /// service must connect to the proxy: a target's `url` and its `control` (command, env,
    /// exec commands) read the proxy's address as `{{ proxies.NAME.addr }}` (`host:port`),
    /// `{{ proxies.NAME.host }}` or `{{ proxies.NAME.port }}`. At preflight, an upstream that
    /// does not accept a connection makes every check that uses the proxy BLOCKED.
    pub struct RawProxy as "[proxies.NAME]" {
        /// Where the proxy listens, `ip:port`; port 0 picks a free port when the run starts.
        listen: Option<Str> = "string (ip:port)", DefaultsTo("\"127.0.0.1:0\"");
        /// The dependency, `host:port`, e.g. `"${PGHOST:-127.0.0.1}:5432"`.
        upstream: Option<Str> = "string (host:port)", Required;
        /// Timeout of each connection to the upstream.
        connect_timeout: Option<Str> = "duration", DefaultsTo("\"5s\"");
        /// How long adding or removing a toxic may take to reach every open connection; the
        /// connections that have not taken it up by then are closed.
        control_deadline: Option<Str> = "duration", DefaultsTo("\"2s\"");
    }
}

/// `toxic = "down"` or `toxic = { kind = "latency", latency = "300ms", ... }` in a timeline
/// entry: a toxic kind alone, or a table with `kind`, the kind's parameters, `direction` and
/// `toxicity`. The table's keys are checked by the compiler against the kind's parameters, so
/// that an error can list the valid ones.
#[derive(Debug, Clone, PartialEq)]
pub enum ToxicForm {
    /// Just the kind, every parameter at its default.
    Kind(String),
    /// The table form.
    Table(std::collections::BTreeMap<String, toml::Spanned<toml::Value>>),
}

impl<'de> serde::Deserialize<'de> for ToxicForm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ToxicVisitor;
        impl<'de> serde::de::Visitor<'de> for ToxicVisitor {
            type Value = ToxicForm;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a toxic kind or a table, e.g. \"down\" or { kind = \"latency\", latency = \"300ms\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ToxicForm::Kind(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut table = std::collections::BTreeMap::new();
                while let Some((key, value)) =
                    map.next_entry::<String, toml::Spanned<toml::Value>>()?
                {
                    table.insert(key, value);
                }
                Ok(ToxicForm::Table(table))
            }
        }
        deserializer.deserialize_any(ToxicVisitor)
    }
}
