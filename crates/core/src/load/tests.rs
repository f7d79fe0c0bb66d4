//! End-to-end tests of the load generator against a real axum server on 127.0.0.1:0.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use serde_json_path::JsonPath;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::test_server::*;
use super::*;
use crate::ledger::record::{OpFn, OpType};
use shakedown_plan::model::{
    CmpOp, Condition, Counter, Executor, GaugeAgg, JsonAssertion, Method, PollUntil, Probe,
    Sampler, Threshold, ThresholdMetric, Track, TrackRead,
};
use shakedown_plan::template::Template;

/// A bound on every test, so that a bug shows as a failure, never a hang.
pub(super) const NO_HANG: Duration = Duration::from_secs(30);

pub(super) fn env(plan: Plan, requests: u64) -> (LoadEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(plan);
    let ledger = Ledger::create(
        &dir.path().join("history.jsonl"),
        plan.clone(),
        Redactor::new(&plan.secrets),
    )
    .unwrap();
    let budget = Arc::new(RequestBudget::new(
        requests,
        Instant::now() + Duration::from_secs(120),
    ));
    let env = LoadEnv {
        plan,
        ledger,
        budget,
        progress: false,
        run_id: "test-run".into(),
        run_start: Instant::now(),
    };
    (env, dir)
}

pub(super) async fn run_test(env: &LoadEnv, index: usize) -> LoadOutcome {
    let test = &env.plan.load_tests[index];
    tokio::time::timeout(NO_HANG, run_load_test(env, test, CancellationToken::new()))
        .await
        .expect("the load test ended in time")
}

pub(super) fn rounds(concurrency: u32, rounds: u32) -> Executor {
    Executor::Rounds {
        concurrency,
        rounds,
    }
}

#[tokio::test]
async fn captures_feed_later_steps() {
    let (url, seen) = serve().await;
    let mut create = http("create", Method::Post, "api", "/runs");
    create.1.body = json_body(json!({"kind": "simulate", "vu": "{{ vu }}"}));
    create.1.captures.push(capture("run_id", "$.id"));
    create.1.expect.status = codes(&[201]);
    let mut fetch = http("fetch", Method::Get, "api", "/runs/{{ run_id }}");
    fetch.1.expect.json.push(JsonAssertion {
        source: "$.id".into(),
        path: JsonPath::parse("$.id").unwrap(),
        equals: Some(json!("{{ run_id }}")),
    });
    let plan = plan(
        vec![target("api", &url)],
        vec![("journey", vec![step(create), step(fetch)])],
        vec![load_test("L1", &[("journey", 1)], rounds(4, 2))],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    assert_eq!(out.stopped, None);
    let s = &out.summary;
    assert_eq!((s.requests, s.failures, s.errors), (16, 0, 0), "{s:#?}");
    assert_eq!((s.iterations, s.failed_iterations), (8, 0));
    assert_eq!(seen.runs.lock().unwrap().len(), 8);
    assert_eq!(
        seen.fetched.load(Ordering::Relaxed),
        8,
        "every fetch found its run"
    );
    assert_eq!(s.steps.len(), 2);
    assert_eq!(s.steps[1].step, "fetch");
    assert_eq!(s.steps[1].status_classes["2xx"], 8);
    assert!(s.latency_ms.p95 > 0.0);
    assert_eq!(env.budget.used(), 16);
}

#[tokio::test]
async fn a_failing_expectation_is_counted_with_its_signature() {
    let (url, _) = serve().await;
    let mut fetch = http("fetch", Method::Get, "api", "/fail");
    fetch.1.expect.status = codes(&[200]);
    let after = http("after", Method::Get, "api", "/fast");
    let mut test = load_test("L1", &[("s", 1)], rounds(3, 2));
    test.thresholds.push(Threshold {
        source: "count(failures) == 0".into(),
        metric: ThresholdMetric::Count(Counter::Failures),
        step: None,
        window: None,
        op: CmpOp::Eq,
        value: 0.0,
        default: false,
    });
    let plan = plan(
        vec![target("api", &url)],
        vec![("s", vec![step(fetch), step(after)])],
        vec![test],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    let s = &out.summary;
    // The failed step ends each iteration: "after" never runs, but every VU goes on.
    assert_eq!((s.requests, s.failures, s.errors), (6, 6, 0));
    assert_eq!((s.iterations, s.failed_iterations), (6, 6));
    assert_eq!(s.steps[1].requests, 0);
    assert_eq!(s.error_clusters.len(), 1);
    let cluster = &s.error_clusters[0];
    assert_eq!(
        cluster.signature,
        "5xx GET fetch: status 503, expected [200]: queue full for run <n>"
    );
    assert_eq!(cluster.count, 6);
    assert!(cluster.example.contains("run 1234"), "{}", cluster.example);
    let results = crate::metrics::thresholds::evaluate(
        &env.plan.load_tests[0].thresholds,
        &out.measurements,
        None,
    );
    assert_eq!((results[0].measured, results[0].passed), (Some(6.0), false));
}

#[tokio::test]
async fn poll_until_repeats_until_the_condition_holds_or_times_out() {
    let (url, seen) = serve().await;
    let poll = |job: &str, timeout: Duration| {
        let mut s = http("poll", Method::Get, "api", &format!("/jobs/{job}"));
        s.1.poll = Some(PollUntil {
            until: Condition {
                source: "$.status".into(),
                path: JsonPath::parse("$.status").unwrap(),
                one_of: vec![json!("done")],
            },
            interval: Duration::from_millis(10),
            timeout,
        });
        s
    };
    let plan = plan(
        vec![target("api", &url)],
        vec![
            ("ok", vec![step(poll("a", Duration::from_secs(10)))]),
            (
                "stuck",
                vec![step(poll("never", Duration::from_millis(100)))],
            ),
        ],
        vec![
            load_test("P1", &[("ok", 1)], rounds(1, 1)),
            load_test("P2", &[("stuck", 1)], rounds(1, 1)),
        ],
    );
    let (env, _dir) = env(plan, 1000);
    let ok = run_test(&env, 0).await;
    assert_eq!(seen.polls.lock().unwrap()["a"], 3);
    assert_eq!((ok.summary.requests, ok.summary.failures), (3, 0));
    assert_eq!(ok.summary.failed_iterations, 0);

    let stuck = run_test(&env, 1).await;
    let attempts = seen.polls.lock().unwrap()["never"];
    assert!(attempts >= 2, "it polled more than once: {attempts}");
    assert_eq!(stuck.summary.requests, attempts);
    assert_eq!(
        stuck.summary.failures, 1,
        "only the last attempt carries the failure"
    );
    assert_eq!(stuck.summary.failed_iterations, 1);
    let sig = &stuck.summary.error_clusters[0].signature;
    assert!(
        sig.starts_with("2xx GET poll: poll-until $.status not one of"),
        "{sig}"
    );
}

#[tokio::test]
async fn a_body_a_check_reads_over_the_cap_is_a_failure_and_one_none_reads_is_counted() {
    let (url, _) = serve().await;
    let run = |read_body: bool| {
        let mut big = http("big", Method::Get, "api", "/big");
        if read_body {
            big.1.expect.body_contains = vec!["x".into()];
        }
        plan(
            vec![target("api", &url)],
            vec![("s", vec![step(big)])],
            vec![load_test("L1", &[("s", 1)], rounds(2, 1))],
        )
    };
    let (read, _dir) = env(run(true), 1000);
    let out = run_test(&read, 0).await;
    let s = &out.summary;
    assert_eq!((s.requests, s.failures, s.errors), (2, 2, 0));
    assert_eq!(
        s.error_clusters[0].signature,
        "2xx GET big: body larger than cap (<n> bytes)"
    );

    // No check reads it: the 5 MiB are counted as they arrive, and the request succeeds.
    let (counted, _dir) = env(run(false), 1000);
    let out = run_test(&counted, 0).await;
    let s = &out.summary;
    assert_eq!((s.requests, s.failures, s.errors), (2, 0, 0));
    assert_eq!(s.bytes_received, 2 * 64 * 80 * 1024, "{s:?}");
    assert_eq!(s.steps[0].bytes_received, s.bytes_received);
}

#[tokio::test]
async fn a_refused_connection_is_an_error_and_does_not_hang() {
    let refused = refused_url();
    let plan = plan(
        vec![target("api", &refused)],
        vec![("s", vec![step(http("get", Method::Get, "api", "/x"))])],
        vec![load_test(
            "L1",
            &[("s", 1)],
            Executor::VusIterations {
                vus: 2,
                iterations: 6,
            },
        )],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    let s = &out.summary;
    assert_eq!((s.requests, s.failures, s.errors), (6, 6, 6));
    assert_eq!(
        s.iterations, 6,
        "the VUs share exactly the iterations asked for"
    );
    assert_eq!(s.steps[0].status_classes["error"], 6);
    let sig = &s.error_clusters[0].signature;
    assert!(sig.starts_with("error GET get: connect:"), "{sig}");
    assert!(!sig.contains(&refused), "{sig}");
}

#[tokio::test]
async fn a_weighted_mix_splits_the_vus_exactly() {
    let (url, _) = serve().await;
    let plan = plan(
        vec![target("api", &url)],
        vec![
            ("a", vec![step(http("a", Method::Get, "api", "/fast"))]),
            ("b", vec![step(http("b", Method::Get, "api", "/fast"))]),
        ],
        vec![load_test("L2", &[("a", 1), ("b", 1)], rounds(20, 1))],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    let per_step: Vec<(String, u64)> = out
        .summary
        .steps
        .iter()
        .map(|s| (s.step.clone(), s.requests))
        .collect();
    assert_eq!(per_step, [("a".to_string(), 10), ("b".to_string(), 10)]);
}

#[tokio::test]
async fn a_tracked_step_sends_its_key_and_records_the_submit() {
    let (url, seen) = serve().await;
    let mut create = http("create", Method::Post, "api", "/runs");
    create.1.body = json_body(json!({"kind": "simulate"}));
    create.1.captures.push(capture("run_id", "$.id"));
    create.1.track = Some(Track {
        key: Template::parse("{{ uuid() }}").unwrap(),
        read: TrackRead {
            method: Method::Get,
            target: "api".into(),
            path: Template::parse("/runs/{{ run_id }}?key={{ key }}").unwrap(),
            headers: vec![header("X-Trace", "{{ key }}")],
        },
        items: JsonPath::parse("$").unwrap(),
        state: JsonPath::parse("$.status").unwrap(),
        results: None,
        terminal: vec!["completed".into()],
        success: vec!["completed".into()],
        oracle: Default::default(),
        key_field: None,
        resolve: Default::default(),
    });
    let plan = plan(
        vec![target("api", &url)],
        vec![("s", vec![step(create)])],
        vec![
            load_test("L1", &[("s", 1)], rounds(3, 1)),
            load_test("L2", &[("s", 1)], rounds(3, 1)),
        ],
    );
    let (env, _dir) = env(plan, 1000);
    let first = run_test(&env, 0).await;
    let second = run_test(&env, 1).await;
    assert_eq!(first.summary.failures + second.summary.failures, 0);
    let runs = seen.runs.lock().unwrap().clone();
    let keys: std::collections::BTreeSet<String> = runs
        .values()
        .map(|k| k.clone().expect("a key was sent"))
        .collect();
    assert_eq!(
        keys.len(),
        6,
        "seeded keys never collide across tests: {keys:?}"
    );
    assert_eq!(env.ledger.tracked(), 6);
    let records = env.ledger.records();
    let submits: Vec<_> = records.iter().filter(|r| r.f == OpFn::Submit).collect();
    assert_eq!(
        submits.iter().filter(|r| r.kind == OpType::Invoke).count(),
        6
    );
    assert_eq!(submits.iter().filter(|r| r.kind == OpType::Ok).count(), 6);
    assert!(
        submits
            .iter()
            .any(|r| r.process == "L2/vu-3" && r.test == "L2")
    );
    for key in env.ledger.tracked_keys() {
        let read = key.read.as_ref().expect("every key has a read");
        assert!(
            read.url.starts_with(&format!("{url}/runs/r-")),
            "{}",
            read.url
        );
        assert!(read.url.ends_with(&format!("?key={}", key.key)));
        assert_eq!(read.headers, [("X-Trace".to_string(), key.key.clone())]);
        assert_eq!(read.timeout, Duration::from_secs(10));
    }
}

#[tokio::test]
async fn gauges_are_sampled_and_failed_samples_counted() {
    let (url, _) = serve().await;
    let sampler = |name: &str, path: &str| Sampler {
        name: name.into(),
        probe: Probe {
            method: Method::Get,
            path: Template::parse(path).unwrap(),
            headers: Vec::new(),
            expect_status: codes(&[200]),
        },
        target: "api".into(),
        value: JsonPath::parse("$.depth").unwrap(),
        every: Duration::from_millis(20),
    };
    let mut test = load_test("L2", &[("s", 1)], rounds(2, 3));
    test.samplers = vec![sampler("queue", "/queue"), sampler("locked", "/locked")];
    test.thresholds.push(Threshold {
        source: "max(queue) < 5".into(),
        metric: ThresholdMetric::Gauge {
            agg: GaugeAgg::Max,
            name: "queue".into(),
        },
        step: None,
        window: None,
        op: CmpOp::Lt,
        value: 5.0,
        default: false,
    });
    let plan = plan(
        vec![target("api", &url)],
        vec![("s", vec![step(http("fast", Method::Get, "api", "/fast"))])],
        vec![test],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    let queue = &out.summary.gauges["queue"];
    assert!(queue.samples >= 1, "{queue:?}");
    assert_eq!(queue.max, Some(7.0));
    let locked = &out.summary.gauges["locked"];
    assert_eq!(locked.samples, 0);
    assert!(locked.failed_samples >= 1, "{locked:?}");
    assert!(
        out.measurements.gauges["locked"]
            .first_error
            .as_deref()
            .is_some_and(|e| e.contains("401"))
    );
    let r = crate::metrics::thresholds::evaluate(
        &env.plan.load_tests[0].thresholds,
        &out.measurements,
        None,
    );
    assert_eq!((r[0].measured, r[0].passed), (Some(7.0), false));
    // Samples are requests too: they take from the budget.
    assert!(env.budget.used() > out.summary.requests);
}

#[tokio::test]
async fn a_template_error_is_a_counted_failure_without_a_request() {
    let (url, _) = serve().await;
    let plan = plan(
        vec![target("api", &url)],
        vec![(
            "s",
            vec![step(http("get", Method::Get, "api", "/runs/{{ missing }}"))],
        )],
        vec![load_test("L1", &[("s", 1)], rounds(2, 2))],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    let s = &out.summary;
    assert_eq!((s.requests, s.failures, s.failed_iterations), (0, 4, 4));
    assert!(
        s.error_clusters[0]
            .signature
            .starts_with("error GET get: template"),
        "{}",
        s.error_clusters[0].signature
    );
}

#[tokio::test]
async fn each_expectation_fails_with_its_own_reason() {
    let (url, _) = serve().await;
    let mut body = http("body", Method::Get, "api", "/queue");
    body.1.expect.body_contains.push("\"depth\":8".into());
    let mut json_eq = http("json", Method::Get, "api", "/queue");
    json_eq.1.expect.json.push(JsonAssertion {
        source: "$.depth".into(),
        path: JsonPath::parse("$.depth").unwrap(),
        equals: Some(json!("{{ vu }}")),
    });
    let mut missing = http("missing", Method::Get, "api", "/queue");
    missing.1.expect.json.push(JsonAssertion {
        source: "$.nope".into(),
        path: JsonPath::parse("$.nope").unwrap(),
        equals: None,
    });
    let mut cap = http("cap", Method::Get, "api", "/queue");
    cap.1.captures.push(capture("id", "$.id"));
    let mut slow = http("slow", Method::Get, "api", "/queue");
    slow.1.expect.max_latency = Some(Duration::ZERO);
    let mut not_json = http("notjson", Method::Get, "api", "/fast");
    not_json.1.captures.push(capture("id", "$.id"));
    let cases = [
        (
            "body",
            body,
            "2xx GET body: body does not contain \"\\\"depth\\\":<n>\"",
        ),
        (
            "json",
            json_eq,
            "2xx GET json: $.depth: expected \"<n>\", got <n>",
        ),
        (
            "missing",
            missing,
            "2xx GET missing: $.nope: no match in the body",
        ),
        ("cap", cap, "2xx GET cap: capture `id`: no match for $.id"),
        (
            "slow",
            slow,
            "2xx GET slow: latency <n>ms over the <n>ms bound",
        ),
        (
            "notjson",
            not_json,
            "2xx GET notjson: body is not JSON (expected value at line <n> column <n>): ok",
        ),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let plan = plan(
        vec![target("api", &url)],
        cases
            .iter()
            .map(|(name, s, _)| (*name, vec![step(s.clone())]))
            .collect(),
        names
            .iter()
            .map(|n| load_test(n, &[(n, 1)], rounds(1, 1)))
            .collect(),
    );
    let (env, _dir) = env(plan, 1000);
    for (i, (_, _, signature)) in cases.iter().enumerate() {
        let out = run_test(&env, i).await;
        assert_eq!((out.summary.requests, out.summary.failures), (1, 1));
        assert_eq!(out.summary.error_clusters[0].signature, *signature);
    }
}

#[tokio::test]
async fn a_request_over_the_target_timeout_is_an_error() {
    let (url, _) = serve().await;
    let mut api = target("api", &url);
    api.request_timeout = Duration::from_millis(200);
    let plan = plan(
        vec![api],
        vec![("s", vec![step(http("slow", Method::Get, "api", "/slow"))])],
        vec![load_test("L1", &[("s", 1)], rounds(2, 1))],
    );
    let (env, _dir) = env(plan, 1000);
    let out = run_test(&env, 0).await;
    let s = &out.summary;
    assert_eq!((s.requests, s.failures, s.errors), (2, 2, 2));
    let sig = &s.error_clusters[0].signature;
    assert!(sig.starts_with("error GET slow: timeout:"), "{sig}");
}
