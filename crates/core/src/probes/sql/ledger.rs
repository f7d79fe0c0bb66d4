//! `ledger = { key, state, results }` of a `sql` check: the query's rows as the ground truth of
//! the work ledger. Every key the selected tests sent is judged by how its submit ended:
//!
//! - acknowledged (`ok`): exactly one row, in a terminal state of its track, with at most one
//!   result. No row is `lost`, two rows are a `duplicate` (two jobs for one key), a state that
//!   is not terminal is `stuck`, and a result count above one is a `duplicate_effect`.
//! - indeterminate (`info`, or a submit that never completed): a row proves it was applied, so
//!   the key is counted `recovered` (a count, never a failure by itself) and then judged like
//!   an acknowledged one (a recovered row left `queued` is `stuck`). No row is counted
//!   `not_applied`: not a failure.
//! - definitely failed (`fail`): a row is `resurrected` (the service did what it refused); no
//!   row is counted `rejected`.
//!
//! A key without a row whose job the API's final read showed is `lost` whatever its submit
//! said: the API and the table disagree.
//!
//! Rows for keys this run did not send (older work, other clients) are counted as
//! `untracked_rows` and otherwise ignored.

use std::collections::HashMap;

use super::super::jobs::TrackedJob;
use crate::ledger::record::OpType;
use crate::report::verify_section::VerifySection;
use shakedown_plan::model::SqlLedger;

/// The keys sent, and what the rows said about each.
#[derive(Debug)]
pub struct GroundTruth<'a> {
    slots: Vec<Slot<'a>>,
    by_key: HashMap<&'a str, usize>,
    untracked: u64,
}

#[derive(Debug)]
struct Slot<'a> {
    job: &'a TrackedJob,
    rows: u64,
    state: Option<String>,
    results: Option<f64>,
}

/// How a key's submit ended, as far as the ledger judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Submit {
    /// Acknowledged, or a job the API showed for the key.
    Acknowledged,
    /// Answered without a verdict (`info`) or never completed.
    Indeterminate,
    /// Definitely refused.
    Failed,
}

fn submit_of(job: &TrackedJob) -> Submit {
    match job.submit {
        OpType::Ok => Submit::Acknowledged,
        OpType::Fail => Submit::Failed,
        OpType::Info | OpType::Invoke => Submit::Indeterminate,
    }
}

/// Whether the API's final read showed a job for the key.
fn seen_by_api(job: &TrackedJob) -> bool {
    job.jobs.as_ref().is_some_and(|j| !j.is_empty())
}

/// What the key's submit answered, for the reasons: "answered 500", "got no response".
fn answer(job: &TrackedJob) -> String {
    match (job.submit, job.status) {
        (OpType::Invoke, _) => "never completed".to_string(),
        (_, Some(status)) => format!("answered {status}"),
        (_, None) => "got no response".to_string(),
    }
}

/// How one key was accounted for.
enum Verdict {
    /// Accounted for; `recovered` when an indeterminate submit's row was found.
    Fine { recovered: bool },
    /// An indeterminate submit without a row.
    NotApplied,
    /// A failed submit without a row.
    Rejected,
    /// A failing class and its reason (`recovered` as above).
    Bad {
        class: &'static str,
        detail: String,
        recovered: bool,
    },
}

impl<'a> GroundTruth<'a> {
    /// Every key of `jobs` submitted by `tests` (every test when empty), whatever its submit's
    /// outcome.
    pub fn new(jobs: &'a [TrackedJob], tests: &[String]) -> GroundTruth<'a> {
        let mut truth = GroundTruth {
            slots: Vec::new(),
            by_key: HashMap::new(),
            untracked: 0,
        };
        let selected = jobs
            .iter()
            .filter(|j| tests.is_empty() || tests.contains(&j.test));
        for job in selected {
            if truth.by_key.contains_key(job.key.as_str()) {
                continue;
            }
            truth.by_key.insert(&job.key, truth.slots.len());
            truth.slots.push(Slot {
                job,
                rows: 0,
                state: None,
                results: None,
            });
        }
        truth
    }

    /// One row: its key, state and result count (None when NULL).
    pub fn row(&mut self, key: Option<&str>, state: Option<String>, results: Option<f64>) {
        let Some(&at) = key.and_then(|k| self.by_key.get(k)) else {
            self.untracked += 1;
            return;
        };
        let slot = &mut self.slots[at];
        slot.rows += 1;
        if slot.rows == 1 {
            slot.state = state;
            slot.results = results;
        }
    }

    /// Judge every key into `section`: findings per class, counts and the one assertion.
    /// Err when the tests sent no key to judge (nothing observed).
    pub fn judge(self, ledger: &SqlLedger, section: &mut VerifySection) -> Result<(), String> {
        if self.slots.is_empty() {
            let scope = match ledger.tests.as_slice() {
                [] => "the plan's load and fault tests".to_string(),
                tests => format!("the tests {}", tests.join(", ")),
            };
            return Err(format!(
                "{scope} sent no tracked work, so the rows have nothing to be checked against \
                 (give a step a `track`)"
            ));
        }
        let total = self.slots.len() as u64;
        let (mut ok, mut recovered, mut not_applied, mut rejected) = (0u64, 0u64, 0u64, 0u64);
        for slot in &self.slots {
            let key = slot.job.key.as_str();
            match judge_key(slot, ledger) {
                Verdict::Fine { recovered: r } => {
                    ok += 1;
                    recovered += u64::from(r);
                }
                Verdict::NotApplied => {
                    ok += 1;
                    not_applied += 1;
                }
                Verdict::Rejected => {
                    ok += 1;
                    rejected += 1;
                }
                Verdict::Bad {
                    class,
                    detail,
                    recovered: r,
                } => {
                    recovered += u64::from(r);
                    section.find(class, key, detail);
                }
            }
        }
        section.count("keys", total);
        section.count("recovered", recovered);
        section.count("not_applied", not_applied);
        section.count("rejected", rejected);
        section.count("untracked_rows", self.untracked);
        section.assert(
            "every key the gate sent is accounted for: acknowledged and recovered keys have \
             exactly one terminal row, rejected keys none",
            Some(format!("{ok} of {total}")),
            ok == total,
        );
        Ok(())
    }
}

/// How one key is accounted for, and if not, its class and reason.
fn judge_key(slot: &Slot<'_>, ledger: &SqlLedger) -> Verdict {
    let job = slot.job;
    let submit = submit_of(job);
    if submit == Submit::Failed && slot.rows > 0 {
        return Verdict::Bad {
            class: "resurrected",
            detail: format!(
                "the submit failed ({}), yet {} `{}` = this key (`{}` is {}): the service \
                 did what it refused",
                answer(job),
                rows_text(slot.rows),
                ledger.key,
                ledger.state,
                state_text(slot.state.as_deref()),
            ),
            recovered: false,
        };
    }
    if slot.rows == 0 {
        return match submit {
            Submit::Acknowledged => Verdict::Bad {
                class: "lost",
                detail: format!(
                    "acknowledged by the API, but no row has `{}` = this key",
                    ledger.key
                ),
                recovered: false,
            },
            // The API showed the key's job, so the table should hold it.
            _ if seen_by_api(job) => Verdict::Bad {
                class: "lost",
                detail: format!(
                    "the submit {}, but the API's final read showed its job, and no row has \
                     `{}` = this key",
                    answer(job),
                    ledger.key
                ),
                recovered: false,
            },
            Submit::Indeterminate => Verdict::NotApplied,
            Submit::Failed => Verdict::Rejected,
        };
    }
    let recovered = submit == Submit::Indeterminate;
    // For a recovered key: how its submit ended, and that the row shows it was applied.
    let applied = if recovered {
        format!(
            "; the submit {} (indeterminate) and this row shows it was applied",
            answer(job)
        )
    } else {
        String::new()
    };
    let bad = |class: &'static str, detail: String| Verdict::Bad {
        class,
        detail,
        recovered,
    };
    if slot.rows > 1 {
        return bad(
            "duplicate",
            format!("{} rows (jobs) for one key{applied}", slot.rows),
        );
    }
    let terminal = &job.terminal;
    let state = slot.state.as_deref();
    if !state.is_some_and(|s| terminal.iter().any(|t| t == s)) {
        return bad(
            "stuck",
            format!(
                "`{}` is {} after settle, not one of the terminal states {}{applied}",
                ledger.state,
                state_text(state),
                terminal.join(", ")
            ),
        );
    }
    match (&ledger.results, slot.results) {
        (Some(column), Some(n)) if n > 1.0 => bad(
            "duplicate_effect",
            format!("`{column}` = {n}: the job's effect was recorded {n} times{applied}"),
        ),
        _ => Verdict::Fine { recovered },
    }
}

fn state_text(state: Option<&str>) -> String {
    state.map_or("NULL".to_string(), |s| format!("`{s}`"))
}

fn rows_text(rows: u64) -> String {
    match rows {
        1 => "a row has".to_string(),
        n => format!("{n} rows have"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::{JobView, OpType};

    fn job(test: &str, key: &str, submit: OpType) -> TrackedJob {
        TrackedJob {
            test: test.into(),
            key: key.into(),
            submit,
            status: None,
            jobs: None,
            terminal: vec!["completed".into(), "failed".into()],
            success: vec!["completed".into()],
        }
    }

    fn answered(mut job: TrackedJob, status: u16) -> TrackedJob {
        job.status = Some(status);
        job
    }

    fn mapping(tests: &[&str]) -> SqlLedger {
        SqlLedger {
            key: "key".into(),
            state: "status".into(),
            results: Some("result_count".into()),
            tests: tests.iter().map(|t| t.to_string()).collect(),
        }
    }

    /// A row's state and result count.
    type Row = (Option<String>, Option<f64>);

    fn done(n: f64) -> Row {
        (Some("completed".into()), Some(n))
    }

    fn queued() -> Row {
        (Some("queued".into()), Some(0.0))
    }

    /// Judge `jobs` against `rows` (every test selected).
    fn judged(jobs: &[TrackedJob], rows: &[(&str, Row)]) -> VerifySection {
        let mut truth = GroundTruth::new(jobs, &[]);
        for (key, (state, results)) in rows {
            truth.row(Some(key), state.clone(), *results);
        }
        let mut section = VerifySection::new("sql", Some("db"), "SELECT ...");
        truth.judge(&mapping(&[]), &mut section).unwrap();
        section
    }

    fn classes(section: &VerifySection) -> Vec<(&str, &str)> {
        section
            .findings
            .iter()
            .map(|f| (f.class.as_str(), f.subject.as_str()))
            .collect()
    }

    fn passed(section: &VerifySection) -> bool {
        section.assertions.iter().all(|a| a.passed) && section.finding_count() == 0
    }

    fn observed(section: &VerifySection) -> &str {
        section.assertions[0].observed.as_deref().unwrap()
    }

    #[test]
    fn every_class_is_found_and_named_by_key() {
        let jobs = vec![
            job("L1", "ok", OpType::Ok),
            job("L1", "gone", OpType::Ok),
            job("L1", "twice", OpType::Ok),
            job("L1", "running", OpType::Ok),
            job("L1", "doubled", OpType::Ok),
            job("L1", "maybe", OpType::Info),
        ];
        let mut truth = GroundTruth::new(&jobs, &[]);
        for (key, (state, results)) in [
            ("ok", done(1.0)),
            ("twice", done(1.0)),
            ("twice", done(0.0)),
            ("running", (Some("running".into()), Some(0.0))),
            ("doubled", done(2.0)),
            ("someone-else", done(1.0)),
        ] {
            truth.row(Some(key), state, results);
        }
        truth.row(None, None, None);
        let mut section = VerifySection::new("sql", Some("db"), "SELECT ...");
        truth.judge(&mapping(&[]), &mut section).unwrap();
        assert_eq!(
            classes(&section),
            [
                ("lost", "gone"),
                ("duplicate", "twice"),
                ("stuck", "running"),
                ("duplicate_effect", "doubled"),
            ]
        );
        assert_eq!(section.counts["keys"], 6, "the indeterminate key is judged");
        assert_eq!(section.counts["not_applied"], 1);
        assert_eq!(section.counts["untracked_rows"], 2);
        let assertion = &section.assertions[0];
        assert_eq!(assertion.observed.as_deref(), Some("2 of 6"));
        assert!(!assertion.passed);
        assert!(
            section.findings[2].detail.contains("`running`"),
            "{:?}",
            section.findings[2]
        );
        assert!(
            !section.findings[2].detail.contains("indeterminate"),
            "{:?}",
            section.findings[2]
        );
    }

    #[test]
    fn clean_rows_pass_and_tests_select_the_keys() {
        let jobs = vec![job("L1", "a", OpType::Ok), job("L2", "b", OpType::Ok)];
        let mut truth = GroundTruth::new(&jobs, &["L2".to_string()]);
        truth.row(Some("b"), Some("failed".into()), None);
        truth.row(Some("a"), Some("queued".into()), None);
        let mut section = VerifySection::new("sql", Some("db"), "SELECT ...");
        truth.judge(&mapping(&["L2"]), &mut section).unwrap();
        assert!(section.findings.is_empty(), "{:?}", section.findings);
        assert_eq!(section.assertions[0].observed.as_deref(), Some("1 of 1"));
        assert!(section.assertions[0].passed);
        assert_eq!(
            section.counts["untracked_rows"], 1,
            "L1's key is not selected"
        );
    }

    #[test]
    fn an_acknowledged_key_with_one_terminal_row_passes() {
        let section = judged(&[job("L1", "a", OpType::Ok)], &[("a", done(1.0))]);
        assert!(passed(&section), "{section:?}");
        assert_eq!(observed(&section), "1 of 1");
        assert!(
            section.assertions[0]
                .expectation
                .contains("every key the gate sent")
        );
        assert_eq!(section.counts["recovered"], 0);
    }

    #[test]
    fn an_acknowledged_key_without_a_row_is_lost() {
        let section = judged(&[job("L1", "a", OpType::Ok)], &[]);
        assert_eq!(classes(&section), [("lost", "a")]);
        assert!(!passed(&section));
        assert_eq!(observed(&section), "0 of 1");
    }

    #[test]
    fn an_acknowledged_key_left_queued_is_stuck() {
        let section = judged(&[job("L1", "a", OpType::Ok)], &[("a", queued())]);
        assert_eq!(classes(&section), [("stuck", "a")]);
        assert!(!passed(&section));
    }

    #[test]
    fn an_indeterminate_key_with_a_terminal_row_is_recovered_and_passes() {
        let jobs = [
            answered(job("L1", "a", OpType::Info), 500),
            job("L1", "b", OpType::Invoke),
        ];
        let section = judged(&jobs, &[("a", done(1.0)), ("b", done(0.0))]);
        assert!(passed(&section), "{section:?}");
        assert_eq!(section.counts["recovered"], 2);
        assert_eq!(section.counts["not_applied"], 0);
        assert_eq!(observed(&section), "2 of 2");
    }

    #[test]
    fn an_indeterminate_key_left_queued_is_recovered_and_stuck() {
        let jobs = [answered(job("L1", "a", OpType::Info), 500)];
        let section = judged(&jobs, &[("a", queued())]);
        assert_eq!(classes(&section), [("stuck", "a")]);
        assert!(!passed(&section));
        assert_eq!(section.counts["recovered"], 1);
        assert_eq!(observed(&section), "0 of 1");
        let detail = &section.findings[0].detail;
        assert!(
            detail.starts_with("`status` is `queued` after settle"),
            "{detail}"
        );
        assert!(
            detail.contains(
                "the submit answered 500 (indeterminate) and this row shows it was applied"
            ),
            "{detail}"
        );
    }

    #[test]
    fn a_recovered_key_with_two_rows_is_a_duplicate() {
        let section = judged(
            &[job("L1", "a", OpType::Info)],
            &[("a", done(1.0)), ("a", done(1.0))],
        );
        assert_eq!(classes(&section), [("duplicate", "a")]);
        assert!(
            section.findings[0].detail.contains("got no response"),
            "{:?}",
            section.findings[0]
        );
    }

    #[test]
    fn an_indeterminate_key_without_a_row_is_not_applied_and_passes() {
        let jobs = [
            answered(job("L1", "a", OpType::Info), 503),
            job("L1", "b", OpType::Invoke),
        ];
        let section = judged(&jobs, &[]);
        assert!(passed(&section), "{section:?}");
        assert_eq!(section.counts["not_applied"], 2);
        assert_eq!(observed(&section), "2 of 2");
    }

    #[test]
    fn an_indeterminate_key_the_api_showed_but_without_a_row_is_lost() {
        let mut shown = job("L1", "a", OpType::Info);
        shown.jobs = Some(vec![JobView::default()]);
        let section = judged(&[shown], &[]);
        assert_eq!(classes(&section), [("lost", "a")]);
    }

    #[test]
    fn a_failed_key_with_a_row_is_resurrected() {
        let jobs = [answered(job("L1", "a", OpType::Fail), 409)];
        let section = judged(&jobs, &[("a", done(1.0))]);
        assert_eq!(classes(&section), [("resurrected", "a")]);
        assert!(!passed(&section));
        assert_eq!(section.counts["rejected"], 0);
        let detail = &section.findings[0].detail;
        assert!(
            detail.contains("answered 409") && detail.contains("`status` is `completed`"),
            "{detail}"
        );
    }

    #[test]
    fn a_failed_key_without_a_row_is_rejected_and_passes() {
        let section = judged(&[answered(job("L1", "a", OpType::Fail), 422)], &[]);
        assert!(passed(&section), "{section:?}");
        assert_eq!(section.counts["rejected"], 1);
        assert_eq!(observed(&section), "1 of 1");
    }

    #[test]
    fn rows_of_keys_never_sent_are_only_counted() {
        let section = judged(
            &[job("L1", "a", OpType::Ok)],
            &[("a", done(1.0)), ("older", queued()), ("other", done(3.0))],
        );
        assert!(passed(&section), "{section:?}");
        assert_eq!(section.counts["untracked_rows"], 2);
        assert_eq!(section.counts["keys"], 1);
    }

    #[test]
    fn no_key_sent_is_an_error_not_a_pass() {
        let jobs = vec![job("L1", "a", OpType::Fail)];
        let truth = GroundTruth::new(&jobs, &["L2".to_string()]);
        let mut section = VerifySection::new("sql", Some("db"), "SELECT ...");
        let err = truth.judge(&mapping(&["L2"]), &mut section).unwrap_err();
        assert!(err.contains("sent no tracked work"), "{err}");
        assert!(section.assertions.is_empty());
    }
}
