//! Opening the connection to the server, and saying in one line why it failed.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::core::catalog::{Lang, Text};

/// How long one connection attempt (to one resolved address) may take before it counts as unanswered.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the client could not connect.
#[derive(Debug)]
pub(crate) struct ConnectError {
    /// `host:port` as the user gave it (IPv6 hosts bracketed).
    addr: String,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    /// Nothing accepts connections there: most likely no server is running.
    Refused,
    TimedOut,
    /// Name resolution failed or gave nothing, or another system error.
    Other(io::Error),
}

impl ConnectError {
    /// The one line to show the user.
    pub(crate) fn render(&self, lang: Lang) -> String {
        let addr = self.addr.as_str();
        match &self.cause {
            Cause::Refused => Text::ConnectRefused { addr }.render(lang),
            Cause::TimedOut => Text::ConnectTimedOut { addr, secs: CONNECT_TIMEOUT.as_secs() }.render(lang),
            Cause::Other(e) => Text::ConnectFailed { addr, reason: &e.to_string() }.render(lang),
        }
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub(crate) fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Resolves `host` and tries each of its addresses in turn, each for at most [`CONNECT_TIMEOUT`]. Returns the
/// connection twice: a handle to write to and one to read from, for the reader thread.
pub(crate) fn connect(host: &str, port: u16) -> Result<(TcpStream, TcpStream), ConnectError> {
    let error = |cause| ConnectError { addr: display_addr(host, port), cause };
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|e| error(Cause::Other(e)))?.collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let reading = stream.try_clone().map_err(|e| error(Cause::Other(e)))?;
                return Ok((stream, reading));
            }
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
