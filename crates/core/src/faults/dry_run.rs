//! What `run --dry-run` says about faults: every fault proxy (its name, where it listens, its
//! upstream), every controlled target with its driver, and every fault test with each timeline
//! entry (the target it acts on; for a toxic, what it does, on which proxy, from when and for how
//! long), the recovery criteria and the expectations. Nothing is started or sent.

use std::fmt::Write as _;
use std::time::Duration;

use shakedown_plan::model::{DriverSpec, FaultAction, FaultTest, Plan, Trigger};

fn time(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The fault part of the dry run.
pub fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    for proxy in plan.proxies.values() {
        let port = if proxy.listen.port() == 0 {
            " (port chosen at start)"
        } else {
            ""
        };
        let users: Vec<&str> = plan
            .faults
            .tests
            .iter()
            .filter(|test| uses_proxy(test, &proxy.name))
            .map(|test| test.id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "proxy {}: listen {}{port}, upstream {}, toxic changes reach every connection within {}{}",
            proxy.name,
            proxy.listen,
            proxy.upstream,
            time(proxy.control_deadline),
            if users.is_empty() {
                String::new()
            } else {
                format!("; toxics in {}", users.join(", "))
            }
        );
    }
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
            time(test.recovery.within),
            if test.required { "" } else { " (not required)" }
        );
        // When each entry fires, from the start of the test, while it can be known in advance
        // (a `when` condition makes it, and everything after it, depend on the run).
        let mut clock = Some(Duration::ZERO);
        for (i, entry) in test.timeline.iter().enumerate() {
            let when = match &entry.trigger {
                Trigger::At(at) => {
                    clock = clock.map(|prev| prev.max(*at));
                    format!("at {}", time(*at))
                }
                Trigger::After(after) => {
                    clock = clock.map(|prev| prev + *after);
                    format!("{} after the previous", time(*after))
                }
                Trigger::When { source, .. } => {
                    clock = None;
                    format!("when {source}")
                }
            };
            let what = match &entry.action {
                FaultAction::Toxic { proxy, spec, ttl } => {
                    let span = match clock {
                        Some(from) => format!("from {} to {}", time(from), time(from + *ttl)),
                        None => "from when it fires".to_string(),
                    };
                    format!(
                        "toxic on proxy {proxy} {span} (for {}): {}",
                        time(*ttl),
                        spec.summary()
                    )
                }
                action => {
                    let target = action
                        .target()
                        .map(|t| format!(" -> target {t}"))
                        .unwrap_or_default();
                    format!("{}{target}", action.describe())
                }
            };
            let _ = writeln!(out, "  {i}: {when}: {what}");
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

/// Whether `test` puts a toxic on proxy `name`.
fn uses_proxy(test: &FaultTest, name: &str) -> bool {
    test.timeline
        .iter()
        .any(|entry| matches!(&entry.action, FaultAction::Toxic { proxy, .. } if proxy == name))
}
