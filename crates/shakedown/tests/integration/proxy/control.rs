//! Control under load: adding and removing toxics never waits for data, TTLs expire without
//! anyone asking, and bad requests are refused with a reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shakedown_proxy::toxics::{Bandwidth, Latency};
use shakedown_proxy::{ProxyError, Toxic, ToxicEnd, ToxicSpec};
use tokio::io::AsyncReadExt as _;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_under_200_streaming_connections_returns_in_time_100_times() {
    const CONNS: usize = 200;
    let upstream = endless().await;
    let proxy = proxy(upstream.addr, 20);
    let received = Arc::new(AtomicU64::new(0));
    let streaming = Arc::new(AtomicU64::new(0));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..CONNS {
        let mut stream = connect(&proxy).await;
        let (received, streaming) = (received.clone(), streaming.clone());
        readers.spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut first = true;
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if std::mem::take(&mut first) {
                    streaming.fetch_add(1, Ordering::Relaxed);
                }
                received.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }
    // Every connection streams before the first change.
    tokio::time::timeout(HANG, async {
        while streaming.load(Ordering::Relaxed) < CONNS as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every connection streams");
    let deadline =
        ProxyConfig::new("x", "127.0.0.1:0".parse().expect("addr"), "x").control_deadline;
    let mut slowest = Duration::ZERO;
    for round in 0..100 {
        // Alternate a toxic that queues data (latency) and one that throttles it (bandwidth).
        let spec = if round % 2 == 0 {
            ToxicSpec::new(
                Toxic::Latency(Latency {
                    latency: Duration::from_millis(50),
                    jitter: Duration::from_millis(5),
                }),
                TTL,
            )
            .direction(shakedown_proxy::Direction::Both)
        } else {
            ToxicSpec::new(Toxic::Bandwidth(Bandwidth { rate: 64 * 1024 }), TTL)
        };
        let name = spec.name.clone();
        tokio::time::timeout(HANG, proxy.add_toxic(spec))
            .await
            .expect("add returned")
            .expect("add");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let removed = tokio::time::timeout(deadline * 2, proxy.remove_toxic(&name))
            .await
            .unwrap_or_else(|_| panic!("round {round}: the removal hung"))
            .expect("remove");
        assert_eq!(removed.connections, CONNS, "round {round}");
        assert_eq!(
            removed.fallback_closed, 0,
            "round {round}: connections had to be closed"
        );
        assert!(
            removed.elapsed <= deadline,
            "round {round}: removal took {:?}",
            removed.elapsed
        );
        slowest = slowest.max(removed.elapsed);
    }
    eprintln!(
        "100 removals under {CONNS} streaming connections: slowest {slowest:?} (deadline {deadline:?})"
    );
    let before = received.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(received.load(Ordering::Relaxed) > before, "traffic stopped");
    assert_eq!(proxy.stats().active, CONNS as u64);
    drop(upstream);
    readers.shutdown().await;
    let stats = drained(&proxy).await;
    assert_eq!(stats.fallback_closed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_expires_by_itself_even_if_the_caller_is_stuck() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 21);
    let mut stream = connect(&proxy).await;
    proxy
        .add_toxic(ToxicSpec::new(
            Toxic::Latency(Latency {
                latency: Duration::from_millis(20),
                jitter: Duration::ZERO,
            }),
            Duration::from_millis(300),
        ))
        .await
        .expect("add");
    round_trip(&mut stream, b"slow").await;
    // The caller is stuck: this thread blocks, nobody removes the toxic.
    std::thread::sleep(Duration::from_millis(800));
    assert!(proxy.toxics().is_empty(), "{:?}", proxy.toxics());
    let stats = proxy.toxic_stats("latency").expect("kept after expiry");
    assert_eq!(stats.end, ToxicEnd::Expired);
    assert_eq!(stats.bytes, 4);
    let err = proxy
        .remove_toxic("latency")
        .await
        .expect_err("already gone");
    assert!(matches!(err, ProxyError::NotFound { .. }), "{err}");
    drop(stream);
    drained(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_toxics_are_refused_with_the_reason() {
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 22);
    let latency = ToxicSpec::new(
        Toxic::Latency(Latency {
            latency: Duration::from_millis(5),
            jitter: Duration::from_millis(50),
        }),
        TTL,
    );
    let err = proxy.add_toxic(latency).await.expect_err("invalid");
    assert!(err.to_string().contains("jitter"), "{err}");
    let ok = ToxicSpec::new(Toxic::Bandwidth(Bandwidth { rate: 1000 }), TTL);
    proxy.add_toxic(ok.clone()).await.expect("add");
    let err = proxy.add_toxic(ok).await.expect_err("duplicate");
    assert!(matches!(err, ProxyError::Duplicate { .. }), "{err}");
    let err = proxy
        .add_toxic(
            toxic(Toxic::Bandwidth(Bandwidth { rate: 1000 }))
                .toxicity(2.0)
                .named("b2"),
        )
        .await
        .expect_err("toxicity");
    assert!(err.to_string().contains("toxicity"), "{err}");
    drained(&proxy).await;
}
