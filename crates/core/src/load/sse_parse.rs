//! A server-sent events parser, fed chunk by chunk, as the WHATWG spec reads an event stream.
//!
//! It is written here rather than taken from `eventsource-stream` for three reasons the checks
//! need: a `retry:` block without data must still change the reconnection time (that crate
//! drops it with the empty event), comments (heartbeats) must be visible as signs of life, and
//! a line or event larger than a cap must be an error instead of a buffer that grows with
//! whatever the server sends.

use std::time::Duration;

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event.
    Event(SseEvent),
    /// A `retry:` field: the new reconnection time.
    Retry(Duration),
    /// A comment line (`: heartbeat`).
    Comment,
}

/// A dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field of this event's block, if it had one.
    pub id: Option<String>,
    /// The `event:` field, or `message`.
    pub event: String,
    /// The data lines joined with `\n`.
    pub data: String,
}

/// Why the stream cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line or an event is larger than the cap.
    #[error("an event or line larger than the cap of {cap} bytes")]
    TooLarge {
        /// The cap in bytes.
        cap: usize,
    },
    /// A line is not UTF-8.
    #[error("a line that is not UTF-8")]
    Utf8,
}

/// The parser's state between chunks. Memory is bounded by the cap.
#[derive(Debug)]
pub struct SseParser {
    cap: usize,
    line: Vec<u8>,
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    /// A parser that refuses lines and events larger than `cap` bytes.
    pub fn new(cap: usize) -> SseParser {
        SseParser {
            cap,
            line: Vec::new(),
            after_cr: false,
            event: String::new(),
            data: String::new(),
            has_data: false,
            id: None,
        }
    }

    /// Parse `chunk`, appending what it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.after_cr && rest[0] == b'\n' {
                rest = &rest[1..];
                self.after_cr = false;
                continue;
            }
            self.after_cr = false;
            match rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(end) => {
                    self.push_bytes(&rest[..end])?;
                    self.after_cr = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.push_bytes(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() + self.data.len() > self.cap {
            return Err(SseError::TooLarge { cap: self.cap });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseItem>) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                if data.ends_with('\n') {
                    data.pop();
                }
                let event = std::mem::take(&mut self.event);
                out.push(SseItem::Event(SseEvent {
                    id: self.id.take(),
                    event: if event.is_empty() {
                        "message".to_string()
                    } else {
                        event
                    },
                    data,
                }));
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            self.id = None;
            return Ok(());
        }
        let text = std::str::from_utf8(line).map_err(|_| SseError::Utf8)?;
        if text.starts_with(':') {
            out.push(SseItem::Comment);
            return Ok(());
        }
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    out.push(SseItem::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<SseItem>, SseError> {
        let mut p = SseParser::new(1024);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out)?;
        }
        Ok(out)
    }

    fn event(id: Option<&str>, kind: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            id: id.map(str::to_string),
            event: kind.to_string(),
            data: data.to_string(),
        })
    }

    #[test]
    fn events_comments_and_retry_across_chunk_boundaries() {
        let items = parse_all(&[
            b"retry: 1500\n\n: heartbeat\r",
            b"\nid: 1\nevent: run_started\nda",
            b"ta: {\"a\":1}\r\n\r\ndata: x\ndata:y\n\n",
        ])
        .expect("parses");
        assert_eq!(
            items,
            vec![
                SseItem::Retry(Duration::from_millis(1500)),
                SseItem::Comment,
                event(Some("1"), "run_started", "{\"a\":1}"),
                event(None, "message", "x\ny"),
            ]
        );
    }

    #[test]
    fn a_block_without_data_dispatches_nothing() {
        let items = parse_all(&[b"id: 4\nevent: x\n\n"]).expect("parses");
        assert!(items.is_empty(), "{items:?}");
    }

    #[test]
    fn oversized_lines_and_bad_utf8_are_errors() {
        let mut p = SseParser::new(16);
        let mut out = Vec::new();
        let err = p.feed(&[b'a'; 40], &mut out).expect_err("too large");
        assert_eq!(err, SseError::TooLarge { cap: 16 });
        let err = parse_all(&[b"data: \xff\xfe\n\n"]).expect_err("not utf-8");
        assert_eq!(err, SseError::Utf8);
    }
}
