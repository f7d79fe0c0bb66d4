//! The wire side of one SSE connection: send the request, read the response head, then hand out
//! the body chunk by chunk.
//!
//! A plain `http` target gets a lean HTTP/1.1 client written for this one job: one `TcpStream`,
//! one read buffer of [`READ_BUF`] bytes that the body is decoded in place from (chunked,
//! length-delimited or read to the close), and no background task. The general client (hyper
//! behind reqwest) costs about 30 KB per connection in fixed buffers, its request channel and its
//! connection task; with thousands of streams held open that was most of the process's memory.
//!
//! An `https` target, a URL with credentials in it, or an environment that sets an HTTP proxy
//! goes through reqwest, as every other step does, so TLS and proxies keep working.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue,
};
use reqwest::{Method, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{ExchangeError, classify};
use super::http1_head::{Framing, parse_head};

/// The read buffer of one lean connection, in bytes. SSE events are small; a larger event is
/// read in several pieces and assembled by the parser, under its own cap.
pub const READ_BUF: usize = 2048;
/// The largest response head accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;

/// One connection's request.
#[derive(Debug)]
pub struct SseRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The absolute URL.
    pub url: &'a Url,
    /// Headers: the target's, then the step's.
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// The `Last-Event-ID` to resume after.
    pub last_event_id: Option<HeaderValue>,
    /// A JSON body.
    pub body: Option<&'a [u8]>,
    /// Bound on the TCP connect.
    pub connect_timeout: Duration,
}

/// Why no response head arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// No connection could be made.
    #[error("{0}")]
    Connect(String),
    /// The connection broke before the response head was complete.
    #[error("{0}")]
    Broken(String),
    /// The server answered with something that is not an HTTP/1.1 response head.
    #[error("{0}")]
    Protocol(String),
}

/// Why the body cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The connection broke.
    #[error("{0}")]
    Broken(String),
    /// The body's framing is not HTTP/1.1.
    #[error("{0}")]
    Protocol(String),
}

/// Whether `url` can take the lean client: plain http, no credentials in it, and no proxy set in
/// the environment (reqwest would honour one).
pub fn lean(url: &Url) -> bool {
    url.scheme() == "http" && url.username().is_empty() && url.password().is_none() && !env_proxy()
}

fn env_proxy() -> bool {
    static SET: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    });
    *SET
}

/// A response whose head has arrived.
#[derive(Debug)]
pub struct SseResponse {
    /// Its status.
    pub status: u16,
    /// Its content type ("" if none).
    pub content_type: String,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Lean(LeanBody),
    Reqwest {
        response: Box<reqwest::Response>,
        chunk: Bytes,
    },
}

impl SseResponse {
    /// The next piece of the body, or None at its end.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        match &mut self.body {
            Body::Lean(body) => body.chunk().await,
            Body::Reqwest { response, chunk } => match response.chunk().await {
                Ok(Some(bytes)) => {
                    *chunk = bytes;
                    Ok(Some(&chunk[..]))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(BodyError::Broken(classify(&e).to_string())),
            },
        }
    }
}

/// Open the stream: with the lean client where [`lean`] allows, else with the reqwest client
/// `client` gives. A redirect answered to the lean client is followed by reqwest, as it is for
/// every other step.
pub async fn open<'c>(
    req: &SseRequest<'_>,
    client: impl FnOnce() -> Result<&'c reqwest::Client, String>,
) -> Result<SseResponse, OpenError> {
    if lean(req.url) {
        let response = open_lean(req).await?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
    }
    let client = client().map_err(OpenError::Protocol)?;
    open_reqwest(client, req).await
}

/// Open the stream with reqwest (for https, credentials or a proxy).
pub async fn open_reqwest(
    client: &reqwest::Client,
    req: &SseRequest<'_>,
) -> Result<SseResponse, OpenError> {
    let mut request = client
        .request(req.method.clone(), req.url.clone())
        .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
        .header(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for (name, value) in req.headers {
        request = request.header(name.clone(), value.clone());
    }
    if let Some(id) = &req.last_event_id {
        request = request.header("last-event-id", id.clone());
    }
    if let Some(body) = req.body {
        request = request
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body.to_vec());
    }
    // Boxed: the request future is large, and held only while the head is awaited.
    let response = Box::pin(request.send())
        .await
        .map_err(|e| match classify(&e) {
            ExchangeError::Connect(text) => OpenError::Connect(format!("connect: {text}")),
            other => OpenError::Broken(other.to_string()),
        })?;
    Ok(SseResponse {
        status: response.status().as_u16(),
        content_type: content_type(response.headers().get(CONTENT_TYPE)),
        body: Body::Reqwest {
            response: Box::new(response),
            chunk: Bytes::new(),
        },
    })
}

fn content_type(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Open the stream with the lean client: connect, send the request, read the head.
pub async fn open_lean(req: &SseRequest<'_>) -> Result<SseResponse, OpenError> {
    let mut io = connect(req.url, req.connect_timeout).await?;
    let request = encode_request(req);
    io.write_all(&request)
        .await
        .map_err(|e| OpenError::Broken(format!("sending the request: {e}")))?;
    drop(request);
    let mut buf = Vec::with_capacity(READ_BUF);
    let head = read_head(&mut io, &mut buf).await?;
    let framing = if *req.method == Method::HEAD {
        Framing::Done
    } else {
        head.framing
    };
    Ok(SseResponse {
        status: head.status,
        content_type: head.content_type,
        body: Body::Lean(LeanBody {
            io,
            buf,
            pos: 0,
            framing,
        }),
    })
}

async fn connect(url: &Url, timeout: Duration) -> Result<TcpStream, OpenError> {
    let host = url
        .host_str()
        .ok_or_else(|| OpenError::Connect("connect: the URL has no host".to_string()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    super::tcp_connect::connect(host, port, timeout)
        .await
        .map_err(|e| OpenError::Connect(format!("connect: {e}")))
}

/// The request's bytes: the request line, the headers reqwest would send, the body.
fn encode_request(req: &SseRequest<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + req.body.map_or(0, <[u8]>::len));
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    let path = req.url.path();
    out.extend_from_slice(if path.is_empty() { "/" } else { path }.as_bytes());
    if let Some(query) = req.url.query() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut header = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    if !req.headers.iter().any(|(name, _)| *name == HOST) {
        let host = req.url.host_str().unwrap_or_default();
        match req.url.port() {
            Some(port) => header(b"host", format!("{host}:{port}").as_bytes()),
            None => header(b"host", host.as_bytes()),
        }
    }
    header(ACCEPT.as_str().as_bytes(), b"text/event-stream");
    header(CACHE_CONTROL.as_str().as_bytes(), b"no-cache");
    for (name, value) in req.headers {
        header(name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(id) = &req.last_event_id {
        header(b"last-event-id", id.as_bytes());
    }
    match req.body {
        Some(body) => {
            header(CONTENT_TYPE.as_str().as_bytes(), b"application/json");
            header(
                CONTENT_LENGTH.as_str().as_bytes(),
                body.len().to_string().as_bytes(),
            );
        }
        None if matches!(*req.method, Method::POST | Method::PUT | Method::PATCH) => {
            header(CONTENT_LENGTH.as_str().as_bytes(), b"0");
        }
        None => {}
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = req.body {
        out.extend_from_slice(body);
    }
    out
}

/// A parsed response head.
#[derive(Debug)]
struct Head {
    status: u16,
    content_type: String,
    framing: Framing,
}

/// Read the response head into `buf`; on return, `buf` holds only the body bytes that came with
/// it. Interim (1xx) responses are skipped.
async fn read_head(io: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head, OpenError> {
    loop {
        if !buf.is_empty() {
            if let Some((parsed, len)) =
                parse_head(buf).map_err(|e| OpenError::Protocol(e.to_string()))?
            {
                let head = Head {
                    status: parsed.status,
                    content_type: parsed
                        .content_type
                        .map(|at| String::from_utf8_lossy(&buf[at]).into_owned())
                        .unwrap_or_default(),
                    framing: parsed.framing,
                };
                buf.drain(..len);
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue;
                }
                if head.status == 101 {
                    return Err(OpenError::Protocol(
                        "the server switched protocols (101) on an event stream".to_string(),
                    ));
                }
                if buf.capacity() > READ_BUF && buf.len() <= READ_BUF {
                    buf.shrink_to(READ_BUF);
                }
                return Ok(head);
            }
            if buf.len() >= MAX_HEAD {
                return Err(OpenError::Protocol(format!(
                    "a response head larger than {MAX_HEAD} bytes"
                )));
            }
        }
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().clamp(READ_BUF, MAX_HEAD));
        }
        let n = io
            .read_buf(buf)
            .await
            .map_err(|e| OpenError::Broken(format!("reading the response head: {e}")))?;
        if n == 0 {
            return Err(OpenError::Broken(if buf.is_empty() {
                "the server closed the connection without a response".to_string()
            } else {
                "the server closed the connection in the middle of the response head".to_string()
            }));
        }
    }
}

/// The body of a lean connection: the socket, the read buffer and the framing.
#[derive(Debug)]
struct LeanBody {
    io: TcpStream,
    /// Bytes read and not yet handed out are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    framing: Framing,
}

/// What the buffered bytes gave.
enum Buffered {
    /// Body data at this range of the buffer.
    Data(std::ops::Range<usize>),
    /// Nothing more is buffered.
    Empty,
    /// The body is complete.
    End,
}

impl LeanBody {
    async fn chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        loop {
            match self.take_buffered()? {
                Buffered::Data(range) => return Ok(Some(&self.buf[range])),
                Buffered::End => return Ok(None),
                Buffered::Empty => {}
            }
            self.buf.clear();
            self.pos = 0;
            let n = self
                .io
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| BodyError::Broken(format!("reading the body: {e}")))?;
            if n == 0 {
                if matches!(self.framing, Framing::Close) {
                    self.framing = Framing::Done;
                    return Ok(None);
                }
                return Err(BodyError::Broken(
                    "the server closed the connection before the end of the body".to_string(),
                ));
            }
        }
    }

    /// Take the next data out of the buffered bytes, if any.
    fn take_buffered(&mut self) -> Result<Buffered, BodyError> {
        loop {
            let available = self.buf.len() - self.pos;
            match &mut self.framing {
                Framing::Done => return Ok(Buffered::End),
                Framing::Length(0) => {
                    self.framing = Framing::Done;
                    return Ok(Buffered::End);
                }
                _ if available == 0 => return Ok(Buffered::Empty),
                Framing::Close => {
                    let start = self.pos;
                    self.pos = self.buf.len();
                    return Ok(Buffered::Data(start..self.pos));
                }
                Framing::Length(left) => {
                    let n = usize::try_from(*left).map_or(available, |l| l.min(available));
                    *left -= n as u64;
                    let start = self.pos;
                    self.pos += n;
                    return Ok(Buffered::Data(start..self.pos));
                }
                Framing::Chunked(decoder) => {
                    let got = decoder
                        .decode(&self.buf[self.pos..])
                        .map_err(|e| BodyError::Protocol(format!("a broken chunked body: {e}")))?;
                    let start = self.pos;
                    self.pos += got.consumed;
                    if let Some(range) = got.data {
                        return Ok(Buffered::Data(start + range.start..start + range.end));
                    }
                    if decoder.is_done() {
                        self.framing = Framing::Done;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "sse_wire_tests.rs"]
mod tests;
