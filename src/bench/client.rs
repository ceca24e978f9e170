//! One simulated user: its socket (and TLS session, with `--tls`), where it is in its login, its unsent output
//! and unfinished input line, and what it has received from each sender; with `--ws`, the WebSocket its lines
//! travel in.

use std::io::{self, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use rustls::ClientConnection;

use crate::bench::websocket::{self, Link};

/// The longest unfinished input line kept; a server sending more without a newline is misbehaving.
pub(crate) const MAX_PARTIAL_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Not opened yet (waiting for a concurrency slot).
    Idle,
    /// TCP connect under way.
    Connecting,
    /// `--tls`: connected, TLS handshake under way.
    Handshaking,
    /// Connected, waiting for the name prompt or for registration.
    LoggingIn,
    /// IRC only: registered, JOIN sent, waiting for the end of NAMES.
    Joining,
    /// In the room.
    InRoom,
    /// Closed, by failure or at the end.
    Closed,
}

pub(crate) struct Client {
    /// The global index: the `i` in `bench-<pid>-<i>`.
    pub(crate) index: usize,
    /// The room it joins (`--rooms`): `index % rooms`, kept so that a delivery costs no division.
    pub(crate) room: usize,
    pub(crate) socket: Option<TcpStream>,
    /// `--tls`: the session over `socket`, from the TCP connect on. Boxed: rustls's state is large, and a plain
    /// run should not carry room for it in every client.
    pub(crate) tls: Option<Box<ClientConnection>>,
    pub(crate) state: State,
    /// When connecting started, in ns from the run's origin.
    pub(crate) started_ns: u64,
    /// Unsent bytes, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// The unfinished last line of what was read.
    pub(crate) partial: Vec<u8>,
    /// Whether this client was in the room when the run started: only those count as receivers.
    pub(crate) receiver: bool,
    /// Deliveries of this run's messages.
    pub(crate) received: u64,
    /// Per sender, the sequence number expected next (one past the highest seen).
    pub(crate) next_seq: Vec<u32>,
    /// `--ws`: the WebSocket that frames this client's lines; `None` over plain TCP.
    pub(crate) link: Option<Box<Link>>,
}

impl Client {
    pub(crate) fn new(index: usize, room: usize) -> Client {
        Client {
            index,
            room,
            socket: None,
            tls: None,
            state: State::Idle,
            started_ns: 0,
            out: Vec::new(),
            out_pos: 0,
            partial: Vec::new(),
            receiver: false,
            received: 0,
            next_seq: Vec::new(),
            link: None,
        }
    }

    /// `--ws`, once connected: the upgrade request goes first, and from then on lines travel as frames.
    pub(crate) fn open_websocket(&mut self, target: SocketAddr) {
        websocket::upgrade_request(target, &mut self.out);
        self.link = Some(Box::new(Link::new(self.index as u32)));
    }

    /// Whether the client is connecting or logging in (it holds a concurrency slot).
    pub(crate) fn in_flight(&self) -> bool {
        matches!(self.state, State::Connecting | State::Handshaking | State::LoggingIn | State::Joining)
    }

    /// Lines to send; call [`Client::flush`] to send them.
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        match self.link.as_mut() {
            Some(link) => link.staged(),
            None => &mut self.out,
        }
    }

    /// The WebSocket, if any, and the bytes for the socket: what a read from the server needs to answer.
    pub(crate) fn link_and_wire(&mut self) -> Option<(&mut Link, &mut Vec<u8>)> {
        self.link.as_deref_mut().map(|link| (link, &mut self.out))
    }

    /// Writes pending output until done or the socket is full (a WRITABLE event then says when to go on).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(link) = self.link.as_mut() {
            link.frame_staged(&mut self.out);
        }
        let Some(socket) = self.socket.as_mut() else {
            return Ok(());
        };
        if let Some(tls) = self.tls.as_mut() {
            return flush_tls(tls, socket, &mut self.out, &mut self.out_pos);
        }
        while self.out_pos < self.out.len() {
            match socket.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Drops the socket; the client takes no more part in the run.
    pub(crate) fn close(&mut self) {
        self.socket = None;
        self.tls = None;
        self.state = State::Closed;
        self.out = Vec::new();
        self.out_pos = 0;
        self.partial = Vec::new();
        self.link = None;
    }
}

/// TLS: hands the pending plaintext to rustls (which encrypts it, or holds it until the handshake is done) and
/// writes its records until none is left or the socket is full.
fn flush_tls(
    tls: &mut ClientConnection,
    socket: &mut TcpStream,
    out: &mut Vec<u8>,
    out_pos: &mut usize,
) -> io::Result<()> {
    loop {
        while tls.wants_write() {
            match tls.write_tls(socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if *out_pos == out.len() {
            break;
        }
        // rustls takes what fits in its send buffer; the records are written above, then the rest.
        match tls.writer().write(&out[*out_pos..])? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            taken => *out_pos += taken,
        }
    }
    out.clear();
    *out_pos = 0;
    Ok(())
}
