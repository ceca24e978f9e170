//! `--tls`: what the tool's clients need to speak TLS (one rustls configuration for every client, the name
//! the server's certificate must carry) and how the bytes a socket gave become plaintext lines.
//!
//! Each client has rustls's buffered `ClientConnection`: the tool is a load generator, not a server, and the
//! buffers' memory (some tens of KiB a client) is its own, not the server's that the run measures. The socket
//! is read into the worker's 64 KiB buffer as over plain TCP, and that is fed to rustls (which takes 4 KiB at a
//! time from it), so a busy client costs one `read` per 64 KiB either way.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::bench::plan::TlsOptions;
use crate::client::trust::{self, SSL_CERT_FILE};
use crate::core::catalog::Lang;

/// Shared by every client of a run.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    config: Arc<ClientConfig>,
}

impl TlsSetup {
    /// Reads the certificates to trust (as `charla --tls` does) and makes the configuration; the error is
    /// one line for the user.
    pub(crate) fn new(options: &TlsOptions) -> Result<TlsSetup, String> {
        let trusted = trust::root_store(options.ca.as_deref(), std::env::var_os(SSL_CERT_FILE))
            .map_err(|e| e.render(Lang::En))?;
        let config = trust::client_config(trusted).map_err(|e| format!("TLS set-up: {e}"))?;
        Ok(TlsSetup { config })
    }

    /// A session for one new connection to `target`, whose certificate must name its address: a full
    /// handshake, since rustls keeps no session for a new `ClientConnection` to resume unless asked to.
    pub(crate) fn session(&self, target: SocketAddr) -> Result<ClientConnection, rustls::Error> {
        ClientConnection::new(Arc::clone(&self.config), ServerName::IpAddress(target.ip().into()))
    }
}

/// What feeding bytes to a session gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// All taken; nothing unusual.
    Taken,
    /// The server ended the TLS stream (close_notify).
    Closed,
}

/// What a session gives while it is fed, in order.
pub(crate) enum Arrived<'a> {
    /// The handshake has just completed.
    HandshakeDone,
    /// Plaintext from the server.
    Plaintext(&'a [u8]),
}

/// Feeds `wire` (bytes just read from the socket) to `tls`, and tells `on` what arrives: the end of the
/// handshake, then plaintext (read through `plaintext`, a scratch buffer). An error, from rustls or from `on`,
/// is the reason to drop the client.
pub(crate) fn feed(
    tls: &mut ClientConnection,
    mut wire: &[u8],
    plaintext: &mut [u8],
    mut on: impl FnMut(Arrived<'_>) -> Result<(), String>,
) -> Result<Fed, String> {
    let mut handshaking = tls.is_handshaking();
    // An empty slice would read as the end of the stream, so only bytes are fed.
    while !wire.is_empty() {
        tls.read_tls(&mut wire).map_err(|e| format!("tls: {e}"))?;
        tls.process_new_packets().map_err(|e| format!("tls: {e}"))?;
        if handshaking && !tls.is_handshaking() {
            handshaking = false;
            on(Arrived::HandshakeDone)?;
        }
        loop {
            match tls.reader().read(plaintext) {
                Ok(0) => return Ok(Fed::Closed),
                Ok(n) => on(Arrived::Plaintext(&plaintext[..n]))?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("tls: {e}")),
            }
        }
    }
    Ok(Fed::Taken)
}
