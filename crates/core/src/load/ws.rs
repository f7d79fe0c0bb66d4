//! A WebSocket session (tokio-tungstenite): connect, upgrade, send, expect events in order,
//! close, and record the close code and reason on both sides.
//!
//! Every way it can go wrong ends in one [`StreamClass`]. A message larger than the cap is a
//! protocol-error, never an allocation of what the server chose to send; silence past the idle
//! limit is `hung`; a close before the last expected event is `closed-early`, with the code, the
//! reason and whether it came right after connect.
//!
//! A stream is checked exactly once: after the last expected event, every message is still
//! judged, during `linger` if the step sets it and until the server answers the client's close,
//! so that a final event sent twice, or one event more, fails under `unexpected = "forbid"`.

use futures::{SinkExt, StreamExt};
use minijinja::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use super::http::excerpt;
use super::prepared::TargetSpec;
use super::stream::{MessageSpec, Rendered, StreamOutcome, StreamSpec, Timings, WsSpec};
use super::stream_expect::{Sequence, StreamClass, StreamClock, StreamFailure, scalar_text};

/// How long the client waits for the server's reply to its close.
const CLOSE_REPLY: std::time::Duration = std::time::Duration::from_secs(1);

/// The name of a close code, for people.
pub fn close_meaning(code: u16) -> &'static str {
    match code {
        1000 => "normal",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1005 => "no status",
        1006 => "abnormal",
        1007 => "invalid payload",
        1008 => "policy violation",
        1009 => "message too big",
        1011 => "server error",
        1012 => "service restart",
        1013 => "try again later",
        _ => "application",
    }
}

fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        None => "close without a code".into(),
        Some(f) => {
            let code = u16::from(f.code);
            if f.reason.is_empty() {
                format!("close {code} ({})", close_meaning(code))
            } else {
                format!(
                    "close {code} ({}) reason {:?}",
                    close_meaning(code),
                    f.reason.as_str()
                )
            }
        }
    }
}

/// Run one session. Timings are sent as events arrive.
pub async fn session(
    target: &TargetSpec,
    spec: &StreamSpec,
    ws: &WsSpec,
    rendered: &Rendered,
    ctx: &Value,
    timings: &mut Timings,
) -> StreamOutcome {
    let start = Instant::now();
    let mut clock = StreamClock::new(start, spec.deadline, spec.idle);
    let seq = Sequence::new(rendered.matchers.clone(), spec.unexpected, start);
    let mut outcome = StreamOutcome::default();
    let fail = |mut outcome: StreamOutcome, f: StreamFailure| {
        outcome.failure = Some(f);
        outcome
    };

    // Connect and upgrade.
    let url = match rendered.url.split_once("://") {
        Some(("http", rest)) => format!("ws://{rest}"),
        Some(("https", _)) => {
            return fail(
                outcome,
                StreamFailure::new(
                    StreamClass::ProtocolError,
                    "wss:// needs TLS for WebSocket, which this build does not include",
                ),
            );
        }
        _ => rendered.url.clone(),
    };
    let mut request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => {
            return fail(
                outcome,
                StreamFailure::new(StreamClass::HandshakeRefused, format!("invalid URL: {e}")),
            );
        }
    };
    for (name, value) in &rendered.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    if !ws.protocols.is_empty() {
        match reqwest::header::HeaderValue::from_str(&ws.protocols.join(", ")) {
            Ok(v) => {
                request.headers_mut().insert("sec-websocket-protocol", v);
            }
            Err(_) => {
                return fail(
                    outcome,
                    StreamFailure::new(StreamClass::ProtocolError, "invalid subprotocol names"),
                );
            }
        }
    }
    let host = request.uri().host().unwrap_or_default().to_string();
    let port = request.uri().port_u16().unwrap_or(80);
    let tcp = match tokio::time::timeout(
        target.connect_timeout,
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return fail(
                outcome,
                StreamFailure::new(StreamClass::HandshakeRefused, format!("connect: {e}")),
            );
        }
        Err(_) => {
            return fail(
                outcome,
                StreamFailure::new(
                    StreamClass::HandshakeRefused,
                    format!(
                        "connect: no connection within {}ms",
                        target.connect_timeout.as_millis()
                    ),
                ),
            );
        }
    };
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .max_message_size(Some(spec.max_event))
        .max_frame_size(Some(spec.max_event));
    let handshake_wait = spec
        .idle
        .min(clock.deadline.saturating_duration_since(start));
    let mut socket = match tokio::time::timeout(
        handshake_wait,
        client_async_with_config(request, tcp, Some(config)),
    )
    .await
    {
        Ok(Ok((socket, response))) => {
            outcome.status = Some(response.status().as_u16());
            socket
        }
        Ok(Err(WsError::Http(response))) => {
            let status = response.status().as_u16();
            outcome.status = Some(status);
            let body = response
                .body()
                .as_deref()
                .map(|b| excerpt(b, 120))
                .unwrap_or_default();
            return fail(
                outcome,
                StreamFailure::new(
                    StreamClass::HandshakeRefused,
                    format!("the upgrade was refused with status {status}: {body}"),
                ),
            );
        }
        Ok(Err(e)) => {
            return fail(
                outcome,
                classify(&e, "during the handshake", spec.max_event),
            );
        }
        Err(_) => {
            return fail(
                outcome,
                StreamFailure::new(
                    StreamClass::Hung,
                    format!(
                        "no handshake response within {}ms",
                        handshake_wait.as_millis()
                    ),
                ),
            );
        }
    };
    clock.byte(Instant::now());

    // Send.
    for message in &ws.send {
        let text = match message {
            MessageSpec::Json(t) => t
                .render(ctx)
                .map_err(|e| e.to_string())
                .and_then(|v| serde_json::to_string(&v).map_err(|e| e.to_string())),
            MessageSpec::Text(t) => t.render(ctx).map_err(|e| e.to_string()),
        };
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    outcome,
                    StreamFailure::new(
                        StreamClass::ProtocolError,
                        format!("ws.send template: {e}"),
                    ),
                );
            }
        };
        if let Err(e) = socket.send(Message::Text(text.into())).await {
            return fail(outcome, classify(&e, "while sending", spec.max_event));
        }
    }

    let mut judged = Judged {
        socket,
        ws,
        seq,
        clock,
        outcome,
        timings,
        start,
        max_event: spec.max_event,
    };
    if let Err(failure) = judged.expect().await {
        judged.outcome.failure = judged.seq.verdict(Some(failure));
        return judged.outcome;
    }
    if let Some(linger) = spec.linger {
        match judged.linger(linger).await {
            Ok(false) => {}
            Ok(true) => {
                judged.outcome.failure = judged.seq.verdict(None);
                return judged.outcome;
            }
            Err(failure) => {
                judged.outcome.failure = judged.seq.verdict(Some(failure));
                return judged.outcome;
            }
        }
    }
    let failure = judged.close().await;
    judged.outcome.failure = judged.seq.verdict(failure);
    judged.outcome
}

/// A session past its handshake: the socket, and what judges its messages.
struct Judged<'a> {
    socket: WebSocketStream<TcpStream>,
    ws: &'a WsSpec,
    seq: Sequence,
    clock: StreamClock,
    outcome: StreamOutcome,
    timings: &'a mut Timings,
    start: Instant,
    max_event: usize,
}

impl Judged<'_> {
    /// Read until every expected event arrived, or the failure that ended the wait (the socket
    /// then closed).
    async fn expect(&mut self) -> Result<(), StreamFailure> {
        while !self.seq.done() {
            let (wake_at, wake) = self.clock.next_wake(&self.seq);
            let next = tokio::select! {
                next = self.socket.next() => next,
                () = tokio::time::sleep_until(wake_at) => {
                    let failure = self.clock.failure(wake, &self.seq);
                    self.outcome.close = close_quietly(&mut self.socket).await;
                    return Err(failure);
                }
            };
            let now = Instant::now();
            self.clock.byte(now);
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    let when = format!("while waiting for {}", self.seq.describe_next());
                    return Err(classify(&e, &when, self.max_event));
                }
                None => {
                    return Err(StreamFailure::new(
                        StreamClass::Reset,
                        format!(
                            "the connection ended without a close frame, while waiting for {}",
                            self.seq.describe_next()
                        ),
                    ));
                }
            };
            if let Message::Close(frame) = &message {
                return Err(self.closed_early(frame.as_ref()).await);
            }
            if let Err(f) = self.judge(&message, now).await {
                self.outcome.close = close_quietly(&mut self.socket).await;
                return Err(f);
            }
            if self.seq.done() {
                self.outcome.final_event = Some(now - self.start);
            }
        }
        Ok(())
    }

    /// The server closed while an expected event was awaited.
    async fn closed_early(&mut self, frame: Option<&CloseFrame>) -> StreamFailure {
        let server = describe_close(frame);
        // tungstenite answers a close with the same code.
        drain_after_close(&mut self.socket).await;
        let reply = server.clone();
        self.outcome.close = Some(format!("server sent {server}; client replied {reply}"));
        let when = if self.outcome.events == 0 {
            "right after connect, before any event".to_string()
        } else {
            format!("after {} events", self.outcome.events)
        };
        StreamFailure::new(
            StreamClass::ClosedEarly,
            format!(
                "server sent {server} {when}, while waiting for {}; client replied {reply}",
                self.seq.describe_next()
            ),
        )
    }

    /// Count and judge a message that is an event; control frames pass.
    async fn judge(&mut self, message: &Message, now: Instant) -> Result<(), StreamFailure> {
        let Some((kind, doc)) = event_of(message, &self.ws.type_path) else {
            return Ok(());
        };
        self.outcome.events += 1;
        self.timings.event(now).await;
        self.seq
            .offer(kind.as_deref(), doc.as_ref(), now)
            .map(|_| ())
    }

    /// Keep listening for `linger` after the last expected event (bounded by the deadline and
    /// the idle limit): Ok(true) if the server ended the session meanwhile, Ok(false) if the
    /// client should now close, or the failure an event was (the socket then closed).
    async fn linger(&mut self, linger: std::time::Duration) -> Result<bool, StreamFailure> {
        let until = (Instant::now() + linger).min(self.clock.deadline);
        loop {
            let wake = until.min(self.clock.last_byte + self.clock.idle);
            let next = tokio::select! {
                next = self.socket.next() => next,
                () = tokio::time::sleep_until(wake) => return Ok(false),
            };
            let now = Instant::now();
            self.clock.byte(now);
            match next {
                Some(Ok(Message::Close(frame))) => {
                    let server = describe_close(frame.as_ref());
                    drain_after_close(&mut self.socket).await;
                    self.outcome.close = Some(format!(
                        "server sent {server} after the last expected event; client replied {server}"
                    ));
                    return Ok(true);
                }
                Some(Ok(message)) => {
                    if let Err(f) = self.judge(&message, now).await {
                        self.outcome.close = close_quietly(&mut self.socket).await;
                        return Err(f);
                    }
                }
                Some(Err(_)) | None => {
                    self.outcome.close = Some(
                        "the connection ended without a close, after the last expected event"
                            .into(),
                    );
                    return Ok(true);
                }
            }
        }
    }

    /// Send the client's close and wait (bounded) for the server's reply. Every message before
    /// the reply is still an event of this stream: the first failure among them, if any.
    async fn close(&mut self) -> Option<StreamFailure> {
        let frame = CloseFrame {
            code: CloseCode::from(self.ws.close_code),
            reason: self.ws.close_reason.clone().into(),
        };
        let sent = describe_close(Some(&frame));
        let mut failure = None;
        let reply = match self.socket.close(Some(frame)).await {
            Err(e) => format!("no reply ({e})"),
            Ok(()) => {
                let until = Instant::now() + CLOSE_REPLY;
                loop {
                    let next = tokio::select! {
                        next = self.socket.next() => next,
                        () = tokio::time::sleep_until(until) => {
                            break format!("nothing within {}ms", CLOSE_REPLY.as_millis());
                        }
                    };
                    if let Some(reply) = close_reply(&next) {
                        break reply;
                    }
                    if let Some(Ok(message)) = next
                        && let Err(f) = self.judge(&message, Instant::now()).await
                    {
                        failure.get_or_insert(f);
                    }
                }
            }
        };
        self.outcome.close = Some(format!("client sent {sent}; server replied {reply}"));
        failure
    }
}

/// The type and JSON data of a text or binary message; None for control frames.
fn event_of(
    message: &Message,
    type_path: &serde_json_path::JsonPath,
) -> Option<(Option<String>, Option<serde_json::Value>)> {
    match message {
        Message::Text(text) => {
            let doc = serde_json::from_str::<serde_json::Value>(text.as_str()).ok();
            let kind = doc
                .as_ref()
                .and_then(|d| type_path.query(d).first().and_then(scalar_text));
            Some((kind, doc))
        }
        Message::Binary(bytes) => Some((None, serde_json::from_slice(bytes).ok())),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_) => None,
    }
}

/// The server's answer to the client's close, if `next` is one: its close frame, or the end of
/// the connection.
fn close_reply(next: &Option<Result<Message, WsError>>) -> Option<String> {
    match next {
        Some(Ok(Message::Close(frame))) => Some(describe_close(frame.as_ref())),
        Some(Err(WsError::ConnectionClosed)) | None => Some("by closing the connection".into()),
        Some(Err(e)) => Some(format!("with an error ({e})")),
        Some(Ok(_)) => None,
    }
}

/// After the server's close: let tungstenite send its reply (bounded).
async fn drain_after_close(socket: &mut WebSocketStream<TcpStream>) {
    let _ = tokio::time::timeout(CLOSE_REPLY, async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// After the client's close: the server's close frame, described. Messages before it are not
/// judged: the session already failed.
async fn wait_close_reply(socket: &mut WebSocketStream<TcpStream>) -> String {
    let reply = tokio::time::timeout(CLOSE_REPLY, async {
        loop {
            if let Some(reply) = close_reply(&socket.next().await) {
                return reply;
            }
        }
    })
    .await;
    reply.unwrap_or_else(|_| format!("nothing within {}ms", CLOSE_REPLY.as_millis()))
}

/// Close after a failure, without caring much for the reply.
async fn close_quietly(socket: &mut WebSocketStream<TcpStream>) -> Option<String> {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let sent = describe_close(Some(&frame));
    match socket.close(Some(frame)).await {
        Ok(()) => Some(format!(
            "client sent {sent}; server replied {}",
            wait_close_reply(socket).await
        )),
        Err(_) => None,
    }
}

/// Classify a tungstenite error.
fn classify(e: &WsError, when: &str, cap: usize) -> StreamFailure {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e {
        WsError::Capacity(c) => StreamFailure::new(
            StreamClass::ProtocolError,
            format!("a message larger than the cap of {cap} bytes {when} ({c})"),
        ),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => StreamFailure::new(
            StreamClass::Reset,
            format!("the connection was reset without a closing handshake {when}"),
        ),
        WsError::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            StreamFailure::new(
                StreamClass::Reset,
                format!("the connection broke {when}: {io}"),
            )
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => StreamFailure::new(
            StreamClass::ClosedEarly,
            format!("the connection was closed {when}"),
        ),
        other => StreamFailure::new(StreamClass::ProtocolError, format!("{other} {when}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_are_described_with_code_meaning_and_reason() {
        let frame = CloseFrame {
            code: CloseCode::from(1000),
            reason: "".into(),
        };
        assert_eq!(describe_close(Some(&frame)), "close 1000 (normal)");
        let frame = CloseFrame {
            code: CloseCode::from(4001),
            reason: "bye".into(),
        };
        assert_eq!(
            describe_close(Some(&frame)),
            "close 4001 (application) reason \"bye\""
        );
        assert_eq!(describe_close(None), "close without a code");
    }
}
