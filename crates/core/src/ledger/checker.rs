//! The checker: a pure, linear-time fold over history records that classifies every tracked key
//! (DESIGN section 7).
//!
//! [`Checker::observe`] takes records one at a time and keeps one small entry per key (its
//! submit, the last read that saw it, its last final read, its last read error, and a bounded
//! [`KeyTrace`] of what the reads showed over time), so the live ledger can run it as it writes
//! and `shakedown check` can run it over a saved `history.jsonl` with the same answer. The
//! checker judges by a [`LedgerSpec`] (the plan's track rules, also saved as
//! `ledger-spec.json`); [`Checker::finish`] produces a [`LedgerSummary`] per test id.
//!
//! Classification of a key, from its submit outcome and its last successful FINAL read (its
//! outcome class; [`crate::ledger::classes`] has the full rules):
//!
//! - no successful final read: `unknown`;
//! - submit `ok` (acknowledged): no job is `lost`; more than one job, or a job with more than one
//!   result, is `duplicates`; one non-terminal job is `stuck`; one job terminal in a success
//!   state is `ok`, in another terminal state `failed`;
//! - submit `info` (indeterminate, or invoked and never completed): no job is `not_applied` after
//!   a complete settle and `unknown` after an incomplete one; a job found is `recovered` **and**
//!   is then classified like an acknowledged key;
//! - submit `fail` (definitely rejected): no job is `rejected`; a job found is `resurrected`.
//!
//! On top of its outcome class, a key can be `state_regression` (a read saw it terminal, a later
//! one non-terminal), `conflicting_terminal` (two terminal states) and `slow` (certainly
//! terminal later than its track's objective), decided from every read in the same pass. Class
//! counts can therefore add up to more than `tracked`.
//!
//! A key submitted more than once is judged by its strongest submit outcome (ok, then info, then
//! fail). Reads that fail never change a class by themselves; they only explain an `unknown`.

use std::collections::{BTreeMap, HashMap};

use crate::ledger::classes::{KeyVerdict, ObjectiveOutcome, StuckSubtype, judge_key};
use crate::ledger::distribution::WorkHistograms;
use crate::ledger::record::{
    JobView, OpFn, OpType, ReadDone, Record, ReplayDone, SettleDone, SubmitDone, SubmitInvoke,
};
use crate::ledger::spec::LedgerSpec;
use crate::ledger::summary::{LedgerSummary, ObjectiveSummary};
use crate::ledger::trace::KeyTrace;
use shakedown_plan::model::{LedgerClass, Plan};

/// Examples kept per non-ok class and test.
pub const MAX_EXAMPLES: usize = 32;

/// Every ledger class, in report order.
pub const ALL_CLASSES: [LedgerClass; 15] = [
    LedgerClass::Ok,
    LedgerClass::Lost,
    LedgerClass::Duplicates,
    LedgerClass::Stuck,
    LedgerClass::Failed,
    LedgerClass::Recovered,
    LedgerClass::NotApplied,
    LedgerClass::Rejected,
    LedgerClass::Resurrected,
    LedgerClass::StateRegression,
    LedgerClass::ConflictingTerminal,
    LedgerClass::Slow,
    LedgerClass::Collision,
    LedgerClass::ReplayCreated,
    LedgerClass::Unknown,
];

/// Classify every key of a history against `plan`'s track specs. Pure and linear in the number
/// of records; grouped by test id. Only tests that have at least one submit appear.
pub fn classify(records: &[Record], plan: &Plan) -> BTreeMap<String, LedgerSummary> {
    classify_with(records, LedgerSpec::from_plan(plan))
}

/// [`classify`] by a saved spec (what `shakedown check` uses).
pub fn classify_with(records: &[Record], spec: LedgerSpec) -> BTreeMap<String, LedgerSummary> {
    let mut checker = Checker::new(spec);
    for record in records {
        checker.observe(record);
    }
    checker.finish()
}

/// The incremental form of [`classify`]: memory is bounded by the number of keys.
#[derive(Debug, Default)]
pub struct Checker {
    spec: LedgerSpec,
    tests: BTreeMap<String, TestKeys>,
    settle: Option<SettleDone>,
    keys: usize,
    /// Job id -> the distinct (test, key, first read index) it was seen under, at most
    /// [`MAX_SHARERS`]: one pass over the job ids finds collisions.
    jobs: HashMap<String, Vec<(String, String, u64)>>,
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
    /// The id of the test the key belongs to.
    pub test_id: String,
    pub site: Option<(String, usize)>,
    /// The position of the key's track rules in the spec, once its site is known.
    pub rules: Option<usize>,
    /// What the reads showed over time.
    pub trace: KeyTrace,
    pub invoke: Option<Mark>,
    pub submit: Option<SubmitEnd>,
    /// The last successful read (poll or final) that found at least one job.
    pub last_seen: Option<Seen>,
    /// The last successful final read.
    pub final_read: Option<Seen>,
    /// The last read that failed.
    pub last_error: Option<ReadError>,
    /// Why no read of the key could be made, as its last submit completion said.
    pub unresolved: Option<String>,
    /// How the replay of its submit ended, if it was replayed.
    pub replay: Option<ReplayEnd>,
    /// The first job a read saw for this key, and a later read that saw another one alone.
    pub changed_job: Option<(Mark, String, Mark, String)>,
    /// The first job read for this key whose own key (`key_field`) is another: its id, its key,
    /// and the read.
    pub foreign: Option<(String, String, Mark)>,
    first_job: Option<(Mark, String)>,
}

/// How a replay ended.
#[derive(Debug, Clone)]
pub(crate) struct ReplayEnd {
    pub kind: OpType,
    pub mark: Mark,
    pub status: Option<u16>,
    pub created: bool,
    pub error: Option<String>,
}

/// Keys seen sharing one job: (test, key, the first read of it under that key). Bounded.
const MAX_SHARERS: usize = 8;

/// What the checker learned of the keys that shared a job with a key.
#[derive(Debug, Clone)]
pub(crate) struct Collision {
    /// The shared job's id.
    pub job: String,
    /// Every other key (test, key, read index) seen with it.
    pub others: Vec<(String, String, u64)>,
    /// The read that saw it under this key.
    pub mine: u64,
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
    /// An empty checker that judges keys by `spec`.
    pub fn new(spec: LedgerSpec) -> Checker {
        Checker {
            spec,
            ..Checker::default()
        }
    }

    /// The spec it judges by.
    pub fn spec(&self) -> &LedgerSpec {
        &self.spec
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
                let rules = self.spec.position(&invoke.scenario, invoke.step);
                let entry = self.entry(record);
                entry.invoke.get_or_insert(Mark::of(record));
                if entry.site.is_none() {
                    entry.site = Some((invoke.scenario, invoke.step));
                    entry.rules = rules;
                }
            }
            (OpFn::Submit, kind) => {
                let done: SubmitDone = record.decode();
                let entry = self.entry(record);
                let stronger = entry
                    .submit
                    .as_ref()
                    .is_none_or(|s| rank(kind) > rank(s.kind));
                entry.unresolved = done.unresolved;
                if stronger {
                    entry.submit = Some(SubmitEnd {
                        kind,
                        mark: Mark::of(record),
                        status: done.status,
                        error: done.error,
                    });
                }
            }
            (OpFn::Read | OpFn::FinalRead | OpFn::Replay, OpType::Invoke) => {}
            (OpFn::Read | OpFn::FinalRead, kind) => self.observe_read(record, kind),
            (OpFn::Replay, kind) => {
                let done: ReplayDone = record.decode();
                if let Some(entry) = existing(&mut self.tests, record) {
                    entry.replay = Some(ReplayEnd {
                        kind,
                        mark: Mark::of(record),
                        status: done.status,
                        created: done.created,
                        error: done.error,
                    });
                }
            }
        }
    }

    fn observe_read(&mut self, record: &Record, kind: OpType) {
        let spec = &self.spec;
        let Some(entry) = existing(&mut self.tests, record) else {
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
        if let Some(rules) = entry.rules.and_then(|at| spec.tracks.get(at)) {
            entry
                .trace
                .observe(rules, Mark::of(record), done.jobs, &done.items);
        }
        let mark = Mark::of(record);
        for job in &done.items {
            let Some(id) = &job.id else { continue };
            if let Some(own) = job.key.as_ref().filter(|k| **k != record.key) {
                entry
                    .foreign
                    .get_or_insert_with(|| (id.clone(), own.clone(), mark));
            }
            let sharers = self.jobs.entry(id.clone()).or_default();
            let known = sharers
                .iter()
                .any(|(t, k, _)| *t == record.test && *k == record.key);
            if !known && sharers.len() < MAX_SHARERS {
                sharers.push((record.test.clone(), record.key.clone(), mark.index));
            }
        }
        if let [job] = done.items.as_slice()
            && done.jobs == 1
            && let Some(id) = &job.id
        {
            match &entry.first_job {
                None => entry.first_job = Some((mark, id.clone())),
                Some((first, seen)) if seen != id && entry.changed_job.is_none() => {
                    entry.changed_job = Some((*first, seen.clone(), mark, id.clone()));
                }
                Some(_) => {}
            }
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

    fn entry(&mut self, record: &Record) -> &mut KeyHistory {
        let test = self.tests.entry(record.test.clone()).or_default();
        let at = match test.slots.get(&record.key) {
            Some(&at) => at,
            None => {
                self.keys += 1;
                test.keys.push(KeyHistory {
                    key: record.key.clone(),
                    test_id: record.test.clone(),
                    site: None,
                    rules: None,
                    trace: KeyTrace::default(),
                    invoke: None,
                    submit: None,
                    last_seen: None,
                    final_read: None,
                    last_error: None,
                    unresolved: None,
                    replay: None,
                    changed_job: None,
                    foreign: None,
                    first_job: None,
                });
                test.slots.insert(record.key.clone(), test.keys.len() - 1);
                test.keys.len() - 1
            }
        };
        &mut test.keys[at]
    }

    /// Whether the last settle in the history completed (every key terminal or absent).
    pub fn settled(&self) -> bool {
        self.settle.as_ref().is_some_and(|s| s.settled)
    }

    /// Classify every key seen so far.
    pub fn finish(&self) -> BTreeMap<String, LedgerSummary> {
        let settled = self.settled();
        let collisions = self.collisions();
        self.tests
            .iter()
            .map(|(test, keys)| {
                let mut tally = Tally::new(keys.keys.len() as u64, settled);
                for key in &keys.keys {
                    let rules = key.rules.and_then(|at| self.spec.tracks.get(at));
                    let collision = collisions.get(&(test.as_str(), key.key.as_str()));
                    let interval = self.spec.settle.interval_ms;
                    tally.add(judge_key(key, rules, settled, interval, collision));
                }
                (test.clone(), tally.summary())
            })
            .collect()
    }

    /// Every key that shares a job with another key, by (test, key): one pass over the job ids.
    fn collisions(&self) -> HashMap<(&str, &str), Collision> {
        let mut found: HashMap<(&str, &str), Collision> = HashMap::new();
        for (job, sharers) in &self.jobs {
            // One key submitted by two tests is one key: an idempotent service rightly answers
            // it with the same job.
            let first_key = sharers.first().map(|(_, k, _)| k);
            if sharers.iter().all(|(_, k, _)| Some(k) == first_key) {
                continue;
            }
            for (test, key, mine) in sharers {
                let others: Vec<_> = sharers
                    .iter()
                    .filter(|(_, k, _)| k != key)
                    .cloned()
                    .collect();
                found
                    .entry((test.as_str(), key.as_str()))
                    .or_insert_with(|| Collision {
                        job: job.clone(),
                        others,
                        mine: *mine,
                    });
            }
        }
        found
    }
}

fn existing<'t>(
    tests: &'t mut BTreeMap<String, TestKeys>,
    record: &Record,
) -> Option<&'t mut KeyHistory> {
    let test = tests.get_mut(&record.test)?;
    let at = *test.slots.get(&record.key)?;
    test.keys.get_mut(at)
}

/// One test's summary while its keys are added.
struct Tally {
    summary: LedgerSummary,
    histograms: WorkHistograms,
    objective: Option<ObjectiveSummary>,
}

impl Tally {
    fn new(tracked: u64, settled: bool) -> Tally {
        Tally {
            summary: LedgerSummary {
                tracked,
                counts: ALL_CLASSES.iter().map(|&c| (c, 0)).collect(),
                settled,
                ..LedgerSummary::default()
            },
            histograms: WorkHistograms::new(),
            objective: None,
        }
    }

    fn add(&mut self, verdict: KeyVerdict) {
        let summary = &mut self.summary;
        let mut counted: Vec<LedgerClass> = Vec::new();
        for (class, example) in verdict.classes {
            // A key counts once per class, however many reasons it has for it.
            if counted.contains(&class) {
                continue;
            }
            counted.push(class);
            *summary.counts.entry(class).or_insert(0) += 1;
            if class != LedgerClass::Ok {
                let examples = summary.examples.entry(class).or_default();
                if examples.len() < MAX_EXAMPLES {
                    examples.push(example);
                }
            }
        }
        let subtypes = &mut summary.stuck_subtypes;
        match verdict.stuck {
            Some(StuckSubtype::NeverStarted) => subtypes.never_started += 1,
            Some(StuckSubtype::Orphaned) => subtypes.orphaned += 1,
            Some(StuckSubtype::RetryLoop) => subtypes.retry_loop += 1,
            Some(StuckSubtype::Unspecified) => subtypes.unspecified += 1,
            None => {}
        }
        summary.duplicate_kinds.job += u64::from(verdict.duplicate_job);
        summary.duplicate_kinds.effect += u64::from(verdict.duplicate_effect);
        if let Some(outcome) = verdict.objective {
            let o = self.objective.get_or_insert_with(ObjectiveSummary::default);
            match outcome {
                ObjectiveOutcome::Met => o.met += 1,
                ObjectiveOutcome::Slow => o.slow += 1,
                ObjectiveOutcome::Undetermined => o.undetermined += 1,
            }
        }
        if let Some(time) = verdict.time_to_terminal {
            self.histograms.record_time_to_terminal(time);
        }
        if let Some(gap) = verdict.terminal_within {
            self.histograms.record_terminal_within(gap);
        }
        if let Some(at) = verdict.terminal_at_ns {
            let last = &mut self.summary.last_terminal_ns;
            *last = Some(last.map_or(at, |l| l.max(at)));
        }
        for attempts in verdict.attempts {
            self.histograms.record_attempts(attempts);
        }
    }

    fn summary(mut self) -> LedgerSummary {
        self.summary.objective = self.objective;
        self.summary.time_to_terminal_ms = self.histograms.time_to_terminal_ms();
        self.summary.terminal_within_ms = self.histograms.terminal_within_ms();
        self.summary.attempts = self.histograms.attempts();
        self.summary
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
        LedgerClass::StateRegression => "state_regression",
        LedgerClass::ConflictingTerminal => "conflicting_terminal",
        LedgerClass::Slow => "slow",
        LedgerClass::Collision => "collision",
        LedgerClass::ReplayCreated => "replay_created",
    }
}
