//! Test fixtures for stream steps: an axum server on 127.0.0.1:0 whose WebSocket and SSE
//! endpoints play a script (`/ws/{script}`, `/sse/{script}`), and builders for the `ws` and
//! `sse` steps that read them.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::Path;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json_path::JsonPath;

use shakedown_plan::model::{
    EventMatcher, Reconnect, SseStep, StreamExpect, StreamRequest, Unexpected, WsStep,
};
use shakedown_plan::model::{JsonAssertion, Method, Step, StepKind};
use shakedown_plan::template::Template;

/// One beat of a script.
#[derive(Debug, Clone, Copy)]
enum Beat {
    /// An event of this type whose data is `{"id": ID}`.
    Event(&'static str, &'static str),
    /// A pause, in milliseconds. A WebSocket answers a close during it at once.
    Pause(u64),
    /// Keep the stream open without a byte (SSE) until the client leaves.
    Hold,
}

use Beat::{Event, Hold, Pause};

/// The scripts, by name.
fn script(name: &str) -> &'static [Beat] {
    match name {
        "in-order" => &[Event("a", "1"), Event("b", "2")],
        "final-twice" => &[Event("a", "1"), Event("b", "2"), Event("b", "2")],
        "trailing" => &[Event("a", "1"), Event("b", "2"), Event("x", "3")],
        "late-trailing" => &[
            Event("a", "1"),
            Event("b", "2"),
            Pause(1000),
            Event("x", "3"),
            Hold,
        ],
        "skip-b" => &[Event("a", "1"), Event("c", "3")],
        "c-before-b" => &[Event("a", "1"), Event("c", "3"), Event("b", "2")],
        "wrong-id" => &[Event("a", "1"), Event("b", "wrong")],
        "end-early" => &[Event("a", "1"), Event("end", "9")],
        "end-twice" => &[Event("a", "1"), Event("end", "9"), Event("end", "9")],
        _ => &[],
    }
}

/// Start the server; returns its base URL.
pub async fn serve_streams() -> String {
    let app = Router::new()
        .route("/ws/{script}", get(ws))
        .route("/sse/{script}", get(sse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn ws(Path(name): Path<String>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| play_ws(socket, script(&name)))
}

async fn play_ws(mut socket: WebSocket, beats: &'static [Beat]) {
    for beat in beats {
        match *beat {
            Event(kind, id) => {
                let text = serde_json::json!({ "type": kind, "id": id }).to_string();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Pause(ms) => {
                tokio::select! {
                    incoming = socket.recv() => match incoming {
                        Some(Ok(Message::Close(_))) => break,
                        _ => return,
                    },
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                }
            }
            Hold => break,
        }
    }
    // Read on: the read after the client's close sends the reply.
    while let Some(Ok(_)) = socket.recv().await {}
}

async fn sse(Path(name): Path<String>) -> Response {
    let beats = script(&name);
    let body = futures::stream::unfold(0usize, move |at| async move {
        let beat = beats.get(at)?;
        let chunk = match *beat {
            Event(kind, id) => format!(
                "id: {}\nevent: {kind}\ndata: {{\"id\": \"{id}\"}}\n\n",
                at + 1
            ),
            Pause(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                String::new()
            }
            Hold => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                String::new()
            }
        };
        Some((Ok::<_, std::io::Error>(chunk), at + 1))
    });
    (
        [(CONTENT_TYPE, "text/event-stream")],
        AxumBody::from_stream(body),
    )
        .into_response()
}

/// An expected event of type `kind`, with `$.id` equal to `id` if given.
pub fn expected(kind: &str, id: Option<&str>) -> EventMatcher {
    EventMatcher {
        label: kind.to_string(),
        kind: Some(kind.to_string()),
        json: id
            .map(|id| JsonAssertion {
                source: "$.id".into(),
                path: JsonPath::parse("$.id").unwrap(),
                equals: Some(serde_json::json!(id)),
            })
            .into_iter()
            .collect(),
        timeout: Duration::from_secs(5),
    }
}

/// What a stream step under test expects.
pub fn expect(
    events: Vec<EventMatcher>,
    unexpected: Unexpected,
    linger: Option<Duration>,
) -> StreamExpect {
    StreamExpect {
        events,
        unexpected,
        linger,
        deadline: Duration::from_secs(10),
        idle: Duration::from_secs(5),
        max_event: 64 * 1024,
    }
}

fn request(target: &str, path: &str) -> StreamRequest {
    StreamRequest {
        method: Method::Get,
        target: target.to_string(),
        path: Template::parse(path).unwrap(),
        headers: Vec::new(),
    }
}

/// A `ws` step named `name` that reads `/ws/{script}` of `target`.
pub fn ws_step(name: &str, target: &str, script: &str, expect: StreamExpect) -> Step {
    Step {
        name: name.to_string(),
        kind: StepKind::Ws(Box::new(WsStep {
            request: request(target, &format!("/ws/{script}")),
            protocols: Vec::new(),
            send: Vec::new(),
            type_path: JsonPath::parse("$.type").unwrap(),
            expect,
            close_code: 1000,
            close_reason: String::new(),
        })),
    }
}

/// An `sse` step named `name` that reads `/sse/{script}` of `target` once, checked, with
/// `terminal` event types (each announcing `completed`).
pub fn sse_step(
    name: &str,
    target: &str,
    script: &str,
    expect: StreamExpect,
    terminal: &[&str],
) -> Step {
    Step {
        name: name.to_string(),
        kind: StepKind::Sse(Box::new(SseStep {
            request: request(target, &format!("/sse/{script}")),
            json: None,
            expect,
            terminal: terminal
                .iter()
                .map(|t| (t.to_string(), "completed".to_string()))
                .collect(),
            job: None,
            reconnect: Reconnect {
                attempts: 0,
                backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(50),
            },
            readers: 1,
            resume_after: None,
            check: true,
        })),
    }
}
