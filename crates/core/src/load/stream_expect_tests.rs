//! The sequence's judgement of each stream failure class, event by event, and the clocks.

use super::*;
use serde_json::json;

fn matcher(kind: &str) -> Matcher {
    Matcher {
        label: kind.to_string(),
        kind: Some(kind.to_string()),
        json: Vec::new(),
        timeout: Duration::from_secs(1),
    }
}

fn seq(kinds: &[&str], unexpected: Unexpected) -> Sequence {
    let matchers = kinds.iter().map(|k| matcher(k)).collect();
    Sequence::new(matchers, unexpected, Instant::now())
}

/// Offer each kind in turn; the first failure, or the verdict at the end.
fn run(s: &mut Sequence, kinds: &[&str]) -> Option<StreamFailure> {
    let now = Instant::now();
    for k in kinds {
        if let Err(f) = s.offer(Some(k), None, now) {
            return Some(f);
        }
    }
    s.verdict(None)
}

#[test]
fn events_in_order_complete_the_sequence() {
    let mut s = seq(&["a", "b"], Unexpected::Forbid);
    let now = Instant::now();
    assert_eq!(s.offer(Some("a"), None, now), Ok(true));
    assert_eq!(s.offer(Some("b"), None, now), Ok(true));
    assert!(s.done());
    assert_eq!(s.verdict(None), None);
}

#[test]
fn an_event_that_never_comes_is_missing_naming_what_came_instead() {
    for unexpected in [Unexpected::Allow, Unexpected::Forbid] {
        let mut s = seq(&["a", "b", "c"], unexpected);
        let f = run(&mut s, &["a", "c"]).expect("b never came");
        assert_eq!(f.class, StreamClass::Missing, "{unexpected:?}");
        assert_eq!(
            f.to_string(),
            "missing(b): b (event 2 of 3) never arrived; c (event 3 of 3) came instead"
        );
    }
}

#[test]
fn a_passed_over_event_that_comes_later_is_out_of_order() {
    for unexpected in [Unexpected::Allow, Unexpected::Forbid] {
        let mut s = seq(&["a", "b", "c"], unexpected);
        let f = run(&mut s, &["c", "a"]).expect("a after c");
        assert_eq!(f.class, StreamClass::OutOfOrder, "{unexpected:?}");
        assert_eq!(
            f.to_string(),
            "out-of-order(a): a (event 1 of 3) arrived after c (event 3 of 3)"
        );
    }
    // After the last expected event, too: the end of the stream decides.
    let mut s = seq(&["a", "b"], Unexpected::Allow);
    assert!(s.offer(Some("b"), None, Instant::now()).is_ok());
    assert!(s.done() && s.pending() && s.watches_the_end());
    let f = run(&mut s, &["a"]).expect("a after b");
    assert_eq!(f.class, StreamClass::OutOfOrder);
}

#[test]
fn a_passed_over_event_explains_a_later_absence() {
    let mut s = seq(&["a", "b", "c", "d"], Unexpected::Allow);
    assert_eq!(
        run(&mut s, &["a", "c"]).map(|f| f.class),
        Some(StreamClass::Missing)
    );
    let timeout = StreamFailure::new(StreamClass::Timeout, "d (event 4 of 4) not seen").about("d");
    let f = s.verdict(Some(timeout)).expect("a failure");
    assert_eq!(f.class, StreamClass::Missing);
    assert!(
        f.detail
            .ends_with("; then timeout-waiting-for(d): d (event 4 of 4) not seen"),
        "{f}"
    );
    // What came wrong is not explained away: it keeps its class.
    let garbage = StreamFailure::new(StreamClass::ProtocolError, "not UTF-8");
    assert_eq!(s.verdict(Some(garbage.clone())), Some(garbage));
}

#[test]
fn an_expected_event_twice_is_a_duplicate_under_forbid_only() {
    let mut s = seq(&["a", "b"], Unexpected::Forbid);
    let f = run(&mut s, &["a", "b", "b"]).expect("b twice");
    assert_eq!(f.class, StreamClass::Duplicate);
    assert_eq!(
        f.to_string(),
        "duplicate(b): b (event 2 of 2) arrived a second time, after the last expected event"
    );
    let mut s = seq(&["a", "b"], Unexpected::Forbid);
    let f = run(&mut s, &["a", "a"]).expect("a twice");
    assert_eq!(f.class, StreamClass::Duplicate);
    assert!(
        f.detail.ends_with("while waiting for b (event 2 of 2)"),
        "{f}"
    );
    let mut s = seq(&["a", "b"], Unexpected::Allow);
    assert_eq!(run(&mut s, &["a", "a", "b", "b"]), None);
}

#[test]
fn any_event_after_the_last_expected_one_is_unexpected_under_forbid() {
    let mut s = seq(&["a"], Unexpected::Forbid);
    let f = run(&mut s, &["a", "x"]).expect("x after the end");
    assert_eq!(f.class, StreamClass::UnexpectedEvent);
    assert_eq!(
        f.to_string(),
        "unexpected-event: `x` after the last expected event, a (event 1 of 1)"
    );
    let mut s = seq(&["a"], Unexpected::Forbid);
    let f = run(&mut s, &["x"]).expect("x before a");
    assert_eq!(
        f.to_string(),
        "unexpected-event: `x` while waiting for a (event 1 of 1)"
    );
    let mut s = seq(&[], Unexpected::Forbid);
    let f = run(&mut s, &["x"]).expect("x where nothing is expected");
    assert!(f.detail.contains("no event is expected"), "{f}");
    let mut s = seq(&["a"], Unexpected::Allow);
    assert!(!s.watches_the_end());
    assert_eq!(run(&mut s, &["x", "a", "x"]), None);
}

fn with_id(kind: &str, id: &str) -> Matcher {
    Matcher {
        json: vec![("$.id".into(), JsonPath::parse("$.id").unwrap(), json!(id))],
        ..matcher(kind)
    }
}

#[test]
fn other_data_in_the_awaited_type_is_a_mismatch_naming_path_expected_and_actual() {
    let now = Instant::now();
    let matchers = vec![matcher("a"), with_id("done", "m-1")];
    let mut s = Sequence::new(matchers.clone(), Unexpected::Forbid, now);
    assert_eq!(s.offer(Some("a"), None, now), Ok(true));
    let f = s
        .offer(Some("done"), Some(&json!({"id": "m-2"})), now)
        .expect_err("other id");
    assert_eq!(f.class, StreamClass::Mismatch);
    assert_eq!(
        f.to_string(),
        "mismatch(done): $.id is \"m-2\", expected \"m-1\" (`done`, event 2 of 2)"
    );
    let mut s = Sequence::new(matchers.clone(), Unexpected::Forbid, now);
    s.offer(Some("a"), None, now).expect("a");
    let f = s
        .offer(Some("done"), Some(&json!({"other": 1})), now)
        .expect_err("no id");
    assert!(
        f.detail.starts_with("$.id is absent, expected \"m-1\""),
        "{f}"
    );
    let f = s.offer(Some("done"), None, now).expect_err("not JSON");
    assert!(f.detail.starts_with("the data is not JSON"), "{f}");
    // Under allow it is skipped, and named if the event then never comes.
    let mut s = Sequence::new(matchers, Unexpected::Allow, now);
    s.offer(Some("a"), None, now).expect("a");
    assert_eq!(
        s.offer(Some("done"), Some(&json!({"id": "m-2"})), now),
        Ok(false)
    );
    let timeout = StreamFailure::new(StreamClass::Timeout, "done (event 2 of 2) not seen");
    let f = s.verdict(Some(timeout)).expect("a failure");
    assert_eq!(f.class, StreamClass::Timeout);
    assert!(
        f.detail
            .ends_with("`done` came with $.id is \"m-2\", expected \"m-1\""),
        "{f}"
    );
}

#[test]
fn a_stream_cut_short_is_missing_what_it_awaited() {
    let s = seq(&["a"], Unexpected::Allow);
    let f = s.cut_short("the terminal event end").expect("a awaited");
    assert_eq!(
        f.to_string(),
        "missing(a): a (event 1 of 1) never arrived; the terminal event end came instead"
    );
    let mut s = seq(&["a"], Unexpected::Allow);
    run(&mut s, &["a"]);
    assert_eq!(s.cut_short("the terminal event end"), None);
}

#[test]
fn json_assertions_match_rendered_values() {
    let m = Matcher {
        label: "done".into(),
        kind: None,
        json: vec![("$.n".into(), JsonPath::parse("$.n").unwrap(), json!("42"))],
        timeout: Duration::from_secs(1),
    };
    assert!(m.matches(None, Some(&json!({"n": 42}))));
    assert!(!m.matches(None, Some(&json!({"n": 41}))));
    assert!(!m.matches(None, None));
}

#[test]
fn the_clock_prefers_silence_then_the_event_then_the_deadline() {
    let start = Instant::now();
    let s = seq(&["a"], Unexpected::Allow);
    let clock = StreamClock::new(start, Duration::from_secs(5), Duration::from_secs(1));
    assert_eq!(clock.next_wake(&s).1, Wake::Idle);
    let f = clock.failure(Wake::Event, &s);
    assert_eq!(f.class, StreamClass::Timeout);
    assert!(
        f.to_string()
            .starts_with("timeout-waiting-for(a): a (event 1 of 1)")
    );
    let clock = StreamClock::new(start, Duration::from_millis(500), Duration::from_secs(1));
    assert_eq!(clock.next_wake(&s).1, Wake::Deadline);
    assert_eq!(clock.failure(Wake::Idle, &s).class, StreamClass::Hung);
}
