//! The testbed's command line: `stack`, `api` and `worker`.

use std::ffi::OsString;
use std::path::PathBuf;

/// Arguments of the testbed command.
#[derive(Debug, clap::Args)]
pub struct TestbedArgs {
    /// Which part to run.
    #[command(subcommand)]
    pub command: TestbedCommand,
}

/// The testbed's parts.
#[derive(Debug, clap::Subcommand)]
pub enum TestbedCommand {
    /// Start the API and N workers as child processes.
    Stack,
}

/// How to start this program again as a child process (for workers and the API).
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The executable.
    pub program: PathBuf,
    /// Arguments that precede the testbed's own (e.g. `["testbed"]` inside `shakedown`).
    pub prefix: Vec<OsString>,
}

impl Launcher {
    /// The current executable, with `prefix` before the testbed's arguments.
    pub fn current_exe(prefix: &[&str]) -> Launcher {
        Launcher {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("shakedown")),
            prefix: prefix.iter().map(OsString::from).collect(),
        }
    }
}

/// Run the testbed command to completion.
pub fn run(args: TestbedArgs, launcher: Launcher) -> anyhow::Result<()> {
    let _ = (args, launcher);
    anyhow::bail!("the testbed is not built yet")
}
