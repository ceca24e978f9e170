//! What one run of the tool does: the scenario, its sizes and pacing, and where the load goes. Built by
//! [`crate::bench::args`], read by every worker.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::bench::protocol::Protocol;

#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) scenario: Scenario,
    pub(crate) protocol: Protocol,
    /// `--ws`: each client opens a WebSocket on the target (a web listener) and sends and receives its lines as
    /// text messages.
    pub(crate) websocket: bool,
    /// The servers, at least one, all loopback addresses: client `i` connects to `targets[i % targets.len()]`, so
    /// the nodes of a cluster are loaded as one chat.
    pub(crate) targets: Vec<SocketAddr>,
    pub(crate) clients: usize,
    /// Connections being opened or logging in at once, over all threads.
    pub(crate) concurrency: usize,
    /// Tool threads, each running its own mio loop over every `threads`-th client.
    pub(crate) threads: usize,
    /// Loopback source addresses, used in turn; empty lets the kernel choose.
    pub(crate) source_ips: Vec<IpAddr>,
    /// The server processes to sample in `/proc` (none: not sampled); the report sums them.
    pub(crate) server_pids: Vec<u32>,
    /// How long a client may take from starting to connect until it is in the room.
    pub(crate) join_timeout: Duration,
    /// The IRC channel every client joins with one room; `None` (`connect --no-join`) stops IRC clients at
    /// registration.
    pub(crate) channel: Option<String>,
    /// Rooms the clients are spread over, round-robin: client `i` is in room `i % rooms`. With one, everyone
    /// stays where naming puts them (Charla's lobby) or joins `channel` (IRC).
    pub(crate) rooms: usize,
    /// `--tls`: every client speaks TLS.
    pub(crate) tls: Option<TlsOptions>,
    /// Print JSON instead of the table.
    pub json: bool,
}

/// How the clients speak TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    /// The certificates to trust (`--ca FILE`, PEM); `None` trusts the system's authorities, as `charla --tls`
    /// does.
    pub(crate) ca: Option<PathBuf>,
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
    /// itself where the server echoes (Charla), else the next client of the same worker and the same room (IRC
    /// does not echo).
    pub(crate) fn observer_of(&self, sender: usize) -> usize {
        match self.protocol {
            Protocol::Line => sender,
            Protocol::Irc => sender + self.observer_step(),
        }
    }

    /// How far past a sender its IRC observer is: the next index on the same worker (`threads` apart) that is
    /// also in the same room (`rooms` apart).
    pub(crate) fn observer_step(&self) -> usize {
        least_common_multiple(self.threads, self.rooms)
    }

    /// The server client `index` connects to.
    pub(crate) fn target_of(&self, index: usize) -> SocketAddr {
        self.targets[index % self.targets.len()]
    }

    /// The room of client `index`.
    pub(crate) fn room_of(&self, index: usize) -> usize {
        index % self.rooms
    }

    /// How many of `count` clients numbered from 0 are in `room`: those at `room`, `room + rooms`, ...
    pub(crate) fn in_room_of(&self, room: usize, count: usize) -> usize {
        count.saturating_sub(room).div_ceil(self.rooms)
    }

    /// How many senders talk in `room` (the fan-out's senders are clients `0..senders`).
    pub(crate) fn senders_in(&self, room: usize) -> usize {
        self.in_room_of(room, self.fanout().map_or(0, |f| f.senders))
    }
}

/// The least common multiple of `a` and `b`.
pub(crate) fn least_common_multiple(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    // x is 0 only when both are; so is their multiple.
    a.checked_div(x).map_or(0, |a| a * b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(protocol: Protocol, threads: usize, rooms: usize, senders: usize) -> Plan {
        Plan {
            scenario: Scenario::Fanout(Fanout {
                senders,
                pace: Pace::ClosedLoop,
                duration: Duration::from_secs(1),
                size: 64,
                drain_timeout: Duration::from_secs(1),
            }),
            protocol,
            websocket: false,
            targets: vec![SocketAddr::from(([127, 0, 0, 1], 5555))],
            clients: 20,
            concurrency: 20,
            threads,
            source_ips: Vec::new(),
            server_pids: Vec::new(),
            join_timeout: Duration::from_secs(1),
            channel: None,
            rooms,
            tls: None,
            json: false,
        }
    }

    #[test]
    fn clients_and_senders_are_spread_round_robin() {
        let p = plan(Protocol::Line, 1, 4, 6);
        assert_eq!((0..9).map(|i| p.room_of(i)).collect::<Vec<_>>(), [0, 1, 2, 3, 0, 1, 2, 3, 0]);
        assert_eq!((0..4).map(|r| p.senders_in(r)).collect::<Vec<_>>(), [2, 2, 1, 1]);
        assert_eq!((0..4).map(|r| p.in_room_of(r, 3)).collect::<Vec<_>>(), [1, 1, 1, 0]);
        assert_eq!(p.in_room_of(0, 0), 0);
    }

    #[test]
    fn clients_are_spread_round_robin_over_the_targets() {
        let mut p = plan(Protocol::Line, 1, 1, 1);
        let (a, b) = (SocketAddr::from(([127, 0, 0, 1], 5555)), SocketAddr::from(([127, 0, 0, 2], 5556)));
        assert_eq!((0..3).map(|i| p.target_of(i)).collect::<Vec<_>>(), [a, a, a]);
        p.targets = vec![a, b];
        assert_eq!((0..5).map(|i| p.target_of(i)).collect::<Vec<_>>(), [a, b, a, b, a]);
    }

    #[test]
    fn an_irc_observer_shares_its_senders_worker_and_room() {
        let p = plan(Protocol::Irc, 2, 3, 1);
        let observer = p.observer_of(1);
        assert_eq!(observer, 7);
        assert_eq!(observer % p.threads, 1 % p.threads);
        assert_eq!(p.room_of(observer), p.room_of(1));
        assert_eq!(plan(Protocol::Irc, 2, 1, 1).observer_of(0), 2, "one room: the next client of the worker");
        assert_eq!(plan(Protocol::Line, 2, 3, 1).observer_of(1), 1, "Charla echoes");
    }
}
