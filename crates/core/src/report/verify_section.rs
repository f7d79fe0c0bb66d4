//! The report's verify section: what a verification check observed: its assertions, its findings (each naming the object or
//! key), counts, recorded provenance and latencies. One shape for every kind of check, so that
//! the exporters and the JSON schema have one thing to render.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Findings kept per class; the counts stay exact.
pub const MAX_FINDINGS_PER_CLASS: usize = 32;

/// The observations of one `[[verify]]` check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifySection {
    /// The kind of check: `http`, `sql`, `redis`, `artifacts`, `isolation`, `store` or
    /// `canary`.
    pub probe: String,
    /// The oracle it read, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle: Option<String>,
    /// What it asked, in words: the request line, the query, the Redis command, the bucket.
    pub subject: String,
    /// Each expectation with what was observed.
    pub assertions: Vec<Assertion>,
    /// Problems found, each naming its object or key (at most 32 per class).
    pub findings: Vec<Finding>,
    /// Exact counts: what was examined (`jobs`, `files`, `objects`, `rows`, `calls`) and
    /// findings per class (`missing`, `corrupt`, `outside`, ...).
    pub counts: BTreeMap<String, u64>,
    /// Recorded rows: canary provenance, one per call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<BTreeMap<String, serde_json::Value>>,
    /// Latency per operation (`write`, `read`, `call`), in milliseconds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_ms: BTreeMap<String, LatencyStats>,
    /// What prevented observing (an unreachable oracle, a failed listing): the check is then
    /// INCONCLUSIVE, never PASS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One expectation and what was observed for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assertion {
    /// The expectation, e.g. `rows == 0` or `$.status == "ok"`.
    pub expectation: String,
    /// What was observed, if anything was.
    pub observed: Option<String>,
    /// Whether it held.
    pub passed: bool,
}

/// One problem, naming what it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Its class: `missing`, `corrupt`, `duplicate`, `orphan`, `outside`, `lost`, `stuck`,
    /// `repeated`, `absent`, ...
    pub class: String,
    /// The object or key, e.g. `runs-bucket/runs/42/output.bin`.
    pub subject: String,
    /// What is wrong with it.
    pub detail: String,
}

/// Latency percentiles of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// How many operations.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Slowest.
    pub max: f64,
}

impl LatencyStats {
    /// Percentiles of `samples` (milliseconds); None when empty.
    pub fn of(samples: &[f64]) -> Option<LatencyStats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1]
        };
        Some(LatencyStats {
            count: sorted.len() as u64,
            p50: at(0.50),
            p95: at(0.95),
            max: sorted[sorted.len() - 1],
        })
    }
}

impl VerifySection {
    /// A section for a check of kind `probe` about `subject`.
    pub fn new(probe: &str, oracle: Option<&str>, subject: impl Into<String>) -> VerifySection {
        VerifySection {
            probe: probe.to_string(),
            oracle: oracle.map(str::to_string),
            subject: subject.into(),
            ..VerifySection::default()
        }
    }

    /// Record an expectation and what was observed.
    pub fn assert(
        &mut self,
        expectation: impl Into<String>,
        observed: Option<String>,
        passed: bool,
    ) {
        self.assertions.push(Assertion {
            expectation: expectation.into(),
            observed,
            passed,
        });
    }

    /// Record a problem; counted exactly, kept up to the cap per class.
    pub fn find(&mut self, class: &str, subject: impl Into<String>, detail: impl Into<String>) {
        let count = self.counts.entry(class.to_string()).or_insert(0);
        *count += 1;
        if *count as usize <= MAX_FINDINGS_PER_CLASS {
            self.findings.push(Finding {
                class: class.to_string(),
                subject: subject.into(),
                detail: detail.into(),
            });
        }
    }

    /// Add `n` to the count `name`.
    pub fn count(&mut self, name: &str, n: u64) {
        *self.counts.entry(name.to_string()).or_insert(0) += n;
    }

    /// Findings of every class, counted exactly.
    pub fn finding_count(&self) -> u64 {
        let classes: std::collections::BTreeSet<&str> =
            self.findings.iter().map(|f| f.class.as_str()).collect();
        classes
            .iter()
            .map(|c| self.counts.get(*c).copied().unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_capped_but_counted() {
        let mut s = VerifySection::new("artifacts", Some("store"), "runs");
        for i in 0..40 {
            s.find("missing", format!("runs/{i}/output.bin"), "absent");
        }
        s.find("corrupt", "runs/1/log.txt", "sha256 differs");
        assert_eq!(s.findings.len(), MAX_FINDINGS_PER_CLASS + 1);
        assert_eq!(s.counts["missing"], 40);
        assert_eq!(s.finding_count(), 41);
    }

    #[test]
    fn latency_percentiles_are_nearest_rank() {
        let stats = LatencyStats::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (stats.count, stats.p50, stats.p95, stats.max),
            (5, 3.0, 5.0, 5.0)
        );
        assert!(LatencyStats::of(&[]).is_none());
    }
}
