//! Hostile and broken servers on real loopback sockets: a port with nothing listening, a server
//! that answers garbage, one that sends a body far larger than any cap, and one that echoes every
//! request back (its credentials included) in a failing answer.

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
    /// `GET /health` answers 200; every other request is answered 400 with the whole request
    /// as its body, as a careless error page does: its request line, its headers sorted by name
    /// (so `authorization` comes early), and its body.
    Echo,
}

/// One request as received: its head, and its body up to its `content-length` (at most 64 KiB
/// in all, and whatever arrived before the client went quiet for 2 s).
fn read_request(stream: &mut std::net::TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while received.len() < 64 * 1024 {
        let Ok(n) = stream.read(&mut buf) else { break };
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// `request` with its header lines sorted by name (the request line first, the body last).
fn sorted_head(request: &str) -> String {
    let (head, body) = request.split_once("\r\n\r\n").unwrap_or((request, ""));
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut headers: Vec<&str> = lines.collect();
    headers.sort_by_key(|line| line.to_ascii_lowercase());
    format!("{first}\r\n{}\r\n\r\n{body}", headers.join("\r\n"))
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
                    let request = read_request(&mut stream);
                    match behaviour {
                        Behaviour::Garbage => {
                            let _ = stream.write_all(b"\x00\x01garbage, not HTTP at all\r\n\r\n");
                        }
                        Behaviour::Echo => {
                            let answer = if request.starts_with("GET /health") {
                                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                                    .to_string()
                            } else {
                                let echoed = sorted_head(&request);
                                format!(
                                    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{echoed}",
                                    echoed.len()
                                )
                            };
                            let _ = stream.write_all(answer.as_bytes());
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
