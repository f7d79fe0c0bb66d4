//! The core guarantee: 50 runs, a worker SIGKILLed mid-run and restarted, and every run completes
//! exactly once with a five-file package whose manifest checks out.

use std::time::Duration;

use serde_json::Value;

use super::{kill_worker_mid_run, packages, start, steps, submit_many};
use crate::support::client::Client;
use crate::support::package::assert_package_ok;
use crate::support::stack::{Stack, StackOptions};

/// The number of runs in the core scenario.
pub const CORE_RUNS: usize = 50;

/// Submit 50 runs, kill worker 0 mid-run, restart it, and wait for all of them. Checks that each
/// run completed once (one run per key, one result) and that the killed run was re-claimed.
/// Returns the final runs, in submission order.
pub async fn core_scenario(stack: &mut Stack, client: &Client) -> Vec<Value> {
    let ids = submit_many(client, "core", CORE_RUNS, steps(4)).await;
    let killed_run = kill_worker_mid_run(stack, 0).await;
    let killed_boot = stack.info.workers[0].boot_id.clone();
    let started = stack.command_ok("start worker 0");
    assert_ne!(started["boot_id"], killed_boot.as_str());

    let runs = client.wait_terminal(&ids, Duration::from_secs(90)).await;
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(run["result_count"], 1, "not exactly one result: {run}");
        assert!(run["completed_by"].is_string(), "{run}");
        let key = format!("core-{i}");
        let same_key = client.runs_by_key(&key).await;
        assert_eq!(same_key.len(), 1, "key {key} has {} runs", same_key.len());
        assert_eq!(same_key[0]["id"], run["id"]);
    }
    let killed = runs
        .iter()
        .find(|r| r["id"] == killed_run.as_str())
        .expect("the killed run");
    assert!(
        killed["attempts"].as_i64().unwrap_or(0) >= 2,
        "the run held by the killed worker was not re-claimed: {killed}"
    );
    runs
}

/// Every run has exactly one package in the local bucket, and nothing else is there.
pub fn assert_local_packages(stack: &Stack, runs: &[Value]) {
    let packages = packages(stack, &stack.info.bucket);
    assert_eq!(packages.len(), runs.len(), "one package per run");
    for run in runs {
        let id = run["id"].as_str().expect("id");
        let package = packages
            .get(id)
            .unwrap_or_else(|| panic!("no package for {id}"));
        assert_package_ok(package, id, run["key"].as_str().expect("key"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_runs_survive_a_worker_kill_exactly_once_on_sqlite() {
    let (mut stack, client) = start(StackOptions::new().step_ms(10).lease_ms(500)).await;
    let runs = core_scenario(&mut stack, &client).await;
    assert_local_packages(&stack, &runs);
    assert!(stack.stop().success());
}
