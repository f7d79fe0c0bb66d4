//! Safety rules: faults only against targets named in the plan (the compiler enforces it),
//! `environment = "production"` only with `--allow-production`, a kill file whose appearance
//! stops the run, and stop conditions (probes that abort the run when they keep failing). A
//! stop goes through the run's [`RunStop`], like every other reason to abort: it cancels the
//! run, which reverts every applied fault, and the reason goes into the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stop::RunStop;
use shakedown_plan::model::{Environment, Plan};

/// How often the kill file is looked for.
const KILL_FILE_POLL: Duration = Duration::from_millis(250);

/// Why fault tests may not run against this plan's environment, if they may not.
pub fn production_refusal(plan: &Plan, allow_production: bool) -> Option<String> {
    (plan.environment == Environment::Production && !allow_production && !plan.faults.tests.is_empty())
        .then(|| "the plan's environment is production, and faults against production need --allow-production".to_string())
}

/// Watch for `path`; when it appears, stop the run.
pub fn spawn_kill_file(path: PathBuf, run: CancellationToken, stop: RunStop) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if path.exists() {
                stop.stop(format!("stopped by the kill file {}", path.display()));
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(KILL_FILE_POLL) => {}
                _ = run.cancelled() => return,
            }
        }
    })
}

/// Probe each stop condition; when one fails `failures` times in a row, stop the run.
pub fn spawn_stop_conditions(
    plan: Arc<Plan>,
    run: CancellationToken,
    stop: RunStop,
) -> Vec<JoinHandle<()>> {
    plan.faults
        .stop_conditions
        .iter()
        .cloned()
        .map(|condition| {
            let (plan, run, stop) = (plan.clone(), run.clone(), stop.clone());
            tokio::spawn(async move {
                let mut failed = 0;
                loop {
                    let timeout = condition.every.max(Duration::from_secs(1));
                    let ok =
                        super::probe::healthy(&plan, &condition.target, &condition.probe, timeout)
                            .await;
                    failed = if ok { 0 } else { failed + 1 };
                    if failed >= condition.failures {
                        stop.stop(format!(
                            "stopped by a stop condition: {} failed {failed} times in a row",
                            condition.line
                        ));
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(condition.every) => {}
                        _ = run.cancelled() => return,
                    }
                }
            })
        })
        .collect()
}
