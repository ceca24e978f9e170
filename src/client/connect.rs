//! Opening the connection to the server, over TCP or TLS, and saying in one line why it failed.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::client::options::ClientOptions;
use crate::client::tls::{self, TlsFailure, TlsLines};
use crate::client::trust::{self, SSL_CERT_FILE, TrustError};
use crate::core::catalog::{Lang, Text};

/// How long one connection attempt (to one resolved address) may take before it counts as unanswered.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the client could not connect.
#[derive(Debug)]
pub(crate) struct ConnectError {
    /// `host:port` as the user gave it (IPv6 hosts bracketed).
    addr: String,
    /// The host alone, as the certificate must name it.
    host: String,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    /// Nothing accepts connections there: most likely no server is running.
    Refused,
    TimedOut,
    /// Name resolution failed or gave nothing, or another system error.
    Other(io::Error),
    /// No certificate could be trusted (`--ca FILE` or the system's store).
    Trust(TrustError),
    /// The TLS handshake failed: the certificate was refused, or the port does not speak TLS.
    Tls(TlsFailure),
}

impl ConnectError {
    /// The one line to show the user.
    pub(crate) fn render(&self, lang: Lang) -> String {
        let addr = self.addr.as_str();
        match &self.cause {
            Cause::Refused => Text::ConnectRefused { addr }.render(lang),
            Cause::TimedOut => Text::ConnectTimedOut { addr, secs: CONNECT_TIMEOUT.as_secs() }.render(lang),
            Cause::Other(e) => Text::ConnectFailed { addr, reason: &e.to_string() }.render(lang),
            Cause::Trust(e) => e.render(lang),
            Cause::Tls(TlsFailure::Untrusted { code }) => Text::TlsUntrusted { addr, code }.render(lang),
            Cause::Tls(TlsFailure::WrongName) => Text::TlsWrongName { addr, host: &self.host }.render(lang),
            Cause::Tls(TlsFailure::Refused { reason }) => Text::TlsCertificateRefused { addr, reason }.render(lang),
            Cause::Tls(TlsFailure::Handshake { reason }) => Text::TlsHandshakeFailed { addr, reason }.render(lang),
            Cause::Tls(TlsFailure::TimedOut) => {
                Text::ConnectTimedOut { addr, secs: CONNECT_TIMEOUT.as_secs() }.render(lang)
            }
            Cause::Tls(TlsFailure::BadName { reason }) => Text::ConnectFailed { addr, reason }.render(lang),
        }
    }
}

/// The connection as the client's two threads use it.
pub(crate) struct Connection {
    /// What the main thread writes the user's lines to.
    pub(crate) outgoing: Wire,
    /// What the reader thread reads the server's lines from. Over TLS it also sends the main thread's lines:
    /// see [`crate::client::tls`].
    pub(crate) incoming: Box<dyn Read + Send>,
}

/// The main thread's way to the server.
#[derive(Debug)]
pub(crate) enum Wire {
    /// Its own handle on the socket: the reader thread reads a clone.
    Plain(TcpStream),
    /// A queue to the thread that owns the TLS connection.
    Tls(TlsLines),
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(stream) => stream.write(buf),
            Wire::Tls(lines) => lines.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(stream) => stream.flush(),
            Wire::Tls(lines) => lines.flush(),
        }
    }
}

/// Connects as `options` say: TCP, then with `--tls` the whole handshake, so that a refused certificate is
/// known before the session starts. The certificates to trust are read first, so that a bad `--ca` file is
/// reported without touching the network.
pub(crate) fn open(options: &ClientOptions) -> Result<Connection, ConnectError> {
    let (host, port) = (options.host.as_str(), options.port);
    let error = |cause| ConnectError { addr: display_addr(host, port), host: host.to_owned(), cause };
    if !options.tls {
        let stream = connect(host, port)?;
        let reading = stream.try_clone().map_err(|e| error(Cause::Other(e)))?;
        return Ok(Connection { outgoing: Wire::Plain(stream), incoming: Box::new(reading) });
    }
    let roots = trust::root_store(options.ca.as_deref(), std::env::var_os(SSL_CERT_FILE))
        .map_err(|e| error(Cause::Trust(e)))?;
    let config = trust::client_config(roots).map_err(|reason| error(Cause::Tls(TlsFailure::Handshake { reason })))?;
    let stream = connect(host, port)?;
    let (conn, stream) = tls::handshake(stream, host, config).map_err(|e| error(Cause::Tls(e)))?;
    let (io, lines) = tls::split(conn, stream).map_err(|e| error(Cause::Other(e)))?;
    Ok(Connection { outgoing: Wire::Tls(lines), incoming: Box::new(io) })
}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Resolves `host` and tries each of its addresses in turn, each for at most [`CONNECT_TIMEOUT`].
fn connect(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let error = |cause| ConnectError { addr: display_addr(host, port), host: host.to_owned(), cause };
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| error(Cause::Other(e)))?.collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    // With several addresses, the last failure speaks for all: they are usually the same.
    let cause = match last {
        Some(e) if e.kind() == ErrorKind::ConnectionRefused => Cause::Refused,
        Some(e) if e.kind() == ErrorKind::TimedOut => Cause::TimedOut,
        Some(e) => Cause::Other(e),
        None => Cause::Other(io::Error::new(ErrorKind::NotFound, format!("{host} has no address"))),
    };
    Err(error(cause))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(display_addr("127.0.0.1", 5555), "127.0.0.1:5555");
        assert_eq!(display_addr("::1", 5555), "[::1]:5555");
        assert_eq!(display_addr("localhost", 1), "localhost:1");
    }

    #[test]
    fn a_refused_connection_names_the_likely_cause() {
        // Bind then drop a listener: its port is free, so nothing accepts there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind a loopback port");
        let e = connect("127.0.0.1", port).expect_err("nothing listens there");
        assert_eq!(
            e.render(Lang::En),
            format!(
                "Cannot connect to 127.0.0.1:{port}: connection refused; is charla-server running on 127.0.0.1:{port}?"
            )
        );
    }
}
