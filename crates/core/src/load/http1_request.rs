//! The request side of the lean HTTP/1.1 client ([`super::http1_client`]): which targets and
//! steps can take it, and a request's bytes as reqwest would have sent them.

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, HOST, HeaderMap, HeaderName, TRANSFER_ENCODING};

/// Whether a target with this base URL can take the lean client: plain http, no HTTP/2, no
/// credentials in the URL, and no proxy set in the environment (reqwest would honour one).
pub fn lean_target(base_url: &str, http2: bool) -> bool {
    !http2
        && Url::parse(base_url).is_ok_and(|url| {
            url.scheme() == "http"
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
        })
        && !env_proxy()
}

fn env_proxy() -> bool {
    static SET: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    });
    *SET
}

/// Append the bytes of a built request to `out` (see [`encode`]); its body is in memory.
pub fn encode_request(request: &reqwest::Request, out: &mut Vec<u8>) {
    encode(
        request.method(),
        request.url(),
        request.headers(),
        request.body().and_then(reqwest::Body::as_bytes),
        out,
    );
}

/// Append the bytes of a request to `out`: the request line, `host` and `accept: */*` unless
/// given (the headers reqwest would add), the headers, `content-length`, the body.
///
/// The caller leaves out `content-length`, `transfer-encoding` and `connection` headers of its
/// own (see [`framing_header`]): the body's length is set here.
pub fn encode(
    method: &reqwest::Method,
    url: &Url,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let path = url.path();
    out.extend_from_slice(if path.is_empty() { "/" } else { path }.as_bytes());
    if let Some(query) = url.query() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut line = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    if !headers.contains_key(HOST) {
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => line(b"host", format!("{host}:{port}").as_bytes()),
            None => line(b"host", host.as_bytes()),
        }
    }
    if !headers.contains_key(ACCEPT) {
        line(b"accept", b"*/*");
    }
    for (name, value) in headers.iter() {
        line(name.as_str().as_bytes(), value.as_bytes());
    }
    match body {
        Some(body) => line(b"content-length", body.len().to_string().as_bytes()),
        None if matches!(
            *method,
            reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
        ) =>
        {
            line(b"content-length", b"0");
        }
        None => {}
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
}

/// Whether a request header is one the lean client sets itself (the body's framing and the
/// connection's management), so that a step setting it goes through reqwest instead.
pub fn framing_header(name: &HeaderName) -> bool {
    *name == CONTENT_LENGTH
        || *name == TRANSFER_ENCODING
        || *name == reqwest::header::CONNECTION
        || *name == reqwest::header::UPGRADE
}
