//! Tests of compiling fault tests: timelines, expectations, and the targets they act on.

use std::path::Path;

use crate::faults::model::{FaultAction, FaultMetric, Trigger};
use crate::targets::model::DriverSpec;

const BASE: &str = r#"
[plan]
name = "f"
limits = { duration = "1m", requests = 10 }

[targets.api]
url = "http://127.0.0.1:1"
health = "GET /health"
identity = { request = "GET /health", value = "$.boot_id" }
control = { driver = "exec", restart = "true" }

[targets.worker]
control = { driver = "process", command = ["sleep", "60"] }
identity = { stdout = "$.boot_id" }

[scenarios.s]
steps = [{ request = "GET api:/health" }]
"#;

fn compile(faults: &str) -> Result<crate::model::Plan, String> {
    crate::compile_str(&format!("{BASE}{faults}"), Path::new("f.toml"), &|_| None)
        .map_err(|e| e.to_string())
}

#[test]
fn a_fault_test_compiles_with_its_timeline_and_expectations() {
    let plan = compile(
        r#"
[[faults]]
id = "C1"
load = { scenario = "s", executor = { rounds = { concurrency = 1, rounds = 1 } } }
sample = [{ name = "q", request = "GET api:/q", value = "$.n" }]
timeline = [{ when = "gauge(q) >= 5", kill = "worker", signal = "SIGTERM" }, { after = "1s", restart = "worker" }, { at = "3s", restart = "api" }]
recovery = { probe = "worker", healthy = 2, within = "10s", backlog = "q" }
expect = ["count(failures) == 0", "recovery < 30s", "availability >= 0.5"]
"#,
    )
    .expect("compiles");
    let test = &plan.faults.tests[0];
    assert_eq!(test.load.id, "C1");
    assert_eq!(test.load.thresholds.len(), 1);
    assert_eq!(test.expect[0].metric, FaultMetric::Recovery);
    assert!(matches!(test.timeline[0].trigger, Trigger::When { ref gauge, .. } if gauge == "q"));
    assert!(
        matches!(&test.timeline[0].action, FaultAction::Kill { signal, .. } if signal == "TERM")
    );
    assert!(test.targets.contains("worker.control") && test.targets.contains("api"));
    assert!(matches!(
        plan.targets["worker"].control.as_ref().map(|c| &c.driver),
        Some(DriverSpec::Process(_))
    ));
    assert_eq!(plan.targets["worker"].base_url, "");
}

#[test]
fn faults_against_undeclared_or_uncontrolled_targets_are_plan_errors() {
    let err = compile(
        r#"
[targets.db]
url = "http://127.0.0.1:2"

[[faults]]
id = "C1"
load = { scenario = "s", executor = { rounds = { concurrency = 1, rounds = 1 } } }
timeline = [{ at = "1s", restart = "nowhere" }, { at = "1s", restart = "db" }, { at = "1s", pause = "api" }, { when = "gauge(x) > 1", kill = "worker" }]
recovery = { probe = "api" }
expect = ["recovery < 30"]
"#,
    )
    .expect_err("does not compile");
    assert!(
        err.contains("uses the target `nowhere`, which is not defined"),
        "{err}"
    );
    assert!(err.contains("the target `db` has no `control`"), "{err}");
    assert!(
        err.contains("the exec driver of target `api` cannot pause"),
        "{err}"
    );
    assert!(err.contains("reads the gauge `x`"), "{err}");
    assert!(err.contains("needs a unit"), "{err}");
}

#[test]
fn keys_of_another_driver_are_rejected() {
    let text = BASE.replace(
        r#"control = { driver = "exec", restart = "true" }"#,
        r#"control = { driver = "exec", restart = "true", command = ["x"] }"#,
    );
    let err = crate::compile_str(&text, Path::new("f.toml"), &|_| None)
        .expect_err("does not compile")
        .to_string();
    assert!(err.contains("does not take `command`"), "{err}");
}
