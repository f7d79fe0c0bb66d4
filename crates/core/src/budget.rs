//! The run's bounds as the load generator and the ledger's watch see them: a shared request
//! budget with a deadline, and the stop signal of one load test. Both spend the same budget, so
//! it sits below both.
//!
//! Every request (scenario steps, poll attempts, gauge samples) takes one unit of the budget
//! before it is sent. When the budget is spent or the deadline has passed, the request is not
//! sent and the test stops with the reason.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a load test stopped before it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The run was cancelled (Ctrl-C, SIGTERM).
    Cancelled,
    /// The plan's request limit was reached.
    RequestLimit,
    /// The plan's duration limit (the run's deadline) passed.
    DurationLimit,
}

/// Remaining requests of the whole run (all tests share one) and the run's deadline.
#[derive(Debug)]
pub struct RequestBudget {
    limit: u64,
    remaining: AtomicU64,
    deadline: Instant,
}

impl RequestBudget {
    /// A budget of `requests` requests, valid until `deadline`.
    pub fn new(requests: u64, deadline: Instant) -> Self {
        RequestBudget {
            limit: requests,
            remaining: AtomicU64::new(requests),
            deadline,
        }
    }

    /// Requests taken so far.
    pub fn used(&self) -> u64 {
        self.limit - self.remaining.load(Ordering::Relaxed)
    }

    /// The run's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Take one request, or say why not.
    pub fn take(&self) -> Result<(), StopReason> {
        if Instant::now() >= self.deadline {
            return Err(StopReason::DurationLimit);
        }
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
            .map(|_| ())
            .map_err(|_| StopReason::RequestLimit)
    }
}

const NOT_STOPPED: u8 = 0;
/// The executor's duration and its graceful stop are over: not an early stop.
const ENDED: u8 = 255;

fn encode(reason: StopReason) -> u8 {
    match reason {
        StopReason::Cancelled => 1,
        StopReason::RequestLimit => 2,
        StopReason::DurationLimit => 3,
    }
}

fn decode(code: u8) -> Option<StopReason> {
    match code {
        1 => Some(StopReason::Cancelled),
        2 => Some(StopReason::RequestLimit),
        3 => Some(StopReason::DurationLimit),
        _ => None,
    }
}

/// How one load test is told to stop, and why it stopped. The first reason wins.
///
/// Cancellation and the deadline abandon in-flight requests (through `token`); a spent budget
/// only stops new requests, since those in flight were already paid for.
#[derive(Debug)]
pub struct StopSignal {
    token: CancellationToken,
    reason: AtomicU8,
}

impl StopSignal {
    /// A signal that also fires when `parent` is cancelled.
    pub fn new(parent: &CancellationToken) -> StopSignal {
        StopSignal {
            token: parent.child_token(),
            reason: AtomicU8::new(NOT_STOPPED),
        }
    }

    /// Stop the test for `reason` (ignored if it already stopped for another).
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.compare_exchange(
            NOT_STOPPED,
            encode(reason),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if !matches!(reason, StopReason::RequestLimit) {
            self.token.cancel();
        }
    }

    /// End the test at its executor's duration (and graceful stop): requests in flight are
    /// abandoned, as on cancellation, but the test ran to completion, so there is no stop
    /// reason. Ignored if the test already stopped for a reason.
    pub fn end(&self) {
        let _ =
            self.reason
                .compare_exchange(NOT_STOPPED, ENDED, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    /// Whether the test must not start anything new.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled() || self.reason.load(Ordering::Acquire) != NOT_STOPPED
    }

    /// The token that abandons in-flight work.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Why the test stopped: the recorded reason, else the deadline if the parent fired at or
    /// after it (the engine's own deadline watchdog), else cancellation. None if it did not stop.
    pub fn reason(&self, deadline: Instant) -> Option<StopReason> {
        let code = self.reason.load(Ordering::Acquire);
        if code == ENDED {
            return None;
        }
        if let Some(reason) = decode(code) {
            return Some(reason);
        }
        if self.token.is_cancelled() {
            return Some(if Instant::now() >= deadline {
                StopReason::DurationLimit
            } else {
                StopReason::Cancelled
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_budget_runs_out() {
        let b = RequestBudget::new(3, Instant::now() + Duration::from_secs(60));
        assert!(b.take().is_ok());
        assert!(b.take().is_ok());
        assert!(b.take().is_ok());
        assert!(matches!(b.take(), Err(StopReason::RequestLimit)));
        assert_eq!(b.used(), 3);
    }

    #[tokio::test]
    async fn the_deadline_passes() {
        let b = RequestBudget::new(100, Instant::now());
        assert!(matches!(b.take(), Err(StopReason::DurationLimit)));
        assert_eq!(b.used(), 0);
    }

    #[tokio::test]
    async fn the_first_stop_reason_wins_and_a_spent_budget_does_not_abandon() {
        let parent = CancellationToken::new();
        let far = Instant::now() + Duration::from_secs(60);
        let s = StopSignal::new(&parent);
        assert_eq!(s.reason(far), None);
        s.stop(StopReason::RequestLimit);
        assert!(s.is_stopped());
        assert!(
            !s.token().is_cancelled(),
            "in-flight requests were paid for"
        );
        s.stop(StopReason::Cancelled);
        assert!(s.token().is_cancelled());
        assert!(matches!(s.reason(far), Some(StopReason::RequestLimit)));

        let s = StopSignal::new(&parent);
        let t = StopSignal::new(&CancellationToken::new());
        parent.cancel();
        assert!(matches!(s.reason(far), Some(StopReason::Cancelled)));
        assert!(matches!(
            s.reason(Instant::now()),
            Some(StopReason::DurationLimit)
        ));
        assert_eq!(t.reason(far), None);
    }

    #[tokio::test]
    async fn an_end_abandons_requests_in_flight_without_a_stop_reason() {
        let parent = CancellationToken::new();
        let far = Instant::now() + Duration::from_secs(60);
        let s = StopSignal::new(&parent);
        s.end();
        assert!(s.is_stopped());
        assert!(s.token().is_cancelled());
        s.stop(StopReason::Cancelled);
        assert_eq!(s.reason(far), None, "the test ran to its end");

        let s = StopSignal::new(&parent);
        s.stop(StopReason::RequestLimit);
        s.end();
        assert!(matches!(s.reason(far), Some(StopReason::RequestLimit)));
    }
}
