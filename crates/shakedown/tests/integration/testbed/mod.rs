//! The testbed's own integration tests (issue 2): the core run guarantees under a worker kill,
//! every seeded defect against its clean twin, streams, the control protocol, the parts started one
//! by one, bad input, and the Postgres and S3 backends; (issue 7) the canary endpoint and the
//! workers' boot info in a real Redis.

mod backends;
mod bad_input;
mod canary;
mod control;
mod core;
mod defects;
mod ledger_defects;
mod parts;
mod redis_boot;
mod streams;

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;

use crate::support::client::Client;
use crate::support::package::{Package, local_packages};
use crate::support::stack::{Stack, StackOptions};

/// Start a stack and log in to it.
pub async fn start(options: StackOptions) -> (Stack, Client) {
    let stack = Stack::start(options);
    let client = Client::login(stack.api()).await;
    (stack, client)
}

/// Submit `count` runs with keys `{prefix}-{i}` and `params`; return their ids in order.
pub async fn submit_many(
    client: &Client,
    prefix: &str,
    count: usize,
    params: Value,
) -> Vec<String> {
    let kinds = ["simulate", "calibrate", "autotune", "export"];
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let run = client
            .submit_new(
                &format!("{prefix}-{i}"),
                kinds[i % kinds.len()],
                params.clone(),
            )
            .await;
        ids.push(run["id"].as_str().expect("run id").to_owned());
    }
    ids
}

/// The local packages of a stack's bucket (or of another bucket in the same artifact root).
pub fn packages(stack: &Stack, bucket: &str) -> std::collections::BTreeMap<String, Package> {
    local_packages(std::path::Path::new(&stack.info.artifacts), bucket)
}

/// Oracle read: the ids of runs that the worker with `boot_id` holds a lease on right now.
pub async fn runs_leased_by(database: &str, boot_id: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database)
        .await
        .unwrap_or_else(|e| panic!("connecting to {database}: {e}"));
    let rows = sqlx::query("SELECT id FROM runs WHERE lease_owner = $1 AND status = 'running'")
        .bind(boot_id)
        .fetch_all(&pool)
        .await
        .expect("querying leases");
    pool.close().await;
    rows.iter().map(|r| r.get::<String, _>("id")).collect()
}

/// The current boot id of worker `index`, from the stack's `status`.
pub fn worker_boot_id(stack: &mut Stack, index: usize) -> String {
    let status = stack.command_ok("status");
    status["workers"][index]["boot_id"]
        .as_str()
        .expect("worker boot id")
        .to_owned()
}

/// Freeze worker `index` until it is caught holding a run, then SIGKILL it. Returns the run id:
/// the kill provably happened mid-run.
pub async fn kill_worker_mid_run(stack: &mut Stack, index: usize) -> String {
    let boot_id = worker_boot_id(stack, index);
    let database = stack.info.database.clone();
    for _ in 0..200 {
        stack.command_ok(&format!("kill worker {index} STOP"));
        let held = runs_leased_by(&database, &boot_id).await;
        if let Some(run) = held.into_iter().next() {
            let killed = stack.command_ok(&format!("kill worker {index} KILL"));
            assert_eq!(killed["exit"], "signal 9", "{killed}");
            return run;
        }
        stack.command_ok(&format!("kill worker {index} CONT"));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    panic!("worker {index} was never caught holding a run");
}

/// Default parameters for quick runs.
pub fn steps(n: u64) -> Value {
    json!({ "steps": n })
}
