//! The ledger spec: what the checker needs from the plan, saved next to the history as
//! `ledger-spec.json` so that `shakedown check RUN_DIR` can classify a saved history offline,
//! with no plan, no environment variables and no secrets.
//!
//! It holds, per tracked step, the states that are terminal, successful and started, the
//! attempt bound and the time objective, and (for people) the JSONPaths the reads used; plus the
//! settle timing. The checker reads only this, live and offline, so both give the same answer.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ledger::record::JobView;
use shakedown_plan::model::{Plan, StepKind, Track};

/// The spec's file name in the run directory.
pub const LEDGER_SPEC: &str = "ledger-spec.json";
/// The spec format's version; bump it on any incompatible change.
pub const SPEC_VERSION: u32 = 1;

/// Everything the checker needs to classify a history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerSpec {
    /// Version of this format.
    pub spec_version: u32,
    /// The plan's name (for people).
    #[serde(default)]
    pub plan: String,
    /// How settle polled.
    #[serde(default)]
    pub settle: SettleRules,
    /// One entry per tracked step of the plan.
    #[serde(default)]
    pub tracks: Vec<TrackRules>,
}

/// The settle timing the run used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleRules {
    /// The settle deadline, in milliseconds.
    pub timeout_ms: u64,
    /// The pause between polling rounds, in milliseconds.
    pub interval_ms: u64,
}

/// How the jobs of one track step are judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackRules {
    /// The scenario holding the track step.
    pub scenario: String,
    /// The index of the track step in the scenario.
    pub step: usize,
    /// JSONPath of the job list in a read (for people: the history already holds the jobs).
    pub items: String,
    /// JSONPath of a job's state.
    pub state: String,
    /// JSONPath of a job's result count, if any.
    pub results: Option<String>,
    /// JSONPath of a job's attempt count, if any.
    pub attempts: Option<String>,
    /// JSONPath of a job's progress marker, if any.
    pub updated: Option<String>,
    /// Terminal states.
    pub terminal: Vec<String>,
    /// Terminal states that are success.
    pub success: Vec<String>,
    /// Non-terminal states in which a worker holds the job.
    pub started: Vec<String>,
    /// More attempts than this is a retry loop.
    pub max_attempts: Option<u64>,
    /// The time objective from submit to terminal, in milliseconds.
    pub objective_ms: Option<u64>,
}

/// What the jobs of one read mean for an acknowledged key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// No job.
    Absent,
    /// More than one job, or a job that reports more than one result.
    Duplicates,
    /// One job, not in a terminal state (or with no state).
    NonTerminal,
    /// One job, terminal and successful.
    Succeeded,
    /// One job, terminal in a failure state.
    Failed,
}

impl TrackRules {
    /// The rules of one track step.
    pub fn from_track(scenario: &str, step: usize, track: &Track) -> TrackRules {
        TrackRules {
            scenario: scenario.to_string(),
            step,
            items: track.items.to_string(),
            state: track.state.to_string(),
            results: track.results.as_ref().map(ToString::to_string),
            attempts: track.oracle.attempts.as_ref().map(ToString::to_string),
            updated: track.oracle.updated.as_ref().map(ToString::to_string),
            terminal: track.terminal.clone(),
            success: track.success.clone(),
            started: track.oracle.started.clone(),
            max_attempts: track.oracle.max_attempts,
            objective_ms: track.oracle.objective.map(millis),
        }
    }

    /// Whether `state` is terminal (success states count as terminal).
    pub fn is_terminal(&self, state: Option<&str>) -> bool {
        state.is_some_and(|s| self.terminal.iter().any(|t| t == s) || self.is_success(Some(s)))
    }

    /// Whether `state` is a success state.
    pub fn is_success(&self, state: Option<&str>) -> bool {
        state.is_some_and(|s| self.success.iter().any(|t| t == s))
    }

    /// Whether `state` is one in which a worker holds the job.
    pub fn is_started(&self, state: Option<&str>) -> bool {
        state.is_some_and(|s| self.started.iter().any(|t| t == s))
    }

    /// Whether the reads tell anything about progress (an attempt count or a progress marker).
    pub fn tracks_progress(&self) -> bool {
        self.attempts.is_some() || self.updated.is_some()
    }

    /// Judge a read's jobs: the full count, and the jobs it recorded.
    pub fn assess(&self, jobs: u64, items: &[JobView]) -> Assessment {
        if jobs == 0 {
            return Assessment::Absent;
        }
        if jobs > 1 || items.iter().any(|j| j.results.is_some_and(|n| n > 1)) {
            return Assessment::Duplicates;
        }
        let state = items.first().and_then(|j| j.state.as_deref());
        if self.is_success(state) {
            Assessment::Succeeded
        } else if self.is_terminal(state) {
            Assessment::Failed
        } else {
            Assessment::NonTerminal
        }
    }
}

impl LedgerSpec {
    /// The spec of every tracked step of `plan`.
    pub fn from_plan(plan: &Plan) -> LedgerSpec {
        let mut tracks = Vec::new();
        for (name, scenario) in &plan.scenarios {
            for (index, step) in scenario.steps.iter().enumerate() {
                if let StepKind::Http(http) = &step.kind
                    && let Some(track) = &http.track
                {
                    tracks.push(TrackRules::from_track(name, index, track));
                }
            }
        }
        LedgerSpec {
            spec_version: SPEC_VERSION,
            plan: plan.name.clone(),
            settle: SettleRules {
                timeout_ms: millis(plan.settle.timeout),
                interval_ms: millis(plan.settle.interval),
            },
            tracks,
        }
    }

    /// The position in `tracks` of the rules of step `step` of `scenario`.
    pub fn position(&self, scenario: &str, step: usize) -> Option<usize> {
        self.tracks
            .iter()
            .position(|t| t.scenario == scenario && t.step == step)
    }

    /// The spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Read `ledger-spec.json`.
    pub fn load(path: &Path) -> Result<LedgerSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let spec: LedgerSpec = serde_json::from_str(&text).map_err(|source| SpecError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        if spec.spec_version != SPEC_VERSION {
            return Err(SpecError::Version {
                path: path.display().to_string(),
                found: spec.spec_version,
            });
        }
        Ok(spec)
    }
}

/// Why `ledger-spec.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// It cannot be read (usually: it does not exist).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// It is not a ledger spec.
    #[error("{path} is not a ledger spec: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// It was written by an incompatible version.
    #[error("{path} has spec_version {found}; this shakedown reads version {SPEC_VERSION}")]
    Version {
        /// The file.
        path: String,
        /// The version it has.
        found: u32,
    },
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures;

    #[test]
    fn the_spec_holds_every_track_step_and_round_trips() {
        let plan = fixtures::plan(fixtures::settle_config(1500, 20));
        let spec = LedgerSpec::from_plan(&plan);
        assert_eq!(spec.tracks.len(), 1);
        let rules = &spec.tracks[0];
        assert_eq!(
            (rules.scenario.as_str(), rules.step),
            (fixtures::SCENARIO, fixtures::STEP)
        );
        assert_eq!(rules.items, "$.runs[*]");
        assert_eq!(rules.results.as_deref(), Some("$.result_count"));
        assert_eq!(spec.settle.interval_ms, 20);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEDGER_SPEC);
        std::fs::write(&path, spec.to_json()).unwrap();
        assert_eq!(LedgerSpec::load(&path).unwrap(), spec);
        assert_eq!(spec.position(fixtures::SCENARIO, fixtures::STEP), Some(0));
        assert_eq!(spec.position(fixtures::SCENARIO, 0), None);
    }

    #[test]
    fn a_spec_of_another_version_or_shape_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEDGER_SPEC);
        std::fs::write(&path, r#"{"spec_version": 99}"#).unwrap();
        let err = LedgerSpec::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("spec_version 99") && err.contains(LEDGER_SPEC),
            "{err}"
        );
        std::fs::write(&path, "[1, 2]").unwrap();
        let err = LedgerSpec::load(&path).unwrap_err().to_string();
        assert!(err.contains("is not a ledger spec"), "{err}");
        let missing = LedgerSpec::load(&dir.path().join("nope.json")).unwrap_err();
        assert!(matches!(missing, SpecError::Read { .. }));
    }

    #[test]
    fn one_job_is_judged_by_its_state() {
        let rules = TrackRules {
            terminal: vec!["completed".into(), "failed".into()],
            success: vec!["completed".into()],
            ..TrackRules::default()
        };
        let job = |state: &str, results: u64| JobView {
            id: Some("r".into()),
            state: Some(state.into()),
            results: Some(results),
            ..JobView::default()
        };
        assert_eq!(rules.assess(0, &[]), Assessment::Absent);
        assert_eq!(
            rules.assess(1, &[job("completed", 1)]),
            Assessment::Succeeded
        );
        assert_eq!(rules.assess(1, &[job("failed", 0)]), Assessment::Failed);
        assert_eq!(
            rules.assess(1, &[job("running", 0)]),
            Assessment::NonTerminal
        );
        assert_eq!(
            rules.assess(1, &[job("completed", 2)]),
            Assessment::Duplicates
        );
        assert_eq!(
            rules.assess(2, &[job("completed", 1), job("completed", 1)]),
            Assessment::Duplicates
        );
    }
}
