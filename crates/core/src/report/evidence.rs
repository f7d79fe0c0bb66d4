//! What a run directory holds beyond the report model, for `report.html`: the witness operations
//! the ledger's examples point at (read from `history.jsonl`), the files of the bundle, and, in
//! plain words, anything missing or damaged, so that a damaged directory still renders and says
//! what is wrong instead of failing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;

use crate::ledger::record::Record;
use crate::report::model::Report;

/// The history's file name in the run directory.
pub const HISTORY: &str = "history.jsonl";
/// The effective plan's file name in the run directory.
pub const PLAN: &str = "plan.toml";
/// Longest value text shown for one witness operation, in characters.
const VALUE_CHARS: usize = 240;

/// One operation of the history, as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WitnessOp {
    /// Its index in the history.
    pub index: u64,
    /// Seconds since the ledger started.
    pub seconds: f64,
    /// Who performed it (`L1/vu-3`, `settle`).
    pub process: String,
    /// `invoke`, `ok`, `fail` or `info`.
    pub kind: String,
    /// `submit`, `read`, `final-read` or `settle`.
    pub f: String,
    /// The operation's value as compact JSON, shortened.
    pub value: String,
}

/// The run directory's evidence beyond the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunEvidence {
    /// The witness operations the report's ledger examples refer to, by index.
    pub witnesses: BTreeMap<u64, WitnessOp>,
    /// Files of the run directory (name, bytes), sorted; empty when rendering without one.
    pub files: Vec<(String, u64)>,
    /// What is missing or damaged, in plain words.
    pub problems: Vec<String>,
}

impl RunEvidence {
    /// Read what `report` refers to from `dir`. Never fails: whatever cannot be read becomes a
    /// problem in the list.
    pub fn read(dir: &Path, report: &Report) -> RunEvidence {
        let mut evidence = RunEvidence {
            files: list_files(dir),
            ..RunEvidence::default()
        };
        let present: BTreeSet<&str> = evidence.files.iter().map(|(n, _)| n.as_str()).collect();
        if !present.contains(PLAN) {
            evidence.problems.push(format!(
                "{PLAN} (the effective plan) is missing from the run directory"
            ));
        }
        let wanted: BTreeSet<u64> = report
            .checks
            .iter()
            .filter_map(|c| c.ledger.as_ref())
            .flat_map(|l| l.examples.values().flatten())
            .flat_map(|e| e.witnesses.iter().copied())
            .collect();
        if !present.contains(HISTORY) {
            evidence.problems.push(format!(
                "{HISTORY} (the history of tracked operations) is missing: {} witness operations \
                 the report refers to cannot be shown",
                wanted.len()
            ));
            return evidence;
        }
        if wanted.is_empty() {
            // Nothing to look up: only check the end, where an interrupted write leaves damage,
            // rather than parse a history that may hold millions of operations.
            evidence.check_history_tail(&dir.join(HISTORY));
        } else {
            evidence.read_history(&dir.join(HISTORY), &wanted);
        }
        evidence
    }

    fn check_history_tail(&mut self, path: &Path) {
        use std::io::{Read as _, Seek as _, SeekFrom};
        const TAIL: u64 = 64 * 1024;
        let tail = fs::File::open(path).and_then(|mut f| {
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            Ok(bytes)
        });
        let tail = match tail {
            Ok(t) => t,
            Err(err) => {
                self.problems
                    .push(format!("{HISTORY} cannot be read: {err}"));
                return;
            }
        };
        let last = tail
            .split(|b| *b == b'\n')
            .rfind(|l| !l.iter().all(u8::is_ascii_whitespace));
        if let Some(last) = last
            && serde_json::from_slice::<Record>(last).is_err()
        {
            self.problems.push(format!(
                "{HISTORY} is damaged or truncated: its last line is not a complete operation"
            ));
        }
    }

    fn read_history(&mut self, path: &Path, wanted: &BTreeSet<u64>) {
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(err) => {
                self.problems
                    .push(format!("{HISTORY} cannot be read: {err}"));
                return;
            }
        };
        let mut bad_lines = Vec::new();
        for (number, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(err) => {
                    self.problems.push(format!(
                        "{HISTORY} could not be read past line {number}: {err}"
                    ));
                    break;
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(&line) {
                Ok(record) if wanted.contains(&record.index) => {
                    self.witnesses.insert(record.index, witness(&record));
                }
                Ok(_) => {}
                Err(_) => bad_lines.push(number + 1),
            }
        }
        if let Some(first) = bad_lines.first() {
            self.problems.push(format!(
                "{HISTORY} is damaged or truncated: {} line(s) are not complete operations \
                 (first: line {first})",
                bad_lines.len()
            ));
        }
        let missing = wanted
            .iter()
            .filter(|i| !self.witnesses.contains_key(i))
            .count();
        if missing > 0 {
            self.problems.push(format!(
                "{missing} witness operation(s) the report refers to are not in {HISTORY}"
            ));
        }
    }
}

fn witness(record: &Record) -> WitnessOp {
    let value = match &record.value {
        serde_json::Value::Null => String::new(),
        v => v.to_string(),
    };
    WitnessOp {
        index: record.index,
        seconds: record.time_ns as f64 / 1e9,
        process: record.process.clone(),
        kind: enum_name(&record.kind),
        f: enum_name(&record.f),
        value: shorten(&value, VALUE_CHARS),
    }
}

fn enum_name<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}").to_lowercase(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Top-level files of `dir` (name, size), sorted; hidden temporary files are left out.
fn list_files(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().ok()?;
            (!name.starts_with('.')).then_some((name, if meta.is_dir() { 0 } else { meta.len() }))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    fn line(index: u64) -> String {
        format!(
            r#"{{"index":{index},"time_ns":1500000000,"process":"L1/vu-1","type":"ok","f":"submit","test":"L1","key":"k","value":{{"status":201}}}}"#
        )
    }

    fn witnesses(report: &Report) -> BTreeSet<u64> {
        report
            .checks
            .iter()
            .filter_map(|c| c.ledger.as_ref())
            .flat_map(|l| l.examples.values().flatten())
            .flat_map(|e| e.witnesses.iter().copied())
            .collect()
    }

    #[test]
    fn witness_operations_are_read_and_nothing_is_missing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let report = sample_report();
        let wanted = witnesses(&report);
        assert!(!wanted.is_empty(), "the fixture has witnesses");
        let max = wanted.iter().max().copied().unwrap_or(0);
        let history: Vec<String> = (0..=max).map(line).collect();
        fs::write(tmp.path().join(HISTORY), history.join("\n") + "\n").expect("write");
        fs::write(tmp.path().join(PLAN), "").expect("write");
        let e = RunEvidence::read(tmp.path(), &report);
        assert_eq!(e.problems, Vec::<String>::new());
        assert_eq!(e.witnesses.len(), wanted.len());
        let first = e.witnesses.values().next().expect("one");
        assert_eq!(first.kind, "ok");
        assert_eq!(first.f, "submit");
        assert_eq!(first.seconds, 1.5);
        assert_eq!(first.value, r#"{"status":201}"#);
    }

    #[test]
    fn a_truncated_history_and_a_missing_plan_are_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let report = sample_report();
        let text = format!("{}\n{}", line(0), &line(1)[..40]);
        fs::write(tmp.path().join(HISTORY), text).expect("write");
        let e = RunEvidence::read(tmp.path(), &report);
        let all = e.problems.join("\n");
        assert!(
            all.contains("plan.toml (the effective plan) is missing"),
            "{all}"
        );
        assert!(all.contains("truncated: 1 line(s)"), "{all}");
        assert!(all.contains("(first: line 2)"), "{all}");
        assert!(all.contains("are not in history.jsonl"), "{all}");
    }

    #[test]
    fn without_witnesses_only_the_end_of_the_history_is_checked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let report = crate::report::fixtures::report_with(vec![], vec![]);
        fs::write(tmp.path().join(PLAN), "").expect("write");
        fs::write(tmp.path().join(HISTORY), format!("{}\n", line(0))).expect("write");
        assert_eq!(
            RunEvidence::read(tmp.path(), &report).problems,
            Vec::<String>::new()
        );
        fs::write(
            tmp.path().join(HISTORY),
            format!("{}\n{}", line(0), &line(1)[..30]),
        )
        .expect("write");
        let problems = RunEvidence::read(tmp.path(), &report).problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("last line is not a complete operation"));
    }

    #[test]
    fn a_missing_history_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let e = RunEvidence::read(tmp.path(), &sample_report());
        assert!(e.problems.iter().any(|p| p.starts_with("history.jsonl")));
        assert!(e.witnesses.is_empty());
    }
}
