//! What a stream step waits for, and how it fails: the ordered event matcher, the clocks that
//! bound it (per-event timeout, the step's deadline, the idle limit), and the failure taxonomy
//! every stream failure is classified into.
//!
//! Shared by WebSocket and SSE steps, so that "out-of-order" or "hung" means the same thing on
//! both.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use serde_json_path::JsonPath;
use tokio::time::Instant;

use crate::plan::model_stream::Unexpected;

/// The stream failure taxonomy (issue 6), each counted and clustered by signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamClass {
    /// The connection or the upgrade was refused (connect error, a status that is not 101 or
    /// 2xx).
    HandshakeRefused,
    /// The server closed before every expected event arrived.
    ClosedEarly,
    /// An expected event did not arrive within its timeout or the step's deadline.
    Timeout,
    /// An expected event arrived before the one it must follow.
    OutOfOrder,
    /// An event that is not expected, where `unexpected = "forbid"`.
    UnexpectedEvent,
    /// Bytes that are not the protocol: garbage after the upgrade, a frame or event larger than
    /// the cap, invalid UTF-8, a wrong content type.
    ProtocolError,
    /// No byte and no heartbeat for longer than the idle limit.
    Hung,
    /// The connection broke without a close.
    Reset,
}

impl StreamClass {
    /// The class's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            StreamClass::HandshakeRefused => "handshake-refused",
            StreamClass::ClosedEarly => "closed-early",
            StreamClass::Timeout => "timeout-waiting-for",
            StreamClass::OutOfOrder => "out-of-order",
            StreamClass::UnexpectedEvent => "unexpected-event",
            StreamClass::ProtocolError => "protocol-error",
            StreamClass::Hung => "hung",
            StreamClass::Reset => "reset",
        }
    }
}

/// A classified stream failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    /// Its class.
    pub class: StreamClass,
    /// For a timeout: the event waited for.
    pub waiting_for: Option<String>,
    /// What happened, in plain words.
    pub detail: String,
}

impl StreamFailure {
    /// A failure of `class`.
    pub fn new(class: StreamClass, detail: impl Into<String>) -> StreamFailure {
        StreamFailure {
            class,
            waiting_for: None,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.waiting_for {
            Some(event) => write!(f, "{}({event}): {}", self.class.name(), self.detail),
            None => write!(f, "{}: {}", self.class.name(), self.detail),
        }
    }
}

/// An expected event with its expected values rendered for this run of the step.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// How messages name it.
    pub label: String,
    /// The type it must have.
    pub kind: Option<String>,
    /// (JSONPath as written, path, expected value).
    pub json: Vec<(String, JsonPath, Value)>,
    /// The longest wait for it.
    pub timeout: Duration,
}

impl Matcher {
    fn matches(&self, kind: Option<&str>, doc: Option<&Value>) -> bool {
        if let Some(want) = &self.kind
            && kind != Some(want.as_str())
        {
            return false;
        }
        if self.json.is_empty() {
            return true;
        }
        let Some(doc) = doc else {
            return false;
        };
        self.json.iter().all(|(_, path, want)| {
            path.query(doc)
                .first()
                .is_some_and(|got| got == want || text_equal(got, want))
        })
    }
}

/// A rendered expectation (a string) matches a number or boolean with the same text.
fn text_equal(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Number(_) | Value::Bool(_), Value::String(s)) => {
            s.parse::<Value>().is_ok_and(|v| v == *got)
        }
        _ => false,
    }
}

/// The ordered sequence of expected events and where the stream is in it.
#[derive(Debug, Clone)]
pub struct Sequence {
    matchers: Vec<Matcher>,
    next: usize,
    unexpected: Unexpected,
    /// When the previous expected event arrived (or the step started).
    since: Instant,
}

impl Sequence {
    /// A sequence starting now.
    pub fn new(matchers: Vec<Matcher>, unexpected: Unexpected, start: Instant) -> Sequence {
        Sequence {
            matchers,
            next: 0,
            unexpected,
            since: start,
        }
    }

    /// Whether every expected event arrived.
    pub fn done(&self) -> bool {
        self.next >= self.matchers.len()
    }

    /// The event waited for, if any.
    pub fn waiting_for(&self) -> Option<&Matcher> {
        self.matchers.get(self.next)
    }

    /// "agent_started (event 1 of 5)".
    pub fn describe_next(&self) -> String {
        match self.waiting_for() {
            Some(m) => format!(
                "{} (event {} of {})",
                m.label,
                self.next + 1,
                self.matchers.len()
            ),
            None => "nothing".into(),
        }
    }

    /// Offer an event with type `kind` and JSON data `doc`: Ok(true) if it was the next
    /// expected one, Ok(false) if it was skipped, or the failure it is.
    pub fn offer(
        &mut self,
        kind: Option<&str>,
        doc: Option<&Value>,
        now: Instant,
    ) -> Result<bool, StreamFailure> {
        let shown = kind.map_or_else(
            || "an event without a type".to_string(),
            |k| format!("`{k}`"),
        );
        if let Some(m) = self.matchers.get(self.next)
            && m.matches(kind, doc)
        {
            self.next += 1;
            self.since = now;
            return Ok(true);
        }
        if let Some(later) = self.matchers[self.next.min(self.matchers.len())..]
            .iter()
            .position(|m| m.matches(kind, doc))
        {
            let at = self.next + later;
            return Err(StreamFailure::new(
                StreamClass::OutOfOrder,
                format!(
                    "{} (event {} of {}) arrived before {}",
                    self.matchers[at].label,
                    at + 1,
                    self.matchers.len(),
                    self.describe_next()
                ),
            ));
        }
        match self.unexpected {
            Unexpected::Allow => Ok(false),
            Unexpected::Forbid => Err(StreamFailure::new(
                StreamClass::UnexpectedEvent,
                format!("{shown} while waiting for {}", self.describe_next()),
            )),
        }
    }

    /// When the next expected event is overdue.
    pub fn event_deadline(&self) -> Option<Instant> {
        self.waiting_for().map(|m| self.since + m.timeout)
    }
}

/// What woke a stream that was waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The idle limit passed with no byte.
    Idle,
    /// The next expected event is overdue.
    Event,
    /// The step's deadline passed.
    Deadline,
}

/// The clocks of one stream: the step's deadline and the idle limit.
#[derive(Debug, Clone, Copy)]
pub struct StreamClock {
    /// When the step started.
    pub start: Instant,
    /// When the whole step must be over.
    pub deadline: Instant,
    /// The idle limit.
    pub idle: Duration,
    /// When the last byte (data, comment, ping) arrived.
    pub last_byte: Instant,
}

impl StreamClock {
    /// Clocks starting at `start`.
    pub fn new(start: Instant, deadline: Duration, idle: Duration) -> StreamClock {
        StreamClock {
            start,
            deadline: start + deadline,
            idle,
            last_byte: start,
        }
    }

    /// A byte arrived.
    pub fn byte(&mut self, now: Instant) {
        self.last_byte = now;
    }

    /// The next time to wake, and why. The idle limit wins a tie: silence is the finding.
    pub fn next_wake(&self, seq: &Sequence) -> (Instant, Wake) {
        let mut wake = (self.last_byte + self.idle, Wake::Idle);
        if let Some(at) = seq.event_deadline()
            && at < wake.0
        {
            wake = (at, Wake::Event);
        }
        if self.deadline < wake.0 {
            wake = (self.deadline, Wake::Deadline);
        }
        wake
    }

    /// The failure a wake-up means.
    pub fn failure(&self, wake: Wake, seq: &Sequence) -> StreamFailure {
        let label = seq
            .waiting_for()
            .map_or_else(|| "the end of the stream".to_string(), |m| m.label.clone());
        let mut failure = match wake {
            Wake::Idle => {
                return StreamFailure::new(
                    StreamClass::Hung,
                    format!(
                        "no byte and no heartbeat for {}ms while waiting for {}",
                        self.idle.as_millis(),
                        seq.describe_next()
                    ),
                );
            }
            Wake::Event => StreamFailure::new(
                StreamClass::Timeout,
                format!(
                    "{} not seen within {}ms",
                    seq.describe_next(),
                    seq.waiting_for().map_or(0, |m| m.timeout.as_millis())
                ),
            ),
            Wake::Deadline => StreamFailure::new(
                StreamClass::Timeout,
                format!(
                    "the step's deadline of {}ms passed while waiting for {}",
                    (self.deadline - self.start).as_millis(),
                    seq.describe_next()
                ),
            ),
        };
        failure.waiting_for = Some(label);
        failure
    }
}

/// The text of a scalar for matching a type: strings as they are, other values as JSON.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seq(kinds: &[&str], unexpected: Unexpected) -> Sequence {
        let matchers = kinds
            .iter()
            .map(|k| Matcher {
                label: (*k).to_string(),
                kind: Some((*k).to_string()),
                json: Vec::new(),
                timeout: Duration::from_secs(1),
            })
            .collect();
        Sequence::new(matchers, unexpected, Instant::now())
    }

    #[test]
    fn events_in_order_complete_the_sequence() {
        let mut s = seq(&["a", "b"], Unexpected::Forbid);
        let now = Instant::now();
        assert_eq!(s.offer(Some("a"), None, now), Ok(true));
        assert_eq!(s.offer(Some("b"), None, now), Ok(true));
        assert!(s.done());
    }

    #[test]
    fn an_early_event_is_out_of_order_and_a_stranger_depends_on_the_policy() {
        let now = Instant::now();
        let mut s = seq(&["a", "b", "c"], Unexpected::Allow);
        assert_eq!(s.offer(Some("x"), None, now), Ok(false));
        let err = s.offer(Some("c"), None, now).expect_err("c before a");
        assert_eq!(err.class, StreamClass::OutOfOrder);
        assert_eq!(
            err.to_string(),
            "out-of-order: c (event 3 of 3) arrived before a (event 1 of 3)"
        );
        let mut s = seq(&["a"], Unexpected::Forbid);
        let err = s.offer(Some("x"), None, now).expect_err("forbidden");
        assert_eq!(err.class, StreamClass::UnexpectedEvent);
        assert!(err.to_string().contains("`x` while waiting for a"));
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
}
