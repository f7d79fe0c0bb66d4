//! The run model: what a client submits, the states a run moves through, and the JSON view of a
//! run that the API returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339_ms;

/// The number of work steps when `params.steps` is absent.
pub const DEFAULT_STEPS: u64 = 3;
/// The largest number of work steps a run may ask for; larger values are capped.
pub const MAX_STEPS: u64 = 50;

/// What kind of work a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A simulation.
    Simulate,
    /// A calibration.
    Calibrate,
    /// An autotune sweep.
    Autotune,
    /// An export.
    Export,
}

impl RunKind {
    /// Every kind.
    pub const ALL: [RunKind; 4] = [
        RunKind::Simulate,
        RunKind::Calibrate,
        RunKind::Autotune,
        RunKind::Export,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Simulate => "simulate",
            RunKind::Calibrate => "calibrate",
            RunKind::Autotune => "autotune",
            RunKind::Export => "export",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of [`RunKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}; valid kinds are: simulate, calibrate, autotune, export")]
pub struct UnknownKind(pub String);

impl FromStr for RunKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Accepted, waiting for a worker.
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Finished, with a result and a package.
    Completed,
    /// Finished without a result.
    Failed,
}

impl RunStatus {
    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    /// Whether the run will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
    }
}

/// A status name that the database should never hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run id (a UUID).
    pub id: String,
    /// The client's idempotency key.
    pub key: String,
    /// The kind of work.
    pub kind: RunKind,
    /// The parameters (a JSON object).
    pub params: serde_json::Value,
    /// The current status.
    pub status: RunStatus,
    /// How many times a worker claimed it.
    pub attempts: i64,
    /// The boot id of the worker whose result completed it.
    pub completed_by: Option<String>,
    /// How many completion results are recorded (1 for a completed run).
    pub result_count: i64,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

impl RunRecord {
    /// The number of work steps, from `params.steps` (default 3, capped at [`MAX_STEPS`]).
    pub fn steps(&self) -> u64 {
        self.params
            .get("steps")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(DEFAULT_STEPS)
            .clamp(1, MAX_STEPS)
    }

    /// Whether the client asked for the run to fail (`params.fail = true`).
    pub fn should_fail(&self) -> bool {
        self.params
            .get("fail")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// The JSON view returned by the API.
    pub fn view(&self, bucket: &str) -> RunView {
        RunView {
            id: self.id.clone(),
            key: self.key.clone(),
            kind: self.kind,
            status: self.status,
            attempts: self.attempts,
            completed_by: self.completed_by.clone(),
            artifact_prefix: artifact_prefix(bucket, &self.id),
            result_count: self.result_count,
            created_at: rfc3339_ms(self.created_at),
            updated_at: rfc3339_ms(self.updated_at),
        }
    }
}

/// The prefix of a run's package: `<bucket>/runs/<id>/`.
pub fn artifact_prefix(bucket: &str, run_id: &str) -> String {
    format!("{bucket}/runs/{run_id}/")
}

/// The run object of the HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// The run id.
    pub id: String,
    /// The idempotency key it was submitted with.
    pub key: String,
    /// The kind of work.
    pub kind: RunKind,
    /// The current status.
    pub status: RunStatus,
    /// How many times a worker claimed it.
    pub attempts: i64,
    /// The boot id of the worker that completed it.
    pub completed_by: Option<String>,
    /// Where its package lives: `<bucket>/runs/<id>/`.
    pub artifact_prefix: String,
    /// How many completion results are recorded.
    pub result_count: i64,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(params: serde_json::Value) -> RunRecord {
        RunRecord {
            id: "r".into(),
            key: "k".into(),
            kind: RunKind::Export,
            params,
            status: RunStatus::Queued,
            attempts: 0,
            completed_by: None,
            result_count: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn steps_default_and_cap() {
        assert_eq!(record(serde_json::json!({})).steps(), DEFAULT_STEPS);
        assert_eq!(record(serde_json::json!({"steps": 7})).steps(), 7);
        assert_eq!(
            record(serde_json::json!({"steps": 10_000})).steps(),
            MAX_STEPS
        );
        assert_eq!(record(serde_json::json!({"steps": 0})).steps(), 1);
    }

    #[test]
    fn kinds_and_statuses_parse() {
        assert_eq!("export".parse::<RunKind>(), Ok(RunKind::Export));
        assert!(
            "bake"
                .parse::<RunKind>()
                .unwrap_err()
                .to_string()
                .contains("simulate")
        );
        assert_eq!("failed".parse::<RunStatus>(), Ok(RunStatus::Failed));
    }
}
