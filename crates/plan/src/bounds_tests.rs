//! Tests of the bounds on concurrency: users and iterations in flight over the cap are plan
//! errors at their position; users beyond `limits.requests` are cut to it with a warning.

use std::path::Path;

use crate::load::model::Executor;
use crate::model::Plan;
use crate::{Diagnostic, MAX_CONCURRENCY, PlanErrors, compile_str};

fn plan(requests: u64, executor: &str) -> String {
    format!(
        r#"[plan]
name = "t"
limits = {{ duration = "1m", requests = {requests} }}

[targets.api]
url = "http://127.0.0.1:9"

[scenarios.s]
steps = [{{ name = "get", request = "GET api:/x" }}]

[[load]]
id = "L1"
scenario = "s"
executor = {executor}
thresholds = ["p(95) < 500ms"]
"#
    )
}

fn compile(text: &str) -> Result<Plan, PlanErrors> {
    compile_str(text, Path::new("t.toml"), &|_| None)
}

/// The one error of `text`, and the text it points at.
fn error(text: &str) -> (Diagnostic, String) {
    let errors = match compile(text) {
        Ok(_) => panic!("the plan compiled, but an error was expected:\n{text}"),
        Err(e) => e.diagnostics().to_vec(),
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].clone();
    let span = error.span.clone().expect("the error has a position");
    let at = text[span].to_string();
    (error, at)
}

fn compiled(text: &str) -> Plan {
    compile(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_cap_is_what_the_budget_buys() {
    assert_eq!(MAX_CONCURRENCY, 100_000);
    assert_eq!(
        u64::from(MAX_CONCURRENCY) * crate::BYTES_PER_USER,
        crate::USER_MEMORY_BUDGET
    );
}

#[test]
fn users_over_the_cap_are_an_error_at_the_figure() {
    let cases = [
        (
            "{ rounds = { concurrency = 4294967295, rounds = 1 } }",
            "concurrency",
            "4294967295",
        ),
        (
            "{ vus = { count = 4294967295, iterations = 10 } }",
            "count",
            "4294967295",
        ),
        (
            r#"{ vus = { count = 100001, duration = "10s" } }"#,
            "count",
            "100001",
        ),
        (
            r#"{ constant_rate = { rate = 10, duration = "10s", max_in_flight = 4294967295 } }"#,
            "max_in_flight",
            "4294967295",
        ),
        (
            r#"{ ramping_rate = { stages = [{ rate = 10, duration = "10s" }], max_in_flight = 99999999999 } }"#,
            "max_in_flight",
            "99999999999",
        ),
    ];
    for (executor, key, figure) in cases {
        let (e, at) = error(&plan(1_000_000_000, executor));
        assert_eq!(at, figure, "{executor}");
        assert_eq!(
            e.message,
            format!(
                "`{key}` of load test `L1` is {figure}, over the most concurrent users a test may have (100000)"
            )
        );
        assert!(
            e.hint.contains(&format!("write {key} = 100000 or less")),
            "{}",
            e.hint
        );
    }
}

#[test]
fn the_cap_itself_is_allowed() {
    let p = compiled(&plan(
        1_000_000,
        "{ rounds = { concurrency = 100000, rounds = 1 } }",
    ));
    assert_eq!(
        p.load_tests[0].executor,
        Executor::Rounds {
            concurrency: 100_000,
            rounds: 1
        }
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn zero_users_are_still_an_error() {
    let (e, at) = error(&plan(100, "{ rounds = { concurrency = 0, rounds = 1 } }"));
    assert_eq!(at, "0");
    assert_eq!(e.message, "concurrency must be a positive integer, not 0");
}

#[test]
fn users_beyond_the_request_limit_are_cut_to_it_with_a_warning() {
    let cases = [
        (
            "{ rounds = { concurrency = 5000, rounds = 3 } }",
            Executor::Rounds {
                concurrency: 100,
                rounds: 3,
            },
            "concurrency",
        ),
        (
            r#"{ vus = { count = 5000, duration = "10s" } }"#,
            Executor::VusDuration {
                vus: 100,
                duration: std::time::Duration::from_secs(10),
            },
            "count",
        ),
        (
            "{ vus = { count = 5000, iterations = 7 } }",
            Executor::VusIterations {
                vus: 100,
                iterations: 7,
            },
            "count",
        ),
    ];
    for (executor, expected, key) in cases {
        let p = compiled(&plan(100, executor));
        assert_eq!(p.load_tests[0].executor, expected, "{executor}");
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let w = &p.warnings[0];
        assert!(
            w.contains(&format!(
                "`{key}` of load test `L1` is 5000, but limits.requests lets the whole run send only 100"
            )),
            "{w}"
        );
        // Line 14 is the executor; four carets underline the figure 5000.
        assert!(w.contains("t.toml:14:"), "{w}");
        assert!(w.contains(" ^^^^ more users than requests"), "{w}");
        assert!(w.contains(&format!("write {key} = 100 or less")), "{w}");
    }
}

#[test]
fn users_within_the_request_limit_get_no_warning() {
    let p = compiled(&plan(100, "{ rounds = { concurrency = 100, rounds = 5 } }"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn fault_test_load_is_bounded_too() {
    let text = format!(
        "{}{}",
        plan(1_000_000, "{ rounds = { concurrency = 1, rounds = 1 } }"),
        r#"
[[faults]]
id = "F1"
load = { scenario = "s", executor = { rounds = { concurrency = 4294967295, rounds = 1 } } }
"#
    );
    let errors = match compile(&text) {
        Ok(_) => panic!("compiled"),
        Err(e) => e.diagnostics().to_vec(),
    };
    let over: Vec<&Diagnostic> = errors
        .iter()
        .filter(|e| e.message.contains("over the most concurrent users"))
        .collect();
    assert_eq!(over.len(), 1, "{errors:?}");
    let span = over[0].span.clone().expect("a position");
    assert_eq!(&text[span], "4294967295");
}

#[test]
fn a_graceful_stop_needs_an_executor_with_a_duration() {
    let vus = "{ vus = { count = 2, duration = \"5s\" } }";
    let test = &compiled(&format!("{}graceful_stop = \"0s\"\n", plan(100, vus))).load_tests[0];
    assert_eq!(test.graceful_stop, Some(std::time::Duration::ZERO));
    let rate = "{ constant_rate = { rate = 10.0, duration = \"5s\", max_in_flight = 4 } }";
    let text = format!("{}graceful_stop = \"250ms\"\n", plan(100, rate));
    let test = &compiled(&text).load_tests[0];
    assert_eq!(
        test.graceful_stop,
        Some(std::time::Duration::from_millis(250))
    );
    assert_eq!(compiled(&plan(100, vus)).load_tests[0].graceful_stop, None);

    let rounds = "{ rounds = { concurrency = 2, rounds = 1 } }";
    let (e, at) = error(&format!("{}graceful_stop = \"1s\"\n", plan(100, rounds)));
    assert_eq!(at, "\"1s\"");
    assert!(
        e.message
            .contains("has a `graceful_stop`, but its executor has no duration to stop at"),
        "{e:?}"
    );
    assert!(e.hint.contains("remove graceful_stop"), "{e:?}");
    let (e, at) = error(&format!("{}graceful_stop = \"soon\"\n", plan(100, vus)));
    assert_eq!(at, "\"soon\"");
    assert!(
        e.message.contains("graceful_stop of load test `L1`"),
        "{e:?}"
    );
}
