//! A small SSE reader over a reqwest response: events with their id and type, and a count of
//! comment lines (heartbeats).

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field.
    pub id: Option<String>,
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

impl SseEvent {
    /// The id as a number.
    pub fn seq(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .expect("an SSE event with a numeric id")
    }
}

/// What the reader saw next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// An event.
    Event(SseEvent),
    /// A comment line (the text after `:`).
    Comment(String),
    /// The stream ended.
    End,
}

/// Reads an SSE body incrementally.
pub struct SseReader {
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pending: SseEvent,
}

impl SseReader {
    /// Read the body of `response`.
    pub fn new(response: reqwest::Response) -> SseReader {
        SseReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            pending: SseEvent {
                id: None,
                event: None,
                data: String::new(),
            },
        }
    }

    /// The next event or comment, or `None` if nothing arrived within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseItem> {
        tokio::time::timeout(timeout, self.next_item()).await.ok()
    }

    async fn next_item(&mut self) -> SseItem {
        loop {
            while let Some(newline) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=newline).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if self.pending.id.is_some()
                        || self.pending.event.is_some()
                        || !self.pending.data.is_empty()
                    {
                        let event = std::mem::replace(
                            &mut self.pending,
                            SseEvent {
                                id: None,
                                event: None,
                                data: String::new(),
                            },
                        );
                        return SseItem::Event(event);
                    }
                    continue;
                }
                if let Some(comment) = line.strip_prefix(':') {
                    return SseItem::Comment(comment.trim().to_owned());
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => self.pending.id = Some(value.to_owned()),
                    "event" => self.pending.event = Some(value.to_owned()),
                    "data" => {
                        if !self.pending.data.is_empty() {
                            self.pending.data.push('\n');
                        }
                        self.pending.data.push_str(value);
                    }
                    _ => {}
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(_)) | None => return SseItem::End,
            }
        }
    }

    /// Collect events until the stream ends, `stop` accepts an event, or `timeout` passes
    /// between two items. Returns the events and the number of comments seen.
    pub async fn collect_until(
        &mut self,
        timeout: Duration,
        stop: impl Fn(&SseEvent) -> bool,
    ) -> (Vec<SseEvent>, usize) {
        let mut events = Vec::new();
        let mut comments = 0;
        while let Some(item) = self.next(timeout).await {
            match item {
                SseItem::Event(event) => {
                    let done = stop(&event);
                    events.push(event);
                    if done {
                        break;
                    }
                }
                SseItem::Comment(_) => comments += 1,
                SseItem::End => break,
            }
        }
        (events, comments)
    }
}
