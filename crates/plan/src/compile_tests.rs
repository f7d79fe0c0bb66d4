//! Tests of the whole compile step: the demo plan, and each plan error with its message, span and
//! hint.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::expr::CmpOp;
use crate::load::model::{Counter, Executor, GaugeAgg, ThresholdMetric};
use crate::model::{Environment, LedgerClass, Method, Plan, StatusSet};
use crate::scenarios::model::{Body, StepKind};
use crate::{Diagnostic, PlanErrors, compile_str};

pub(crate) const HEAD: &str = r#"
[plan]
name = "t"
limits = { duration = "1m", requests = 100 }

[targets.api]
url = "http://127.0.0.1:9/"
"#;

pub(crate) fn compile_with(text: &str, vars: &[(&str, &str)]) -> Result<Plan, PlanErrors> {
    let env: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    compile_str(text, Path::new("t.toml"), &move |name: &str| {
        env.get(name).cloned()
    })
}

pub(crate) fn ok(text: &str) -> Plan {
    compile_with(text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn errors(text: &str, vars: &[(&str, &str)]) -> Vec<Diagnostic> {
    match compile_with(text, vars) {
        Ok(_) => panic!("the plan compiled, but errors were expected:\n{text}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

/// The single error of a plan, whose message must contain `needle`.
pub(crate) fn one_error(text: &str, needle: &str) -> Diagnostic {
    let all = errors(text, &[]);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    assert!(
        all[0].message.contains(needle),
        "{:?} does not contain {needle:?}",
        all[0].message
    );
    all.into_iter().next().expect("one")
}

pub(crate) fn spanned<'t>(text: &'t str, d: &Diagnostic) -> &'t str {
    d.span.clone().map_or("", |s| &text[s])
}

pub(crate) fn demo_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TESTBED_OPS_KEY", "ops-s3cret"),
        ("TESTBED_PASSWORD", "pw-s3cret"),
    ]
}

#[test]
fn the_demo_plan_compiles() {
    let text = include_str!("../../../examples/demo.toml");
    let plan = compile_with(text, &demo_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.name, "testbed-demo");
    assert_eq!(plan.environment, Environment::Local);
    assert_eq!(plan.seed, 42);
    assert_eq!(plan.limits.duration, Duration::from_secs(480));
    assert_eq!(plan.limits.requests, 50_000);
    let with_rate = text.replace("requests = 50000 }", "requests = 50000, rate = 1000 }");
    let rated = compile_with(&with_rate, &demo_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rated.limits.rate,
        Some(1000.0),
        "an integer rate is a number"
    );
    assert_eq!(plan.settle.interval, Duration::from_millis(200));
    assert_eq!(plan.targets["api"].base_url, "http://127.0.0.1:8080");
    assert_eq!(
        plan.targets["ops"].secrets_used.iter().collect::<Vec<_>>(),
        vec!["ops_key"]
    );
    assert!(plan.targets["api"].secrets_used.is_empty());
    assert_eq!(plan.targets["ops"].preflight.len(), 1);
    assert_eq!(plan.secrets.env_of("password"), Some("TESTBED_PASSWORD"));
    let steps = &plan.scenarios["create_and_fetch"].steps;
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["login", "create", "fetch"]);
    let StepKind::Http(create) = &steps[1].kind else {
        panic!("create is an HTTP step")
    };
    assert_eq!(
        (create.method, create.target.as_str()),
        (Method::Post, "api")
    );
    assert_eq!(create.expect.status, StatusSet::Codes([201].into()));
    let track = create.track.as_ref().expect("create is tracked");
    assert_eq!(track.read.path.source(), "/api/v1/runs?key={{ key }}");
    assert_eq!(track.success, vec!["completed"]);
    let ids: Vec<&str> = plan.load_tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids[..3], ["L1", "L2", "L3"]);
    let l1 = &plan.load_tests[0];
    assert_eq!(
        l1.executor,
        Executor::Rounds {
            concurrency: 20,
            rounds: 3
        }
    );
    assert_eq!(l1.thresholds[1].metric, ThresholdMetric::Percentile(95.0));
    assert_eq!(
        l1.thresholds[2].metric,
        ThresholdMetric::Ledger(LedgerClass::Lost)
    );
    let l2 = &plan.load_tests[1];
    assert_eq!(l2.mix.len(), 2);
    assert_eq!(l2.targets.iter().collect::<Vec<_>>(), vec!["api", "ops"]);
    assert_eq!(l2.samplers[0].name, "queue_depth");
    assert_eq!(
        l2.thresholds[1].metric,
        ThresholdMetric::Gauge {
            agg: GaugeAgg::Max,
            name: "queue_depth".into()
        }
    );
    assert_eq!(
        plan.redacted_source, text,
        "the demo text holds no secret value"
    );
}

#[test]
fn defaults_are_applied() {
    let plan = ok(&format!(
        "{HEAD}[scenarios.s]\nsteps = [{{ request = \"GET api:/a\" }}, {{ think = \"10ms\" }}]\n\
         [[load]]\nid = \"L1\"\nscenario = \"s\"\nexecutor = {{ vus = {{ count = 2, iterations = 10 }} }}\n"
    ));
    assert_eq!(plan.environment, Environment::Local);
    assert_eq!(plan.seed, 0);
    assert_eq!(plan.limits.rate, None);
    assert_eq!(plan.settle.timeout, Duration::from_secs(30));
    assert_eq!(plan.settle.interval, Duration::from_millis(250));
    let api = &plan.targets["api"];
    assert_eq!(
        api.base_url, "http://127.0.0.1:9",
        "the trailing slash is removed"
    );
    assert_eq!(
        (api.connect_timeout, api.request_timeout),
        (Duration::from_secs(5), Duration::from_secs(30))
    );
    let steps = &plan.scenarios["s"].steps;
    assert_eq!((steps[0].name.as_str(), steps[1].name.as_str()), ("0", "1"));
    let StepKind::Http(get) = &steps[0].kind else {
        panic!("http")
    };
    assert_eq!(get.expect.status, StatusSet::Success);
    assert!(
        matches!(steps[1].kind, StepKind::Think { min, max } if min == max && min == Duration::from_millis(10))
    );
    let test = &plan.load_tests[0];
    assert_eq!((test.name.as_str(), test.required), ("L1", true));
    assert_eq!(
        test.executor,
        Executor::VusIterations {
            vus: 2,
            iterations: 10
        }
    );
}

#[test]
fn interpolation_applies_to_every_string_and_secrets_are_redacted() {
    let text = format!(
        "{HEAD}[vars]\nregion = \"${{REGION:-eu}}\"\n[secrets]\ntoken = {{ env = \"TOKEN\" }}\n\
         [scenarios.s]\nsteps = [{{ request = \"POST api:/${{PREFIX}}/x\", json = {{ r = \"{{{{ vars.region }}}}\", t = \"{{{{ secrets.token }}}}\", literal = \"$${{KEEP}}\" }} }}]\n\
         # the token's value, leaked into a comment: tok-123-secret\n"
    );
    let plan = compile_with(&text, &[("PREFIX", "v2"), ("TOKEN", "tok-123-secret")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.vars["region"], serde_json::json!("eu"));
    let StepKind::Http(step) = &plan.scenarios["s"].steps[0].kind else {
        panic!("http")
    };
    assert_eq!(step.path.source(), "/v2/x");
    let Some(Body::Json(body)) = &step.body else {
        panic!("json body")
    };
    assert_eq!(body["literal"], "${KEEP}");
    assert!(!plan.redacted_source.contains("tok-123-secret"));
    assert!(plan.redacted_source.contains("[REDACTED:token]"));
}

#[test]
fn a_secret_too_short_to_redact_is_refused_without_showing_it() {
    let text = format!(
        "{HEAD}[secrets]\nkey = {{ env = \"OPS_KEY\" }}\nspare = {{ env = \"SPARE\" }}\n\
         [targets.api.headers]\nX-Key = \"{{{{ secrets.key }}}}\"\n"
    );
    for short in ["x", "GO", "true", "7chars!"] {
        let all = errors(&text, &[("OPS_KEY", short)]);
        assert_eq!(all.len(), 1, "{short}: {all:?}");
        let d = &all[0];
        assert!(
            d.message
                .contains("secret `key` is too short to redact: its variable `OPS_KEY` holds"),
            "{}",
            d.message
        );
        assert!(d.hint.contains("8 or more characters"), "{}", d.hint);
        let shown = format!("{} {} {}", d.message, d.label, d.hint);
        assert!(!shown.contains(&format!(" {short} ")), "{shown}");
        assert_eq!(spanned(&text, d), "\"OPS_KEY\"");
    }
    // Declared and set, though not referenced: it may still be interpolated as `${SPARE}`.
    let all = errors(&text, &[("OPS_KEY", "long-enough"), ("SPARE", "p")]);
    assert!(
        all[0].message.contains("secret `spare` is too short"),
        "{all:?}"
    );
    compile_with(&text, &[("OPS_KEY", "exactly8")]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_missing_environment_variable_names_the_variable_and_the_field() {
    let text = HEAD.replace("http://127.0.0.1:9/", "${API_URL}");
    let d = one_error(
        &text,
        "environment variable `API_URL` is not set (used in the url of target `api`)",
    );
    assert_eq!(spanned(&text, &d), "${API_URL}");
    assert!(d.hint.contains("${API_URL:-value}"), "{}", d.hint);
}

#[test]
fn secrets_are_checked_only_where_referenced() {
    let declared = format!(
        "{HEAD}[secrets]\nunused = {{ env = \"UNUSED_VAR\" }}\nused = {{ env = \"USED_VAR\" }}\n"
    );
    let referenced = format!(
        "{declared}[targets.api.headers]\nAuthorization = \"Bearer {{{{ secrets.used }}}}\"\n"
    );
    ok(&declared);
    let d = one_error(
        &referenced,
        "secret `used` is referenced, but its variable `USED_VAR` is not set",
    );
    assert_eq!(spanned(&referenced, &d), "\"USED_VAR\"");
    assert!(d.hint.contains("export USED_VAR="), "{}", d.hint);
    let all = errors(&referenced, &[("USED_VAR", "")]);
    assert!(all[0].message.contains("`USED_VAR` is empty"), "{all:?}");
    let plan = compile_with(&referenced, &[("USED_VAR", "v-long-enough")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plan.targets["api"].secrets_used.iter().collect::<Vec<_>>(),
        vec!["used"]
    );

    let undeclared = format!("{HEAD}[targets.api.headers]\nX = \"{{{{ secrets.nope }}}}\"\n");
    let d = one_error(
        &undeclared,
        "reads the secret `nope`, which is not declared",
    );
    assert!(d.hint.contains("nope = { env = "), "{}", d.hint);
}

#[test]
fn undefined_template_variables_name_the_step_and_what_is_defined() {
    let text = format!(
        "{HEAD}[scenarios.s]\nsteps = [\n  {{ name = \"a\", request = \"GET api:/runs/{{{{ run_id }}}}\" }},\n  \
         {{ name = \"b\", request = \"POST api:/runs\", capture = {{ run_id = \"$.id\" }} }},\n  \
         {{ name = \"c\", request = \"GET api:/x/{{{{ tokn }}}}/{{{{ run_id }}}}\" }},\n  \
         {{ name = \"d\", request = \"GET api:/{{{{ key }}}}\" }},\n  \
         {{ name = \"e\", request = \"GET api:/{{{{ vars.nope }}}}\" }},\n]\n"
    );
    let all = errors(&text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "undefined variable `run_id` in the path of the request of step `a` (scenario `s`)",
            "undefined variable `tokn` in the path of the request of step `c` (scenario `s`)",
            "undefined variable `key` in the path of the request of step `d` (scenario `s`)",
            "the path of the request of step `e` (scenario `s`) reads `vars.nope`, which [vars] does not define",
        ]
    );
    assert_eq!(spanned(&text, &all[0]), "run_id");
    assert!(
        all[0]
            .hint
            .contains("captured by step `b`, which does not run before this"),
        "{}",
        all[0].hint
    );
    assert!(
        all[1].hint.contains("run_id (captured by step `b`)"),
        "{}",
        all[1].hint
    );
    assert!(
        all[2].hint.contains("only in a step with `track`"),
        "{}",
        all[2].hint
    );
}

#[test]
fn track_scopes_key_and_own_captures() {
    let step = |read: &str, key: &str| {
        format!(
            "{HEAD}[scenarios.s]\nsteps = [{{ request = \"POST api:/r?k={{{{ key }}}}\", capture = {{ id = \"$.id\" }}, \
             track = {{ key = \"{key}\", read = \"{read}\", items = \"$.r[*]\", state = \"$.s\", terminal = [\"done\"], success = [\"done\"] }} }}]\n"
        )
    };
    ok(&step(
        "GET api:/r/{{ id }}?k={{ key }}",
        "{{ uuid() }}-{{ vu }}",
    ));
    let text = step("GET api:/r", "{{ id }}");
    one_error(&text, "undefined variable `id` in track.key of step `0`");
    let text = step("GET nowhere:/r", "k");
    let d = one_error(
        &text,
        "track.read of step `0` (scenario `s`) uses the target `nowhere`, which is not defined",
    );
    assert_eq!(spanned(&text, &d), "nowhere");
    assert!(d.hint.contains("defined targets: api"));
}

#[test]
fn a_missing_target_is_located_with_the_defined_ones() {
    let text = format!("{HEAD}[scenarios.s]\nsteps = [{{ request = \"GET apx:/health\" }}]\n");
    let d = one_error(&text, "uses the target `apx`, which is not defined");
    assert_eq!(spanned(&text, &d), "apx");
    assert!(d.hint.starts_with("defined targets: api"), "{}", d.hint);
}

#[test]
fn limits_are_mandatory() {
    let text = "[plan]\nname = \"t\"\n";
    let d = one_error(text, "`plan` has no `limits`");
    assert!(d.hint.contains("bound the run"), "{}", d.hint);
    let text = "[plan]\nname = \"t\"\nlimits = { rate = 5 }\n";
    let all = errors(text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "`plan.limits` has no `duration`",
            "`plan.limits` has no `requests`"
        ]
    );
    assert!(all[0].hint.contains("mandatory"));
    one_error(
        "[settle]\ntimeout = \"1s\"\n",
        "the plan has no [plan] table",
    );
}

#[test]
fn thresholds_are_parsed_and_checked_against_their_test() {
    let text = format!(
        "{HEAD}[scenarios.s]\nsteps = [{{ name = \"get\", request = \"GET api:/a\" }}]\n\
         [[load]]\nid = \"L1\"\nscenario = \"s\"\nexecutor = {{ rounds = {{ concurrency = 1, rounds = 1 }} }}\n\
         sample = [{{ name = \"depth\", request = \"GET api:/q\", value = \"$.depth\", every = \"50ms\" }}]\n\
         thresholds = [\"p(95 < 5s\", \"p(99){{step=nope}} < 1s\", \"max(queue) < 1\", \"lost == 0\", \"last(depth){{step=get}} < 1\", \
         \"p(90){{step=get}} <= 2s\", \"avg(depth) > 0\", \"rate(failures) < 0.1\"]\n"
    );
    let all = errors(&text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "the threshold `p(95 < 5s` of load test `L1` does not parse: `p(` is not closed with `)`",
            "the threshold `p(99){step=nope} < 1s` of load test `L1` names the step `nope`, which none of its scenarios has",
            "the threshold `max(queue) < 1` of load test `L1` reads the gauge `queue`, which this test does not sample",
            "the threshold `lost == 0` of load test `L1` counts ledger outcomes, but this test tracks nothing",
            "the threshold `last(depth){step=get} < 1` of load test `L1` is scoped to a step, but gauges and ledger classes are per test",
        ]
    );
    assert!(
        all[0]
            .hint
            .contains("METRIC [{step=NAME}] OP NUMBER [UNIT]")
    );
    assert_eq!(spanned(&text, &all[0]), "p(95 < 5s");
    assert!(all[2].hint.contains("gauges of this test: depth"));

    let fixed = text.replace("\"p(95 < 5s\", \"p(99){step=nope} < 1s\", \"max(queue) < 1\", \"lost == 0\", \"last(depth){step=get} < 1\", ", "");
    let plan = ok(&fixed);
    let t = &plan.load_tests[0].thresholds;
    assert_eq!(
        (t[0].step.as_deref(), t[0].op, t[0].value),
        (Some("get"), CmpOp::Le, 2000.0)
    );
    assert_eq!(t[2].metric, ThresholdMetric::Rate(Counter::Failures));
    assert_eq!(
        plan.load_tests[0].samplers[0].every,
        Duration::from_millis(50)
    );
}

#[test]
fn load_tests_are_checked() {
    let scenario = format!("{HEAD}[scenarios.s]\nsteps = [{{ request = \"GET api:/a\" }}]\n");
    let text = format!(
        "{scenario}[[load]]\nid = \"L1\"\nscenario = \"s\"\nexecutor = {{ rounds = {{ concurrency = 0, rounds = 1 }} }}\n\
         [[load]]\nid = \"L1\"\nscenario = \"t\"\nexecutor = {{ vus = {{ count = 1, duration = \"1s\", iterations = 3 }} }}\n\
         [[load]]\nid = \"a,b\"\nmix = [{{ scenario = \"s\", weight = 0 }}]\nexecutor = {{}}\n\
         [[load]]\nscenario = \"s\"\nmix = []\n"
    );
    let all = errors(&text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "concurrency must be a positive integer, not 0",
            "load tests 0 and 1 both have the id `L1`",
            "load test `1` runs the scenario `t`, which is not defined",
            "the vus executor of load test `1` has both `duration` and `iterations`",
            "`a,b` is not a valid load test id",
            "a mix weight must be a positive integer, not 0",
            "the executor of load test `2` has neither `rounds` nor `vus`",
            "load test 3 has no `id`",
            "load test `3` has no `executor`",
            "load test `3` has both `scenario` and `mix`",
        ]
    );
    assert_eq!(spanned(&text, &all[7]), "[[load]]");
}

#[test]
fn steps_are_checked() {
    let text = format!(
        "{HEAD}[scenarios.s]\nsteps = [\n  {{ name = \"x\", request = \"get api:/a\" }},\n  {{ name = \"x\", think = [\"2s\", \"1s\"] }},\n  \
         {{ think = \"1s\", expect = {{ status = 200 }} }},\n  {{ name = \"n\" }},\n  \
         {{ request = \"POST api:/a\", json = {{}}, body = \"b\", capture = {{ vu = \"$.x\", ok = \"not a path\" }}, expect = {{ status = [99] }} }},\n  \
         {{ request = \"GET api:/a\", poll = {{ until = \"$.s\" }}, expect = {{ latency = \"soon\" }} }},\n  \
         {{ request = \"GET api:/a\", track = {{ key = \"k\", read = \"GET api:/r\", items = \"$.r\", state = \"$.s\", terminal = [\"done\"], success = [\"ok\"] }} }},\n]\n\
         [scenarios.empty]\nsteps = []\n"
    );
    let all = errors(&text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "invalid request line in the request of step `x` (scenario `s`): the method `get` must be upper-case: `GET`",
            "scenario `s` has two steps named `x` (steps 0 and 1)",
            "the think time of step `x` (scenario `s`): the minimum 2s is above the maximum 1s",
            "step `2` (scenario `s`) is a think step, which cannot have expect",
            "step `n` of scenario `s` has neither `request` nor `think`",
            "the request of step `4` (scenario `s`) has both `json` and `body`",
            "the capture `vu` in the captures of step `4` (scenario `s`) would hide the builtin `vu`",
            "invalid JSONPath `not a path` in capture `ok` of step `4` (scenario `s`): at position 0, parser error",
            "99 in expect.status of step `4` (scenario `s`) is not an HTTP status",
            "poll of step `5` (scenario `s`) has no values in `in`",
            "invalid duration `soon`: expected number at 0 (in expect.latency of step `5` (scenario `s`))",
            "`ok` in track.success of step `6` (scenario `s`) is not one of the terminal states",
            "scenario `empty` has no steps",
        ]
    );
    assert_eq!(spanned(&text, &all[0]), "get");
}

#[test]
fn unknown_keys_and_semantic_errors_come_together() {
    let text = format!(
        "{HEAD}helth = \"GET /\"\n[scenarios.s]\nsteps = [{{ request = \"GET nope:/\" }}]\n"
    );
    let all = errors(&text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "unknown key `helth` in `targets.api`",
            "the request of step `0` (scenario `s`) uses the target `nope`, which is not defined",
        ]
    );
}

#[test]
fn diagnostics_never_quote_a_secret_value() {
    let text = format!(
        "{HEAD}[secrets]\nk = {{ env = \"K\" }}\n[targets.x]\nurl = \"${{K}}\"\nheaders = {{ A = \"{{{{ secrets.k }}}}\" }}\n"
    );
    let err =
        compile_with(&text, &[("K", "sup3r-secret value")]).expect_err("the url is not a URL");
    let rendered = err.to_string();
    assert!(
        rendered.contains("invalid url for target `x`"),
        "{rendered}"
    );
    assert!(!rendered.contains("sup3r-secret"), "{rendered}");
}

#[test]
fn the_remaining_checks_each_fail() {
    let text = r#"
[plan]
limits = { duration = "1m", requests = 0, rate = 0 }

[vars]
bad = nan

[secrets]
nowhere = {}
spaced = { env = "NOT A NAME" }

[targets.q]
url = "http://127.0.0.1:9/?a=1"
headers = { A = "${UNCLOSED" }

[scenarios.nosteps]

[scenarios.s]
steps = [
  { name = "a b", request = "GET q:/", think = "1s" },
  { think = [] },
  { request = "GET q:/", capture = { run-id = "$.id" }, expect = { json = { "id" = 1 } }, poll = { in = [1] } },
  { request = "GET q:/", track = { key = "k", terminal = [] } },
]

[[load]]
id = "L1"
executor = { rounds = { concurrency = 1 }, vus = { count = 1 } }
mix = []
sample = [{ name = "depth" }, { name = "depth", request = "GET q:/", value = "$.d" }]

[[load]]
id = "L2"
mix = [{ weight = 1 }]
executor = { vus = { count = 1 } }
"#;
    let all = errors(text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    let expected = [
        "`plan` has no `name`",
        "limits.requests must be a positive integer, not 0",
        "limits.rate must be positive, not 0",
        "vars.bad holds NaN, which JSON cannot represent",
        "secret `nowhere` does not say where its value comes from",
        "`NOT A NAME` is not an environment variable name",
        "invalid url for target `q`: `http://127.0.0.1:9/?a=1` has a query or fragment; a base URL cannot",
        "`${` is not closed in header `A` in the headers of target `q`",
        "`scenarios.nosteps` has no `steps`",
        "`a b` is not a valid step name",
        "step `0` of scenario `s` has both `request` and `think`",
        "the think time of step `1` (scenario `s`) has 0 durations",
        "`run-id` in the captures of step `2` (scenario `s`) is not a valid variable name",
        "invalid JSONPath `id` in expect.json `id` of step `2` (scenario `s`)",
        "poll of step `2` (scenario `s`) has no `until`",
        "track of step `3` (scenario `s`) has no `read`",
        "track of step `3` (scenario `s`) has no `items`",
        "track of step `3` (scenario `s`) has no `state`",
        "track of step `3` (scenario `s`) has no `success`",
        "track.terminal of step `3` (scenario `s`) is empty",
        "load test `L1` has two executors (`rounds` and `vus`)",
        "the mix of load test `L1` is empty",
        "a sampler of load test `L1` has no `request`",
        "a sampler of load test `L1` has no `value`",
        "`depth` is not a valid or unique gauge name in load test `L1`",
        "a mix entry of load test `L2` has no `scenario`",
        "the vus executor of load test `L2` has neither `duration` nor `iterations`",
    ];
    for (i, want) in expected.iter().enumerate() {
        assert!(
            messages.iter().any(|m| m.starts_with(want)),
            "expected #{i} {want:?} among:\n{messages:#?}"
        );
    }
    assert_eq!(messages.len(), expected.len(), "{messages:#?}");
}
