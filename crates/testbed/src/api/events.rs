//! Run events over SSE: persisted events replayed and then followed, with `Last-Event-ID` resume,
//! a heartbeat comment while waiting, and an end after the terminal event.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

use super::auth::Authenticated;
use super::runs::exists;
use super::{ApiError, AppState};
use crate::defects::Defect;

/// How often a followed run is polled for new events.
const POLL: Duration = super::event_watch::POLL;
/// How often a waiting stream sends `: heartbeat`.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// The event types that end a stream.
pub const TERMINAL_EVENTS: [&str; 2] = ["run_completed", "run_failed"];

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be a non-negative integer"))
}

/// `GET /api/v1/runs/{id}/events`.
pub async fn stream(
    State(state): State<AppState>,
    _auth: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume = last_event_id(&headers)?;
    if !exists(&state, &id).await? {
        return Err(ApiError::not_found(format!("run {id} not found")));
    }
    // `sse-gap`: a resume starts one event too late.
    let start = match resume {
        Some(last) if state.has(Defect::SseGap) => last + 1,
        Some(last) => last,
        None => 0,
    };
    // Every stream of a run shares one poller (event_watch.rs): a stream reads the store only
    // when the run has events it has not sent yet.
    let events = async_stream::stream! {
        let mut after = start;
        let mut latest = state.watches.follow(&state, &id);
        let mut fetch = true;
        loop {
            if fetch {
                let batch = tokio::select! {
                    () = state.shutdown.cancelled() => return,
                    batch = state.store.events_after(&id, after, 100) => batch,
                };
                match batch {
                    Ok(batch) => {
                        let full = batch.len() == 100;
                        for event in batch {
                            after = event.seq;
                            let terminal = TERMINAL_EVENTS.contains(&event.kind.as_str());
                            yield Ok(Event::default()
                                .id(event.seq.to_string())
                                .event(event.kind)
                                .data(event.data));
                            if terminal {
                                return;
                            }
                        }
                        if full {
                            continue;
                        }
                    }
                    // A database outage: keep the stream open and try again.
                    Err(_) => {
                        tokio::select! {
                            () = state.shutdown.cancelled() => return,
                            () = tokio::time::sleep(POLL * 3) => {}
                        }
                        continue;
                    }
                }
            }
            fetch = tokio::select! {
                () = state.shutdown.cancelled() => return,
                changed = latest.changed() => match changed {
                    Ok(()) => *latest.borrow_and_update() > after,
                    Err(_) => {
                        // The poller stopped: follow the run again, and read the store.
                        latest = state.watches.follow(&state, &id);
                        true
                    }
                },
                // A safety net: read the store now and then even if no change was published.
                () = tokio::time::sleep(POLL * 10) => true,
            };
        }
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}
