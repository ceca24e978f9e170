//! Line framing: turns the byte stream of one connection into lines, LF or CRLF terminated, of bounded length.
//!
//! Complete lines are handed out as slices of the bytes just read, without copying; only an unfinished tail (or,
//! while the consumer has paused, the lines it has not taken yet) is kept, so a connection between lines owns no
//! buffer at all.

use std::ops::{ControlFlow, Range};

pub use crate::core::chat::MAX_LINE_BYTES;

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
    /// Bytes received but not yet framed: an unfinished line, or lines held back while the consumer paused.
    buffered: Vec<u8>,
    /// Whether `buffered` is only an unterminated tail (not lines held back by a pause), so it holds no `\n` and
    /// new input need not rescan it: a line arriving a byte at a time costs linear, not quadratic, time.
    buffered_is_tail: bool,
    /// Inside an over-long line: drop bytes until its terminator.
    discarding: bool,
    max_line_bytes: usize,
}

impl LineFramer {
    pub fn new(max_line_bytes: usize) -> LineFramer {
        LineFramer { buffered: Vec::new(), buffered_is_tail: false, discarding: false, max_line_bytes }
    }

    /// Bytes held for later.
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }

    /// The longest line this framer passes.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Whether lines refused by a paused consumer are waiting to be offered again.
    pub fn holds_lines(&self) -> bool {
        !self.buffered.is_empty() && !self.buffered_is_tail
    }

    /// Frames `input` after anything buffered, calling `each` for every frame in order. `each` returns
    /// `Break` to refuse a frame and pause: that frame and everything after it stay buffered, and a later
    /// `push` (with new input or none) offers them again. Returns `Break` if it paused.
    pub fn push(&mut self, input: &[u8], mut each: impl FnMut(Frame<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
        if self.buffered.is_empty() {
            let (used, flow) = self.frame_lines(input, 0, &mut each);
            let (keep, flow) = self.settle_rest(&input[used..], flow, &mut each);
            if keep {
                self.buffered = input[used..].to_vec();
            }
            self.buffered_is_tail = flow.is_continue();
            flow
        } else {
            let clean_prefix = if self.buffered_is_tail { self.buffered.len() } else { 0 };
            let mut data = std::mem::take(&mut self.buffered);
            data.extend_from_slice(input);
            let (used, flow) = self.frame_lines(&data, clean_prefix, &mut each);
            let (keep, flow) = self.settle_rest(&data[used..], flow, &mut each);
            self.buffered_is_tail = flow.is_continue();
            if keep {
                data.drain(..used);
                if data.capacity() > 4 * self.max_line_bytes {
                    data.shrink_to_fit();
                }
                self.buffered = data;
            }
            flow
        }
    }

    /// Hands out every complete line in `data`, whose first `clean_prefix` bytes are known to hold no `\n`;
    /// returns how many bytes were consumed.
    fn frame_lines(
        &mut self,
        data: &[u8],
        clean_prefix: usize,
        each: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> (usize, ControlFlow<()>) {
        let mut used = 0;
        let mut search_from = clean_prefix;
        while let Some(found) = memchr::memchr(b'\n', &data[search_from..]) {
            let newline = search_from + found - used;
            search_from = used + newline + 1;
            let line = &data[used..used + newline];
            if self.discarding {
                self.discarding = false;
            } else if each(self.check_length(strip_cr(line))).is_break() {
                return (used, ControlFlow::Break(()));
            }
            used += newline + 1;
        }
        (used, ControlFlow::Continue(()))
    }

    fn check_length<'a>(&self, line: &'a [u8]) -> Frame<'a> {
        if line.len() > self.max_line_bytes { Frame::TooLong } else { Frame::Line(line) }
    }

    /// Decides whether the unframed rest is kept: all of it when paused, else an unterminated tail that can
    /// still become a valid line. A tail past the limit is reported and dropped at once, so it never grows.
    fn settle_rest(
        &mut self,
        rest: &[u8],
        flow: ControlFlow<()>,
        each: &mut impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> (bool, ControlFlow<()>) {
        if flow.is_break() {
            return (true, flow);
        }
        if self.discarding || rest.is_empty() {
            return (false, flow);
        }
        // One byte of slack: the tail may end in the `\r` of a CRLF that completes a line of exactly the limit.
        if rest.len() > self.max_line_bytes + 1 {
            if each(Frame::TooLong).is_break() {
                return (true, ControlFlow::Break(()));
            }
            self.discarding = true;
            return (false, flow);
        }
        (true, flow)
    }
}

/// Frames from one connection's input, waiting to be handed to the chat core one by one. The loop owns one and
/// reuses it for every connection, so once it has grown to the largest batch, framing allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct LineBatch {
    /// The lines' bytes, back to back.
    bytes: Vec<u8>,
    /// Each frame: a line's range in `bytes`, or `None` for [`Frame::TooLong`].
    frames: Vec<Option<Range<usize>>>,
}

impl LineBatch {
    pub(crate) fn push(&mut self, frame: Frame<'_>) {
        match frame {
            Frame::Line(line) => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(line);
                self.frames.push(Some(start..self.bytes.len()));
            }
            Frame::TooLong => self.frames.push(None),
        }
    }

    /// The frames in the order they arrived.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Frame<'_>> {
        self.frames.iter().map(|frame| match frame {
            Some(range) => Frame::Line(&self.bytes[range.clone()]),
            None => Frame::TooLong,
        })
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
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
        let _ = framer.push(input, |frame| {
            out.push(match frame {
                Frame::Line(line) => Ok(line.to_vec()),
                Frame::TooLong => Err(()),
            });
            ControlFlow::Continue(())
        });
        out
    }

    fn line(s: &str) -> Result<Vec<u8>, ()> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn splits_lf_and_crlf_lines() {
        let mut framer = LineFramer::new(MAX_LINE_BYTES);
        assert_eq!(frames(&mut framer, b"one\ntwo\r\n\nthree"), vec![line("one"), line("two"), line("")]);
        assert_eq!(framer.buffered(), 5);
        assert_eq!(frames(&mut framer, b"\r"), vec![]);
        assert_eq!(frames(&mut framer, b"\n"), vec![line("three")]);
        assert_eq!(framer.buffered(), 0);
        assert_eq!(framer.buffered.capacity(), 0, "no buffer is held between lines");
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

    #[test]
    fn a_batch_gives_back_its_frames_in_order() {
        let mut batch = LineBatch::default();
        batch.push(Frame::Line(b"one"));
        batch.push(Frame::TooLong);
        batch.push(Frame::Line(b""));
        batch.push(Frame::Line(b"three"));
        let frames: Vec<Frame<'_>> = batch.iter().collect();
        assert_eq!(frames, vec![Frame::Line(b"one"), Frame::TooLong, Frame::Line(b""), Frame::Line(b"three")]);
        batch.clear();
        assert_eq!(batch.iter().count(), 0);
    }

    #[test]
    fn a_refused_line_stays_buffered_until_offered_again() {
        let mut framer = LineFramer::new(MAX_LINE_BYTES);
        let mut taken = Vec::new();
        let flow = framer.push(b"one\ntwo\nthr", |frame| {
            if taken.len() == 1 {
                return ControlFlow::Break(());
            }
            taken.push(format!("{frame:?}"));
            ControlFlow::Continue(())
        });
        assert!(flow.is_break());
        assert!(framer.holds_lines());
        assert_eq!(taken.len(), 1);
        assert_eq!(framer.buffered(), b"two\nthr".len());
        assert_eq!(frames(&mut framer, b""), vec![line("two")]);
        assert_eq!(frames(&mut framer, b"ee\n"), vec![line("three")]);
    }
}
