//! Charla: a small, fast, dependable multi-user chat server over TCP, in one single-threaded event loop.
//!
//! The chat logic lives in a sans-I/O core ([`chat`]) fed by a thin `mio` event loop ([`server`]). See
//! `docs/ARCHITECTURE.md` for the path of a line through these modules. The `charla` client lives in
//! [`client`].

pub mod bench;
pub mod catalog;
pub mod chat;
pub mod client;
pub mod clock;
pub mod command;
pub mod config;
pub mod connection;
pub mod connections;
pub mod flags;
pub mod flood;
pub mod framing;
pub mod history;
pub mod history_file;
pub mod history_saver;
pub mod limits;
pub mod names;
pub mod output;
pub mod per_ip;
pub mod server;
