//! What one SSE consumer saw of one stream, across every reconnect: one line of
//! `streams.jsonl`, built event by event by [`StreamTrace`] with memory bounded by the number of
//! connections, not of events.
//!
//! Event ids are kept as merged ranges of integers, so a contiguous stream of a million events
//! is one range. Ids that are not integers are counted: they cannot be checked for gaps.

use serde::{Deserialize, Serialize};

/// Most connections, duplicates and order breaks kept per stream; counts stay complete.
pub const MAX_KEPT: usize = 32;

/// One connection of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionRecord {
    /// The `Last-Event-ID` it was opened with, if it resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The id of its first event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_id: Option<String>,
    /// The id of its last event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    /// Events received on it.
    pub events: u64,
    /// How it ended, in plain words.
    pub end: String,
}

/// One stream as one consumer saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamRecord {
    /// The load test's id.
    pub test: String,
    /// The step's name.
    pub step: String,
    /// The job the stream follows (the step's `job`, or its path).
    pub job: String,
    /// The consumer: virtual user, iteration and reader, e.g. `C2/vu-3/it-0/r-1`.
    pub consumer: String,
    /// Its connections, in order (at most [`MAX_KEPT`]).
    pub connections: Vec<ConnectionRecord>,
    /// Connections made in total.
    pub connection_count: u64,
    /// Integer event ids seen, as merged inclusive ranges.
    pub ids: Vec<(u64, u64)>,
    /// Ids seen more than once (at most [`MAX_KEPT`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<u64>,
    /// Ids that came after a larger or equal id: (previous, this), at most [`MAX_KEPT`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub out_of_order: Vec<(u64, u64)>,
    /// Events whose id was missing or not an integer.
    pub unchecked_ids: u64,
    /// Events received in total.
    pub events: u64,
    /// The terminal event type it ended with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    /// The job state that terminal event announces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_state: Option<String>,
    /// The taxonomy class of its failure; None if it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<String>,
    /// The failure's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Milliseconds from the step's start to the stream's end.
    pub elapsed_ms: u64,
}

/// Builds a [`StreamRecord`] while the stream runs.
#[derive(Debug, Clone, Default)]
pub struct StreamTrace {
    record: StreamRecord,
    last: Option<u64>,
}

impl StreamTrace {
    /// A trace of `job` read by `consumer` in step `step` of test `test`.
    pub fn new(test: &str, step: &str, job: &str, consumer: String) -> StreamTrace {
        StreamTrace {
            record: StreamRecord {
                test: test.to_string(),
                step: step.to_string(),
                job: job.to_string(),
                consumer,
                ..StreamRecord::default()
            },
            last: None,
        }
    }

    /// A connection opens, resuming from `resumed_from` if set.
    pub fn connect(&mut self, resumed_from: Option<&str>) {
        self.record.connection_count += 1;
        if self.record.connections.len() < MAX_KEPT {
            self.record.connections.push(ConnectionRecord {
                resumed_from: resumed_from.map(str::to_string),
                ..ConnectionRecord::default()
            });
        }
    }

    /// The current connection ended.
    pub fn disconnect(&mut self, how: &str) {
        if let Some(c) = self.current() {
            c.end = how.to_string();
        }
    }

    fn current(&mut self) -> Option<&mut ConnectionRecord> {
        let open = self.record.connection_count as usize <= MAX_KEPT;
        if open {
            self.record.connections.last_mut()
        } else {
            None
        }
    }

    /// An event with id `id` arrived.
    pub fn event(&mut self, id: Option<&str>) {
        self.record.events += 1;
        if let Some(c) = self.current() {
            c.events += 1;
            if c.first_id.is_none() {
                c.first_id = id.map(str::to_string);
            }
            if id.is_some() {
                c.last_id = id.map(str::to_string);
            }
        }
        let Some(n) = id.and_then(|i| i.trim().parse::<u64>().ok()) else {
            self.record.unchecked_ids += 1;
            return;
        };
        if let Some(prev) = self.last
            && n <= prev
            && self.record.out_of_order.len() < MAX_KEPT
        {
            self.record.out_of_order.push((prev, n));
        }
        self.last = Some(n);
        if !insert(&mut self.record.ids, n) && self.record.duplicates.len() < MAX_KEPT {
            self.record.duplicates.push(n);
        }
    }

    /// The stream ended with terminal event `event`, announcing `state`.
    pub fn terminal(&mut self, event: &str, state: &str) {
        self.record.terminal = Some(event.to_string());
        self.record.terminal_state = Some(state.to_string());
    }

    /// The finished record: `failure` is (class, message) if the stream failed.
    pub fn finish(mut self, failure: Option<(&str, &str)>, elapsed_ms: u64) -> StreamRecord {
        if let Some((class, message)) = failure {
            self.record.failure_class = Some(class.to_string());
            self.record.failure = Some(message.to_string());
        }
        self.record.elapsed_ms = elapsed_ms;
        self.record
    }
}

/// Insert `n` into sorted, merged, inclusive `ranges`; false if it was already there.
fn insert(ranges: &mut Vec<(u64, u64)>, n: u64) -> bool {
    // The common case: the next id of the last range.
    if let Some(last) = ranges.last_mut() {
        if n == last.1.saturating_add(1) {
            last.1 = n;
            return true;
        }
        if n > last.1 {
            ranges.push((n, n));
            return true;
        }
    } else {
        ranges.push((n, n));
        return true;
    }
    let at = ranges.partition_point(|r| r.1 < n);
    if ranges.get(at).is_some_and(|r| r.0 <= n) {
        return false;
    }
    let joins_prev = at > 0 && ranges[at - 1].1 + 1 == n;
    let joins_next = ranges.get(at).is_some_and(|r| r.0 == n + 1);
    match (joins_prev, joins_next) {
        (true, true) => {
            ranges[at - 1].1 = ranges[at].1;
            ranges.remove(at);
        }
        (true, false) => ranges[at - 1].1 = n,
        (false, true) => ranges[at].0 = n,
        (false, false) => ranges.insert(at, (n, n)),
    }
    true
}

/// The ids missing between the first and last id seen, at most `max` of them, and how many
/// there are in total.
pub fn missing_ids(ranges: &[(u64, u64)], max: usize) -> (Vec<u64>, u64) {
    let mut missing = Vec::new();
    let mut total = 0u64;
    for pair in ranges.windows(2) {
        let (from, to) = (pair[0].1 + 1, pair[1].0);
        total += to - from;
        missing.extend((from..to).take(max.saturating_sub(missing.len())));
    }
    (missing, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_find_duplicates_and_gaps() {
        let mut r = Vec::new();
        for n in [1, 2, 3, 5, 6, 4, 9] {
            assert!(insert(&mut r, n), "{n} is new");
        }
        assert_eq!(r, vec![(1, 6), (9, 9)]);
        assert!(!insert(&mut r, 5));
        assert_eq!(missing_ids(&r, 10), (vec![7, 8], 2));
        assert_eq!(missing_ids(&r, 1), (vec![7], 2));
    }

    #[test]
    fn a_trace_records_connections_order_and_duplicates() {
        let mut t = StreamTrace::new("C2", "events", "run-1", "C2/vu-1/it-0/r-0".into());
        t.connect(None);
        for id in ["1", "2", "3"] {
            t.event(Some(id));
        }
        t.disconnect("eof");
        t.connect(Some("3"));
        t.event(Some("3"));
        t.event(Some("5"));
        t.event(None);
        t.terminal("run_completed", "completed");
        let r = t.finish(None, 40);
        assert_eq!(r.ids, vec![(1, 3), (5, 5)]);
        assert_eq!(r.duplicates, vec![3]);
        assert_eq!(r.out_of_order, vec![(3, 3)]);
        assert_eq!(r.unchecked_ids, 1);
        assert_eq!(r.connections.len(), 2);
        assert_eq!(r.connections[1].resumed_from.as_deref(), Some("3"));
        assert_eq!(r.connections[1].first_id.as_deref(), Some("3"));
        assert_eq!(r.connections[0].end, "eof");
    }
}
