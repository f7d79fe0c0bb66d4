//! End-to-end tests of the open model against a real axum server on 127.0.0.1:0.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::test_server::*;
use super::*;
use crate::metrics::thresholds::evaluate;
use shakedown_plan::model::{
    ArrivalRate, CmpOp, Counter, Executor, Method, Schedule, Threshold, ThresholdMetric,
};

/// A bound on every test, so that a bug shows as a failure, never a hang.
const NO_HANG: Duration = Duration::from_secs(30);

fn env(plan: Plan) -> (LoadEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(plan);
    let ledger = Ledger::create(
        &dir.path().join("history.jsonl"),
        plan.clone(),
        Redactor::new(&plan.secrets),
    )
    .unwrap();
    let env = LoadEnv {
        plan,
        ledger,
        budget: Arc::new(RequestBudget::new(
            100_000,
            Instant::now() + Duration::from_secs(120),
        )),
        progress: false,
        run_id: "open-test".into(),
        run_start: Instant::now(),
    };
    (env, dir)
}

async fn run(env: &LoadEnv) -> LoadOutcome {
    let test = &env.plan.load_tests[0];
    tokio::time::timeout(NO_HANG, run_load_test(env, test, CancellationToken::new()))
        .await
        .expect("the load test ended in time")
}

fn count(counter: Counter, value: f64) -> Threshold {
    Threshold {
        source: format!("count({counter:?}) == {value}"),
        metric: ThresholdMetric::Count(counter),
        step: None,
        window: None,
        op: CmpOp::Eq,
        value,
        default: false,
    }
}

#[tokio::test]
async fn a_constant_rate_sends_its_schedule_and_times_from_the_intended_start() {
    let (url, _seen) = serve().await;
    let rate = ArrivalRate::constant(200.0, Duration::from_secs(2), Schedule::Uniform, 64);
    let plan = plan(
        vec![target("api", &url)],
        vec![("s", vec![step(http("fast", Method::Get, "api", "/fast"))])],
        vec![load_test("L1", &[("s", 1)], Executor::Arrival(rate))],
    );
    let (env, _dir) = env(plan);
    let out = run(&env).await;
    let s = &out.summary;
    assert_eq!((s.requests, s.failures), (400, 0));
    let open = s.open_model.as_ref().expect("open-model figures");
    assert_eq!((open.scheduled, open.dropped), (400, 0));
    assert_eq!(open.target_rate, 200.0);
    assert_eq!(open.wait_ms.count, 400);
    // (No assertion on warnings: tests share two cores, so the generator may well be slow.)
    assert!(
        !s.warnings.iter().any(|w| w.contains("dropped")),
        "{:?}",
        s.warnings
    );
    // Response time = wait + service, so it is never below the service time.
    assert!(s.latency_ms.max >= open.service_ms.max * 0.99);
    let per_second: u64 = s.timeline.iter().map(|w| w.requests).sum();
    assert_eq!(per_second, 400, "every request is in a window");
    assert!(s.timeline.len() >= 2, "{:?}", s.timeline);
    let results = evaluate(&[count(Counter::Dropped, 0.0)], &out.measurements, None);
    assert!(results[0].passed, "{results:?}");
}

#[tokio::test]
async fn sends_with_no_free_slot_are_dropped_and_a_stalled_target_times_out() {
    let (url, _seen) = serve().await;
    let mut api = target("api", &url);
    api.request_timeout = Duration::from_millis(400);
    // 50 sends in one second, but only 5 may be in flight and each hangs until the timeout.
    let rate = ArrivalRate::constant(50.0, Duration::from_secs(1), Schedule::Poisson, 5);
    let plan = plan(
        vec![api],
        vec![("s", vec![step(http("slow", Method::Get, "api", "/slow"))])],
        vec![load_test("L1", &[("s", 1)], Executor::Arrival(rate))],
    );
    let (env, _dir) = env(plan);
    let out = run(&env).await;
    let s = &out.summary;
    let open = s.open_model.as_ref().expect("open-model figures");
    assert!(open.dropped > 0, "{open:?}");
    assert_eq!(open.scheduled, s.requests + open.dropped);
    assert_eq!(s.errors, s.requests, "every send timed out");
    assert!(
        s.error_clusters[0].signature.contains("timeout"),
        "{:?}",
        s.error_clusters
    );
    assert!(
        s.warnings.iter().any(|w| w.contains("were dropped")),
        "{:?}",
        s.warnings
    );
    let dropped_windows: u64 = out
        .measurements
        .windows
        .iter()
        .map(|(_, w)| w.dropped)
        .sum();
    assert_eq!(dropped_windows, open.dropped);
    let results = evaluate(&[count(Counter::Dropped, 0.0)], &out.measurements, None);
    assert!(
        !results[0].passed,
        "count(dropped) == 0 must fail: {results:?}"
    );
}
