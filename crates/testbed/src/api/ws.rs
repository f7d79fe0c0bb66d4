//! The agent WebSocket: for each client message, five progress events and then the answer, its
//! final event (sent twice with `ws-duplicate-final`).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::{bearer, check};
use super::{ApiError, AppState};
use crate::defects::Defect;

/// The largest client message accepted.
const MAX_MESSAGE: usize = 64 * 1024;
/// The pause between two agent events.
const EVENT_PAUSE: Duration = Duration::from_millis(20);
/// The agent's events, in order, before the answer.
pub const AGENT_EVENTS: [&str; 5] = [
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
];

#[derive(Debug, Deserialize)]
struct ClientMessage {
    id: String,
    message: String,
}

/// `GET /api/v1/agent/ws`: bearer auth by header or `?token=`, then the upgrade.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(rejection) => return ApiError::bad_request(rejection.body_text()).into_response(),
    };
    let token = bearer(&headers).or(query.get("token").map(String::as_str));
    if let Err(err) = check(&state, token) {
        return err.into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::new(rejection.status(), rejection.body_text()).into_response();
        }
    };
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session(socket, state))
}

async fn session(mut socket: WebSocket, state: AppState) {
    if state.has(Defect::WsEarlyClose) {
        let frame = CloseFrame {
            code: 1000,
            reason: "".into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
        return;
    }
    loop {
        let incoming = tokio::select! {
            () = state.shutdown.cancelled() => {
                let frame = CloseFrame { code: 1001, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                return;
            }
            incoming = socket.recv() => incoming,
        };
        let text = match incoming {
            Some(Ok(Message::Text(text))) => text,
            // Keep reading after a close: the next read sends the close reply.
            Some(Ok(Message::Close(_))) => continue,
            None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        };
        let message: ClientMessage = match serde_json::from_str(text.as_str()) {
            Ok(message) => message,
            Err(err) => {
                let error = serde_json::json!({
                    "type": "error",
                    "detail": format!("expected {{\"id\", \"message\"}}: {err}"),
                });
                if send(&mut socket, &error).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let twice = state.has(Defect::WsDuplicateFinal);
        if answer(&mut socket, &message, twice).await.is_err() {
            return;
        }
    }
}

async fn answer(
    socket: &mut WebSocket,
    message: &ClientMessage,
    twice: bool,
) -> Result<(), axum::Error> {
    for (index, kind) in AGENT_EVENTS.iter().enumerate() {
        let mut event = serde_json::json!({
            "type": kind,
            "message_id": message.id,
            "sequence": index + 1,
        });
        if kind.starts_with("tool_") {
            event["tool"] = serde_json::json!("word_count");
        }
        send(socket, &event).await?;
        tokio::time::sleep(EVENT_PAUSE).await;
    }
    let words = message.message.split_whitespace().count();
    let answer = serde_json::json!({
        "type": "answer",
        "message_id": message.id,
        "text": format!("Your message has {words} words."),
    });
    send(socket, &answer).await?;
    if twice {
        send(socket, &answer).await?;
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, value: &serde_json::Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(value.to_string().into())).await
}
