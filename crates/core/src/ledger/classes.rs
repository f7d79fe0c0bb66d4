//! The classes of one key, decided from what the checker kept about it: its outcome class (from
//! the submit and the last successful final read), `recovered`, the anomaly classes seen over
//! every read (`state_regression`, `conflicting_terminal`, `slow`), the stuck subtype, the
//! duplicate kinds, and the key's figures for the histograms.
//!
//! A stuck key's subtype, where the track's oracle tells (checked in this order):
//!
//! - `retry_loop`: its attempt count is above the track's `max_attempts`;
//! - `orphaned`: it is in a `started` state, and at least two reads in a row saw the same state,
//!   attempts and progress marker (the track needs `attempts` or `updated`);
//! - `never_started`: it was never seen in a `started` state, and its attempts are 0 (each
//!   checked when the track has it);
//! - `unspecified`: no oracle tells, or the job is still moving.
//!
//! `slow` is decided only when the reads prove it: the read before the first terminal sighting
//! came after the objective and still saw the key non-terminal. When the first terminal sighting
//! is after the objective but the read before it is not, the outcome is undetermined.

use std::time::Duration;

use crate::ledger::checker::{Collision, KeyHistory, Seen};
use crate::ledger::record::OpType;
use crate::ledger::spec::{Assessment, TrackRules};
use crate::ledger::summary::LedgerExample;
use crate::ledger::why;
use shakedown_plan::model::LedgerClass;

/// Why a key is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StuckSubtype {
    /// Never seen in a started state, and 0 attempts.
    NeverStarted,
    /// In a started state, and its progress stopped.
    Orphaned,
    /// More attempts than the track allows.
    RetryLoop,
    /// No oracle tells.
    Unspecified,
}

/// A key against its track's time objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveOutcome {
    /// Seen terminal within the objective.
    Met,
    /// Certainly terminal later than the objective.
    Slow,
    /// The reads cannot tell.
    Undetermined,
}

/// Everything one key contributes to its test's summary.
#[derive(Debug, Default)]
pub struct KeyVerdict {
    /// Its classes, each with its example.
    pub classes: Vec<(LedgerClass, LedgerExample)>,
    /// Its subtype, when it is stuck.
    pub stuck: Option<StuckSubtype>,
    /// It has more than one job.
    pub duplicate_job: bool,
    /// One of its jobs has more than one result.
    pub duplicate_effect: bool,
    /// How it fared against the objective, when its track has one and it reached a terminal
    /// state.
    pub objective: Option<ObjectiveOutcome>,
    /// Submit to the first read that saw it terminal (acknowledged or recovered keys).
    pub time_to_terminal: Option<Duration>,
    /// When the first read that saw it terminal was made, ns on the ledger's clock.
    pub terminal_at_ns: Option<u64>,
    /// How precisely that time is known: from the last read that saw the key not yet terminal
    /// (or its submit, when no read came before) to the first read that saw it terminal.
    pub terminal_within: Option<Duration>,
    /// The attempt count of each of its jobs at the final read.
    pub attempts: Vec<u64>,
}

impl KeyVerdict {
    fn push(&mut self, key: &KeyHistory, class: LedgerClass, why: String, witnesses: Vec<u64>) {
        self.classes.push((
            class,
            LedgerExample {
                key: key.key.clone(),
                why,
                witnesses: sorted(witnesses),
            },
        ));
    }
}

/// Judge one key. `rules` is its track's (None: its submit names no track step of the spec);
/// `settled` says whether settle completed; `interval_ms` is the settle poll interval.
pub(crate) fn judge_key(
    key: &KeyHistory,
    rules: Option<&TrackRules>,
    settled: bool,
    interval_ms: u64,
    collision: Option<&Collision>,
) -> KeyVerdict {
    let mut verdict = KeyVerdict::default();
    let submit = why::submit(key);
    let submit_witness = key
        .submit
        .as_ref()
        .map(|s| s.mark.index)
        .or(key.invoke.map(|m| m.index));
    let Some(rules) = rules else {
        let site = match &key.site {
            Some((scenario, step)) => format!("step {step} of scenario `{scenario}`"),
            None => "its track step".to_string(),
        };
        verdict.push(
            key,
            LedgerClass::Unknown,
            format!(
                "{submit}; {site} is not a track step of the plan, so its state cannot be judged"
            ),
            submit_witness.into_iter().collect(),
        );
        return verdict;
    };
    anomalies(&mut verdict, key, submit_witness);
    collisions(&mut verdict, key, submit_witness, collision);
    let replay = key.replay.as_ref();
    let Some(last) = &key.final_read else {
        let unresolved = match (&key.unresolved, replay) {
            (Some(no_read), Some(r)) => format!(
                "no read could find its job ({no_read}), and the replay at {} (op {}) resolved \
                 nothing: {}",
                why::at(r.mark.time_ns),
                r.mark.index,
                r.error.as_deref().unwrap_or("no answer")
            ),
            (Some(no_read), None) => format!(
                "no read could find its job ({no_read}), and nothing else resolved it: give \
                 the track a read by `{{{{ key }}}}`, or resolve = \"replay\""
            ),
            (None, _) => why::no_final_read(key),
        };
        verdict.push(
            key,
            LedgerClass::Unknown,
            format!("{submit}; {unresolved}"),
            [
                submit_witness,
                key.last_seen.as_ref().map(|s| s.mark.index),
                key.last_error.as_ref().map(|e| e.mark.index),
            ]
            .into_iter()
            .flatten()
            .collect(),
        );
        return verdict;
    };
    if rules.attempts.is_some() {
        verdict.attempts = last.items.iter().filter_map(|j| j.attempts).collect();
    }
    let seen_witness = key.last_seen.as_ref().map(|s| s.mark.index);
    let all: Vec<u64> = [submit_witness, seen_witness, Some(last.mark.index)]
        .into_iter()
        .flatten()
        .collect();
    let final_text = why::final_read(last);
    let kind = key.submit.as_ref().map_or(OpType::Info, |s| s.kind);
    let found = last.jobs > 0;
    match kind {
        OpType::Ok => {
            let text = format!(
                "{submit}; {}{final_text}",
                why::last_seen_unless_final(key, last)
            );
            acked(&mut verdict, key, rules, last, text, all, interval_ms);
        }
        OpType::Fail if found => verdict.push(
            key,
            LedgerClass::Resurrected,
            format!("{submit}; {final_text}"),
            all,
        ),
        OpType::Fail => verdict.push(
            key,
            LedgerClass::Rejected,
            format!("{submit}; {final_text}"),
            all,
        ),
        OpType::Info | OpType::Invoke if let Some(r) = replay.filter(|r| r.kind == OpType::Ok) => {
            let status = r.status.map_or("no status".to_string(), |s| s.to_string());
            let replayed = format!(
                "its replay at {} answered {status} (op {})",
                why::at(r.mark.time_ns),
                r.mark.index
            );
            let mut all = all;
            all.push(r.mark.index);
            let all = sorted(all);
            if !found {
                verdict.push(
                    key,
                    LedgerClass::Lost,
                    format!("{submit}; {replayed}, yet {final_text}"),
                    all,
                );
                return verdict;
            }
            let (class, how) = if r.created {
                (LedgerClass::ReplayCreated, "the replay created it")
            } else {
                (LedgerClass::Recovered, "the replay found it")
            };
            let then = outcome_class(rules.assess(last.jobs, &last.items));
            let text = format!("{submit}; {replayed}: {how}; {final_text}");
            verdict.push(
                key,
                class,
                format!("{text}; then judged {}", why::class_word(then)),
                all.clone(),
            );
            acked(&mut verdict, key, rules, last, text, all, interval_ms);
        }
        OpType::Info | OpType::Invoke if found => {
            let then = outcome_class(rules.assess(last.jobs, &last.items));
            let text = format!("{submit}; {final_text}");
            verdict.push(
                key,
                LedgerClass::Recovered,
                format!("{text}; then judged {}", why::class_word(then)),
                all.clone(),
            );
            acked(
                &mut verdict,
                key,
                rules,
                last,
                format!("{text} (recovered)"),
                all,
                interval_ms,
            );
        }
        OpType::Info | OpType::Invoke if settled => verdict.push(
            key,
            LedgerClass::NotApplied,
            format!("{submit}; settle completed, and {final_text}"),
            all,
        ),
        OpType::Info | OpType::Invoke => verdict.push(
            key,
            LedgerClass::Unknown,
            format!("{submit}; settle did not complete, and {final_text}, so it may still appear"),
            all,
        ),
    }
    verdict
}

/// The outcome class of an acknowledged (or recovered) key, with its subtype, duplicate kinds,
/// time to terminal and objective.
fn acked(
    verdict: &mut KeyVerdict,
    key: &KeyHistory,
    rules: &TrackRules,
    last: &Seen,
    text: String,
    witnesses: Vec<u64>,
    interval_ms: u64,
) {
    let class = outcome_class(rules.assess(last.jobs, &last.items));
    let text = match class {
        LedgerClass::Stuck => {
            let (subtype, why) = stuck_subtype(key, rules, last);
            verdict.stuck = Some(subtype);
            format!("{why}: {text}")
        }
        LedgerClass::Duplicates => {
            verdict.duplicate_job = last.jobs > 1;
            verdict.duplicate_effect = last.items.iter().any(|j| j.results.is_some_and(|n| n > 1));
            let kinds = match (verdict.duplicate_job, verdict.duplicate_effect) {
                (true, true) => "duplicate job and duplicate effect",
                (true, false) => "duplicate job",
                _ => "duplicate effect",
            };
            format!("{kinds}: {text}")
        }
        _ => text,
    };
    verdict.push(key, class, text, witnesses);
    objective(verdict, key, rules, interval_ms);
}

fn outcome_class(assessment: Assessment) -> LedgerClass {
    match assessment {
        Assessment::Absent => LedgerClass::Lost,
        Assessment::Duplicates => LedgerClass::Duplicates,
        Assessment::NonTerminal => LedgerClass::Stuck,
        Assessment::Succeeded => LedgerClass::Ok,
        Assessment::Failed => LedgerClass::Failed,
    }
}

/// `collision`: the key's job was read under another key too, or says it belongs to another
/// key; and a second `duplicates` kind: two reads of the key saw two different single jobs.
fn collisions(
    verdict: &mut KeyVerdict,
    key: &KeyHistory,
    submit: Option<u64>,
    collision: Option<&Collision>,
) {
    let submit_text = why::submit(key);
    if let Some(c) = collision {
        let others: Vec<String> = c
            .others
            .iter()
            .map(|(test, other, op)| {
                if test == &key.test_id {
                    format!("key {other} (op {op})")
                } else {
                    format!("key {other} of {test} (op {op})")
                }
            })
            .collect();
        let mut witnesses = vec![c.mine];
        witnesses.extend(c.others.iter().map(|(_, _, op)| *op));
        witnesses.extend(submit);
        verdict.push(
            key,
            LedgerClass::Collision,
            format!(
                "{submit_text}; job {} was read for this key (op {}) and also under {}",
                c.job,
                c.mine,
                others.join(", ")
            ),
            witnesses,
        );
    } else if let Some((job, own, mark)) = &key.foreign {
        verdict.push(
            key,
            LedgerClass::Collision,
            format!(
                "{submit_text}; job {job}, read for this key at {} (op {}), says its key is {own}",
                why::at(mark.time_ns),
                mark.index
            ),
            [submit, Some(mark.index)].into_iter().flatten().collect(),
        );
    }
    if let Some((first, was, then, now)) = &key.changed_job {
        verdict.push(
            key,
            LedgerClass::Duplicates,
            format!(
                "{submit_text}; two reads saw two different jobs for the key: {was} at {} (op {}), \
                 then {now} at {} (op {})",
                why::at(first.time_ns),
                first.index,
                why::at(then.time_ns),
                then.index
            ),
            [submit, Some(first.index), Some(then.index)]
                .into_iter()
                .flatten()
                .collect(),
        );
        verdict.duplicate_job = true;
    }
}

/// `state_regression` and `conflicting_terminal`, from every read of the key.
fn anomalies(verdict: &mut KeyVerdict, key: &KeyHistory, submit: Option<u64>) {
    let submit_text = why::submit(key);
    if let Some((was, now)) = &key.trace.regression {
        verdict.push(
            key,
            LedgerClass::StateRegression,
            format!("{submit_text}; {}", why::regression(was, now)),
            [submit, Some(was.mark.index), Some(now.mark.index)]
                .into_iter()
                .flatten()
                .collect(),
        );
    }
    if let Some((first, second)) = &key.trace.conflict {
        verdict.push(
            key,
            LedgerClass::ConflictingTerminal,
            format!("{submit_text}; {}", why::conflict(first, second)),
            [submit, Some(first.mark.index), Some(second.mark.index)]
                .into_iter()
                .flatten()
                .collect(),
        );
    }
}

/// Time to terminal and the objective of a key that reached a terminal state.
fn objective(verdict: &mut KeyVerdict, key: &KeyHistory, rules: &TrackRules, interval_ms: u64) {
    let (Some(start), Some(terminal)) = (
        key.invoke.or(key.submit.as_ref().map(|s| s.mark)),
        key.trace.terminal_at,
    ) else {
        return;
    };
    let upper = terminal.time_ns.saturating_sub(start.time_ns);
    verdict.time_to_terminal = Some(Duration::from_nanos(upper));
    verdict.terminal_at_ns = Some(terminal.time_ns);
    let last_before = key
        .trace
        .before_terminal
        .filter(|m| m.time_ns > start.time_ns)
        .map_or(start.time_ns, |m| m.time_ns);
    verdict.terminal_within = Some(Duration::from_nanos(
        terminal.time_ns.saturating_sub(last_before),
    ));
    let Some(objective_ms) = rules.objective_ms else {
        return;
    };
    let objective_ns = objective_ms.saturating_mul(1_000_000);
    let lower = key
        .trace
        .before_terminal
        .filter(|m| m.time_ns > start.time_ns)
        .map(|m| (m, m.time_ns - start.time_ns));
    let outcome = match lower {
        Some((_, lower)) if lower > objective_ns => ObjectiveOutcome::Slow,
        _ if upper <= objective_ns => ObjectiveOutcome::Met,
        _ => ObjectiveOutcome::Undetermined,
    };
    verdict.objective = Some(outcome);
    if outcome == ObjectiveOutcome::Slow
        && let Some((before, lower)) = lower
    {
        let text = why::slow(
            key,
            start,
            terminal,
            before,
            (lower, upper),
            objective_ms,
            interval_ms,
        );
        verdict.push(
            key,
            LedgerClass::Slow,
            text,
            vec![start.index, before.index, terminal.index],
        );
    }
}

/// The subtype of a stuck key, and the words that explain it.
fn stuck_subtype(key: &KeyHistory, rules: &TrackRules, last: &Seen) -> (StuckSubtype, String) {
    let view = last.items.first();
    let trace = view.and_then(|v| key.trace.job(v, 0));
    let attempts = trace.and_then(|t| t.attempts);
    let state = view.and_then(|v| v.state.as_deref());
    if let (Some(max), Some(n)) = (rules.max_attempts, attempts)
        && n > max
    {
        return (
            StuckSubtype::RetryLoop,
            format!("stuck in a retry loop ({n} attempts, above max_attempts = {max})"),
        );
    }
    let progress = trace.and_then(|t| t.progress.as_ref());
    if rules.is_started(state)
        && rules.tracks_progress()
        && let Some(p) = progress.filter(|p| p.reads >= 2)
    {
        return (
            StuckSubtype::Orphaned,
            format!(
                "stuck, orphaned ({} with the same attempts and progress since {} (op {}), over \
                 {} reads)",
                state.unwrap_or("(no state)"),
                why::at(p.since.time_ns),
                p.since.index,
                p.reads
            ),
        );
    }
    let started_known = !rules.started.is_empty();
    let attempts_known = rules.attempts.is_some() && attempts.is_some();
    let was_started = started_known && trace.is_some_and(|t| t.started);
    let has_attempts = attempts_known && attempts.is_some_and(|n| n > 0);
    if (started_known || attempts_known) && !was_started && !has_attempts {
        return (
            StuckSubtype::NeverStarted,
            "stuck, never started (never seen in a started state, 0 attempts)".to_string(),
        );
    }
    let shown = state.unwrap_or("(no state)");
    let why = if !started_known && !rules.tracks_progress() {
        "stuck (the track has no `started`, `attempts` or `updated` to tell why)".to_string()
    } else if rules.is_started(state) && !rules.tracks_progress() {
        format!(
            "stuck ({shown}; the track has no `attempts` or `updated` to tell an orphaned job \
             from a slow one)"
        )
    } else if rules.is_started(state) {
        format!("stuck ({shown}, and its last read saw it move: it may still be running)")
    } else {
        format!("stuck ({shown}, after it had started; no subtype fits)")
    };
    (StuckSubtype::Unspecified, why)
}

fn sorted(mut witnesses: Vec<u64>) -> Vec<u64> {
    witnesses.sort_unstable();
    witnesses.dedup();
    witnesses
}
