//! Evidence people can trust, end to end with the real binary and testbed: a planted canary
//! secret reaches no file of the run directory and no byte of stdout, stderr or the progress
//! display; the run directory is sealed (also after Ctrl-C) and `verify-bundle` catches a
//! one-byte edit to any file; `--out` refuses a non-empty directory, whose files would be sealed
//! as evidence; a damaged directory still renders and says what is missing; and `diff` flags a
//! latency regression with exit code 1.

mod bundle;
mod secrets;
