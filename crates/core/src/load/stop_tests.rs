//! End-to-end tests of how a load test stops before it completes: cancellation, the request
//! budget and the run's deadline, against a real axum server on 127.0.0.1:0.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::test_server::*;
use super::tests::{NO_HANG, env, rounds, run_test};
use super::*;
use shakedown_plan::model::{Executor, Method};

#[tokio::test]
async fn cancellation_returns_partial_results_promptly() {
    let (url, seen) = serve().await;
    let plan = plan(
        vec![target("api", &url)],
        vec![(
            "s",
            vec![
                step(http("fast", Method::Get, "api", "/fast")),
                step(http("slow", Method::Get, "api", "/slow")),
            ],
        )],
        vec![load_test(
            "L1",
            &[("s", 1)],
            Executor::VusDuration {
                vus: 2,
                duration: Duration::from_secs(600),
            },
        )],
    );
    let (env, _dir) = env(plan, 1000);
    let cancel = CancellationToken::new();
    let arrived = seen.slow_arrived.notified();
    let run = {
        let env = env.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { run_load_test(&env, &env.plan.load_tests[0], cancel).await })
    };
    tokio::time::timeout(NO_HANG, arrived)
        .await
        .expect("a slow request arrived");
    cancel.cancel();
    let out = tokio::time::timeout(NO_HANG, run)
        .await
        .expect("cancellation is prompt")
        .unwrap();
    assert_eq!(out.stopped, Some(StopReason::Cancelled));
    let s = &out.summary;
    assert!(s.steps[0].requests >= 1, "{s:#?}");
    assert_eq!(
        s.steps[1].requests, 0,
        "abandoned requests are not measured"
    );
    assert_eq!(s.failures, 0);
    assert_eq!(s.iterations, 0, "abandoned iterations are not counted");
}

#[tokio::test]
async fn the_request_budget_stops_the_test() {
    let (url, _) = serve().await;
    let plan = plan(
        vec![target("api", &url)],
        vec![("s", vec![step(http("fast", Method::Get, "api", "/fast"))])],
        vec![
            load_test(
                "L1",
                &[("s", 1)],
                Executor::VusIterations {
                    vus: 3,
                    iterations: 100,
                },
            ),
            load_test("L2", &[("s", 1)], rounds(2, 1)),
        ],
    );
    let (env, _dir) = env(plan, 5);
    let out = run_test(&env, 0).await;
    assert_eq!(out.stopped, Some(StopReason::RequestLimit));
    assert_eq!(out.summary.requests, 5);
    assert_eq!(env.budget.used(), 5);
    // The budget is shared: the next test cannot send anything.
    let next = run_test(&env, 1).await;
    assert_eq!(next.stopped, Some(StopReason::RequestLimit));
    assert_eq!(next.summary.requests, 0);
}

#[tokio::test]
async fn a_passed_deadline_stops_the_test() {
    let (url, _) = serve().await;
    let plan = plan(
        vec![target("api", &url)],
        vec![("s", vec![step(http("fast", Method::Get, "api", "/fast"))])],
        vec![load_test("L1", &[("s", 1)], rounds(2, 5))],
    );
    let (mut env, _dir) = env(plan, 1000);
    env.budget = Arc::new(RequestBudget::new(1000, Instant::now()));
    let out = run_test(&env, 0).await;
    assert_eq!(out.stopped, Some(StopReason::DurationLimit));
    assert_eq!(out.summary.requests, 0);
}
