//! What `run --dry-run` says about faults: every controlled target with its driver, and every
//! fault test with each timeline entry, the target it acts on, the recovery criteria and the
//! expectations. Nothing is started or sent.

use std::fmt::Write as _;

use crate::plan::model::Plan;
use crate::plan::model_faults::{DriverSpec, Trigger};

/// The fault part of the dry run.
pub fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    for target in plan.targets.values() {
        let Some(control) = &target.control else {
            continue;
        };
        let how = match &control.driver {
            DriverSpec::Process(p) => format!(
                "process `{}` (started before preflight, stopped at the end)",
                p.command.join(" ")
            ),
            DriverSpec::Exec(e) => format!(
                "exec for {}",
                e.commands
                    .keys()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            DriverSpec::Http(h) => format!(
                "http for {}",
                h.requests
                    .keys()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            DriverSpec::Railway(r) => format!(
                "railway service {} in environment {} (token from secret {})",
                r.service, r.environment, r.token_secret
            ),
        };
        let _ = writeln!(out, "control {}: {how}", target.name);
    }
    for test in &plan.faults.tests {
        let _ = writeln!(
            out,
            "fault {} \"{}\": {} faults, recovery when {} is healthy {} times in a row within {}{}",
            test.id,
            test.name,
            test.timeline.len(),
            test.recovery.probe.describe(),
            test.recovery.healthy,
            humantime::format_duration(test.recovery.within),
            if test.required { "" } else { " (not required)" }
        );
        for (i, entry) in test.timeline.iter().enumerate() {
            let when = match &entry.trigger {
                Trigger::At(at) => format!("at {}", humantime::format_duration(*at)),
                Trigger::After(after) => {
                    format!("{} after the previous", humantime::format_duration(*after))
                }
                Trigger::When { source, .. } => format!("when {source}"),
            };
            let target = entry
                .action
                .target()
                .map(|t| format!(" -> target {t}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {i}: {when}: {}{target}", entry.action.describe());
        }
        for t in test
            .load
            .thresholds
            .iter()
            .map(|t| &t.source)
            .chain(test.expect.iter().map(|t| &t.source))
        {
            let _ = writeln!(out, "  expect {t}");
        }
    }
    out
}
