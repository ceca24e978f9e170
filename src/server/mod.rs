//! The server: one `mio` event loop and everything that touches sockets, files, signals and time.
//!
//! [`event_loop`] is the loop (accept, read, timers, signals, shutdown); a [`connection::Connection`] owns one
//! client's I/O (its transport, line framing, flood bucket and output queue); [`connections`] is the table of
//! them and carries out the core's effects. The history file is read at start-up and written by a helper
//! thread ([`history_saver`]), so the loop never waits on the disk; likewise [`cluster`]'s Redis link (for several
//! nodes sharing one chat) does its blocking I/O on two helper threads of its own.

pub mod clock;
pub mod cluster;
pub mod config;
pub mod config_file;
pub(crate) mod connection;
pub(crate) mod connections;
pub(crate) mod event_loop;
pub mod flood;
pub mod floor;
pub mod framing;
pub mod history_file;
pub(crate) mod history_saver;
pub mod limits;
pub mod output;
pub mod per_ip;
pub mod tls;
pub(crate) mod transport;
pub(crate) mod web;
pub mod websocket;

pub use event_loop::{ListenerKind, Server};
