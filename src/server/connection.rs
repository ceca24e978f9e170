//! One client connection and all of its I/O: its transport, the framing and flood control of what it sends,
//! the queue of what it is sent, and where it is in its life.
//!
//! Nothing outside this file touches a connection's socket or buffers. The event loop asks it to
//! [`Connection::read_lines`] (lines go into a batch for the core) and to [`Connection::flush`] what was queued;
//! the connection table decides when it closes.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::Instant;

use mio::{Interest, Registry, Token};

use crate::core::chat::Payload;
use crate::server::flood::{FloodLimit, TokenBucket};
use crate::server::framing::{LineBatch, LineFramer};
use crate::server::output::{Flush, OutputQueue};
use crate::server::transport::Transport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Lines are read and handed to the chat core.
    Open,
    /// Nothing more is read; the connection closes once its output has been written.
    Closing,
    /// Our side is shut (FIN sent after the last output); what the peer still sends is read and thrown away
    /// until it closes too, so that its late input cannot make the kernel answer with a reset that would destroy
    /// output it has not read yet.
    Lingering,
    /// Waiting to be removed from the table at the end of this loop iteration.
    Dead,
}

/// How a [`Connection::read_lines`] call ended.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// Everything the kernel held was read: the next readiness event says when there is more.
    Drained,
    /// The read budget ran out with more perhaps waiting: read again before the loop sleeps.
    BudgetSpent,
    /// The flood bucket ran dry: not read again until this moment.
    Throttled(Instant),
    /// The peer closed its sending side.
    PeerClosed,
    /// The connection is broken.
    Failed(io::Error),
    /// Not read: it is closing, dead, or throttled.
    NotReading,
}

#[derive(Debug)]
pub(crate) struct Connection {
    transport: Transport,
    peer: SocketAddr,
    framer: LineFramer,
    /// Lines this client may still send before it is throttled.
    bucket: TokenBucket,
    output: OutputQueue,
    phase: Phase,
    /// Not read until its bucket refills; the loop holds a timer for it.
    throttled: bool,
    /// Whether WRITABLE interest is registered: only while output is waiting for room in the socket buffer.
    wants_write: bool,
    /// Whether it still counts against its address's connection cap (until its session is over).
    holds_address_slot: bool,
}

impl Connection {
    pub(crate) fn new(transport: Transport, peer: SocketAddr, max_line_bytes: usize, bucket: TokenBucket) -> Self {
        Connection {
            transport,
            peer,
            framer: LineFramer::new(max_line_bytes),
            bucket,
            output: OutputQueue::default(),
            phase: Phase::Open,
            throttled: false,
            wants_write: false,
            holds_address_slot: true,
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether its lines are still read and handed to the core.
    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.phase == Phase::Closing
    }

    /// Stops counting against its address's cap; true the first time only, so the slot is given back once.
    pub(crate) fn release_address_slot(&mut self) -> bool {
        std::mem::replace(&mut self.holds_address_slot, false)
    }

    pub(crate) fn is_lingering(&self) -> bool {
        self.phase == Phase::Lingering
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.phase == Phase::Dead
    }

    /// Stops reading; the connection ends once its output is written. False if it was not open.
    pub(crate) fn begin_closing(&mut self) -> bool {
        let was_open = self.phase == Phase::Open;
        if was_open {
            self.phase = Phase::Closing;
        }
        was_open
    }

    /// Nothing more is read or written. False if it was already dead.
    pub(crate) fn mark_dead(&mut self) -> bool {
        let was_alive = self.phase != Phase::Dead;
        self.phase = Phase::Dead;
        was_alive
    }

    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.transport.register(registry, token, Interest::READABLE)
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.transport.deregister(registry)
    }

    /// Reads what the peer sent, until the kernel has no more, `budget` bytes have been read, or the flood
    /// bucket runs dry, and frames it: every line it may send now goes into `batch`, in order. Lines held back
    /// by an earlier throttle go first. `scratch` is the loop's shared read buffer.
    pub(crate) fn read_lines(
        &mut self,
        scratch: &mut [u8],
        batch: &mut LineBatch,
        flood: FloodLimit,
        budget: usize,
        now: Instant,
    ) -> ReadOutcome {
        if self.phase != Phase::Open || self.throttled {
            return ReadOutcome::NotReading;
        }
        if self.framer.holds_lines() && self.frame(&[], batch, flood, now).is_break() {
            return self.throttle(flood);
        }
        let mut budget = budget;
        loop {
            let want = self.read_size(flood).min(budget).min(scratch.len());
            let read = match self.transport.read(&mut scratch[..want]) {
                Ok(0) => return self.end_of_input(batch, flood, now),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return ReadOutcome::Failed(e),
            };
            if self.frame(&scratch[..read], batch, flood, now).is_break() {
                return self.throttle(flood);
            }
            budget = budget.saturating_sub(read);
            if budget == 0 {
                return ReadOutcome::BudgetSpent;
            }
        }
    }

    /// How much to read at once. Under flood control, no more than the framer can hold as one line: a client
    /// that runs out of tokens then holds at most a line's worth of unread input here, and the rest waits in the
    /// kernel, where TCP slows its sender. Without flood control, as much as fits.
    fn read_size(&self, flood: FloodLimit) -> usize {
        if !flood.enabled() {
            return usize::MAX;
        }
        (self.framer.max_line_bytes() + 2).saturating_sub(self.framer.buffered()).max(1)
    }

    /// The peer closed its sending side. An unterminated last line still counts (as `nc` users who type a line
    /// and press Ctrl+D expect); the close is reported once it has been handed over.
    fn end_of_input(&mut self, batch: &mut LineBatch, flood: FloodLimit, now: Instant) -> ReadOutcome {
        if self.framer.buffered() > 0 && self.frame(b"\n", batch, flood, now).is_break() {
            // Read again once unthrottled: the end of the stream is still there.
            return self.throttle(flood);
        }
        ReadOutcome::PeerClosed
    }

    /// Lets a throttled connection be read again (its bucket has refilled).
    pub(crate) fn unthrottle(&mut self) {
        self.throttled = false;
    }

    /// Frames `input` after what the framer holds; each line takes a token, and `Break` means the bucket ran
    /// dry with that line and those after it still held.
    fn frame(&mut self, input: &[u8], batch: &mut LineBatch, flood: FloodLimit, now: Instant) -> ControlFlow<()> {
        let bucket = &mut self.bucket;
        self.framer.push(input, |frame| {
            if !bucket.try_take(flood, now) {
                return ControlFlow::Break(());
            }
            batch.push(frame);
            ControlFlow::Continue(())
        })
    }

    /// Stops reading until the bucket has a token again. The unread lines wait in the framer and in the
    /// kernel, and TCP flow control slows the sender down.
    fn throttle(&mut self, flood: FloodLimit) -> ReadOutcome {
        self.throttled = true;
        ReadOutcome::Throttled(self.bucket.next_token_at(flood))
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.output.queued_bytes()
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// Adds a payload to the output queue; [`Connection::flush`] writes it.
    pub(crate) fn queue(&mut self, payload: &Payload) {
        self.output.push(payload.clone());
    }

    /// Whether a flush now could make progress (otherwise a WRITABLE event will say when).
    pub(crate) fn waiting_for_room(&self) -> bool {
        self.wants_write
    }

    /// Whether the loop should flush this connection now: its transport has bytes of its own to send (a TLS
    /// handshake), or output waited for a handshake that is now done.
    pub(crate) fn needs_flush(&self) -> bool {
        self.transport.has_pending_output()
            || (self.has_output() && !self.wants_write && self.transport.ready_for_output())
    }

    /// Writes pending output until done or blocked, and keeps WRITABLE interest registered exactly while bytes
    /// wait for room in the socket.
    pub(crate) fn flush(&mut self, registry: &Registry, token: Token) -> io::Result<Flush> {
        let flushed = if !self.transport.flush_pending()? {
            Flush::Blocked
        } else if !self.transport.ready_for_output() {
            Flush::Waiting
        } else {
            self.output.flush_to(&mut self.transport)?
        };
        let wants_write = flushed == Flush::Blocked || self.transport.has_pending_output();
        if wants_write != self.wants_write {
            let interest = if wants_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            self.transport.reregister(registry, token, interest)?;
            self.wants_write = wants_write;
        }
        Ok(flushed)
    }

    /// Ends our side after the last output: FIN to the peer, then lingers (see [`Phase::Lingering`]). Returns
    /// true once the connection can be dropped: the peer has closed too, or the socket failed.
    pub(crate) fn begin_lingering(&mut self) -> bool {
        self.phase = Phase::Lingering;
        if self.transport.shutdown_write().is_err() {
            return true;
        }
        self.discard_input()
    }

    /// Reads and throws away what a lingering connection's peer sent; true once it has closed (or failed).
    pub(crate) fn discard_input(&mut self) -> bool {
        let mut sink = [0u8; 4096];
        loop {
            match self.transport.read(&mut sink) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}
