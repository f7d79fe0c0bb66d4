//! The checker: a pure, linear-time fold over history records that classifies every tracked key
//! (DESIGN section 7).
//!
//! [`Checker::observe`] takes records one at a time and keeps one small entry per key (its
//! submit, the last read that saw it, the last read that missed it, its last final read and its
//! last read error), so the live ledger can run it as it writes and `shakedown check` can run it
//! over a saved `history.jsonl` with the same answer. [`Checker::finish`] applies the plan's track
//! specs and produces a [`LedgerSummary`] per test id.
//!
//! Classification of a key, from its submit outcome and its last successful FINAL read:
//!
//! - no successful final read: `unknown`;
//! - submit `ok` (acknowledged): no job is `lost`; more than one job, or a job with more than one
//!   result, is `duplicates`; one non-terminal job is `stuck`; one job terminal in a success
//!   state is `ok`, in another terminal state `failed`;
//! - submit `info` (indeterminate, or invoked and never completed): no job is `not_applied` after
//!   a complete settle and `unknown` after an incomplete one; a job found is `recovered` **and**
//!   is then classified like an acknowledged key, so it counts in two classes (a recovered key
//!   that is stuck counts in `recovered` and in `stuck`; one that succeeded in `recovered` and
//!   `ok`). Class counts can therefore add up to more than `tracked`;
//! - submit `fail` (definitely rejected): no job is `rejected`; a job found is `resurrected`.
//!
//! A key submitted more than once is judged by its strongest submit outcome (ok, then info, then
//! fail). Reads that fail never change a class by themselves; they only explain an `unknown`.

use std::collections::{BTreeMap, HashMap};

use crate::ledger::observe::{Assessment, assess, track_at};
use crate::ledger::record::{
    JobView, OpFn, OpType, ReadDone, Record, SettleDone, SubmitDone, SubmitInvoke,
};
use crate::ledger::summary::{LedgerExample, LedgerSummary};
use crate::ledger::why;
use crate::plan::model::{LedgerClass, Plan};

/// Examples kept per non-ok class and test.
pub const MAX_EXAMPLES: usize = 32;

/// Every ledger class, in report order.
pub const ALL_CLASSES: [LedgerClass; 10] = [
    LedgerClass::Ok,
    LedgerClass::Lost,
    LedgerClass::Duplicates,
    LedgerClass::Stuck,
    LedgerClass::Failed,
    LedgerClass::Recovered,
    LedgerClass::NotApplied,
    LedgerClass::Rejected,
    LedgerClass::Resurrected,
    LedgerClass::Unknown,
];

/// Classify every key of a history. Pure and linear in the number of records; grouped by test id.
/// Only tests that have at least one submit in the history appear.
pub fn classify(records: &[Record], plan: &Plan) -> BTreeMap<String, LedgerSummary> {
    let mut checker = Checker::new();
    for record in records {
        checker.observe(record);
    }
    checker.finish(plan)
}

/// The incremental form of [`classify`]: memory is bounded by the number of keys.
#[derive(Debug, Default)]
pub struct Checker {
    tests: BTreeMap<String, TestKeys>,
    settle: Option<SettleDone>,
    keys: usize,
}

#[derive(Debug, Default)]
struct TestKeys {
    slots: HashMap<String, usize>,
    /// In order of first submit, so examples are the earliest keys.
    keys: Vec<KeyHistory>,
}

/// A point in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub index: u64,
    pub time_ns: u64,
}

impl Mark {
    fn of(record: &Record) -> Mark {
        Mark {
            index: record.index,
            time_ns: record.time_ns,
        }
    }
}

/// How a key's submit ended (its strongest completion).
#[derive(Debug, Clone)]
pub(crate) struct SubmitEnd {
    pub kind: OpType,
    pub mark: Mark,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A successful read with what it saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub mark: Mark,
    pub status: Option<u16>,
    pub jobs: u64,
    pub items: Vec<JobView>,
}

/// A failed read.
#[derive(Debug, Clone)]
pub(crate) struct ReadError {
    pub mark: Mark,
    pub error: String,
    /// Whether it was a final read (rather than a poll).
    pub is_final: bool,
}

/// Everything the checker remembers about one key.
#[derive(Debug, Clone)]
pub(crate) struct KeyHistory {
    pub key: String,
    pub site: Option<(String, usize)>,
    pub invoke: Option<Mark>,
    pub submit: Option<SubmitEnd>,
    /// The last successful read (poll or final) that found at least one job.
    pub last_seen: Option<Seen>,
    /// The last successful final read.
    pub final_read: Option<Seen>,
    /// The last read that failed.
    pub last_error: Option<ReadError>,
}

fn rank(kind: OpType) -> u8 {
    match kind {
        OpType::Ok => 3,
        OpType::Info => 2,
        OpType::Fail => 1,
        OpType::Invoke => 0,
    }
}

impl Checker {
    /// An empty checker.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Distinct keys submitted so far, over all tests.
    pub fn keys(&self) -> usize {
        self.keys
    }

    /// Fold one record in. Records must come in history order.
    pub fn observe(&mut self, record: &Record) {
        match (record.f, record.kind) {
            (OpFn::Settle, OpType::Invoke) => {}
            (OpFn::Settle, _) => self.settle = Some(record.decode()),
            (OpFn::Submit, OpType::Invoke) => {
                let invoke: SubmitInvoke = record.decode();
                let entry = self.entry(record);
                entry.invoke.get_or_insert(Mark::of(record));
                if entry.site.is_none() {
                    entry.site = Some((invoke.scenario, invoke.step));
                }
            }
            (OpFn::Submit, kind) => {
                let done: SubmitDone = record.decode();
                let entry = self.entry(record);
                let stronger = entry
                    .submit
                    .as_ref()
                    .is_none_or(|s| rank(kind) > rank(s.kind));
                if stronger {
                    entry.submit = Some(SubmitEnd {
                        kind,
                        mark: Mark::of(record),
                        status: done.status,
                        error: done.error,
                    });
                }
            }
            (OpFn::Read | OpFn::FinalRead, OpType::Invoke) => {}
            (OpFn::Read | OpFn::FinalRead, kind) => {
                let Some(entry) = self.existing(record) else {
                    return;
                };
                let done: ReadDone = record.decode();
                if kind != OpType::Ok {
                    entry.last_error = Some(ReadError {
                        mark: Mark::of(record),
                        error: done
                            .error
                            .or(done.status.map(|s| format!("HTTP {s}")))
                            .unwrap_or_else(|| "no response".to_string()),
                        is_final: record.f == OpFn::FinalRead,
                    });
                    return;
                }
                let seen = Seen {
                    mark: Mark::of(record),
                    status: done.status,
                    jobs: done.jobs,
                    items: done.items,
                };
                if record.f == OpFn::FinalRead {
                    if seen.jobs > 0 {
                        entry.last_seen = Some(seen.clone());
                    }
                    entry.final_read = Some(seen);
                } else if seen.jobs > 0 {
                    entry.last_seen = Some(seen);
                }
            }
        }
    }

    fn entry(&mut self, record: &Record) -> &mut KeyHistory {
        let test = self.tests.entry(record.test.clone()).or_default();
        let at = match test.slots.get(&record.key) {
            Some(&at) => at,
            None => {
                self.keys += 1;
                test.keys.push(KeyHistory {
                    key: record.key.clone(),
                    site: None,
                    invoke: None,
                    submit: None,
                    last_seen: None,
                    final_read: None,
                    last_error: None,
                });
                test.slots.insert(record.key.clone(), test.keys.len() - 1);
                test.keys.len() - 1
            }
        };
        &mut test.keys[at]
    }

    fn existing(&mut self, record: &Record) -> Option<&mut KeyHistory> {
        let test = self.tests.get_mut(&record.test)?;
        let at = *test.slots.get(&record.key)?;
        test.keys.get_mut(at)
    }

    /// Whether the last settle in the history completed (every key terminal or absent).
    pub fn settled(&self) -> bool {
        self.settle.as_ref().is_some_and(|s| s.settled)
    }

    /// Classify every key seen so far against `plan`'s track specs.
    pub fn finish(&self, plan: &Plan) -> BTreeMap<String, LedgerSummary> {
        let settled = self.settled();
        self.tests
            .iter()
            .map(|(test, keys)| {
                let mut summary = LedgerSummary {
                    tracked: keys.keys.len() as u64,
                    counts: ALL_CLASSES.iter().map(|&c| (c, 0)).collect(),
                    examples: BTreeMap::new(),
                    settled,
                };
                for key in &keys.keys {
                    for (class, example) in classify_key(key, plan, settled) {
                        *summary.counts.entry(class).or_insert(0) += 1;
                        if class != LedgerClass::Ok {
                            let examples = summary.examples.entry(class).or_default();
                            if examples.len() < MAX_EXAMPLES {
                                examples.push(example);
                            }
                        }
                    }
                }
                (test.clone(), summary)
            })
            .collect()
    }
}

/// The class (or, for a recovered key, the two classes) of one key, each with its example.
fn classify_key(key: &KeyHistory, plan: &Plan, settled: bool) -> Vec<(LedgerClass, LedgerExample)> {
    let one = |class: LedgerClass, why: String, witnesses: Vec<u64>| {
        vec![(class, example(key, why, witnesses))]
    };
    let submit = why::submit(key);
    let submit_witness = key
        .submit
        .as_ref()
        .map(|s| s.mark.index)
        .or(key.invoke.map(|m| m.index));
    let Some(track) = key
        .site
        .as_ref()
        .and_then(|(scenario, step)| track_at(plan, scenario, *step))
    else {
        let site = match &key.site {
            Some((scenario, step)) => format!("step {step} of scenario `{scenario}`"),
            None => "its track step".to_string(),
        };
        return one(
            LedgerClass::Unknown,
            format!(
                "{submit}; {site} is not a track step of the plan, so its state cannot be judged"
            ),
            witnesses([submit_witness, None, None]),
        );
    };
    let Some(last) = &key.final_read else {
        return one(
            LedgerClass::Unknown,
            format!("{submit}; {}", why::no_final_read(key)),
            witnesses([
                submit_witness,
                key.last_seen.as_ref().map(|s| s.mark.index),
                key.last_error.as_ref().map(|e| e.mark.index),
            ]),
        );
    };
    let seen_witness = key.last_seen.as_ref().map(|s| s.mark.index);
    let all = witnesses([submit_witness, seen_witness, Some(last.mark.index)]);
    let final_text = why::final_read(last);
    let kind = key.submit.as_ref().map_or(OpType::Info, |s| s.kind);
    let found = last.jobs > 0;
    match kind {
        OpType::Ok => one(
            acked_class(assess(track, last.jobs, &last.items)),
            format!(
                "{submit}; {}{final_text}",
                why::last_seen_unless_final(key, last)
            ),
            all,
        ),
        OpType::Fail if found => one(
            LedgerClass::Resurrected,
            format!("{submit}; {final_text}"),
            all,
        ),
        OpType::Fail => one(
            LedgerClass::Rejected,
            format!("{submit}; {final_text}"),
            all,
        ),
        OpType::Info | OpType::Invoke if found => {
            let then = acked_class(assess(track, last.jobs, &last.items));
            let text = format!("{submit}; {final_text}");
            vec![
                (
                    LedgerClass::Recovered,
                    example(
                        key,
                        format!("{text}; then judged {}", class_name(then)),
                        all.clone(),
                    ),
                ),
                (then, example(key, format!("{text} (recovered)"), all)),
            ]
        }
        OpType::Info | OpType::Invoke if settled => one(
            LedgerClass::NotApplied,
            format!("{submit}; settle completed, and {final_text}"),
            all,
        ),
        OpType::Info | OpType::Invoke => one(
            LedgerClass::Unknown,
            format!("{submit}; settle did not complete, and {final_text}, so it may still appear"),
            all,
        ),
    }
}

fn acked_class(assessment: Assessment) -> LedgerClass {
    match assessment {
        Assessment::Absent => LedgerClass::Lost,
        Assessment::Duplicates => LedgerClass::Duplicates,
        Assessment::NonTerminal => LedgerClass::Stuck,
        Assessment::Succeeded => LedgerClass::Ok,
        Assessment::Failed => LedgerClass::Failed,
    }
}

/// The class's name as it appears in reports and thresholds.
pub fn class_name(class: LedgerClass) -> &'static str {
    match class {
        LedgerClass::Ok => "ok",
        LedgerClass::Lost => "lost",
        LedgerClass::Duplicates => "duplicates",
        LedgerClass::Stuck => "stuck",
        LedgerClass::Unknown => "unknown",
        LedgerClass::Failed => "failed",
        LedgerClass::Recovered => "recovered",
        LedgerClass::NotApplied => "not_applied",
        LedgerClass::Rejected => "rejected",
        LedgerClass::Resurrected => "resurrected",
    }
}

fn example(key: &KeyHistory, why: String, witnesses: Vec<u64>) -> LedgerExample {
    LedgerExample {
        key: key.key.clone(),
        why,
        witnesses,
    }
}

/// Witness indices: present ones, ascending, without repeats.
fn witnesses(indices: [Option<u64>; 3]) -> Vec<u64> {
    let mut out: Vec<u64> = indices.into_iter().flatten().collect();
    out.sort_unstable();
    out.dedup();
    out
}
