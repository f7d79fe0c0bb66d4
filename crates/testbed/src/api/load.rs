//! Counting requests in flight, and the `slow-under-load` defect that makes each request wait in
//! proportion to the others being served.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::defects::Defect;

/// The added latency per other request in flight, with `slow-under-load`.
pub const SLOW_PER_CONCURRENT_REQUEST: Duration = Duration::from_millis(400);

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Middleware: count the request while it is served, and apply `slow-under-load`.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let others = state.in_flight.fetch_add(1, Ordering::SeqCst);
    let _guard = InFlight(&state.in_flight);
    if state.has(Defect::SlowUnderLoad) && others > 0 {
        let factor = u32::try_from(others).unwrap_or(u32::MAX);
        tokio::time::sleep(SLOW_PER_CONCURRENT_REQUEST.saturating_mul(factor)).await;
    }
    next.run(request).await
}
