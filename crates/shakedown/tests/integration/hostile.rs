//! Hostile and broken servers on real loopback sockets: a port with nothing listening, a server
//! that answers garbage, and one that sends a body far larger than any cap.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::thread;

use std::io::{Read, Write};

/// A loopback port that was free a moment ago and has nothing listening on it now.
pub fn closed_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = listener.local_addr().expect("local addr").port();
    drop(listener);
    port
}

/// What a [`RawServer`] answers.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Non-HTTP bytes, then close.
    Garbage,
    /// `GET /health` answers 200; every other path answers 200 with a `size`-byte body.
    HugeBody {
        /// Body size in bytes.
        size: u64,
    },
}

/// A thread-per-connection TCP server on 127.0.0.1; lives as long as the test process.
pub struct RawServer {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl RawServer {
    /// Start a server with the given behaviour.
    pub fn start(behaviour: Behaviour) -> RawServer {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    match behaviour {
                        Behaviour::Garbage => {
                            let _ = stream.write_all(b"\x00\x01garbage, not HTTP at all\r\n\r\n");
                        }
                        Behaviour::HugeBody { size } => {
                            if request.starts_with("GET /health") {
                                let _ = stream.write_all(
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                                );
                                return;
                            }
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
                            );
                            if stream.write_all(head.as_bytes()).is_err() {
                                return;
                            }
                            let chunk = vec![b'x'; 64 * 1024];
                            let mut sent = 0u64;
                            while sent < size {
                                let n = chunk.len().min((size - sent) as usize);
                                if stream.write_all(&chunk[..n]).is_err() {
                                    return;
                                }
                                sent += n as u64;
                            }
                        }
                    }
                });
            }
        });
        RawServer { addr }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
