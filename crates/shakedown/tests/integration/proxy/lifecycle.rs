//! Connections come and go without leaks: half-closing clients, silent clients (also while a
//! toxic delays or holds their traffic), an upstream that is down, and shutdown.

use std::time::Duration;

use shakedown_proxy::Direction;
use shakedown_proxy::toxics::{Latency, Timeout};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closing_client_gets_its_answer_and_nothing_leaks() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 30);
    let mut stream = connect(&proxy).await;
    stream.write_all(b"last words").await.expect("write");
    // Half-close: no more requests, but the answer must still come back.
    stream.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(answer, b"last words");
    drop(stream);
    let stats = drained(&proxy).await;
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.bytes_upstream, 10);
    assert_eq!(stats.bytes_downstream, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_leave_nothing_behind() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 31);
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(connect(&proxy).await);
    }
    let deadline = tokio::time::Instant::now() + HANG;
    while proxy.stats().active < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            proxy.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(proxy.stats().tasks, IDLE_TASKS + 20);
    drop(silent);
    let stats = drained(&proxy).await;
    assert_eq!(stats.accepted, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closing_client_under_latency_gets_its_delayed_answer_and_nothing_leaks() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 34);
    proxy
        .add_toxic(
            toxic(Toxic::Latency(Latency {
                latency: Duration::from_millis(100),
                jitter: Duration::ZERO,
            }))
            .direction(Direction::Both),
        )
        .await
        .expect("add latency");
    let mut stream = connect(&proxy).await;
    stream.write_all(b"last words").await.expect("write");
    // The close overtakes the delayed bytes on the wire; the proxy must still deliver them first.
    stream.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(answer, b"last words");
    drop(stream);
    let stats = drained(&proxy).await;
    assert_eq!(stats.bytes_delayed, 20, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_during_a_blackhole_are_released_when_it_goes() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 35);
    proxy
        .add_toxic(toxic(Toxic::Timeout(Timeout { timeout: None })))
        .await
        .expect("add timeout");
    // One client asks and half-closes; another connects, says nothing and leaves.
    let mut asking = connect(&proxy).await;
    asking.write_all(b"held").await.expect("write");
    asking.shutdown().await.expect("shutdown");
    let silent = connect(&proxy).await;
    let deadline = tokio::time::Instant::now() + HANG;
    while proxy.stats().active < 2 || proxy.stats().bytes_held < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            proxy.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(silent);
    // The blackhole holds both connections (that is what it is for) ...
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(proxy.stats().active, 2, "{:?}", proxy.stats());
    // ... and once it is removed, the held bytes are answered and both connections close.
    proxy.remove_toxic("timeout").await.expect("remove");
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, asking.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(answer, b"held");
    drop(asking);
    let stats = drained(&proxy).await;
    assert_eq!(stats.accepted, 2, "{stats:?}");
    // Only the connection whose bytes it held counts as timed out.
    assert_eq!(stats.timed_out, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_closes_the_client_and_is_counted() {
    // A port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let proxy = proxy(addr, 32);
    let err = shakedown_proxy::probe_upstream(&addr.to_string(), HANG)
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut stream = connect(&proxy).await;
    let (read, _) = read_to_end(&mut stream).await;
    assert_eq!(read, 0);
    drop(stream);
    let stats = drained(&proxy).await;
    assert_eq!(stats.upstream_errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_open_connections_and_the_listener() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 33);
    let addr = proxy.addr();
    let mut stream = connect(&proxy).await;
    round_trip(&mut stream, b"hi").await;
    tokio::time::timeout(HANG, proxy.shutdown())
        .await
        .expect("shutdown in time");
    let (read, _) = read_to_end(&mut stream).await;
    assert_eq!(read, 0);
    let refused = tokio::net::TcpStream::connect(addr)
        .await
        .expect_err("nothing listens after shutdown");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}
