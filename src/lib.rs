//! Charla: a small, fast, dependable multi-user chat server over TCP, in one single-threaded event loop.
//!
//! The tree shows the layers (see `docs/ARCHITECTURE.md` for the path of a line through them):
//!
//! - [`core`]: the chat itself (users, names, commands, history, every line in both languages) as a sans-I/O
//!   state machine: events in, effects out; no sockets, files or clock.
//! - [`server`]: the one `mio` event loop and everything that touches sockets, files, signals and time; it
//!   feeds the core and carries out its effects.
//! - [`client`]: the `charla` command-line client.
//! - [`bench`]: `charla-bench`, the load tool.

pub mod bench;
pub mod client;
pub mod core;
pub mod server;

mod error;
mod flags;
