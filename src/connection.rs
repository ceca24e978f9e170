//! One client connection as the event loop holds it: the socket, its partial input line, its pending output,
//! and where it is in its life.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::flood::TokenBucket;
use crate::framing::LineFramer;
use crate::output::{Flush, OutputQueue};

/// The most bytes read and thrown away after our goodbye, so the final close is a clean FIN rather than a
/// reset that could destroy the goodbye in flight.
const DRAIN_AFTER_CLOSE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Lines are read and handed to the chat core.
    Open,
    /// Nothing more is read; the connection closes once its output has been written.
    Closing,
    /// Waiting to be removed from the table at the end of this loop iteration.
    Dead,
}

#[derive(Debug)]
pub struct Connection {
    pub socket: TcpStream,
    pub peer: SocketAddr,
    pub framer: LineFramer,
    pub output: OutputQueue,
    pub phase: Phase,
    /// Distinguishes this connection from a later one that reuses its table key.
    pub serial: u64,
    /// Lines this client may still send before it is throttled.
    pub bucket: TokenBucket,
    /// Not read until its bucket refills; the loop holds a timer for it.
    pub throttled: bool,
    /// Whether WRITABLE interest is registered: only while output is waiting for room in the socket buffer.
    wants_write: bool,
}

impl Connection {
    pub fn new(
        socket: TcpStream,
        peer: SocketAddr,
        framer: LineFramer,
        bucket: TokenBucket,
        serial: u64,
    ) -> Connection {
        Connection {
            socket,
            peer,
            framer,
            output: OutputQueue::default(),
            phase: Phase::Open,
            serial,
            bucket,
            throttled: false,
            wants_write: false,
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.socket, token, Interest::READABLE)
    }

    /// Whether a flush now could make progress (otherwise a WRITABLE event will say when).
    pub fn waiting_for_room(&self) -> bool {
        self.wants_write
    }

    /// Writes pending output until done or blocked, and keeps WRITABLE interest registered exactly while
    /// output is blocked.
    pub fn flush(&mut self, registry: &Registry, token: Token) -> io::Result<Flush> {
        let flushed = self.output.flush_to(&mut self.socket)?;
        let wants_write = flushed == Flush::Blocked;
        if wants_write != self.wants_write {
            let interest = if wants_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(&mut self.socket, token, interest)?;
            self.wants_write = wants_write;
        }
        Ok(flushed)
    }

    /// Ends our side after the last output: FIN to the peer, then reads whatever it still sent so that
    /// dropping the socket does not answer unread input with a reset.
    pub fn finish_close(&mut self) {
        // The peer may already be gone; either way the socket is about to be dropped.
        let _ = self.socket.shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < DRAIN_AFTER_CLOSE_BYTES {
            match self.socket.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    }
}
