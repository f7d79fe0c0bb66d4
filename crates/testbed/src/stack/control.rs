//! The stack's control protocol: one command per line on stdin, parsed into a closed set.

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;

/// Which child a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The API process.
    Api,
    /// Worker number N (from 0).
    Worker(usize),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Api => f.write_str("api"),
            Target::Worker(i) => write!(f, "worker {i}"),
        }
    }
}

/// One control command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCommand {
    /// `kill api SIGNAL` / `kill worker I SIGNAL`: send a real signal.
    Kill(Target, Signal),
    /// `start api` / `start worker I`.
    Start(Target),
    /// `restart api` / `restart worker I`: TERM, a grace period, KILL, start.
    Restart(Target),
    /// `status`: pids and liveness.
    Status,
}

/// A line that is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The verb or the shape of the line is wrong.
    #[error(
        "unknown command {0:?}; expected: kill api SIGNAL | kill worker I SIGNAL | start api | \
         start worker I | restart api | restart worker I | status"
    )]
    Unknown(String),
    /// The worker index is not a number.
    #[error("bad worker index {0:?}: expected a number")]
    BadIndex(String),
    /// The signal name is not known.
    #[error("unknown signal {0:?}: expected a name like KILL, TERM, STOP, CONT, INT or HUP")]
    BadSignal(String),
}

/// Parse a signal name: `KILL`, `SIGKILL` or `kill`.
pub fn parse_signal(name: &str) -> Result<Signal, ControlError> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| ControlError::BadSignal(name.to_owned()))
}

fn target(words: &[&str], line: &str) -> Result<(Target, usize), ControlError> {
    match words {
        ["api", ..] => Ok((Target::Api, 1)),
        ["worker", index, ..] => index
            .parse::<usize>()
            .map(|i| (Target::Worker(i), 2))
            .map_err(|_| ControlError::BadIndex((*index).to_owned())),
        _ => Err(ControlError::Unknown(line.to_owned())),
    }
}

impl FromStr for ControlCommand {
    type Err = ControlError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let unknown = || ControlError::Unknown(line.trim().to_owned());
        match words.split_first() {
            Some((&"status", [])) => Ok(ControlCommand::Status),
            Some((&"kill", rest)) => {
                let (target, used) = target(rest, line.trim())?;
                match &rest[used..] {
                    [signal] => Ok(ControlCommand::Kill(target, parse_signal(signal)?)),
                    _ => Err(unknown()),
                }
            }
            Some((&verb @ ("start" | "restart"), rest)) => {
                let (target, used) = target(rest, line.trim())?;
                if rest.len() != used {
                    return Err(unknown());
                }
                Ok(if verb == "start" {
                    ControlCommand::Start(target)
                } else {
                    ControlCommand::Restart(target)
                })
            }
            _ => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        let parse = |s: &str| s.parse::<ControlCommand>();
        assert_eq!(
            parse("kill api KILL"),
            Ok(ControlCommand::Kill(Target::Api, Signal::SIGKILL))
        );
        assert_eq!(
            parse("kill worker 1 sigstop"),
            Ok(ControlCommand::Kill(Target::Worker(1), Signal::SIGSTOP))
        );
        assert_eq!(
            parse("start worker 0"),
            Ok(ControlCommand::Start(Target::Worker(0)))
        );
        assert_eq!(
            parse(" restart api "),
            Ok(ControlCommand::Restart(Target::Api))
        );
        assert_eq!(parse("status"), Ok(ControlCommand::Status));
    }

    #[test]
    fn rejects_bad_lines() {
        let parse = |s: &str| s.parse::<ControlCommand>();
        assert!(matches!(
            parse("kill api BOOM"),
            Err(ControlError::BadSignal(_))
        ));
        assert!(matches!(
            parse("start worker x"),
            Err(ControlError::BadIndex(_))
        ));
        assert!(matches!(parse("launch api"), Err(ControlError::Unknown(_))));
        assert!(matches!(parse("kill api"), Err(ControlError::Unknown(_))));
        assert!(matches!(parse("status now"), Err(ControlError::Unknown(_))));
    }
}
