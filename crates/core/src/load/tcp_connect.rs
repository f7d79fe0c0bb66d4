//! Opening a TCP connection for the lean HTTP/1.1 clients (`http1_client.rs`, `sse_wire.rs`):
//! resolve the host, try each address in turn, all within one timeout, and switch Nagle off.

use std::time::Duration;

use tokio::net::TcpStream;

/// A connection to `host:port` (an IPv6 literal may keep its URL brackets), or why there is
/// none: "timed out after Nms", "dns error: ...", or "tcp connect error: ..." (the last
/// address's error).
pub(crate) async fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let attempt = async {
        let mut last = None;
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("dns error: {e}"))?;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(io) => return Ok(io),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || "dns error: no address".to_string(),
            |e| format!("tcp connect error: {e}"),
        ))
    };
    let io = match tokio::time::timeout(timeout, attempt).await {
        Err(_) => return Err(format!("timed out after {}ms", timeout.as_millis())),
        Ok(result) => result?,
    };
    io.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_to_a_listener_and_names_a_refusal() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let io = connect("127.0.0.1", port, Duration::from_secs(5))
            .await
            .expect("connect");
        assert!(io.nodelay().expect("nodelay"));
        drop(listener);
        let err = connect("127.0.0.1", port, Duration::from_secs(5))
            .await
            .expect_err("nothing listens");
        assert!(err.starts_with("tcp connect error: "), "{err}");
    }
}
