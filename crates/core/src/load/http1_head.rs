//! The response head of HTTP/1.1, parsed once for the two lean clients (`http1_client` for
//! requests, `sse_wire` for event streams): the status, how the body ends, whether the
//! connection can be kept, a redirect's `Location`, and where the `Content-Type` value is.

use std::ops::Range;

use super::http1_chunked::ChunkedDecoder;

/// The most header lines accepted in a response head.
pub const MAX_HEADERS: usize = 64;

/// How the body ends.
#[derive(Debug, Clone)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
    /// `Content-Length`: this many bytes (left).
    Length(u64),
    /// Neither: the body is everything up to the close.
    Close,
    /// No body (left).
    Done,
}

/// A parsed response head.
#[derive(Debug)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// How the body ends.
    pub framing: Framing,
    /// Whether the server lets the connection be reused.
    pub keep_alive: bool,
    /// A redirect's `Location` (only for 301, 302, 303, 307 and 308).
    pub location: Option<String>,
    /// Where the first `Content-Type` value is in the parsed bytes.
    pub content_type: Option<Range<usize>>,
}

/// What is wrong with the bytes of a response head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The bytes are not an HTTP/1.1 response head.
    #[error("a response that is not HTTP/1.1 ({0})")]
    NotHttp(httparse::Error),
    /// A `Content-Length` that is not a number, or that disagrees with an earlier one; its value.
    #[error("an invalid content-length {0:?}")]
    InvalidLength(String),
}

/// Parse a complete head at the start of `buf`: the head and its length, or None if more bytes
/// are needed. Err says what is wrong with the bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    // Uninitialised: zeroing 64 headers cost more than parsing a small head.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let len = match parsed {
        Ok(httparse::Status::Partial) => return Ok(None),
        Ok(httparse::Status::Complete(len)) => len,
        Err(e) => return Err(HeadError::NotHttp(e)),
    };
    let status = response.code.unwrap_or_default();
    let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
    // HTTP/1.1 keeps the connection by default, HTTP/1.0 only when asked.
    let mut keep_alive = response.version == Some(1);
    let mut chunked = None;
    let mut length: Option<u64> = None;
    let mut location = None;
    let mut content_type = None;
    for h in response.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| length.is_none_or(|seen| seen == *n))
                .ok_or_else(|| {
                    HeadError::InvalidLength(String::from_utf8_lossy(h.value).into_owned())
                })?;
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding decides: chunked, or the body runs to the close.
            if let Some(last) = tokens(h.value).filter(|c| !c.is_empty()).last() {
                chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-type") && content_type.is_none() {
            // httparse's values are slices of `buf`.
            let start = h.value.as_ptr() as usize - buf.as_ptr() as usize;
            content_type = Some(start..start + h.value.len());
        } else if redirect && name.eq_ignore_ascii_case("location") && location.is_none() {
            location = std::str::from_utf8(h.value).ok().map(str::to_string);
        }
    }
    let framing = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => Framing::Done,
        (_, Some(true), _) => Framing::Chunked(ChunkedDecoder::new()),
        (_, Some(false), _) => Framing::Close,
        (_, None, Some(0)) => Framing::Done,
        (_, None, Some(n)) => Framing::Length(n),
        (_, None, None) => Framing::Close,
    };
    Ok(Some((
        ResponseHead {
            status,
            framing,
            keep_alive,
            location,
            content_type,
        },
        len,
    )))
}

/// The comma-separated tokens of a header value, trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_framing_reuse_location_and_content_type() {
        let raw = b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: gzip, chunked\r\n\r\nrest";
        let (head, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!(&raw[len..], b"rest");
        assert_eq!(head.status, 302);
        assert!(matches!(head.framing, Framing::Chunked(_)));
        assert!(head.keep_alive);
        assert_eq!(head.location.as_deref(), Some("/next"));
        assert_eq!(&raw[head.content_type.unwrap()], b"text/event-stream");

        let raw = b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n";
        let (head, _) = parse_head(raw).unwrap().unwrap();
        assert!(matches!(head.framing, Framing::Length(3)) && !head.keep_alive);
        assert!(head.location.is_none() && head.content_type.is_none());

        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .unwrap()
                .is_none()
        );
        let bad = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(
            bad.unwrap_err().to_string(),
            r#"an invalid content-length "2""#
        );
        let garbage = parse_head(b"garbage\r\n\r\n").unwrap_err();
        assert_eq!(
            garbage.to_string(),
            "a response that is not HTTP/1.1 (invalid HTTP version)"
        );
    }
}
