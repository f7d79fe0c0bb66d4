//! What the CLI prints on stdout: the end-of-run summary, the verdict line, the dry run and the
//! validation result. Pure functions returning text; the CLI prints them.

use std::fmt::Write as _;
use std::path::Path;

use shakedown_core::report::model::Report;
use shakedown_plan::model::{Executor, Plan, StepKind};

/// One line: the verdict, the exit code and where the report is.
pub fn verdict_line(report: &Report, dir: &Path) -> String {
    format!(
        "verdict: {} (exit {}) report: {}",
        report.verdict,
        report.exit_code,
        dir.join("report.md").display()
    )
}

/// A compact table of the checks, the verdict with its reasons, and the evidence paths.
pub fn summary(report: &Report, dir: &Path) -> String {
    let mut out = String::new();
    for target in &report.preflight {
        // SKIPPED targets have no HTTP probes (e.g. workers run by the process driver).
        if !matches!(
            target.status,
            shakedown_core::status::Status::Pass | shakedown_core::status::Status::Skipped
        ) {
            let _ = writeln!(
                out,
                "preflight {:<10} {:<8} {}",
                target.target, target.status, target.reason
            );
            if let Some(hint) = &target.hint {
                let _ = writeln!(out, "  hint: {hint}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{:<6} {:<12} {:>9} {:>9} {:>10} {:>10}  name",
        "check", "status", "requests", "failures", "p95 ms", "p99 ms"
    );
    for check in &report.checks {
        let (requests, failures, p95, p99) = match &check.metrics {
            Some(m) => (
                m.requests.to_string(),
                m.failures.to_string(),
                format!("{:.1}", m.latency_ms.p95),
                format!("{:.1}", m.latency_ms.p99),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<6} {:<12} {:>9} {:>9} {:>10} {:>10}  {}",
            check.id,
            check.status.as_str(),
            requests,
            failures,
            p95,
            p99,
            check.name
        );
        if check.status != shakedown_core::status::Status::Pass {
            let _ = writeln!(out, "       {}", check.reason);
            if let Some(hint) = &check.hint {
                let _ = writeln!(out, "       hint: {hint}");
            }
        }
    }
    let _ = writeln!(out);
    for reason in &report.reasons {
        let _ = writeln!(out, "- {reason}");
    }
    let _ = writeln!(out, "{}", verdict_line(report, dir));
    out
}

/// What `run --dry-run` prints: every target, test, executor and threshold, and nothing is sent.
pub fn dry_run(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan {} ({:?}, seed {}): dry run, nothing will be sent",
        plan.name, plan.environment, plan.seed
    );
    let _ = writeln!(
        out,
        "bounds: duration {}, requests {}{}",
        humantime::format_duration(plan.limits.duration),
        plan.limits.requests,
        plan.limits
            .rate
            .map(|r| format!(", rate {r}/s"))
            .unwrap_or_default()
    );
    for target in plan.targets.values() {
        let probes = target.health.iter().count() + target.preflight.len();
        let _ = writeln!(
            out,
            "target {}: {} ({probes} preflight probes)",
            target.name,
            shakedown_plan::redact::Redactor::new(&plan.secrets).redact(&target.base_url)
        );
    }
    for test in &plan.load_tests {
        let mix: Vec<String> = test
            .mix
            .iter()
            .map(|m| format!("{} x{}", m.scenario, m.weight))
            .collect();
        let _ = writeln!(
            out,
            "load {} \"{}\": {} over [{}], targets [{}]{}",
            test.id,
            test.name,
            describe_executor(&test.executor),
            mix.join(", "),
            test.targets.iter().cloned().collect::<Vec<_>>().join(", "),
            if test.required { "" } else { " (not required)" }
        );
        for entry in &test.mix {
            if let Some(scenario) = plan.scenarios.get(&entry.scenario) {
                for step in &scenario.steps {
                    let line = match &step.kind {
                        StepKind::Http(http) => format!(
                            "{} {}:{}{}",
                            http.method.as_str(),
                            http.target,
                            http.path.source(),
                            if http.track.is_some() {
                                " (tracked)"
                            } else {
                                ""
                            }
                        ),
                        StepKind::Think { min, max } => format!(
                            "think {}..{}",
                            humantime::format_duration(*min),
                            humantime::format_duration(*max)
                        ),
                        StepKind::Ws(ws) => format!(
                            "ws {}:{} ({} events)",
                            ws.request.target,
                            ws.request.path.source(),
                            ws.expect.events.len()
                        ),
                        StepKind::Sse(sse) => format!(
                            "sse {} {}:{} ({} readers)",
                            sse.request.method.as_str(),
                            sse.request.target,
                            sse.request.path.source(),
                            sse.readers
                        ),
                    };
                    let _ = writeln!(out, "  {}.{}: {line}", entry.scenario, step.name);
                }
            }
        }
        for threshold in &test.thresholds {
            let _ = writeln!(out, "  threshold {}", threshold.source);
        }
    }
    out.push_str(&shakedown_core::faults::dry_run::describe(plan));
    out
}

/// What `validate` prints for a valid plan.
pub fn validated(plan: &Plan) -> String {
    let warnings = match plan.warnings.len() {
        0 => String::new(),
        1 => " (1 warning above)".to_string(),
        n => format!(" ({n} warnings above)"),
    };
    format!(
        "{}: plan {} is valid: {} targets, {} scenarios, {} load tests{warnings}",
        plan.source.display(),
        plan.name,
        plan.targets.len(),
        plan.scenarios.len(),
        plan.load_tests.len()
    )
}

fn describe_executor(executor: &Executor) -> String {
    match executor {
        Executor::Rounds {
            concurrency,
            rounds,
        } => format!("{concurrency} concurrent x {rounds} rounds"),
        Executor::VusDuration { vus, duration } => {
            format!("{vus} VUs for {}", humantime::format_duration(*duration))
        }
        Executor::VusIterations { vus, iterations } => {
            format!("{vus} VUs sharing {iterations} iterations")
        }
        Executor::Arrival(rate) => rate.describe(),
    }
}
