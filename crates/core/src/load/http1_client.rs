//! The lean HTTP/1.1 client of the request hot path: one keep-alive connection per virtual user
//! and target, a request written as prepared bytes, the response head parsed in place with
//! httparse and the body read into the caller's buffer.
//!
//! A profile of `shakedown hit` under callgrind showed reqwest spending most of a request's
//! instructions outside the exchange itself: parsing the URL again for its redirect policy,
//! formatting and hashing the pool key, cloning its client, boxing futures through its tower
//! stack. A virtual user in the closed model holds one connection anyway, so this client keeps
//! exactly that: a `TcpStream` and one small read buffer, and no background task.
//!
//! It covers what reqwest covered on this path: the target's connect timeout, the request
//! timeout over the whole exchange (body included), the body cap, and the same error classes
//! (connect, timeout, request). A reused connection that the server had already closed (no byte
//! of a response came back) is reopened and the request sent once more, as hyper's pool does. A
//! redirect is not followed here: the response head's `Location` is handed back, and the caller
//! follows it with reqwest, whose policy stays the one in force ([`super::http::client`]).
//!
//! Only plain `http` targets without HTTP/2, credentials in the URL or a proxy in the
//! environment take this client ([`super::http1_request::lean_target`]); everything else goes
//! through reqwest. The request bytes are made in [`super::http1_request`].

use std::pin::Pin;
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::http::{BodyRead, Exchange, ExchangeError};
use super::http1_head::{Framing, ResponseHead, parse_head};

/// The read buffer of one connection, in bytes, enough for a usual response head and a small
/// body. It grows for a larger head, and up to [`BODY_READ`] for a chunked body or one read to
/// the close; a body with a length is read straight into the caller's buffer.
pub const READ_BUF: usize = 1024;
/// The most a connection's buffer grows to for a body without a length, in bytes.
pub const BODY_READ: usize = 16 * 1024;
/// The largest response head accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// What one exchange gave: the exchange, and for a redirect the `Location` to follow.
#[derive(Debug)]
pub struct Http1Response {
    /// Status, latency and error, as [`super::http::exchange`] reports them.
    pub exchange: Exchange,
    /// A 301, 302, 303, 307 or 308 response's `Location` header.
    pub location: Option<String>,
}

/// A keep-alive HTTP/1.1 connection to one target, opened on first use and reopened when it
/// closes.
#[derive(Debug)]
pub struct Http1Client {
    host: String,
    port: u16,
    connect_timeout: Duration,
    request_timeout: Duration,
    conn: Option<TcpStream>,
    /// Bytes read from the connection and not yet consumed.
    buf: Vec<u8>,
    /// The request timer, kept across requests (see [`expire`]).
    timer: Option<Pin<Box<Sleep>>>,
}

/// How one attempt on a connection ended.
enum Attempt {
    /// A complete response (the status is in the caller's slot).
    Done {
        /// Whether the connection can take another request.
        reusable: bool,
        location: Option<String>,
    },
    /// The connection was closed before any byte of a response came back.
    Closed(String),
    /// Any other failure; the connection is dropped.
    Failed(ExchangeError),
}

impl Http1Client {
    /// A client for the target at `base_url` with these timeouts, or None if the URL has no
    /// host.
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Option<Http1Client> {
        let url = Url::parse(base_url).ok()?;
        let host = url.host_str()?;
        // An IPv6 literal is bracketed in a URL, not in a socket address.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Some(Http1Client {
            host,
            port: url.port_or_known_default().unwrap_or(80),
            connect_timeout,
            request_timeout,
            conn: None,
            buf: Vec::new(),
            timer: None,
        })
    }

    /// Send `request` (its encoded bytes) and read the response body into `body` (cleared
    /// first) as `read` says (a cap alone: the whole body, at most `cap` bytes). `head_only`
    /// is set for a HEAD request (no body follows).
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_only: bool,
        read: impl Into<BodyRead>,
        body: &mut Vec<u8>,
    ) -> Http1Response {
        let read = read.into();
        body.clear();
        let start = Instant::now();
        let deadline = start + self.request_timeout;
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        let mut status = None;
        let mut body_bytes = 0;
        let outcome = tokio::select! {
            biased;
            sent = self.send(request, head_only, read, body, (&mut status, &mut body_bytes)) => Some(sent),
            () = expire(&mut timer, deadline) => None,
        };
        self.timer = Some(timer);
        let (error, location) = match outcome {
            Some(Ok(location)) => (None, location),
            Some(Err(e)) => {
                self.drop_connection();
                (Some(e), None)
            }
            None => {
                self.drop_connection();
                (
                    Some(ExchangeError::Timeout("operation timed out".to_string())),
                    None,
                )
            }
        };
        Http1Response {
            exchange: Exchange {
                status,
                latency: start.elapsed(),
                error,
                body_bytes,
            },
            location,
        }
    }

    fn drop_connection(&mut self) {
        self.conn = None;
        self.buf.clear();
    }

    /// One request on the connection, reopening it once if a reused one was closed. The
    /// status and the body's byte count go to `seen`.
    async fn send(
        &mut self,
        request: &[u8],
        head_only: bool,
        read: BodyRead,
        body: &mut Vec<u8>,
        seen: (&mut Option<u16>, &mut u64),
    ) -> Result<Option<String>, ExchangeError> {
        let (status, body_bytes) = seen;
        let mut reused = true;
        loop {
            let mut io = match self.conn.take() {
                Some(io) => io,
                None => {
                    reused = false;
                    self.buf.clear();
                    self.connect().await?
                }
            };
            match attempt(
                &mut io,
                &mut self.buf,
                request,
                head_only,
                read,
                body,
                (&mut *status, &mut *body_bytes),
            )
            .await
            {
                Attempt::Done { reusable, location } => {
                    if self.buf.capacity() > READ_BUF {
                        // Grown for a large head or body: back to the usual size.
                        self.buf.shrink_to(READ_BUF);
                    }
                    if reusable && self.buf.is_empty() {
                        self.conn = Some(io);
                    } else {
                        self.buf.clear();
                    }
                    return Ok(location);
                }
                Attempt::Closed(_) if reused => {
                    // The server closed the idle connection: no byte of a response came back,
                    // so the request is sent again on a new one.
                    self.buf.clear();
                    body.clear();
                    *body_bytes = 0;
                }
                Attempt::Closed(message) => return Err(ExchangeError::Request(message)),
                Attempt::Failed(e) => return Err(e),
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, ExchangeError> {
        super::tcp_connect::connect(&self.host, self.port, self.connect_timeout)
            .await
            .map_err(|e| ExchangeError::Connect(e.to_string()))
    }
}

/// Wait until `deadline` on a timer kept across requests. The timer may be set to an earlier
/// deadline (an earlier request's): when it fires it is moved to this one. Registering a timer
/// per request cost more than the rest of the exchange; this way it is moved about once per
/// timeout period.
async fn expire(timer: &mut Pin<Box<Sleep>>, deadline: Instant) {
    loop {
        timer.as_mut().await;
        if timer.deadline() >= deadline {
            return;
        }
        timer.as_mut().reset(deadline);
    }
}

/// Write the request and read one response from `io`; its status and body byte count go to
/// `seen`.
async fn attempt(
    io: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
    head_only: bool,
    read: BodyRead,
    body: &mut Vec<u8>,
    seen: (&mut Option<u16>, &mut u64),
) -> Attempt {
    let (status, body_bytes) = seen;
    if let Err(e) = io.write_all(request).await {
        return Attempt::Closed(format!("sending the request: {e}"));
    }
    let head = loop {
        match read_head(io, buf).await {
            Ok(head) if (100..200).contains(&head.status) && head.status != 101 => continue,
            Ok(head) => break head,
            Err(e) => return e,
        }
    };
    *status = Some(head.status);
    let framing = if head_only {
        Framing::Done
    } else {
        head.framing
    };
    if let Framing::Length(n) = framing
        && read.refuses(n)
    {
        return Attempt::Failed(read.too_large());
    }
    let reusable = head.keep_alive && !matches!(framing, Framing::Close) && head.status != 101;
    match read_body(io, buf, framing, read, (body, body_bytes)).await {
        Ok(()) => Attempt::Done {
            reusable,
            location: head.location,
        },
        Err(e) => Attempt::Failed(e),
    }
}

/// Read a response head; on return `buf` holds only the body bytes that came with it.
async fn read_head(io: &mut TcpStream, buf: &mut Vec<u8>) -> Result<ResponseHead, Attempt> {
    loop {
        if !buf.is_empty() {
            match parse_head(buf) {
                Ok(Some((head, len))) => {
                    buf.drain(..len);
                    return Ok(head);
                }
                Ok(None) if buf.len() >= MAX_HEAD => {
                    return Err(Attempt::Failed(ExchangeError::Request(format!(
                        "a response head larger than {MAX_HEAD} bytes"
                    ))));
                }
                Ok(None) => {}
                Err(e) => return Err(Attempt::Failed(ExchangeError::Request(e.to_string()))),
            }
        }
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().clamp(READ_BUF, MAX_HEAD));
        }
        match io.read_buf(buf).await {
            Ok(0) if buf.is_empty() => {
                return Err(Attempt::Closed(
                    "connection closed before message completed".to_string(),
                ));
            }
            Ok(0) => {
                return Err(Attempt::Failed(ExchangeError::Request(
                    "connection closed in the middle of the response head".to_string(),
                )));
            }
            Ok(_) => {}
            Err(e) if buf.is_empty() => return Err(Attempt::Closed(e.to_string())),
            Err(e) => return Err(Attempt::Failed(ExchangeError::Request(e.to_string()))),
        }
    }
}

/// Read the body into `body` as `read` says, counting its bytes in `received`; `buf` holds
/// what came with the head, and on return whatever followed the body (which makes the
/// connection unusable).
async fn read_body(
    io: &mut TcpStream,
    buf: &mut Vec<u8>,
    mut framing: Framing,
    read: BodyRead,
    out: (&mut Vec<u8>, &mut u64),
) -> Result<(), ExchangeError> {
    let (body, received) = out;
    loop {
        // Take what the buffer holds.
        let mut consumed = 0;
        let mut finished = false;
        match &mut framing {
            Framing::Done => finished = true,
            Framing::Length(left) if matches!(read, BodyRead::Count { .. }) => {
                // Counted through the read buffer, never held whole.
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                read.take(body, &buf[..n])?;
                *received += n as u64;
                *left -= n as u64;
                consumed = n;
                finished = *left == 0;
            }
            Framing::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                body.extend_from_slice(&buf[..n]);
                buf.drain(..n);
                *left -= n as u64;
                *received += n as u64;
                // The rest straight from the socket into the body (whose length the head gave
                // and the cap allowed), never past its end.
                while *left > 0 {
                    let want = usize::try_from(*left).unwrap_or(usize::MAX);
                    body.reserve(want);
                    match (&mut *io).take(*left).read_buf(body).await {
                        Ok(0) => {
                            return Err(ExchangeError::Request(
                                "connection closed before the end of the body".to_string(),
                            ));
                        }
                        Ok(n) => {
                            *left -= n as u64;
                            *received += n as u64;
                        }
                        Err(e) => return Err(ExchangeError::Request(e.to_string())),
                    }
                }
                finished = true;
            }
            Framing::Close => {
                read.take(body, buf)?;
                *received += buf.len() as u64;
                consumed = buf.len();
            }
            Framing::Chunked(decoder) => {
                while consumed < buf.len() && !decoder.is_done() {
                    let decoded = decoder
                        .decode(&buf[consumed..])
                        .map_err(|e| ExchangeError::Request(e.to_string()))?;
                    if let Some(range) = decoded.data {
                        *received += range.len() as u64;
                        read.take(body, &buf[consumed + range.start..consumed + range.end])?;
                    }
                    consumed += decoded.consumed;
                }
                finished = decoder.is_done();
            }
        }
        buf.drain(..consumed);
        if finished {
            return Ok(());
        }
        if buf.capacity() - buf.len() < READ_BUF / 2 {
            // A long body without a length: read it in larger pieces.
            buf.reserve(buf.capacity().clamp(READ_BUF, BODY_READ));
        }
        match io.read_buf(buf).await {
            Ok(0) if matches!(framing, Framing::Close) => return Ok(()),
            Ok(0) => {
                return Err(ExchangeError::Request(
                    "connection closed before the end of the body".to_string(),
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(ExchangeError::Request(e.to_string())),
        }
    }
}

#[cfg(test)]
#[path = "http1_client_tests.rs"]
mod tests;
