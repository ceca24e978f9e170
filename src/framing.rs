//! Line framing: turns the byte stream of one connection into lines, LF or CRLF terminated, of bounded length.
//!
//! Complete lines are handed out as slices of the bytes just read, without copying; only an unfinished tail is
//! kept, so a connection between lines owns no buffer at all.

/// The longest line accepted, in bytes, not counting its terminator.
pub const MAX_LINE_BYTES: usize = 4096;

/// One framing result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line without its `\n` or `\r\n`. The bytes are not checked for UTF-8 here.
    Line(&'a [u8]),
    /// A line grew past the limit. It is reported once, as soon as it is known, and its bytes up to and
    /// including its terminator are dropped.
    TooLong,
}

/// Per-connection framing state.
#[derive(Debug)]
pub struct LineFramer {
    /// The unfinished line carried over from earlier reads.
    partial: Vec<u8>,
    /// Inside an over-long line: drop bytes until its terminator.
    discarding: bool,
    max_line_bytes: usize,
}

impl LineFramer {
    pub fn new(max_line_bytes: usize) -> LineFramer {
        LineFramer {
            partial: Vec::new(),
            discarding: false,
            max_line_bytes,
        }
    }

    /// Bytes held for an unfinished line.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Frames `input`, calling `each` for every line completed by it, in order.
    pub fn push(&mut self, mut input: &[u8], mut each: impl FnMut(Frame<'_>)) {
        while let Some(newline) = input.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&input[..newline], &input[newline + 1..]);
            input = rest;
            if self.discarding {
                self.discarding = false;
                continue;
            }
            if self.partial.is_empty() {
                each(self.check_length(strip_cr(head)));
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                each(self.check_length(strip_cr(&line)));
            }
        }
        self.keep_tail(input, &mut each);
    }

    fn check_length<'a>(&self, line: &'a [u8]) -> Frame<'a> {
        if line.len() > self.max_line_bytes {
            Frame::TooLong
        } else {
            Frame::Line(line)
        }
    }

    /// Keeps an unterminated tail, or starts discarding once it cannot be a valid line any more.
    fn keep_tail(&mut self, tail: &[u8], each: &mut impl FnMut(Frame<'_>)) {
        if self.discarding || tail.is_empty() {
            return;
        }
        // One byte of slack: the tail may end in the `\r` of a CRLF that completes a line of exactly the limit.
        if self.partial.len() + tail.len() > self.max_line_bytes + 1 {
            self.partial = Vec::new();
            self.discarding = true;
            each(Frame::TooLong);
        } else {
            self.partial.extend_from_slice(tail);
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut LineFramer, input: &[u8]) -> Vec<Result<Vec<u8>, ()>> {
        let mut out = Vec::new();
        framer.push(input, |frame| {
            out.push(match frame {
                Frame::Line(line) => Ok(line.to_vec()),
                Frame::TooLong => Err(()),
            })
        });
        out
    }

    fn line(s: &str) -> Result<Vec<u8>, ()> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn splits_lf_and_crlf_lines() {
        let mut framer = LineFramer::new(MAX_LINE_BYTES);
        assert_eq!(
            frames(&mut framer, b"one\ntwo\r\n\nthree"),
            vec![line("one"), line("two"), line("")]
        );
        assert_eq!(framer.buffered(), 5);
        assert_eq!(frames(&mut framer, b"\r"), vec![]);
        assert_eq!(frames(&mut framer, b"\n"), vec![line("three")]);
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn a_line_of_exactly_the_limit_passes_even_split_before_its_crlf() {
        let mut framer = LineFramer::new(4);
        assert_eq!(frames(&mut framer, b"abcd\r"), vec![]);
        assert_eq!(frames(&mut framer, b"\nabcd\n"), vec![line("abcd"), line("abcd")]);
    }

    #[test]
    fn an_over_long_line_is_reported_once_and_dropped_through_its_newline() {
        let mut framer = LineFramer::new(4);
        assert_eq!(frames(&mut framer, b"abcdef"), vec![Err(())]);
        assert_eq!(framer.buffered(), 0);
        assert_eq!(frames(&mut framer, b"ghijkl"), vec![]);
        assert_eq!(frames(&mut framer, b"mn\nok\n"), vec![line("ok")]);
        // Arriving whole, it is reported the same way.
        assert_eq!(frames(&mut framer, b"abcdefgh\nok\n"), vec![Err(()), line("ok")]);
    }
}
