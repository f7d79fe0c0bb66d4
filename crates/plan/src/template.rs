//! Plan templates: minijinja over captures, the VU number, the iteration, secrets, vars and a
//! seeded `uuid()`.
//!
//! A template is parsed (and its variables listed) when the plan compiles, so a typo is a plan
//! error with a span, not a failure twenty minutes into a run. Rendering uses one shared
//! environment with strict undefined behaviour: an undefined variable is an error, never an empty
//! string. Templates without `{{` or `{%` are literals and skip the engine entirely.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use sha2::{Digest, Sha256};

/// Context keys the engine reserves for `uuid()`; they hold the seed and the position of the
/// render so that the generated ids are deterministic per (seed, vu, iteration, step, call).
pub const SEED_KEY: &str = "__seed";
/// See [`SEED_KEY`].
pub const STEP_KEY: &str = "__step";
/// The run's unique id: mixed in so that keys differ between runs against one target.
pub const RUN_KEY: &str = "__run";
/// A per-VU counter that advances on every read, so that `uuid()` never repeats within a VU.
pub const NONCE_KEY: &str = "__nonce";

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_function("uuid", seeded_uuid);
    env
});

/// Names every template may use without declaring them.
pub const BUILTINS: &[&str] = &[
    "vu",
    "iteration",
    "secrets",
    "vars",
    "uuid",
    SEED_KEY,
    STEP_KEY,
];

/// A parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: Arc<str>,
    literal: bool,
}

impl Template {
    /// Parse `source`, failing on a syntax error.
    pub fn parse(source: &str) -> Result<Template, Error> {
        let literal = !source.contains("{{") && !source.contains("{%");
        if !literal {
            ENV.template_from_str(source)?;
        }
        Ok(Template {
            source: Arc::from(source),
            literal,
        })
    }

    /// A template that renders to `text` exactly.
    pub fn literal(text: &str) -> Template {
        Template {
            source: Arc::from(text),
            literal: true,
        }
    }

    /// The text as written in the plan.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether rendering is the identity.
    pub fn is_literal(&self) -> bool {
        self.literal
    }

    /// Top-level and dotted variable names the template reads (`captures`, `secrets.ops_key`),
    /// excluding functions. Used by the compiler to reject undefined variables.
    pub fn variables(&self) -> BTreeSet<String> {
        if self.literal {
            return BTreeSet::new();
        }
        match ENV.template_from_str(&self.source) {
            Ok(t) => t
                .undeclared_variables(true)
                .into_iter()
                .filter(|v| v != "uuid")
                .collect(),
            Err(_) => BTreeSet::new(),
        }
    }

    /// Render with `ctx` (a map value). Undefined variables are errors.
    pub fn render(&self, ctx: &Value) -> Result<String, Error> {
        if self.literal {
            return Ok(self.source.to_string());
        }
        ENV.render_str(&self.source, ctx)
    }
}

/// `uuid()`: a version-4 UUID derived from the seed, the run id, the render's position and
/// counters, so ids are reproducible from (seed, run id) and never repeat within a run or
/// across runs.
fn seeded_uuid(state: &State) -> Result<String, Error> {
    let counter = state
        .get_temp("uuid_counter")
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0);
    state.set_temp("uuid_counter", Value::from(counter + 1));
    let part = |name: &str| -> String {
        state
            .lookup(name)
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let seed = state.lookup(SEED_KEY).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "uuid() needs the run's seed in the template context",
        )
    })?;
    let mut hasher = Sha256::new();
    for piece in [
        seed.to_string(),
        part("vu"),
        part("iteration"),
        part(STEP_KEY),
        part(RUN_KEY),
        part(NONCE_KEY),
        counter.to_string(),
    ] {
        hasher.update(piece.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn literal_skips_the_engine() {
        let t = Template::parse("/health").unwrap();
        assert!(t.is_literal());
        assert_eq!(t.render(&context! {}).unwrap(), "/health");
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let t = Template::parse("/runs/{{ run_id }}").unwrap();
        assert!(t.render(&context! { vu => 1 }).is_err());
        assert_eq!(
            t.variables().into_iter().collect::<Vec<_>>(),
            vec!["run_id".to_string()]
        );
    }

    #[test]
    fn syntax_error_is_rejected() {
        assert!(Template::parse("{{ oops ").is_err());
    }

    #[test]
    fn uuid_is_seeded_and_distinct_within_a_render() {
        let t = Template::parse("{{ uuid() }} {{ uuid() }}").unwrap();
        let ctx = context! { __seed => 42, vu => 3, iteration => 7, __step => 0 };
        let a = t.render(&ctx).unwrap();
        let b = t.render(&ctx).unwrap();
        assert_eq!(a, b, "same seed and position, same ids");
        let (x, y) = a.split_once(' ').unwrap();
        assert_ne!(x, y);
        let other = t
            .render(&context! { __seed => 43, vu => 3, iteration => 7, __step => 0 })
            .unwrap();
        assert_ne!(a, other);
    }
}
