//! The detection matrix: every seeded defect of the testbed, run through the demo plan (the part
//! of it that exercises the defect, selected with `--only`), must end with the expected verdict
//! and the expected check failing for the expected reason. The clean testbed must give GO five
//! times in a row, so the checks raise no false alarms. `docs/detection.md` is generated from
//! [`CASES`]: `UPDATE_DETECTION_DOCS=1 cargo test -p shakedown --test integration detection::docs`.

use std::path::Path;
use std::time::Duration;

use crate::run::{assert_schema_valid, finish, report_json, shakedown};

/// One row of the matrix.
struct Case {
    /// The testbed defect.
    defect: &'static str,
    /// The invariant it breaks, in words.
    breaks: &'static str,
    /// The demo checks that run (`--only`).
    only: &'static str,
    /// The check that must catch it.
    check: &'static str,
    /// That check's status.
    status: &'static str,
    /// The run's verdict.
    verdict: &'static str,
    /// Text the check's reason must contain.
    reason: &'static str,
}

const CASES: &[Case] = &[
    Case {
        defect: "lose-acked",
        breaks: "acknowledged work survives an API restart",
        only: "C2",
        check: "C2",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "lost == 0",
    },
    Case {
        defect: "duplicate-results",
        breaks: "a job completes exactly once",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "duplicates == 0",
    },
    Case {
        defect: "stuck-on-restart",
        breaks: "work orphaned by a killed worker is re-claimed",
        only: "C1",
        check: "C1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "stuck == 0",
    },
    Case {
        defect: "corrupt-artifact",
        breaks: "every package's files match its manifest",
        only: "L1,REP",
        check: "REP",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "but the manifest says",
    },
    Case {
        defect: "wrong-bucket",
        breaks: "nothing is written outside the allowed bucket",
        only: "L1,BUCKET",
        check: "BUCKET",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "in bucket shakedown-artifacts-other, outside shakedown-artifacts/runs/",
    },
    Case {
        defect: "sse-gap",
        breaks: "an SSE resume starts right after Last-Event-ID",
        only: "L3",
        check: "L3",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "missing event ids",
    },
    Case {
        defect: "ws-early-close",
        breaks: "the agent WebSocket delivers its five events",
        only: "GOLDEN",
        check: "GOLDEN",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "closed-early: server sent close 1000 (normal) right after connect",
    },
    Case {
        defect: "ws-duplicate-final",
        breaks: "the agent WebSocket sends each event once, its final one included",
        only: "GOLDEN",
        check: "GOLDEN",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "duplicate(answer): answer (event 6 of 6) arrived a second time",
    },
    Case {
        defect: "slow-under-load",
        breaks: "latency holds under concurrency",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "p(95) < 5000ms",
    },
    Case {
        defect: "ops-key-mismatch",
        breaks: "the operator credentials work (found at preflight, before any load)",
        only: "L2",
        check: "L2",
        status: "BLOCKED",
        verdict: "INCOMPLETE",
        reason: "rejected its credentials",
    },
    Case {
        defect: "canary-reused-id",
        breaks: "each call to the external dependency has its own provenance",
        only: "CANARY",
        check: "CANARY",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "repeats the request_id of call 1",
    },
    Case {
        defect: "status-regresses",
        breaks: "a finished job stays finished",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "state_regression ==",
    },
    Case {
        defect: "status-conflicts",
        breaks: "a job ends one way",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "conflicting_terminal ==",
    },
    Case {
        defect: "commit-then-500",
        breaks: "a submit answered 500 left no work behind, or its work is done",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "stuck == 0",
    },
    Case {
        defect: "shared-id",
        breaks: "each key gets a job of its own",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "collision ==",
    },
    Case {
        defect: "brief-regression",
        breaks: "a finished job stays finished, even for half a second",
        only: "L1",
        check: "L1",
        status: "FAIL",
        verdict: "NO-GO",
        reason: "state_regression ==",
    },
];

fn demo(out: &Path, defect: Option<&str>, only: Option<&str>) -> serde_json::Value {
    let mut command = shakedown();
    command
        .arg("demo")
        .arg("--out")
        .arg(out)
        .arg("--no-progress");
    if let Some(defect) = defect {
        command.args(["--defect", defect]);
    }
    if let Some(only) = only {
        command.args(["--only", only]);
    }
    let outcome = finish(command, Duration::from_secs(240));
    let report = report_json(out);
    assert_schema_valid(&report);
    assert_eq!(
        report["exit_code"], outcome.code,
        "the exit code is the report's: {}",
        outcome.stderr
    );
    report
}

#[test]
fn every_defect_is_caught_by_its_check_for_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut misses = Vec::new();
    for case in CASES {
        let report = demo(
            &dir.path().join(case.defect),
            Some(case.defect),
            Some(case.only),
        );
        let check = report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == case.check))
            .unwrap_or_else(|| panic!("{}: no check {}", case.defect, case.check));
        let reason = check["reason"].as_str().unwrap_or_default();
        let text = format!("{check}");
        if report["verdict"] != case.verdict
            || check["status"] != case.status
            || !(reason.contains(case.reason) || text.contains(case.reason))
        {
            misses.push(format!(
                "{}: expected {} {} with {:?}, got verdict {} and {} {}: {reason}",
                case.defect,
                case.check,
                case.status,
                case.reason,
                report["verdict"],
                case.check,
                check["status"]
            ));
        }
    }
    assert!(
        misses.is_empty(),
        "defects not caught:\n{}",
        misses.join("\n")
    );
}

#[test]
fn the_matrix_covers_every_defect_of_the_testbed() {
    let covered: Vec<&str> = CASES.iter().map(|c| c.defect).collect();
    for defect in testbed::defects::Defect::ALL {
        assert!(
            covered.contains(&defect.name()),
            "the detection matrix has no case for {}",
            defect.name()
        );
    }
}

#[test]
fn the_clean_testbed_is_go_five_times_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 1..=5 {
        let report = demo(&dir.path().join(format!("clean-{attempt}")), None, None);
        let failing: Vec<String> = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] != "PASS")
            .map(|c| format!("{} {}: {}", c["id"], c["status"], c["reason"]))
            .collect();
        assert_eq!(
            report["verdict"], "GO",
            "clean run {attempt} of 5 raised a false alarm: {failing:?}"
        );
    }
}

/// `docs/detection.md`, from [`CASES`].
fn render() -> String {
    let mut out = String::from(
        "# The detection matrix\n\n\
         Every seeded defect of the testbed must be caught by the check that exists for it, for \
         the reason it exists for, and the clean testbed must give GO five times in a row. The \
         integration test `detection` runs this table: each row is `shakedown demo --defect \
         DEFECT --only CHECKS`, and the run must end with the verdict shown, the check with the \
         status shown, and its reason (or its evidence) containing the text shown. This file is \
         generated from the test's cases \
         (`UPDATE_DETECTION_DOCS=1 cargo test -p shakedown --test integration detection::docs`).\n\n\
         | defect | what it breaks | checks run | caught by | status | verdict | reason or evidence contains |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for c in CASES {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | **{}** | {} | {} | `{}` |\n",
            c.defect, c.breaks, c.only, c.check, c.status, c.verdict, c.reason
        ));
    }
    out.push_str(
        "\nClean: `shakedown demo` (every check) gives GO in each of 5 runs in a row \
         (`detection::the_clean_testbed_is_go_five_times_in_a_row`).\n",
    );
    out
}

#[test]
fn docs_match_the_cases() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/detection.md");
    let want = render();
    if std::env::var_os("UPDATE_DETECTION_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/detection.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/detection.md is out of date: run UPDATE_DETECTION_DOCS=1 cargo test -p shakedown --test integration detection::docs"
    );
}
