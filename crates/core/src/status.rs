//! Check statuses, the run verdict and the exit-code contract (DESIGN section 2).
//!
//! These three are a public contract: `report.json` carries them, CI systems branch on the exit
//! code, and integration tests assert both.

use serde::{Deserialize, Serialize};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// It ran and every expectation held, with the evidence recorded.
    Pass,
    /// It ran and an expectation did not hold; the reason says which, with witnesses.
    Fail,
    /// A prerequisite failed (unreachable, auth rejected, missing variable); the reason says how to fix it.
    Blocked,
    /// It ran, but the evidence cannot decide (unproven fault, unresolved ledger operations, or an
    /// interrupted run).
    Inconclusive,
    /// Not selected, or not applicable, with the reason.
    Skipped,
}

impl Status {
    /// The upper-case name used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Blocked => "BLOCKED",
            Status::Inconclusive => "INCONCLUSIVE",
            Status::Skipped => "SKIPPED",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Every required check passed (or was skipped with a reason).
    Go,
    /// At least one required check failed.
    #[serde(rename = "NO-GO")]
    NoGo,
    /// No required check failed, but at least one is BLOCKED or INCONCLUSIVE.
    Incomplete,
    /// The run was interrupted (Ctrl-C, SIGTERM), stopped by a safety rule or a plan bound, or a
    /// write of its evidence failed (which makes it ABORTED whatever the checks say).
    Aborted,
}

impl Verdict {
    /// The verdict's name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Go => "GO",
            Verdict::NoGo => "NO-GO",
            Verdict::Incomplete => "INCOMPLETE",
            Verdict::Aborted => "ABORTED",
        }
    }

    /// The process exit code for this verdict: 0 GO, 1 NO-GO, 3 INCOMPLETE, 4 ABORTED.
    /// (2 is reserved for usage, plan and internal errors.)
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Go => 0,
            Verdict::NoGo => 1,
            Verdict::Incomplete => 3,
            Verdict::Aborted => 4,
        }
    }

    /// Decide the verdict from the statuses of the required checks, following DESIGN section 2:
    /// any FAIL gives NO-GO; else any BLOCKED or INCONCLUSIVE gives INCOMPLETE; else an interrupted
    /// run gives ABORTED; else GO.
    pub fn decide<I: IntoIterator<Item = Status>>(required: I, interrupted: bool) -> Verdict {
        let mut incomplete = false;
        for status in required {
            match status {
                Status::Fail => return Verdict::NoGo,
                Status::Blocked | Status::Inconclusive => incomplete = true,
                Status::Pass | Status::Skipped => {}
            }
        }
        if incomplete {
            Verdict::Incomplete
        } else if interrupted {
            Verdict::Aborted
        } else {
            Verdict::Go
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exit code for usage errors, plan errors and internal errors.
pub const EXIT_ERROR: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_beats_everything() {
        let v = Verdict::decide([Status::Pass, Status::Blocked, Status::Fail], true);
        assert_eq!(v, Verdict::NoGo);
        assert_eq!(v.exit_code(), 1);
    }

    #[test]
    fn blocked_or_inconclusive_is_incomplete() {
        assert_eq!(
            Verdict::decide([Status::Pass, Status::Blocked], false),
            Verdict::Incomplete
        );
        assert_eq!(
            Verdict::decide([Status::Inconclusive], true),
            Verdict::Incomplete
        );
    }

    #[test]
    fn interrupted_clean_run_is_aborted_and_clean_run_is_go() {
        assert_eq!(Verdict::decide([Status::Pass], true), Verdict::Aborted);
        assert_eq!(
            Verdict::decide([Status::Pass, Status::Skipped], false),
            Verdict::Go
        );
        assert_eq!(Verdict::Aborted.exit_code(), 4);
    }
}
