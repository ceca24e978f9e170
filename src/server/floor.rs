//! `charla-bench floor-server`: the least work a single-threaded broadcast server can do, as a yardstick.
//!
//! It speaks just enough of Charla's protocol for `fanout` (asks for a name, welcomes it, relays every later
//! line to everyone named) through the same I/O as `charla-server`: one mio loop, edge-triggered reads into one
//! scratch buffer, Charla's line framer, shared payloads, and one vectored write per connection per loop turn.
//! It has none of the chat: no commands, name checks, history, timestamps, limits or flood control. Measured
//! with the same tool in the same run, Charla's figures beside this one's show what the chat costs, and this
//! one's show what the machine allows any single-threaded server.
//!
//! It is not a chat server: `/quit` is its only command, a client whose output backs up past a limit is
//! dropped, and nothing is logged.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::core::chat::{MAX_LINE_BYTES, Payload};
use crate::error::Context;
use crate::server::config::DEFAULT_MAX_QUEUE_BYTES;
use crate::server::connection::{Connection, ReadOutcome};
use crate::server::event_loop::{EVENTS_PER_POLL, READ_CHUNK_BYTES};
use crate::server::flood::{FloodLimit, TokenBucket};
use crate::server::framing::{Frame, LineBatch};
use crate::server::output::Flush;
use crate::server::transport::Transport;

const LISTENER: Token = Token(usize::MAX);
/// What every relayed line starts with, where Charla's shows the local time.
const STAMP: &[u8] = b"[00:00] ";
/// No flood control: the floor measures I/O, not policy.
const UNLIMITED: FloodLimit = FloodLimit { rate: 0, burst: 0 };

struct Client {
    /// Charla's connection: its transport, framer and output queue, driven as the server drives them.
    conn: Connection,
    /// `None` until the first line, which is the name.
    name: Option<Rc<[u8]>>,
    /// In `Floor::dirty` this loop turn.
    dirty: bool,
}

struct Floor {
    poll: Poll,
    listener: TcpListener,
    clients: Slab<Client>,
    /// Named clients, the recipients of every relayed line.
    members: Vec<usize>,
    /// Clients with output queued this loop turn, flushed once each after the events are handled.
    dirty: Vec<usize>,
    scratch: Box<[u8]>,
    batch: LineBatch,
}

/// Serves on `listen` until the process is stopped; prints `Floor server listening on ADDR` once ready.
pub fn serve(listen: SocketAddr) -> io::Result<Infallible> {
    let poll = Poll::new().context("cannot create the poll instance")?;
    let mut listener = TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("Floor server listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let mut floor = Floor {
        poll,
        listener,
        clients: Slab::new(),
        members: Vec::new(),
        dirty: Vec::new(),
        scratch: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
        batch: LineBatch::default(),
    };
    let mut events = Events::with_capacity(EVENTS_PER_POLL);
    loop {
        if let Err(e) = floor.poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll failed");
        }
        for event in &events {
            match event.token() {
                LISTENER => floor.accept_all(),
                Token(key) => {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        floor.read_from(key);
                    }
                    if event.is_writable() {
                        floor.mark_dirty(key);
                    }
                }
            }
        }
        floor.flush_dirty();
    }
}

impl Floor {
    fn accept_all(&mut self) {
        loop {
            let (socket, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Out of descriptors, or a connection reset before it was accepted: try again on the next event.
                Err(_) => return,
            };
            if socket.set_nodelay(true).is_err() {
                continue;
            }
            let entry = self.clients.vacant_entry();
            let key = entry.key();
            let bucket = TokenBucket::new(UNLIMITED, Instant::now());
            let mut conn = Connection::new(Transport::Tcp(socket), peer, MAX_LINE_BYTES, bucket);
            if conn.register(self.poll.registry(), Token(key)).is_err() {
                continue;
            }
            conn.queue(&Payload::from(&b"USERNAME:\n"[..]));
            entry.insert(Client { conn, name: None, dirty: false });
            self.mark_dirty(key);
        }
    }

    fn read_from(&mut self, key: usize) {
        let Some(client) = self.clients.get_mut(key) else { return };
        let outcome = client.conn.read_lines(&mut self.scratch, &mut self.batch, UNLIMITED, usize::MAX, Instant::now());
        let batch = std::mem::take(&mut self.batch);
        for frame in batch.iter() {
            if let Frame::Line(line) = frame {
                self.on_line(key, line);
            }
        }
        self.batch = batch;
        self.batch.clear();
        if matches!(outcome, ReadOutcome::PeerClosed | ReadOutcome::Failed(_)) {
            self.drop_client(key);
        }
    }

    /// The first line names the client; every later one goes to everyone named, the sender included.
    fn on_line(&mut self, key: usize, line: &[u8]) {
        let Some(client) = self.clients.get_mut(key) else { return };
        let Some(name) = client.name.clone() else {
            client.name = Some(Rc::from(line));
            client.conn.queue(&Payload::from([b"Welcome ", line, b"!\n"].concat()));
            self.members.push(key);
            return self.mark_dirty(key);
        };
        if line.starts_with(b"/quit") {
            return self.drop_client(key);
        }
        let payload = Payload::from([STAMP, &name, b": ", line, b"\n"].concat());
        for &recipient in &self.members {
            let member = &mut self.clients[recipient];
            member.conn.queue(&payload);
            if !member.dirty {
                member.dirty = true;
                self.dirty.push(recipient);
            }
        }
    }

    fn mark_dirty(&mut self, key: usize) {
        if let Some(client) = self.clients.get_mut(key).filter(|c| !c.dirty) {
            client.dirty = true;
            self.dirty.push(key);
        }
    }

    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for key in dirty.drain(..) {
            let Some(client) = self.clients.get_mut(key) else { continue };
            client.dirty = false;
            let give_up = match client.conn.flush(self.poll.registry(), Token(key)) {
                Ok(Flush::Done | Flush::Waiting) => false,
                Ok(Flush::Blocked) => client.conn.queued_bytes() > DEFAULT_MAX_QUEUE_BYTES,
                Err(_) => true,
            };
            if give_up {
                self.drop_client(key);
            }
        }
        self.dirty = dirty;
    }

    fn drop_client(&mut self, key: usize) {
        if let Some(mut client) = self.clients.try_remove(key) {
            let _ = client.conn.deregister(self.poll.registry());
            if client.name.is_some() {
                self.members.retain(|&member| member != key);
            }
        }
    }
}
