//! How a connection's bytes travel: the layer between the socket and the line framer.
//!
//! Today that is plain TCP. Each further kind of transport (TLS, then WebSocket) is one more variant here that
//! turns what arrives on the socket into line bytes for the framer, and the output queue's line bytes into what
//! goes out on the socket. The framer, the flood bucket, the output queue and the chat core above it never know
//! which one a user came through, so each transport inherits every limit.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

#[derive(Debug)]
pub(crate) enum Transport {
    /// Lines straight over TCP, as `nc` speaks them.
    Tcp(TcpStream),
}

impl Transport {
    pub(crate) fn register(&mut self, registry: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => registry.register(stream, token, interest),
        }
    }

    pub(crate) fn reregister(&mut self, registry: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => registry.reregister(stream, token, interest),
        }
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => registry.deregister(stream),
        }
    }

    /// Sends FIN: the peer reads to the end of what was written, then sees the end of the stream.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => stream.shutdown(Shutdown::Write),
        }
    }
}

impl Read for Transport {
    /// Line bytes from the peer; `Ok(0)` once it has closed its side.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
