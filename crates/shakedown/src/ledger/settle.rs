//! The settle phase: stop submitting, poll every tracked key until it is terminal or the settle
//! deadline passes, then read every key one last time through fresh connections.
//!
//! Each polling round reads, with at most [`READ_CONCURRENCY`] requests in flight, every key that
//! no earlier poll found settled (every job terminal, or no job at all); rounds are
//! `plan.settle.interval` apart, and the whole polling stage ends at `plan.settle.timeout`. The
//! final reads then go through a new HTTP client, so no pooled keep-alive connection (possibly
//! opened before a fault, or to an old instance) answers them. Every read is an operation in the
//! history, and settle itself is one too: its completion says whether it settled, which the
//! checker needs to tell `not_applied` from `unknown`. Cancellation stops polling at once, skips
//! the final reads, and gives `settled = false`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ledger::history::{Ledger, ReadRequest, TrackedKey};
use crate::ledger::observe::{is_settled, jobs_in, track_at};
use crate::ledger::record::{OpFn, ReadDone, SettleDone, SettleInvoke};

/// Reads in flight at once during settle.
pub const READ_CONCURRENCY: usize = 16;

/// Largest read response body accepted, in bytes.
pub const MAX_READ_BODY: usize = 8 * 1024 * 1024;

/// How settle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleOutcome {
    /// Every key was terminal (or absent) before the deadline, and settle was not cancelled.
    pub settled: bool,
    /// How long settle took, final reads included.
    pub elapsed: Duration,
    /// Reads made: polls and final reads.
    pub reads: u64,
}

/// Poll every tracked key that is not terminal, every `plan.settle.interval`, until all are
/// terminal or `plan.settle.timeout` passes (or `cancel`); then make the final reads of every key
/// through a fresh client, unless cancelled. Every read is recorded in the history.
pub async fn settle(ledger: &Ledger, cancel: &CancellationToken) -> SettleOutcome {
    let config = ledger.plan().settle;
    let started = Instant::now();
    let deadline = started + config.timeout;
    let reads = AtomicU64::new(0);
    ledger.settle_invoke(&SettleInvoke {
        keys: ledger.tracked_keys().len() as u64,
        timeout_ms: millis(config.timeout),
        interval_ms: millis(config.interval),
    });

    let polls = Clients::default();
    let mut settled = false;
    loop {
        let pending: Vec<_> = ledger
            .tracked_keys()
            .into_iter()
            .filter(|k| !k.settled.load(Ordering::Acquire))
            .collect();
        if pending.is_empty() {
            settled = true;
            break;
        }
        if cancel.is_cancelled() || Instant::now() >= deadline {
            break;
        }
        futures::stream::iter(pending)
            .for_each_concurrent(READ_CONCURRENCY, |key| {
                let (polls, reads) = (&polls, &reads);
                async move {
                    let seen =
                        read_key(ledger, polls, &key, OpFn::Read, Some(deadline), cancel).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    if let Ok(done) = seen {
                        let terminal = track_at(ledger.plan(), &key.scenario, key.step)
                            .is_some_and(|track| is_settled(track, &done.items));
                        if terminal {
                            key.settled.store(true, Ordering::Release);
                        }
                    }
                }
            })
            .await;
        let all_settled = ledger
            .tracked_keys()
            .iter()
            .all(|k| k.settled.load(Ordering::Acquire));
        if all_settled {
            settled = true;
            break;
        }
        let next = (Instant::now() + config.interval).min(deadline);
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
    }

    let cancelled = cancel.is_cancelled();
    if !cancelled {
        // A fresh client: new connections, nothing reused from the polls.
        let fresh = Clients::default();
        futures::stream::iter(ledger.tracked_keys())
            .for_each_concurrent(READ_CONCURRENCY, |key| {
                let (fresh, reads) = (&fresh, &reads);
                async move {
                    let _ = read_key(ledger, fresh, &key, OpFn::FinalRead, None, cancel).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
            .await;
    }
    let outcome = SettleOutcome {
        settled: settled && !cancelled,
        elapsed: started.elapsed(),
        reads: reads.load(Ordering::Relaxed),
    };
    ledger.settle_complete(&SettleDone {
        settled: outcome.settled,
        cancelled,
        elapsed_ms: millis(outcome.elapsed),
        reads: outcome.reads,
    });
    outcome
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// HTTP clients by connect timeout (reqwest sets it per client, targets may differ).
#[derive(Default)]
struct Clients {
    by_connect_timeout: Mutex<HashMap<Duration, reqwest::Client>>,
}

impl Clients {
    fn get(&self, connect_timeout: Duration) -> Result<reqwest::Client, String> {
        let mut clients = self
            .by_connect_timeout
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&connect_timeout) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", error_chain(&e)))?;
        clients.insert(connect_timeout, client.clone());
        Ok(client)
    }
}

/// Read one key, recording the read's invoke and completion. The read is abandoned (and
/// recorded as `info`) on cancellation or when `deadline` passes.
async fn read_key(
    ledger: &Ledger,
    clients: &Clients,
    key: &TrackedKey,
    f: OpFn,
    deadline: Option<Instant>,
    cancel: &CancellationToken,
) -> Result<ReadDone, ReadDone> {
    ledger.read_invoke(key, f);
    let expired = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let seen = tokio::select! {
        seen = fetch(ledger, clients, key) => seen,
        _ = cancel.cancelled() => Err(failure(None, "cancelled before the read completed")),
        _ = expired => Err(failure(None, "the settle deadline passed before the read completed")),
    };
    ledger.read_complete(key, f, &seen);
    seen
}

fn failure(status: Option<u16>, error: impl Into<String>) -> ReadDone {
    ReadDone {
        status,
        jobs: 0,
        items: Vec::new(),
        error: Some(error.into()),
    }
}

/// Send a key's read request and judge the response. A 404 or 410 means the key has no job.
async fn fetch(ledger: &Ledger, clients: &Clients, key: &TrackedKey) -> Result<ReadDone, ReadDone> {
    let track = track_at(ledger.plan(), &key.scenario, key.step).ok_or_else(|| {
        failure(
            None,
            format!(
                "step {} of scenario `{}` is not a track step of the plan",
                key.step, key.scenario
            ),
        )
    })?;
    let request = build(clients, &key.read).map_err(|e| failure(None, e))?;
    let mut response = request
        .send()
        .await
        .map_err(|e| failure(None, error_chain(&e)))?;
    let status = response.status().as_u16();
    if status == 404 || status == 410 {
        return Ok(ReadDone {
            status: Some(status),
            ..ReadDone::default()
        });
    }
    if !response.status().is_success() {
        return Err(failure(Some(status), format!("HTTP {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failure(Some(status), error_chain(&e)))?
    {
        if body.len() + chunk.len() > MAX_READ_BODY {
            return Err(failure(
                Some(status),
                format!("response body larger than {MAX_READ_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| failure(Some(status), format!("response is not JSON: {e}")))?;
    let (jobs, items) = jobs_in(track, &json);
    Ok(ReadDone {
        status: Some(status),
        jobs,
        items,
        error: None,
    })
}

fn build(clients: &Clients, read: &ReadRequest) -> Result<reqwest::RequestBuilder, String> {
    let client = clients.get(read.connect_timeout)?;
    let method = reqwest::Method::from_bytes(read.method.as_str().as_bytes())
        .map_err(|e| format!("bad method {}: {e}", read.method.as_str()))?;
    let mut request = client.request(method, &read.url).timeout(read.timeout);
    for (name, value) in &read.headers {
        request = request.header(name, value);
    }
    Ok(request)
}

/// An error with its sources, e.g. "error sending request: connection refused".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
