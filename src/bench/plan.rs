//! What one run of the tool does: the scenario, its sizes and pacing, and where the load goes. Built by
//! [`crate::bench::args`], read by every worker.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::bench::protocol::Protocol;

#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) scenario: Scenario,
    pub(crate) protocol: Protocol,
    /// The server; always a loopback address.
    pub(crate) target: SocketAddr,
    pub(crate) clients: usize,
    /// Connections being opened or logging in at once, over all threads.
    pub(crate) concurrency: usize,
    /// Tool threads, each running its own mio loop over every `threads`-th client.
    pub(crate) threads: usize,
    /// Loopback source addresses, used in turn; empty lets the kernel choose.
    pub(crate) source_ips: Vec<IpAddr>,
    /// The server process to sample in `/proc`, if given.
    pub(crate) server_pid: Option<u32>,
    /// How long a client may take from starting to connect until it is in the room.
    pub(crate) join_timeout: Duration,
    /// The IRC channel every client joins; `None` (`connect --no-join`) stops IRC clients at registration.
    pub(crate) channel: Option<String>,
    /// Print JSON instead of the table.
    pub json: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Scenario {
    /// Open the clients, hold them, leave.
    Connect { hold: Duration },
    /// Open the clients, then some of them send while all of them receive.
    Fanout(Fanout),
}

#[derive(Debug, Clone)]
pub(crate) struct Fanout {
    /// Clients `0..senders` send.
    pub(crate) senders: usize,
    pub(crate) pace: Pace,
    /// How long senders send.
    pub(crate) duration: Duration,
    /// Bytes of message text (at least the stamp header).
    pub(crate) size: usize,
    /// How long, after sending stops, receivers may take to get every message before the rest count as lost.
    pub(crate) drain_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pace {
    /// Each sender sends its next message once its previous one has come back.
    ClosedLoop,
    /// All senders together send this many messages per second on a fixed schedule; latency counts from each
    /// message's scheduled time, so a stalled server cannot hide its stall (no coordinated omission).
    Rate(f64),
}

impl Plan {
    pub(crate) fn fanout(&self) -> Option<&Fanout> {
        match &self.scenario {
            Scenario::Fanout(f) => Some(f),
            Scenario::Connect { .. } => None,
        }
    }

    pub(crate) fn scenario_name(&self) -> &'static str {
        match self.scenario {
            Scenario::Connect { .. } => "connect",
            Scenario::Fanout(_) => "fanout",
        }
    }

    /// The client whose receipt of sender `sender`'s message lets a closed-loop sender go on: the sender
    /// itself where the server echoes (Charla), else the next client of the same worker (IRC does not echo).
    pub(crate) fn observer_of(&self, sender: usize) -> usize {
        match self.protocol {
            Protocol::Line => sender,
            Protocol::Irc => sender + self.threads,
        }
    }
}
