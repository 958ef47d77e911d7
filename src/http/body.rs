//! Body framing: how a message body is delimited (RFC 9112 §6), and an incremental decoder
//! for chunked request bodies. Pure: bytes in, bytes out, no I/O.

use super::error::ParseError;
use super::is_tchar;

/// How a body is delimited, for requests read and responses written alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Exactly this many bytes follow the head (0: no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the connection closes (responses to HTTP/1.0 only).
    CloseDelimited,
}

/// Longest chunk-ext accepted on one chunk-size line. Extensions carry nothing we use, and
/// an unbounded one would let a peer keep a connection busy without sending data.
pub const MAX_CHUNK_EXT: usize = 256;

/// Largest trailer section accepted after the last chunk; trailers are read and dropped.
pub const MAX_TRAILERS: usize = 8 * 1024;

/// What one [`ChunkedDecoder::decode`] call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of input used. The caller drops them and keeps the rest for the next call.
    pub consumed: usize,
    /// The last chunk and its trailers were read: the body is complete, and any bytes after
    /// `consumed` belong to the next request.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes to go.
    Data(u64),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line; bytes of trailers so far.
    Trailers(usize),
    /// The body is complete.
    Done,
}

/// Incremental decoder for a chunked body.
///
/// It consumes only whole syntactic elements (a size line, data bytes, a CRLF, a trailer
/// line), so the caller never has to buffer partial state for it: unconsumed input stays in
/// the caller's buffer and is offered again with more bytes behind it.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    decoded: u64,
    limit: u64,
}

impl ChunkedDecoder {
    /// A decoder that fails with [`ParseError::BodyTooLarge`] once the decoded body would
    /// pass `limit` bytes.
    pub fn new(limit: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            decoded: 0,
            limit,
        }
    }

    /// Whether the whole body has been decoded.
    #[cfg(any(test, fuzzing, feature = "internals"))]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decoded body bytes so far.
    #[cfg(any(fuzzing, feature = "internals"))]
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Data bytes still to come in the chunk being decoded (0 between chunks): how much a
    /// reader can ask for at once without reading past what is announced.
    pub fn data_left(&self) -> u64 {
        match self.state {
            State::Data(left) => left,
            _ => 0,
        }
    }

    /// Decodes as much of `input` as forms whole elements, appending body bytes to `out`
    /// (or dropping them when `out` is `None`).
    ///
    /// # Errors
    /// [`ParseError::Chunk`] for a malformed size line, chunk-ext over [`MAX_CHUNK_EXT`], a
    /// missing CRLF or bad trailers; [`ParseError::BodyTooLarge`] past the limit.
    pub fn decode(
        &mut self,
        input: &[u8],
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Progress, ParseError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => {
                    return Ok(Progress {
                        consumed: pos,
                        done: true,
                    });
                }
                State::Size => {
                    let Some((size, used)) = parse_size_line(rest)? else {
                        return Ok(Progress {
                            consumed: pos,
                            done: false,
                        });
                    };
                    pos += used;
                    if size == 0 {
                        self.state = State::Trailers(0);
                    } else {
                        if self.decoded.saturating_add(size) > self.limit {
                            return Err(ParseError::BodyTooLarge);
                        }
                        self.state = State::Data(size);
                    }
                }
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(Progress {
                            consumed: pos,
                            done: false,
                        });
                    }
                    let take = (left.min(rest.len() as u64)) as usize;
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(&rest[..take]);
                    }
                    self.decoded += take as u64;
                    pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => {
                        return Ok(Progress {
                            consumed: pos,
                            done: false,
                        });
                    }
                    _ => return Err(ParseError::Chunk),
                },
                State::Trailers(seen) => {
                    let Some(end) = memchr::memchr(b'\n', rest) else {
                        if seen + rest.len() > MAX_TRAILERS {
                            return Err(ParseError::Chunk);
                        }
                        return Ok(Progress {
                            consumed: pos,
                            done: false,
                        });
                    };
                    let line = &rest[..end];
                    let line = line.strip_suffix(b"\r").ok_or(ParseError::Chunk)?;
                    if seen + end + 1 > MAX_TRAILERS {
                        return Err(ParseError::Chunk);
                    }
                    pos += end + 1;
                    if line.is_empty() {
                        self.state = State::Done;
                    } else {
                        check_trailer_line(line)?;
                        self.state = State::Trailers(seen + end + 1);
                    }
                }
            }
        }
    }
}

/// Parses `chunk-size [chunk-ext] CRLF` at the start of `input`: `Ok(None)` when the line is
/// not complete yet, else the size and the bytes the line used.
fn parse_size_line(input: &[u8]) -> Result<Option<(u64, usize)>, ParseError> {
    let digits = input.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    // 16 hex digits fit a u64; anything longer is an overflow attempt.
    if digits > 15 {
        return Err(ParseError::Chunk);
    }
    let Some(end) = memchr::memchr(b'\n', &input[digits..]).map(|e| e + digits) else {
        if input.len() > digits + MAX_CHUNK_EXT + 2 || (digits == 0 && !input.is_empty()) {
            return Err(ParseError::Chunk);
        }
        return Ok(None);
    };
    if digits == 0 {
        return Err(ParseError::Chunk);
    }
    // Bare LF is refused here: a front end that reads it differently would frame the body
    // differently, which is how chunked bodies get smuggled.
    let line = input[..end].strip_suffix(b"\r").ok_or(ParseError::Chunk)?;
    let ext = &line[digits..];
    if ext.len() > MAX_CHUNK_EXT {
        return Err(ParseError::Chunk);
    }
    check_chunk_ext(ext)?;
    let size = line[..digits].iter().fold(0u64, |n, &d| {
        n << 4 | u64::from((d as char).to_digit(16).unwrap_or(0))
    });
    Ok(Some((size, end + 1)))
}

/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )` with a
/// name that is a token and a value that is a token or a quoted-string (RFC 9112 §7.1.1).
/// Names and values are checked, not interpreted.
fn check_chunk_ext(ext: &[u8]) -> Result<(), ParseError> {
    let bws = |i: &mut usize| {
        while ext.get(*i).is_some_and(|&b| b == b' ' || b == b'\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while ext.get(*i).is_some_and(|&b| is_tchar(b)) {
            *i += 1;
        }
        *i > start
    };
    let mut i = 0;
    while i < ext.len() {
        bws(&mut i);
        if ext.get(i) != Some(&b';') {
            return Err(ParseError::Chunk);
        }
        i += 1;
        bws(&mut i);
        if !token(&mut i) {
            return Err(ParseError::Chunk);
        }
        bws(&mut i);
        if ext.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        bws(&mut i);
        if ext.get(i) == Some(&b'"') {
            i = quoted_string_end(ext, i).ok_or(ParseError::Chunk)?;
        } else if !token(&mut i) {
            return Err(ParseError::Chunk);
        }
    }
    Ok(())
}

/// The index just past the quoted-string starting at `s[start]` (a `"`), `None` when it is
/// unterminated or holds a control character (RFC 9110 §5.6.4).
fn quoted_string_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => return Some(i + 1),
            b'\\' => {
                let next = *s.get(i + 1)?;
                if is_ctl(next) {
                    return None;
                }
                i += 2;
            }
            b if is_ctl(b) => return None,
            _ => i += 1,
        }
    }
    None
}

/// A trailer line is a header field: name ":" value, no control characters but HTAB.
fn check_trailer_line(line: &[u8]) -> Result<(), ParseError> {
    let colon = memchr::memchr(b':', line).ok_or(ParseError::Chunk)?;
    let name_ok = colon > 0 && line[..colon].iter().all(|&b| is_tchar(b));
    if !name_ok || line[colon + 1..].iter().any(|&b| is_ctl(b)) {
        return Err(ParseError::Chunk);
    }
    Ok(())
}

fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` in pieces of `step` bytes, the way a connection would see it, and
    /// returns the body and the bytes left over after it.
    fn decode_in_steps(input: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), ParseError> {
        let mut dec = ChunkedDecoder::new(1 << 20);
        let mut out = Vec::new();
        let mut pending = Vec::new();
        let mut fed = 0;
        for piece in input.chunks(step.max(1)) {
            pending.extend_from_slice(piece);
            fed += piece.len();
            let p = dec.decode(&pending, Some(&mut out))?;
            pending.drain(..p.consumed);
            if p.done {
                break;
            }
        }
        if !dec.is_done() {
            return Err(ParseError::Chunk);
        }
        let consumed_all = fed - pending.len();
        Ok((out, input[consumed_all..].to_vec()))
    }

    #[test]
    fn data_left_counts_down_inside_a_chunk() {
        let mut dec = ChunkedDecoder::new(1 << 20);
        assert_eq!(dec.data_left(), 0);
        let p = dec.decode(b"a\r\nhel", None).unwrap();
        assert_eq!(p.consumed, 6);
        assert_eq!(dec.data_left(), 7);
        dec.decode(b"lo worl", None).unwrap();
        assert_eq!(dec.data_left(), 0);
        dec.decode(b"\r\n", None).unwrap();
        assert_eq!(dec.data_left(), 0);
    }

    #[test]
    fn chunks_and_trailers_decode_at_every_split() {
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        for step in 1..input.len() {
            let (body, rest) = decode_in_steps(input, step).unwrap();
            assert_eq!(body, b"hello world", "step {step}");
            assert_eq!(rest, b"NEXT", "step {step}");
        }
    }

    #[test]
    fn hex_sizes_in_either_case() {
        let (body, _) =
            decode_in_steps(b"A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", 64).unwrap();
        assert_eq!(body.len(), 20);
    }

    #[test]
    fn oversized_chunk_size_is_rejected() {
        let mut dec = ChunkedDecoder::new(u64::MAX);
        assert_eq!(
            dec.decode(b"10000000000000000\r\n", None),
            Err(ParseError::Chunk)
        );
        let mut dec = ChunkedDecoder::new(u64::MAX);
        assert_eq!(
            dec.decode(b"ffffffffffffffffff", None),
            Err(ParseError::Chunk)
        );
    }

    #[test]
    fn body_over_limit_fails_before_data_arrives() {
        let mut dec = ChunkedDecoder::new(10);
        assert_eq!(dec.decode(b"b\r\n", None), Err(ParseError::BodyTooLarge));
    }

    #[test]
    fn bad_size_lines_are_rejected() {
        for input in [
            &b"x\r\n"[..],
            b"\r\n",
            b" 5\r\n",
            b"5 x\r\n",
            b"5\n",
            b"-1\r\n",
            b"+5\r\n",
            b"5;a\0\r\n",
        ] {
            let mut dec = ChunkedDecoder::new(100);
            assert_eq!(dec.decode(input, None), Err(ParseError::Chunk), "{input:?}");
        }
    }

    #[test]
    fn chunk_extensions_follow_the_grammar() {
        for ok in [
            &b""[..],
            b";a",
            b";a=b",
            b" ; a = b ;c",
            b";a=\"b;c\"",
            b";a=\"q\\\"x\"",
            b";a=\"\";b=1",
        ] {
            assert!(
                check_chunk_ext(ok).is_ok(),
                "{:?}",
                String::from_utf8_lossy(ok)
            );
        }
        for bad in [
            &b";"[..],
            b" ",
            b"x",
            b";=b",
            b";a=",
            b";a=\"b",
            b";a=b c",
            b";a\x01",
            b";a=\"\x01\"",
            b";a;",
            b";a=(b)",
        ] {
            assert!(
                check_chunk_ext(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn long_chunk_ext_is_rejected_even_when_partial() {
        let mut line = b"5;".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_CHUNK_EXT + 10));
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(dec.decode(&line, None), Err(ParseError::Chunk));
    }

    #[test]
    fn missing_crlf_after_data_is_rejected() {
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(dec.decode(b"3\r\nabcX\r\n", None), Err(ParseError::Chunk));
    }

    #[test]
    fn bad_trailer_is_rejected() {
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(
            dec.decode(b"0\r\nno colon\r\n\r\n", None),
            Err(ParseError::Chunk)
        );
    }

    #[test]
    fn endless_trailers_are_cut() {
        let mut input = b"0\r\n".to_vec();
        while input.len() < MAX_TRAILERS + 100 {
            input.extend_from_slice(b"X-T: aaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut dec = ChunkedDecoder::new(100);
        assert_eq!(dec.decode(&input, None), Err(ParseError::Chunk));
    }

    #[test]
    fn naive_decoder_agrees() {
        // Oracle: a one-shot decoder written the obvious way.
        fn naive(mut s: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            loop {
                let nl = s.iter().position(|&b| b == b'\n').unwrap();
                let line = std::str::from_utf8(&s[..nl - 1]).unwrap();
                let size = usize::from_str_radix(line.split(';').next().unwrap(), 16).unwrap();
                s = &s[nl + 1..];
                if size == 0 {
                    return out;
                }
                out.extend_from_slice(&s[..size]);
                s = &s[size + 2..];
            }
        }
        let mut input = Vec::new();
        for n in [1usize, 7, 300, 4096, 3] {
            input.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            input.extend((0..n).map(|i| (i * 31 % 251) as u8));
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        for step in [1, 2, 5, 64, 1000, input.len()] {
            assert_eq!(decode_in_steps(&input, step).unwrap().0, naive(&input));
        }
    }
}
