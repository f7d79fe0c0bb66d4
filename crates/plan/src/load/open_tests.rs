//! Tests of the open-model plan syntax: arrival-rate executors, the rate limit, and window
//! scopes of thresholds.

use std::path::Path;
use std::time::Duration;

use crate::load::model::Executor;
use crate::load::model_open::{ArrivalRate, RateStage, Schedule, WindowScope};
use crate::model::Plan;
use crate::{Diagnostic, PlanErrors, compile_str};

fn plan(limits: &str, executor: &str, thresholds: &str) -> String {
    format!(
        r#"
[plan]
name = "t"
limits = {{ duration = "1m", requests = 100000{limits} }}

[targets.api]
url = "http://127.0.0.1:9"

[scenarios.s]
steps = [{{ name = "get", request = "GET api:/x" }}]

[[load]]
id = "L1"
scenario = "s"
executor = {executor}
thresholds = [{thresholds}]
"#
    )
}

fn compile(text: &str) -> Result<Plan, PlanErrors> {
    compile_str(text, Path::new("t.toml"), &|_| None)
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match compile(text) {
        Ok(_) => panic!("the plan compiled, but errors were expected:\n{text}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

fn executor(text: &str) -> Executor {
    match compile(text) {
        Ok(plan) => plan.load_tests[0].executor.clone(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_constant_rate_compiles_with_defaults() {
    let e = executor(&plan(
        "",
        r#"{ constant_rate = { rate = 1000, duration = "10s" } }"#,
        "",
    ));
    assert_eq!(
        e,
        Executor::Arrival(ArrivalRate::constant(
            1000.0,
            Duration::from_secs(10),
            Schedule::Uniform,
            2000
        ))
    );
}

#[test]
fn a_ramp_compiles_with_its_stages() {
    let e = executor(&plan(
        ", rate = 500",
        r#"{ ramping_rate = { start_rate = 10, schedule = "poisson", max_in_flight = 64, stages = [{ rate = 500, duration = "5s" }, { rate = 0.5, duration = "1s" }] } }"#,
        r#""p(99){window=2s..} < 1s", "count(dropped) == 0", "rate(dropped) < 0.01""#,
    ));
    let Executor::Arrival(rate) = e else {
        panic!("not an arrival rate: {e:?}");
    };
    assert_eq!(rate.start_rate, 10.0);
    assert_eq!(
        rate.stages,
        [
            RateStage {
                rate: 500.0,
                duration: Duration::from_secs(5)
            },
            RateStage {
                rate: 0.5,
                duration: Duration::from_secs(1)
            }
        ]
    );
    assert_eq!((rate.schedule, rate.max_in_flight), (Schedule::Poisson, 64));
}

#[test]
fn a_rate_over_the_plans_limit_is_refused_before_anything_runs() {
    let text = plan(
        ", rate = 100",
        r#"{ constant_rate = { rate = 1000, duration = "10s" } }"#,
        "",
    );
    let all = errors(&text);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0]
            .message
            .contains("1000/s, over the plan's limits.rate of 100/s"),
        "{}",
        all[0].message
    );
}

#[test]
fn open_model_mistakes_are_reported_together() {
    let text = plan(
        "",
        r#"{ constant_rate = { rate = -1, duration = "0s", schedule = "bursty", max_in_flight = 0 } }"#,
        "",
    );
    let messages: Vec<String> = errors(&text).into_iter().map(|d| d.message).collect();
    let has = |needle: &str| messages.iter().any(|m| m.contains(needle));
    assert!(has("must be a positive number, not -1"), "{messages:#?}");
    assert!(has("cannot be zero"), "{messages:#?}");
    assert!(has("unknown schedule `bursty`"), "{messages:#?}");
    assert!(
        has("max_in_flight must be a positive integer"),
        "{messages:#?}"
    );
    let two = plan(
        "",
        r#"{ vus = { count = 1, iterations = 1 }, constant_rate = { rate = 1, duration = "1s" } }"#,
        "",
    );
    assert!(errors(&two)[0].message.contains("has 2 executors"));
    let silent = plan(
        "",
        r#"{ ramping_rate = { stages = [{ rate = 0, duration = "5s" }] } }"#,
        "",
    );
    assert!(errors(&silent)[0].message.contains("never sends anything"));
}

#[test]
fn window_scopes_are_checked_against_what_windows_hold() {
    let ok = plan(
        "",
        r#"{ vus = { count = 1, duration = "5s" } }"#,
        r#""p(99){window=1s..3s} < 1s""#,
    );
    let plan_ok = compile(&ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        plan_ok.load_tests[0].thresholds[0].window,
        Some(WindowScope::Range {
            from: Duration::from_secs(1),
            to: Some(Duration::from_secs(3))
        })
    );
    for (threshold, needle) in [
        (
            "p(99){window=during_fault} < 1s",
            "a load test injects no fault",
        ),
        (
            "count(iterations){window=1s..} > 1",
            "iterations are counted per test",
        ),
        ("p(99){step=get, window=1s..} < 1s", "windows are per test"),
        ("p(99){window=3s..1s} < 1s", "is empty"),
    ] {
        let text = plan(
            "",
            r#"{ vus = { count = 1, duration = "5s" } }"#,
            &format!("{threshold:?}"),
        );
        let all = errors(&text);
        assert!(
            all.iter().any(|d| d.message.contains(needle)),
            "{threshold}: {all:#?}"
        );
    }
}
