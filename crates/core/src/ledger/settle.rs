//! The settle phase: stop submitting, poll every tracked key until it is terminal or the settle
//! deadline passes, then read every key one last time through fresh connections.
//!
//! A key whose submit was indeterminate and whose read could not be rendered is first replayed,
//! when its track says `resolve = "replay"`: the same request, with the same key, and the read
//! rendered from its answer. A key with no read is never polled.
//!
//! Each polling round reads, with at most [`READ_CONCURRENCY`] requests in flight, every key that
//! no earlier poll found settled (every job terminal, or no job at all; with the watch on, a job
//! must have stayed terminal over polls `watch.confirm` apart); rounds are
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

use crate::ledger::history::{Ledger, ReadRequest, ReplayRequest, SETTLE_PROCESS, TrackedKey};
use crate::ledger::observe::{Answer, is_settled, read_done, track_at};
use crate::ledger::record::{OpFn, ReadDone, SettleDone, SettleInvoke};
use crate::target_context::error_chain;

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
    replay_unresolved(ledger, &polls, deadline, cancel, &reads).await;
    // With the watch on, a key with a job settles only once polls have seen it terminal for
    // `watch.confirm`, so that a job that leaves its terminal state for a moment right after
    // the load is still seen doing it. At the deadline, a key terminal at its last poll counts.
    let confirm = if config.watch.enabled {
        config.watch.confirm
    } else {
        Duration::ZERO
    };
    let terminal_since: Mutex<HashMap<(String, String), Instant>> = Mutex::default();
    let mut settled = false;
    loop {
        // A key with no read cannot be polled: there is nothing to wait for.
        let pending: Vec<_> = ledger
            .tracked_keys()
            .into_iter()
            .filter(|k| k.read.is_ok() && !k.settled.load(Ordering::Acquire))
            .collect();
        if pending.is_empty() {
            settled = true;
            break;
        }
        if cancel.is_cancelled() || Instant::now() >= deadline {
            let since = lock(&terminal_since);
            settled = !cancel.is_cancelled()
                && pending
                    .iter()
                    .all(|k| since.contains_key(&(k.test.clone(), k.key.clone())));
            break;
        }
        futures::stream::iter(pending)
            .for_each_concurrent(READ_CONCURRENCY, |key| {
                let (polls, reads, terminal_since) = (&polls, &reads, &terminal_since);
                async move {
                    let seen = read_key(
                        ledger,
                        polls,
                        &key,
                        OpFn::Read,
                        Some(deadline),
                        cancel,
                        SETTLE_PROCESS,
                    )
                    .await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    let Ok(done) = seen else { return };
                    let terminal = track_at(ledger.plan(), &key.scenario, key.step)
                        .is_some_and(|track| is_settled(track, &done.items));
                    let id = (key.test.clone(), key.key.clone());
                    let mut since = lock(terminal_since);
                    if !terminal {
                        since.remove(&id);
                        return;
                    }
                    let now = Instant::now();
                    let first = *since.entry(id).or_insert(now);
                    // An absent key is not confirmed: its absence is what the final read judges.
                    if done.jobs == 0 || now.duration_since(first) >= confirm {
                        key.settled.store(true, Ordering::Release);
                    }
                }
            })
            .await;
        let all_settled = ledger
            .tracked_keys()
            .iter()
            .all(|k| k.read.is_err() || k.settled.load(Ordering::Acquire));
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
        let readable = ledger.tracked_keys().into_iter().filter(|k| k.read.is_ok());
        futures::stream::iter(readable)
            .for_each_concurrent(READ_CONCURRENCY, |key| {
                let (fresh, reads) = (&fresh, &reads);
                async move {
                    let _ = read_key(
                        ledger,
                        fresh,
                        &key,
                        OpFn::FinalRead,
                        None,
                        cancel,
                        SETTLE_PROCESS,
                    )
                    .await;
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// HTTP clients by connect timeout (reqwest sets it per client, targets may differ).
#[derive(Default)]
pub(crate) struct Clients {
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

/// Send again the submit of every key that has no read and a replay (`resolve = "replay"`),
/// recording each replay; a replay that answers with what the read needs gives the key its read.
async fn replay_unresolved(
    ledger: &Ledger,
    clients: &Clients,
    deadline: Instant,
    cancel: &CancellationToken,
    sent: &AtomicU64,
) {
    let keys = ledger
        .tracked_keys()
        .into_iter()
        .filter(|k| k.read.is_err() && k.replay.is_some());
    futures::stream::iter(keys)
        .for_each_concurrent(READ_CONCURRENCY, |key| async move {
            let Some(replay) = &key.replay else { return };
            ledger.replay_invoke(&key, replay);
            let (status, read) = tokio::select! {
                answer = send_replay(clients, replay) => answer,
                _ = cancel.cancelled() => (None, Err("cancelled before the replay completed".to_string())),
                _ = tokio::time::sleep_until(deadline) => {
                    (None, Err("the settle deadline passed before the replay completed".to_string()))
                }
            };
            let created = status.is_some_and(|s| replay.created.contains(&s));
            ledger.replay_complete(&key, status, created, read);
            sent.fetch_add(1, Ordering::Relaxed);
        })
        .await;
}

/// Send a replay; its status, and the key's read request rendered from its answer.
async fn send_replay(
    clients: &Clients,
    replay: &ReplayRequest,
) -> (Option<u16>, Result<ReadRequest, String>) {
    let mut request = match build(clients, &replay.request) {
        Ok(r) => r,
        Err(e) => return (None, Err(e)),
    };
    if let Some(body) = &replay.body {
        request = request.body(body.clone());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return (None, Err(format!("the replay failed: {}", error_chain(&e)))),
    };
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return (
            Some(status),
            Err(format!(
                "the replay answered {status}, so it resolved nothing"
            )),
        );
    }
    let answer = match json_body(response).await {
        Ok(v) => v,
        Err(e) => return (Some(status), Err(format!("the replay's answer: {e}"))),
    };
    (Some(status), replay.then.read_after(&answer))
}

/// Read a response body (at most [`MAX_READ_BODY`] bytes) as JSON.
async fn json_body(mut response: reqwest::Response) -> Result<serde_json::Value, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > MAX_READ_BODY {
            return Err(format!("response body larger than {MAX_READ_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"))
}

/// Read one key, recording the read's invoke and completion. The read is abandoned (and
/// recorded as `info`) on cancellation or when `deadline` passes. A key without a read is not
/// read (and nothing is recorded).
pub(crate) async fn read_key(
    ledger: &Ledger,
    clients: &Clients,
    key: &TrackedKey,
    f: OpFn,
    deadline: Option<Instant>,
    cancel: &CancellationToken,
    process: &str,
) -> Result<ReadDone, ReadDone> {
    let Ok(read) = &key.read else {
        return Err(failure(None, "the key has no read"));
    };
    ledger.read_invoke(key, read, f, process);
    let expired = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let seen = tokio::select! {
        seen = fetch(ledger, clients, key, read) => seen,
        _ = cancel.cancelled() => Err(failure(None, "cancelled before the read completed")),
        _ = expired => Err(failure(None, "the settle deadline passed before the read completed")),
    };
    ledger.read_complete(key, f, &seen, process);
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
async fn fetch(
    ledger: &Ledger,
    clients: &Clients,
    key: &TrackedKey,
    read: &ReadRequest,
) -> Result<ReadDone, ReadDone> {
    let track = track_at(ledger.plan(), &key.scenario, key.step).ok_or_else(|| {
        failure(
            None,
            format!(
                "step {} of scenario `{}` is not a track step of the plan",
                key.step, key.scenario
            ),
        )
    })?;
    let request = build(clients, read).map_err(|e| failure(None, e))?;
    let response = request
        .send()
        .await
        .map_err(|e| failure(None, error_chain(&e)))?;
    let status = response.status().as_u16();
    let body = match Answer::of(status) {
        Answer::Body => json_body(response).await,
        Answer::NoJob | Answer::Failed(_) => Ok(serde_json::Value::Null),
    };
    read_done(track, status, body)
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
