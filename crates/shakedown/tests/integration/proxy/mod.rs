//! The fault proxy on real loopback sockets: every toxic measured on real traffic, control under
//! load, TTLs, no leaked connections or tasks, and `[proxies.NAME]` in a plan run by the binary.
//!
//! The upstreams here are small tokio servers (echo, a fixed payload, an endless stream); the
//! proxy runs for real, on its own thread. Every test ends with [`drained`], which waits until the
//! proxy has no open connection and only its idle tasks left.

mod api_latency;
mod bulk;
mod c3;
mod control;
mod dry_run;
mod lifecycle;
mod plan;
mod toxics;

use std::net::SocketAddr;
use std::time::Duration;

use shakedown_proxy::{Proxy, ProxyConfig, ProxyStats, Toxic, ToxicSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Tasks of an idle proxy: its accept loop and its TTL reaper.
pub const IDLE_TASKS: u64 = 2;

/// A generous bound against hangs (never a timing assertion).
pub const HANG: Duration = Duration::from_secs(20);

/// A TTL long enough to outlive any test.
pub const TTL: Duration = Duration::from_secs(120);

/// An upstream test server; stopped on drop.
pub struct Upstream {
    /// Its address.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<F, Fut>(handler: F) -> Upstream
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            conns.spawn(handler(stream));
        }
    });
    Upstream { addr, task }
}

/// Echoes every byte back; closes its side when the client closes its own.
pub async fn echo() -> Upstream {
    serve(|mut stream| async move {
        let (mut r, mut w) = stream.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    })
    .await
}

/// Sends `len` bytes in one write, then closes.
pub async fn payload(len: usize) -> Upstream {
    serve(move |mut stream| async move {
        let _ = stream.write_all(&vec![7u8; len]).await;
        let _ = stream.shutdown().await;
        // Wait for the client to go, so the close is a FIN and never a reset.
        let mut sink = [0u8; 64];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
}

/// Writes without end, as fast as the client reads.
pub async fn endless() -> Upstream {
    serve(|mut stream| async move {
        let block = vec![1u8; 64 * 1024];
        while stream.write_all(&block).await.is_ok() {}
    })
    .await
}

/// A proxy in front of `upstream`, on a free loopback port, seeded with `seed`.
pub fn proxy(upstream: SocketAddr, seed: u64) -> Proxy {
    let mut config = ProxyConfig::new(
        "test",
        "127.0.0.1:0".parse().expect("address"),
        upstream.to_string(),
    );
    config.seed = seed;
    Proxy::start(config).expect("start the proxy")
}

/// A toxic on every connection, with a long TTL.
pub fn toxic(toxic: Toxic) -> ToxicSpec {
    ToxicSpec::new(toxic, TTL)
}

/// Connect to the proxy.
pub async fn connect(proxy: &Proxy) -> TcpStream {
    let stream = tokio::time::timeout(HANG, TcpStream::connect(proxy.addr()))
        .await
        .expect("connect in time")
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// One echo round trip of `msg`; returns its duration.
pub async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Duration {
    let start = std::time::Instant::now();
    stream.write_all(msg).await.expect("write");
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(HANG, stream.read_exact(&mut got))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(got, msg);
    start.elapsed()
}

/// Read to the end (EOF or an error); returns the bytes read and how the stream ended.
pub async fn read_to_end(stream: &mut TcpStream) -> (usize, std::io::Result<()>) {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(HANG, stream.read(&mut buf))
            .await
            .expect("the stream ends in time")
        {
            Ok(0) => return (total, Ok(())),
            Ok(n) => total += n,
            Err(err) => return (total, Err(err)),
        }
    }
}

/// The median of some durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Wait until the proxy has no open connection and only its idle tasks; return its counters.
/// Panics (a leak) if that does not happen within [`HANG`].
pub async fn drained(proxy: &Proxy) -> ProxyStats {
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let stats = proxy.stats();
        if stats.active == 0 && stats.tasks == IDLE_TASKS {
            assert_eq!(stats.accepted, stats.closed, "{stats:?}");
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the proxy did not drain (leaked connections or tasks): {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
