//! How a connection's bytes travel: the layer between the socket and the line framer.
//!
//! Plain TCP, TLS over TCP, and the web listener's HTTP-then-WebSocket over either. Each kind turns what
//! arrives on the socket into line bytes for the framer, and the output queue's line bytes into what goes out
//! on the socket. The framer, the flood bucket, the output queue and the chat core above it never know which
//! one a user came through, so each transport inherits every limit.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::server::tls::TlsSession;
use crate::server::web::WebStream;

pub(crate) enum Transport {
    /// Lines straight over TCP, as `nc` speaks them.
    Tcp(TcpStream),
    /// Lines inside TLS. Boxed: a plain connection does not pay for the TLS state's size.
    Tls(Box<(TcpStream, TlsSession)>),
    /// An HTTP request, then lines as WebSocket text messages, over TCP or TLS.
    Web(Box<WebStream>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp(_) => "Transport::Tcp",
            Transport::Tls(_) => "Transport::Tls",
            Transport::Web(_) => "Transport::Web",
        })
    }
}

impl Transport {
    fn stream(&mut self) -> &mut TcpStream {
        match self {
            Transport::Tcp(stream) => stream,
            Transport::Tls(tls) => &mut tls.0,
            Transport::Web(web) => web.inner_mut().stream(),
        }
    }

    pub(crate) fn register(&mut self, registry: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        registry.register(self.stream(), token, interest)
    }

    pub(crate) fn reregister(&mut self, registry: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        registry.reregister(self.stream(), token, interest)
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(self.stream())
    }

    /// Whether line bytes may be written yet: always for TCP, once the handshake is done for TLS.
    pub(crate) fn ready_for_output(&self) -> bool {
        match self {
            Transport::Tcp(_) => true,
            Transport::Tls(tls) => tls.1.established(),
            Transport::Web(web) => web.ready_for_output(),
        }
    }

    /// Whether bytes of the transport's own (a TLS handshake, a record) wait for room in the socket.
    pub(crate) fn has_pending_output(&self) -> bool {
        match self {
            Transport::Tcp(_) => false,
            Transport::Tls(tls) => tls.1.has_pending_output(),
            Transport::Web(web) => web.has_pending_output(),
        }
    }

    /// Writes the transport's own pending bytes; true once none are left.
    pub(crate) fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Transport::Tcp(_) => Ok(true),
            Transport::Tls(tls) => {
                let (stream, session) = &mut **tls;
                session.flush_pending(stream)
            }
            Transport::Web(web) => web.flush_pending(),
        }
    }

    /// Ends our side after the last output (TLS: a close_notify first), so the peer reads to the end of what
    /// was written and then sees the end of the stream.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => stream.shutdown(Shutdown::Write),
            Transport::Tls(tls) => {
                let (stream, session) = &mut **tls;
                session.close(stream);
                stream.shutdown(Shutdown::Write)
            }
            Transport::Web(web) => web.shutdown_write(),
        }
    }
}

impl Read for Transport {
    /// Line bytes from the peer; `Ok(0)` once it has closed its side.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.read(buf),
            Transport::Tls(tls) => {
                let (stream, session) = &mut **tls;
                session.read(stream, buf)
            }
            Transport::Web(web) => web.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.write_vectored(bufs),
            Transport::Tls(tls) => {
                let (stream, session) = &mut **tls;
                session.write_vectored(stream, bufs)
            }
            Transport::Web(web) => web.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
