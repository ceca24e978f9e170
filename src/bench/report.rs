//! The result of a run: one structure, printed either as a readable table or as JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::bench::stats::Percentiles;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub(crate) scenario: &'static str,
    pub(crate) protocol: &'static str,
    /// `--tls`: every client spoke TLS.
    pub(crate) tls: bool,
    /// `tcp`, or `websocket` (`--ws`).
    pub(crate) transport: &'static str,
    pub(crate) target: String,
    pub(crate) clients: usize,
    pub(crate) concurrency: usize,
    pub(crate) threads: usize,
    pub(crate) source_ips: Vec<String>,
    pub(crate) connect: ConnectReport,
    pub(crate) fanout: Option<FanoutReport>,
    /// Every room, by number: one (the lobby, or the IRC channel) unless `--rooms` says more.
    pub(crate) rooms: Vec<RoomReport>,
    pub(crate) rooms_summary: RoomsSummary,
    pub(crate) server: Option<ServerReport>,
    pub(crate) tool: ToolReport,
    pub(crate) warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConnectReport {
    pub(crate) attempted: u64,
    pub(crate) established: u64,
    /// Named (Charla) or registered and joined (IRC).
    pub(crate) in_room: u64,
    pub(crate) failed: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    /// From the first connect to the last established connection.
    pub(crate) connect_seconds: f64,
    pub(crate) connections_per_second: f64,
    /// From the first connect until the last client was in the room.
    pub(crate) seconds_until_all_in_room: f64,
    pub(crate) in_room_per_second: f64,
    /// Starting to connect → TCP established.
    pub(crate) connect_latency: Percentiles,
    /// Starting to connect → in the room.
    pub(crate) login_latency: Percentiles,
    /// `--tls` only: the handshakes.
    pub(crate) handshakes: Option<Handshakes>,
}

/// `--tls`: connections fully established over TLS.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Handshakes {
    /// Handshakes completed.
    pub(crate) done: u64,
    /// From the first connect to the last completed handshake.
    pub(crate) seconds: f64,
    pub(crate) per_second: f64,
    /// Starting to connect → handshake done.
    pub(crate) latency: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FanoutReport {
    pub(crate) senders: usize,
    /// `closed-loop` or `rate`.
    pub(crate) pace: &'static str,
    pub(crate) rate_per_second: Option<f64>,
    pub(crate) duration_seconds: f64,
    pub(crate) size_bytes: usize,
    /// Clients in the room when sending started.
    pub(crate) receivers: u64,
    pub(crate) messages_sent: u64,
    pub(crate) deliveries_expected: u64,
    pub(crate) deliveries_received: u64,
    pub(crate) lost: u64,
    pub(crate) reordered: u64,
    /// Receivers that were disconnected before the run ended.
    pub(crate) receivers_dropped: u64,
    /// Deliveries received over the time from the first scheduled send to the last delivery, or over the
    /// sending duration if that is longer.
    pub(crate) deliveries_per_second: f64,
    /// Send time (scheduled time, in rate mode) → receipt, over every delivery.
    pub(crate) latency: Percentiles,
    /// Rate mode only: how late the tool itself sent against the schedule.
    pub(crate) send_lag: Option<Percentiles>,
    /// Lines of one sender that reached each receiver, per second, over the same time as
    /// `deliveries_per_second`.
    pub(crate) lines_through_per_sender_per_second: f64,
    /// Line protocol only: the senders got about as much through as Charla's default flood control allows
    /// (5 lines/s after a burst of 20) and asked for more, so the server's flood control probably set the pace.
    pub(crate) flood_control_suspected: bool,
    /// Deliveries of a message said in another room than the receiver's; not counted as received.
    pub(crate) crossed_rooms: u64,
}

/// One room: who got in, and (fanout) what was said there and what its clients received.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoomReport {
    /// As the server spells it: Charla's `general` or the IRC channel for one room, `bench-<k>` (IRC:
    /// `#bench-<k>`) for more.
    pub(crate) room: String,
    pub(crate) in_room: u64,
    /// Senders talking in this room.
    pub(crate) senders: usize,
    pub(crate) messages_sent: u64,
    pub(crate) deliveries_expected: u64,
    pub(crate) deliveries_received: u64,
    pub(crate) lost: u64,
    pub(crate) reordered: u64,
    /// Over the same time as the run's `deliveries_per_second`.
    pub(crate) deliveries_per_second: f64,
}

/// The rooms at a glance: how evenly clients and deliveries spread over them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RoomsSummary {
    pub(crate) count: usize,
    pub(crate) in_room: Spread,
    pub(crate) deliveries_per_second: Spread,
}

/// The least, middle and greatest of one measure over the rooms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Spread {
    pub(crate) min: f64,
    pub(crate) median: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// Of `values`; all zero when there are none.
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        sorted.sort_by(f64::total_cmp);
        let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
            return Spread { min: 0.0, median: 0.0, max: 0.0 };
        };
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 };
        Spread { min, median, max }
    }
}

/// Up to this many rooms, the table gives each its own line; above, their spread.
const MAX_ROOM_ROWS: usize = 8;

/// The server's memory and CPU: with several `--server-pid`s, summed over the processes (the nodes of a cluster
/// count as one server), each of which is also in `processes`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerReport {
    pub(crate) pids: Vec<u32>,
    /// Each process's own figures, in `pids` order.
    pub(crate) processes: Vec<ProcessReport>,
    pub(crate) rss_kib_before: u64,
    /// When every client was in the room (or had failed).
    pub(crate) rss_kib_all_in: u64,
    /// At the end of the hold (connect) or of the drain (fanout).
    pub(crate) rss_kib_end: u64,
    /// (RSS when all were in − RSS before) / clients in the room.
    pub(crate) rss_bytes_per_client: f64,
    /// Server CPU (user + system) while clients connected and logged in.
    pub(crate) cpu_seconds_join: f64,
    /// `cpu_seconds_join` per client that got in, in µs: what one connection (its handshake, with `--tls`, and
    /// its login) costs the server.
    pub(crate) cpu_us_per_join: Option<f64>,
    /// Server CPU while holding (connect) or from the start of sending to the end of the drain (fanout).
    pub(crate) cpu_seconds_run: f64,
    pub cpu_seconds_per_1000_deliveries: Option<f64>,
}

/// One server process of several.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProcessReport {
    pub(crate) pid: u32,
    pub(crate) rss_kib_before: u64,
    pub(crate) rss_kib_all_in: u64,
    pub(crate) rss_kib_end: u64,
    pub(crate) cpu_seconds_join: f64,
    pub(crate) cpu_seconds_run: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ToolReport {
    /// The busiest tool thread's CPU time over the phase's wall time, in percent.
    pub(crate) busiest_thread_cpu_percent_join: f64,
    pub(crate) busiest_thread_cpu_percent_run: f64,
    /// All tool threads together, over the whole run.
    pub(crate) process_cpu_seconds: f64,
    pub(crate) wall_seconds: f64,
    /// The soft open-files limit after raising it.
    pub(crate) open_files_limit: u64,
}

impl Report {
    pub fn to_json(&self) -> String {
        // Plain numbers, strings and maps with string keys always serialise.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The human-readable form: one section per part of the run, one measure per line.
    pub fn to_table(&self) -> String {
        let mut t = Table::default();
        let rooms = match self.rooms_summary.count {
            1 => String::new(),
            count => format!(" · {count} rooms"),
        };
        let tls = if self.tls { " over TLS" } else { "" };
        let transport = if self.transport == "websocket" { " over WebSocket" } else { "" };
        t.title(&format!(
            "charla-bench {} · {} protocol{transport}{tls} · {} · {} clients{rooms} · {} thread(s)",
            self.scenario, self.protocol, self.target, self.clients, self.threads
        ));
        let c = &self.connect;
        t.section("connect");
        t.row("clients in room", format!("{} of {} ({} failed)", c.in_room, c.attempted, c.failed));
        t.row(
            "connections/s",
            format!("{:.0}  ({} established in {:.3} s)", c.connections_per_second, c.established, c.connect_seconds),
        );
        t.row(
            "time until all in room",
            format!("{:.3} s  ({:.0} joins/s)", c.seconds_until_all_in_room, c.in_room_per_second),
        );
        t.row("connect latency", latency(&c.connect_latency));
        if let Some(h) = &c.handshakes {
            t.row("TLS handshakes/s", format!("{:.0}  ({} done in {:.3} s)", h.per_second, h.done, h.seconds));
            t.row("handshake latency", latency(&h.latency));
        }
        t.row("login latency", latency(&c.login_latency));
        for (cause, count) in &c.failures {
            t.row("failure", format!("{count} × {cause}"));
        }
        if let Some(f) = &self.fanout {
            t.section("fanout");
            let pace = match f.rate_per_second {
                Some(rate) => format!("rate {rate} msg/s"),
                None => "closed loop".to_owned(),
            };
            t.row("senders", format!("{} · {pace} · {} s · {} B text", f.senders, f.duration_seconds, f.size_bytes));
            t.row("messages sent", f.messages_sent.to_string());
            t.row(
                "deliveries",
                format!(
                    "{} received of {} expected ({} receivers)",
                    f.deliveries_received, f.deliveries_expected, f.receivers
                ),
            );
            t.row(
                "lost / reordered",
                format!("{} / {}  ({} receivers dropped)", f.lost, f.reordered, f.receivers_dropped),
            );
            t.row("deliveries/s", format!("{:.0}", f.deliveries_per_second));
            t.row("through per sender", format!("{:.1} lines/s", f.lines_through_per_sender_per_second));
            t.row("latency", latency(&f.latency));
            if let Some(lag) = &f.send_lag {
                t.row("tool send lag", latency(lag));
            }
            if self.rooms.len() > 1 {
                t.row("crossed rooms", format!("{}  (deliveries from another room's sender)", f.crossed_rooms));
            }
        }
        if self.rooms.len() > 1 {
            self.room_rows(&mut t);
        }
        if let Some(s) = &self.server {
            let pids = s.pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
            t.section(&match s.pids.len() {
                1 => format!("server (pid {pids})"),
                n => format!("{n} servers (pids {pids}), summed"),
            });
            t.row(
                "RSS",
                format!(
                    "{} KiB before · {} KiB all in · {} KiB end",
                    s.rss_kib_before, s.rss_kib_all_in, s.rss_kib_end
                ),
            );
            t.row("RSS per client", format!("{:.0} B", s.rss_bytes_per_client));
            t.row("CPU", format!("{:.2} s joining · {:.2} s running", s.cpu_seconds_join, s.cpu_seconds_run));
            if let Some(per) = s.cpu_us_per_join {
                t.row("CPU per client joining", format!("{per:.1} µs"));
            }
            if let Some(per) = s.cpu_seconds_per_1000_deliveries {
                t.row("CPU per 1000 deliveries", format!("{:.3} ms", per * 1000.0));
            }
            for p in s.processes.iter().filter(|_| s.processes.len() > 1) {
                t.row(
                    &format!("pid {}", p.pid),
                    format!(
                        "RSS {} KiB before · {} KiB all in · {} KiB end · CPU {:.2} s joining · {:.2} s running",
                        p.rss_kib_before, p.rss_kib_all_in, p.rss_kib_end, p.cpu_seconds_join, p.cpu_seconds_run
                    ),
                );
            }
        }
        t.section("tool");
        t.row(
            "busiest thread CPU",
            format!(
                "{:.0}% joining · {:.0}% running",
                self.tool.busiest_thread_cpu_percent_join, self.tool.busiest_thread_cpu_percent_run
            ),
        );
        t.row(
            "process CPU",
            format!("{:.2} s over {:.2} s wall", self.tool.process_cpu_seconds, self.tool.wall_seconds),
        );
        for warning in &self.warnings {
            t.row("warning", warning.clone());
        }
        t.out
    }

    /// The rooms section: a line per room, or for many rooms their spread.
    fn room_rows(&self, t: &mut Table) {
        let summary = &self.rooms_summary;
        t.section(&format!("rooms ({})", summary.count));
        if self.rooms.len() > MAX_ROOM_ROWS {
            t.row("clients per room", spread(&summary.in_room));
            if self.fanout.is_some() {
                t.row("deliveries/s per room", spread(&summary.deliveries_per_second));
            }
            return;
        }
        for room in &self.rooms {
            let name = if room.room.starts_with('#') { room.room.clone() } else { format!("#{}", room.room) };
            let value = if self.fanout.is_some() {
                format!(
                    "{} of {} deliveries · {:.0}/s · {} lost · {} clients · {} sender(s)",
                    room.deliveries_received,
                    room.deliveries_expected,
                    room.deliveries_per_second,
                    room.lost,
                    room.in_room,
                    room.senders
                )
            } else {
                format!("{} clients", room.in_room)
            };
            t.row(&name, value);
        }
    }
}

/// `min X · median Y · max Z`.
fn spread(s: &Spread) -> String {
    format!("min {:.0} · median {:.0} · max {:.0}", s.min, s.median, s.max)
}

fn latency(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no samples".to_owned();
    }
    format!(
        "p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
        ms(p.p50_us),
        ms(p.p90_us),
        ms(p.p99_us),
        ms(p.p99_9_us),
        ms(p.max_us)
    )
}

/// Microseconds as a readable duration: µs below a millisecond, ms with decimals above.
fn ms(us: f64) -> String {
    if us < 1000.0 { format!("{us:.0} µs") } else { format!("{:.2} ms", us / 1000.0) }
}

#[derive(Default)]
struct Table {
    out: String,
}

impl Table {
    fn title(&mut self, title: &str) {
        let _ = writeln!(self.out, "{title}");
    }

    fn section(&mut self, name: &str) {
        let _ = writeln!(self.out, "── {name}");
    }

    fn row(&mut self, key: &str, value: String) {
        let _ = writeln!(self.out, "  {key:<24} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(ms(12.4), "12 µs");
        assert_eq!(ms(1234.0), "1.23 ms");
    }

    #[test]
    fn a_spread_has_the_middle_value_or_the_mean_of_the_two_middle_ones() {
        assert_eq!(Spread::of([3.0, 1.0, 2.0]), Spread { min: 1.0, median: 2.0, max: 3.0 });
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]), Spread { min: 1.0, median: 2.5, max: 4.0 });
        assert_eq!(Spread::of([]), Spread { min: 0.0, median: 0.0, max: 0.0 });
    }
}
