//! Client sockets: a non-blocking connect, optionally from a chosen loopback source address, and the check
//! that tells when such a connect has finished.

use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::Context;

/// Starts connecting to `target`, from `source` if given. The connect completes later: the socket becomes
/// writable, and [`connect_result`] says how it went.
pub(crate) fn start_connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, Some(Protocol::TCP))
        .context("cannot create a socket")?;
    socket.set_nonblocking(true).context("cannot make a socket non-blocking")?;
    // Small messages should leave at once, as a chat client's would.
    socket.set_tcp_nodelay(true).context("cannot set TCP_NODELAY")?;
    if let Some(ip) = source {
        if ip.is_ipv4() {
            // Pick the source port at connect time, per destination: many more connections per source address
            // than one ephemeral port range would allow.
            set_bind_address_no_port(&socket);
        }
        socket
            .bind(&SockAddr::from(SocketAddr::new(ip, 0)))
            .with_context(|| format!("cannot bind to source address {ip}"))?;
    }
    match socket.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// After a writable (or error) event on a connecting socket: `Ok(true)` once connected, `Ok(false)` while the
/// connect is still under way (events may be spurious), `Err` if it failed.
pub(crate) fn connect_result(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

/// `IP_BIND_ADDRESS_NO_PORT`; best effort, as without it binding still works with one port range per address.
fn set_bind_address_no_port(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `on` for its given size; the descriptor is owned by `socket` and open.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// A failure cause short enough to count by: the OS error's name where there is one.
pub(crate) fn cause(what: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{what}: {}", io::Error::from_raw_os_error(code)),
        None => format!("{what}: {e}"),
    }
}
