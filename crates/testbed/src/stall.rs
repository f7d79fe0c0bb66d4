//! The stall server: a tiny HTTP server that answers every request at once, except that it
//! freezes exactly once, for a fixed time, like a process in a long garbage-collection pause.
//!
//! The stall starts at the first request that arrives `after` the first request of all, and lasts
//! `length`: every request that arrives while it lasts is answered when it ends, none before.
//! That makes the correct latency distribution of an open-model run known in advance, which is
//! the ground truth for shakedown's latency figures (coordinated omission).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Options of `testbed stall`.
#[derive(Debug, Clone, clap::Args)]
pub struct StallArgs {
    /// Loopback address to listen on (port 0: any free port; the address is printed as JSON).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Milliseconds after the first request at which the stall starts.
    #[arg(long, default_value_t = 5000)]
    pub after_ms: u64,
    /// Milliseconds the stall lasts.
    #[arg(long, default_value_t = 1000)]
    pub stall_ms: u64,
    /// Exit when the parent process dies.
    #[arg(long)]
    pub exit_with_parent: bool,
}

#[derive(Debug, Default)]
struct Clock {
    first: Option<Instant>,
    stall: Option<(Instant, Instant)>,
}

#[derive(Debug, Clone)]
struct Stall {
    clock: Arc<Mutex<Clock>>,
    after: Duration,
    length: Duration,
}

impl Stall {
    /// When the request arriving now may be answered: now, or the end of the stall.
    fn release_at(&self, now: Instant) -> Option<Instant> {
        let mut clock = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        let first = *clock.first.get_or_insert(now);
        if clock.stall.is_none() && now >= first + self.after {
            clock.stall = Some((now, now + self.length));
        }
        match clock.stall {
            Some((start, end)) if now >= start && now < end => Some(end),
            _ => None,
        }
    }
}

async fn answer(State(stall): State<Stall>) -> &'static str {
    if let Some(end) = stall.release_at(Instant::now()) {
        tokio::time::sleep_until(end).await;
    }
    "ok\n"
}

/// Serve until `shutdown`, printing `{"listen":"ADDR"}` on stdout once listening.
pub async fn run(args: StallArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!("--listen must be a loopback address, got {}", args.listen);
    }
    let stall = Stall {
        clock: Arc::default(),
        after: Duration::from_millis(args.after_ms),
        length: Duration::from_millis(args.stall_ms),
    };
    let app = Router::new().fallback(answer).with_state(stall);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("{}", serde_json::json!({ "listen": addr.to_string() }));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("stall server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_stalls_once_for_its_length_and_never_again() {
        let stall = Stall {
            clock: Arc::default(),
            after: Duration::from_secs(5),
            length: Duration::from_secs(1),
        };
        let t0 = Instant::now();
        assert_eq!(stall.release_at(t0), None);
        assert_eq!(stall.release_at(t0 + Duration::from_millis(4999)), None);
        let start = t0 + Duration::from_millis(5200);
        let end = start + Duration::from_secs(1);
        assert_eq!(stall.release_at(start), Some(end));
        assert_eq!(
            stall.release_at(start + Duration::from_millis(999)),
            Some(end)
        );
        assert_eq!(stall.release_at(end), None);
        assert_eq!(stall.release_at(end + Duration::from_secs(10)), None);
    }
}
