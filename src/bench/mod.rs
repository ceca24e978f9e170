//! `charla-bench`, the load tool: many real TCP clients, driven by a few mio event loops, that measure a chat
//! server from the outside (connection rate, fan-out throughput and latency, memory and CPU per client).
//!
//! The path of a run: [`args`] parses the command line into a [`plan::Plan`]; [`run`] starts one [`worker`]
//! thread per share of the clients and steps every worker through the phases in [`shared`] (join, run or hold,
//! leave), sampling the server with [`procstat`] between phases; each worker's [`client`]s speak the server's
//! dialect through [`protocol`] and carry [`message`] texts; [`stats`] merges what the workers measured and
//! [`report`] prints it, while [`progress`] keeps a live line on a terminal.
//!
//! `charla-bench floor-server` launches [`crate::server::floor`], the yardstick to point the tool at instead of a
//! chat server: Charla's I/O, none of its chat.
//!
//! Load goes to loopback addresses only: [`args`] refuses any other target or source address.

pub mod args;
pub(crate) mod client;
pub(crate) mod message;
pub mod plan;
pub(crate) mod procstat;
pub(crate) mod progress;
pub(crate) mod protocol;
pub mod report;
pub mod run;
pub(crate) mod shared;
pub(crate) mod sockets;
pub(crate) mod stats;
pub(crate) mod tls;
pub(crate) mod websocket;
pub(crate) mod worker;
