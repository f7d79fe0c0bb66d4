//! Worker boot info in a real Redis: each worker of a stack given a Redis URL keeps
//! `testbed:worker:<index>:boot` (its boot id, pid and start time) with a TTL, writes it again
//! when it disappears, leaves it to expire after a crash, and deletes it on a clean stop. An
//! unreachable Redis at start is a startup error; an outage later is ridden out.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{start, steps, submit_many, worker_boot_id};
use crate::support::free_port;
use crate::support::redis::RedisServer;
use crate::support::stack::StackOptions;

const PATTERN: &str = "testbed:worker:*:boot";

async fn connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// Every boot-info key (the pattern a runbook scans).
async fn boot_keys(url: &str) -> BTreeSet<String> {
    let mut connection = connection(url).await;
    let mut keys = BTreeSet::new();
    let mut cursor: u64 = 0;
    for _ in 0..1000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(PATTERN)
            .arg("COUNT")
            .arg(100)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
    panic!("SCAN did not finish");
}

/// The boot info of worker `index`, parsed, if the key exists.
async fn boot_info(url: &str, index: usize) -> Option<Value> {
    let mut connection = connection(url).await;
    let key = format!("testbed:worker:{index}:boot");
    let value: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .expect("GET");
    value.map(|v| serde_json::from_str(&v).unwrap_or_else(|e| panic!("{key} = {v:?}: {e}")))
}

async fn ttl(url: &str, index: usize) -> i64 {
    let mut connection = connection(url).await;
    redis::cmd("TTL")
        .arg(format!("testbed:worker:{index}:boot"))
        .query_async(&mut connection)
        .await
        .expect("TTL")
}

/// Poll `check` every 50 ms until it gives `Some`, or panic after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_keep_their_boot_info_in_redis_until_a_clean_stop() {
    let redis = RedisServer::start();
    let url = redis.url();
    let options = StackOptions::new()
        .workers(2)
        .lease_ms(500)
        .env("TESTBED_REDIS_URL", &url);
    let (mut stack, _client) = start(options).await;
    let expected: BTreeSet<String> = (0..2).map(|i| format!("testbed:worker:{i}:boot")).collect();
    assert_eq!(boot_keys(&url).await, expected);
    for worker in stack.info.workers.clone() {
        let info = boot_info(&url, worker.index).await.expect("boot info");
        assert_eq!(info["boot_id"], worker.boot_id.as_str(), "{info}");
        assert_eq!(info["pid"], worker.pid, "{info}");
        assert_eq!(info["index"], worker.index, "{info}");
        let started = info["started_at"].as_str().expect("started_at");
        assert!(
            chrono::DateTime::parse_from_rfc3339(started).is_ok(),
            "{info}"
        );
        let ttl = ttl(&url, worker.index).await;
        assert!((1..=60).contains(&ttl), "TTL {ttl}");
    }

    // The heartbeat writes the key again when it disappears.
    let mut admin = connection(&url).await;
    let deleted: i64 = redis::cmd("DEL")
        .arg("testbed:worker:0:boot")
        .query_async(&mut admin)
        .await
        .expect("DEL");
    assert_eq!(deleted, 1);
    let back = eventually(
        "worker 0's key to come back",
        Duration::from_secs(10),
        || boot_info(&url, 0),
    )
    .await;
    assert_eq!(back["boot_id"], stack.info.workers[0].boot_id.as_str());

    // A crash leaves the old key to its TTL; the next start overwrites it.
    let crashed = worker_boot_id(&mut stack, 0);
    stack.command_ok("kill worker 0 KILL");
    let stale = boot_info(&url, 0).await.expect("the killed worker's key");
    assert_eq!(stale["boot_id"], crashed.as_str());
    assert!(ttl(&url, 0).await > 0);
    stack.command_ok("start worker 0");
    let restarted = worker_boot_id(&mut stack, 0);
    assert_ne!(restarted, crashed);
    let fresh = boot_info(&url, 0).await.expect("the new worker's key");
    assert_eq!(fresh["boot_id"], restarted.as_str());

    // A restart (TERM, then start) deletes and rewrites; a clean stop deletes every key.
    stack.command_ok("restart worker 1");
    let one = boot_info(&url, 1).await.expect("worker 1's key");
    assert_eq!(one["boot_id"], worker_boot_id(&mut stack, 1).as_str());
    assert!(stack.stop().success());
    assert_eq!(boot_keys(&url).await, BTreeSet::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_later_is_ridden_out_and_the_key_comes_back() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let options = StackOptions::new()
        .workers(1)
        .lease_ms(500)
        .env("TESTBED_REDIS_URL", &url);
    let (mut stack, client) = start(options).await;
    let boot_id = worker_boot_id(&mut stack, 0);
    assert!(boot_info(&url, 0).await.is_some());

    redis.stop();
    let ids = submit_many(&client, "redis-outage", 4, steps(2)).await;
    let runs = client.wait_terminal(&ids, Duration::from_secs(60)).await;
    assert!(runs.iter().all(|r| r["status"] == "completed"), "{runs:?}");
    let status = stack.command_ok("status");
    assert_eq!(status["workers"][0]["alive"], true, "{status}");
    assert_eq!(
        worker_boot_id(&mut stack, 0),
        boot_id,
        "the worker restarted"
    );

    // Redis comes back empty; the next heartbeat writes the key again.
    redis.restart();
    let back = eventually("the key after the outage", Duration::from_secs(20), || {
        boot_info(&url, 0)
    })
    .await;
    assert_eq!(back["boot_id"], boot_id.as_str());
}

#[test]
fn an_unreachable_redis_is_a_startup_error() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let data = tempfile::tempdir().expect("a data dir");
    let parts: [Vec<String>; 2] = [
        vec!["stack".into(), "--workers".into(), "1".into()],
        vec![
            "worker".into(),
            "--data-dir".into(),
            data.path().display().to_string(),
        ],
    ];
    for part in parts {
        let output = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .arg("testbed")
            .args(&part)
            .args(["--redis-url", &url])
            .stdin(Stdio::null())
            .output()
            .expect("running the testbed");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{part:?} started: {stderr}");
        assert!(output.stdout.is_empty(), "{part:?} printed a first line");
        assert!(
            stderr.contains(&format!("cannot reach Redis at {url}")),
            "{part:?}: {stderr}"
        );
    }
}
