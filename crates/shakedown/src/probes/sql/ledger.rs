//! `ledger = { key, state, results }` of a `sql` check: the query's rows as the ground truth of
//! the work ledger. Every acknowledged tracked key of the selected tests must have exactly one
//! row, in a terminal state of its track, with at most one result: no row is `lost`, two rows
//! are a `duplicate` (two jobs for one key), a state that is not terminal is `stuck`, and a
//! result count above one is a `duplicate_effect`. Rows for keys this run did not track (older
//! work, other clients) are counted and otherwise ignored.

use std::collections::HashMap;

use super::super::jobs::TrackedJob;
use crate::plan::model_verify::SqlLedger;
use crate::report::verify::VerifySection;

/// The acknowledged keys, and what the rows said about each.
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

impl<'a> GroundTruth<'a> {
    /// The acknowledged keys of `jobs` submitted by `tests` (every test when empty).
    pub fn new(jobs: &'a [TrackedJob], tests: &[String]) -> GroundTruth<'a> {
        let mut truth = GroundTruth {
            slots: Vec::new(),
            by_key: HashMap::new(),
            untracked: 0,
        };
        let selected = jobs
            .iter()
            .filter(|j| tests.is_empty() || tests.contains(&j.test))
            .filter(|j| j.acknowledged());
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
    /// Err when there is no acknowledged key to judge (nothing observed).
    pub fn judge(self, ledger: &SqlLedger, section: &mut VerifySection) -> Result<(), String> {
        if self.slots.is_empty() {
            let scope = match ledger.tests.as_slice() {
                [] => "the plan's load and fault tests".to_string(),
                tests => format!("the tests {}", tests.join(", ")),
            };
            return Err(format!(
                "{scope} acknowledged no tracked work, so the rows have nothing to be checked \
                 against (give a step a `track`)"
            ));
        }
        let total = self.slots.len() as u64;
        let mut ok = 0u64;
        for slot in &self.slots {
            let key = slot.job.key.as_str();
            match judge_key(slot, ledger) {
                None => ok += 1,
                Some((class, detail)) => section.find(class, key, detail),
            }
        }
        section.count("keys", total);
        section.count("untracked_rows", self.untracked);
        section.assert(
            "every acknowledged key has exactly one terminal row",
            Some(format!("{ok} of {total}")),
            ok == total,
        );
        Ok(())
    }
}

/// The class and reason of a key that is not ok.
fn judge_key(slot: &Slot<'_>, ledger: &SqlLedger) -> Option<(&'static str, String)> {
    let terminal = &slot.job.terminal;
    if slot.rows == 0 {
        return Some((
            "lost",
            format!(
                "acknowledged by the API, but no row has `{}` = this key",
                ledger.key
            ),
        ));
    }
    if slot.rows > 1 {
        return Some((
            "duplicate",
            format!("{} rows (jobs) for one key", slot.rows),
        ));
    }
    let state = slot.state.as_deref();
    if !state.is_some_and(|s| terminal.iter().any(|t| t == s)) {
        return Some((
            "stuck",
            format!(
                "`{}` is {} after settle, not one of the terminal states {}",
                ledger.state,
                state.map_or("NULL".to_string(), |s| format!("`{s}`")),
                terminal.join(", ")
            ),
        ));
    }
    match (&ledger.results, slot.results) {
        (Some(column), Some(n)) if n > 1.0 => Some((
            "duplicate_effect",
            format!("`{column}` = {n}: the job's effect was recorded {n} times"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::OpType;

    fn job(test: &str, key: &str, submit: OpType) -> TrackedJob {
        TrackedJob {
            test: test.into(),
            key: key.into(),
            submit,
            jobs: None,
            terminal: vec!["completed".into(), "failed".into()],
            success: vec!["completed".into()],
        }
    }

    fn mapping(tests: &[&str]) -> SqlLedger {
        SqlLedger {
            key: "key".into(),
            state: "status".into(),
            results: Some("result_count".into()),
            tests: tests.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn done(n: f64) -> (Option<String>, Option<f64>) {
        (Some("completed".into()), Some(n))
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
        let found: Vec<(&str, &str)> = section
            .findings
            .iter()
            .map(|f| (f.class.as_str(), f.subject.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("lost", "gone"),
                ("duplicate", "twice"),
                ("stuck", "running"),
                ("duplicate_effect", "doubled"),
            ]
        );
        assert_eq!(
            section.counts["keys"], 5,
            "the indeterminate key is not judged"
        );
        assert_eq!(section.counts["untracked_rows"], 2);
        let assertion = &section.assertions[0];
        assert_eq!(assertion.observed.as_deref(), Some("1 of 5"));
        assert!(!assertion.passed);
        assert!(
            section.findings[2].detail.contains("`running`"),
            "{:?}",
            section.findings[2]
        );
    }

    #[test]
    fn clean_rows_pass_and_tests_select_the_keys() {
        let jobs = vec![job("L1", "a", OpType::Ok), job("L2", "b", OpType::Ok)];
        let mut truth = GroundTruth::new(&jobs, &["L2".to_string()]);
        truth.row(Some("b"), Some("failed".into()), None);
        let mut section = VerifySection::new("sql", Some("db"), "SELECT ...");
        truth.judge(&mapping(&["L2"]), &mut section).unwrap();
        assert!(section.findings.is_empty(), "{:?}", section.findings);
        assert_eq!(section.assertions[0].observed.as_deref(), Some("1 of 1"));
        assert!(section.assertions[0].passed);
    }

    #[test]
    fn no_tracked_work_is_an_error_not_a_pass() {
        let jobs = vec![job("L1", "a", OpType::Fail)];
        let truth = GroundTruth::new(&jobs, &[]);
        let mut section = VerifySection::new("sql", Some("db"), "SELECT ...");
        let err = truth.judge(&mapping(&[]), &mut section).unwrap_err();
        assert!(err.contains("no tracked work"), "{err}");
        assert!(section.assertions.is_empty());
    }
}
