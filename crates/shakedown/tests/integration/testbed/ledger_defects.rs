//! The defects that a run ledger catches (`commit-then-500`, `shared-id`, `brief-regression`)
//! and the by-id-only runs API (`--runs-api by-id`, `TESTBED_RUNS_API`), each against its clean
//! twin.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{start, steps};
use crate::support::client::{Client, OPS_KEY};
use crate::support::free_port;
use crate::support::postgres::Postgres;
use crate::support::stack::StackOptions;

fn options(defect: Option<&str>) -> StackOptions {
    let options = StackOptions::new().step_ms(10).lease_ms(500);
    match defect {
        Some(name) => options.defect(name),
        None => options,
    }
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
        .to_owned()
}

/// What `commit-then-500` changes: the statuses of six first submissions, then (once a later run
/// has completed) each key's status as a replay of its submission reports it, and the queued count.
struct CommitObservations {
    first: Vec<StatusCode>,
    replayed: Vec<(StatusCode, String)>,
    queued: i64,
}

async fn commit_then_500_scenario(options: StackOptions) -> CommitObservations {
    let (_stack, client) = start(options).await;
    let keys: Vec<String> = (0..6).map(|i| format!("ct-{i}")).collect();
    let mut first = Vec::new();
    let mut acked = Vec::new();
    for key in &keys {
        let reply = client.submit(key, "export", steps(1)).await;
        if reply.status == StatusCode::CREATED {
            acked.push(text(&reply.body, "id"));
        } else {
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{key}");
            assert!(reply.body["detail"].is_string(), "{}", reply.body);
            assert!(reply.body.get("id").is_none(), "{}", reply.body);
        }
        first.push(reply.status);
    }
    client.wait_terminal(&acked, Duration::from_secs(60)).await;
    // Workers claim the oldest claimable run first: a later run completing proves that the
    // earlier ones still reading `queued` are not claimable.
    let late = client.submit_new("ct-late", "export", steps(1)).await;
    client
        .wait_terminal(&[text(&late, "id")], Duration::from_secs(60))
        .await;
    let mut replayed = Vec::new();
    for key in &keys {
        let reply = client.submit(key, "export", steps(1)).await;
        let status = text(&reply.body, "status");
        if status == "queued" {
            let id = text(&reply.body, "id");
            let by_id = client.run(&id).await;
            assert_eq!(
                (text(&by_id, "status"), by_id["attempts"].as_i64()),
                ("queued".to_owned(), Some(0))
            );
            let by_key = client.runs_by_key(key).await;
            assert_eq!(by_key.len(), 1, "{key}: {by_key:?}");
            assert_eq!(text(&by_key[0], "status"), "queued");
        }
        replayed.push((reply.status, status));
    }
    let queue = client.ops(Method::GET, "/api/v1/ops/queue", OPS_KEY).await;
    let queued = queue.body["queued"].as_i64().expect("queued");
    CommitObservations {
        first,
        replayed,
        queued,
    }
}

/// The observations of `commit-then-500` on the stack `options` describe (the defect added).
async fn assert_commit_then_500(options: StackOptions) {
    let completed = (StatusCode::OK, "completed".to_owned());
    let queued = (StatusCode::OK, "queued".to_owned());
    let defective = commit_then_500_scenario(options.defect("commit-then-500")).await;
    let (created, failed) = (StatusCode::CREATED, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        defective.first,
        [created, failed, created, created, created, failed]
    );
    assert_eq!(
        defective.replayed,
        [
            completed.clone(),
            queued.clone(),
            completed.clone(),
            completed.clone(),
            completed,
            queued
        ]
    );
    assert_eq!(defective.queued, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_500_leaves_runs_2_and_6_committed_but_queued_forever() {
    let clean = commit_then_500_scenario(options(None)).await;
    assert_eq!(clean.first, [StatusCode::CREATED; 6]);
    let completed = (StatusCode::OK, "completed".to_owned());
    assert_eq!(clean.replayed, vec![completed; 6]);
    assert_eq!(clean.queued, 0);
    assert_commit_then_500(options(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_500_keeps_the_run_unclaimed_on_postgres_too() {
    let postgres = Postgres::start();
    let url = postgres.create_database("testbed");
    assert_commit_then_500(options(None).database(&url)).await;
}

/// Submit keys `sh-0` to `sh-4` (no workers) and check what the third one was answered with;
/// returns the key of the run that `sh-2` was answered with, and the queue depth.
async fn shared_id_scenario(defect: Option<&str>) -> (String, i64) {
    let (_stack, client) = start(options(defect).workers(0)).await;
    let mut runs = Vec::new();
    for i in 0..5 {
        runs.push(
            client
                .submit_new(&format!("sh-{i}"), "export", steps(1))
                .await,
        );
    }
    let answered = &runs[2];
    let id = text(answered, "id");
    let by_key = client.runs_by_key("sh-2").await;
    assert_eq!(by_key.len(), 1, "{by_key:?}");
    assert_eq!(text(&by_key[0], "id"), id);
    assert_eq!(by_key[0]["key"], answered["key"]);
    let by_id = client.run(&id).await;
    assert_eq!(by_id["key"], answered["key"]);
    let replay = client.submit("sh-2", "export", steps(1)).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(text(&replay.body, "id"), id);
    for (i, run) in runs.iter().enumerate().filter(|(i, _)| *i != 2) {
        assert_eq!(text(run, "key"), format!("sh-{i}"));
    }
    if text(answered, "key") == "sh-1" {
        assert_eq!(id, text(&runs[1], "id"));
    }
    let queue = client.ops(Method::GET, "/api/v1/ops/queue", OPS_KEY).await;
    (
        text(answered, "key"),
        queue.body["depth"].as_i64().expect("depth"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_id_answers_the_third_new_key_with_the_previous_run() {
    assert_eq!(shared_id_scenario(None).await, ("sh-2".to_owned(), 5));
    assert_eq!(
        shared_id_scenario(Some("shared-id")).await,
        ("sh-1".to_owned(), 4)
    );
}

/// Drop repeats: `[a, a, b, a]` -> `[a, b, a]`.
fn collapsed(statuses: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for status in statuses {
        if out.last() != Some(status) {
            out.push(status.clone());
        }
    }
    out
}

/// Poll one run by id and by key every 50 ms from its submission until 2 s after it was first
/// seen completed; return each path's statuses from its first `completed` on, repeats dropped.
async fn statuses_around_completion(defect: Option<&str>) -> (Vec<String>, Vec<String>) {
    let (_stack, client) = start(options(defect)).await;
    let id = text(&client.submit_new("brief", "export", steps(1)).await, "id");
    let (mut by_id, mut by_key) = (Vec::new(), Vec::new());
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut stop_at: Option<Instant> = None;
    while stop_at.is_none_or(|t| Instant::now() < t) {
        assert!(Instant::now() < give_up, "the run never completed");
        let one = text(&client.run(&id).await, "status");
        let listed = client.runs_by_key("brief").await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        if one == "completed" && stop_at.is_none() {
            stop_at = Some(Instant::now() + Duration::from_secs(2));
        }
        by_id.push(one);
        by_key.push(text(&listed[0], "status"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let from_completed = |seen: Vec<String>| {
        let start = seen
            .iter()
            .position(|s| s == "completed")
            .unwrap_or(seen.len());
        collapsed(&seen[start..])
    };
    (from_completed(by_id), from_completed(by_key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brief_regression_reads_a_completed_run_as_running_for_a_moment() {
    let once = vec!["completed".to_owned()];
    assert_eq!(statuses_around_completion(None).await, (once.clone(), once));
    let flicker: Vec<String> = ["completed", "running", "completed"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(
        statuses_around_completion(Some("brief-regression")).await,
        (flicker.clone(), flicker)
    );
}

/// Submit a run, then read it by id and list its key: the list's status and body.
async fn by_id_and_by_key(client: &Client, key: &str) -> (StatusCode, Value) {
    let run = client.submit_new(key, "export", steps(1)).await;
    let id = text(&run, "id");
    assert_eq!(text(&client.run(&id).await, "key"), key);
    let listed = client.get(&format!("/api/v1/runs?key={key}")).await;
    (listed.status, listed.body)
}

fn assert_list_switched_off((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let detail = text(&body, "detail");
    assert!(detail.contains("switched off"), "{detail}");
}

/// `shakedown testbed api` alone, killed on drop.
struct ApiPart(Child);

impl Drop for ApiPart {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_api_by_id_switches_off_the_list_by_key_only() {
    // Clean twin: the default serves the list by key.
    let (_clean_stack, clean) = start(options(None).workers(0)).await;
    let (status, body) = by_id_and_by_key(&clean, "list-on").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["runs"][0]["key"], "list-on");

    // The stack, told through the environment as a process driver does.
    let (_stack, client) = start(options(None).workers(0).env("TESTBED_RUNS_API", "by-id")).await;
    assert_list_switched_off(by_id_and_by_key(&client, "list-off").await);

    // The API alone, told by its flag.
    let data = tempfile::tempdir().expect("a data dir");
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["testbed", "api", "--listen", &listen, "--data-dir"])
        .arg(data.path())
        .args(["--runs-api", "by-id"])
        .env_remove("TESTBED_RUNS_API")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the API");
    let mut part = ApiPart(child);
    let stdout = part.0.stdout.take().expect("stdout");
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    })
    .await
    .expect("joining")
    .expect("the API's first line");
    assert!(first.contains(&listen), "{first}");
    let client = Client::login(&format!("http://{listen}")).await;
    assert_list_switched_off(by_id_and_by_key(&client, "api-off").await);
}
