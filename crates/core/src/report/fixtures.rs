//! Reports built for tests: small ones for the verdict rules, and one realistic, fixed report
//! (fixed timestamps and version) that the exporter snapshots and the schema test use.

// The summaries belong to other modules and will grow: `..Default::default()` keeps this
// fixture compiling when they do, even where every field is set today.
#![allow(clippy::needless_update)]

use std::collections::BTreeMap;

use crate::check::{CheckKind, TargetCheck, ThresholdResult};
use crate::ledger::summary::{LedgerExample, LedgerSummary};
use crate::metrics::summary::{
    ErrorCluster, GaugeSummary, LatencySummary, LoadSummary, StepSummary,
};
use crate::report::model::{CheckReport, Phase, Report, RunInfo, SCHEMA_VERSION, ToolInfo};
use crate::status::{Status, Verdict};
use shakedown_plan::model::LedgerClass;

/// A required load check with a status and nothing else.
pub fn check(id: &str, status: Status) -> CheckReport {
    CheckReport {
        status,
        ..CheckReport::not_run(id, &format!("check {id}"), CheckKind::Load, true, "")
    }
}

/// A preflight result with a status and nothing else.
pub fn target(name: &str, status: Status) -> TargetCheck {
    TargetCheck {
        target: name.into(),
        url: "http://127.0.0.1:8080".into(),
        status,
        reason: String::new(),
        hint: None,
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        id: "run-0001".into(),
        plan: "testbed-demo".into(),
        plan_path: "examples/demo.toml".into(),
        environment: "local".into(),
        seed: 42,
        started_at: "2026-01-02T03:04:05.000Z".into(),
        finished_at: Some("2026-01-02T03:04:52.250Z".into()),
        phase: Phase::Complete,
        interrupted: false,
        stop_reason: None,
        write_failure: None,
        watch: None,
    }
}

/// A finished, uninterrupted report with these results; its verdict is not decided yet.
pub fn report_with(preflight: Vec<TargetCheck>, checks: Vec<CheckReport>) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "shakedown".into(),
            version: "0.1.0".into(),
        },
        run: run_info(),
        verdict: Verdict::Go,
        exit_code: 0,
        reasons: Vec::new(),
        preflight,
        checks,
    }
}

fn latency(p50: f64, p95: f64, p99: f64, count: u64) -> LatencySummary {
    LatencySummary {
        count,
        min: p50 / 4.0,
        mean: (p50 + p95) / 2.0,
        p50,
        p90: (p50 + p95) / 2.0,
        p95,
        p99,
        max: p99 * 1.5,
        ..Default::default()
    }
}

fn step(name: &str, requests: u64, failures: u64, lat: LatencySummary) -> StepSummary {
    let mut status_classes = BTreeMap::new();
    status_classes.insert("2xx".to_string(), requests - failures);
    if failures > 0 {
        status_classes.insert("5xx".to_string(), failures);
    }
    StepSummary {
        step: name.into(),
        requests,
        failures,
        errors: 0,
        status_classes,
        latency_ms: lat,
        ..Default::default()
    }
}

fn threshold(expression: &str, measured: Option<f64>, unit: &str, passed: bool) -> ThresholdResult {
    ThresholdResult {
        expression: expression.into(),
        measured,
        unit: unit.into(),
        passed,
        default: false,
    }
}

fn ledger_l1() -> LedgerSummary {
    let mut counts = BTreeMap::new();
    counts.insert(LedgerClass::Ok, 58);
    counts.insert(LedgerClass::Lost, 2);
    counts.insert(LedgerClass::Duplicates, 0);
    counts.insert(LedgerClass::Stuck, 0);
    counts.insert(LedgerClass::Unknown, 0);
    let mut examples = BTreeMap::new();
    examples.insert(
        LedgerClass::Lost,
        vec![
            LedgerExample {
                key: "5f0c1a9e-7d1b-4c55-9d0e-2a6f1b9c3d01".into(),
                why: "acknowledged with id run-17 (201), absent from every final read".into(),
                witnesses: vec![34, 35, 212],
            },
            LedgerExample {
                key: "a4e3b2c1-0f9e-4d8c-b7a6-958473625140".into(),
                why: "acknowledged with id run-41 (201), absent from every final read".into(),
                witnesses: vec![80, 81, 214],
            },
        ],
    );
    LedgerSummary {
        tracked: 60,
        counts,
        examples,
        settled: true,
        ..Default::default()
    }
}

/// The realistic report: L1 FAIL on latency with lost keys and an error cluster, L2 BLOCKED at
/// preflight with a hint, L3 PASS with a gauge, L4 SKIPPED, one optional PASS, and markup
/// characters in the places that exporters must escape.
pub fn sample_report() -> Report {
    let l1 = CheckReport {
        status: Status::Fail,
        reason: "p(95) < 5000ms: measured 6120.4ms; lost == 0: measured 2".into(),
        metrics: Some(LoadSummary {
            requests: 180,
            failures: 2,
            errors: 0,
            iterations: 60,
            failed_iterations: 2,
            duration_ms: 14_250.0,
            requests_per_second: 12.63,
            latency_ms: latency(850.25, 6120.43, 7400.0, 180),
            steps: vec![
                step("login", 60, 0, latency(12.5, 30.0, 41.0, 60)),
                step("create", 60, 2, latency(2400.0, 6500.0, 7400.0, 60)),
                step("fetch", 60, 0, latency(8.0, 19.5, 25.0, 60)),
            ],
            gauges: BTreeMap::new(),
            error_clusters: vec![ErrorCluster {
                signature: "5xx POST create: 502 Bad Gateway | upstream".into(),
                count: 2,
                example: "502 <html><body>Bad Gateway & \"upstream\" reset</body></html>".into(),
                share: 2.0 / 180.0,
                first_second: Some(3),
                last_second: Some(11),
                examples: vec![
                    "502 <html><body>Bad Gateway & \"upstream\" reset</body></html>".into(),
                    "502 upstream closed the connection".into(),
                ],
                during_fault: None,
            }],
            ..Default::default()
        }),
        thresholds: vec![
            threshold("count(failures) == 0", Some(2.0), "count", false),
            threshold("p(95) < 5000ms", Some(6120.43), "ms", false),
            threshold("lost == 0", Some(2.0), "count", false),
            threshold("duplicates == 0", Some(0.0), "count", true),
            threshold("stuck == 0", Some(0.0), "count", true),
        ],
        ledger: Some(ledger_l1()),
        ..CheckReport::not_run(
            "L1",
            "Concurrency: 20 concurrent x 3 rounds of create-and-fetch",
            CheckKind::Load,
            true,
            "",
        )
    };
    let l2 = CheckReport {
        status: Status::Blocked,
        reason: "preflight: GET /api/v1/ops/queue returned 401 Unauthorized".into(),
        hint: Some(
            "check secret ops_key (env TESTBED_OPS_KEY): target ops sends it as X-API-Key".into(),
        ),
        ..CheckReport::not_run(
            "L2",
            "Mixed workload: 10 calibrate and 10 autotune at once",
            CheckKind::Load,
            true,
            "",
        )
    };
    let mut gauges = BTreeMap::new();
    gauges.insert(
        "queue_depth".to_string(),
        GaugeSummary {
            samples: 48,
            failed_samples: 1,
            min: Some(0.0),
            max: Some(17.0),
            avg: Some(6.25),
            last: Some(0.0),
            ..Default::default()
        },
    );
    let l3 = CheckReport {
        status: Status::Pass,
        reason: "3 thresholds held over 60 requests".into(),
        metrics: Some(LoadSummary {
            requests: 60,
            failures: 0,
            errors: 0,
            iterations: 20,
            failed_iterations: 0,
            duration_ms: 3_125.0,
            requests_per_second: 19.2,
            latency_ms: latency(4.2, 310.0, 402.5, 60),
            steps: vec![step("events", 20, 0, latency(250.0, 390.0, 402.5, 20))],
            gauges,
            error_clusters: Vec::new(),
            ..Default::default()
        }),
        thresholds: vec![
            threshold("count(failures) == 0", Some(0.0), "count", true),
            threshold("rate(failures) < 0.01", Some(0.0), "ratio", true),
            threshold("max(queue_depth) < 100", Some(17.0), "value", true),
        ],
        ..CheckReport::not_run(
            "L3",
            "Exports while clients read run events",
            CheckKind::Load,
            true,
            "",
        )
    };
    let mut l4 = check("L4", Status::Skipped);
    l4.name = "Soak | 5 minutes".into();
    l4.reason = "not selected (--only L1,L2,L3)".into();
    let mut l5 = check("L5", Status::Pass);
    l5.required = false;
    l5.name = "Optional: health under load".into();
    l5.reason = "1 threshold held over 20 requests".into();

    let mut api = target("api", Status::Pass);
    api.reason = "GET /health returned 200 in 3ms".into();
    let mut ops = target("ops", Status::Blocked);
    ops.reason = "GET /api/v1/ops/queue returned 401 Unauthorized".into();
    ops.hint = l2.hint.clone();

    let mut report = report_with(vec![api, ops], vec![l1, l2, l3, l4, l5]);
    report.decide();
    report
}

/// A sealed run directory in `dir`: the sample report as `report.json`, a plan, and
/// `manifest.json` with the report's verdict.
pub fn sealed_bundle(dir: &std::path::Path) {
    let report = sample_report();
    let run = crate::report::bundle::RunDir::create(dir).expect("run directory");
    let json = serde_json::to_string_pretty(&report).expect("report serialised");
    run.write_file("report.json", &json)
        .expect("report written");
    run.write_file("plan.toml", "[plan]\nname = \"testbed-demo\"\n")
        .expect("plan written");
    let info = crate::report::manifest::SealInfo {
        run_id: Some(report.run.id.clone()),
        started_at: report.run.started_at.clone(),
        finished_at: report.run.finished_at.clone().unwrap_or_default(),
        verdict: Some(report.verdict.to_string()),
        include_hostname: false,
    };
    crate::report::manifest::seal(&run, &info).expect("sealed");
}
