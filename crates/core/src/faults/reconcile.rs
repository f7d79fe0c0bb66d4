//! `shakedown reconcile RUN_DIR`: replay every revert the journal says is still open, then mark
//! the run closed. It is idempotent: a process that is already gone, or already running,
//! counts as reverted ("already gone" is success), and what was replayed is recorded, so running
//! it twice changes nothing. `run` calls it at start-up on unfinished sibling runs.
//!
//! A sealed run directory is never written: what reconcile did to a sealed run is recorded in its
//! outside record, `RUN.reconciled.jsonl` next to it (see [`super::journal`]), which is also how
//! a second reconcile knows the first one was done. An unsealed run (killed before its seal) has
//! its journal appended as before. When `run` reconciles, it also lists what it did in its own
//! run directory, in `reconciled.jsonl`, each line naming the earlier run in `owner`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::drivers::{Delivery, is_stopped, proc_start_time, signal_recorded};
use super::journal::{
    Entry, Event, FAULT_JOURNAL, RECONCILED, Revert, append_to, is_closed, opener_alive, read_run,
    record_path, states,
};
use crate::stop::RunStop;

/// What reconcile did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    /// One line per open fault or process, in words.
    pub lines: Vec<String>,
    /// How many could not be reverted.
    pub failures: usize,
}

/// Reconcile the journal of the run directory `dir`.
pub fn reconcile(dir: &Path) -> std::io::Result<Reconciled> {
    reconcile_into(dir, None)
}

/// Where a run's start-up reconcile lists what it did: its own `reconciled.jsonl`, whose
/// failed write stops the run like any other write of its evidence.
struct Witness<'a> {
    path: PathBuf,
    stop: &'a RunStop,
}

/// Reconcile `dir`, also listing each record in `witness` (the `reconciled.jsonl` of the run
/// that does it) with `owner` naming `dir`.
fn reconcile_into(dir: &Path, witness: Option<&Witness<'_>>) -> std::io::Result<Reconciled> {
    if !dir.join(FAULT_JOURNAL).is_file() {
        return Ok(Reconciled {
            lines: vec![format!(
                "{}: no fault journal, nothing to reconcile",
                dir.display()
            )],
            failures: 0,
        });
    }
    let entries = read_run(dir)?;
    let record = record_path(dir);
    let write = |entry: Entry| -> std::io::Result<()> {
        if let Some(witness) = witness {
            let mut copy = entry.clone();
            copy.owner = Some(dir.display().to_string());
            append_to(&witness.path, copy)
                .inspect_err(|e| witness.stop.write_failed(&witness.path, e))?;
        }
        append_to(&record, entry)
    };
    let mut out = Reconciled::default();
    for (key, state) in states(&entries).into_iter().rev() {
        if !state.open() {
            continue;
        }
        let Some(intent) = state.intent else {
            continue;
        };
        let what = intent
            .action
            .clone()
            .unwrap_or_else(|| format!("{key} on {}", intent.target.clone().unwrap_or_default()));
        let recipe = match (&intent.event, &intent.revert) {
            // A process target that outlived its run: stop it.
            (
                Event::Started,
                Some(Revert::Signal {
                    pid,
                    start_time,
                    group,
                    ..
                }),
            ) => Revert::Signal {
                pid: *pid,
                start_time: *start_time,
                signal: "TERM".into(),
                group: *group,
            },
            (_, Some(recipe)) => recipe.clone(),
            (_, None) => Revert::Nothing {
                why: "no recipe was recorded".into(),
            },
        };
        match replay(&recipe, intent.event == Event::Started) {
            Ok(detail) => {
                for event in [Event::Reverted, Event::Confirmed] {
                    let mut entry = Entry::new(&key, event).detail(&detail).by("reconcile");
                    entry.action = Some(what.clone());
                    write(entry)?;
                }
                out.lines.push(format!("{key} ({what}): {detail}"));
            }
            Err(why) => {
                out.failures += 1;
                out.lines
                    .push(format!("{key} ({what}): NOT reverted: {why}"));
            }
        }
    }
    // Closing a run that is already closed would only add a line.
    if out.failures == 0 && !is_closed(&entries) {
        write(Entry::new("", Event::Closed).by("reconcile"))?;
    }
    if out.lines.is_empty() {
        out.lines
            .push(format!("{}: nothing left to undo", dir.display()));
    }
    Ok(out)
}

/// Replay one recipe; `stop_process` means the recipe's process must end (it outlived its run).
pub fn replay(recipe: &Revert, stop_process: bool) -> Result<String, String> {
    match recipe {
        Revert::Nothing { why } => Ok(format!("nothing to undo ({why})")),
        Revert::InProcess { verb } => Ok(format!(
            "the run that would {verb} it is gone, and so are the processes it supervised"
        )),
        Revert::Signal {
            pid,
            start_time,
            signal,
            group,
        } => {
            if stop_process {
                let stopped = stop(*pid, *start_time)?;
                return Ok(match (*group).then(|| stop_group(*pid)) {
                    Some(Some(left)) => format!("{stopped}; {left}"),
                    _ => stopped,
                });
            }
            let delivery = if *group {
                super::drivers::group::signal(*pid, *start_time, signal)?
            } else {
                signal_recorded(*pid, *start_time, signal)?
            };
            match delivery {
                Delivery::AlreadyGone => Ok(format!("pid {pid} is already gone")),
                Delivery::Sent => {
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while signal == "CONT" && is_stopped(*pid, *start_time) {
                        if Instant::now() >= deadline {
                            return Err(format!("pid {pid} is still stopped after SIGCONT"));
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Ok(format!(
                        "sent SIG{signal} to pid {pid}; it is no longer stopped"
                    ))
                }
            }
        }
        Revert::Command {
            command,
            timeout_ms,
        } => run(command, Duration::from_millis(*timeout_ms)),
    }
}

fn stop(pid: i32, start_time: Option<u64>) -> Result<String, String> {
    if signal_recorded(pid, start_time, "CONT")? == Delivery::AlreadyGone {
        return Ok(format!("process {pid} is already gone"));
    }
    signal_recorded(pid, start_time, "TERM")?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_start_time(pid).is_some_and(|t| start_time.is_none_or(|s| s == t))
        && super::drivers::proc_state(pid) != Some('Z')
    {
        if Instant::now() >= deadline {
            signal_recorded(pid, start_time, "KILL")?;
            return Ok(format!("process {pid} ignored SIGTERM and was killed"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("stopped process {pid}, which outlived its run"))
}

/// Kill what is left of the group a stopped process led (children that outlived it); what was
/// done, or None when nothing was left.
fn stop_group(pgid: i32) -> Option<String> {
    use super::drivers::group;
    let left = group::members(pgid);
    if left.is_empty() {
        return None;
    }
    let _ = group::signal(pgid, None, "KILL");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !group::members(pgid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(format!(
        "killed {} left in its group (pids {})",
        group::count(left.len()),
        group::list(&left)
    ))
}

fn run(command: &str, timeout: Duration) -> Result<String, String> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(format!("`{command}` exited 0")),
            Ok(Some(status)) => return Err(format!("`{command}` exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{command}` did not finish within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("`{command}`: {e}")),
        }
    }
}

/// Reconcile the unfinished journals a new run in `out_dir` could have inherited: those of its
/// siblings, skipping closed journals and journals of runs still alive. What it did is listed
/// in `out_dir/reconciled.jsonl`; `out_dir` itself is always a fresh directory.
pub fn reconcile_unfinished(out_dir: &Path, stop: &RunStop) -> Vec<String> {
    let mut dirs = Vec::new();
    if let Some(parent) = out_dir.parent()
        && let Ok(read_dir) = std::fs::read_dir(parent)
    {
        let mut siblings: Vec<_> = read_dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p != out_dir && p.join(FAULT_JOURNAL).is_file())
            .collect();
        siblings.sort();
        dirs.extend(siblings.into_iter().rev().take(50));
    }
    let witness = Witness {
        path: out_dir.join(RECONCILED),
        stop,
    };
    let mut lines = Vec::new();
    for dir in dirs {
        let Ok(entries) = read_run(&dir) else {
            continue;
        };
        if entries.is_empty() || is_closed(&entries) || opener_alive(&entries) {
            continue;
        }
        match reconcile_into(&dir, Some(&witness)) {
            Ok(done) => lines.extend(done.lines),
            Err(e) => lines.push(format!("{}: cannot reconcile: {e}", dir.display())),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::journal::{Journal, outside_record, read};
    use shakedown_plan::redact::Redactor;

    #[test]
    fn a_paused_process_is_resumed_and_a_second_reconcile_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let start = proc_start_time(pid);
        signal_recorded(pid, start, "STOP").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_stopped(pid, start) {
            assert!(Instant::now() < deadline, "the child never stopped");
            std::thread::sleep(Duration::from_millis(10));
        }
        let journal = Journal::open(dir.path(), Redactor::default()).unwrap();
        let mut intent = Entry::new("C9#0", Event::Intent);
        intent.action = Some("pause sleeper".into());
        intent.revert = Some(Revert::Signal {
            pid,
            start_time: start,
            signal: "CONT".into(),
            group: false,
        });
        journal.append(intent).unwrap();
        journal.append(Entry::new("C9#0", Event::Applied)).unwrap();
        let first = reconcile(dir.path()).unwrap();
        assert_eq!(first.failures, 0, "{first:?}");
        assert!(!is_stopped(pid, start), "the child runs again");
        let events: Vec<Event> = read(&dir.path().join(FAULT_JOURNAL))
            .unwrap()
            .iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(
            events,
            [
                Event::Intent,
                Event::Applied,
                Event::Reverted,
                Event::Confirmed,
                Event::Closed
            ]
        );
        let second = reconcile(dir.path()).unwrap();
        assert!(second.lines[0].contains("nothing left"), "{second:?}");
        let _ = child.kill();
        let _ = child.wait();
        // Gone is success.
        assert!(
            replay(
                &Revert::Signal {
                    pid,
                    start_time: start,
                    signal: "CONT".into(),
                    group: false,
                },
                false
            )
            .unwrap()
            .contains("already gone")
        );
    }

    #[test]
    fn a_process_target_that_outlived_its_run_is_stopped_with_its_children() {
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let start = proc_start_time(pid);
        for _ in 0..100 {
            if super::super::drivers::group::members(pid).len() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let recipe = Revert::Signal {
            pid,
            start_time: start,
            signal: "TERM".into(),
            group: true,
        };
        let done = replay(&recipe, true).unwrap();
        let _ = child.wait();
        assert!(done.contains("ignored SIGTERM and was killed"), "{done}");
        assert!(
            done.contains("killed 2 processes left in its group"),
            "{done}"
        );
        assert!(super::super::drivers::group::members(pid).is_empty());
    }

    /// A journal with one open fault whose recipe always succeeds.
    fn open_fault(dir: &Path) {
        let journal = Journal::open(dir, Redactor::default()).unwrap();
        let mut intent = Entry::new("C4#0", Event::Intent);
        intent.action = Some("run a harmless command".into());
        intent.revert = Some(Revert::Command {
            command: "true".into(),
            timeout_ms: 5_000,
        });
        journal.append(intent).unwrap();
        journal.append(Entry::new("C4#0", Event::Applied)).unwrap();
    }

    #[test]
    fn a_sealed_run_is_reconciled_outside_its_directory_and_only_once() {
        let parent = tempfile::tempdir().unwrap();
        let old = parent.path().join("old");
        std::fs::create_dir(&old).unwrap();
        open_fault(&old);
        std::fs::write(old.join(crate::report::manifest::MANIFEST), "{}").unwrap();
        let journal = std::fs::read(old.join(FAULT_JOURNAL)).unwrap();

        let new = parent.path().join("new");
        std::fs::create_dir(&new).unwrap();
        let lines = reconcile_unfinished(&new, &RunStop::unwatched());
        assert!(lines.iter().any(|l| l.contains("C4#0")), "{lines:?}");
        assert_eq!(
            std::fs::read(old.join(FAULT_JOURNAL)).unwrap(),
            journal,
            "the sealed journal is unchanged"
        );
        let outside: Vec<Event> = read(&outside_record(&old))
            .unwrap()
            .iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(outside, [Event::Reverted, Event::Confirmed, Event::Closed]);
        let witness = read(&new.join(RECONCILED)).unwrap();
        assert_eq!(witness.len(), 3);
        assert!(
            witness
                .iter()
                .all(|e| e.owner.as_deref() == Some(old.to_str().unwrap()))
        );
        assert_eq!(witness[0].fault, "C4#0");

        // Already reconciled: neither a later run nor `reconcile` does it again.
        let newer = parent.path().join("newer");
        std::fs::create_dir(&newer).unwrap();
        assert!(reconcile_unfinished(&newer, &RunStop::unwatched()).is_empty());
        assert!(!newer.join(RECONCILED).exists());
        let again = reconcile(&old).unwrap();
        assert!(again.lines[0].contains("nothing left"), "{again:?}");
        assert_eq!(read(&outside_record(&old)).unwrap().len(), 3);
        assert_eq!(std::fs::read(old.join(FAULT_JOURNAL)).unwrap(), journal);
    }

    #[test]
    fn an_unsealed_run_is_reconciled_in_its_own_journal() {
        let dir = tempfile::tempdir().unwrap();
        open_fault(dir.path());
        reconcile(dir.path()).unwrap();
        assert_eq!(read(&dir.path().join(FAULT_JOURNAL)).unwrap().len(), 5);
        assert!(!outside_record(dir.path()).exists());
    }
}
