//! Preparing a plan's tests for the load: the ids a prepared test takes from the plan.

use std::path::Path;

use super::prepared::PreparedTest;

const PLAN: &str = r#"
plan = { name = "f", limits = { duration = "1m", requests = 10 } }
targets.api = { url = "http://127.0.0.1:1", health = "GET /health", identity = { request = "GET /id", value = "$.id" }, control = { driver = "exec", restart = "true" } }
scenarios.s.steps = [{ request = "GET api:/" }]
faults = [
  { id = "C1", load = { scenario = "s", executor = { rounds = { concurrency = 1, rounds = 1 } } }, timeline = [{ at = "1s", restart = "api" }] },
  { id = "C2", load = { scenario = "s", executor = { rounds = { concurrency = 1, rounds = 1 } } }, timeline = [{ at = "1s", restart = "api" }] },
]
"#;

#[test]
fn every_fault_test_has_its_own_step_ids_so_its_keys_are_its_own() {
    let plan = shakedown_plan::compile_str(PLAN, Path::new("f.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let prepared = |at: usize| PreparedTest::new(&plan, &plan.faults.tests[at].load, "run");
    let (c1, c2) = (prepared(0), prepared(1));
    assert_ne!(c1.index, c2.index);
    assert_ne!(c1.scenarios[0].steps[0].id, c2.scenarios[0].steps[0].id);
}
