//! The HTTP client side: one client (one connection pool) per virtual user and target, and one
//! exchange = send a request, read the body with a size cap, time it.
//!
//! A body larger than the cap is a failure ("body larger than cap"), never an allocation of
//! whatever the server chose to send. A body that no check reads is counted and dropped as it
//! arrives ([`BodyRead::Count`]), so it has no cap and holds no memory. Errors are described by their cause chain without the URL,
//! so that they cluster well and do not leak query strings.

use std::time::Duration;

use tokio::time::Instant;

use super::prepared::TargetSpec;

/// The default cap on a response body: 4 MiB.
pub const BODY_CAP: usize = 4 * 1024 * 1024;

/// A client for one target: its own pool, the target's connect and request timeouts.
pub fn client(target: &TargetSpec) -> Result<reqwest::Client, reqwest::Error> {
    if target.http2 {
        return reqwest::Client::builder()
            .connect_timeout(target.connect_timeout)
            .timeout(target.request_timeout)
            .tcp_nodelay(true)
            .http2_prior_knowledge()
            .build();
    }
    client_with(target.connect_timeout, target.request_timeout)
}

/// The reqwest client of a target that the lean client ([`super::http1_client`]) serves: it only
/// follows a redirect the lean client was answered, so its policy allows one redirect fewer
/// than the default, and the chain as a whole is as long as reqwest's.
pub fn redirect_client(target: &TargetSpec) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(target.connect_timeout)
        .timeout(target.request_timeout)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::limited(
            super::redirect::MAX_REDIRECTS - 1,
        ))
        .build()
}

/// A client with these timeouts (the request timeout covers reading the body).
pub fn client_with(
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .build()
}

/// Why an exchange did not produce a complete response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExchangeError {
    /// No connection could be made; no byte of the request was sent.
    #[error("connect: {0}")]
    Connect(String),
    /// The request timeout passed.
    #[error("timeout: {0}")]
    Timeout(String),
    /// Sending failed after connecting, or the response could not be read.
    #[error("request: {0}")]
    Request(String),
    /// The body was larger than the cap.
    #[error("body larger than cap ({cap} bytes)")]
    TooLarge {
        /// The cap in bytes.
        cap: usize,
    },
}

/// How a response body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRead {
    /// Keep the whole body, for the checks that read it; one larger than `cap` bytes is a
    /// failure ("body larger than cap").
    Whole {
        /// The most bytes kept.
        cap: usize,
    },
    /// Nothing reads the body but a failure message: keep its first `keep` bytes, and count
    /// and drop the rest, whatever its size. Memory stays at the connection's read buffer.
    Count {
        /// Bytes kept from the start of the body.
        keep: usize,
    },
}

impl From<usize> for BodyRead {
    /// A cap alone: the whole body, at most that many bytes.
    fn from(cap: usize) -> BodyRead {
        BodyRead::Whole { cap }
    }
}

impl BodyRead {
    /// Take `data`, the next bytes of the body, into `body`: all of them (an error if that
    /// passes the cap), or only what fits in the bytes kept.
    pub fn take(self, body: &mut Vec<u8>, data: &[u8]) -> Result<(), ExchangeError> {
        match self {
            BodyRead::Whole { cap } => {
                if body.len() + data.len() > cap {
                    return Err(ExchangeError::TooLarge { cap });
                }
                body.extend_from_slice(data);
            }
            BodyRead::Count { keep } => {
                let room = keep.saturating_sub(body.len()).min(data.len());
                body.extend_from_slice(&data[..room]);
            }
        }
        Ok(())
    }

    /// Whether a body of `length` bytes is refused before it is read.
    pub fn refuses(self, length: u64) -> bool {
        matches!(self, BodyRead::Whole { cap } if length > cap as u64)
    }

    /// The error of a refused body.
    pub fn too_large(self) -> ExchangeError {
        match self {
            BodyRead::Whole { cap } => ExchangeError::TooLarge { cap },
            BodyRead::Count { keep } => ExchangeError::TooLarge { cap: keep },
        }
    }
}

/// How an exchange ended. The body, if any, is in the caller's buffer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The response status, if a response arrived (even if its body then failed).
    pub status: Option<u16>,
    /// From sending to the end of the body (or the error).
    pub latency: Duration,
    /// What went wrong, if anything.
    pub error: Option<ExchangeError>,
    /// Bytes of the response body received, kept or not.
    pub body_bytes: u64,
}

/// Send `request` and read the response body into `body` (cleared first) as `read` says: a cap
/// alone keeps the whole body, at most `cap` bytes.
pub async fn exchange(
    client: &reqwest::Client,
    request: reqwest::Request,
    read: impl Into<BodyRead>,
    body: &mut Vec<u8>,
) -> Exchange {
    let read = read.into();
    body.clear();
    let start = Instant::now();
    let mut response = match client.execute(request).await {
        Ok(r) => r,
        Err(e) => {
            return Exchange {
                status: None,
                latency: start.elapsed(),
                error: Some(classify(&e)),
                body_bytes: 0,
            };
        }
    };
    let status = Some(response.status().as_u16());
    if response.content_length().is_some_and(|n| read.refuses(n)) {
        return Exchange {
            status,
            latency: start.elapsed(),
            error: Some(read.too_large()),
            body_bytes: 0,
        };
    }
    let mut body_bytes = 0u64;
    let error = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body_bytes += chunk.len() as u64;
                if let Err(e) = read.take(body, &chunk) {
                    break Some(e);
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(classify(&e)),
        }
    };
    Exchange {
        status,
        latency: start.elapsed(),
        error,
        body_bytes,
    }
}

/// Classify a reqwest error, describing it by its causes (the URL is left out).
pub fn classify(e: &reqwest::Error) -> ExchangeError {
    let text = causes(e);
    if e.is_connect() {
        ExchangeError::Connect(text)
    } else if e.is_timeout() {
        ExchangeError::Timeout(text)
    } else {
        ExchangeError::Request(text)
    }
}

/// The error's source chain joined with ": ", without reqwest's own "error sending request
/// for url (...)" layer.
fn causes(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        // No cause: reqwest's own message, with the URL removed.
        let mut e = e.to_string();
        if let Some(at) = e.find(" for url (") {
            e.truncate(at);
        }
        return e;
    }
    parts.join(": ")
}

/// A request for a URL with userinfo (`http://user:password@host/`), as curl and browsers send
/// it: the userinfo leaves the URL and becomes a `Basic` `Authorization` header. Called before a
/// step's own headers are set, so that an `Authorization` header written in the plan wins.
pub fn request_with_userinfo(method: reqwest::Method, mut url: reqwest::Url) -> reqwest::Request {
    let credentials = (!url.username().is_empty() || url.password().is_some()).then(|| {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = decode(url.username());
        let password = url.password().map(decode).unwrap_or_default();
        // Clearing userinfo cannot fail on an http(s) URL, the only kind a step sends.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    });
    let mut request = reqwest::Request::new(method, url);
    if let Some(encoded) = credentials
        && let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
    {
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(reqwest::header::AUTHORIZATION, value);
    }
    request
}

/// The bytes of a body read past an excerpt's cut before redacting it, so that a secret that
/// straddles the cut is found whole and redacted, never cut to a prefix that escapes redaction.
pub const EXCERPT_SLACK: usize = 4096;

/// A short, single-line excerpt of a body for failure messages, with the run's secrets redacted
/// before it is cut.
pub fn excerpt(body: &[u8], max: usize) -> String {
    let read = body.len().min(max * 4 + EXCERPT_SLACK);
    let text = String::from_utf8_lossy(&body[..read]);
    let text = shakedown_plan::redact::stream::redact_process_text(&text);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max || body.len() > read {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_single_line() {
        assert_eq!(excerpt(b"queue\nfull", 50), "queue full");
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
    }

    #[test]
    fn userinfo_becomes_a_basic_header_and_leaves_the_url() {
        let url = reqwest::Url::parse("http://ops:p%40ss%20word@127.0.0.1:8080/x?y=1").unwrap();
        let request = request_with_userinfo(reqwest::Method::GET, url);
        assert_eq!(request.url().as_str(), "http://127.0.0.1:8080/x?y=1");
        // base64 of `ops:p@ss word`.
        assert_eq!(
            request.headers()[reqwest::header::AUTHORIZATION],
            "Basic b3BzOnBAc3Mgd29yZA=="
        );
        let plain = reqwest::Url::parse("http://127.0.0.1/x").unwrap();
        let request = request_with_userinfo(reqwest::Method::GET, plain);
        assert!(request.headers().is_empty());
        assert_eq!(excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_without_the_url() {
        // Bind and drop a listener: its port now refuses connections.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = client_with(Duration::from_secs(2), Duration::from_secs(5)).unwrap();
        let req = c
            .get(format!("http://127.0.0.1:{port}/x?token=abc"))
            .build()
            .unwrap();
        let mut body = Vec::new();
        let ex = exchange(&c, req, 1024, &mut body).await;
        assert_eq!(ex.status, None);
        let err = ex.error.unwrap();
        assert!(matches!(err, ExchangeError::Connect(_)), "{err:?}");
        assert!(!err.to_string().contains("token"), "{err}");
    }
}
