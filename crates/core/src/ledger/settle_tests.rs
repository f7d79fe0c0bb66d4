//! Tests of settle against a real HTTP server on 127.0.0.1:0 whose jobs change state as they
//! are polled.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::ledger::fixtures;
use crate::ledger::history::{Ledger, SubmitOutcome, TrackSite};
use crate::ledger::history_tests::assert_paired;
use crate::ledger::record::{OpFn, SettleDone};
use crate::ledger::settle::settle;
use crate::ledger::summary::LedgerSummary;
use shakedown_plan::model::{LedgerClass, Method};
use shakedown_plan::redact::Redactor;

/// The server's behaviour per key, chosen by what follows the `:` in the key's name:
/// `done-after-N` is `running` until its N-th read, then `completed`; `never` stays `running`;
/// `absent` has no job; `gone-404` answers 404; `broken` answers 500; `cancel-at-N` stays
/// `running` and cancels the test's token on its N-th read; `blip-at-N` is `completed` except at
/// its N-th read, which says `running`.
#[derive(Default)]
struct Server {
    reads: Mutex<HashMap<String, u64>>,
    /// (key, peer address) of every request, in arrival order.
    peers: Mutex<Vec<(String, SocketAddr)>>,
    cancel: CancellationToken,
}

async fn runs(
    State(server): State<Arc<Server>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let key = query.get("key").cloned().unwrap_or_default();
    server.peers.lock().unwrap().push((key.clone(), peer));
    let n = {
        let mut reads = server.reads.lock().unwrap();
        let n = reads.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let job = |status: &str| {
        Json(
            serde_json::json!({"runs": [{"id": format!("run-{key}"), "status": status, "result_count": 1}]}),
        )
    };
    let behaviour = key.split_once(':').map_or(key.as_str(), |(_, b)| b);
    let after = |prefix: &str| {
        behaviour
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u64>().ok())
    };
    if let Some(threshold) = after("done-after-") {
        return job(if n >= threshold {
            "completed"
        } else {
            "running"
        })
        .into_response();
    }
    if let Some(at) = after("cancel-at-") {
        if n >= at {
            server.cancel.cancel();
        }
        return job("running").into_response();
    }
    if let Some(at) = after("blip-at-") {
        return job(if n == at { "running" } else { "completed" }).into_response();
    }
    match behaviour {
        "never" => job("running").into_response(),
        "replay-found" | "replay-created" => job("completed").into_response(),
        "absent" => Json(serde_json::json!({"runs": []})).into_response(),
        "gone-404" => StatusCode::NOT_FOUND.into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn serve(server: Arc<Server>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/runs", get(runs))
        .route("/submit", axum::routing::post(submit))
        .with_state(server);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    format!("http://{addr}")
}

/// `POST /submit` (a replay): the key's job, 200 for keys that say `replay-found` and 201 for
/// `replay-created`, 503 for the others.
async fn submit(headers: axum::http::HeaderMap) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = match key.split_once(':').map(|(_, b)| b) {
        Some("replay-found") => StatusCode::OK,
        Some("replay-created") => StatusCode::CREATED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        status,
        Json(serde_json::json!({"id": format!("run-{key}")})),
    )
        .into_response()
}

/// A ledger whose keys were submitted with the given outcomes, read from `base`. Settle does
/// not confirm terminal states here (these tests count polls); see the confirmation's own test.
fn ledger(
    dir: &tempfile::TempDir,
    base: &str,
    timeout_ms: u64,
    keys: &[(&str, SubmitOutcome)],
) -> Arc<Ledger> {
    ledger_confirming(dir, base, timeout_ms, Duration::ZERO, keys)
}

fn ledger_confirming(
    dir: &tempfile::TempDir,
    base: &str,
    timeout_ms: u64,
    confirm: Duration,
    keys: &[(&str, SubmitOutcome)],
) -> Arc<Ledger> {
    let mut config = fixtures::settle_config(timeout_ms, 10);
    config.watch.confirm = confirm;
    let ledger = empty_ledger(dir, config);
    let site = site();
    for (key, outcome) in keys {
        let op = ledger.submit_invoke(
            site,
            "L1/vu-0",
            key,
            Method::Post,
            &format!("{base}/submit"),
        );
        let read = fixtures::request(Method::Get, format!("{base}/runs?key={key}"), Vec::new());
        ledger.submit_complete(op, outcome.clone(), Ok(read), None);
    }
    ledger
}

/// A ledger of the fixture plan with `settle`, and nothing submitted yet.
fn empty_ledger(dir: &tempfile::TempDir, settle: shakedown_plan::model::Settle) -> Arc<Ledger> {
    let plan = Arc::new(fixtures::plan(settle));
    Ledger::create(&dir.path().join("history.jsonl"), plan, Redactor::default()).unwrap()
}

/// The fixture's track step, in test L1.
fn site() -> TrackSite<'static> {
    TrackSite {
        test: "L1",
        scenario: fixtures::SCENARIO,
        step: fixtures::STEP,
    }
}

fn ok() -> SubmitOutcome {
    SubmitOutcome::Ok { status: 201 }
}

fn nonzero(summary: &LedgerSummary) -> Vec<(LedgerClass, u64)> {
    summary
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (*c, *n))
        .collect()
}

/// Run settle with a hard bound so a bug cannot hang the test suite.
async fn bounded_settle(
    ledger: &Ledger,
    cancel: &CancellationToken,
) -> crate::ledger::settle::SettleOutcome {
    tokio::time::timeout(Duration::from_secs(60), settle(ledger, cancel))
        .await
        .expect("settle is bounded by its own deadline")
}

#[tokio::test]
async fn settle_polls_until_every_job_is_terminal_then_reads_through_fresh_connections() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = [
        ("a:done-after-3", ok()),
        ("b:done-after-1", ok()),
        ("lost:absent", ok()),
        ("lost404:gone-404", ok()),
        (
            "maybe:absent",
            SubmitOutcome::Info {
                status: Some(503),
                error: "HTTP 503".into(),
            },
        ),
        (
            "zombie:done-after-1",
            SubmitOutcome::Fail {
                status: Some(409),
                error: "HTTP 409".into(),
            },
        ),
    ];
    let ledger = ledger(&dir, &base, 30_000, &keys);
    let outcome = bounded_settle(&ledger, &CancellationToken::new()).await;
    assert!(outcome.settled);
    // Round 1 reads all six keys, rounds 2 and 3 only `a`; then six final reads.
    assert_eq!(outcome.reads, 6 + 1 + 1 + 6);
    assert_eq!(server.reads.lock().unwrap()["a:done-after-3"], 4);

    let s = &ledger.summaries()["L1"];
    assert!(s.settled);
    use LedgerClass::*;
    assert_eq!(
        nonzero(s),
        vec![(Ok, 2), (Lost, 2), (NotApplied, 1), (Resurrected, 1)]
    );
    let lost: BTreeSet<&str> = s.examples[&Lost].iter().map(|e| e.key.as_str()).collect();
    assert_eq!(lost, BTreeSet::from(["lost:absent", "lost404:gone-404"]));
    assert!(
        s.examples[&Lost][1]
            .why
            .contains("saw no job (HTTP 404, op"),
        "{}",
        s.examples[&Lost][1].why
    );

    // The last request for each key is its final read; none came over a polling connection.
    let peers = server.peers.lock().unwrap().clone();
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (key, _)) in peers.iter().enumerate() {
        last.insert(key.as_str(), i);
    }
    let finals: BTreeSet<usize> = last.values().copied().collect();
    let poll_peers: BTreeSet<SocketAddr> = peers
        .iter()
        .enumerate()
        .filter(|(i, _)| !finals.contains(i))
        .map(|(_, (_, p))| *p)
        .collect();
    let final_peers: BTreeSet<SocketAddr> = finals.iter().map(|&i| peers[i].1).collect();
    assert!(!poll_peers.is_empty() && !final_peers.is_empty());
    assert!(
        poll_peers.is_disjoint(&final_peers),
        "final reads reused a polling connection"
    );

    let records = ledger.records();
    assert_paired(&records);
    assert_eq!(
        records.iter().filter(|r| r.f == OpFn::FinalRead).count(),
        12
    );
    assert_eq!(
        crate::ledger::checker::classify(&records, ledger.plan()),
        ledger.summaries()
    );
}

#[tokio::test]
async fn a_job_that_never_finishes_is_stuck_when_the_deadline_passes() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(
        &dir,
        &base,
        300,
        &[
            ("s:never", ok()),
            ("e:broken", ok()),
            ("d:done-after-1", ok()),
        ],
    );
    let outcome = bounded_settle(&ledger, &CancellationToken::new()).await;
    assert!(!outcome.settled);
    let s = &ledger.summaries()["L1"];
    assert!(!s.settled);
    use LedgerClass::*;
    assert_eq!(nonzero(s), vec![(Ok, 1), (Stuck, 1), (Unknown, 1)]);
    let stuck = &s.examples[&Stuck][0];
    assert_eq!(stuck.key, "s:never");
    assert!(stuck.why.contains("run-s:never running"), "{}", stuck.why);
    let unknown = &s.examples[&Unknown][0];
    assert!(unknown.why.contains("HTTP 500"), "{}", unknown.why);
    // `d` settled at its first poll and was read once more at the end; `s` was polled until the
    // deadline.
    let reads = server.reads.lock().unwrap().clone();
    assert_eq!(reads["d:done-after-1"], 2);
    assert!(
        reads["s:never"] >= 2,
        "polled, then read once more at the end"
    );

    let records = ledger.records();
    assert_paired(&records);
    let done: SettleDone = records.last().unwrap().decode();
    assert!(!done.settled && !done.cancelled);
}

#[tokio::test]
async fn cancellation_stops_settle_without_final_reads() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(
        &dir,
        &base,
        30_000,
        &[("c:cancel-at-2", ok()), ("d:done-after-1", ok())],
    );
    let outcome = bounded_settle(&ledger, &server.cancel).await;
    assert!(!outcome.settled);
    assert_eq!(
        outcome.reads, 3,
        "two reads in round 1, one in round 2, no final reads"
    );
    let s = &ledger.summaries()["L1"];
    assert_eq!(nonzero(s), vec![(LedgerClass::Unknown, 2)]);
    assert!(
        s.examples[&LedgerClass::Unknown][0]
            .why
            .contains("no final read was made")
    );

    let records = ledger.records();
    assert_paired(&records);
    assert!(records.iter().all(|r| r.f != OpFn::FinalRead));
    let done: SettleDone = records.last().unwrap().decode();
    assert!(done.cancelled && !done.settled);
}

#[tokio::test]
async fn settle_with_nothing_tracked_is_settled_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir, "http://127.0.0.1:9", 30_000, &[]);
    let outcome = bounded_settle(&ledger, &CancellationToken::new()).await;
    assert!(outcome.settled);
    assert_eq!(outcome.reads, 0);
    assert!(ledger.summaries().is_empty());
    assert_paired(&ledger.records());
}

#[tokio::test]
async fn settle_confirms_a_terminal_state_and_so_sees_a_brief_regression() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // Without confirmation, the first poll settles the key and the blip is never read.
    let ledger = ledger(&dir, &base, 30_000, &[("a:blip-at-3", ok())]);
    assert!(
        bounded_settle(&ledger, &CancellationToken::new())
            .await
            .settled
    );
    assert_eq!(
        ledger.summaries()["L1"].count(LedgerClass::StateRegression),
        0
    );
    // With it, polls go on until the key has stayed terminal for 50ms: the blip is seen.
    let dir = tempfile::tempdir().unwrap();
    let confirm = Duration::from_millis(50);
    let ledger = ledger_confirming(&dir, &base, 30_000, confirm, &[("b:blip-at-3", ok())]);
    assert!(
        bounded_settle(&ledger, &CancellationToken::new())
            .await
            .settled
    );
    let s = &ledger.summaries()["L1"];
    assert_eq!(s.count(LedgerClass::StateRegression), 1, "{s:?}");
    assert_eq!(s.count(LedgerClass::Ok), 1);
    assert!(server.reads.lock().unwrap()["b:blip-at-3"] >= 4);
}

/// Reads a replayed key at `/runs?key=<id from the answer>`.
struct ByAnswer(String);

impl crate::ledger::history::ReadAfterReplay for ByAnswer {
    fn read_after(&self, answer: &serde_json::Value) -> crate::ledger::history::KeyRead {
        let id = answer["id"]
            .as_str()
            .ok_or("the replay's answer has no id")?;
        let key = id.trim_start_matches("run-");
        Ok(fixtures::request(
            Method::Get,
            format!("{}/runs?key={key}", self.0),
            Vec::new(),
        ))
    }
}

#[tokio::test]
async fn an_unreadable_indeterminate_key_is_replayed_with_its_key_and_then_read() {
    let server = Arc::new(Server::default());
    let base = serve(server.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = empty_ledger(&dir, fixtures::settle_config(2_000, 10));
    let site = site();
    for key in ["f:replay-found", "c:replay-created", "u:replay-refused"] {
        let op = ledger.submit_invoke(
            site,
            "L1/vu-0",
            key,
            Method::Post,
            &format!("{base}/submit"),
        );
        let replay = crate::ledger::history::ReplayRequest {
            request: fixtures::request(
                Method::Post,
                format!("{base}/submit"),
                vec![("idempotency-key".into(), key.into())],
            ),
            body: Some(b"{}".to_vec()),
            created: vec![201],
            then: Arc::new(ByAnswer(base.clone())),
        };
        let outcome = SubmitOutcome::Info {
            status: Some(500),
            error: "status 500".into(),
        };
        let no_read = Err("`job_id` was not captured because step `create` failed".to_string());
        ledger.submit_complete(op, outcome, no_read, Some(replay));
    }
    assert!(
        bounded_settle(&ledger, &CancellationToken::new())
            .await
            .settled
    );
    let records = ledger.records();
    assert_paired(&records);
    let replays = records.iter().filter(|r| r.f == OpFn::Replay).count();
    assert_eq!(replays, 6, "one replay (invoke and completion) per key");
    let s = &ledger.summaries()["L1"];
    use LedgerClass::*;
    assert_eq!(
        nonzero(s),
        vec![(Ok, 2), (Unknown, 1), (Recovered, 1), (ReplayCreated, 1)]
    );
    assert_eq!(s.examples[&Recovered][0].key, "f:replay-found");
    assert_eq!(s.examples[&ReplayCreated][0].key, "c:replay-created");
    let unknown = &s.examples[&Unknown][0];
    assert!(
        unknown.key == "u:replay-refused" && unknown.why.contains("answered 503"),
        "{unknown:?}"
    );
    // The replay went with the key, and the read by the id it answered with.
    let reads = server.reads.lock().unwrap().clone();
    assert!(reads.contains_key("f:replay-found") && !reads.contains_key("u:replay-refused"));
}
