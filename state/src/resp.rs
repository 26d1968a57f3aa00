//! A small RESP2 client codec for the Redis tier's value transfers (`GET`, `GETRANGE`, `SET`):
//! command framing, and a reply reader that puts a bulk payload straight into the caller's
//! buffer with `read_exact`.
//!
//! Why not the `redis` crate for these: its parser buffers a bulk reply and copies it into a
//! freshly allocated `Vec`, and its command packing copies an argument twice, which for 1 MiB
//! values cost about as much as the round trip itself. Only the replies these commands can get
//! are understood: simple strings (`+OK`), errors (`-ERR ...`), integers (`:n`) and bulk
//! strings (`$n` with payload, `$-1` for nil). Anything else is a protocol error.

use std::io::{self, BufRead, Read, Write};

/// The longest reply line (type byte to CRLF) accepted: error messages are short, and a server
/// that sends more is not speaking RESP to us.
const MAX_LINE: u64 = 64 << 10;

/// The longest bulk reply accepted: Redis strings hold at most 512 MiB, so a server that
/// announces more is broken or hostile, and its length must not size an allocation.
pub(crate) const MAX_BULK: usize = 512 << 20;

/// How much of a bulk reply is allocated before its bytes arrive: a server that announces a
/// long reply and sends nothing costs no more than this.
const BULK_PREALLOCATION: usize = 1 << 20;

/// Why a reply could not be read.
#[derive(Debug)]
pub(crate) enum RespError {
    /// The connection failed (closed, reset, timed out): it must not be used again.
    Io(io::Error),
    /// The bytes are not a reply we expect: the stream is out of step, so it must not be used
    /// again.
    Protocol(String),
    /// The server answered with an error reply (`-ERR ...`): the reply was read whole, so the
    /// connection is still usable.
    Server(String),
}

impl RespError {
    /// Whether the connection the error came from may carry further commands.
    pub(crate) fn connection_usable(&self) -> bool {
        matches!(self, RespError::Server(_))
    }

    /// Whether the peer was gone (closed, reset): what a connection left open across a server
    /// restart meets, unlike a timeout (a live but slow server).
    pub(crate) fn connection_lost(&self) -> bool {
        matches!(self, RespError::Io(e) if matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::NotConnected
        ))
    }
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RespError::Io(e) => write!(f, "I/O error: {e}"),
            RespError::Protocol(m) => write!(f, "protocol error: {m}"),
            RespError::Server(m) => write!(f, "server error: {m}"),
        }
    }
}

impl From<io::Error> for RespError {
    fn from(e: io::Error) -> RespError {
        RespError::Io(e)
    }
}

/// The first line of a reply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// `+text`.
    Simple(String),
    /// `:n`.
    Integer(i64),
    /// `$n` (a payload of `n` bytes and CRLF follow), `None` for `$-1` (nil).
    Bulk(Option<usize>),
}

/// Appends the RESP framing of a command whose arguments are `args` (all of them in full).
pub(crate) fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "*{}\r\n", args.len());
    for arg in args {
        let _ = write!(out, "${}\r\n", arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the framing of a command whose last argument, of `payload_len` bytes, the caller
/// places right after what this writes (then appends the final CRLF): so the payload can be
/// produced in place, without a copy.
pub(crate) fn encode_command_head(out: &mut Vec<u8>, args: &[&[u8]], payload_len: usize) {
    let _ = write!(out, "*{}\r\n", args.len() + 1);
    for arg in args {
        let _ = write!(out, "${}\r\n", arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(out, "${payload_len}\r\n");
}

/// Reads one reply line (without its CRLF).
fn read_line(r: &mut impl BufRead) -> Result<Vec<u8>, RespError> {
    let mut line = Vec::with_capacity(32);
    r.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(RespError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server",
        )));
    }
    match line.strip_suffix(b"\r\n") {
        Some(body) => {
            let len = body.len();
            line.truncate(len);
            Ok(line)
        }
        None if line.len() as u64 >= MAX_LINE => Err(RespError::Protocol(format!(
            "reply line longer than {MAX_LINE} bytes"
        ))),
        None if line.ends_with(b"\n") => Err(RespError::Protocol(format!(
            "reply line not ended by CRLF: {:?}",
            String::from_utf8_lossy(&line)
        ))),
        None => Err(RespError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server in the middle of a reply",
        ))),
    }
}

fn parse_number(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!(
                "not a number in a reply: {:?}",
                String::from_utf8_lossy(text)
            ))
        })
}

/// Reads the first line of a reply; an error reply becomes [`RespError::Server`].
pub(crate) fn read_header(r: &mut impl BufRead) -> Result<Header, RespError> {
    let line = read_line(r)?;
    let (kind, body) = line.split_first().unwrap_or((&b'?', &[]));
    match kind {
        b'+' => Ok(Header::Simple(String::from_utf8_lossy(body).into_owned())),
        b'-' => Err(RespError::Server(
            String::from_utf8_lossy(body).into_owned(),
        )),
        b':' => Ok(Header::Integer(parse_number(body)?)),
        b'$' => match parse_number(body)? {
            -1 => Ok(Header::Bulk(None)),
            n => usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_BULK)
                .map(|n| Header::Bulk(Some(n)))
                .ok_or_else(|| {
                    RespError::Protocol(format!(
                        "bulk reply of {n} bytes (Redis strings hold at most {MAX_BULK})"
                    ))
                }),
        },
        _ => Err(RespError::Protocol(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&line)
        ))),
    }
}

/// Reads the CRLF that ends a bulk payload.
pub(crate) fn read_crlf(r: &mut impl BufRead) -> Result<(), RespError> {
    let mut end = [0u8; 2];
    r.read_exact(&mut end)?;
    if &end == b"\r\n" {
        Ok(())
    } else {
        Err(RespError::Protocol(format!(
            "bulk payload not followed by CRLF but {end:?}"
        )))
    }
}

/// Reads a bulk reply. A payload that fits in `buf` is read into its first bytes; a longer one
/// is read and dropped (`buf`'s contents are then unspecified). Returns the payload's length,
/// `None` for nil. Any other reply is a protocol error (an error reply, [`RespError::Server`]).
pub(crate) fn read_bulk_into(
    r: &mut impl BufRead,
    buf: &mut [u8],
) -> Result<Option<usize>, RespError> {
    let n = match read_header(r)? {
        Header::Bulk(Some(n)) => n,
        Header::Bulk(None) => return Ok(None),
        other => {
            return Err(RespError::Protocol(format!(
                "expected a bulk string, got {other:?}"
            )));
        }
    };
    if n <= buf.len() {
        r.read_exact(&mut buf[..n])?;
    } else {
        discard(r, n)?;
    }
    read_crlf(r)?;
    Ok(Some(n))
}

/// Reads a bulk reply into a new vector (`None` for nil).
pub(crate) fn read_bulk(r: &mut impl BufRead) -> Result<Option<Vec<u8>>, RespError> {
    match read_header(r)? {
        Header::Bulk(Some(n)) => {
            let mut data = Vec::with_capacity(n.min(BULK_PREALLOCATION));
            r.by_ref().take(n as u64).read_to_end(&mut data)?;
            if data.len() != n {
                return Err(RespError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server in the middle of a reply",
                )));
            }
            read_crlf(r)?;
            Ok(Some(data))
        }
        Header::Bulk(None) => Ok(None),
        other => Err(RespError::Protocol(format!(
            "expected a bulk string, got {other:?}"
        ))),
    }
}

/// Reads a `+OK` reply.
pub(crate) fn read_ok(r: &mut impl BufRead) -> Result<(), RespError> {
    match read_header(r)? {
        Header::Simple(s) if s == "OK" => Ok(()),
        other => Err(RespError::Protocol(format!("expected +OK, got {other:?}"))),
    }
}

/// Reads and drops `n` payload bytes.
pub(crate) fn discard(r: &mut impl BufRead, n: usize) -> Result<(), RespError> {
    let copied = io::copy(&mut r.by_ref().take(n as u64), &mut io::sink())?;
    if copied == n as u64 {
        Ok(())
    } else {
        Err(RespError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server in the middle of a reply",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// A reader handing out `input` at most `step` bytes per read, as a socket may.
    struct Trickle<'a> {
        input: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(n)
        }
    }

    /// `input` split into reads of every size from 1 to 7 bytes, through buffers of 1 to 16
    /// bytes (smaller than the replies, so lines and payloads straddle refills).
    fn readers(input: &[u8]) -> Vec<BufReader<Trickle<'_>>> {
        let mut all = Vec::new();
        for step in 1..=7 {
            for capacity in [1, 3, 16, 8192] {
                all.push(BufReader::with_capacity(capacity, Trickle { input, step }));
            }
        }
        all
    }

    #[test]
    fn bulk_into_a_buffer_of_its_size_across_split_reads() {
        let payload: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let mut input = format!("${}\r\n", payload.len()).into_bytes();
        input.extend_from_slice(&payload);
        input.extend_from_slice(b"\r\n+OK\r\n");
        for mut r in readers(&input) {
            let mut buf = vec![0u8; payload.len()];
            assert_eq!(read_bulk_into(&mut r, &mut buf).unwrap(), Some(300));
            assert_eq!(buf, payload);
            // The stream stays in step: the next reply is read whole.
            read_ok(&mut r).unwrap();
        }
    }

    #[test]
    fn bulk_shorter_than_the_buffer_fills_a_prefix() {
        for mut r in readers(b"$3\r\nabc\r\n:7\r\n") {
            let mut buf = [b'x'; 5];
            assert_eq!(read_bulk_into(&mut r, &mut buf).unwrap(), Some(3));
            assert_eq!(&buf, b"abcxx");
            assert_eq!(read_header(&mut r).unwrap(), Header::Integer(7));
        }
    }

    #[test]
    fn bulk_longer_than_the_buffer_is_skipped_and_its_length_returned() {
        for mut r in readers(b"$10\r\n0123456789\r\n$2\r\nok\r\n") {
            let mut buf = [0u8; 4];
            assert_eq!(read_bulk_into(&mut r, &mut buf).unwrap(), Some(10));
            assert_eq!(read_bulk(&mut r).unwrap().as_deref(), Some(&b"ok"[..]));
        }
    }

    #[test]
    fn bulk_lengths_beyond_redis_strings_are_refused_before_any_allocation() {
        for input in [
            &b"$1099511627776\r\n"[..],
            b"$9223372036854775807\r\n",
            b"$536870913\r\n",
        ] {
            for mut r in readers(input) {
                let error = read_bulk(&mut r).unwrap_err();
                assert!(
                    matches!(&error, RespError::Protocol(m) if m.contains("at most 536870912")),
                    "{error:?}"
                );
            }
            assert!(matches!(
                read_bulk_into(&mut BufReader::new(input), &mut [0; 8]),
                Err(RespError::Protocol(_))
            ));
        }
        // A length within the limit whose bytes never come: an I/O error, little allocated.
        let mut r = BufReader::new(&b"$536870912\r\nabc"[..]);
        assert!(matches!(read_bulk(&mut r), Err(RespError::Io(_))));
    }

    #[test]
    fn nil_and_empty_bulk() {
        let mut r = BufReader::new(&b"$-1\r\n$0\r\n\r\n$-1\r\n"[..]);
        assert_eq!(read_bulk_into(&mut r, &mut [0u8; 4]).unwrap(), None);
        assert_eq!(read_bulk_into(&mut r, &mut []).unwrap(), Some(0));
        assert_eq!(read_bulk(&mut r).unwrap(), None);
    }

    #[test]
    fn error_reply_keeps_the_connection_usable() {
        for mut r in readers(b"-WRONGTYPE Operation against a key\r\n+OK\r\n") {
            let err = read_bulk_into(&mut r, &mut [0u8; 4]).unwrap_err();
            assert!(err.connection_usable(), "{err}");
            assert!(
                matches!(&err, RespError::Server(m) if m == "WRONGTYPE Operation against a key"),
                "{err}"
            );
            read_ok(&mut r).unwrap();
        }
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let cases: [&[u8]; 8] = [
            b"hello\r\n",
            b"$abc\r\n",
            b"$-2\r\n",
            b"$3\r\nabcXY",
            b"$3\nabc\r\n",
            b":12x\r\n",
            b"\r\n",
            b"*1\r\n$1\r\na\r\n",
        ];
        for input in cases {
            let err = read_bulk_into(&mut BufReader::new(input), &mut [0u8; 3]).unwrap_err();
            assert!(
                matches!(err, RespError::Protocol(_)),
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
            assert!(!err.connection_usable());
        }
        let long = vec![b'+'; MAX_LINE as usize + 10];
        let err = read_header(&mut BufReader::new(&long[..])).unwrap_err();
        assert!(matches!(err, RespError::Protocol(_)), "{err}");
    }

    #[test]
    fn wrong_reply_kind_is_a_protocol_error() {
        let err = read_ok(&mut BufReader::new(&b"$2\r\nOK\r\n"[..])).unwrap_err();
        assert!(matches!(err, RespError::Protocol(_)), "{err}");
        let err = read_bulk_into(&mut BufReader::new(&b"+OK\r\n"[..]), &mut []).unwrap_err();
        assert!(matches!(err, RespError::Protocol(_)), "{err}");
    }

    #[test]
    fn truncated_replies_are_io_errors() {
        let cases: [&[u8]; 5] = [b"", b"$5\r\nab", b"$5\r\nabcde", b"+O", b"$10\r\nabc"];
        for input in cases {
            let err = read_bulk_into(&mut BufReader::new(input), &mut [0u8; 5]).unwrap_err();
            assert!(
                matches!(&err, RespError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof),
                "{:?}: {err}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn commands_are_framed() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"GET", b"faasm:v:a/k"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$11\r\nfaasm:v:a/k\r\n");
        out.clear();
        encode_command_head(&mut out, &[b"SET", b"k"], 3);
        out.extend_from_slice(b"abc\r\n");
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nabc\r\n");
    }
}
