//! REP and BUCKET against a real S3 protocol server: the testbed writes its run packages to
//! moto, and shakedown's artifact and isolation checks read them back with recomputed SHA-256.
//! Clean, both PASS; with `wrong-bucket`, BUCKET fails naming the objects and the bucket that
//! holds them; with `corrupt-artifact`, REP fails naming the corrupted object. A store probe
//! measures write and read latency, and fails when the store refuses the write. An unreachable
//! store blocks the checks that read it at preflight, before any load.

use std::time::Duration;

use crate::run::{assert_schema_valid, check, report_json, run_plan_env, write_plan};
use crate::support::s3::S3Server;
use crate::support::stack::{Stack, StackOptions};

const PASSWORD: &str = "pw-artifacts-test";

const PLAN: &str = r#"
[plan]
name = "s3-artifacts"
seed = 11
limits = { duration = "2m", requests = 2000 }

[settle]
timeout = "30s"
interval = "200ms"

[secrets]
password = { env = "TESTBED_PASSWORD" }
s3_key = { env = "S3_KEY" }

[targets.api]
url = "${SHAKEDOWN_API_URL}"
health = "GET /health"

[scenarios.submit]
steps = [
  { name = "login", request = "POST api:/api/v1/auth/login", json = { username = "t", password = "{{ secrets.password }}" }, capture = { token = "$.access_token" } },
  { name = "create", request = "POST api:/api/v1/runs", headers = { Authorization = "Bearer {{ token }}" }, json = { kind = "simulate", params = { steps = 1 } }, expect = { status = [201] }, track = { key = "{{ uuid() }}", read = "GET api:/api/v1/runs?key={{ key }}", headers = { Authorization = "Bearer {{ token }}" }, items = "$.runs[*]", state = "$.status", results = "$.result_count", terminal = ["completed", "failed"], success = ["completed"] } },
]

[[load]]
id = "L1"
scenario = "submit"
executor = { rounds = { concurrency = 6, rounds = 1 } }
thresholds = ["count(failures) == 0", "lost == 0"]

[oracles.s3]
s3 = "${S3_ENDPOINT}"
access_key = "{{ secrets.s3_key }}"
secret_key = "{{ secrets.s3_key }}"
timeout = "10s"

[[verify]]
id = "REP"
artifacts = { oracle = "s3", bucket = "${BUCKET}", prefix = "runs/{{ id }}/", files = ["result.json", "metrics.csv", "log.txt", "output.bin"], orphans = "runs/" }

[[verify]]
id = "BUCKET"
isolation = { oracle = "s3", allowed = "${BUCKET}/runs/", scan = ["${BUCKET}", "${BUCKET}-other"] }

[[verify]]
id = "STORE"
store = { oracle = "s3", bucket = "${STORE_BUCKET}", prefix = "probe/", count = 3, size = 4096 }
"#;

/// Run the plan against a fresh stack writing to `bucket` on `s3`.
fn gate(s3: &S3Server, bucket: &str, store_bucket: &str, defects: &[&str]) -> serde_json::Value {
    s3.create_bucket(bucket);
    s3.create_bucket(&format!("{bucket}-other"));
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .step_ms(5)
            .defects(defects)
            .s3(&s3.endpoint(), bucket)
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(dir.path(), PLAN);
    let out = dir.path().join("run");
    let endpoint = s3.endpoint();
    let env = [
        ("SHAKEDOWN_API_URL", stack.api()),
        ("TESTBED_PASSWORD", PASSWORD),
        ("S3_ENDPOINT", endpoint.as_str()),
        ("S3_KEY", "testbed-access-key"),
        ("BUCKET", bucket),
        ("STORE_BUCKET", store_bucket),
    ];
    let outcome = run_plan_env(&plan, &out, &[], &env, Duration::from_secs(120));
    let report = report_json(&out);
    assert_schema_valid(&report);
    let l1 = check(&report, "L1");
    assert_eq!(l1["status"], "PASS", "{l1}\n{}", outcome.stderr);
    report
}

#[test]
fn rep_and_bucket_pass_clean_and_each_fails_on_its_defect_naming_the_object() {
    let s3 = S3Server::start();

    let clean = gate(&s3, "gate-clean", "gate-clean", &[]);
    let rep = check(&clean, "REP");
    assert_eq!(rep["status"], "PASS", "{rep}");
    assert_eq!(rep["verify"]["counts"]["jobs"], 6, "{rep}");
    assert_eq!(rep["verify"]["counts"]["files"], 30, "{rep}");
    let bucket = check(&clean, "BUCKET");
    assert_eq!(bucket["status"], "PASS", "{bucket}");
    let store = check(&clean, "STORE");
    assert_eq!(store["status"], "PASS", "{store}");
    for op in ["write", "read"] {
        assert_eq!(store["verify"]["latency_ms"][op]["count"], 3, "{store}");
    }
    assert_eq!(clean["verdict"], "GO");

    // The store refuses a write to a bucket that does not exist: an observation, so FAIL.
    let wrong = gate(&s3, "gate-wrong", "no-such-bucket", &["wrong-bucket"]);
    let bucket = check(&wrong, "BUCKET");
    assert_eq!(bucket["status"], "FAIL", "{bucket}");
    let reason = bucket["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("outside") && reason.contains("gate-wrong-other/runs/"),
        "BUCKET names the bucket and object: {reason}"
    );
    let finding = &bucket["verify"]["findings"][0];
    assert_eq!(finding["class"], "outside");
    assert!(
        finding["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("gate-wrong-other/runs/")),
        "{finding}"
    );
    let store = check(&wrong, "STORE");
    assert_eq!(store["status"], "FAIL", "{store}");
    assert!(
        store["reason"]
            .as_str()
            .is_some_and(|r| r.contains("write_refused") && r.contains("no-such-bucket/probe/")),
        "{store}"
    );
    assert_eq!(wrong["verdict"], "NO-GO");

    let corrupt = gate(&s3, "gate-corrupt", "gate-corrupt", &["corrupt-artifact"]);
    let rep = check(&corrupt, "REP");
    assert_eq!(rep["status"], "FAIL", "{rep}");
    let reason = rep["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("corrupt 6") && reason.contains("gate-corrupt/runs/"),
        "REP names the corrupted object: {reason}"
    );
    assert!(
        rep["verify"]["findings"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("but the manifest says")),
        "{rep}"
    );
    assert_eq!(check(&corrupt, "BUCKET")["status"], "PASS");
    assert_eq!(corrupt["verdict"], "NO-GO");
}

#[test]
fn an_unreachable_store_blocks_its_checks_at_preflight_never_pass() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .step_ms(5)
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = write_plan(dir.path(), PLAN);
    let out = dir.path().join("run");
    let closed = crate::support::free_port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let env = [
        ("SHAKEDOWN_API_URL", stack.api()),
        ("TESTBED_PASSWORD", PASSWORD),
        ("S3_ENDPOINT", endpoint.as_str()),
        ("S3_KEY", "testbed-access-key"),
        ("BUCKET", "gate"),
        ("STORE_BUCKET", "gate"),
    ];
    let outcome = run_plan_env(&plan, &out, &[], &env, Duration::from_secs(120));
    let report = report_json(&out);
    assert_eq!(outcome.code, 3, "{}\n{}", outcome.stdout, outcome.stderr);
    for id in ["REP", "BUCKET", "STORE"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "BLOCKED", "{c}");
        assert!(
            c["reason"]
                .as_str()
                .is_some_and(|r| r.contains("preflight: oracle `s3`: cannot reach it")),
            "{c}"
        );
        assert!(
            c["hint"]
                .as_str()
                .is_some_and(|h| h.contains("oracle `s3`")),
            "{c}"
        );
    }
    let entry = report["preflight"]
        .as_array()
        .and_then(|p| p.iter().find(|t| t["target"] == "oracle s3"))
        .unwrap_or_else(|| panic!("no preflight entry for the oracle: {report}"));
    assert_eq!(entry["status"], "BLOCKED", "{entry}");
    assert_eq!(
        check(&report, "L1")["status"],
        "PASS",
        "the load does not need the oracle"
    );
    assert_eq!(report["verdict"], "INCOMPLETE");
}
