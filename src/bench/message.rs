//! The text of one benchmark message: `SEQ NANOS xxxx…`, a per-sender sequence number and a send time, padded
//! with `x` to the requested size.
//!
//! The sender is not in the text: receivers learn it from the name the server puts in front of the text.
//! `NANOS` counts from the run's shared origin, so any tool thread can compute a delivery's latency.

use std::io::Write as _;

/// The longest header: a `u32` sequence number, a space and a `u64` timestamp.
pub(crate) const MAX_HEADER_BYTES: usize = 10 + 1 + 20;

/// The smallest `--size` accepted: room for any header.
pub(crate) const MIN_SIZE: usize = MAX_HEADER_BYTES;

/// What a received text carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) seq: u32,
    /// When the message was sent (closed loop) or meant to be sent (fixed rate), in ns from the run's origin.
    pub(crate) sent_ns: u64,
}

/// Appends the text for `stamp`, `size` bytes long (or the bare header, if that is longer).
pub(crate) fn write_text(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    let start = out.len();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{} {}", stamp.seq, stamp.sent_ns);
    let header = out.len() - start;
    // A lone trailing space could be trimmed by the server; pad only when a space and an `x` both fit.
    if size >= header + 2 {
        out.push(b' ');
        out.resize(start + size, b'x');
    }
}

/// Reads the stamp at the start of a received text; `None` for any other text.
pub(crate) fn parse_text(text: &[u8]) -> Option<Stamp> {
    let mut fields = text.splitn(3, |&b| b == b' ');
    let seq = parse_digits(fields.next()?)?;
    let sent_ns = parse_digits(fields.next()?)?;
    Some(Stamp { seq: u32::try_from(seq).ok()?, sent_ns })
}

/// A non-empty run of ASCII digits as a number; `None` on anything else or on overflow.
pub(crate) fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() { acc.checked_mul(10)?.checked_add(u64::from(b - b'0')) } else { None }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_have_the_requested_size_and_round_trip() {
        let stamp = Stamp { seq: 42, sent_ns: 1_234_567_890 };
        let mut out = b"PRIVMSG #c :".to_vec();
        write_text(&mut out, stamp, 64);
        assert_eq!(out.len(), 12 + 64);
        assert!(out.ends_with(b"x"));
        assert_eq!(parse_text(&out[12..]), Some(stamp));
    }

    #[test]
    fn a_size_below_the_header_gives_the_bare_header() {
        let stamp = Stamp { seq: u32::MAX, sent_ns: u64::MAX };
        let mut out = Vec::new();
        write_text(&mut out, stamp, 1);
        assert_eq!(out.len(), MAX_HEADER_BYTES);
        assert_eq!(parse_text(&out), Some(stamp));
    }

    #[test]
    fn other_texts_are_not_stamps() {
        assert_eq!(parse_text(b"hello world"), None);
        assert_eq!(parse_text(b"12"), None);
        assert_eq!(parse_text(b"99999999999 1 x"), None, "sequence past u32");
        assert_eq!(parse_digits(b""), None);
        assert_eq!(parse_digits(b"18446744073709551616"), None, "past u64");
    }
}
