//! TLS as a transport: rustls's unbuffered server connection, driven by the event loop like any socket.
//!
//! rustls does no I/O (as the core does none): TLS bytes read from the socket go in, plaintext lines come out
//! for the framer; the output queue's plaintext goes in, TLS records come out for the socket. The unbuffered
//! API lets Charla own every buffer, so an idle connection holds none: what is read is decrypted and handed
//! over at once, what is encrypted is written at once, and a buffer is kept only for the bytes a socket did not
//! take or a record that has not fully arrived. That is what keeps an idle TLS user to a few KiB (rustls's
//! buffered API keeps its buffers, some 20 KiB a connection).
//!
//! The certificate is loaded at start-up and again on SIGHUP ([`TlsCertificate::load`]): new connections get
//! the new one, existing ones carry on with theirs.

use std::io::{self, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{AppDataRecord, ConnectionState, EncryptError, InsufficientSizeError, UnbufferedStatus};

/// The thread's buffer for TLS bytes on their way in: room for the largest record TLS allows (16 KiB of
/// plaintext and up to 2 KiB of overhead) twice over. Connections borrow it in turn, so an idle one holds none.
const CIPHERTEXT_BYTES: usize = 36 * 1024;

thread_local! {
    static CIPHERTEXT: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; CIPHERTEXT_BYTES].into_boxed_slice());
}

/// The thread's buffers for TLS bytes on their way out: plaintext gathered from the output queue and the
/// record sealed from it, written to the socket straight from here.
struct Scratch {
    plaintext: Vec<u8>,
    sealed: Vec<u8>,
}

/// Room for one record's plaintext with its header, content type, padding and tag.
const SEALED_BYTES: usize = ENCRYPT_PLAINTEXT_BYTES + 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        plaintext: Vec::with_capacity(ENCRYPT_PLAINTEXT_BYTES),
        sealed: vec![0; SEALED_BYTES],
    });
}

/// Writes as much of `bytes` as the socket takes now; the count written.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        match stream.write(&bytes[sent..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes")),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// `read_records` turns "need input" into a read of the socket or an error; it never returns it.
fn unreachable_need_input() -> io::Result<()> {
    Err(io::Error::other("TLS: internal: more input was needed but none was read"))
}
/// Plaintext encrypted at once: one record's worth, so a queue of small lines leaves as one record.
const ENCRYPT_PLAINTEXT_BYTES: usize = 16 * 1024;

/// The server's certificate and key as files name them, and the rustls configuration made from them.
pub struct TlsCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    config: Arc<ServerConfig>,
}

impl TlsCertificate {
    /// Reads the certificate chain (PEM) and private key (PEM). The error names the file and what is wrong.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<TlsCertificate, String> {
        let chain = CertificateDer::pem_file_iter(cert_file)
            .map_err(|e| format!("{}: {}", cert_file.display(), pem_error(&e)))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {}", cert_file.display(), pem_error(&e)))?;
        if chain.is_empty() {
            return Err(format!(
                "{}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
                cert_file.display()
            ));
        }
        let key =
            PrivateKeyDer::from_pem_file(key_file).map_err(|e| format!("{}: {}", key_file.display(), pem_error(&e)))?;
        // ChaCha20-Poly1305 first, and the server's order wins: its keys take a few dozen bytes where AES-GCM's
        // expanded key schedules take hundreds per direction, which is most of an idle TLS user's cost; and it
        // is the faster cipher on the ARM boards without AES instructions that this server is made for.
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites.sort_by_key(|suite| {
            !matches!(
                suite.suite(),
                rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                    | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
                    | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            )
        });
        let provider = Arc::new(provider);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                format!("{} and {} do not make a certificate: {e}", cert_file.display(), key_file.display())
            })?;
        // No session resumption: a chat connection is long-lived, and a session cache or tickets would cost
        // memory and handshake work for reconnections that are rare.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        config.ignore_client_order = true;
        Ok(TlsCertificate { cert_file: cert_file.to_owned(), key_file: key_file.to_owned(), config: Arc::new(config) })
    }

    /// The files it came from, for the log.
    pub(crate) fn describe(&self) -> String {
        format!("{} and {}", self.cert_file.display(), self.key_file.display())
    }

    /// Reads the same files again (after SIGHUP); the caller keeps the current certificate if this fails.
    pub(crate) fn reload(&self) -> Result<TlsCertificate, String> {
        TlsCertificate::load(&self.cert_file, &self.key_file)
    }

    /// A server side for one new connection.
    pub(crate) fn accept(&self) -> io::Result<TlsSession> {
        UnbufferedServerConnection::new(Arc::clone(&self.config)).map(TlsSession::new).map_err(tls_error)
    }
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "nothing found in it of the kind expected (PEM)".to_owned(),
        other => format!("not valid PEM ({other:?})"),
    }
}

/// One connection's TLS state and the few bytes it must keep between events.
pub(crate) struct TlsSession {
    conn: UnbufferedServerConnection,
    /// Bytes kept between events, only while there are any: an idle connection holds no buffer at all.
    buffers: Option<Box<Buffers>>,
    /// The handshake is done: plaintext may be sent.
    established: bool,
    /// The peer ended the stream (close_notify or TCP end).
    ended: bool,
}

#[derive(Default)]
struct Buffers {
    /// TLS bytes read and not yet processed: part of a record.
    incoming: Vec<u8>,
    /// TLS bytes made and not yet taken by the socket.
    outgoing: Vec<u8>,
    /// Plaintext decrypted and not yet taken by the reader (a record larger than its buffer).
    plaintext: Vec<u8>,
}

impl Buffers {
    fn is_empty(&self) -> bool {
        self.incoming.is_empty() && self.outgoing.is_empty() && self.plaintext.is_empty()
    }
}

/// What processing the records read so far led to.
enum Step {
    /// This many plaintext bytes were put in the reader's buffer.
    Plaintext(usize),
    /// The peer ended the stream.
    Ended,
    /// More bytes from the socket are needed.
    NeedInput,
}

impl TlsSession {
    fn new(conn: UnbufferedServerConnection) -> TlsSession {
        TlsSession { conn, buffers: None, established: false, ended: false }
    }

    /// Whether plaintext may be written yet (the handshake is done).
    pub(crate) fn established(&self) -> bool {
        self.established
    }

    /// Whether TLS bytes wait for room in the socket.
    pub(crate) fn has_pending_output(&self) -> bool {
        self.buffers.as_ref().is_some_and(|b| !b.outgoing.is_empty())
    }

    /// Reads plaintext, as `Read::read` on the socket would: `Ok(0)` at the end, `WouldBlock` when the socket
    /// has nothing more for now. Handshake messages are answered on the way.
    pub(crate) fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.buffers.as_ref().is_some_and(|b| !b.plaintext.is_empty()) {
                return Ok(self.take_plaintext(buf));
            }
            if self.ended {
                return Ok(0);
            }
            let step = CIPHERTEXT.with_borrow_mut(|scratch| self.read_records(stream, scratch, buf))?;
            match step {
                // A record with no plaintext (a handshake message, an empty record): read on.
                Step::Plaintext(0) => {}
                Step::Plaintext(n) => return Ok(n),
                Step::Ended => {
                    self.ended = true;
                    return Ok(0);
                }
                Step::NeedInput => unreachable_need_input()?,
            }
        }
    }

    /// Processes the kept part of a record and what the socket has, in the thread's ciphertext buffer, until
    /// plaintext comes out, the stream ends, or the socket has nothing more (`WouldBlock`). Only an unfinished
    /// record is kept afterwards.
    fn read_records(&mut self, stream: &mut TcpStream, scratch: &mut [u8], buf: &mut [u8]) -> io::Result<Step> {
        let kept = self.buffers.as_mut().map(|b| std::mem::take(&mut b.incoming)).unwrap_or_default();
        let mut used = kept.len();
        scratch[..used].copy_from_slice(&kept);
        let outcome = loop {
            match self.process(stream, scratch, &mut used, buf) {
                Ok(Step::NeedInput) if used == scratch.len() => {
                    break Err(io::Error::new(io::ErrorKind::InvalidData, "TLS: a record larger than TLS allows"));
                }
                Ok(Step::NeedInput) => match stream.read(&mut scratch[used..]) {
                    Ok(0) => break Ok(Step::Ended),
                    Ok(n) => used += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                },
                other => break other,
            }
        };
        if used > 0 {
            let mut incoming = kept;
            incoming.clear();
            incoming.extend_from_slice(&scratch[..used]);
            self.buffers().incoming = incoming;
        }
        self.release_buffers_if_empty();
        outcome
    }

    /// Processes the records in `scratch[..used]` until plaintext comes out, the peer ends, or more input is
    /// needed; what was processed is removed from the front.
    fn process(
        &mut self,
        stream: &mut TcpStream,
        scratch: &mut [u8],
        used: &mut usize,
        buf: &mut [u8],
    ) -> io::Result<Step> {
        loop {
            let UnbufferedStatus { mut discard, state } = self.conn.process_tls_records(&mut scratch[..*used]);
            let step = match state.map_err(tls_error)? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    let mut copied = 0;
                    while let Some(record) = traffic.next_record() {
                        let AppDataRecord { discard: more, payload } = record.map_err(tls_error)?;
                        discard += more;
                        let fits = payload.len().min(buf.len() - copied);
                        buf[copied..copied + fits].copy_from_slice(&payload[..fits]);
                        copied += fits;
                        if fits < payload.len() {
                            let buffers = self.buffers.get_or_insert_with(Box::default);
                            buffers.plaintext.extend_from_slice(&payload[fits..]);
                        }
                    }
                    Some(Step::Plaintext(copied))
                }
                ConnectionState::EncodeTlsData(mut handshake) => {
                    let outgoing = &mut self.buffers.get_or_insert_with(Box::default).outgoing;
                    append_encoded(outgoing, |out| {
                        handshake.encode(out).map_err(|e| match e {
                            rustls::unbuffered::EncodeError::InsufficientSize(size) => Ok(size),
                            other => Err(tls_error(other)),
                        })
                    })?;
                    None
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    // Taken over: sent now if the socket has room, else when it does.
                    transmit.done();
                    None
                }
                ConnectionState::BlockedHandshake => Some(Step::NeedInput),
                ConnectionState::WriteTraffic(_) => {
                    self.established = true;
                    Some(Step::NeedInput)
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => Some(Step::Ended),
                // Early data is not enabled; any future state is not one this server knows how to serve.
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS: unexpected connection state")),
            };
            scratch.copy_within(discard..*used, 0);
            *used -= discard;
            if let Some(step) = step {
                if matches!(step, Step::NeedInput) {
                    self.flush_pending(stream)?;
                }
                return Ok(step);
            }
        }
    }

    fn take_plaintext(&mut self, buf: &mut [u8]) -> usize {
        let plaintext = &mut self.buffers().plaintext;
        let n = plaintext.len().min(buf.len());
        buf[..n].copy_from_slice(&plaintext[..n]);
        plaintext.drain(..n);
        if plaintext.is_empty() {
            *plaintext = Vec::new();
        }
        self.release_buffers_if_empty();
        n
    }

    /// The buffers, made when first needed.
    fn buffers(&mut self) -> &mut Buffers {
        self.buffers.get_or_insert_with(Box::default)
    }

    fn release_buffers_if_empty(&mut self) {
        if self.buffers.as_ref().is_some_and(|b| b.is_empty()) {
            self.buffers = None;
        }
    }

    /// Writes the TLS bytes waiting for the socket; true once none are left.
    pub(crate) fn flush_pending(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        let Some(buffers) = self.buffers.as_mut() else { return Ok(true) };
        let sent = write_some(stream, &buffers.outgoing)?;
        buffers.outgoing.drain(..sent);
        if !buffers.outgoing.is_empty() {
            return Ok(false);
        }
        buffers.outgoing = Vec::new();
        self.release_buffers_if_empty();
        Ok(true)
    }

    /// Encrypts and writes plaintext, as `Write::write_vectored` on the socket would: the bytes taken, or
    /// `WouldBlock` while earlier TLS bytes still wait for the socket. Call only once [`TlsSession::established`].
    ///
    /// Lines are gathered and sealed in the thread's scratch buffers and written from there, so a write that
    /// the socket takes whole allocates nothing; only what the socket leaves is copied into the connection's
    /// own buffer.
    pub(crate) fn write_vectored(&mut self, stream: &mut TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.flush_pending(stream)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
        let ConnectionState::WriteTraffic(mut traffic) = state.map_err(tls_error)? else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch { plaintext, sealed } = scratch;
            // Small lines are gathered into one record, up to a record's worth.
            plaintext.clear();
            for buf in bufs {
                let room = ENCRYPT_PLAINTEXT_BYTES - plaintext.len();
                plaintext.extend_from_slice(&buf[..buf.len().min(room)]);
                if plaintext.len() == ENCRYPT_PLAINTEXT_BYTES {
                    break;
                }
            }
            let sealed_len = match traffic.encrypt(plaintext, sealed) {
                Ok(n) => n,
                Err(EncryptError::InsufficientSize(InsufficientSizeError { required_size })) => {
                    // More overhead than the scratch allows for (not seen with TLS 1.2 or 1.3): grow it once.
                    sealed.resize(required_size, 0);
                    traffic.encrypt(plaintext, sealed).map_err(tls_error)?
                }
                Err(other) => return Err(tls_error(other)),
            };
            let sent = write_some(stream, &sealed[..sealed_len])?;
            if sent < sealed_len {
                // The bytes are ours to send now: keep what the socket did not take.
                let outgoing = &mut self.buffers.get_or_insert_with(Box::default).outgoing;
                outgoing.extend_from_slice(&sealed[sent..sealed_len]);
            }
            Ok(plaintext.len())
        })
    }

    /// Ends our side: a close_notify alert, written if the socket takes it.
    pub(crate) fn close(&mut self, stream: &mut TcpStream) {
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) = state {
            // Best effort, like the rest of a close.
            let outgoing = &mut self.buffers.get_or_insert_with(Box::default).outgoing;
            let _ = append_encoded(outgoing, |out| {
                traffic.queue_close_notify(out).map_err(|e| match e {
                    EncryptError::InsufficientSize(size) => Ok(size),
                    other => Err(tls_error(other)),
                })
            });
        }
        // Best effort: the connection is closing either way.
        let _ = self.flush_pending(stream);
    }
}

/// Appends what `encode` makes to `out`: asked first with no room, it says how much it needs (rustls leaves the
/// buffer untouched then), and is called again with exactly that.
fn append_encoded(
    out: &mut Vec<u8>,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, Result<InsufficientSizeError, io::Error>>,
) -> io::Result<()> {
    let used = out.len();
    let required = match encode(&mut []) {
        Ok(_) => return Ok(()),
        Err(Err(e)) => return Err(e),
        Err(Ok(InsufficientSizeError { required_size })) => required_size,
    };
    out.resize(used + required, 0);
    match encode(&mut out[used..]) {
        Ok(written) => {
            out.truncate(used + written);
            Ok(())
        }
        Err(Err(e)) => {
            out.truncate(used);
            Err(e)
        }
        Err(Ok(_)) => {
            out.truncate(used);
            Err(io::Error::other("TLS: the room rustls asked for was too small"))
        }
    }
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}
