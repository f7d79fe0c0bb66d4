//! The chunked transfer coding of HTTP/1.1 (RFC 9112, section 7.1), decoded incrementally for the
//! lean SSE client ([`super::sse_wire`]).
//!
//! The decoder is fed whatever bytes have arrived and says how many it consumed and where the
//! data among them is, so a body is read in place from the connection's one small buffer, never
//! copied into a second one. Its own state is a few words: chunk-size lines, extensions and
//! trailers are skipped as they pass, with a cap on each so that a hostile server cannot make it
//! wait forever on a line that never ends.

use std::ops::Range;

/// Longest chunk-size line (size and extensions) accepted, in bytes.
pub const MAX_SIZE_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk size that does not start with a hexadecimal digit.
    #[error("a chunk size that is not hexadecimal")]
    BadSize,
    /// A chunk size of more than 16 hexadecimal digits.
    #[error("a chunk size larger than 64 bits")]
    SizeOverflow,
    /// A chunk-size line longer than [`MAX_SIZE_LINE`].
    #[error("a chunk-size line longer than {MAX_SIZE_LINE} bytes")]
    LongSizeLine,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingCrlf,
    /// Trailers longer than [`MAX_TRAILERS`].
    #[error("trailers longer than {MAX_TRAILERS} bytes")]
    LongTrailers,
}

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hexadecimal digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// After the size: extensions, up to the end of the line.
    SizeLine { size: u64, len: usize },
    /// Inside a chunk's data, with this many bytes left.
    Data { left: u64 },
    /// After a chunk's data: its CRLF.
    DataEnd { seen_cr: bool },
    /// After the last chunk: trailer lines, up to an empty one.
    Trailers { line: usize, total: usize },
    /// The body is complete.
    Done,
}

/// What one call of [`ChunkedDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input it consumed (data included).
    pub consumed: usize,
    /// Where, in the input, the data it found is; it stops after the first stretch of data.
    pub data: Option<Range<usize>>,
}

/// An incremental decoder of one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
        }
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder::default()
    }

    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decode from `input` up to the end of the first stretch of data in it, or all of it.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ChunkedError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                State::Size { size, digits } => match hex(b) {
                    Some(_) if digits >= 16 => return Err(ChunkedError::SizeOverflow),
                    Some(d) => State::Size {
                        size: (size << 4) | u64::from(d),
                        digits: digits + 1,
                    },
                    None if digits == 0 => return Err(ChunkedError::BadSize),
                    None if b == b'\n' => after_size(size),
                    None if matches!(b, b';' | b' ' | b'\t' | b'\r') => {
                        State::SizeLine { size, len: 1 }
                    }
                    None => return Err(ChunkedError::BadSize),
                },
                State::SizeLine { size, len } => {
                    if b == b'\n' {
                        after_size(size)
                    } else if len >= MAX_SIZE_LINE {
                        return Err(ChunkedError::LongSizeLine);
                    } else {
                        State::SizeLine { size, len: len + 1 }
                    }
                }
                State::Data { left } => {
                    let available = (input.len() - i) as u64;
                    let n = left.min(available);
                    // n <= available, which is a usize.
                    let end = i + usize::try_from(n).unwrap_or(input.len() - i);
                    self.state = if n == left {
                        State::DataEnd { seen_cr: false }
                    } else {
                        State::Data { left: left - n }
                    };
                    return Ok(Decoded {
                        consumed: end,
                        data: Some(i..end),
                    });
                }
                State::DataEnd { seen_cr } => match b {
                    b'\r' if !seen_cr => State::DataEnd { seen_cr: true },
                    b'\n' => State::Size { size: 0, digits: 0 },
                    _ => return Err(ChunkedError::MissingCrlf),
                },
                State::Trailers { line, total } => {
                    if total >= MAX_TRAILERS {
                        return Err(ChunkedError::LongTrailers);
                    }
                    match b {
                        b'\n' if line == 0 => State::Done,
                        b'\n' => State::Trailers {
                            line: 0,
                            total: total + 1,
                        },
                        b'\r' if line == 0 => State::Trailers {
                            line,
                            total: total + 1,
                        },
                        _ => State::Trailers {
                            line: line + 1,
                            total: total + 1,
                        },
                    }
                }
                State::Done => break,
            };
            i += 1;
        }
        Ok(Decoded {
            consumed: i,
            data: None,
        })
    }
}

fn after_size(size: u64) -> State {
    if size == 0 {
        State::Trailers { line: 0, total: 0 }
    } else {
        State::Data { left: size }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `wire` fed in pieces of `step` bytes; the data, and whether the body ended.
    fn decode_in_pieces(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut d = ChunkedDecoder::new();
        let mut data = Vec::new();
        for piece in wire.chunks(step) {
            let mut rest = piece;
            while !rest.is_empty() && !d.is_done() {
                let got = d.decode(rest)?;
                if let Some(r) = got.data {
                    data.extend_from_slice(&rest[r]);
                }
                rest = &rest[got.consumed..];
            }
        }
        Ok((data, d.is_done()))
    }

    #[test]
    fn chunks_extensions_and_trailers_decode_at_every_split() {
        let wire =
            b"5\r\nhello\r\n7;name=value\r\n, world\r\nA\r\n0123456789\r\n0\r\nx-t: 1\r\n\r\n";
        for step in 1..wire.len() {
            let (data, done) = decode_in_pieces(wire, step).expect("decodes");
            assert_eq!(data, b"hello, world0123456789", "step {step}");
            assert!(done, "step {step}");
        }
    }

    #[test]
    fn bare_newlines_are_accepted_and_an_unfinished_body_is_not_done() {
        let (data, done) = decode_in_pieces(b"3\nabc\n0\n\n", 4).expect("decodes");
        assert_eq!((data.as_slice(), done), (&b"abc"[..], true));
        let (data, done) = decode_in_pieces(b"10\r\nonly part", 3).expect("decodes");
        assert_eq!((data.as_slice(), done), (&b"only part"[..], false));
    }

    #[test]
    fn malformed_framing_is_an_error() {
        let err = |wire: &[u8]| decode_in_pieces(wire, 5).expect_err("malformed");
        assert_eq!(err(b"zz\r\n"), ChunkedError::BadSize);
        assert_eq!(err(b"3x\r\n"), ChunkedError::BadSize);
        assert_eq!(err(b"11112222333344445\r\n"), ChunkedError::SizeOverflow);
        assert_eq!(err(b"3\r\nabcX"), ChunkedError::MissingCrlf);
        let long = [&b"1;"[..], &[b'e'; MAX_SIZE_LINE + 1]].concat();
        assert_eq!(err(&long), ChunkedError::LongSizeLine);
        let trailers = [&b"0\r\n"[..], &[b't'; MAX_TRAILERS + 1]].concat();
        assert_eq!(err(&trailers), ChunkedError::LongTrailers);
    }
}
