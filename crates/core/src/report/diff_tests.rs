//! Tests of `shakedown diff`: regressions by rule, noise, matching across plans, and output.

use crate::report::diff::*;
use crate::report::fixtures::sample_report;
use crate::report::model::Report;
use crate::status::Status;

fn slower(mut report: Report, factor: f64) -> Report {
    for c in &mut report.checks {
        if let Some(m) = c.metrics.as_mut() {
            m.latency_ms.p95 *= factor;
            for s in &mut m.steps {
                s.latency_ms.p95 *= factor;
            }
        }
    }
    report
}

#[test]
fn a_p95_rise_past_the_rule_is_a_regression() {
    let old = sample_report();
    let new = slower(sample_report(), 1.5);
    let d = diff(("old", &old), ("new", &new), &DiffOptions::default());
    assert!(d.regressed());
    assert!(
        d.regressions
            .iter()
            .any(|r| r.starts_with("L1: p95 6120.4ms -> 9180.6ms (+50.0%)")),
        "{:?}",
        d.regressions
    );
    assert!(
        d.regressions
            .iter()
            .any(|r| r.starts_with("L1 step create: p95"))
    );
    let md = markdown(&d);
    assert!(md.starts_with("## shakedown diff: ❌"), "{md}");
    assert!(
        md.contains("| whole check | p95 | 6120.4ms | 9180.6ms | +50.0% ❌ |"),
        "{md}"
    );
}

#[test]
fn the_same_report_or_a_small_rise_is_not_a_regression() {
    let old = sample_report();
    let d = diff(("a", &old), ("b", &old), &DiffOptions::default());
    assert!(!d.regressed(), "{:?}", d.regressions);
    let d = diff(
        ("a", &old),
        ("b", &slower(sample_report(), 1.05)),
        &DiffOptions::default(),
    );
    assert!(!d.regressed(), "{:?}", d.regressions);
    assert!(markdown(&d).contains("✅ no regression"));
}

#[test]
fn tiny_absolute_changes_are_noise() {
    let mut old = sample_report();
    let mut new = sample_report();
    for r in [&mut old, &mut new] {
        if let Some(m) = r.checks[0].metrics.as_mut() {
            m.steps.clear();
        }
    }
    if let Some(m) = old.checks[0].metrics.as_mut() {
        m.latency_ms.p95 = 0.4;
    }
    if let Some(m) = new.checks[0].metrics.as_mut() {
        m.latency_ms.p95 = 0.9;
    }
    let d = diff(("a", &old), ("b", &new), &DiffOptions::default());
    assert!(!d.regressed(), "{:?}", d.regressions);
}

#[test]
fn different_plans_compare_what_matches_and_list_the_rest() {
    let old = sample_report();
    let mut new = sample_report();
    new.checks.remove(1);
    new.checks[0].id = "L1".into();
    if let Some(m) = new.checks[0].metrics.as_mut() {
        m.steps[0].step = "sign-in".into();
    }
    let mut extra = new.checks[0].clone();
    extra.id = "L9".into();
    new.checks.push(extra);
    let d = diff(("a", &old), ("b", &new), &DiffOptions::default());
    assert_eq!(d.checks_only_in_old, ["L2"]);
    assert_eq!(d.checks_only_in_new, ["L9"]);
    let l1 = &d.checks[0];
    assert_eq!(l1.steps_only_in_old, ["login"]);
    assert_eq!(l1.steps_only_in_new, ["sign-in"]);
    let md = markdown(&d);
    assert!(
        md.contains("Checks only in the old report (not compared): L2"),
        "{md}"
    );
    assert!(md.contains("Steps only in the new report: sign-in"), "{md}");
}

#[test]
fn rules_parse_and_other_metrics_can_gate() {
    assert_eq!(
        Rule::parse("p99=25%"),
        Ok(Rule {
            metric: Metric::P99,
            percent: 25.0
        })
    );
    assert!(Rule::parse("p98=5").unwrap_err().contains("choose one of"));
    assert!(Rule::parse("p95").is_err());
    assert!(Rule::parse("p95=-1").is_err());
    let old = sample_report();
    let mut new = sample_report();
    if let Some(m) = new.checks[0].metrics.as_mut() {
        m.requests_per_second /= 2.0;
    }
    let options = DiffOptions {
        rules: vec![Rule::parse("throughput=20").expect("rule")],
        noise_ms: 1.0,
    };
    let d = diff(("a", &old), ("b", &new), &options);
    assert_eq!(d.regressions.len(), 1, "{:?}", d.regressions);
    assert!(d.regressions[0].contains("throughput"));
}

#[test]
fn a_slower_recovery_is_compared_and_can_gate() {
    use crate::report::fault::FaultSection;
    let with_recovery = |ms: f64| {
        let mut r = sample_report();
        let mut section = FaultSection::default();
        section.recovery.recovery_ms = Some(ms);
        r.checks[0].fault = Some(section);
        r
    };
    let options = DiffOptions {
        rules: vec![Rule::parse("recovery=20%").expect("rule")],
        noise_ms: 1.0,
    };
    let d = diff(
        ("a", &with_recovery(4000.0)),
        ("b", &with_recovery(9000.0)),
        &options,
    );
    assert_eq!(d.regressions, ["L1: recovery 4.0s -> 9.0s (+125.0%)"]);
    let d = diff(
        ("a", &with_recovery(4000.0)),
        ("b", &with_recovery(4200.0)),
        &options,
    );
    assert!(!d.regressed());
}

#[test]
fn a_check_that_stops_passing_is_a_regression() {
    let mut old = sample_report();
    old.checks[1].status = Status::Pass;
    old.checks[1].metrics = old.checks[0].metrics.clone();
    let new = sample_report();
    let d = diff(("a", &old), ("b", &new), &DiffOptions::default());
    assert_eq!(d.regressions, ["L2: status PASS -> BLOCKED"]);
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(
        json["checks"][1]["note"],
        "no measurements in the new report"
    );
}
