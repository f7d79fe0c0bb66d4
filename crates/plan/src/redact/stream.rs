//! Redacted output streams: everything shakedown writes that is not a report file (its own
//! stderr and stdout, tracing logs, the captured output of processes it supervises) goes through
//! a [`Redactor`] here.
//!
//! - [`RedactingWriter`] wraps any [`Write`] and redacts it line by line. A secret split across
//!   two `write` calls is still caught, because nothing is passed on before its line is complete
//!   (or the line outgrows [`MAX_LINE`], when it is redacted and passed on in one piece).
//! - [`capture`] pumps an async reader (a child's stdout or stderr) through a `RedactingWriter`
//!   into a file: what a process driver uses to keep a supervised process's output as evidence.
//! - The process-wide redactor ([`install`], [`redact_process_text`]) covers what is written
//!   before and outside a run: error messages, the summary on stdout, and tracing logs through
//!   [`RedactedStderr`], which `cli` installs as the log writer before any plan is read.

use std::io::{self, Write};
use std::sync::{LazyLock, PoisonError, RwLock};

use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::redact::Redactor;

/// The longest partial line held back waiting for its end. A longer line is redacted and passed
/// on as it is; a secret longer than this could then be split, which no real credential is.
pub const MAX_LINE: usize = 64 * 1024;

/// A [`Write`] that redacts complete lines before passing them to the inner writer.
///
/// Call [`RedactingWriter::finish`] (or drop it) to pass on a last line without a newline.
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    inner: Option<W>,
    redactor: Redactor,
    pending: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W, redactor: Redactor) -> RedactingWriter<W> {
        RedactingWriter {
            inner: Some(inner),
            redactor,
            pending: Vec::new(),
        }
    }

    /// Redact and write out what is still pending, flush, and give back the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit_pending()?;
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("the redacting writer was already finished"))?;
        inner.flush()?;
        Ok(inner)
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        let redacted = self.redactor.redact(&text);
        match self.inner.as_mut() {
            Some(inner) => inner.write_all(redacted.as_bytes()),
            None => Err(io::Error::other(
                "the redacting writer was already finished",
            )),
        }
    }

    fn emit_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        self.emit(&pending)
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last_newline) = self.pending.iter().rposition(|b| *b == b'\n') {
            let rest = self.pending.split_off(last_newline + 1);
            let lines = std::mem::replace(&mut self.pending, rest);
            self.emit(&lines)?;
        }
        if self.pending.len() > MAX_LINE {
            self.emit_pending()?;
        }
        Ok(buf.len())
    }

    /// Flushes the inner writer. A partial line stays held back: passing it on now could split
    /// a secret that the next write completes.
    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(inner) => inner.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // Best effort: a drop cannot report an error; `finish` can.
            let _ = self.emit_pending();
            if let Some(inner) = self.inner.as_mut() {
                let _ = inner.flush();
            }
        }
    }
}

/// Copy `reader` (a child process's stdout or stderr) into `writer`, redacted line by line,
/// until end of input. Returns the number of bytes read.
pub async fn capture<R, W>(mut reader: R, writer: W, redactor: Redactor) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: Write,
{
    let mut out = RedactingWriter::new(writer, redactor);
    let mut buffer = vec![0u8; 8 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        out.write_all(&buffer[..n])?;
    }
    out.finish()?;
    Ok(total)
}

/// The redactor for everything this process prints: installed once the plan's secrets are known.
static PROCESS: LazyLock<RwLock<Redactor>> = LazyLock::new(|| RwLock::new(Redactor::default()));

/// Make `redactor` the process-wide redactor for logs, error messages and printed summaries.
pub fn install(redactor: Redactor) {
    let mut slot = PROCESS.write().unwrap_or_else(PoisonError::into_inner);
    *slot = redactor;
}

/// A copy of the process-wide redactor.
pub fn process_redactor() -> Redactor {
    PROCESS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// `text` redacted by the process-wide redactor.
pub fn redact_process_text(text: &str) -> String {
    PROCESS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .redact(text)
        .into_owned()
}

/// A tracing writer factory: each log event is redacted by the process-wide redactor and written
/// to stderr in one piece.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedStderr;

/// One log event on its way to stderr; written, redacted, when dropped.
#[derive(Debug, Default)]
pub struct RedactedStderrEvent {
    buffer: Vec<u8>,
}

impl Write for RedactedStderrEvent {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedStderrEvent {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let text = redact_process_text(&String::from_utf8_lossy(&self.buffer));
        // Logging must never fail the run; a closed stderr loses the log line only.
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedStderrEvent;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedStderrEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SecretValue, Secrets};

    const CANARY: &str = "canary-7f3a9c-secret";

    fn redactor() -> Redactor {
        let mut secrets = Secrets::default();
        secrets.values.insert(
            "token".into(),
            SecretValue {
                env: "T".into(),
                value: CANARY.into(),
            },
        );
        Redactor::new(&secrets)
    }

    #[test]
    fn a_secret_split_across_writes_is_still_redacted() {
        let mut w = RedactingWriter::new(Vec::new(), redactor());
        let line = format!("worker started with key {CANARY}\nsecond line {CANARY}");
        for chunk in line.as_bytes().chunks(3) {
            w.write_all(chunk).expect("write");
            w.flush().expect("flush");
        }
        let out = String::from_utf8(w.finish().expect("finish")).expect("utf8");
        assert!(!out.contains("canary"), "{out}");
        assert_eq!(
            out,
            "worker started with key [REDACTED:token]\nsecond line [REDACTED:token]"
        );
    }

    #[test]
    fn without_a_redactor_the_canary_goes_through() {
        let mut w = RedactingWriter::new(Vec::new(), Redactor::default());
        w.write_all(format!("key {CANARY}\n").as_bytes())
            .expect("write");
        let out = String::from_utf8(w.finish().expect("finish")).expect("utf8");
        assert!(out.contains(CANARY));
    }

    #[test]
    fn dropping_the_writer_passes_on_the_last_partial_line_redacted() {
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(&mut out, redactor());
            w.write_all(format!("tail {CANARY}").as_bytes())
                .expect("write");
        }
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "tail [REDACTED:token]"
        );
    }

    #[test]
    fn an_overlong_line_is_passed_on_without_waiting_for_its_end() {
        let mut w = RedactingWriter::new(Vec::new(), redactor());
        w.write_all(&vec![b'x'; MAX_LINE + 1]).expect("write");
        let inner = w.inner.as_ref().map(Vec::len);
        assert_eq!(inner, Some(MAX_LINE + 1));
    }

    #[tokio::test]
    async fn capture_copies_a_child_stream_redacted() {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf 'boot\\nkey=%s\\n' '{CANARY}'; printf 'no newline'"
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let stdout = child.stdout.take().expect("stdout");
        let mut file = Vec::new();
        let n = capture(stdout, &mut file, redactor())
            .await
            .expect("captured");
        child.wait().await.expect("wait");
        let text = String::from_utf8(file).expect("utf8");
        assert_eq!(text, "boot\nkey=[REDACTED:token]\nno newline");
        assert_eq!(n as usize, format!("boot\nkey={CANARY}\nno newline").len());
    }

    #[test]
    fn log_events_are_redacted_by_the_process_redactor() {
        let mut event = RedactedStderrEvent::default();
        event
            .write_all(format!("WARN request failed: {CANARY}").as_bytes())
            .expect("buffer");
        // The text that drop would print:
        install(redactor());
        let printed = redact_process_text(&String::from_utf8_lossy(&event.buffer));
        assert!(!printed.contains(CANARY), "{printed}");
        event.buffer.clear();
    }
}
