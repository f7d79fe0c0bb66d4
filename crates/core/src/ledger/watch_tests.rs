//! Tests of the ledger's watch against a real HTTP server on 127.0.0.1:0 whose jobs change state
//! with time: what reads during the run let the checker see, and the bounds on those reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::budget::RequestBudget;
use crate::ledger::fixtures;
use crate::ledger::history::{Ledger, SubmitOutcome, TrackSite};
use crate::ledger::history_tests::assert_paired;
use crate::ledger::record::{OpFn, OpType, ReadDone, Record};
use crate::ledger::settle::settle;
use crate::ledger::watch::{WatchStop, Watcher, watch};
use crate::ledger::watch_schedule::WATCH_FLOOR;
use shakedown_plan::model::{LedgerClass, Method, Plan};
use shakedown_plan::redact::Redactor;

/// The server's jobs, by what follows the `:` in the key, on a clock that starts at `born`:
/// `steady` runs for 300ms then is `completed`; `flip` is `completed` from 300ms, `running`
/// again from 600ms to 1100ms, then `completed` for good; `never` stays `running`.
#[derive(Default)]
struct Server {
    born: OnceLock<std::time::Instant>,
    reads: Mutex<HashMap<String, u64>>,
}

impl Server {
    fn reads(&self, key: &str) -> u64 {
        self.reads.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.reads.lock().unwrap().values().sum()
    }
}

async fn runs(
    State(server): State<Arc<Server>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let key = query.get("key").cloned().unwrap_or_default();
    *server.reads.lock().unwrap().entry(key.clone()).or_insert(0) += 1;
    let ms = server.born.get().map_or(0, |b| b.elapsed().as_millis());
    let behaviour = key.split_once(':').map_or(key.as_str(), |(_, b)| b);
    let status = match behaviour {
        "steady" if ms >= 300 => "completed",
        "flip" if (300..600).contains(&ms) || ms >= 1100 => "completed",
        _ => "running",
    };
    Json(serde_json::json!({"runs": [{"id": format!("run-{key}"), "status": status, "result_count": 1}]}))
        .into_response()
}

async fn serve(server: Arc<Server>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/runs", get(runs))
        .with_state(server);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A plan polling every `interval_ms` (watch and settle), whose settle gives up after 300ms.
fn plan(interval_ms: u64, confirm_ms: u64) -> Plan {
    let mut plan = fixtures::plan(fixtures::settle_config(300, interval_ms));
    plan.settle.watch.confirm = Duration::from_millis(confirm_ms);
    plan
}

/// A ledger whose keys were acknowledged, each read from `base`.
fn ledger(dir: &tempfile::TempDir, plan: Plan, base: &str, keys: &[&str]) -> Arc<Ledger> {
    let ledger = Ledger::create(
        &dir.path().join("history.jsonl"),
        Arc::new(plan),
        Redactor::default(),
    )
    .unwrap();
    let site = TrackSite {
        test: "L1",
        scenario: fixtures::SCENARIO,
        step: fixtures::STEP,
    };
    for key in keys {
        let op = ledger.submit_invoke(site, "L1/vu-0", key, Method::Post, &format!("{base}/runs"));
        let read = fixtures::request(Method::Get, format!("{base}/runs?key={key}"), Vec::new());
        ledger.submit_complete(op, SubmitOutcome::Ok { status: 201 }, Ok(read), None);
    }
    ledger
}

/// A run budget of which the load has already sent `load_sent` requests.
fn budget(limit: u64, load_sent: u64) -> Arc<RequestBudget> {
    let budget = RequestBudget::new(limit, Instant::now() + Duration::from_secs(600));
    for _ in 0..load_sent {
        budget.take().unwrap();
    }
    Arc::new(budget)
}

/// Wait until `done` holds, checking every 10ms; a bug fails the test rather than hanging it.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The successful reads of `key` before settle began, with the states they saw.
fn watch_reads<'r>(records: &'r [Record], key: &str) -> Vec<(&'r Record, Vec<String>)> {
    let settle_at = records
        .iter()
        .find(|r| r.f == OpFn::Settle)
        .map_or(u64::MAX, |r| r.index);
    records
        .iter()
        .filter(|r| r.index < settle_at && r.key == key && r.f == OpFn::Read)
        .filter(|r| r.kind == OpType::Ok)
        .map(|r| {
            let done: ReadDone = r.decode();
            let states = done.items.into_iter().filter_map(|j| j.state).collect();
            (r, states)
        })
        .collect()
}

#[tokio::test]
async fn reads_during_the_run_see_a_brief_regression_and_measure_time_to_terminal() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = ["k:flip", "s:steady", "n:never"];
    let ledger = ledger(&dir, plan(50, 1000), &base, &keys);
    server.born.set(std::time::Instant::now()).unwrap();
    let cancel = CancellationToken::new();
    let watcher = Watcher::start(ledger.clone(), budget(1_000_000, 10_000), &cancel)
        .expect("the plan tracks work and the watch is on");
    // The run: the jobs finish, `flip` regresses for half a second and finishes again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let summary = watcher.stop().await;
    let watched: HashMap<&str, u64> = keys.iter().map(|k| (*k, server.reads(k))).collect();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        settle(&ledger, &CancellationToken::new()),
    )
    .await
    .expect("settle is bounded");
    assert!(!outcome.settled, "`never` never finishes");

    let s = &ledger.summaries()["L1"];
    assert_eq!(s.count(LedgerClass::StateRegression), 1);
    assert_eq!(s.count(LedgerClass::Stuck), 1);
    let regression = &s.examples[&LedgerClass::StateRegression][0];
    assert_eq!(regression.key, "k:flip");
    assert!(
        regression.why.contains("completed at") && regression.why.contains("running at"),
        "{}",
        regression.why
    );

    let records = ledger.records();
    assert_paired(&records);
    let settle_at = records.iter().find(|r| r.f == OpFn::Settle).unwrap();
    assert!(
        regression.witnesses.iter().all(|&w| w < settle_at.index),
        "the regression was seen during the run, before settle: {:?} (settle is op {})",
        regression.witnesses,
        settle_at.index
    );
    // The settle-only reads would see `flip` completed both times, and miss the regression.
    let flip_states: Vec<String> = watch_reads(&records, "k:flip")
        .into_iter()
        .filter_map(|(_, states)| states.into_iter().next())
        .collect();
    let done_at = flip_states.iter().position(|s| s == "completed");
    assert!(
        done_at.is_some_and(|at| flip_states[at..].iter().any(|s| s == "running")),
        "{flip_states:?}"
    );

    // Time to terminal is bracketed by two consecutive reads of the watch, the one before still
    // `running`: it is measured within one read interval, not bounded by settle.
    for key in ["k:flip", "s:steady"] {
        let reads = watch_reads(&records, key);
        let first = reads
            .iter()
            .position(|(_, states)| states == &["completed"])
            .unwrap_or_else(|| panic!("{key} was seen terminal during the run"));
        assert!(first > 0, "{key}: a read saw it running first");
        assert_eq!(reads[first - 1].1, ["running"], "{key}");
        let submit = records
            .iter()
            .find(|r| r.key == key && r.f == OpFn::Submit)
            .unwrap();
        let took = Duration::from_nanos(reads[first].0.time_ns - submit.time_ns);
        assert!(
            took >= Duration::from_millis(300),
            "{key}: seen terminal after {took:?}, before it finished"
        );
    }
    let ttt = s.time_to_terminal_ms.as_ref().expect("time to terminal");
    assert_eq!(ttt.count, 2);
    let settle_after_ms = (settle_at.time_ns / 1_000_000) as f64;
    assert!(
        ttt.p50 < settle_after_ms,
        "p50 {} ms is not bounded by settle ({settle_after_ms} ms)",
        ttt.p50
    );

    // A confirmed key is left alone; one never terminal is read all along.
    assert!(
        watched["s:steady"] < watched["n:never"],
        "steady was read {} times, never {} times",
        watched["s:steady"],
        watched["n:never"]
    );
    let watch_invokes = records
        .iter()
        .filter(|r| r.index < settle_at.index && r.f == OpFn::Read && r.kind == OpType::Invoke)
        .count() as u64;
    assert_eq!(summary.reads, watch_invokes, "every read is recorded");
    assert_eq!(
        (summary.keys, summary.terminal_keys, summary.stopped),
        (3, 2, None)
    );
    assert_eq!(summary.skipped_for_share, 0);
}

#[tokio::test]
async fn the_watch_stops_when_the_run_budget_is_spent() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir, plan(20, 0), &base, &["a:never", "b:never", "c:never"]);
    let budget = budget(105, 100);
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        watch(
            &ledger,
            &budget,
            &CancellationToken::new(),
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("a spent budget ends the watch");
    assert_eq!(summary.stopped, Some(WatchStop::RequestLimit));
    assert_eq!(summary.reads, 5);
    assert_eq!(budget.used(), 105, "each read took one request of the run");
    assert_eq!(server.total(), 5);
    let records = ledger.records();
    assert_paired(&records);
    let reads = records
        .iter()
        .filter(|r| r.f == OpFn::Read && r.kind == OpType::Ok)
        .count();
    assert_eq!(reads, 5);
}

#[tokio::test]
async fn reads_beyond_the_share_wait_until_the_load_sends_more() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<String> = (0..20).map(|i| format!("{i}:never")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let ledger = ledger(&dir, plan(20, 0), &base, &keys);
    let budget = budget(1_000_000, 0);
    let watcher = Watcher::start(ledger, budget.clone(), &CancellationToken::new()).unwrap();

    eventually("the floor is read", || server.total() == WATCH_FLOOR).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.total(),
        WATCH_FLOOR,
        "nothing sent, nothing more read"
    );
    // The load sends 20 requests: half of them may be reads.
    for _ in 0..20 {
        budget.take().unwrap();
    }
    eventually("the share is read", || server.total() == WATCH_FLOOR + 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let summary = watcher.stop().await;
    assert_eq!(summary.reads, WATCH_FLOOR + 10);
    assert_eq!(server.total(), WATCH_FLOOR + 10);
    assert!(summary.skipped_for_share > 0);
    assert_eq!(summary.stopped, None);
    assert_eq!(budget.used(), 20 + WATCH_FLOOR + 10);
}

#[tokio::test]
async fn no_watch_when_it_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan(20, 0);
    plan.settle.watch.enabled = false;
    let ledger = ledger(&dir, plan, "http://127.0.0.1:9", &["a:never"]);
    assert!(Watcher::start(ledger, budget(10, 0), &CancellationToken::new()).is_none());
}
