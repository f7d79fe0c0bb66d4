//! Process groups: who is in one (from `/proc`), signalling all of them at once, and waiting
//! until every member has exited. The `process` driver starts each target as the leader of a
//! group of its own, so a pre-fork server's children are found and stopped with it.

use std::time::Duration;

use nix::unistd::Pid;

use super::{Delivery, proc_start_time, signal_by_name, stat_fields};

/// How often a group is polled while waiting for it to empty.
const POLL: Duration = Duration::from_millis(20);

/// The live (not zombie) processes whose process group is `pgid`, in PID order.
pub fn members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            // After the `)`: state, ppid, pgrp.
            stat_fields(pid).is_some_and(|f| {
                f.first().is_some_and(|s| s != "Z" && s != "X")
                    && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Send `signal` to every process of the group led by `pgid`, if its leader is still the
/// process that started at `leader_start` or has exited leaving members behind. A PID is not
/// given to a new process while a group of that number has members, so the group cannot be
/// someone else's.
pub fn signal(pgid: i32, leader_start: Option<u64>, signal: &str) -> Result<Delivery, String> {
    let sig = signal_by_name(signal).ok_or_else(|| format!("unknown signal {signal}"))?;
    if let (Some(now), Some(then)) = (proc_start_time(pgid), leader_start)
        && now != then
    {
        return Ok(Delivery::AlreadyGone);
    }
    if members(pgid).is_empty() {
        return Ok(Delivery::AlreadyGone);
    }
    match nix::sys::signal::killpg(Pid::from_raw(pgid), sig) {
        Ok(()) => Ok(Delivery::Sent),
        Err(nix::errno::Errno::ESRCH) => Ok(Delivery::AlreadyGone),
        Err(e) => Err(format!(
            "cannot send SIG{signal} to process group {pgid}: {e}"
        )),
    }
}

/// Wait up to `within` for the group to have no live member; the members left, if any.
pub async fn wait_empty(pgid: i32, within: Duration) -> Vec<i32> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = members(pgid);
        if left.is_empty() || tokio::time::Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `pids` as a short list for a proof: `123, 124 and 3 more`.
pub fn list(pids: &[i32]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<String> = pids.iter().take(SHOWN).map(i32::to_string).collect();
    match pids.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// "1 process" or "3 processes".
pub fn count(n: usize) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt as _;

    #[tokio::test]
    async fn a_group_signal_reaches_the_children_and_waits_for_all() {
        // A shell leading its own group, with two children that would outlive it.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = i32::try_from(child.id()).unwrap();
        let start = proc_start_time(pgid);
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen = members(pgid);
            if seen.len() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(seen.len(), 3, "the shell and its two sleeps: {seen:?}");
        assert_eq!(signal(pgid, start, "KILL"), Ok(Delivery::Sent));
        let _ = child.wait();
        assert!(wait_empty(pgid, Duration::from_secs(5)).await.is_empty());
        assert_eq!(signal(pgid, start, "KILL"), Ok(Delivery::AlreadyGone));
    }

    #[test]
    fn a_list_is_short() {
        assert_eq!(list(&[1, 2]), "1, 2");
        assert_eq!(list(&[1, 2, 3, 4, 5, 6, 7]), "1, 2, 3, 4, 5 and 2 more");
        assert_eq!(count(1), "1 process");
        assert_eq!(count(3), "3 processes");
    }
}
