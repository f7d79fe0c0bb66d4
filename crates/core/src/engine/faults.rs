//! The fault stage of a run, as the engine drives it: reconcile what earlier runs left, open the
//! journal, start process targets and check every control before preflight, run the fault tests
//! after the load tests (in plan order), judge them after the global settle, and at the end stop
//! the process targets and close the journal. Safety rules (kill file, stop conditions) stop the
//! run through its [`RunStop`], as a failed write of the journal or of a process log does; the
//! reason replaces the generic one in the report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Run, RunOptions, gate, pending_check};
use crate::check::{CheckKind, TargetCheck};
use crate::faults::journal::{Entry, Event, Journal, read, states};
use crate::faults::runner::{FaultEnv, FaultOutcome, run_fault_test};
use crate::faults::safety::{production_refusal, spawn_kill_file, spawn_stop_conditions};
use crate::faults::targets::Controlled;
use crate::ledger::summary::LedgerSummary;
use crate::load::LoadEnv;
use crate::report::model::{CheckReport, Report};
use crate::status::Status;
use shakedown_plan::model::{FaultTest, Plan};
use shakedown_plan::redact::Redactor;

/// Fault-related flags of a run (`--allow-production`, `--kill-file`).
#[derive(Debug, Clone, Default)]
pub struct FaultOptions {
    /// Allow faults against a plan whose environment is `production`.
    pub allow_production: bool,
    /// Stop the run (and revert every fault) when this file appears.
    pub kill_file: Option<PathBuf>,
    /// The executable that runs `guard` (None: no guard process, as in library tests).
    pub guard_exe: Option<PathBuf>,
}

/// The fault state of one run.
pub struct FaultStage {
    journal: Arc<Journal>,
    controlled: Controlled,
    watchers: Vec<JoinHandle<()>>,
    outcomes: BTreeMap<String, FaultOutcome>,
    options: FaultOptions,
    proxies: crate::faults::proxy_faults::Proxies,
}

/// The report entry of a fault test before it runs.
pub fn pending_fault_check(test: &FaultTest) -> CheckReport {
    CheckReport {
        kind: CheckKind::Fault,
        ..pending_check(&test.load)
    }
}

impl FaultStage {
    /// Reconcile unfinished earlier runs, open the journal, build the drivers and start the
    /// safety watchers (which stop the run through `run.stop`, cancelling `cancel`). A failed
    /// write of the journal is an error here, and has stopped the run.
    pub fn open(
        plan: &Arc<Plan>,
        run: &Run,
        options: &RunOptions,
        cancel: &CancellationToken,
    ) -> anyhow::Result<FaultStage> {
        for line in crate::faults::reconcile::reconcile_unfinished(run.dir.path(), &run.stop) {
            tracing::warn!("reconciled an unfinished run: {line}");
        }
        let journal = Journal::open(run.dir.path(), run.redactor.clone())
            .inspect_err(|e| {
                let path = run.dir.path().join(crate::faults::journal::FAULT_JOURNAL);
                run.stop.write_failed(&path, e);
            })
            .context("cannot open the fault journal faults.jsonl")?;
        let journal = Arc::new(journal.stopping(run.stop.clone()));
        let pid = i32::try_from(std::process::id()).unwrap_or(0);
        let mut opened = Entry::new("", Event::Opened).by("shakedown");
        opened.owner = Some(run.report.run.id.clone());
        opened.pid = Some(pid);
        opened.start_time = crate::faults::drivers::proc_start_time(pid);
        journal
            .append(opened)
            .context("cannot write faults.jsonl")?;
        let controlled = Controlled::build(
            plan,
            run.dir.path(),
            Some(journal.clone()),
            Some(run.stop.clone()),
        );
        let mut watchers = spawn_stop_conditions(plan.clone(), cancel.clone(), run.stop.clone());
        if let Some(path) = &options.faults.kill_file {
            watchers.push(spawn_kill_file(
                path.clone(),
                cancel.clone(),
                run.stop.clone(),
            ));
        }
        Ok(FaultStage {
            journal,
            controlled,
            watchers,
            outcomes: BTreeMap::new(),
            options: options.faults.clone(),
            proxies: Default::default(),
        })
    }

    /// The run's fault proxies, for the timelines' `toxic` entries.
    pub fn set_proxies(&mut self, proxies: crate::faults::proxy_faults::Proxies) {
        self.proxies = proxies;
    }

    /// Start the process targets and check every other control: one preflight entry each.
    pub async fn prepare(&self, redactor: &Redactor) -> Vec<TargetCheck> {
        self.controlled.prepare(redactor).await
    }

    /// Run the fault tests, in plan order, after the load tests.
    pub async fn run_tests(
        &mut self,
        plan: &Arc<Plan>,
        env: &LoadEnv,
        run: &mut Run,
        options: &RunOptions,
        bound: &CancellationToken,
    ) -> anyhow::Result<()> {
        let offset = plan.load_tests.len();
        let fault_env = FaultEnv {
            load: env.clone(),
            controlled: self.controlled.clone(),
            journal: self.journal.clone(),
            guard_exe: self.options.guard_exe.clone(),
            proxies: self.proxies.clone(),
        };
        let refusal = production_refusal(plan, self.options.allow_production);
        for (i, test) in plan.faults.tests.iter().enumerate() {
            let index = offset + i;
            if let Some(check) = self.gate(test, options, &run.report.preflight, bound, &refusal) {
                run.report.checks[index] = check;
                continue;
            }
            run.report.checks[index].reason = "running".into();
            run.write()?;
            let outcome = run_fault_test(&fault_env, test, bound.clone()).await;
            let check = &mut run.report.checks[index];
            check.metrics = outcome.load.as_ref().map(|l| l.summary.clone());
            check.fault = Some(outcome.section.clone());
            check.status = Status::Inconclusive;
            check.reason = "ran; awaiting settle and verification".into();
            self.outcomes.insert(test.id.clone(), outcome);
            run.write()?;
        }
        Ok(())
    }

    fn gate(
        &self,
        test: &FaultTest,
        options: &RunOptions,
        preflight: &[TargetCheck],
        bound: &CancellationToken,
        refusal: &Option<String>,
    ) -> Option<CheckReport> {
        let as_load = shakedown_plan::model::LoadTest {
            targets: test.targets.clone(),
            ..test.load.clone()
        };
        if let Some(check) = gate(&as_load, options, preflight, bound) {
            return Some(CheckReport {
                kind: CheckKind::Fault,
                ..check
            });
        }
        let refusal = refusal.as_ref()?;
        Some(CheckReport {
            status: Status::Blocked,
            reason: refusal.clone(),
            hint: Some(
                "run with --allow-production if faults against production are intended".into(),
            ),
            ..pending_fault_check(test)
        })
    }

    /// Judge every fault test that ran, with the ledger of the global settle (None when the run
    /// was interrupted).
    pub fn judge(
        &self,
        plan: &Plan,
        report: &mut Report,
        ledgers: Option<&BTreeMap<String, LedgerSummary>>,
    ) {
        let offset = plan.load_tests.len();
        for (i, test) in plan.faults.tests.iter().enumerate() {
            let Some(outcome) = self.outcomes.get(&test.id) else {
                continue;
            };
            let check = &mut report.checks[offset + i];
            match ledgers {
                Some(ledgers) => {
                    crate::faults::judge::judge(check, test, outcome, ledgers.get(&test.id))
                }
                None => crate::faults::judge::interrupted(check, outcome),
            }
        }
    }

    /// Stop the process targets, stop the watchers, and close the journal if nothing is left
    /// to undo. (What stopped the run goes into the report with its final write.)
    pub async fn finish(self) {
        self.controlled.stop_processes().await;
        for watcher in &self.watchers {
            watcher.abort();
        }
        let open = read(self.journal.path())
            .map(|entries| states(&entries).iter().any(|(_, s)| s.open()))
            .unwrap_or(true);
        if open {
            tracing::error!(
                "some faults could not be confirmed reverted; run `shakedown reconcile {}`",
                self.journal
                    .path()
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        } else if let Err(e) = self
            .journal
            .append(Entry::new("", Event::Closed).by("shakedown"))
        {
            tracing::warn!(error = %e, "cannot close the fault journal");
        }
    }
}
