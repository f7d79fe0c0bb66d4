//! The kernel buffers of the proxy's sockets on loopback.
//!
//! A proxied byte crosses two TCP connections, and on one host every byte queued in a socket
//! buffer is a byte that has left the CPU cache by the time the next hop reads it. Left to its
//! autotuning, Linux grows a loopback receive buffer to tens of MiB as soon as the proxy is a
//! little slower than its sender: the proxy then forwards, and its client finally reads, cold
//! memory, and the extra hop costs twice the CPU time of a direct connection. On loopback there
//! is no bandwidth-delay product to cover, so a fixed buffer of a few hundred KiB loses nothing
//! and keeps the bytes in flight within the cache (`bench/proxy.sh` measures both). Sockets
//! whose peer is on another host keep the kernel's autotuning, which long or fast links need.

use std::io;
use std::net::SocketAddr;

use nix::sys::socket::{setsockopt, sockopt};
use tokio::net::TcpStream;

/// Whether `peer` is this host's loopback (IPv4, IPv6 or IPv4-mapped).
fn on_loopback(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

/// Give `stream` send and receive buffers of `bytes` if its peer is on loopback (the kernel
/// doubles the figure for its bookkeeping). Returns whether it did.
pub(crate) fn fit(stream: &TcpStream, bytes: Option<usize>) -> io::Result<bool> {
    let Some(bytes) = bytes else {
        return Ok(false);
    };
    if !on_loopback(stream.peer_addr()?) {
        return Ok(false);
    }
    setsockopt(stream, sockopt::RcvBuf, &bytes)?;
    setsockopt(stream, sockopt::SndBuf, &bytes)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_count() {
        let peer = |s: &str| s.parse::<SocketAddr>().expect("address");
        assert!(on_loopback(peer("127.0.0.1:5432")));
        assert!(on_loopback(peer("127.3.2.1:5432")));
        assert!(on_loopback(peer("[::1]:5432")));
        assert!(on_loopback(peer("[::ffff:127.0.0.1]:5432")));
        assert!(!on_loopback(peer("10.0.0.7:5432")));
        assert!(!on_loopback(peer("[2001:db8::1]:5432")));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn loopback_sockets_get_the_buffer_asked_for() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        assert!(!fit(&client, None).expect("no buffer asked for"));
        assert!(fit(&client, Some(48 * 1024)).expect("fit"));
        // Linux doubles the figure.
        use nix::sys::socket::getsockopt;
        assert_eq!(
            getsockopt(&client, sockopt::RcvBuf).expect("get"),
            96 * 1024
        );
        assert_eq!(
            getsockopt(&client, sockopt::SndBuf).expect("get"),
            96 * 1024
        );
    }
}
