//! Bulk flows through the proxy with no toxic: they are spliced and their wake-ups batched, and
//! neither may reorder a byte or hold one back.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// The byte at `offset` of the test pattern (a prime period, so a reordered or repeated block
/// shows).
fn pattern(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// 16 MiB and an odd tail, echoed back while the connection stays open: the tail is smaller than
/// any batch, and only the end of the batching (once the flow is idle) lets it through. Then
/// small round trips on the same connection, which no batch may delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_echo_keeps_its_bytes_in_order_and_its_tail_is_not_held_back() {
    const LEN: usize = 16 * 1024 * 1024 + 1234;
    let upstream = echo().await;
    let proxy = proxy(upstream.addr, 1);
    let stream = connect(&proxy).await;
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        let block: Vec<u8> = (0..LEN).map(pattern).collect();
        for piece in block.chunks(256 * 1024) {
            writer.write_all(piece).await.expect("write");
        }
        writer
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    while got < LEN {
        let n = tokio::time::timeout(HANG, reader.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("held back after {got} of {LEN} bytes"))
            .expect("read");
        assert!(n > 0, "closed after {got} of {LEN} bytes");
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(*byte, pattern(got + i), "byte {} out of order", got + i);
        }
        got += n;
    }
    let writer = sender.await.expect("the sender");
    let mut stream = reader.reunite(writer).expect("one stream");
    // Each echo must come back (within the hang bound): none may wait for a batch that never
    // fills.
    for _ in 0..20 {
        round_trip(&mut stream, b"ping").await;
    }
    let stats = proxy.stats();
    assert_eq!(stats.bytes_upstream, (LEN + 20 * 4) as u64);
    drop(stream);
    drained(&proxy).await;
}
