//! One JSON object per line on stdout: the first line each process prints, and the stack's
//! answers to control commands. Each line is flushed at once, since a parent process waits on it.

use std::io::Write;

/// Write `value` as one line on stdout and flush.
pub fn write_line(value: &serde_json::Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}
