//! The `shakedown` binary: parse, run, map to an exit code. All logic lives in the library.

fn main() -> std::process::ExitCode {
    shakedown::cli::main()
}
