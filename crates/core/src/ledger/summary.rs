//! The serialisable result of the ledger check for one test: counts per class, the sub-counts
//! inside `stuck` and `duplicates`, the time objective, the histograms' percentiles, and example
//! keys with their witness operations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::thresholds::LedgerCounts;
use shakedown_plan::model::LedgerClass;

/// One example key of a class, with the operations that witness its classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerExample {
    /// The client key.
    pub key: String,
    /// Why it is in this class, in plain words.
    pub why: String,
    /// Indices (`index` field) of the history operations that witness it.
    pub witnesses: Vec<u64>,
}

/// The ledger's verdict on one test's tracked work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerSummary {
    /// Keys tracked.
    pub tracked: u64,
    /// Count per class (every class present, zero included).
    pub counts: BTreeMap<LedgerClass, u64>,
    /// Up to 32 examples per non-ok class.
    pub examples: BTreeMap<LedgerClass, Vec<LedgerExample>>,
    /// Whether settle ended because every key was terminal (false: the deadline passed).
    pub settled: bool,
    /// The `stuck` keys by subtype (they add up to `stuck`).
    #[serde(default)]
    pub stuck_subtypes: StuckSubtypes,
    /// The `duplicates` keys by kind (a key can be both kinds).
    #[serde(default)]
    pub duplicate_kinds: DuplicateKinds,
    /// How the keys fared against their track's time objective, when a track has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<ObjectiveSummary>,
    /// Milliseconds from a key's submit to the first read that saw it terminal, over
    /// acknowledged and recovered keys that reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_terminal_ms: Option<Distribution>,
    /// How precisely each of those times is known, in milliseconds: from the last read that
    /// saw the key not yet terminal (or its submit, when no read came before) to the first read
    /// that saw it terminal. Small when the ledger read the key during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_within_ms: Option<Distribution>,
    /// The latest first terminal sighting over the keys, ns on the ledger's clock: when the
    /// last of the test's work was first seen done (in memory only; it times a fault test's
    /// backlog drain).
    #[serde(skip)]
    pub last_terminal_ns: Option<u64>,
    /// Attempts per job at its final read, when the track has an `attempts` path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Distribution>,
}

/// Why a key is stuck, where the reads tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckSubtypes {
    /// Never seen in a started state, and 0 attempts.
    pub never_started: u64,
    /// In a started state, and its attempts and progress marker stopped moving.
    pub orphaned: u64,
    /// More attempts than the track's `max_attempts`.
    pub retry_loop: u64,
    /// No oracle tells (the track has no `started`, `attempts` or `updated`), or it is still
    /// moving.
    pub unspecified: u64,
}

/// How a key is duplicated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateKinds {
    /// One key produced more than one job.
    pub job: u64,
    /// One job produced more than one result.
    pub effect: u64,
}

/// The keys judged against a time objective.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectiveSummary {
    /// Seen terminal within the objective.
    pub met: u64,
    /// Certainly later than the objective: a read after the objective still saw it
    /// non-terminal (the `slow` class).
    pub slow: u64,
    /// First seen terminal after the objective, but the previous read was before it: the
    /// reads cannot tell (settle polls only after the load, every `interval`).
    pub undetermined: u64,
}

/// Percentiles of a histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
}

impl LedgerSummary {
    /// The count of one class (0 if absent).
    pub fn count(&self, class: LedgerClass) -> u64 {
        self.counts.get(&class).copied().unwrap_or(0)
    }

    /// Why the check cannot decide, when some keys are `unknown`: how many, and the first one's
    /// reason. None when every key was decided.
    pub fn undecided(&self) -> Option<String> {
        let unknown = self.count(LedgerClass::Unknown);
        if unknown == 0 {
            return None;
        }
        let example = self
            .examples
            .get(&LedgerClass::Unknown)
            .and_then(|e| e.first())
            .map(|e| format!("; e.g. key {}: {}", e.key, e.why))
            .unwrap_or_default();
        Some(format!(
            "{unknown} of {} tracked keys could not be decided{example}",
            self.tracked
        ))
    }

    /// The figures beyond the class counts, one line of plain text each (for every renderer):
    /// stuck subtypes and duplicate kinds when there are any, the objective, the histograms.
    pub fn figures(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.count(LedgerClass::Stuck) > 0 {
            let t = &self.stuck_subtypes;
            lines.push(format!(
                "stuck by subtype: never_started {}, orphaned {}, retry_loop {}, unspecified {}",
                t.never_started, t.orphaned, t.retry_loop, t.unspecified
            ));
        }
        if self.count(LedgerClass::Duplicates) > 0 {
            let d = &self.duplicate_kinds;
            lines.push(format!(
                "duplicates by kind: job {}, effect {}",
                d.job, d.effect
            ));
        }
        if let Some(o) = &self.objective {
            lines.push(format!(
                "objective: met {}, slow {}, undetermined {}",
                o.met, o.slow, o.undetermined
            ));
        }
        if let Some(d) = &self.time_to_terminal_ms {
            let within = self
                .terminal_within_ms
                .as_ref()
                .map(|w| {
                    format!(
                        "; each known to within p50 {}ms, max {}ms (the gap between the last \
                         read that saw it unfinished and the first that saw it terminal)",
                        round(w.p50),
                        round(w.max)
                    )
                })
                .unwrap_or_default();
            lines.push(format!(
                "time to terminal (submit to the first read that saw it terminal): {}{within}",
                d.describe("ms")
            ));
        }
        if let Some(d) = &self.attempts {
            lines.push(format!("attempts per job: {}", d.describe("")));
        }
        lines
    }
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

impl Distribution {
    /// "p50 12ms, p95 40ms, p99 41.5ms, max 50ms (n=60)".
    pub fn describe(&self, unit: &str) -> String {
        let number = |v: f64| {
            if v.fract() == 0.0 {
                format!("{v:.0}{unit}")
            } else {
                format!("{v:.1}{unit}")
            }
        };
        format!(
            "p50 {}, p95 {}, p99 {}, max {} (n={})",
            number(self.p50),
            number(self.p95),
            number(self.p99),
            number(self.max),
            self.count
        )
    }
}

/// A ledger-class threshold (`lost == 0`) reads the summary.
impl LedgerCounts for LedgerSummary {
    /// The count of one class as a threshold measures it: `slow` cannot be measured while
    /// some keys' time against the objective is undetermined (nothing passes unobserved).
    fn measure(&self, class: LedgerClass) -> Option<u64> {
        let undetermined = self.objective.map_or(0, |o| o.undetermined);
        if class == LedgerClass::Slow && undetermined > 0 {
            return None;
        }
        Some(self.count(class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_is_unmeasured_while_the_objective_is_undetermined() {
        let mut summary = LedgerSummary::default();
        summary.counts.insert(LedgerClass::Slow, 0);
        assert_eq!(summary.measure(LedgerClass::Slow), Some(0));
        summary.objective = Some(ObjectiveSummary {
            met: 3,
            slow: 0,
            undetermined: 1,
        });
        assert_eq!(summary.measure(LedgerClass::Slow), None);
        assert_eq!(summary.measure(LedgerClass::Lost), Some(0));
    }

    #[test]
    fn figures_say_only_what_there_is() {
        let mut summary = LedgerSummary::default();
        assert!(summary.figures().is_empty());
        summary.counts.insert(LedgerClass::Stuck, 2);
        summary.stuck_subtypes.orphaned = 2;
        summary.attempts = Some(Distribution {
            count: 4,
            p50: 1.0,
            p95: 2.0,
            p99: 2.0,
            max: 2.5,
        });
        assert_eq!(
            summary.figures(),
            [
                "stuck by subtype: never_started 0, orphaned 2, retry_loop 0, unspecified 0",
                "attempts per job: p50 1, p95 2, p99 2, max 2.5 (n=4)"
            ]
        );
    }

    #[test]
    fn a_summary_without_the_new_fields_still_reads() {
        let old = r#"{"tracked": 1, "counts": {"ok": 1}, "examples": {}, "settled": true}"#;
        let summary: LedgerSummary = serde_json::from_str(old).unwrap();
        assert_eq!(summary.count(LedgerClass::Ok), 1);
        assert_eq!(summary.stuck_subtypes, StuckSubtypes::default());
    }
}
