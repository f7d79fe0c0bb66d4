//! Seeded defects: each one breaks exactly one property that shakedown checks, so that every
//! check can be shown to fail against the testbed.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One seeded defect, switched on with `--defect NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Defect {
    /// The API acknowledges runs before they are durable and loses them on restart.
    LoseAcked,
    /// Completion is not idempotent: a redelivered completion records a second result.
    DuplicateResults,
    /// Leases never expire: a run whose worker died stays `running` forever.
    StuckOnRestart,
    /// One file of every package does not match its manifest.
    CorruptArtifact,
    /// One run in five writes its package under another bucket (`<bucket>-other`).
    WrongBucket,
    /// A resume with `Last-Event-ID` skips the next event.
    SseGap,
    /// The WebSocket closes with code 1000 right after the handshake.
    WsEarlyClose,
    /// The agent WebSocket sends its final event (the answer) twice.
    WsDuplicateFinal,
    /// Each request's latency grows steeply with the number of requests in flight.
    SlowUnderLoad,
    /// The ops endpoints reject the configured key.
    OpsKeyMismatch,
    /// The canary caches its first provenance: every call returns the same `request_id`.
    CanaryReusedId,
    /// A completed run, once reported `completed`, reads as `running` afterwards.
    StatusRegresses,
    /// A completed run, once reported `completed`, reads as `failed` afterwards.
    StatusConflicts,
    /// Every 4th run created by an API process, starting with its 2nd (runs #2, #6, #10, ...),
    /// is committed but never dispatched: the submission answers 500 without a run id, and the
    /// run reads as `queued` forever (no worker claims it). A replay with the same
    /// `Idempotency-Key` returns it (200, `queued`).
    #[serde(rename = "commit-then-500")]
    CommitThen500,
    /// Every 5th new idempotency key seen by an API process, starting with its 3rd (keys #3, #8,
    /// #13, ...), is answered 201 with the run created just before (its id and key), and no run
    /// is created; reads by the new key list that run too.
    SharedId,
    /// A completed run reads as `running` from 300 ms until 800 ms after its completion
    /// (`updated_at`), and `completed` before and after, on every read.
    BriefRegression,
}

impl Defect {
    /// Every defect, in a stable order.
    pub const ALL: [Defect; 16] = [
        Defect::LoseAcked,
        Defect::DuplicateResults,
        Defect::StuckOnRestart,
        Defect::CorruptArtifact,
        Defect::WrongBucket,
        Defect::SseGap,
        Defect::WsEarlyClose,
        Defect::WsDuplicateFinal,
        Defect::SlowUnderLoad,
        Defect::OpsKeyMismatch,
        Defect::CanaryReusedId,
        Defect::StatusRegresses,
        Defect::StatusConflicts,
        Defect::CommitThen500,
        Defect::SharedId,
        Defect::BriefRegression,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Defect::LoseAcked => "lose-acked",
            Defect::DuplicateResults => "duplicate-results",
            Defect::StuckOnRestart => "stuck-on-restart",
            Defect::CorruptArtifact => "corrupt-artifact",
            Defect::WrongBucket => "wrong-bucket",
            Defect::SseGap => "sse-gap",
            Defect::WsEarlyClose => "ws-early-close",
            Defect::WsDuplicateFinal => "ws-duplicate-final",
            Defect::SlowUnderLoad => "slow-under-load",
            Defect::OpsKeyMismatch => "ops-key-mismatch",
            Defect::CanaryReusedId => "canary-reused-id",
            Defect::StatusRegresses => "status-regresses",
            Defect::StatusConflicts => "status-conflicts",
            Defect::CommitThen500 => "commit-then-500",
            Defect::SharedId => "shared-id",
            Defect::BriefRegression => "brief-regression",
        }
    }

    /// The valid names, comma-separated, for error messages.
    pub fn valid_names() -> String {
        Defect::ALL.map(Defect::name).join(", ")
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A defect name that is not one of [`Defect::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown defect {name:?}; valid defects are: {}",
    Defect::valid_names()
)]
pub struct UnknownDefect {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Defect::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| UnknownDefect { name: s.to_owned() })
    }
}

/// The set of defects a process runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefectSet(BTreeSet<Defect>);

impl DefectSet {
    /// A set holding the given defects.
    pub fn new(defects: impl IntoIterator<Item = Defect>) -> DefectSet {
        DefectSet(defects.into_iter().collect())
    }

    /// Whether `defect` is switched on.
    pub fn has(&self, defect: Defect) -> bool {
        self.0.contains(&defect)
    }

    /// The defects, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Defect> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for defect in Defect::ALL {
            assert_eq!(defect.name().parse::<Defect>(), Ok(defect));
            let json = serde_json::to_value(defect).unwrap();
            assert_eq!(json, serde_json::json!(defect.name()));
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "lose-everything".parse::<Defect>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("lose-everything"), "{message}");
        for defect in Defect::ALL {
            assert!(message.contains(defect.name()), "{message}");
        }
    }
}
