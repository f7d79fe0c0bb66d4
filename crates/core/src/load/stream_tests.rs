//! Stream steps against scripted WebSocket and SSE servers on real sockets: each failure class
//! of a stream that is checked exactly once (a duplicate, an event after the last expected one,
//! within `linger` or before the close, a missing event naming what came instead, one out of
//! order, other JSON data naming path, expected and actual value), as the step reports it and
//! as the stream figures (and, for SSE, the stream check) count it.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Duration;

use super::stream_server::{expect, expected, serve_streams, sse_step, ws_step};
use super::test_server::{load_test, plan, target};
use super::tests::{env, rounds, run_test};
use crate::ledger::streams::StreamCheckSummary;
use shakedown_plan::model::{EventMatcher, Step, Unexpected};

/// How one stream of a step ended, as the load test counted it.
struct Ended {
    /// Failed streams by class.
    failures: BTreeMap<String, u64>,
    /// Streams that completed.
    completed: u64,
    /// Events received.
    events: u64,
    /// The failure's message, if any.
    message: Option<String>,
    /// Closing handshakes seen.
    closes: Vec<String>,
    /// The stream check of the test (SSE steps only).
    check: Option<StreamCheckSummary>,
}

impl Ended {
    /// The one class the stream failed with.
    fn class(&self) -> Option<&str> {
        assert!(self.failures.len() <= 1, "{:?}", self.failures);
        self.failures.keys().next().map(String::as_str)
    }

    fn message(&self) -> &str {
        self.message.as_deref().unwrap_or_default()
    }
}

/// Run `step` once, by one virtual user, against the script server at `url`.
async fn run_once(url: &str, step: Step) -> Ended {
    let plan = plan(
        vec![target("api", url)],
        vec![("s", vec![step])],
        vec![load_test("S1", &[("s", 1)], rounds(1, 1))],
    );
    let (env, _dir) = env(plan, 100);
    let out = run_test(&env, 0).await;
    let streams = &out.summary.streams;
    assert_eq!(streams.len(), 1, "{streams:?}");
    let s = &streams[0];
    assert_eq!(s.streams, 1, "{s:?}");
    let check = env
        .ledger
        .streams()
        .check(&HashMap::new())
        .expect("the stream log reads back")
        .remove("S1");
    Ended {
        failures: s.failures.clone(),
        completed: s.completed,
        events: s.events,
        message: out
            .summary
            .error_clusters
            .first()
            .map(|c| c.example.clone()),
        closes: s.closes.keys().cloned().collect(),
        check,
    }
}

fn events(kinds: &[&str]) -> Vec<EventMatcher> {
    kinds.iter().map(|k| expected(k, None)).collect()
}

async fn ws(script: &str, events: Vec<EventMatcher>, unexpected: Unexpected) -> Ended {
    ws_lingering(script, events, unexpected, None).await
}

async fn ws_lingering(
    script: &str,
    events: Vec<EventMatcher>,
    unexpected: Unexpected,
    linger: Option<Duration>,
) -> Ended {
    let url = serve_streams().await;
    let step = ws_step("agent", "api", script, expect(events, unexpected, linger));
    run_once(&url, step).await
}

async fn sse(
    script: &str,
    events: Vec<EventMatcher>,
    unexpected: Unexpected,
    linger: Option<Duration>,
    terminal: &[&str],
) -> Ended {
    let url = serve_streams().await;
    let step = sse_step(
        "events",
        "api",
        script,
        expect(events, unexpected, linger),
        terminal,
    );
    run_once(&url, step).await
}

#[tokio::test]
async fn ws_a_final_event_sent_twice_is_a_duplicate_under_forbid() {
    let e = ws("final-twice", events(&["a", "b"]), Unexpected::Forbid).await;
    assert_eq!(e.class(), Some("duplicate"), "{}", e.message());
    assert!(
        e.message().starts_with(
            "duplicate(b): b (event 2 of 2) arrived a second time, after the last expected event"
        ),
        "{}",
        e.message()
    );
    assert_eq!(e.events, 3, "the repeat is counted as an event");
    let e = ws("final-twice", events(&["a", "b"]), Unexpected::Allow).await;
    assert_eq!((e.class(), e.completed), (None, 1), "{}", e.message());
    let e = ws("in-order", events(&["a", "b"]), Unexpected::Forbid).await;
    assert_eq!((e.class(), e.completed), (None, 1), "{}", e.message());
    assert!(
        e.closes
            .iter()
            .any(|c| c == "client sent close 1000 (normal); server replied close 1000 (normal)"),
        "{:?}",
        e.closes
    );
}

#[tokio::test]
async fn ws_an_event_after_the_last_expected_one_before_the_close_is_unexpected() {
    let e = ws("trailing", events(&["a", "b"]), Unexpected::Forbid).await;
    assert_eq!(e.class(), Some("unexpected-event"), "{}", e.message());
    assert!(
        e.message()
            .contains("`x` after the last expected event, b (event 2 of 2)"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn ws_linger_judges_an_event_that_comes_after_the_last_expected_one() {
    // The server sends `x` a second after `b`, unless the client's close comes first.
    let late = || events(&["a", "b"]);
    let e = ws("late-trailing", late(), Unexpected::Forbid).await;
    assert_eq!(
        (e.class(), e.completed),
        (None, 1),
        "closed at once: {}",
        e.message()
    );
    let e = ws_lingering(
        "late-trailing",
        late(),
        Unexpected::Forbid,
        Some(Duration::from_secs(5)),
    )
    .await;
    assert_eq!(e.class(), Some("unexpected-event"), "{}", e.message());
    assert!(e.message().contains("`x` after the last expected event"));
}

#[tokio::test]
async fn ws_an_event_passed_over_is_missing_naming_what_came_instead() {
    let e = ws("skip-b", events(&["a", "b", "c"]), Unexpected::Allow).await;
    assert_eq!(e.class(), Some("missing"), "{}", e.message());
    assert_eq!(
        e.message(),
        "missing(b): b (event 2 of 3) never arrived; c (event 3 of 3) came instead"
    );
}

#[tokio::test]
async fn ws_an_event_passed_over_that_comes_late_is_out_of_order() {
    let e = ws("c-before-b", events(&["a", "b", "c"]), Unexpected::Allow).await;
    assert_eq!(e.class(), Some("out-of-order"), "{}", e.message());
    assert_eq!(
        e.message(),
        "out-of-order(b): b (event 2 of 3) arrived after c (event 3 of 3)"
    );
}

#[tokio::test]
async fn ws_other_json_data_is_a_mismatch_naming_path_expected_and_actual() {
    let want = vec![expected("a", None), expected("b", Some("2"))];
    let e = ws("wrong-id", want, Unexpected::Forbid).await;
    assert_eq!(e.class(), Some("mismatch"), "{}", e.message());
    assert_eq!(
        e.message(),
        "mismatch(b): $.id is \"wrong\", expected \"2\" (`b`, event 2 of 2)"
    );
}

#[tokio::test]
async fn sse_a_terminal_event_twice_is_a_duplicate_and_the_check_agrees() {
    let e = sse(
        "end-twice",
        events(&["a"]),
        Unexpected::Forbid,
        None,
        &["end"],
    )
    .await;
    assert_eq!(e.class(), Some("duplicate"), "{}", e.message());
    assert_eq!(
        e.message(),
        "duplicate(end): the terminal event end arrived a second time"
    );
    // Each repeat has an id of its own: only the step's class tells the check.
    let check = e.check.expect("the stream was checked");
    assert_eq!((check.failed, check.violations["duplicate"]), (1, 1));
    assert_eq!(check.violations["out-of-order"], 0);
}

#[tokio::test]
async fn sse_events_after_the_last_expected_one_are_read_until_the_end() {
    let e = sse(
        "trailing",
        events(&["a", "b"]),
        Unexpected::Forbid,
        None,
        &[],
    )
    .await;
    assert_eq!(e.class(), Some("unexpected-event"), "{}", e.message());
    assert!(
        e.message()
            .contains("`x` after the last expected event, b (event 2 of 2)"),
        "{}",
        e.message()
    );
    let e = sse(
        "trailing",
        events(&["a", "b"]),
        Unexpected::Allow,
        None,
        &[],
    )
    .await;
    assert_eq!((e.class(), e.completed), (None, 1), "{}", e.message());
}

#[tokio::test]
async fn sse_linger_bounds_what_comes_after_the_final_event() {
    // `x` comes a second after `b`, and the stream then stays open.
    let late = || events(&["a", "b"]);
    let five = Some(Duration::from_secs(5));
    let e = sse("late-trailing", late(), Unexpected::Forbid, five, &[]).await;
    assert_eq!(e.class(), Some("unexpected-event"), "{}", e.message());
    let e = sse(
        "late-trailing",
        late(),
        Unexpected::Forbid,
        Some(Duration::ZERO),
        &[],
    )
    .await;
    assert_eq!(
        (e.class(), e.completed),
        (None, 1),
        "no linger: {}",
        e.message()
    );
}

#[tokio::test]
async fn sse_an_event_cut_short_or_passed_over_is_missing_naming_what_came_instead() {
    let e = sse(
        "end-early",
        events(&["a", "b"]),
        Unexpected::Allow,
        None,
        &["end"],
    )
    .await;
    assert_eq!(e.class(), Some("missing"), "{}", e.message());
    assert_eq!(
        e.message(),
        "missing(b): b (event 2 of 2) never arrived; the terminal event end came instead"
    );
    let e = sse(
        "skip-b",
        events(&["a", "b", "c"]),
        Unexpected::Allow,
        None,
        &[],
    )
    .await;
    assert_eq!(e.class(), Some("missing"), "{}", e.message());
    assert_eq!(
        e.message(),
        "missing(b): b (event 2 of 3) never arrived; c (event 3 of 3) came instead"
    );
}

#[tokio::test]
async fn sse_an_event_passed_over_that_comes_late_is_out_of_order_and_the_check_agrees() {
    let e = sse(
        "c-before-b",
        events(&["a", "b", "c"]),
        Unexpected::Allow,
        None,
        &[],
    )
    .await;
    assert_eq!(e.class(), Some("out-of-order"), "{}", e.message());
    assert_eq!(
        e.message(),
        "out-of-order(b): b (event 2 of 3) arrived after c (event 3 of 3)"
    );
    let check = e.check.expect("the stream was checked");
    assert_eq!(check.violations["out-of-order"], 1);
}

#[tokio::test]
async fn sse_other_json_data_is_a_mismatch_naming_path_expected_and_actual() {
    let want = vec![expected("a", None), expected("b", Some("2"))];
    let e = sse("wrong-id", want, Unexpected::Forbid, None, &[]).await;
    assert_eq!(e.class(), Some("mismatch"), "{}", e.message());
    assert_eq!(
        e.message(),
        "mismatch(b): $.id is \"wrong\", expected \"2\" (`b`, event 2 of 2)"
    );
}
