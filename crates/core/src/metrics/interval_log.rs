//! The run's per-second windows as an HdrHistogram interval log (`latency.hlog` in the run
//! directory), readable by HdrHistogram's `HistogramLogProcessor` and every tool that reads its
//! format.
//!
//! One interval per second per load test, tagged with the test's id, holding the response
//! times (microseconds; the log's max column is in milliseconds) of the requests whose intended
//! start fell in that second. Timestamps are seconds since the start of the run, which is the
//! log's `BaseTime` and `StartTime`.

use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::windows::Windows;

/// The interval log's file name in the run directory.
pub const LATENCY_LOG: &str = "latency.hlog";

/// Why the log could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the interval log: {0}")]
pub struct IntervalLogError(String);

/// Render the windows of every test (`(test id, windows)`, in run order) as an interval log
/// whose time zero is `run_started`.
pub fn render<'a>(
    run_started: SystemTime,
    tests: impl IntoIterator<Item = (&'a str, &'a Windows)>,
) -> Result<String, IntervalLogError> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("shakedown per-second response times by intended start, in microseconds")
        .with_start_time(run_started)
        .with_base_time(run_started)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| IntervalLogError(e.to_string()))?;
    for (id, windows) in tests {
        let tag_text = tag(id);
        let tag = Tag::new(&tag_text);
        for (second, window) in windows.iter() {
            let histogram = window.latency();
            if histogram.is_empty() {
                continue;
            }
            log.write_histogram(
                &histogram,
                Duration::from_secs(second),
                Duration::from_secs(1),
                tag,
            )
            .map_err(|e| IntervalLogError(e.to_string()))?;
        }
    }
    drop(log);
    String::from_utf8(out).map_err(|e| IntervalLogError(e.to_string()))
}

/// A test id as a tag: the format forbids commas and whitespace.
fn tag(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::*;
    use crate::metrics::windows::Outcome;

    #[test]
    fn the_log_reads_back_with_one_interval_per_second_and_test() {
        let mut l1 = Windows::default();
        for ms in 1..=100u64 {
            l1.record(2, Duration::from_millis(ms), Outcome::Ok);
        }
        l1.record(3, Duration::from_millis(900), Outcome::Error);
        let mut l2 = Windows::default();
        l2.record(7, Duration::from_millis(5), Outcome::Ok);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let text = render(start, [("L1", &l1), ("L 2", &l2)]).unwrap();
        assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");
        let mut seen = Vec::new();
        for entry in IntervalLogIterator::new(text.as_bytes()) {
            if let Ok(LogEntry::Interval(h)) = entry {
                let bytes = base64_decode(h.encoded_histogram());
                let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .unwrap();
                let max_ms = hist.max() as f64 / 1000.0;
                seen.push((
                    h.tag().map(|t| t.as_str().to_string()),
                    h.start_timestamp().as_secs(),
                    hist.len(),
                    // Two significant digits: the max is known to within 1%.
                    (max_ms / 10f64.powf(max_ms.log10().floor() - 1.0)).round(),
                ));
            }
        }
        assert_eq!(
            seen,
            [
                (Some("L1".into()), 2, 100, 10.0),
                (Some("L1".into()), 3, 1, 90.0),
                (Some("L_2".into()), 7, 1, 50.0),
            ]
        );
    }

    /// Standard base64 (the log's encoding), decoded without another dependency.
    fn base64_decode(text: &str) -> Vec<u8> {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in text.bytes().filter(|c| *c != b'=') {
            let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }
}
