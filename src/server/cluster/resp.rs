//! RESP2, Redis's wire format, as a sans-I/O codec: commands out as arrays of bulk strings, replies in through
//! an incremental parser over whatever bytes have arrived. No sockets here; [`super::redis`] moves the bytes.
//!
//! The parser first checks that a whole reply is in the buffer without allocating anything (the way
//! mini-redis's `Frame::check` does), then builds it; so a length a peer announces is never allocated before its
//! bytes are there, and every announced size is checked against a limit first. A reply cut anywhere is
//! `Ok(None)` ("read more"), never an error, so the caller can parse again from the same place once more bytes
//! arrive. Replies are short in Charla's use (integers, `OK`, a few history entries), so parsing again from the
//! start of an unfinished reply costs little; a reply of many thousands of elements arriving in many reads would
//! be scanned once per read.
//!
//! Only RESP2 is spoken (Charla never sends `HELLO 3`): RESP3's types are refused as a protocol error.

use std::fmt;
use std::io::Write as _;

/// The longest bulk string accepted, in bytes: 64 MiB (Redis's own `proto-max-bulk-len` default is 512 MB;
/// Charla's values are chat messages and history entries, far smaller).
pub const MAX_BULK_BYTES: usize = 64 * 1024 * 1024;
/// The most elements one array may announce: 1,048,576.
pub const MAX_ARRAY_ELEMENTS: usize = 1024 * 1024;
/// The deepest nesting of arrays accepted: a reply is at depth 1, its elements at 2, and so on up to this.
pub const MAX_DEPTH: usize = 8;
/// The longest header or simple line (`+OK`, `-ERR ...`, `:42`, `$5`), in bytes without its CRLF: 64 KiB.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespValue {
    /// `+OK`: a status line.
    Simple(String),
    /// `-ERR ...`: Redis refused the command. A value, not a [`RespError`]: the caller decides what it means.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$5\r\nhello`, or `$-1` (`None`): the null bulk string of a missing key.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1` (`None`): the null array.
    Array(Option<Vec<RespValue>>),
}

/// Bytes that are not RESP2, or that announce more than the limits allow. The connection that read them cannot
/// be trusted to be in step any more: its owner closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A first byte that is none of `+ - : $ *`.
    UnknownType(u8),
    /// A line with no CRLF within [`MAX_LINE_BYTES`].
    LineTooLong,
    /// A CR not followed by LF, or an LF with no CR before it, in a line.
    BadLineEnd,
    /// A length or integer that is not a decimal `i64` (or a negative length other than -1).
    BadNumber(String),
    /// A bulk string announced over [`MAX_BULK_BYTES`].
    BulkTooLong(i64),
    /// A bulk string's bytes not followed by CRLF.
    BadBulkEnd,
    /// An array announced with more than [`MAX_ARRAY_ELEMENTS`] elements.
    ArrayTooLong(i64),
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(byte) => write!(f, "unknown RESP2 type byte {:?}", char::from(*byte)),
            RespError::LineTooLong => write!(f, "a line with no CRLF within {MAX_LINE_BYTES} bytes"),
            RespError::BadLineEnd => write!(f, "a line ending that is not CRLF"),
            RespError::BadNumber(text) => write!(f, "not a valid number or length: {text:?}"),
            RespError::BulkTooLong(len) => write!(f, "a bulk string of {len} bytes (the limit is {MAX_BULK_BYTES})"),
            RespError::BadBulkEnd => write!(f, "a bulk string not followed by CRLF"),
            RespError::ArrayTooLong(len) => {
                write!(f, "an array of {len} elements (the limit is {MAX_ARRAY_ELEMENTS})")
            }
            RespError::TooDeep => write!(f, "arrays nested deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for RespError {}

/// Appends one command to `out` as Redis expects it from a client: an array of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "*{}\r\n", args.len());
    for arg in args {
        encode_bulk(arg, out);
    }
}

fn encode_bulk(bytes: &[u8], out: &mut Vec<u8>) {
    let _ = write!(out, "${}\r\n", bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` in RESP2, as a server would send it: for tests and fuzzing (a fake server, round trips).
/// Simple and error strings must hold no CR or LF; one that does is written with them replaced by spaces, so
/// the output always parses.
pub fn encode_value(value: &RespValue, out: &mut Vec<u8>) {
    let line = |tag: u8, text: &str, out: &mut Vec<u8>| {
        out.push(tag);
        out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
        out.extend_from_slice(b"\r\n");
    };
    match value {
        RespValue::Simple(text) => line(b'+', text, out),
        RespValue::Error(text) => line(b'-', text, out),
        RespValue::Integer(n) => {
            let _ = write!(out, ":{n}\r\n");
        }
        RespValue::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
        RespValue::Bulk(Some(bytes)) => encode_bulk(bytes, out),
        RespValue::Array(None) => out.extend_from_slice(b"*-1\r\n"),
        RespValue::Array(Some(items)) => {
            let _ = write!(out, "*{}\r\n", items.len());
            for item in items {
                encode_value(item, out);
            }
        }
    }
}

/// Parses one reply from the start of `buf`: `Ok(None)` when it is not all there yet (read more and call again
/// with the bytes appended), else the value and how many bytes it took.
pub fn parse(buf: &[u8]) -> Result<Option<(RespValue, usize)>, RespError> {
    let Some(end) = check(buf, 0, 1)? else { return Ok(None) };
    let (value, taken) = build(buf, 0)?;
    // `check` has walked the same bytes; `build` cannot disagree, but a mismatch must not go unnoticed.
    debug_assert_eq!(taken, end);
    Ok(Some((value, taken)))
}

/// What a reply's first line says.
enum Header {
    Simple(usize, usize),
    Error(usize, usize),
    Integer(i64),
    Bulk(Option<usize>),
    Array(Option<usize>),
}

/// The header at `at`, and where the bytes after its CRLF start; `None` when its line is not complete yet.
fn header(buf: &[u8], at: usize) -> Result<Option<(Header, usize)>, RespError> {
    let Some(&tag) = buf.get(at) else { return Ok(None) };
    if !matches!(tag, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(RespError::UnknownType(tag));
    }
    let Some((start, end, next)) = line(buf, at + 1)? else { return Ok(None) };
    let text = &buf[start..end];
    let header = match tag {
        b'+' => Header::Simple(start, end),
        b'-' => Header::Error(start, end),
        b':' => Header::Integer(integer(text)?),
        b'$' => Header::Bulk(length(text, MAX_BULK_BYTES, RespError::BulkTooLong)?),
        _ => Header::Array(length(text, MAX_ARRAY_ELEMENTS, RespError::ArrayTooLong)?),
    };
    Ok(Some((header, next)))
}

/// The line starting at `at`: its bounds without the CRLF and where the next one starts; `None` when the CRLF
/// has not arrived and the line is still within [`MAX_LINE_BYTES`].
fn line(buf: &[u8], at: usize) -> Result<Option<(usize, usize, usize)>, RespError> {
    let rest = buf.get(at..).unwrap_or_default();
    // The CR of a line of the longest allowed length is at MAX_LINE_BYTES.
    let window = &rest[..rest.len().min(MAX_LINE_BYTES + 1)];
    match memchr::memchr2(b'\r', b'\n', window) {
        Some(i) if window[i] == b'\n' => Err(RespError::BadLineEnd),
        Some(i) => match rest.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((at, at + i, at + i + 2))),
            Some(_) => Err(RespError::BadLineEnd),
        },
        None if rest.len() > MAX_LINE_BYTES => Err(RespError::LineTooLong),
        None => Ok(None),
    }
}

/// A decimal `i64`: an optional `-`, then digits only (no `+`, no spaces, nothing empty).
fn integer(text: &[u8]) -> Result<i64, RespError> {
    let bad = || RespError::BadNumber(String::from_utf8_lossy(&text[..text.len().min(32)]).into_owned());
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(bad());
        }
        let digit = i64::from(d - b'0');
        // Accumulating negatively reaches i64::MIN, which has no positive counterpart.
        value = value
            .checked_mul(10)
            .and_then(|v| if negative { v.checked_sub(digit) } else { v.checked_add(digit) })
            .ok_or_else(bad)?;
    }
    Ok(value)
}

/// A bulk or array length: -1 is null, anything else below 0 or above `max` is refused.
fn length(text: &[u8], max: usize, too_long: fn(i64) -> RespError) -> Result<Option<usize>, RespError> {
    match integer(text)? {
        -1 => Ok(None),
        n if n < 0 => Err(RespError::BadNumber(n.to_string())),
        n => match usize::try_from(n) {
            Ok(len) if len <= max => Ok(Some(len)),
            _ => Err(too_long(n)),
        },
    }
}

/// Whether a whole value at depth `depth` starts at `at`: where it ends, or `None` if bytes are missing.
/// Allocates nothing.
fn check(buf: &[u8], at: usize, depth: usize) -> Result<Option<usize>, RespError> {
    let Some((header, mut next)) = header(buf, at)? else { return Ok(None) };
    match header {
        Header::Simple(..) | Header::Error(..) | Header::Integer(_) | Header::Bulk(None) | Header::Array(None) => {
            Ok(Some(next))
        }
        Header::Bulk(Some(len)) => {
            // len is at most MAX_BULK_BYTES, so this cannot overflow.
            let end = next + len;
            match buf.get(end..end + 2) {
                None => Ok(None),
                Some(b"\r\n") => Ok(Some(end + 2)),
                Some(_) => Err(RespError::BadBulkEnd),
            }
        }
        Header::Array(Some(count)) => {
            if depth > MAX_DEPTH {
                return Err(RespError::TooDeep);
            }
            for _ in 0..count {
                match check(buf, next, depth + 1)? {
                    Some(end) => next = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(next))
        }
    }
}

/// Builds the value at `at`, which [`check`] has found whole and valid.
fn build(buf: &[u8], at: usize) -> Result<(RespValue, usize), RespError> {
    // check() saw this header complete, so None cannot happen; it is an error rather than a panic all the same.
    let (header, next) = header(buf, at)?.ok_or(RespError::BadLineEnd)?;
    let text = |start: usize, end: usize| String::from_utf8_lossy(&buf[start..end]).into_owned();
    Ok(match header {
        Header::Simple(start, end) => (RespValue::Simple(text(start, end)), next),
        Header::Error(start, end) => (RespValue::Error(text(start, end)), next),
        Header::Integer(n) => (RespValue::Integer(n), next),
        Header::Bulk(None) => (RespValue::Bulk(None), next),
        Header::Array(None) => (RespValue::Array(None), next),
        Header::Bulk(Some(len)) => {
            let bytes = buf.get(next..next + len).ok_or(RespError::BadBulkEnd)?;
            (RespValue::Bulk(Some(bytes.to_vec())), next + len + 2)
        }
        Header::Array(Some(count)) => {
            // Every element is in the buffer (check() walked them), so this much is about to be filled.
            let mut items = Vec::with_capacity(count);
            let mut at = next;
            for _ in 0..count {
                let (item, end) = build(buf, at)?;
                items.push(item);
                at = end;
            }
            (RespValue::Array(Some(items)), at)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(bytes: &[u8]) -> RespValue {
        match parse(bytes) {
            Ok(Some((value, taken))) => {
                assert_eq!(taken, bytes.len(), "{bytes:?}");
                value
            }
            other => panic!("{bytes:?} parsed to {other:?}"),
        }
    }

    fn bulk(bytes: &[u8]) -> RespValue {
        RespValue::Bulk(Some(bytes.to_vec()))
    }

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&[b"SET", b"name:ana", b"node-1", b"NX", b"PX", b"30000"], &mut out);
        assert_eq!(
            out,
            b"*6\r\n$3\r\nSET\r\n$8\r\nname:ana\r\n$6\r\nnode-1\r\n$2\r\nNX\r\n$2\r\nPX\r\n$5\r\n30000\r\n"
        );
        out.clear();
        encode_command(&[b"PUBLISH", b"c", b"a\r\nb"], &mut out);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$4\r\na\r\nb\r\n", "binary-safe");
    }

    #[test]
    fn the_replies_redis_sends() {
        assert_eq!(whole(b"+OK\r\n"), RespValue::Simple("OK".into()));
        assert_eq!(
            whole(b"-WRONGPASS invalid username-password pair\r\n"),
            RespValue::Error("WRONGPASS invalid username-password pair".into())
        );
        assert_eq!(whole(b":1000\r\n"), RespValue::Integer(1000));
        assert_eq!(whole(b":-42\r\n"), RespValue::Integer(-42));
        assert_eq!(whole(b":-9223372036854775808\r\n"), RespValue::Integer(i64::MIN));
        assert_eq!(whole(b"$5\r\nhello\r\n"), bulk(b"hello"));
        assert_eq!(whole(b"$0\r\n\r\n"), bulk(b""));
        assert_eq!(whole(b"$-1\r\n"), RespValue::Bulk(None));
        assert_eq!(whole(b"*-1\r\n"), RespValue::Array(None));
        assert_eq!(whole(b"*0\r\n"), RespValue::Array(Some(vec![])));
        // A pub/sub message, and the answer to PING on a subscribed connection.
        assert_eq!(
            whole(b"*3\r\n$7\r\nmessage\r\n$4\r\nchat\r\n$4\r\nhola\r\n"),
            RespValue::Array(Some(vec![bulk(b"message"), bulk(b"chat"), bulk(b"hola")]))
        );
        assert_eq!(whole(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"), RespValue::Array(Some(vec![bulk(b"pong"), bulk(b"")])));
    }

    #[test]
    fn a_reply_cut_anywhere_asks_for_more_and_the_rest_stays_in_the_buffer() {
        let stream = b"*2\r\n$3\r\nfoo\r\n:7\r\n+OK\r\n";
        for cut in 0..17 {
            assert_eq!(parse(&stream[..cut]), Ok(None), "cut at {cut}");
        }
        let (value, taken) = parse(stream).expect("valid").expect("whole");
        assert_eq!(value, RespValue::Array(Some(vec![bulk(b"foo"), RespValue::Integer(7)])));
        assert_eq!(parse(&stream[taken..]), Ok(Some((RespValue::Simple("OK".into()), 5))));
    }

    #[test]
    fn what_is_not_resp2_is_refused() {
        assert_eq!(parse(b"hello\r\n"), Err(RespError::UnknownType(b'h')));
        assert_eq!(parse(b"%1\r\n"), Err(RespError::UnknownType(b'%')), "a RESP3 map");
        assert_eq!(parse(b"+OK\n"), Err(RespError::BadLineEnd));
        assert_eq!(parse(b"+O\rK\r\n"), Err(RespError::BadLineEnd));
        assert!(matches!(parse(b":12a\r\n"), Err(RespError::BadNumber(_))));
        assert!(matches!(parse(b":+1\r\n"), Err(RespError::BadNumber(_))));
        assert!(matches!(parse(b":\r\n"), Err(RespError::BadNumber(_))));
        assert!(matches!(parse(b":9223372036854775808\r\n"), Err(RespError::BadNumber(_))), "overflow");
        assert!(matches!(parse(b"$-2\r\n"), Err(RespError::BadNumber(_))));
        assert_eq!(parse(b"$3\r\nfooXY"), Err(RespError::BadBulkEnd));
    }

    #[test]
    fn announced_sizes_over_the_limits_are_refused_before_their_bytes_arrive() {
        let over_bulk = format!("${}\r\n", MAX_BULK_BYTES + 1);
        assert_eq!(parse(over_bulk.as_bytes()), Err(RespError::BulkTooLong(MAX_BULK_BYTES as i64 + 1)));
        assert_eq!(parse(b"$9223372036854775807\r\n"), Err(RespError::BulkTooLong(i64::MAX)));
        // At the limit it is just waiting: nothing is allocated for the announced 64 MiB.
        assert_eq!(parse(format!("${MAX_BULK_BYTES}\r\nab").as_bytes()), Ok(None));
        let over_array = format!("*{}\r\n", MAX_ARRAY_ELEMENTS + 1);
        assert_eq!(parse(over_array.as_bytes()), Err(RespError::ArrayTooLong(MAX_ARRAY_ELEMENTS as i64 + 1)));
        assert_eq!(parse(format!("*{MAX_ARRAY_ELEMENTS}\r\n:1\r\n").as_bytes()), Ok(None));
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let nested = |depth: usize| [&b"*1\r\n".repeat(depth)[..], b":1\r\n"].concat();
        assert!(matches!(parse(&nested(MAX_DEPTH)), Ok(Some(_))));
        assert_eq!(parse(&nested(MAX_DEPTH + 1)), Err(RespError::TooDeep));
        // Deep nesting announced without its bytes is refused as soon as the ninth header is in.
        assert_eq!(parse(&b"*1\r\n".repeat(1000)), Err(RespError::TooDeep));
    }

    #[test]
    fn a_line_may_be_64_kib_and_no_longer() {
        let mut longest = vec![b'+'];
        longest.resize(1 + MAX_LINE_BYTES, b'a');
        assert_eq!(parse(&longest), Ok(None), "its CRLF may still come");
        longest.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&longest), Ok(Some((RespValue::Simple(s), _))) if s.len() == MAX_LINE_BYTES));
        let mut over = vec![b'+'];
        over.resize(2 + MAX_LINE_BYTES, b'a');
        assert_eq!(parse(&over), Err(RespError::LineTooLong));
        let mut digits = vec![b'$'];
        digits.resize(2 + MAX_LINE_BYTES, b'0');
        assert_eq!(parse(&digits), Err(RespError::LineTooLong), "a length line too");
    }

    #[test]
    fn encode_value_round_trips_and_keeps_lines_single() {
        let value = RespValue::Array(Some(vec![
            RespValue::Simple("a\r\nb".into()),
            RespValue::Error("ERR x".into()),
            RespValue::Array(None),
            bulk(b"\r\n"),
        ]));
        let mut out = Vec::new();
        encode_value(&value, &mut out);
        let expected = RespValue::Array(Some(vec![
            RespValue::Simple("a  b".into()),
            RespValue::Error("ERR x".into()),
            RespValue::Array(None),
            bulk(b"\r\n"),
        ]));
        assert_eq!(whole(&out), expected);
    }

    /// Values as Redis could send them: lines without CR or LF, nesting within the limit.
    fn value() -> impl Strategy<Value = RespValue> {
        let leaf = prop_oneof![
            "[^\r\n]{0,20}".prop_map(RespValue::Simple),
            "[^\r\n]{0,20}".prop_map(RespValue::Error),
            any::<i64>().prop_map(RespValue::Integer),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)).prop_map(RespValue::Bulk),
            Just(RespValue::Array(None)),
        ];
        leaf.prop_recursive(MAX_DEPTH as u32 - 1, 64, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(|items| RespValue::Array(Some(items)))
        })
    }

    /// Feeds `stream` in pieces ending at `cuts`, as reads would deliver it, parsing whatever is whole after each.
    fn parse_in_pieces(stream: &[u8], cuts: &[usize]) -> Result<Vec<RespValue>, RespError> {
        let mut ends: Vec<usize> = cuts.iter().map(|&c| c % (stream.len() + 1)).collect();
        ends.push(stream.len());
        ends.sort_unstable();
        let (mut buffer, mut values, mut fed) = (Vec::new(), Vec::new(), 0);
        for end in ends {
            buffer.extend_from_slice(&stream[fed..end]);
            fed = end;
            while let Some((value, taken)) = parse(&buffer)? {
                values.push(value);
                buffer.drain(..taken);
            }
        }
        assert!(buffer.is_empty(), "bytes left over: {buffer:?}");
        Ok(values)
    }

    proptest! {
        #[test]
        fn any_split_of_a_valid_stream_parses_to_the_same_values(
            values in proptest::collection::vec(value(), 1..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let mut stream = Vec::new();
            for v in &values {
                encode_value(v, &mut stream);
            }
            prop_assert_eq!(parse_in_pieces(&stream, &[])?, values.clone());
            prop_assert_eq!(parse_in_pieces(&stream, &cuts)?, values);
        }

        #[test]
        fn commands_parse_back_to_their_arguments(args in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..30), 1..8)
        ) {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            encode_command(&refs, &mut out);
            let expected = RespValue::Array(Some(args.into_iter().map(|a| RespValue::Bulk(Some(a))).collect()));
            prop_assert_eq!(parse(&out), Ok(Some((expected, out.len()))));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_a_parsed_prefix_is_stable(
            bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'*'), Just(b'$'), Just(b'1'), Just(b'-')],
                0..200,
            ),
        ) {
            if let Ok(Some((value, taken))) = parse(&bytes) {
                prop_assert!(taken <= bytes.len());
                // What parsed whole was "read more" at every shorter length, and parses the same on its own.
                for cut in 0..taken {
                    prop_assert_eq!(parse(&bytes[..cut]), Ok(None));
                }
                prop_assert_eq!(parse(&bytes[..taken]), Ok(Some((value.clone(), taken))));
                let mut again = Vec::new();
                encode_value(&value, &mut again);
                prop_assert_eq!(parse(&again), Ok(Some((value, again.len()))));
            }
        }
    }
}
