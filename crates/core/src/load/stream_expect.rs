//! What a stream step waits for, and how it fails: the ordered event matcher, the clocks that
//! bound it (per-event timeout, the step's deadline, the idle limit), and the failure taxonomy
//! every stream failure is classified into.
//!
//! Shared by WebSocket and SSE steps, so that "out-of-order" or "hung" means the same thing on
//! both. An expected event that arrives while an earlier one is awaited passes over it, and the
//! end of the stream decides: `missing` if it never came, `out-of-order` if it came after all.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use serde_json_path::JsonPath;
use tokio::time::Instant;

use shakedown_plan::model::Unexpected;

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
    /// An expected event that was passed over (a later one came first) arrived after all.
    OutOfOrder,
    /// An expected event that was passed over (a later one came first) never arrived.
    Missing,
    /// An expected event that arrived a second time, where `unexpected = "forbid"`.
    Duplicate,
    /// The expected event's type with other JSON data, where `unexpected = "forbid"`.
    Mismatch,
    /// An event that is not expected, where `unexpected = "forbid"`: between expected events,
    /// or after the last one.
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
            StreamClass::Missing => "missing",
            StreamClass::Duplicate => "duplicate",
            StreamClass::Mismatch => "mismatch",
            StreamClass::UnexpectedEvent => "unexpected-event",
            StreamClass::ProtocolError => "protocol-error",
            StreamClass::Hung => "hung",
            StreamClass::Reset => "reset",
        }
    }

    /// Whether the class says that something did not come (as opposed to something that came
    /// wrong): an expected event passed over earlier is then the better explanation.
    fn is_absence(self) -> bool {
        matches!(
            self,
            StreamClass::ClosedEarly
                | StreamClass::Timeout
                | StreamClass::Hung
                | StreamClass::Reset
        )
    }
}

/// A classified stream failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    /// Its class.
    pub class: StreamClass,
    /// The expected event it is about: the one waited for (timeout), passed over (missing,
    /// out-of-order), repeated (duplicate) or with other data (mismatch).
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

    /// The same failure, about the expected event `label`.
    pub fn about(mut self, label: &str) -> StreamFailure {
        self.waiting_for = Some(label.to_string());
        self
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
        self.is_kind(kind) && self.mismatch(doc).is_none()
    }

    /// Whether an event of type `kind` is of this matcher's type (any type, if it names none).
    fn is_kind(&self, kind: Option<&str>) -> bool {
        self.kind.as_deref().is_none_or(|want| kind == Some(want))
    }

    /// The first JSON assertion `doc` breaks, as "`$.path` is ACTUAL, expected EXPECTED".
    fn mismatch(&self, doc: Option<&Value>) -> Option<String> {
        self.json.iter().find_map(|(source, path, want)| {
            let Some(doc) = doc else {
                return Some(format!(
                    "the data is not JSON, expected {source} to be {}",
                    shown(want)
                ));
            };
            match path.query(doc).first() {
                Some(got) if got == want || text_equal(got, want) => None,
                Some(got) => Some(format!(
                    "{source} is {}, expected {}",
                    shown(got),
                    shown(want)
                )),
                None => Some(format!("{source} is absent, expected {}", shown(want))),
            }
        })
    }
}

/// Most characters of a JSON value shown in a failure.
const MAX_SHOWN: usize = 80;

/// A JSON value as a failure shows it, cut at [`MAX_SHOWN`] characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
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
///
/// An expected event that arrives while an earlier one is still awaited passes over the earlier
/// one: whether that one is `missing` or `out-of-order` is known only when the stream ends, so
/// the sequence goes on, and [`Sequence::verdict`] decides.
#[derive(Debug, Clone)]
pub struct Sequence {
    matchers: Vec<Matcher>,
    next: usize,
    unexpected: Unexpected,
    /// When the previous expected event arrived (or the step started).
    since: Instant,
    /// Expected events passed over, each with what came instead (at most one per matcher).
    passed: Vec<(usize, String)>,
    /// Under `unexpected = "allow"`: the last event of the awaited type whose data differed.
    near_miss: Option<String>,
}

impl Sequence {
    /// A sequence starting now.
    pub fn new(matchers: Vec<Matcher>, unexpected: Unexpected, start: Instant) -> Sequence {
        Sequence {
            matchers,
            next: 0,
            unexpected,
            since: start,
            passed: Vec::new(),
            near_miss: None,
        }
    }

    /// Whether no expected event is still awaited (some may have been passed over).
    pub fn done(&self) -> bool {
        self.next >= self.matchers.len()
    }

    /// Whether an expected event was passed over and has not arrived: what follows the last
    /// expected event still matters, since it decides between `missing` and `out-of-order`.
    pub fn pending(&self) -> bool {
        !self.passed.is_empty()
    }

    /// Whether events after the last expected one can still fail the step: under
    /// `unexpected = "forbid"`, or while an expected event was passed over.
    pub fn watches_the_end(&self) -> bool {
        self.unexpected == Unexpected::Forbid || self.pending()
    }

    /// The event waited for, if any.
    pub fn waiting_for(&self) -> Option<&Matcher> {
        self.matchers.get(self.next)
    }

    /// "agent_started (event 1 of 5)".
    pub fn describe_next(&self) -> String {
        if self.done() {
            return "nothing".into();
        }
        self.describe(self.next)
    }

    fn describe(&self, at: usize) -> String {
        format!(
            "{} (event {} of {})",
            self.matchers[at].label,
            at + 1,
            self.matchers.len()
        )
    }

    /// Whether the event is the next expected one.
    pub fn is_next(&self, kind: Option<&str>, doc: Option<&Value>) -> bool {
        self.waiting_for().is_some_and(|m| m.matches(kind, doc))
    }

    /// Offer an event with type `kind` and JSON data `doc`: Ok(true) if it was an expected one,
    /// Ok(false) if it was skipped, or the failure it is.
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
        if self.is_next(kind, doc) {
            self.advance(self.next + 1, now);
            return Ok(true);
        }
        if let Some((at, instead)) = self
            .passed
            .iter()
            .find(|(at, _)| self.matchers[*at].matches(kind, doc))
        {
            return Err(StreamFailure::new(
                StreamClass::OutOfOrder,
                format!("{} arrived after {instead}", self.describe(*at)),
            )
            .about(&self.matchers[*at].label));
        }
        if let Some(later) = self.matchers[self.next.min(self.matchers.len())..]
            .iter()
            .position(|m| m.matches(kind, doc))
        {
            let at = self.next + later;
            let instead = self.describe(at);
            self.passed
                .extend((self.next..at).map(|skipped| (skipped, instead.clone())));
            self.advance(at + 1, now);
            return Ok(true);
        }
        if self.unexpected == Unexpected::Allow {
            if let Some(m) = self.waiting_for()
                && m.is_kind(kind)
                && let Some(why) = m.mismatch(doc)
            {
                self.near_miss = Some(format!("{shown} came with {why}"));
            }
            return Ok(false);
        }
        let matched = |at: &usize| !self.passed.iter().any(|(p, _)| p == at);
        if let Some(at) = (0..self.next)
            .rev()
            .filter(matched)
            .find(|at| self.matchers[*at].matches(kind, doc))
        {
            // The last one again needs no name twice.
            let when = if at + 1 == self.matchers.len() {
                "after the last expected event".to_string()
            } else {
                self.when()
            };
            return Err(StreamFailure::new(
                StreamClass::Duplicate,
                format!("{} arrived a second time, {when}", self.describe(at)),
            )
            .about(&self.matchers[at].label));
        }
        if let Some(m) = self.waiting_for()
            && m.is_kind(kind)
            && let Some(why) = m.mismatch(doc)
        {
            return Err(StreamFailure::new(
                StreamClass::Mismatch,
                format!(
                    "{why} ({shown}, event {} of {})",
                    self.next + 1,
                    self.matchers.len()
                ),
            )
            .about(&m.label));
        }
        Err(StreamFailure::new(
            StreamClass::UnexpectedEvent,
            format!("{shown} {}", self.when()),
        ))
    }

    fn advance(&mut self, to: usize, now: Instant) {
        self.next = to;
        self.since = now;
        self.near_miss = None;
    }

    /// Where the stream is, for a message: "while waiting for X", or after the last one.
    fn when(&self) -> String {
        match self.matchers.len() {
            _ if !self.done() => format!("while waiting for {}", self.describe_next()),
            0 => "where no event is expected but a terminal one".to_string(),
            n => format!("after the last expected event, {}", self.describe(n - 1)),
        }
    }

    /// The stream's failure once it has ended, `ending` being how it ended (None: well). An
    /// expected event passed over is `missing`, naming what came instead; it explains a later
    /// absence (a timeout, a close, a reset, silence) better than that absence does, so it
    /// takes its place and names it. Under `unexpected = "allow"`, an absence names the last
    /// event of the awaited type whose data differed.
    pub fn verdict(&self, ending: Option<StreamFailure>) -> Option<StreamFailure> {
        let missing = self.passed.first().map(|(at, instead)| {
            let more = match self.passed.len() {
                1 => String::new(),
                n => format!(" (nor {} more)", n - 1),
            };
            StreamFailure::new(
                StreamClass::Missing,
                format!(
                    "{} never arrived{more}; {instead} came instead",
                    self.describe(*at)
                ),
            )
            .about(&self.matchers[*at].label)
        });
        match (ending, missing) {
            (None, missing) => missing,
            (Some(end), Some(mut missing)) if end.class.is_absence() => {
                missing.detail = format!("{}; then {end}", missing.detail);
                Some(missing)
            }
            (Some(mut end), None) if end.class.is_absence() => {
                if let Some(near) = &self.near_miss {
                    end.detail = format!("{}; {near}", end.detail);
                }
                Some(end)
            }
            (Some(end), _) => Some(end),
        }
    }

    /// The failure of a stream cut short by `instead` (an SSE terminal event) while an expected
    /// event was awaited: that one is missing. None when nothing was awaited.
    pub fn cut_short(&self, instead: &str) -> Option<StreamFailure> {
        let m = self.waiting_for()?;
        Some(
            StreamFailure::new(
                StreamClass::Missing,
                format!(
                    "{} never arrived; {instead} came instead",
                    self.describe_next()
                ),
            )
            .about(&m.label),
        )
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
#[path = "stream_expect_tests.rs"]
mod tests;
