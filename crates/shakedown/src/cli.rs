//! Command-line interface (clap derive) and the mapping from outcomes to exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// shakedown: a release gate for deployed systems.
#[derive(Debug, Parser)]
#[command(name = "shakedown", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bundled testbed (the reference system under test). Used by `demo` and the tests.
    #[command(hide = true)]
    Testbed(testbed::cli::TestbedArgs),
}

/// Parse arguments, run, and return the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Testbed(args) => {
            let launcher = testbed::cli::Launcher::current_exe(&["testbed"]);
            match testbed::cli::run(args, launcher) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("testbed: {err:#}");
                    ExitCode::from(crate::status::EXIT_ERROR)
                }
            }
        }
    }
}
