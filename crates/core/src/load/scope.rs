//! The template context of a step, and JSON documents whose strings are templates.
//!
//! A step's context holds `vu` (1-based), `iteration` (0-based, per VU), `__seed`, `__step`,
//! `secrets`, `vars`, every capture made so far in this iteration, and in a tracked step `key`.
//! It is a minijinja object that looks names up on demand, so building one costs a single
//! allocation and no copying of captures, secrets or vars.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

use shakedown_plan::template::{NONCE_KEY, RUN_KEY, SEED_KEY, STEP_KEY, Template};

/// Per-test values every context shares: secrets, vars and the seed.
#[derive(Debug, Clone)]
pub struct Shared {
    /// `secrets`: name -> value.
    pub secrets: Value,
    /// `vars`: the plan's vars.
    pub vars: Value,
    /// `__seed`.
    pub seed: Value,
    /// `__run`: the run's unique id.
    pub run: Value,
}

/// The changing part of a VU's context: its number, iteration and captures.
#[derive(Debug, Clone)]
pub struct VuScope {
    /// Shared per-test values.
    pub shared: Shared,
    /// `vu`, 1-based.
    pub vu: u32,
    /// `iteration`, 0-based per VU.
    pub iteration: u64,
    /// Captures of the current iteration. Behind an `Arc` so a context can share it; written
    /// only between steps, when no context holds it.
    pub captures: Arc<BTreeMap<String, Value>>,
    /// `__nonce`: a counter that advances at every read, so two `uuid()` calls in different
    /// renders of one step (the track key and the body) never collide.
    pub nonce: Arc<AtomicU64>,
    /// Captures of the current iteration that a step was to make and did not: name -> why
    /// (e.g. "step `create` answered 500"), so that a template that needs one says why.
    pub missed: BTreeMap<String, String>,
}

impl VuScope {
    /// A scope for VU `vu` with no captures.
    pub fn new(shared: Shared, vu: u32) -> VuScope {
        VuScope {
            shared,
            vu,
            iteration: 0,
            captures: Arc::default(),
            nonce: Arc::default(),
            missed: BTreeMap::new(),
        }
    }

    /// Start iteration `iteration`: captures are per iteration.
    pub fn begin(&mut self, iteration: u64) {
        self.iteration = iteration;
        if !self.captures.is_empty() {
            Arc::make_mut(&mut self.captures).clear();
        }
        self.missed.clear();
    }

    /// Note that step `step` did not make the capture `name`, and why.
    pub fn miss(&mut self, name: &str, why: String) {
        if !self.captures.contains_key(name) {
            self.missed.insert(name.to_string(), why);
        }
    }

    /// Why `template` cannot be rendered here: every variable it reads that this scope does not
    /// define, each with the reason it is missing when a step was to capture it. None when every
    /// variable is defined (the render failed for another reason).
    pub fn unresolved(&self, template: &Template, key: bool) -> Option<String> {
        let mut missing = Vec::new();
        for variable in template.variables() {
            let head = variable.split('.').next().unwrap_or_default();
            let defined = FIXED_KEYS.contains(&head)
                || (head == "key" && key)
                || self.captures.contains_key(head);
            if defined {
                continue;
            }
            let why = match self.missed.get(head) {
                Some(why) => format!("`{head}` was not captured because {why}"),
                None => format!("`{head}` is not defined in this iteration"),
            };
            if !missing.contains(&why) {
                missing.push(why);
            }
        }
        (!missing.is_empty()).then(|| missing.join("; "))
    }

    /// Store a capture for the rest of the iteration.
    pub fn capture(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.captures).insert(name.to_string(), value);
    }

    /// The context of step `step_id`, with `key` set in a tracked step.
    pub fn context(&self, step_id: u64, key: Option<&str>) -> Value {
        Value::from_object(Context {
            shared: self.shared.clone(),
            vu: self.vu,
            iteration: self.iteration,
            step: step_id,
            captures: self.captures.clone(),
            key: key.map(Value::from),
            nonce: self.nonce.clone(),
        })
    }
}

/// One render's context.
#[derive(Debug)]
struct Context {
    shared: Shared,
    vu: u32,
    iteration: u64,
    step: u64,
    captures: Arc<BTreeMap<String, Value>>,
    key: Option<Value>,
    nonce: Arc<AtomicU64>,
}

const FIXED_KEYS: [&str; 6] = ["vu", "iteration", "secrets", "vars", SEED_KEY, STEP_KEY];

impl Object for Context {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "vu" => Some(Value::from(self.vu)),
            "iteration" => Some(Value::from(self.iteration)),
            "secrets" => Some(self.shared.secrets.clone()),
            "vars" => Some(self.shared.vars.clone()),
            "key" if self.key.is_some() => self.key.clone(),
            SEED_KEY => Some(self.shared.seed.clone()),
            STEP_KEY => Some(Value::from(self.step)),
            RUN_KEY => Some(self.shared.run.clone()),
            NONCE_KEY => Some(Value::from(self.nonce.fetch_add(1, Ordering::Relaxed))),
            name => self.captures.get(name).cloned(),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = FIXED_KEYS.iter().map(|k| Value::from(*k)).collect();
        if self.key.is_some() {
            keys.push(Value::from("key"));
        }
        keys.extend(self.captures.keys().map(|k| Value::from(k.as_str())));
        Enumerator::Values(keys)
    }
}

/// A JSON document whose string values are templates (object keys are not).
#[derive(Debug, Clone)]
pub enum JsonTemplate {
    /// A sub-document without any template in it.
    Literal(serde_json::Value),
    /// A templated string.
    Text(Template),
    /// An array with at least one template inside.
    Array(Vec<JsonTemplate>),
    /// An object with at least one template inside.
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Parse every string of `value` as a template.
    pub fn parse(value: &serde_json::Value) -> Result<JsonTemplate, minijinja::Error> {
        Ok(match value {
            serde_json::Value::String(s) => {
                let t = Template::parse(s)?;
                if t.is_literal() {
                    JsonTemplate::Literal(value.clone())
                } else {
                    JsonTemplate::Text(t)
                }
            }
            serde_json::Value::Array(items) => {
                let items = items
                    .iter()
                    .map(JsonTemplate::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                if items.iter().all(JsonTemplate::is_literal) {
                    JsonTemplate::Literal(value.clone())
                } else {
                    JsonTemplate::Array(items)
                }
            }
            serde_json::Value::Object(map) => {
                let fields = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), JsonTemplate::parse(v)?)))
                    .collect::<Result<Vec<_>, minijinja::Error>>()?;
                if fields.iter().all(|(_, v)| v.is_literal()) {
                    JsonTemplate::Literal(value.clone())
                } else {
                    JsonTemplate::Object(fields)
                }
            }
            other => JsonTemplate::Literal(other.clone()),
        })
    }

    /// Whether rendering is the identity.
    pub fn is_literal(&self) -> bool {
        matches!(self, JsonTemplate::Literal(_))
    }

    /// Render every template with `ctx`.
    pub fn render(&self, ctx: &Value) -> Result<serde_json::Value, minijinja::Error> {
        Ok(match self {
            JsonTemplate::Literal(v) => v.clone(),
            JsonTemplate::Text(t) => serde_json::Value::String(t.render(ctx)?),
            JsonTemplate::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| i.render(ctx))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(ctx)?)))
                    .collect::<Result<_, minijinja::Error>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared {
            secrets: Value::from_serialize(BTreeMap::from([("pw", "s3cret")])),
            vars: Value::from_serialize(serde_json::json!({"region": "eu"})),
            seed: Value::from(42u64),
            run: Value::from("run-1"),
        }
    }

    #[test]
    fn context_exposes_vu_iteration_captures_and_key() {
        let mut scope = VuScope::new(shared(), 3);
        scope.begin(7);
        scope.capture("run_id", Value::from("r-1"));
        let t = Template::parse(
            "{{ vu }}/{{ iteration }}/{{ run_id }}/{{ key }}/{{ secrets.pw }}/{{ vars.region }}",
        )
        .unwrap();
        let out = t.render(&scope.context(5, Some("k-9"))).unwrap();
        assert_eq!(out, "3/7/r-1/k-9/s3cret/eu");
        // Without a key, `key` is undefined (strict), and so is an unknown capture.
        assert!(t.render(&scope.context(5, None)).is_err());
        // A new iteration forgets captures.
        scope.begin(8);
        assert!(
            Template::parse("{{ run_id }}")
                .unwrap()
                .render(&scope.context(5, None))
                .is_err()
        );
    }

    #[test]
    fn uuid_never_repeats_within_a_vu_and_is_reproducible_per_run() {
        let mut scope = VuScope::new(shared(), 1);
        let t = Template::parse("{{ uuid() }}").unwrap();
        let a = t.render(&scope.context(1, None)).unwrap();
        // Two renders of one step (a track key and a body) must not collide.
        let b = t.render(&scope.context(1, None)).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, t.render(&scope.context(2, None)).unwrap());
        scope.begin(1);
        assert_ne!(a, t.render(&scope.context(1, None)).unwrap());
        // The same seed, run id and sequence of renders give the same ids.
        let again = VuScope::new(shared(), 1);
        assert_eq!(a, t.render(&again.context(1, None)).unwrap());
        assert_eq!(b, t.render(&again.context(1, None)).unwrap());
        // Another run id gives other ids.
        let mut other_run = shared();
        other_run.run = Value::from("run-2");
        let other = VuScope::new(other_run, 1);
        assert_ne!(a, t.render(&other.context(1, None)).unwrap());
    }

    #[test]
    fn json_templates_render_strings_only() {
        let doc = serde_json::json!({"kind": "simulate", "n": 3, "who": ["{{ vu }}", "x"]});
        let t = JsonTemplate::parse(&doc).unwrap();
        assert!(!t.is_literal());
        let scope = VuScope::new(shared(), 2);
        let out = t.render(&scope.context(0, None)).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"kind": "simulate", "n": 3, "who": ["2", "x"]})
        );
        assert!(
            JsonTemplate::parse(&serde_json::json!({"a": [1, "b"]}))
                .unwrap()
                .is_literal()
        );
    }
}
