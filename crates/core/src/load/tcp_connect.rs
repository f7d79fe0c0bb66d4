//! Opening a TCP connection for the lean HTTP/1.1 clients (`http1_client.rs`, `sse_wire.rs`):
//! resolve the host, try each address in turn, all within one timeout, and switch Nagle off.

use std::time::Duration;

use tokio::net::TcpStream;

/// Why no connection was made. Each message is the one the request's error shows.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Not connected within the timeout.
    #[error("timed out after {}ms", .0.as_millis())]
    TimedOut(Duration),
    /// The host could not be resolved.
    #[error("dns error: {0}")]
    Dns(std::io::Error),
    /// The host resolved to no address.
    #[error("dns error: no address")]
    NoAddress,
    /// Every address refused or failed; the last address's error.
    #[error("tcp connect error: {0}")]
    Tcp(std::io::Error),
    /// Nagle's algorithm could not be switched off.
    #[error("{0}")]
    NoDelay(std::io::Error),
}

/// A connection to `host:port` (an IPv6 literal may keep its URL brackets), or why there is
/// none: "timed out after Nms", "dns error: ...", or "tcp connect error: ..." (the last
/// address's error).
pub(crate) async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let attempt = async {
        let mut last = None;
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(ConnectError::Dns)?;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(io) => return Ok(io),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(ConnectError::NoAddress, ConnectError::Tcp))
    };
    let io = match tokio::time::timeout(timeout, attempt).await {
        Err(_) => return Err(ConnectError::TimedOut(timeout)),
        Ok(result) => result?,
    };
    io.set_nodelay(true).map_err(ConnectError::NoDelay)?;
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
        let err = err.to_string();
        assert!(err.starts_with("tcp connect error: "), "{err}");
    }

    #[test]
    fn the_messages_are_the_ones_requests_show() {
        let messages = [
            ConnectError::TimedOut(Duration::from_millis(1500)).to_string(),
            ConnectError::NoAddress.to_string(),
            ConnectError::Dns(std::io::Error::other("no such host")).to_string(),
            ConnectError::NoDelay(std::io::Error::other("bad socket")).to_string(),
        ];
        assert_eq!(
            messages,
            [
                "timed out after 1500ms",
                "dns error: no address",
                "dns error: no such host",
                "bad socket",
            ]
        );
    }
}
