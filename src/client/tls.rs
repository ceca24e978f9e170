//! The client's TLS: the handshake, done before the session starts so that a certificate that is not trusted
//! is one line and exit status 2; then one I/O thread that owns the TLS connection.
//!
//! Over plain TCP the reader thread reads the socket and the main thread writes to a clone of it: the kernel
//! keeps the two directions apart. rustls's `ClientConnection` is one state machine for both directions, and
//! a blocking read of the socket must hold it for as long as the server says nothing; a main thread wanting to
//! send would wait on that lock until the next line arrived. So the reader thread owns the connection outright
//! and does both: [`TlsIo`] is what it reads from, and inside that read it waits in a `mio::Poll` on the socket
//! and on a `mio::Waker`. The main thread's lines go to it over a bounded channel ([`TlsLines`]) and the waker
//! makes its poll return at once, so a line leaves without waiting for the server to speak. No timeouts, no
//! lock, and the reader thread's loop is the same for both transports.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};

use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection};

use crate::client::connect::CONNECT_TIMEOUT;

/// Lines the main thread may have queued for the I/O thread before sending waits, as a write to a full socket
/// would: a script piped in faster than the server reads is held back, not buffered without bound.
const QUEUED_LINES: usize = 64;
const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Readiness events taken per poll: one socket and one waker.
const EVENTS_PER_POLL: usize = 4;

/// Why the handshake failed.
#[derive(Debug)]
pub(crate) enum TlsFailure {
    /// The certificate does not chain to a trusted authority; `code` is rustls's name for why.
    Untrusted { code: String },
    /// The certificate is not issued for the host asked for.
    WrongName,
    /// The certificate was refused for another reason, as rustls words it.
    Refused { reason: String },
    /// The handshake broke before a certificate was judged (not a TLS port, an alert, the server closed).
    Handshake { reason: String },
    /// The server did not finish the handshake within [`CONNECT_TIMEOUT`].
    TimedOut,
    /// `host` cannot be a TLS server name.
    BadName { reason: String },
}

/// Does the whole handshake on `stream` (blocking, at most [`CONNECT_TIMEOUT`] per read or write), checking the
/// server's certificate against `config`'s roots and `host`.
pub(crate) fn handshake(
    mut stream: TcpStream,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<(ClientConnection, TcpStream), TlsFailure> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| TlsFailure::BadName { reason: e.to_string() })?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| TlsFailure::Handshake { reason: e.to_string() })?;
    let timeouts =
        stream.set_read_timeout(Some(CONNECT_TIMEOUT)).and_then(|()| stream.set_write_timeout(Some(CONNECT_TIMEOUT)));
    timeouts.map_err(|e| TlsFailure::Handshake { reason: e.to_string() })?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut stream) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(failure_of(&e)),
        }
    }
    Ok((conn, stream))
}

/// What a failed `complete_io` means for the user.
fn failure_of(e: &io::Error) -> TlsFailure {
    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        return TlsFailure::TimedOut;
    }
    let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::WrongName
            }
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnhandledCriticalExtension
            | CertificateError::InvalidPurpose => TlsFailure::Untrusted { code: format!("{cert:?}") },
            // webpki's refusal of a self-signed certificate that says it is a CA, given no --ca: untrusted, and
            // --ca is what fixes it (see trust::Trusted).
            CertificateError::Other(other) if other.to_string() == "CaUsedAsEndEntity" => {
                TlsFailure::Untrusted { code: other.to_string() }
            }
            other => TlsFailure::Refused { reason: other.to_string() },
        },
        Some(other) => TlsFailure::Handshake { reason: other.to_string() },
        None if e.kind() == ErrorKind::UnexpectedEof => {
            TlsFailure::Handshake { reason: "the server closed the connection".to_owned() }
        }
        None => TlsFailure::Handshake { reason: e.to_string() },
    }
}

/// The main thread's side: sends lines to the I/O thread and wakes it.
#[derive(Debug)]
pub(crate) struct TlsLines {
    lines: SyncSender<Vec<u8>>,
    waker: Arc<Waker>,
}

impl Write for TlsLines {
    /// Queues `buf` whole (the caller writes a whole batch of lines at once). Waits while the queue is full; fails
    /// with `BrokenPipe` once the I/O thread has ended with the connection.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let gone = || io::Error::new(ErrorKind::BrokenPipe, "the connection has ended");
        match self.lines.try_send(buf.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(line)) => {
                // The I/O thread is behind: make sure it is awake, then wait for room.
                self.waker.wake()?;
                self.lines.send(line).map_err(|_| gone())?;
            }
            Err(TrySendError::Disconnected(_)) => return Err(gone()),
        }
        self.waker.wake()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The I/O thread's side: the TLS connection and its socket. Reading it gives the server's plaintext; while
/// it waits for some, it also sends what the main thread queued.
pub(crate) struct TlsIo {
    conn: ClientConnection,
    socket: mio::net::TcpStream,
    poll: Poll,
    events: Events,
    /// The main thread's queue; `None` once a write has failed, so that its next line fails too (as a write to
    /// a broken socket does) while the server's last lines can still be read.
    lines: Option<Receiver<Vec<u8>>>,
    /// Plaintext taken from the queue that rustls has not taken yet (its send buffer was full).
    unsent: Vec<u8>,
    /// The socket may hold bytes not read yet: readiness is edge-triggered, so after stopping short of
    /// `WouldBlock` (rustls's plaintext buffer was full) the next read must try the socket before polling.
    socket_may_have_more: bool,
    /// Whether WRITABLE interest is registered.
    waiting_to_write: bool,
}

/// Sets up the I/O thread's side and the main thread's, once the handshake is done.
pub(crate) fn split(conn: ClientConnection, stream: TcpStream) -> io::Result<(TlsIo, TlsLines)> {
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    stream.set_nonblocking(true)?;
    let mut socket = mio::net::TcpStream::from_std(stream);
    let poll = Poll::new()?;
    poll.registry().register(&mut socket, SOCKET, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (sender, lines) = sync_channel(QUEUED_LINES);
    let io = TlsIo {
        conn,
        socket,
        poll,
        events: Events::with_capacity(EVENTS_PER_POLL),
        lines: Some(lines),
        unsent: Vec::new(),
        socket_may_have_more: true,
        waiting_to_write: false,
    };
    Ok((io, TlsLines { lines: sender, waker }))
}

impl Read for TlsIo {
    /// Plaintext from the server: `Ok(0)` once it has closed. Blocks until some arrives, sending queued lines
    /// meanwhile.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The server closed without close_notify: the end of the conversation all the same.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.socket_may_have_more {
                self.read_socket()?;
                self.send();
                continue;
            }
            self.wait()?;
        }
    }
}

impl TlsIo {
    /// Sleeps until the socket or the main thread has something, then does what there is to do.
    fn wait(&mut self) -> io::Result<()> {
        match self.poll.poll(&mut self.events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        if self.events.iter().any(|event| event.token() == SOCKET && (event.is_readable() || event.is_read_closed())) {
            self.socket_may_have_more = true;
        }
        if self.socket_may_have_more {
            self.read_socket()?;
        }
        self.send();
        Ok(())
    }

    /// Sends what is queued. A failed write ends sending only: what the server sent before it closed is still
    /// read and shown, and the main thread finds out at its next line.
    fn send(&mut self) {
        if self.lines.is_none() {
            return;
        }
        if let Err(e) = self.send_queued() {
            log::debug!("cannot send to the server: {e}");
            self.lines = None;
            self.unsent = Vec::new();
        }
    }

    /// Reads TLS bytes until the socket has no more or rustls wants no more for now, processing each batch.
    fn read_socket(&mut self) -> io::Result<()> {
        while self.conn.wants_read() {
            match self.conn.read_tls(&mut self.socket) {
                Ok(0) => {
                    self.socket_may_have_more = false;
                    break;
                }
                Ok(_) => {
                    self.conn.process_new_packets().map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.socket_may_have_more = false;
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Moves queued lines into rustls and its records into the socket, until one of them is full or nothing
    /// is left; then watches for room in the socket if records still wait.
    fn send_queued(&mut self) -> io::Result<()> {
        loop {
            self.write_socket()?;
            if self.conn.wants_write() {
                break;
            }
            if self.unsent.is_empty() {
                match self.lines.as_ref().map(Receiver::try_recv) {
                    Some(Ok(line)) => self.unsent = line,
                    // Disconnected: the main thread is ending the process; there is nothing more to send.
                    Some(Err(TryRecvError::Empty | TryRecvError::Disconnected)) | None => break,
                }
            }
            let taken = self.conn.writer().write(&self.unsent)?;
            self.unsent.drain(..taken);
            if taken == 0 {
                break;
            }
        }
        let must_wait = self.conn.wants_write();
        if must_wait != self.waiting_to_write {
            let interest = if must_wait { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            self.poll.registry().reregister(&mut self.socket, SOCKET, interest)?;
            self.waiting_to_write = must_wait;
        }
        Ok(())
    }

    /// Writes TLS records until none is left or the socket is full.
    fn write_socket(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
