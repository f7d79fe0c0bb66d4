//! Run events over SSE: resume across an API restart with no gap and no duplicate, and a
//! heartbeat while a stream waits.

use std::time::Duration;

use reqwest::StatusCode;

use super::{start, steps, submit_many};
use crate::support::client::Client;
use crate::support::sse::{SseEvent, SseItem, SseReader};
use crate::support::stack::StackOptions;

async fn open(client: &Client, run: &str, last_event_id: Option<i64>) -> SseReader {
    let mut request = client
        .http
        .get(client.url(&format!("/api/v1/runs/{run}/events")))
        .bearer_auth(&client.token);
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let response = request.send().await.expect("SSE request");
    assert_eq!(response.status(), StatusCode::OK);
    SseReader::new(response)
}

fn is_terminal(event: &SseEvent) -> bool {
    matches!(event.event.as_deref(), Some("run_completed" | "run_failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_across_an_api_restart_without_gaps_or_duplicates() {
    let (mut stack, client) = start(StackOptions::new().step_ms(40)).await;
    let run = submit_many(&client, "sse", 1, steps(12)).await.remove(0);

    let mut first = open(&client, &run, None).await;
    let (mut events, _) = first
        .collect_until(Duration::from_secs(20), |e| e.seq() >= 3)
        .await;
    drop(first);
    let last = events.last().expect("events before the restart").seq();
    assert_eq!(last, 3);

    let before = client.health().await.body["boot_id"].clone();
    stack.command_ok("restart api");
    let after = client.health().await.body["boot_id"].clone();
    assert_ne!(before, after, "the API did not restart");

    let mut resumed = open(&client, &run, Some(last)).await;
    let (rest, _) = resumed
        .collect_until(Duration::from_secs(20), is_terminal)
        .await;
    events.extend(rest);

    let ids: Vec<i64> = events.iter().map(SseEvent::seq).collect();
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(ids, expected, "gap or duplicate");
    let types: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
    let mut want = vec!["run_started"];
    want.extend(std::iter::repeat_n("progress", 12));
    want.extend(["artifact_written", "run_completed"]);
    assert_eq!(types, want);
    for event in &events {
        let data: serde_json::Value = serde_json::from_str(&event.data).expect("JSON data");
        assert_eq!(data["run_id"], run.as_str());
        assert_eq!(data["type"], event.event.as_deref().unwrap_or_default());
    }
    assert_eq!(
        resumed.next(Duration::from_secs(5)).await,
        Some(SseItem::End)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_sends_heartbeats_while_waiting() {
    // No workers: the run stays queued and its stream has nothing to send.
    let (_stack, client) = start(StackOptions::new().workers(0)).await;
    let run = submit_many(&client, "wait", 1, steps(1)).await.remove(0);
    let mut stream = open(&client, &run, None).await;
    let mut heartbeats = 0;
    for _ in 0..3 {
        match stream.next(Duration::from_secs(2)).await {
            Some(SseItem::Comment(text)) => {
                assert_eq!(text, "heartbeat");
                heartbeats += 1;
            }
            other => panic!("expected a heartbeat within 2 s, got {other:?}"),
        }
    }
    assert_eq!(heartbeats, 3);
}
