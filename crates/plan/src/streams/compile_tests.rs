//! Tests of compiling stream steps: `linger` (a duration, zero allowed, absent by default) and
//! its errors, located in the plan.

use std::path::Path;
use std::time::Duration;

use crate::model::Plan;
use crate::scenarios::model::StepKind;
use crate::streams::model::{StreamExpect, Unexpected};
use crate::{Diagnostic, PlanErrors, compile_str};

const HEAD: &str = r#"
[plan]
name = "t"
limits = { duration = "1m", requests = 100 }

[targets.api]
url = "http://127.0.0.1:9/"

[[load]]
id = "S1"
scenario = "s"
executor = { rounds = { concurrency = 1, rounds = 1 } }
"#;

fn compile(steps: &str) -> (String, Result<Plan, PlanErrors>) {
    let text = format!("{HEAD}\n[scenarios.s]\nsteps = [\n{steps}\n]\n");
    let plan = compile_str(&text, Path::new("t.toml"), &|_: &str| None);
    (text, plan)
}

/// The expectations of each step of scenario `s`.
fn expects(steps: &str) -> Vec<StreamExpect> {
    let (_, plan) = compile(steps);
    let plan = plan.unwrap_or_else(|e| panic!("{e}"));
    plan.scenarios["s"]
        .steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::Ws(ws) => ws.expect.clone(),
            StepKind::Sse(sse) => sse.expect.clone(),
            other => panic!("not a stream step: {other:?}"),
        })
        .collect()
}

fn errors(steps: &str) -> (String, Vec<Diagnostic>) {
    let (text, plan) = compile(steps);
    match plan {
        Ok(_) => panic!("the plan compiled, but errors were expected:\n{text}"),
        Err(e) => (text, e.diagnostics().to_vec()),
    }
}

#[test]
fn linger_is_a_duration_zero_included_and_absent_by_default() {
    let all = expects(
        r#"  { name = "w", ws = { request = "GET api:/ws", events = [{ type = "a" }], unexpected = "forbid", linger = "250ms" } },
  { name = "s", sse = { request = "GET api:/sse", events = [{ type = "a" }], linger = "0s" } },
  { name = "d", sse = { request = "GET api:/sse", terminal = { end = "completed" } } },"#,
    );
    assert_eq!(all[0].linger, Some(Duration::from_millis(250)));
    assert_eq!(all[0].unexpected, Unexpected::Forbid);
    assert_eq!(all[1].linger, Some(Duration::ZERO));
    assert_eq!(all[2].linger, None);
    assert_eq!(all[2].unexpected, Unexpected::Allow);
}

#[test]
fn a_linger_that_is_not_a_duration_is_located_with_its_step() {
    let (text, all) = errors(
        r#"  { name = "w", ws = { request = "GET api:/ws", events = [{ type = "a" }], linger = "a while" } },
  { name = "s", sse = { request = "GET api:/sse", events = [{ type = "a" }], linger = "-1s" } },"#,
    );
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].starts_with("invalid duration `a while`")
            && messages[0].ends_with("(in ws.linger of step `w` (scenario `s`))"),
        "{}",
        messages[0]
    );
    assert_eq!(&text[all[0].span.clone().expect("located")], "\"a while\"");
    assert!(
        messages[1].ends_with("(in sse.linger of step `s` (scenario `s`))"),
        "{}",
        messages[1]
    );
    assert_eq!(&text[all[1].span.clone().expect("located")], "\"-1s\"");
    // Not a string at all: a type error, located too.
    let (text, all) = errors(
        r#"  { name = "s", sse = { request = "GET api:/sse", events = [{ type = "a" }], linger = 5 } },"#,
    );
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].message.contains("sse.linger") && all[0].message.contains("expected a string"),
        "{}",
        all[0].message
    );
    assert_eq!(&text[all[0].span.clone().expect("located")], "5");
}
