//! Bad plans: each bad-input case of the plan gets one clear diagnostic (position, offending
//! value, hint) and exit code 2, and a file with several mistakes reports them all together.
//!
//! The fixtures are in `plans/`. Each test runs `shakedown validate PLAN` with a controlled
//! environment and reads stderr.

use std::time::Duration;

use assert_cmd::Command as AssertCommand;

const PLANS: &str = "tests/integration/plans";

/// How `shakedown validate` ended.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Validate the fixture `plan` of `plans/`.
fn validate(plan: &str, env: &[(&str, &str)]) -> Outcome {
    validate_path(&format!("{PLANS}/{plan}"), env)
}

/// Validate the plan at `path` (relative to the crate) with exactly the environment `env`.
fn validate_path(path: &str, env: &[(&str, &str)]) -> Outcome {
    let output = AssertCommand::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["validate", path])
        .env_clear()
        .envs(env.iter().copied())
        .timeout(Duration::from_secs(60))
        .output()
        .expect("running shakedown validate");
    Outcome {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `path:line:column` of the first occurrence of `needle` in a fixture.
fn position(plan: &str, needle: &str) -> String {
    let path = format!("{PLANS}/{plan}");
    let text = std::fs::read_to_string(&path).expect("reading the fixture");
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in {plan}"));
    let line = text[..at].matches('\n').count() + 1;
    let column = text[..at].rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
    format!("{path}:{line}:{column}")
}

/// Assert a failed validation: exit code 2, and every `expected` fragment on stderr.
fn assert_fails(outcome: &Outcome, expected: &[&str]) {
    assert_eq!(
        outcome.code,
        Some(2),
        "exit code; stderr:\n{}",
        outcome.stderr
    );
    for fragment in expected {
        assert!(
            outcome.stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{}",
            outcome.stderr
        );
    }
}

/// How many located diagnostics stderr holds (each has one `--> path:line:col` line).
fn error_count(outcome: &Outcome) -> usize {
    outcome
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("--> "))
        .count()
}

#[test]
fn a_syntax_error_is_located() {
    let outcome = validate("syntax_error.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: invalid TOML: invalid basic string",
            // The string runs to the end of line 3, where the error is.
            &position("syntax_error.toml", "\nlimits"),
            "name = \"syntax",
            "hint: fix the TOML syntax here",
            "has 1 error",
        ],
    );
}

#[test]
fn an_unknown_key_lists_the_valid_keys() {
    let outcome = validate("unknown_key.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: unknown key `helth` in `targets.api`",
            &position("unknown_key.toml", "helth ="),
            "helth = \"GET /health\"",
            "not a key of [targets.NAME]",
            "hint: did you mean `health`? the keys of [targets.NAME] are: url, headers, health, preflight, connect_timeout, timeout",
        ],
    );
    assert_eq!(error_count(&outcome), 1, "{}", outcome.stderr);
}

#[test]
fn a_wrong_type_names_the_key_and_its_type() {
    let outcome = validate("wrong_type.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: `plan.limits.requests` has the wrong type: invalid type: string \"lots\", expected i64",
            &position("wrong_type.toml", "\"lots\""),
            "hint: `requests` expects integer > 0: Maximum number of requests the run sends",
        ],
    );
}

#[test]
fn a_missing_target_lists_the_defined_ones() {
    let outcome = validate("missing_target.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: the request of step `health` (scenario `probe`) uses the target `apx`, which is not defined",
            &position("missing_target.toml", "apx:"),
            "unknown target",
            "hint: defined targets: api",
        ],
    );
    assert_eq!(error_count(&outcome), 1, "{}", outcome.stderr);
}

#[test]
fn an_undefined_template_variable_names_the_step_and_what_is_defined() {
    let outcome = validate("undefined_variable.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: undefined variable `run_id` in the path of the request of step `fetch` (scenario `journey`)",
            &position("undefined_variable.toml", "run_id }}"),
            "hint: `run_id` is captured by step `create`, which does not run before this; a template here can read: vu, iteration, vars.NAME, secrets.NAME, uuid()",
        ],
    );
    assert_eq!(error_count(&outcome), 1, "{}", outcome.stderr);
}

#[test]
fn a_threshold_that_does_not_parse_is_quoted_with_the_grammar() {
    let outcome = validate("bad_threshold.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: the threshold `p(95 < 500ms` of load test `L1` does not parse: `p(` is not closed with `)`",
            &position("bad_threshold.toml", "p(95 <"),
            "hint: A threshold is `METRIC [{step=NAME}] OP NUMBER [UNIT]`",
            "Examples: `p(95) < 500ms`",
        ],
    );
    assert_eq!(error_count(&outcome), 1, "{}", outcome.stderr);
}

#[test]
fn a_missing_environment_variable_names_it_and_the_field() {
    let outcome = validate("missing_env.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: environment variable `SHAKEDOWN_TEST_API_URL` is not set (used in the url of target `api`)",
            &position("missing_env.toml", "${SHAKEDOWN_TEST_API_URL}"),
            "`${SHAKEDOWN_TEST_API_URL}` has no default",
            "hint: set it before running shakedown (`export SHAKEDOWN_TEST_API_URL=...`), or give a default: `${SHAKEDOWN_TEST_API_URL:-value}`",
        ],
    );
    let fixed = validate(
        "missing_env.toml",
        &[("SHAKEDOWN_TEST_API_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(fixed.code, Some(0), "{}", fixed.stderr);
}

#[test]
fn a_referenced_secret_that_is_not_set_says_how_to_set_it() {
    let outcome = validate("unset_secret.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "error: secret `ops_key` is referenced, but its variable `SHAKEDOWN_TEST_OPS_KEY` is not set",
            &position("unset_secret.toml", "\"SHAKEDOWN_TEST_OPS_KEY\""),
            "referenced first on line 12",
            "hint: set it in the environment that runs shakedown (`export SHAKEDOWN_TEST_OPS_KEY=...`",
        ],
    );
    assert_eq!(
        error_count(&outcome),
        1,
        "the unreferenced secret is not an error:\n{}",
        outcome.stderr
    );
    let set = validate(
        "unset_secret.toml",
        &[("SHAKEDOWN_TEST_OPS_KEY", "ops-key-1")],
    );
    assert_eq!(set.code, Some(0), "{}", set.stderr);
}

#[test]
fn every_error_of_a_file_comes_together_in_file_order() {
    let outcome = validate("many_errors.toml", &[]);
    let plan = "many_errors.toml";
    assert_fails(
        &outcome,
        &[
            "error: environment variable `SHAKEDOWN_TEST_API_URL` is not set",
            &position(plan, "${SHAKEDOWN_TEST_API_URL}"),
            "error: unknown key `helth` in `targets.api`",
            &position(plan, "helth"),
            "error: the request of step `create` (scenario `journey`) uses the target `apx`, which is not defined",
            &position(plan, "apx:"),
            "error: undefined variable `run` in the path of the request of step `fetch` (scenario `journey`)",
            &position(plan, "run }}"),
            "error: the threshold `p(95) < fast` of load test `L1` does not parse: expected a number, found `fast`",
            &position(plan, "fast"),
            "error: secret `ops_key` is referenced, but its variable `SHAKEDOWN_TEST_OPS_KEY` is not set",
            &position(plan, "\"SHAKEDOWN_TEST_OPS_KEY\""),
            "has 6 errors",
        ],
    );
    assert_eq!(error_count(&outcome), 6, "{}", outcome.stderr);
    let order: Vec<usize> = [
        "secret `ops_key`",
        "`SHAKEDOWN_TEST_API_URL` is not set",
        "`helth`",
        "`apx`",
        "`run`",
        "`p(95) < fast`",
    ]
    .iter()
    .map(|needle| outcome.stderr.find(needle).unwrap_or(usize::MAX))
    .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        order, sorted,
        "diagnostics are in file order:\n{}",
        outcome.stderr
    );
    assert_eq!(
        outcome.stderr.matches("hint: ").count(),
        6,
        "every diagnostic has a hint:\n{}",
        outcome.stderr
    );
}

#[test]
fn the_demo_plan_validates() {
    let outcome = validate_path(
        "../../examples/demo.toml",
        &[
            ("TESTBED_OPS_KEY", "ops-key-1"),
            ("TESTBED_PASSWORD", "password-1"),
        ],
    );
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
}

#[test]
fn a_missing_plan_file_is_an_error_too() {
    let outcome = validate("no_such_plan.toml", &[]);
    assert_fails(
        &outcome,
        &[
            "cannot read the plan tests/integration/plans/no_such_plan.toml",
            "hint: check the path",
        ],
    );
}

#[test]
fn a_plan_that_is_not_utf8_gets_the_line_and_column_of_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    std::fs::write(&path, b"[plan]\nname = \"caf\xe9\"\n").unwrap();
    let out = validate_path(path.to_str().unwrap(), &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("the plan is not UTF-8: byte 18 (0xe9"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("latin1.toml:2:12"), "{}", out.stderr);
}

#[test]
fn eight_thousand_identical_errors_print_one_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.toml");
    let plan = format!(
        "[plan]\nname = \"m\"\nlimits = {{ duration = \"1m\", requests = 1 }}\n\n[targets.api]\nurl = \"http://127.0.0.1:9/{}\"\n",
        "${X}".repeat(8000)
    );
    std::fs::write(&path, plan).unwrap();
    let out = validate_path(path.to_str().unwrap(), &[]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.len() < 2_000,
        "{} bytes printed for one mistake made 8000 times",
        out.stderr.len()
    );
    assert!(
        out.stderr.contains("= and 7999 more like this"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("has 8000 errors"), "{}", out.stderr);
}

#[test]
fn users_over_the_memory_cap_are_refused_at_validate_time() {
    let plan = "too_many_users.toml";
    let outcome = validate(plan, &[]);
    assert_fails(
        &outcome,
        &[
            "error: `concurrency` of load test `rounds` is 4294967295, over the most concurrent users a test may have (100000)",
            &position(plan, "4294967295"),
            "error: `count` of load test `vus` is 5000000, over the most concurrent users a test may have (100000)",
            &position(plan, "5000000"),
            "error: `max_in_flight` of load test `open` is 4294967296, over the most concurrent users a test may have (100000)",
            &position(plan, "4294967296"),
            "write concurrency = 100000 or less",
        ],
    );
    assert_eq!(error_count(&outcome), 3, "{}", outcome.stderr);
}
