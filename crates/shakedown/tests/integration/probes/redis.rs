//! Redis checks against a real `redis-server`: GET (a value and JSON fields of the workers' boot
//! info), EXISTS, TTL and SCAN pass on the keys the test writes, each fails once the test
//! changes its key, and all are BLOCKED at preflight (before any load) once the server is stopped.

use super::{assert_check, run_checks};
use crate::support::redis::RedisServer;

fn plan(url: &str) -> String {
    format!(
        r#"
[plan]
name = "redis-probes"
limits = {{ duration = "1m", requests = 10 }}

[oracles.cache]
redis = "{url}"
timeout = "3s"

[[verify]]
id = "GREETING"
redis = {{ oracle = "cache", get = "app:greeting", equals = "hello" }}

[[verify]]
id = "BOOT"
redis = {{ oracle = "cache", get = "worker:0:boot", json = {{ "$.boot_id" = "boot-a", "$.pid" = 4242 }} }}

[[verify]]
id = "TTL"
redis = {{ oracle = "cache", ttl = "worker:0:boot", seconds = "> 0" }}

[[verify]]
id = "WORKERS"
redis = {{ oracle = "cache", scan = "worker:*:boot", count = 2 }}

[[verify]]
id = "EXISTS"
redis = {{ oracle = "cache", exists = "worker:1:boot" }}

[[verify]]
id = "NOLOCK"
redis = {{ oracle = "cache", exists = "deploy:lock", present = false }}
"#
    )
}

async fn set(conn: &mut redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    let _: redis::Value = command
        .query_async(conn)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_checks_pass_healthy_fail_on_changed_keys_and_block_when_down() {
    let mut server = RedisServer::start();
    let mut conn = redis::Client::open(server.url())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to the test Redis");
    set(&mut conn, &["SET", "app:greeting", "hello"]).await;
    let boot = r#"{"boot_id":"boot-a","pid":4242}"#;
    set(&mut conn, &["SET", "worker:0:boot", boot, "EX", "300"]).await;
    let boot = r#"{"boot_id":"boot-b","pid":4243}"#;
    set(&mut conn, &["SET", "worker:1:boot", boot, "EX", "300"]).await;
    set(&mut conn, &["SET", "unrelated", "x"]).await;
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&server.url());

    let (healthy, report) = run_checks(dir.path(), "healthy", &plan);
    for id in ["GREETING", "BOOT", "TTL", "WORKERS", "EXISTS", "NOLOCK"] {
        assert_check(&report, id, "PASS", &[]);
    }
    assert_eq!(healthy.code, 0, "GO; stdout:\n{}", healthy.stdout);
    let workers = &super::check(&report, "WORKERS")["verify"];
    assert_eq!(workers["counts"]["keys"], 2, "{workers:#}");
    assert_eq!(workers["records"][0]["key"], "worker:0:boot");

    // One change per check: a new value, a restarted worker 0 whose key lost its TTL, worker 1
    // gone, and a deploy lock left behind.
    set(&mut conn, &["SET", "app:greeting", "bye"]).await;
    let reboot = r#"{"boot_id":"boot-c","pid":"4242"}"#;
    set(&mut conn, &["SET", "worker:0:boot", reboot]).await;
    set(&mut conn, &["DEL", "worker:1:boot"]).await;
    set(&mut conn, &["SET", "deploy:lock", "1"]).await;
    let (changed, report) = run_checks(dir.path(), "changed", &plan);
    assert_eq!(changed.code, 1, "NO-GO; stdout:\n{}", changed.stdout);
    assert_check(&report, "GREETING", "FAIL", &["app:greeting", "\"bye\""]);
    // The pid is now the string "4242", which still equals 4242; the boot id does not.
    assert_check(
        &report,
        "BOOT",
        "FAIL",
        &["worker:0:boot $.boot_id == \"boot-a\" (observed \"boot-c\")"],
    );
    let boot = &super::check(&report, "BOOT")["verify"]["assertions"];
    assert_eq!(boot[2]["passed"], true, "{boot:#}");
    assert_check(&report, "TTL", "FAIL", &["worker:0:boot", "no expiry"]);
    assert_check(&report, "WORKERS", "FAIL", &["worker:*:boot", "observed 1"]);
    assert_check(
        &report,
        "EXISTS",
        "FAIL",
        &["worker:1:boot exists (observed absent)"],
    );
    assert_check(
        &report,
        "NOLOCK",
        "FAIL",
        &["deploy:lock is absent (observed present)"],
    );

    server.stop();
    let (down, report) = run_checks(dir.path(), "down", &plan);
    assert_eq!(down.code, 3, "INCOMPLETE; stdout:\n{}", down.stdout);
    assert_eq!(report["verdict"], "INCOMPLETE");
    for id in ["GREETING", "BOOT", "TTL", "WORKERS", "EXISTS", "NOLOCK"] {
        assert_check(
            &report,
            id,
            "BLOCKED",
            &["preflight: oracle `cache`", "connection refused"],
        );
    }
}
