//! The fault drivers, one file each behind [`super::Driver`], and the process facts they share
//! (`/proc` state and start time, signals by name).

pub mod exec;
pub mod group;
pub mod http;
pub mod process;
pub mod process_ready;
mod process_signal;
#[cfg(test)]
mod process_tests;
pub mod railway;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// A signal by its name without `SIG` (`KILL`, `CONT`).
pub fn signal_by_name(name: &str) -> Option<Signal> {
    let name = name.trim_start_matches("SIG").to_ascii_uppercase();
    format!("SIG{name}").parse::<Signal>().ok()
}

pub(crate) fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: split after the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The process's state letter (`R`, `S`, `T`, `Z`, ...), None if it does not exist.
pub fn proc_state(pid: i32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// The process's start time in clock ticks since boot, which tells a reused PID apart.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    // Field 22 of /proc/PID/stat; after the `)` the state is field 3, so 22 is index 19.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// What sending a signal to a recorded process found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The signal was delivered.
    Sent,
    /// The process is gone (or the PID now belongs to another process): nothing to do.
    AlreadyGone,
}

/// Send `signal` to `pid` if it is still the process that started at `start_time`.
pub fn signal_recorded(
    pid: i32,
    start_time: Option<u64>,
    signal: &str,
) -> Result<Delivery, String> {
    let sig = signal_by_name(signal).ok_or_else(|| format!("unknown signal {signal}"))?;
    match (proc_start_time(pid), start_time) {
        (None, _) => return Ok(Delivery::AlreadyGone),
        (Some(now), Some(then)) if now != then => return Ok(Delivery::AlreadyGone),
        _ => {}
    }
    if proc_state(pid) == Some('Z') {
        return Ok(Delivery::AlreadyGone);
    }
    match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
        Ok(()) => Ok(Delivery::Sent),
        Err(nix::errno::Errno::ESRCH) => Ok(Delivery::AlreadyGone),
        Err(e) => Err(format!("cannot send SIG{signal} to pid {pid}: {e}")),
    }
}

/// Whether the recorded process is frozen (state `T`).
pub fn is_stopped(pid: i32, start_time: Option<u64>) -> bool {
    let same = match (proc_start_time(pid), start_time) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    };
    same && matches!(proc_state(pid), Some('T') | Some('t'))
}

/// The last `max` bytes of a command's output, as text.
pub fn tail(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_state_and_a_start_time() {
        let pid = i32::try_from(std::process::id()).unwrap();
        assert!(proc_state(pid).is_some());
        assert!(proc_start_time(pid).is_some());
        assert_eq!(signal_by_name("KILL"), Some(Signal::SIGKILL));
        assert_eq!(signal_by_name("SIGCONT"), Some(Signal::SIGCONT));
        assert_eq!(signal_by_name("NOPE"), None);
    }

    #[test]
    fn a_gone_or_reused_pid_is_already_gone() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let start = proc_start_time(pid);
        let other = start.map(|s| s + 1);
        assert_eq!(
            signal_recorded(pid, other, "CONT"),
            Ok(Delivery::AlreadyGone)
        );
        assert_eq!(signal_recorded(pid, start, "CONT"), Ok(Delivery::Sent));
        assert!(!is_stopped(pid, start));
    }
}
