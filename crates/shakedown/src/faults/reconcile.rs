//! `shakedown reconcile RUN_DIR`: replay every revert the journal says is still open, then mark
//! the journal closed. It is idempotent: a process that is already gone, or already running,
//! counts as reverted ("already gone" is success), so running it twice changes nothing. `run`
//! calls it at start-up on the run directory it reuses and on unfinished sibling runs.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::drivers::{Delivery, is_stopped, proc_start_time, signal_recorded};
use super::journal::{
    Entry, Event, FAULT_JOURNAL, Revert, append_to, is_closed, opener_alive, read, states,
};

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
    let path = dir.join(FAULT_JOURNAL);
    if !path.is_file() {
        return Ok(Reconciled {
            lines: vec![format!(
                "{}: no fault journal, nothing to reconcile",
                dir.display()
            )],
            failures: 0,
        });
    }
    let entries = read(&path)?;
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
                append_to(
                    &path,
                    Entry::new(&key, Event::Reverted)
                        .detail(&detail)
                        .by("reconcile"),
                )?;
                append_to(
                    &path,
                    Entry::new(&key, Event::Confirmed)
                        .detail(&detail)
                        .by("reconcile"),
                )?;
                out.lines.push(format!("{key} ({what}): {detail}"));
            }
            Err(why) => {
                out.failures += 1;
                out.lines
                    .push(format!("{key} ({what}): NOT reverted: {why}"));
            }
        }
    }
    if out.failures == 0 {
        append_to(&path, Entry::new("", Event::Closed).by("reconcile"))?;
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

/// Reconcile the unfinished journals a new run in `out_dir` could have inherited: `out_dir`
/// itself and its siblings, skipping closed journals and journals of runs still alive.
pub fn reconcile_unfinished(out_dir: &Path) -> Vec<String> {
    let mut dirs = vec![out_dir.to_path_buf()];
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
    let mut lines = Vec::new();
    for dir in dirs {
        let Ok(entries) = read(&dir.join(FAULT_JOURNAL)) else {
            continue;
        };
        if entries.is_empty() || is_closed(&entries) || opener_alive(&entries) {
            continue;
        }
        match reconcile(&dir) {
            Ok(done) => lines.extend(done.lines),
            Err(e) => lines.push(format!("{}: cannot reconcile: {e}", dir.display())),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::journal::Journal;
    use crate::report::redact::Redactor;

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
}
