//! Each toxic, measured on real traffic through the proxy.

use std::io::ErrorKind;
use std::time::Duration;

use shakedown_proxy::toxics::{
    Bandwidth, Down, Latency, LimitData, ResetPeer, Slicer, SlowClose, Timeout,
};
use shakedown_proxy::{Direction, Toxic, ToxicEnd};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

/// Round trips on `plain` (through a proxy without toxics) and `slowed`, interleaved so that a
/// busy machine slows both alike.
async fn interleaved(
    plain: &mut TcpStream,
    slowed: &mut TcpStream,
    samples: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut base, mut with) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        base.push(round_trip(plain, b"ping").await);
        with.push(round_trip(slowed, b"ping").await);
    }
    (base, with)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_raises_the_median_round_trip_by_its_amount_on_an_open_connection() {
    let upstream = echo().await;
    let plain = proxy(upstream.addr, 1);
    let proxy = proxy(upstream.addr, 1);
    let mut base = connect(&plain).await;
    // A keep-alive connection, opened and used before the toxic: the toxic must reach it.
    let mut stream = connect(&proxy).await;
    round_trip(&mut stream, b"warm").await;
    let latency = Duration::from_millis(100);
    let added = proxy
        .add_toxic(toxic(Toxic::Latency(Latency {
            latency,
            jitter: Duration::ZERO,
        })))
        .await
        .expect("add latency");
    assert_eq!(added.connections, 1);
    let (base, slowed) = interleaved(&mut base, &mut stream, 21).await;
    let shift = median(slowed).saturating_sub(median(base));
    eprintln!("latency {latency:?}: p50 shift {shift:?}");
    assert!(
        shift.abs_diff(latency) <= latency / 10,
        "p50 shift {shift:?}, expected {latency:?} within 10%"
    );
    drop(stream);
    drained(&proxy).await;
    let stats = proxy.toxic_stats("latency").expect("stats");
    assert_eq!(stats.bytes, 21 * 4, "{stats:?}");
    assert_eq!(stats.connections, 1, "{stats:?}");
    assert!(stats.touched_traffic());
    assert_eq!(plain.stats().bytes_delayed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_spreads_delays_around_the_latency() {
    let upstream = echo().await;
    let plain = proxy(upstream.addr, 2);
    let proxy = proxy(upstream.addr, 2);
    let latency = Duration::from_millis(100);
    let jitter = Duration::from_millis(20);
    proxy
        .add_toxic(toxic(Toxic::Latency(Latency { latency, jitter })))
        .await
        .expect("add latency");
    let mut base = connect(&plain).await;
    let mut stream = connect(&proxy).await;
    let (base, slowed) = interleaved(&mut base, &mut stream, 21).await;
    let spread = slowed.iter().max().copied().unwrap_or_default()
        - slowed.iter().min().copied().unwrap_or_default();
    assert!(
        spread >= jitter,
        "spread {spread:?} for a jitter of ±{jitter:?}"
    );
    let shift = median(slowed).saturating_sub(median(base));
    assert!(
        shift.abs_diff(latency) <= latency / 10,
        "p50 shift {shift:?}, expected {latency:?} within 10%"
    );
    drop(stream);
    drained(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_is_measured_per_chunk_and_does_not_cap_throughput() {
    const LEN: usize = 8 * 1024 * 1024;
    let upstream = payload(LEN).await;
    let proxy = proxy(upstream.addr, 3);
    let latency = Duration::from_millis(100);
    proxy
        .add_toxic(toxic(Toxic::Latency(Latency {
            latency,
            jitter: Duration::ZERO,
        })))
        .await
        .expect("add latency");
    let mut stream = connect(&proxy).await;
    let start = std::time::Instant::now();
    let (read, end) = read_to_end(&mut stream).await;
    let elapsed = start.elapsed();
    assert_eq!(read, LEN);
    end.expect("a clean end");
    // At least 128 chunks went through: delaying each after the previous one would take over
    // 12.8 s. Delaying each from its own arrival takes about one latency plus the transfer.
    assert!(elapsed >= latency, "{elapsed:?}");
    assert!(elapsed < latency * 20, "throughput was capped: {elapsed:?}");
    assert_eq!(proxy.stats().bytes_delayed, LEN as u64);
    drop(stream);
    drained(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_caps_throughput_at_its_rate() {
    const RATE: u64 = 2 * 1024 * 1024;
    const LEN: usize = 3 * 1024 * 1024;
    let upstream = payload(LEN).await;
    let proxy = proxy(upstream.addr, 4);
    proxy
        .add_toxic(toxic(Toxic::Bandwidth(Bandwidth { rate: RATE })))
        .await
        .expect("add bandwidth");
    let mut stream = connect(&proxy).await;
    let mut buf = vec![0u8; 256 * 1024];
    let first = stream.read(&mut buf).await.expect("first read");
    let start = std::time::Instant::now();
    let mut rest = 0;
    loop {
        match tokio::time::timeout(HANG, stream.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => rest += n,
            other => panic!("unexpected end: {other:?}"),
        }
    }
    let measured = rest as f64 / start.elapsed().as_secs_f64();
    assert_eq!(first + rest, LEN);
    let error = (measured - RATE as f64).abs() / RATE as f64;
    eprintln!("bandwidth cap {RATE} B/s: measured {measured:.0} B/s");
    assert!(
        error <= 0.10,
        "measured {measured:.0} B/s for a cap of {RATE} B/s"
    );
    drop(stream);
    drained(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_delivers_small_slices() {
    let upstream = payload(1000).await;
    let proxy = proxy(upstream.addr, 5);
    proxy
        .add_toxic(toxic(Toxic::Slicer(Slicer {
            average_size: 100,
            size_variation: 20,
            delay: Duration::from_millis(20),
        })))
        .await
        .expect("add slicer");
    let mut stream = connect(&proxy).await;
    let mut reads = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(HANG, stream.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        if n == 0 {
            break;
        }
        reads.push(n);
    }
    assert_eq!(reads.iter().sum::<usize>(), 1000);
    // Slices are at most 120 bytes, 20 ms apart; a late reader may see two at once.
    assert!(reads.len() >= 5, "{reads:?}");
    assert!(reads.iter().all(|n| *n <= 240), "{reads:?}");
    assert_eq!(proxy.toxic_stats("slicer").expect("stats").bytes, 1000);
    drop(stream);
    drained(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_the_connection_after_its_bytes() {
    let upstream = payload(10_000).await;
    let proxy = proxy(upstream.addr, 6);
    proxy
        .add_toxic(toxic(Toxic::LimitData(LimitData { bytes: 1000 })))
        .await
        .expect("add limit_data");
    let mut stream = connect(&proxy).await;
    let (read, _) = read_to_end(&mut stream).await;
    assert_eq!(read, 1000);
    drop(stream);
    let stats = drained(&proxy).await;
    assert_eq!(stats.limited, 1);
    assert!(
        proxy
            .toxic_stats("limit_data")
            .expect("stats")
            .touched_traffic()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_holds_the_close_after_the_last_byte() {
    let upstream = payload(3).await;
    let proxy = proxy(upstream.addr, 7);
    let delay = Duration::from_millis(300);
    proxy
        .add_toxic(toxic(Toxic::SlowClose(SlowClose { delay })))
        .await
        .expect("add slow_close");
    let mut stream = connect(&proxy).await;
    let mut buf = [0u8; 3];
    stream.read_exact(&mut buf).await.expect("the payload");
    let data_at = std::time::Instant::now();
    let (rest, end) = read_to_end(&mut stream).await;
    let held = data_at.elapsed();
    assert_eq!(rest, 0);
    end.expect("a clean close");
    // The proxy counts the delay from its last write, a moment before this client read it.
    let slack = Duration::from_millis(20);
    assert!(held + slack >= delay, "the close came after {held:?}");
    drop(stream);
    drained(&proxy).await;
    assert_eq!(proxy.toxic_stats("slow_close").expect("stats").closed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_holds_traffic_until_removed_then_delivers_it() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 8);
    let mut stream = connect(&proxy).await;
    round_trip(&mut stream, b"before").await;
    proxy
        .add_toxic(toxic(Toxic::Timeout(Timeout { timeout: None })))
        .await
        .expect("add timeout");
    stream.write_all(b"held").await.expect("write");
    let mut buf = [0u8; 4];
    let waited =
        tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut buf)).await;
    assert!(waited.is_err(), "data got through a blackhole: {waited:?}");
    // A new client is accepted, and gets no answer either.
    let mut other = connect(&proxy).await;
    other.write_all(b"x").await.expect("write");
    let mut one = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), other.read(&mut one))
            .await
            .is_err()
    );
    let stats = proxy.stats();
    assert_eq!(stats.timed_out, 2, "{stats:?}");
    assert_eq!(stats.bytes_held, 5, "{stats:?}");
    let removed = proxy.remove_toxic("timeout").await.expect("remove");
    assert!(removed.stats.touched_traffic());
    // The partition healed: what was held arrives, in order.
    tokio::time::timeout(HANG, stream.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("the held bytes");
    assert_eq!(&buf, b"held");
    round_trip(&mut stream, b"after").await;
    drop((stream, other));
    drained(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_with_a_timeout_closes_the_connection() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 9);
    let timeout = Duration::from_millis(200);
    proxy
        .add_toxic(toxic(Toxic::Timeout(Timeout {
            timeout: Some(timeout),
        })))
        .await
        .expect("add timeout");
    let start = std::time::Instant::now();
    let mut stream = connect(&proxy).await;
    stream.write_all(b"hello").await.expect("write");
    let (read, _) = read_to_end(&mut stream).await;
    assert_eq!(read, 0);
    assert!(start.elapsed() >= timeout);
    drop(stream);
    let stats = drained(&proxy).await;
    assert_eq!(stats.timed_out, 1, "{stats:?}");
    assert_eq!(proxy.toxic_stats("timeout").expect("stats").closed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_gives_the_client_econnreset() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 10);
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"hi").await;
    proxy
        .add_toxic(toxic(Toxic::ResetPeer(ResetPeer {
            timeout: Duration::ZERO,
        })))
        .await
        .expect("add reset_peer");
    let mut buf = [0u8; 8];
    let err = tokio::time::timeout(HANG, open.read(&mut buf))
        .await
        .expect("in time")
        .expect_err("a reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    // A new connection is reset as well (the RST may even beat the end of `connect`).
    let fresh = tokio::time::timeout(HANG, async {
        let mut fresh = TcpStream::connect(proxy.addr()).await?;
        fresh.read(&mut buf).await
    })
    .await
    .expect("in time")
    .expect_err("a reset");
    assert_eq!(fresh.kind(), ErrorKind::ConnectionReset, "{fresh}");
    drop(open);
    let stats = drained(&proxy).await;
    assert_eq!(stats.reset, 2);
    assert_eq!(proxy.toxic_stats("reset_peer").expect("stats").closed, 2);
}

/// Which of `count` sequential connections a half-toxic `reset_peer` resets.
async fn reset_pattern(seed: u64, count: usize) -> Vec<bool> {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, seed);
    let mut streams = Vec::new();
    for _ in 0..count {
        let mut stream = connect(&proxy).await;
        round_trip(&mut stream, b"x").await;
        streams.push(stream);
    }
    proxy
        .add_toxic(
            toxic(Toxic::ResetPeer(ResetPeer {
                timeout: Duration::ZERO,
            }))
            .toxicity(0.5)
            .direction(Direction::Downstream),
        )
        .await
        .expect("add reset_peer");
    let mut pattern = Vec::new();
    for stream in &mut streams {
        let reset = match tokio::time::timeout(HANG, async {
            stream.write_all(b"y").await?;
            let mut one = [0u8; 1];
            stream.read_exact(&mut one).await
        })
        .await
        .expect("in time")
        {
            Ok(_) => false,
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
                true
            }
        };
        pattern.push(reset);
    }
    drop(streams);
    let stats = drained(&proxy).await;
    assert_eq!(
        stats.reset,
        pattern.iter().filter(|r| **r).count() as u64,
        "{stats:?}"
    );
    pattern
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_picks_a_seeded_share_of_connections() {
    let first = reset_pattern(11, 24).await;
    let resets = first.iter().filter(|r| **r).count();
    assert!((4..=20).contains(&resets), "{first:?}");
    assert_eq!(first, reset_pattern(11, 24).await, "same seed, same choice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_refuses_new_connections_and_closes_open_ones() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 12);
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"up").await;
    let added = proxy
        .add_toxic(toxic(Toxic::Down(Down)))
        .await
        .expect("add down");
    assert_eq!(added.fallback_closed, 0);
    let (read, _) = read_to_end(&mut open).await;
    assert_eq!(read, 0, "the open connection is closed");
    let refused = TcpStream::connect(proxy.addr()).await.expect_err("refused");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");
    let stats = proxy.stats();
    assert_eq!(stats.closed_by_down, 1, "{stats:?}");
    let removed = proxy.remove_toxic("down").await.expect("remove down");
    assert!(removed.stats.touched_traffic(), "{:?}", removed.stats);
    assert_eq!(removed.stats.end, ToxicEnd::Removed);
    // Up again, on the same address.
    let mut again = connect(&proxy).await;
    round_trip(&mut again, b"back").await;
    drop((open, again));
    drained(&proxy).await;
}
