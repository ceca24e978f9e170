//! A connection's output queue: shared payloads waiting to be written, flushed with vectored writes.
//!
//! Payloads are reference-counted, so a broadcast sits once in memory however many queues hold it, and
//! everything queued for a connection during one loop iteration leaves in one `writev` where the kernel takes it.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use crate::core::chat::Payload;

/// The most slices handed to one `writev` (Linux's IOV_MAX is 1024; a few dozen already fill a socket buffer).
const MAX_SLICES_PER_WRITE: usize = 64;

#[derive(Debug, Default)]
pub struct OutputQueue {
    /// The oldest payload. Held inline: a connection usually has one payload pending at a time, which then needs
    /// no allocation, and a drained queue holds no memory at all.
    front: Option<Payload>,
    /// Payloads after `front`; empty whenever `front` is.
    rest: VecDeque<Payload>,
    /// Bytes of the front chunk already written.
    front_written: usize,
    /// Bytes queued and not yet written.
    queued: usize,
}

/// How a flush ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything queued was written.
    Done,
    /// The socket buffer is full; wait for writability.
    Blocked,
    /// Nothing written: the transport is not ready for output yet (a TLS handshake is under way, which reads
    /// drive); the output waits for it.
    Waiting,
}

impl OutputQueue {
    pub fn push(&mut self, payload: Payload) {
        if payload.is_empty() {
            return;
        }
        self.queued += payload.len();
        if self.front.is_none() {
            self.front = Some(payload);
        } else {
            self.rest.push_back(payload);
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Writes until the queue is empty or the writer would block.
    pub fn flush_to(&mut self, writer: &mut impl Write) -> io::Result<Flush> {
        while self.front.is_some() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES_PER_WRITE];
            let count = self.fill_slices(&mut slices);
            let written = match writer.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        // An idle connection holds no output memory; a burst's ring is given back once it has drained.
        if self.rest.capacity() > 0 {
            self.rest = VecDeque::new();
        }
        Ok(Flush::Done)
    }

    /// Points `slices` at the queued bytes, front first; returns how many it filled.
    fn fill_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for (slot, chunk) in slices.iter_mut().zip(self.front.iter().chain(&self.rest)) {
            let start = if count == 0 { self.front_written } else { 0 };
            *slot = IoSlice::new(&chunk[start..]);
            count += 1;
        }
        count
    }

    fn consume(&mut self, mut written: usize) {
        self.queued -= written;
        while let Some(front) = &self.front {
            let left = front.len() - self.front_written;
            if written < left {
                self.front_written += written;
                return;
            }
            written -= left;
            self.front_written = 0;
            self.front = self.rest.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// A writer that takes at most `room` bytes, then would block.
    struct Trickle {
        taken: Vec<u8>,
        room: usize,
        max_per_call: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room).min(self.max_per_call);
            self.taken.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut queue = OutputQueue::default();
        queue.push(Rc::from(&b"hello\n"[..]));
        queue.push(Rc::from(&b"world\n"[..]));
        let mut sink = Trickle { taken: Vec::new(), room: 8, max_per_call: 3 };
        assert_eq!(queue.flush_to(&mut sink).expect("flush"), Flush::Blocked);
        assert_eq!(queue.queued_bytes(), 4);
        sink.room = 100;
        assert_eq!(queue.flush_to(&mut sink).expect("flush"), Flush::Done);
        assert_eq!(sink.taken, b"hello\nworld\n");
        assert!(queue.is_empty());
    }

    #[test]
    fn many_chunks_leave_in_vectored_writes() {
        let mut queue = OutputQueue::default();
        let line: Payload = Rc::from(&b"x\n"[..]);
        for _ in 0..200 {
            queue.push(Rc::clone(&line));
        }
        let mut out = Vec::new();
        assert_eq!(queue.flush_to(&mut out).expect("flush"), Flush::Done);
        assert_eq!(out.len(), 400);
        assert!(queue.front.is_none());
        assert_eq!(queue.rest.capacity(), 0, "a drained queue holds no memory");
    }
}
