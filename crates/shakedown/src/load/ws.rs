//! A WebSocket session (tokio-tungstenite): connect, upgrade, send, expect events in order,
//! close, and record the close code and reason on both sides.
//!
//! Every way it can go wrong ends in one [`StreamClass`]. A message larger than the cap is a
//! protocol-error, never an allocation of what the server chose to send; silence past the idle
//! limit is `hung`; a close before the last expected event is `closed-early`, with the code, the
//! reason and whether it came right after connect.

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
    let mut seq = Sequence::new(rendered.matchers.clone(), spec.unexpected, start);
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

    // Expect.
    while !seq.done() {
        let (wake_at, wake) = clock.next_wake(&seq);
        let next = tokio::select! {
            next = socket.next() => next,
            () = tokio::time::sleep_until(wake_at) => {
                let failure = clock.failure(wake, &seq);
                outcome.close = close_quietly(&mut socket).await;
                return fail(outcome, failure);
            }
        };
        let now = Instant::now();
        clock.byte(now);
        let (kind, doc) = match next {
            Some(Ok(Message::Text(text))) => {
                let doc = serde_json::from_str::<serde_json::Value>(text.as_str()).ok();
                (
                    doc.as_ref()
                        .and_then(|d| ws.type_path.query(d).first().and_then(scalar_text)),
                    doc,
                )
            }
            Some(Ok(Message::Binary(bytes))) => (None, serde_json::from_slice(&bytes).ok()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(frame))) => {
                let server = describe_close(frame.as_ref());
                // tungstenite answers a close with the same code.
                drain_after_close(&mut socket).await;
                let reply = server.clone();
                outcome.close = Some(format!("server sent {server}; client replied {reply}"));
                let when = if outcome.events == 0 {
                    "right after connect, before any event".to_string()
                } else {
                    format!("after {} events", outcome.events)
                };
                return fail(
                    outcome,
                    StreamFailure::new(
                        StreamClass::ClosedEarly,
                        format!(
                            "server sent {server} {when}, while waiting for {}; client replied {reply}",
                            seq.describe_next()
                        ),
                    ),
                );
            }
            Some(Err(e)) => {
                return fail(
                    outcome,
                    classify(
                        &e,
                        &format!("while waiting for {}", seq.describe_next()),
                        spec.max_event,
                    ),
                );
            }
            None => {
                return fail(
                    outcome,
                    StreamFailure::new(
                        StreamClass::Reset,
                        format!(
                            "the connection ended without a close frame, while waiting for {}",
                            seq.describe_next()
                        ),
                    ),
                );
            }
        };
        outcome.events += 1;
        timings.event(now).await;
        match seq.offer(kind.as_deref(), doc.as_ref(), now) {
            Ok(_) => {}
            Err(f) => {
                outcome.close = close_quietly(&mut socket).await;
                return fail(outcome, f);
            }
        }
        if seq.done() {
            outcome.final_event = Some(now - start);
        }
    }

    // Close: send ours, wait briefly for theirs.
    let frame = CloseFrame {
        code: CloseCode::from(ws.close_code),
        reason: ws.close_reason.clone().into(),
    };
    let sent = describe_close(Some(&frame));
    let reply = match socket.close(Some(frame)).await {
        Err(e) => format!("no reply ({e})"),
        Ok(()) => wait_close_reply(&mut socket).await,
    };
    outcome.close = Some(format!("client sent {sent}; server replied {reply}"));
    outcome
}

/// After the server's close: let tungstenite send its reply (bounded).
async fn drain_after_close(socket: &mut WebSocketStream<TcpStream>) {
    let _ = tokio::time::timeout(CLOSE_REPLY, async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
}

/// After the client's close: the server's close frame, described.
async fn wait_close_reply(socket: &mut WebSocketStream<TcpStream>) -> String {
    let reply = tokio::time::timeout(CLOSE_REPLY, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return describe_close(frame.as_ref()),
                Some(Ok(_)) => continue,
                Some(Err(WsError::ConnectionClosed)) | None => {
                    return "by closing the connection".to_string();
                }
                Some(Err(e)) => return format!("with an error ({e})"),
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
