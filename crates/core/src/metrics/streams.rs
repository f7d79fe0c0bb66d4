//! Stream measurements: per WebSocket or SSE step, the time to the first event, between events
//! and to the final event (HDR histograms, so memory does not grow with the number of events),
//! how streams ended by taxonomy class, reconnects, and the close codes seen on both sides.
//!
//! Virtual users send [`StreamSample`]s; the aggregator folds them into [`StreamMeasurements`],
//! which merge exactly like the rest of [`super::Measurements`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::histogram::LatencyHistogram;
use super::summary::LatencySummary;

/// Most distinct close descriptions kept per step; the rest are counted under "other".
const MAX_CLOSES: usize = 16;

/// What a stream reports: timings, and once at its end how it ended.
#[derive(Debug, Clone, Default)]
pub struct StreamSample {
    /// Index of the step in the test's step names.
    pub step: u32,
    /// Time from the step's start to its first event.
    pub first_event: Option<Duration>,
    /// Gaps between consecutive events (sent in small batches).
    pub between: Vec<Duration>,
    /// Time from the step's start to its final expected event.
    pub final_event: Option<Duration>,
    /// Set on the stream's last sample.
    pub end: Option<StreamEnd>,
}

/// How one stream ended.
#[derive(Debug, Clone, Default)]
pub struct StreamEnd {
    /// `ws` or `sse`.
    pub protocol: &'static str,
    /// Events received (expected or not).
    pub events: u64,
    /// Reconnections made.
    pub reconnects: u32,
    /// The taxonomy class of its failure; None if it completed.
    pub class: Option<&'static str>,
    /// The closing handshake, e.g. "client sent 1000 (normal); server replied 1000 (normal)".
    pub close: Option<String>,
}

/// The measurements of one stream step.
#[derive(Debug, Clone, Default)]
pub struct StreamStepMetrics {
    /// `ws` or `sse`.
    pub protocol: &'static str,
    /// Streams that ended.
    pub streams: u64,
    /// Streams that received every expected event.
    pub completed: u64,
    /// Events received.
    pub events: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Time to the first event.
    pub first_event: LatencyHistogram,
    /// Time between events.
    pub between_events: LatencyHistogram,
    /// Time to the final event.
    pub final_event: LatencyHistogram,
    /// Failed streams by taxonomy class.
    pub failures: BTreeMap<String, u64>,
    /// Closing handshakes by description.
    pub closes: BTreeMap<String, u64>,
}

impl StreamStepMetrics {
    fn merge(&mut self, other: &StreamStepMetrics) {
        if self.protocol.is_empty() {
            self.protocol = other.protocol;
        }
        self.streams += other.streams;
        self.completed += other.completed;
        self.events += other.events;
        self.reconnects += other.reconnects;
        self.first_event.merge(&other.first_event);
        self.between_events.merge(&other.between_events);
        self.final_event.merge(&other.final_event);
        for (class, n) in &other.failures {
            *self.failures.entry(class.clone()).or_default() += n;
        }
        for (close, n) in &other.closes {
            count_close(&mut self.closes, close, *n);
        }
    }
}

fn count_close(closes: &mut BTreeMap<String, u64>, close: &str, n: u64) {
    let key = if closes.contains_key(close) || closes.len() < MAX_CLOSES {
        close.to_string()
    } else {
        "other".to_string()
    };
    *closes.entry(key).or_default() += n;
}

/// Stream measurements of one load test, by step name.
#[derive(Debug, Clone, Default)]
pub struct StreamMeasurements {
    steps: BTreeMap<String, StreamStepMetrics>,
}

impl StreamMeasurements {
    /// Fold one sample of step `step_name` in.
    pub fn record(&mut self, step_name: &str, sample: StreamSample) {
        let m = self.steps.entry(step_name.to_string()).or_default();
        if let Some(d) = sample.first_event {
            m.first_event.record(d);
        }
        for d in &sample.between {
            m.between_events.record(*d);
        }
        if let Some(d) = sample.final_event {
            m.final_event.record(d);
        }
        if let Some(end) = sample.end {
            m.protocol = end.protocol;
            m.streams += 1;
            m.events += end.events;
            m.reconnects += u64::from(end.reconnects);
            match end.class {
                None => m.completed += 1,
                Some(class) => *m.failures.entry(class.to_string()).or_default() += 1,
            }
            if let Some(close) = &end.close {
                count_close(&mut m.closes, close, 1);
            }
        }
    }

    /// The metrics of one step.
    pub fn step(&self, name: &str) -> Option<&StreamStepMetrics> {
        self.steps.get(name)
    }

    /// Whether no stream step reported anything.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Add `other`'s figures.
    pub fn merge(&mut self, other: &StreamMeasurements) {
        for (name, theirs) in &other.steps {
            self.steps.entry(name.clone()).or_default().merge(theirs);
        }
    }

    /// The serialisable figures, one entry per stream step.
    pub fn summary(&self) -> Vec<StreamStepSummary> {
        self.steps
            .iter()
            .map(|(name, m)| StreamStepSummary {
                step: name.clone(),
                protocol: m.protocol.to_string(),
                streams: m.streams,
                completed: m.completed,
                events: m.events,
                reconnects: m.reconnects,
                time_to_first_event_ms: m.first_event.summary(),
                time_between_events_ms: m.between_events.summary(),
                time_to_final_event_ms: m.final_event.summary(),
                failures: m.failures.clone(),
                closes: m.closes.clone(),
            })
            .collect()
    }
}

/// The report's figures for one stream step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamStepSummary {
    /// Step name.
    pub step: String,
    /// `ws` or `sse`.
    pub protocol: String,
    /// Streams that ended (one per reader and iteration).
    pub streams: u64,
    /// Streams that received every expected event.
    pub completed: u64,
    /// Events received, expected or not.
    pub events: u64,
    /// Reconnections (SSE resumes with `Last-Event-ID`).
    pub reconnects: u64,
    /// From the step's start to the first event.
    pub time_to_first_event_ms: LatencySummary,
    /// Between consecutive events.
    pub time_between_events_ms: LatencySummary,
    /// From the step's start to the final expected event.
    pub time_to_final_event_ms: LatencySummary,
    /// Failed streams by taxonomy class (`closed-early`, `hung`, ...).
    pub failures: BTreeMap<String, u64>,
    /// Closing handshakes seen, by description.
    pub closes: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(class: Option<&'static str>, close: &str) -> StreamEnd {
        StreamEnd {
            protocol: "ws",
            events: 5,
            reconnects: 1,
            class,
            close: Some(close.into()),
        }
    }

    #[test]
    fn samples_fold_and_merge_exactly() {
        let mut a = StreamMeasurements::default();
        a.record(
            "agent",
            StreamSample {
                step: 0,
                first_event: Some(Duration::from_millis(3)),
                between: vec![Duration::from_millis(20); 4],
                final_event: Some(Duration::from_millis(83)),
                end: Some(end(None, "client sent 1000; server replied 1000")),
            },
        );
        let mut b = StreamMeasurements::default();
        b.record(
            "agent",
            StreamSample {
                end: Some(end(Some("closed-early"), "server sent 1000")),
                ..StreamSample::default()
            },
        );
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].streams, s[0].completed), (2, 1));
        assert_eq!(s[0].failures["closed-early"], 1);
        assert_eq!(s[0].time_between_events_ms.count, 4);
        assert_eq!(s[0].reconnects, 2);
        assert_eq!(s[0].closes.len(), 2);
    }

    #[test]
    fn close_descriptions_are_capped() {
        let mut m = StreamMeasurements::default();
        for i in 0..(MAX_CLOSES + 5) {
            m.record(
                "s",
                StreamSample {
                    end: Some(end(None, &format!("code {i}"))),
                    ..StreamSample::default()
                },
            );
        }
        let s = m.summary();
        assert_eq!(s[0].closes.len(), MAX_CLOSES + 1);
        assert_eq!(s[0].closes["other"], 5);
    }
}
