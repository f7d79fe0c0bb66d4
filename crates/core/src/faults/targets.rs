//! The controlled targets of a run: one driver per target with a `control`. Process targets are
//! started before preflight (in name order) and stopped at the end (in reverse); every other
//! driver proves at preflight that it can act (a Railway token is accepted, say). Each result is
//! a preflight entry named `TARGET.control`, so that a fault test using a control that cannot
//! act is BLOCKED before any load.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::drivers::exec::ExecDriver;
use super::drivers::http::HttpDriver;
use super::drivers::process::ProcessDriver;
use super::drivers::railway::RailwayDriver;
use super::journal::Journal;
use super::{Driver, DriverError, bounded};
use crate::check::TargetCheck;
use crate::status::Status;
use crate::stop::RunStop;
use shakedown_plan::model::{DriverSpec, Plan};
use shakedown_plan::redact::Redactor;

/// One controlled target.
#[derive(Clone)]
pub struct ControlledTarget {
    /// Its driver.
    pub driver: Arc<dyn Driver>,
    /// The bound of every driver call.
    pub timeout: Duration,
    /// For a process target: how long a start may take.
    pub start_timeout: Duration,
}

/// Every controlled target of a run.
#[derive(Clone, Default)]
pub struct Controlled {
    targets: BTreeMap<String, ControlledTarget>,
}

impl std::fmt::Debug for Controlled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.targets.keys()).finish()
    }
}

impl Controlled {
    /// Build the drivers of `plan`; process targets log into `dir` and journal into `journal`,
    /// and a failed write of their logs stops the run through `stop`.
    pub fn build(
        plan: &Arc<Plan>,
        dir: &Path,
        journal: Option<Arc<Journal>>,
        stop: Option<RunStop>,
    ) -> Controlled {
        let redactor = Redactor::new(&plan.secrets);
        let mut targets = BTreeMap::new();
        for (name, target) in &plan.targets {
            let Some(control) = &target.control else {
                continue;
            };
            let (driver, start_timeout): (Arc<dyn Driver>, Duration) = match &control.driver {
                DriverSpec::Process(spec) => (
                    Arc::new(
                        ProcessDriver::new(
                            name,
                            spec.clone(),
                            plan.clone(),
                            dir.to_path_buf(),
                            journal.clone(),
                        )
                        .stopping(stop.clone()),
                    ),
                    spec.ready_timeout + spec.grace + Duration::from_secs(5),
                ),
                DriverSpec::Exec(spec) => (
                    Arc::new(ExecDriver::new(
                        name,
                        spec.clone(),
                        control.timeout,
                        redactor.clone(),
                    )),
                    control.timeout,
                ),
                DriverSpec::Http(spec) => (
                    Arc::new(HttpDriver::new(plan.clone(), spec.clone(), control.timeout)),
                    control.timeout,
                ),
                DriverSpec::Railway(spec) => (
                    Arc::new(RailwayDriver::new(
                        name,
                        plan.clone(),
                        spec.clone(),
                        control.timeout,
                    )),
                    control.timeout,
                ),
            };
            targets.insert(
                name.clone(),
                ControlledTarget {
                    driver,
                    timeout: control.timeout.max(start_timeout),
                    start_timeout,
                },
            );
        }
        Controlled { targets }
    }

    /// The controlled target `name`.
    pub fn get(&self, name: &str) -> Option<&ControlledTarget> {
        self.targets.get(name)
    }

    /// Whether any target is a process target.
    pub fn has_processes(&self) -> bool {
        self.targets.values().any(|t| t.driver.kind() == "process")
    }

    /// Start the process targets and check every other driver, one preflight entry each.
    pub async fn prepare(&self, redactor: &Redactor) -> Vec<TargetCheck> {
        let mut checks = Vec::new();
        for (name, target) in &self.targets {
            let what = format!("{name}.control");
            let result = if target.driver.kind() == "process" {
                bounded(
                    &format!("starting target {name}"),
                    target.start_timeout,
                    target.driver.start(),
                )
                .await
                .map(|applied| applied.detail)
            } else {
                bounded(
                    &format!("the {} driver of {name}", target.driver.kind()),
                    target.timeout,
                    target.driver.preflight(),
                )
                .await
            };
            checks.push(check(&what, target.driver.kind(), result, redactor));
        }
        checks
    }

    /// Stop every process target, in reverse name order.
    pub async fn stop_processes(&self) {
        for (name, target) in self.targets.iter().rev() {
            if target.driver.kind() != "process" {
                continue;
            }
            if let Err(e) = bounded(
                &format!("stopping target {name}"),
                target.start_timeout,
                target.driver.stop(),
            )
            .await
            {
                tracing::warn!(target = %name, error = %e, "cannot stop a process target");
            }
        }
    }
}

fn check(
    what: &str,
    kind: &str,
    result: Result<String, DriverError>,
    redactor: &Redactor,
) -> TargetCheck {
    match result {
        Ok(reason) => TargetCheck {
            target: what.to_string(),
            url: format!("{kind} driver"),
            status: Status::Pass,
            reason: redactor.redact(&reason).into_owned(),
            hint: None,
        },
        Err(e) => TargetCheck {
            target: what.to_string(),
            url: format!("{kind} driver"),
            status: Status::Blocked,
            reason: redactor.redact(&e.to_string()).into_owned(),
            hint: Some(redactor.redact(&e.hint()).into_owned()),
        },
    }
}
